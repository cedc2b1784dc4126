"""The durable outbox: notifications written to the store before any request is made,
delivered when due, retried later, removed once the target accepted or refused them.

Does database I/O through the ``Store``, and network I/O through the clients
(``notify.clients``, imported on the first send: ``HttpSenders``). Nothing here sleeps:
a notification that must be retried gets a ``next_attempt_at`` in the store, and the
scheduler calls ``Outbox.deliver_due()`` again when ``store.next_due_time()`` comes.

Delivery is at-least-once: a notification is written to the store before any request
is made, and removed only after the target accepted it (or refused it for good).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Protocol

from .. import counted
from ..store import (
    Attempt,
    AttemptStatus,
    NewNotification,
    Notification,
    Store,
    TargetRefusal,
)
from .policy import (
    WEBLOG_PING,
    Clock,
    Outcome,
    RetryPolicy,
)

log = logging.getLogger("syndicate.notify")


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
    failed: tuple[Notification, ...] = ()  # given up (attempts exhausted, bad URL, ...)
    refused: tuple[Notification, ...] = ()  # the target said no (4xx, fault, flerror)
    attempts: tuple[Attempt, ...] = ()
    next_due: datetime | None = None  # when the outbox next has work (store.next_due_time())


class Outbox:
    """The durable outbox: enqueue notifications, deliver the due ones, retry later.

    ``enqueue_for()`` only writes to the store. ``deliver_due()`` makes one attempt
    per due notification and records it; success removes the notification, a
    retryable failure reschedules it at ``now + policy.next_delay()``, a refusal (the
    target answered no: a 4xx, a fault, flerror) removes it and records the answer as
    the target's latest refusal (``store.target_refusals()``), and a permanent failure
    (or exhausted attempts) marks it failed with the reason.

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
        self._last_refusal: dict[tuple[str, str], str] = {}  # (kind, target) -> message

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
        refused: list[Notification] = []
        attempts: list[Attempt] = []
        for _ in range(limit):
            now = self.clock()
            claimed = self.store.due(now, 1, claim_until=now + self.lease)
            if not claimed:
                break
            notification = claimed[0]
            attempt = self._attempt(notification)
            attempts.append(attempt)
            lists = {"ok": delivered, "retry": retried, "failed": failed, "refused": refused}
            lists[attempt.status].append(notification)
        return DeliveryReport(
            delivered=tuple(delivered),
            retried=tuple(retried),
            failed=tuple(failed),
            refused=tuple(refused),
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
        elif outcome.verdict == "refused":
            delay = None
            status = "refused"
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
        elif status == "refused":
            message = outcome.error or summary
            refusal = TargetRefusal(
                n.kind, n.target, n.feed_url, finished, message, outcome.http_status
            )
            self.store.mark_refused(n.id, n.revision, refusal)
            # A hub refuses every feed nobody subscribes to, at every edit: its first
            # refusal (or a new message) is worth a warning, the same one again is not.
            key = (n.kind, n.target)
            level = logging.INFO if self._last_refusal.get(key) == message else logging.WARNING
            self._last_refusal[key] = message
            who = "hub" if n.kind == "websub" else "ping server"
            log.log(level, "%s: refused by the %s (final, not retried): %s", where, who, message)
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
