"""Telling aggregators that feeds changed: the outbox, WebSub and XML-RPC ping clients, retries.

Does network I/O (``WebSubClient``, ``PingClient``) and database I/O through the
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
import re
import time
import xmlrpc.client
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol
from xml.parsers.expat import ExpatError

import requests

from . import USER_AGENT
from .config import NotifyConfig
from .records import Attempt, AttemptStatus, NewNotification, Notification, Store

if TYPE_CHECKING:
    from _typeshed import SizedBuffer

log = logging.getLogger(__name__)

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


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


def _describe(exc: BaseException, timeout: float) -> str:
    """A short, log-friendly description of a transport error."""
    if isinstance(exc, requests.Timeout):
        return f"timeout after {timeout:g} s"
    text = str(exc)
    match = _ERRNO.search(text)
    if match:
        return match.group(1).strip().lower()
    return text if len(text) <= 200 else text[:197] + "..."


def _http_error(response: requests.Response) -> str:
    snippet = " ".join(response.text.split())[:120] if response.content else ""
    message = f"HTTP {response.status_code} {response.reason or ''}".rstrip()
    return f"{message}: {snippet}" if snippet else message


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


# --------------------------------------------------------------------------- HTTP session


class TimeoutSession(requests.Session):
    """A ``requests.Session`` whose every request has a timeout.

    requests has no session-wide timeout (its default is to wait forever), so
    ``request()`` fills one in when the caller gave none.
    """

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if kwargs.get("timeout") is None and len(args) < 7:  # else args[6] is the timeout
            kwargs["timeout"] = self.timeout
        return super().request(method, url, *args, **kwargs)


def make_session(timeout: float, user_agent: str = USER_AGENT) -> TimeoutSession:
    """A session for notifications: ``timeout`` seconds per request, and a
    ``User-Agent`` naming syndicate and its version (hubs and ping services log it)."""
    session = TimeoutSession(timeout)
    session.headers["User-Agent"] = user_agent
    return session


def _session_timeout(session: requests.Session, timeout: float | None) -> float:
    if timeout is not None:
        return timeout
    if isinstance(session, TimeoutSession):
        return session.timeout
    return NotifyConfig().timeout


# --------------------------------------------------------------------------- WebSub


class WebSubClient:
    """Publishes to WebSub hubs.

    The W3C WebSub Recommendation leaves how a publisher notifies its hub to the
    hub. The de facto protocol, from PubSubHubbub 0.3/0.4, is a form POST with
    ``hub.mode=publish`` and ``hub.url=<topic>``, which Google's hub and most
    publishers use; some WebSub-era publishers send ``hub.topic`` instead (the
    WordPress WebSub plugin's implementation report), and hubs such as phubb
    accept either. So both are sent, with the same value: hubs ignore form
    parameters they do not read. Success is any 2xx (PubSubHubbub says 204).
    """

    def __init__(
        self, session: requests.Session, timeout: float | None = None, clock: Clock = utc_now
    ) -> None:
        self.session = session
        self.timeout = _session_timeout(session, timeout)
        self.clock = clock  # only to read an HTTP-date Retry-After without a Date header

    def publish(self, hub: str, feed_url: str) -> Outcome:
        """Tell ``hub`` that the feed at ``feed_url`` changed; never raises for network errors."""
        data = {"hub.mode": "publish", "hub.url": feed_url, "hub.topic": feed_url}
        start = time.perf_counter()
        try:
            with self.session.post(hub, data=data, timeout=self.timeout) as response:
                _ = response.content  # read it all inside the timeout, then free the connection
        except (requests.Timeout, requests.ConnectionError) as exc:
            return Outcome(
                "retry", latency_ms=_elapsed_ms(start), error=_describe(exc, self.timeout)
            )
        except requests.RequestException as exc:  # invalid URL, too many redirects, ...
            return Outcome("fail", latency_ms=_elapsed_ms(start), error=_describe(exc, 0))
        latency = _elapsed_ms(start)
        verdict = classify(response.status_code)
        return Outcome(
            verdict,
            http_status=response.status_code,
            latency_ms=latency,
            error=None if verdict == "ok" else _http_error(response),
            retry_after=_retry_after(response.headers, self.clock()),
        )


# --------------------------------------------------------------------------- XML-RPC pings


class RequestsTransport(xmlrpc.client.Transport):
    """An ``xmlrpc.client`` transport that posts through a requests session, so the
    session's timeout, User-Agent and proxies apply; it always posts to ``url``
    (``ServerProxy`` would otherwise post to ``/RPC2`` for a URL with no path).
    Keeps the last HTTP status and headers for the caller."""

    def __init__(self, session: requests.Session, url: str, timeout: float) -> None:
        super().__init__()
        self.session = session
        self.url = url
        self.timeout = timeout
        self.status: int | None = None
        self.headers: Mapping[str, str] = {}

    def request(
        self, host: Any, handler: str, request_body: SizedBuffer, verbose: bool = False
    ) -> tuple[Any, ...]:
        with self.session.post(
            self.url,
            data=bytes(request_body),
            headers={"Content-Type": "text/xml"},
            timeout=self.timeout,
        ) as response:
            content = response.content
        self.status = response.status_code
        self.headers = response.headers
        if response.status_code != 200:  # XML-RPC answers 200, faults included
            raise xmlrpc.client.ProtocolError(
                self.url, response.status_code, _http_error(response), dict(response.headers)
            )
        parser, unmarshaller = self.getparser()
        parser.feed(content)
        parser.close()
        return unmarshaller.close()  # raises xmlrpc.client.Fault for a fault response


# Faults that mean "I don't know that method": -32601 is the code from the XML-RPC
# fault code interoperability spec; others say it in words (Python's own server
# answers code 1 with 'method "weblogUpdates.extendedPing" is not supported').
METHOD_NOT_FOUND: Final = -32601
_UNKNOWN_METHOD = re.compile(
    r"not\s+(?:be\s+)?(?:found|supported|implemented|defined|exists?|available|recogni[sz]ed)"
    r"|unknown|unsupported|unrecogni[sz]ed|no\s+such|undefined|invalid\s+method",
    re.IGNORECASE,
)


def is_method_unknown(fault: xmlrpc.client.Fault) -> bool:
    """Whether a fault means the server does not know the method called."""
    if fault.faultCode == METHOD_NOT_FOUND:
        return True
    text = str(fault.faultString)
    mentions_method = re.search(r"method|procedure|function|extendedping", text, re.IGNORECASE)
    return bool(mentions_method and _UNKNOWN_METHOD.search(text))


class PingClient:
    """Sends XML-RPC ``weblogUpdates`` pings (weblogs.com's interface, used by
    Ping-O-Matic and friends).

    ``weblogUpdates.extendedPing(name, url, changed_url, feed_url)`` first; if the
    server does not know it, ``weblogUpdates.ping(name, url)``. Both answer a
    struct ``{flerror, message}``; ``flerror`` true means the server refused the
    ping (spam filter, rate limit, bad URL), which retrying soon will not change,
    so it fails with the server's message. Transport problems, 5xx and 429 retry.
    """

    def __init__(
        self, session: requests.Session, timeout: float | None = None, clock: Clock = utc_now
    ) -> None:
        self.session = session
        self.timeout = _session_timeout(session, timeout)
        self.clock = clock

    def ping(
        self, server: str, site_name: str, site_url: str, changed_url: str, feed_url: str
    ) -> Outcome:
        """Ping ``server`` about the site; never raises for network errors."""
        start = time.perf_counter()
        transport = RequestsTransport(self.session, server, self.timeout)
        method = WEBLOG_EXTENDED_PING
        try:
            with xmlrpc.client.ServerProxy(server, transport=transport) as proxy:
                try:
                    result = proxy.weblogUpdates.extendedPing(
                        site_name, site_url, changed_url, feed_url
                    )
                except xmlrpc.client.Fault as fault:
                    if not is_method_unknown(fault):
                        raise
                    log.debug("ping %s: %s unknown, falling back: %s", server, method, fault)
                    method = WEBLOG_PING
                    result = proxy.weblogUpdates.ping(site_name, site_url)
        except xmlrpc.client.Fault as fault:
            error = f"XML-RPC fault {fault.faultCode}: {fault.faultString}"
            return self._outcome("fail", transport, start, method, error)
        except xmlrpc.client.ProtocolError as exc:
            verdict = classify(exc.errcode)
            return dataclasses.replace(
                self._outcome(verdict, transport, start, method, exc.errmsg),
                retry_after=_retry_after(transport.headers, self.clock()),
            )
        except (requests.Timeout, requests.ConnectionError) as exc:
            error = _describe(exc, self.timeout)
            return self._outcome("retry", transport, start, method, error)
        except requests.RequestException as exc:
            return self._outcome("fail", transport, start, method, _describe(exc, 0))
        except (ExpatError, xmlrpc.client.ResponseError, ValueError, TypeError) as exc:
            # 200 but not XML-RPC: most likely not a ping endpoint at all.
            error = f"malformed XML-RPC response: {exc}"
            return self._outcome("fail", transport, start, method, error)
        return self._result(result, transport, start, method)

    def _result(
        self, result: Any, transport: RequestsTransport, start: float, method: str
    ) -> Outcome:
        if not isinstance(result, dict):
            error = f"unexpected {method} response: {result!r}"[:200]
            return self._outcome("fail", transport, start, method, error)
        message = str(result.get("message", ""))
        if result.get("flerror"):  # boolean, but some servers send an int
            return self._outcome("fail", transport, start, method, message or "flerror true")
        return self._outcome("ok", transport, start, method, None)

    @staticmethod
    def _outcome(
        verdict: Verdict,
        transport: RequestsTransport,
        start: float,
        method: str,
        error: str | None,
    ) -> Outcome:
        return Outcome(
            verdict,
            http_status=transport.status,
            latency_ms=_elapsed_ms(start),
            error=error,
            method=method,
        )


# --------------------------------------------------------------------------- outbox


class WebSubSender(Protocol):
    """What the outbox needs from a WebSub client (``WebSubClient``)."""

    def publish(self, hub: str, feed_url: str) -> Outcome: ...


class PingSender(Protocol):
    """What the outbox needs from a ping client (``PingClient``)."""

    def ping(
        self, server: str, site_name: str, site_url: str, changed_url: str, feed_url: str
    ) -> Outcome: ...


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
            log.info("queued %d notification(s) for %d changed feed(s)", len(queued), len(feeds))
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
                reason = f"gave up after {number} attempts: {outcome.error or summary}"
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
