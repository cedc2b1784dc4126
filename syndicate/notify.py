"""Telling aggregators that feeds changed: the outbox, its retries and outcomes (the HTTP
clients that send, WebSub and XML-RPC pings, are in ``clients``).

Does network I/O (through ``clients``, imported on the first send) and database I/O through the
``Store`` (``Outbox``). ``RetryPolicy`` and ``classify`` are pure. Nothing here
sleeps: a notification that must be retried gets a ``next_attempt_at`` in the
store, and the scheduler calls ``Outbox.deliver_due()`` again when
``store.next_due_time()`` comes.

Delivery is at-least-once: a notification is written to the store before any
request is made, and removed only after the target accepted it.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

from . import counted
from .config import NotifyConfig
from .store import Attempt, AttemptStatus, NewNotification, Notification, Store

if TYPE_CHECKING:
    from .clients import PingClient as PingClient
    from .clients import RequestsTransport as RequestsTransport
    from .clients import TimeoutSession as TimeoutSession
    from .clients import WebSubClient as WebSubClient
    from .clients import is_method_unknown as is_method_unknown
    from .clients import make_session as make_session

log = logging.getLogger(__name__)

# The HTTP clients live in ``clients`` (which imports requests, some 3 MB of a worker
# that never notifies anyone); they are still importable from here, as they were.
_CLIENTS: Final = frozenset(
    {
        "PingClient",
        "RequestsTransport",
        "TimeoutSession",
        "WebSubClient",
        "is_method_unknown",
        "make_session",
    }
)


def __getattr__(name: str) -> Any:
    if name in _CLIENTS:
        from . import clients

        return getattr(clients, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


Verdict = Literal["ok", "retry", "fail"]
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

    2xx is success. 429 and 5xx are worth retrying, and so is no answer at all;
    any other status (a 4xx, a redirect that was not followed) will not get better
    by itself, so it fails at once.
    """
    if http_status is None:
        return "retry"
    if 200 <= http_status < 300:
        return "ok"
    if http_status == 429 or 500 <= http_status < 600:
        return "retry"
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


def _retry_after(headers: Mapping[str, str], now: datetime) -> float | None:
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


def _elapsed_ms(start: float) -> int:
    return round((time.perf_counter() - start) * 1000)


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


# --------------------------------------------------------------------------- outbox


class WebSubSender(Protocol):
    """What the outbox needs from a WebSub client (``WebSubClient``)."""

    def publish(self, hub: str, feed_url: str) -> Outcome: ...


class PingSender(Protocol):
    """What the outbox needs from a ping client (``PingClient``)."""

    def ping(
        self, server: str, site_name: str, site_url: str, changed_url: str, feed_url: str
    ) -> Outcome: ...


class HttpSenders:
    """The outbox's WebSub and ping clients (``WebSubClient`` and ``PingClient`` on one
    ``make_session(timeout)`` session), made when the first notification is sent: a
    service with nobody to notify never imports requests."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._clients: tuple[WebSubSender, PingSender] | None = None

    def clients(self) -> tuple[WebSubSender, PingSender]:
        """The two clients, made on the first call."""
        with self._lock:
            if self._clients is None:
                from .clients import PingClient, WebSubClient, make_session

                session = make_session(self.timeout)
                self._clients = (WebSubClient(session), PingClient(session))
            return self._clients

    def publish(self, hub: str, feed_url: str) -> Outcome:
        return self.clients()[0].publish(hub, feed_url)

    def ping(
        self, server: str, site_name: str, site_url: str, changed_url: str, feed_url: str
    ) -> Outcome:
        return self.clients()[1].ping(server, site_name, site_url, changed_url, feed_url)


@dataclasses.dataclass(frozen=True)
class DeliveryReport:
    """What one ``deliver_due()`` run did."""

    delivered: tuple[Notification, ...] = ()
    retried: tuple[Notification, ...] = ()  # rescheduled; see ``next_due``
    failed: tuple[Notification, ...] = ()  # given up (4xx, flerror, attempts exhausted)
    attempts: tuple[Attempt, ...] = ()
    next_due: datetime | None = None  # when the outbox next has work (store.next_due_time())


class Outbox:
    """The durable outbox: enqueue notifications, deliver the due ones, retry later.

    ``enqueue_for()`` only writes to the store. ``deliver_due()`` makes one attempt
    per due notification and records it; success removes the notification, a
    retryable failure reschedules it at ``now + policy.next_delay()``, and a
    permanent failure (or exhausted attempts) marks it failed with the reason.

    Each notification is claimed for ``lease`` seconds before it is sent, so a
    second process delivering from the same store skips it; if this process dies
    mid-attempt the notification is due again when the lease ends. ``lease`` must
    exceed two request timeouts (a ping may need two requests).
    """

    def __init__(
        self,
        store: Store,
        websub: WebSubSender,
        pings: PingSender,
        policy: RetryPolicy,
        clock: Clock,
        site_name: str,
        site_url: str,
        *,
        ping_feed_url: str | None = None,
        lease: float = 120.0,
    ) -> None:
        self.store = store
        self.websub = websub
        self.pings = pings
        self.policy = policy
        self.clock = clock
        self.site_name = site_name
        self.site_url = site_url
        self.ping_feed_url = ping_feed_url
        self.lease = timedelta(seconds=lease)

    def enqueue_for(
        self,
        changed_feed_urls: Iterable[str],
        hubs: Iterable[str],
        ping_servers: Iterable[str],
        now: datetime | None = None,
    ) -> list[Notification]:
        """Queue notifications for changed feeds (absolute URLs); no network I/O.

        WebSub is per topic: one notification per changed feed per hub. A
        weblogUpdates ping is about the *site* (its parameters are the site's name
        and URL; the feed URL is a hint), and ping services throttle sites that
        ping often, so it is one ping per server however many feeds changed,
        carrying ``ping_feed_url`` (the site's main feed) or else the first changed
        feed, and coalesced like the rest while pending.
        """
        now = self.clock() if now is None else now
        feeds = list(dict.fromkeys(changed_feed_urls))
        if not feeds:
            return []
        items = [NewNotification("websub", hub, feed) for hub in hubs for feed in feeds]
        ping_feed = self.ping_feed_url or feeds[0]
        items += [NewNotification("ping", server, ping_feed) for server in ping_servers]
        queued = self.store.enqueue(items, now)
        if queued:
            log.info(
                "queued %s for %s",
                counted(len(queued), "notification"),
                counted(len(feeds), "changed feed"),
            )
        return queued

    def deliver_due(self, limit: int = 100) -> DeliveryReport:
        """Make one attempt for each notification due now (at most ``limit``)."""
        delivered: list[Notification] = []
        retried: list[Notification] = []
        failed: list[Notification] = []
        attempts: list[Attempt] = []
        for _ in range(limit):
            now = self.clock()
            claimed = self.store.due(now, 1, claim_until=now + self.lease)
            if not claimed:
                break
            notification = claimed[0]
            attempt = self._attempt(notification)
            attempts.append(attempt)
            {"ok": delivered, "retry": retried, "failed": failed}[attempt.status].append(
                notification
            )
        return DeliveryReport(
            delivered=tuple(delivered),
            retried=tuple(retried),
            failed=tuple(failed),
            attempts=tuple(attempts),
            next_due=self.store.next_due_time(),
        )

    def retry(self, id: int) -> Notification | None:
        """Put a failed notification back in the queue, due now."""
        return self.store.retry(id, self.clock())

    def seconds_until_due(self) -> float | None:
        """How long the scheduler may sleep before ``deliver_due()`` has work; None: idle."""
        when = self.store.next_due_time()
        if when is None:
            return None
        return max(0.0, (when - self.clock()).total_seconds())

    def _send(self, notification: Notification) -> Outcome:
        if notification.kind == "websub":
            return self.websub.publish(notification.target, notification.feed_url)
        return self.pings.ping(
            notification.target,
            self.site_name,
            self.site_url,
            self.site_url,  # the changed page: the home page, as the ping is per site
            notification.feed_url,
        )

    def _attempt(self, n: Notification) -> Attempt:
        started = self.clock()
        number = n.attempts + 1
        try:
            outcome = self._send(n)
        except Exception as exc:  # a bug in a client must not wedge the queue
            log.exception("%s %s for %s: unexpected error", n.kind, n.target, n.feed_url)
            outcome = Outcome("retry", error=f"unexpected error: {exc!r}")
        finished = self.clock()
        summary = _summary(outcome)
        where = f"{n.kind} {n.target} for {n.feed_url}"
        counter = f"(attempt {number}/{self.policy.max_attempts})"

        status: AttemptStatus
        if outcome.verdict == "ok":
            status = "ok"
        elif outcome.verdict == "retry":
            delay = self.policy.next_delay(number, outcome.retry_after)
            status = "retry" if delay is not None else "failed"
        else:
            delay = None
            status = "failed"

        attempt = Attempt(
            kind=n.kind,
            target=n.target,
            feed_url=n.feed_url,
            time=started,
            status=status,
            attempt=number,
            http_status=outcome.http_status,
            latency_ms=outcome.latency_ms,
            error=outcome.error,
        )
        self.store.record_attempt(attempt)

        if status == "ok":
            self.store.mark_delivered(n.id, n.revision)
            log.info("%s: %s in %d ms %s", where, summary, outcome.latency_ms, counter)
        elif status == "retry":
            assert delay is not None
            not_before = None
            if outcome.retry_after is not None:
                not_before = finished + timedelta(seconds=outcome.retry_after)
            self.store.reschedule(
                n.id, finished + timedelta(seconds=delay), number, outcome.error, not_before
            )
            log.warning("%s: %s, retry in %.1f s %s", where, summary, delay, counter)
        else:
            if outcome.verdict == "fail":
                reason = outcome.error or summary
            elif number >= self.policy.max_attempts:
                reason = f"gave up after {counted(number, 'attempt')}: {outcome.error or summary}"
            else:
                reason = (
                    f"gave up: Retry-After of {outcome.retry_after:g} s is longer than "
                    f"{self.policy.max_retry_after:g} s: {outcome.error or summary}"
                )
            self.store.mark_failed(n.id, reason, number)
            log.error("%s: %s, failed: %s %s", where, summary, reason, counter)
        return attempt


def _summary(outcome: Outcome) -> str:
    """The short form of an outcome for a log line: '204', '500', 'timeout after 10 s'."""
    if outcome.method == WEBLOG_PING and outcome.ok:
        return f"ok via {WEBLOG_PING}"
    if outcome.ok:
        return str(outcome.http_status) if outcome.http_status else "ok"
    if outcome.http_status is not None and outcome.http_status != 200:
        return str(outcome.http_status)
    return outcome.error or outcome.verdict
