"""What an answer from a hub or ping server means, and when to try again. Pure: no I/O,
and the clock is given (``Clock``; ``utc_now`` is the real one, for callers to pass).

``classify`` turns an HTTP status into a ``Verdict``, ``Outcome`` is one request's
result, ``RetryPolicy`` says how long to wait before the next attempt. The clients
(``notify.clients``) and the outbox (``notify.outbox``) share this vocabulary, so
neither imports the other for it.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final, Literal

from ..config import NotifyConfig

# "refused": the target answered and said no (a 4xx, an XML-RPC fault, flerror); "fail":
# no answer will ever come from there as things are (a bad URL, a redirect, not XML-RPC).
Verdict = Literal["ok", "retry", "refused", "fail"]
Clock = Callable[[], datetime]

WEBLOG_EXTENDED_PING: Final = "weblogUpdates.extendedPing"
WEBLOG_PING: Final = "weblogUpdates.ping"


def utc_now() -> datetime:
    """The real clock, aware and in UTC (the default ``Clock``)."""
    return datetime.now(UTC)


# --------------------------------------------------------------------------- outcomes


@dataclasses.dataclass(frozen=True)
class Outcome:
    """The result of one request to a hub or ping server."""

    verdict: Verdict
    http_status: int | None = None
    latency_ms: int = 0
    error: str | None = None  # why it was not "ok"
    retry_after: float | None = None  # seconds, from a Retry-After header
    method: str | None = None  # for pings: the XML-RPC method that answered

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"


def classify(http_status: int | None) -> Verdict:
    """What to do after an HTTP answer; ``None`` means no answer (connection error, timeout).

    2xx is success. 5xx, 408 Request Timeout and 429 Too Many Requests are worth
    retrying (RFC 9110 and 6585 say so of 408 and 429), and so is no answer at all.
    Any other 4xx is the target refusing the request (the Go hub's ``400 subscription
    not found`` for a topic nobody subscribes to): final, as asking again gets the
    same answer. Anything else (a redirect that was not followed) fails at once.
    """
    if http_status is None:
        return "retry"
    if 200 <= http_status < 300:
        return "ok"
    if http_status in (408, 429) or 500 <= http_status < 600:
        return "retry"
    if 400 <= http_status < 500:
        return "refused"
    return "fail"


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP-date
    (RFC 9110, 10.2.3). A date in the past is 0; garbage is None."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": RFC 5322 says the zone is unknown; HTTP means GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def retry_after(headers: Mapping[str, str], now: datetime) -> float | None:
    """Retry-After relative to the response's own ``Date`` when it has one, so that
    a skewed clock on either side does not shorten the wait."""
    value = headers.get("Retry-After")
    if value is None:
        return None
    reference = now
    date = headers.get("Date")
    if date:
        try:
            reference = parsedate_to_datetime(date)
        except (TypeError, ValueError, IndexError):
            pass
        if reference.tzinfo is None:
            reference = reference.replace(tzinfo=UTC)
    return parse_retry_after(value, reference)


# --------------------------------------------------------------------------- retry policy


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """When to try again: exponential backoff with jitter, capped; pure (given ``rng``).

    Attempt *n* (1-based, the one that just failed) is followed by a wait drawn
    from ``[cap(n)/2, cap(n)]`` where ``cap(n) = min(max_backoff, base * 2**(n-1))``
    ("equal jitter": retries of many notifications spread out, yet every wait
    grows with the cap, so a dead hub is never hammered by near-zero waits).
    A ``Retry-After`` from the server is a floor: the wait is never shorter than
    it, even above ``max_backoff``; one longer than ``max_retry_after`` gives up
    rather than retry early against the server's wish.
    """

    max_attempts: int = 8
    max_backoff: float = 3600.0  # seconds
    base: float = 2.0  # seconds: the cap after the first attempt
    max_retry_after: float = 86400.0  # seconds
    rng: random.Random = dataclasses.field(default_factory=random.Random, compare=False)

    @classmethod
    def from_config(cls, config: NotifyConfig, rng: random.Random | None = None) -> RetryPolicy:
        """The policy that ``notify.max_attempts`` and ``notify.max_backoff`` describe."""
        return cls(
            max_attempts=config.max_attempts,
            max_backoff=config.max_backoff,
            rng=rng or random.Random(),
        )

    def cap(self, attempt: int) -> float:
        """The longest backoff after ``attempt`` (non-decreasing, at most ``max_backoff``)."""
        exponent = min(max(attempt - 1, 0), 64)  # 2**64 * base already exceeds any cap
        return min(self.max_backoff, self.base * 2.0**exponent)

    def next_delay(self, attempt: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait after failed attempt number ``attempt``; None means give up."""
        if attempt >= self.max_attempts:
            return None
        if retry_after is not None and retry_after > self.max_retry_after:
            return None
        cap = self.cap(attempt)
        delay = cap / 2 + self.rng.uniform(0.0, cap / 2)
        delay = min(delay, cap)  # uniform() may round just past its upper bound
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay
