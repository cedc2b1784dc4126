"""Notifications against real servers on 127.0.0.1: a WebSub hub and an XML-RPC ping server.

Time is a FakeClock: retries are driven by ``clock.advance()``, never by sleeping.
"""

from __future__ import annotations

import logging
import random
import re
import time
import xmlrpc.client
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from syndicate import USER_AGENT, __version__
from syndicate.config import NotifyConfig
from syndicate.notify import (
    HttpSenders,
    Outbox,
    Outcome,
    PingClient,
    RetryPolicy,
    TimeoutSession,
    WebSubClient,
    classify,
    is_method_unknown,
    make_session,
    parse_retry_after,
)
from syndicate.store import Notification
from syndicate.store.sql import SqlStore

from .servers import (
    EXTENDED,
    PING,
    FakeClock,
    HubResponse,
    HubServer,
    PingServer,
    hang,
    port_of,
    refused_url,
    retry_after,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
FEED = "https://example.org/feed.atom"
RSS = "https://example.org/feed.rss"
SITE_NAME = "Example News"
SITE_URL = "https://example.org/"
TIMEOUT = 2.0  # generous: local answers take milliseconds
SHORT_TIMEOUT = 0.2  # for the hub that hangs for HANG seconds
HANG = 0.5


@pytest.fixture
def session() -> Iterator[TimeoutSession]:
    with make_session(TIMEOUT) as s:
        yield s


@pytest.fixture
def short_session() -> Iterator[TimeoutSession]:
    with make_session(SHORT_TIMEOUT) as s:
        yield s


def policy(max_attempts: int = 4, max_backoff: float = 60.0) -> RetryPolicy:
    return RetryPolicy(max_attempts=max_attempts, max_backoff=max_backoff, rng=random.Random(1))


OutboxFactory = Callable[..., Outbox]


@pytest.fixture
def make_outbox(store: SqlStore, clock: FakeClock, session: TimeoutSession) -> OutboxFactory:
    def factory(**kwargs: Any) -> Outbox:
        s = kwargs.pop("session", session)
        return Outbox(
            kwargs.pop("store", store),
            kwargs.pop("websub", WebSubClient(s)),
            kwargs.pop("pings", PingClient(s)),
            kwargs.pop("policy", policy()),
            clock,
            SITE_NAME,
            SITE_URL,
            **kwargs,
        )

    return factory


# --------------------------------------------------------------------------- pure parts


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, "ok"),
        (202, "ok"),
        (204, "ok"),
        (301, "fail"),
        (400, "refused"),
        (401, "refused"),
        (404, "refused"),
        (410, "refused"),
        (408, "retry"),
        (429, "retry"),
        (500, "retry"),
        (502, "retry"),
        (503, "retry"),
        (None, "retry"),
    ],
)
def test_classify(status: int | None, verdict: str) -> None:
    assert classify(status) == verdict


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Wed, 01 May 2024 12:02:00 GMT", 120.0),
        ("Wed, 01 May 2024 11:00:00 GMT", 0.0),  # in the past
        ("soon", None),
        ("-5", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, T0) == seconds


@pytest.mark.parametrize(
    ("code", "text", "unknown"),
    [
        (-32601, "requested method not found", True),
        (1, "<class 'Exception'>:method \"weblogUpdates.extendedPing\" is not supported", True),
        (0, "Unknown method: weblogUpdates.extendedPing", True),
        (-32500, "No such method weblogUpdates.extendedPing", True),
        (0, "procedure weblogUpdates.extendedPing not found", True),
        (0, "Ping rate exceeded", False),
        (-32602, "weblogUpdates.ping: wrong number of parameters", False),
        (0, "unknown site", False),
    ],
)
def test_is_method_unknown(code: int, text: str, unknown: bool) -> None:
    assert is_method_unknown(xmlrpc.client.Fault(code, text)) is unknown


policies = st.builds(
    RetryPolicy,
    max_attempts=st.integers(1, 30),
    max_backoff=st.floats(0, 7 * 86400),
    base=st.floats(0.01, 60),
    max_retry_after=st.floats(0, 7 * 86400),
    rng=st.randoms(use_true_random=False),
)


@given(policies, st.integers(1, 40))
def test_backoff_stays_within_the_cap(p: RetryPolicy, attempt: int) -> None:
    delay = p.next_delay(attempt)
    if attempt >= p.max_attempts:
        assert delay is None
    else:
        assert delay is not None
        assert p.cap(attempt) / 2 <= delay <= p.cap(attempt) <= p.max_backoff


@given(policies, st.integers(1, 200))
def test_backoff_cap_never_decreases(p: RetryPolicy, attempt: int) -> None:
    assert p.cap(attempt) <= p.cap(attempt + 1) <= p.max_backoff


@given(policies, st.data())
def test_retry_after_is_a_floor(p: RetryPolicy, data: st.DataObject) -> None:
    attempt = data.draw(st.integers(1, 200))
    wait = data.draw(st.floats(0, p.max_retry_after))
    delay = p.next_delay(attempt, retry_after=wait)
    if attempt >= p.max_attempts:
        assert delay is None
    else:
        assert delay is not None
        assert wait <= delay <= max(p.max_backoff, wait)


@given(policies, st.integers(1, 200), st.floats(1e-3, 30 * 86400))
def test_a_retry_after_beyond_max_retry_after_gives_up(
    p: RetryPolicy, attempt: int, extra: float
) -> None:
    assert p.next_delay(attempt, retry_after=p.max_retry_after + extra) is None


def test_backoff_grows_exponentially_until_the_cap() -> None:
    p = RetryPolicy(max_attempts=20, max_backoff=100, base=2, rng=random.Random(0))
    assert [p.cap(n) for n in range(1, 10)] == [2, 4, 8, 16, 32, 64, 100, 100, 100]


def test_policy_from_config() -> None:
    p = RetryPolicy.from_config(NotifyConfig(max_attempts=3, max_backoff=10))
    assert (p.max_attempts, p.max_backoff) == (3, 10)
    assert p.next_delay(3) is None


# --------------------------------------------------------------------------- session


def test_session_names_syndicate_and_applies_its_timeout_to_every_request(
    hub: HubServer, short_session: TimeoutSession
) -> None:
    assert f"syndicate/{__version__}" in USER_AGENT
    hub.respond(200, hang(HANG))
    short_session.get(hub.url).close()
    start = time.perf_counter()
    with pytest.raises(requests.Timeout):
        short_session.get(hub.url)  # no timeout given: the session's applies
    assert time.perf_counter() - start < HANG
    assert hub.requests[0].header("User-Agent") == USER_AGENT


# --------------------------------------------------------------------------- WebSub client


def test_publish_is_a_form_post_with_hub_url_and_hub_topic(
    hub: HubServer, session: TimeoutSession
) -> None:
    outcome = WebSubClient(session).publish(hub.url + "publish", FEED)
    assert (outcome.verdict, outcome.http_status, outcome.error) == ("ok", 204, None)
    assert outcome.latency_ms >= 0
    (request,) = hub.requests
    assert (request.method, request.path) == ("POST", "/publish")
    assert request.header("Content-Type") == "application/x-www-form-urlencoded"
    assert request.form == {"hub.mode": ["publish"], "hub.url": [FEED], "hub.topic": [FEED]}
    user_agent = request.header("User-Agent")
    assert user_agent is not None and user_agent.startswith(f"syndicate/{__version__}")


@pytest.mark.parametrize(
    ("response", "verdict"),
    [
        (HubResponse(500, body=b"boom"), "retry"),
        (HubResponse(503), "retry"),
        (retry_after(120), "retry"),
        (HubResponse(400, body=b"hub.url missing"), "refused"),
        (HubResponse(404), "refused"),
        (HubResponse(410), "refused"),
        (HubResponse(408), "retry"),
        (HubResponse(202), "ok"),
    ],
)
def test_publish_classifies_hub_answers(
    hub: HubServer, session: TimeoutSession, response: HubResponse, verdict: str
) -> None:
    hub.respond(response)
    outcome = WebSubClient(session).publish(hub.url, FEED)
    assert (outcome.verdict, outcome.http_status) == (verdict, response.status)
    if verdict != "ok":
        assert outcome.error is not None and outcome.error.startswith(f"HTTP {response.status}")
    if response.body:
        assert response.body.decode() in (outcome.error or "")


def test_publish_reads_retry_after(hub: HubServer, session: TimeoutSession) -> None:
    hub.respond(retry_after(120))
    assert WebSubClient(session).publish(hub.url, FEED).retry_after == 120
    hub.respond(retry_after(formatdate(time.time() + 300, usegmt=True), status=503))
    outcome = WebSubClient(session).publish(hub.url, FEED)
    assert outcome.retry_after is not None and 290 <= outcome.retry_after <= 301


def test_publish_to_a_hanging_hub_times_out(hub: HubServer, short_session: TimeoutSession) -> None:
    hub.respond(hang(HANG))
    outcome = WebSubClient(short_session).publish(hub.url, FEED)
    assert outcome.verdict == "retry" and outcome.http_status is None
    assert outcome.error == f"timeout after {SHORT_TIMEOUT:g} s"
    assert SHORT_TIMEOUT * 1000 * 0.9 <= outcome.latency_ms < HANG * 1000


def test_publish_to_a_refused_port_is_retried(session: TimeoutSession) -> None:
    outcome = WebSubClient(session).publish(refused_url(), FEED)
    assert (outcome.verdict, outcome.http_status) == ("retry", None)
    assert outcome.error == "connection refused"


def test_publish_to_a_malformed_url_fails(session: TimeoutSession) -> None:
    assert WebSubClient(session).publish("not a url", FEED).verdict == "fail"


# --------------------------------------------------------------------------- ping client


def ping(client: PingClient, server: str) -> Outcome:
    return client.ping(server, SITE_NAME, SITE_URL, SITE_URL + "post.html", FEED)


def test_extended_ping_carries_four_params(pinger: PingServer, session: TimeoutSession) -> None:
    outcome = ping(PingClient(session), pinger.url)
    assert (outcome.verdict, outcome.http_status, outcome.method) == ("ok", 200, EXTENDED)
    (call,) = pinger.calls
    assert call.method == EXTENDED
    assert call.params == (SITE_NAME, SITE_URL, SITE_URL + "post.html", FEED)
    assert call.header("User-Agent") == USER_AGENT
    assert call.header("Content-Type") == "text/xml"


@pytest.mark.parametrize("fault", [None, (-32601, "requested method not found")])
def test_falls_back_to_ping_when_extended_ping_is_unknown(
    session: TimeoutSession, fault: tuple[int, str] | None
) -> None:
    with PingServer(extended=False, unknown_fault=fault) as pinger:
        outcome = ping(PingClient(session), pinger.url)
    assert (outcome.verdict, outcome.method) == ("ok", PING)
    assert [c.method for c in pinger.calls] == [EXTENDED, PING]
    assert pinger.calls[1].params == (SITE_NAME, SITE_URL)


def test_flerror_is_a_refusal_with_the_servers_message(session: TimeoutSession) -> None:
    with PingServer(flerror=True, message="Slow down, you pinged 3 times") as pinger:
        outcome = ping(PingClient(session), pinger.url)
    assert (outcome.verdict, outcome.error) == ("refused", "Slow down, you pinged 3 times")


def test_other_faults_are_refusals_without_fallback(session: TimeoutSession) -> None:
    with PingServer(extended=False, unknown_fault=(-32500, "blog URL is blocked")) as pinger:
        outcome = ping(PingClient(session), pinger.url)
    assert outcome.verdict == "refused"
    assert outcome.error == "XML-RPC fault -32500: blog URL is blocked"
    assert [c.method for c in pinger.calls] == [EXTENDED]


@pytest.mark.parametrize(
    ("status", "verdict"), [(503, "retry"), (429, "retry"), (408, "retry"), (404, "refused")]
)
def test_http_errors_from_the_ping_server(
    session: TimeoutSession, status: int, verdict: str
) -> None:
    with PingServer(http_statuses=(status,), status_headers={"Retry-After": "30"}) as pinger:
        outcome = ping(PingClient(session), pinger.url)
        assert (outcome.verdict, outcome.http_status) == (verdict, status)
        assert outcome.retry_after == 30
        assert ping(PingClient(session), pinger.url).verdict == "ok"  # one bad answer only


def test_ping_to_a_refused_port_is_retried(session: TimeoutSession) -> None:
    outcome = ping(PingClient(session), refused_url())
    assert (outcome.verdict, outcome.error) == ("retry", "connection refused")


def test_ping_to_something_that_is_not_xml_rpc_fails(
    hub: HubServer, session: TimeoutSession
) -> None:
    hub.respond(HubResponse(200, {"Content-Type": "text/html"}, b"<html>hello</html>"))
    outcome = ping(PingClient(session), hub.url)
    assert outcome.verdict == "fail"
    assert outcome.error is not None and "malformed" in outcome.error


# --------------------------------------------------------------------------- outbox


def test_enqueue_writes_before_any_io_and_a_crash_loses_nothing(
    hub: HubServer, store: SqlStore, clock: FakeClock, make_outbox: OutboxFactory
) -> None:
    class Crash(BaseException):
        """Stands for the process dying mid-request."""

    class CrashingWebSub:
        def publish(self, hub: str, feed_url: str) -> Outcome:
            assert [n.feed_url for n in store.pending()] == [FEED]  # already stored
            raise Crash

    outbox = make_outbox(websub=CrashingWebSub(), lease=120)
    outbox.enqueue_for([FEED], [hub.url], [])
    with pytest.raises(Crash):
        outbox.deliver_due()
    (n,) = store.pending()
    assert n.attempts == 0
    # Claimed by the dead process: another deliverer skips it until the lease ends.
    assert make_outbox().deliver_due().attempts == ()
    clock.advance(119)
    assert make_outbox().deliver_due().attempts == ()

    clock.advance(1)
    report = make_outbox().deliver_due()
    assert [d.id for d in report.delivered] == [n.id]
    assert hub.publishes == [FEED]
    assert store.pending() == []


def test_an_unexpected_error_in_a_client_is_retried_not_lost(
    hub: HubServer, store: SqlStore, clock: FakeClock, make_outbox: OutboxFactory
) -> None:
    class BrokenWebSub:
        def publish(self, hub: str, feed_url: str) -> Outcome:
            raise RuntimeError("bug")

    make_outbox(websub=BrokenWebSub()).enqueue_for([FEED], [hub.url], [])
    report = make_outbox(websub=BrokenWebSub()).deliver_due()
    assert len(report.retried) == 1
    (n,) = store.pending()
    assert n.attempts == 1 and n.last_error is not None and "bug" in n.last_error


def test_one_notification_per_changed_feed_and_hub_and_one_ping_per_server(
    store: SqlStore, pinger: PingServer, make_outbox: OutboxFactory
) -> None:
    with HubServer() as hub_a, HubServer() as hub_b:
        outbox = make_outbox()
        for _ in range(3):  # a burst of edits
            outbox.enqueue_for([FEED, RSS], [hub_a.url, hub_b.url], [pinger.url])
        assert len(store.pending()) == 2 * 2 + 1
        report = outbox.deliver_due()
        assert len(report.delivered) == 5 and report.next_due is None
        assert sorted(hub_a.publishes) == sorted(hub_b.publishes) == [FEED, RSS]
    assert len(pinger.calls) == 1
    assert pinger.calls[0].params == (SITE_NAME, SITE_URL, SITE_URL, FEED)
    assert store.pending() == []


def test_ping_feed_url_names_the_main_feed(
    store: SqlStore, pinger: PingServer, make_outbox: OutboxFactory
) -> None:
    outbox = make_outbox(ping_feed_url=FEED)
    outbox.enqueue_for(["https://example.org/tag/x.atom"], [], [pinger.url])
    outbox.deliver_due()
    assert pinger.calls[0].params[3] == FEED


def test_nothing_changed_queues_nothing(
    store: SqlStore, hub: HubServer, pinger: PingServer, make_outbox: OutboxFactory
) -> None:
    assert make_outbox().enqueue_for([], [hub.url], [pinger.url]) == []
    assert store.pending() == []


def test_hub_500_is_retried_then_delivered_and_every_attempt_recorded(
    hub: HubServer,
    store: SqlStore,
    clock: FakeClock,
    make_outbox: OutboxFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    outbox = make_outbox()
    outbox.enqueue_for([FEED], [hub.url], [])
    hub.respond(500, 502)
    with caplog.at_level(logging.INFO, logger="syndicate.notify"):
        first = outbox.deliver_due()
    assert len(first.retried) == 1 and first.delivered == ()
    assert re.search(
        rf"websub {re.escape(hub.url)} for {re.escape(FEED)}: 500, retry in \d+\.\d s "
        r"\(attempt 1/4\)",
        caplog.text,
    )
    (n,) = store.pending()
    assert n.attempts == 1 and n.last_error is not None and n.last_error.startswith("HTTP 500")
    assert first.next_due == n.next_attempt_at > T0
    assert outbox.deliver_due().attempts == ()  # not due yet: no request
    assert len(hub.requests) == 1

    clock.now = n.next_attempt_at
    assert outbox.seconds_until_due() == 0
    assert len(outbox.deliver_due().retried) == 1
    (n,) = store.pending()
    clock.now = n.next_attempt_at
    assert len(outbox.deliver_due().delivered) == 1
    assert hub.publishes == [FEED] * 3
    assert store.pending() == [] and store.next_due_time() is None
    attempts = store.recent_attempts()
    assert [(a.status, a.http_status, a.attempt) for a in attempts] == [
        ("ok", 204, 3),
        ("retry", 502, 2),
        ("retry", 500, 1),
    ]
    assert all(a.target == hub.url and a.feed_url == FEED and a.kind == "websub" for a in attempts)
    assert all(isinstance(a.latency_ms, int) and a.latency_ms >= 0 for a in attempts)
    assert attempts[-1].time == T0


def test_429_retry_after_is_honoured_even_when_a_new_change_comes(
    hub: HubServer, store: SqlStore, clock: FakeClock, make_outbox: OutboxFactory
) -> None:
    outbox = make_outbox(policy=policy(max_backoff=10))
    outbox.enqueue_for([FEED], [hub.url], [])
    hub.respond(retry_after(120))
    outbox.deliver_due()
    (n,) = store.pending()
    assert n.next_attempt_at >= T0 + timedelta(seconds=120)

    clock.advance(60)
    outbox.enqueue_for([FEED], [hub.url], [])  # an edit: coalesced, still not before 120 s
    clock.advance(59)
    assert outbox.deliver_due().attempts == ()
    assert len(hub.requests) == 1
    clock.now = store.pending()[0].next_attempt_at
    assert len(outbox.deliver_due().delivered) == 1
    assert len(hub.requests) == 2


def test_a_hub_hanging_past_the_timeout_is_retried(
    hub: HubServer,
    store: SqlStore,
    clock: FakeClock,
    make_outbox: OutboxFactory,
    short_session: TimeoutSession,
) -> None:
    outbox = make_outbox(session=short_session)
    outbox.enqueue_for([FEED], [hub.url], [])
    hub.respond(hang(HANG))
    report = outbox.deliver_due()
    (attempt,) = report.attempts
    assert attempt.status == "retry" and attempt.error == f"timeout after {SHORT_TIMEOUT:g} s"
    assert attempt.latency_ms >= SHORT_TIMEOUT * 1000 * 0.9
    clock.advance(3600)
    assert len(outbox.deliver_due().delivered) == 1


def test_a_refused_connection_is_retried_until_the_hub_comes_back(
    store: SqlStore, clock: FakeClock, make_outbox: OutboxFactory
) -> None:
    url = refused_url()
    outbox = make_outbox()
    outbox.enqueue_for([FEED], [url], [])
    (attempt,) = outbox.deliver_due().attempts
    assert (attempt.status, attempt.error) == ("retry", "connection refused")
    clock.advance(3600)
    with HubServer(port=port_of(url)) as hub:
        assert len(outbox.deliver_due().delivered) == 1
    assert hub.publishes == [FEED]


@pytest.mark.parametrize("status", [400, 404, 410])
def test_other_4xx_are_refused_at_once(
    hub: HubServer, store: SqlStore, clock: FakeClock, make_outbox: OutboxFactory, status: int
) -> None:
    outbox = make_outbox()
    outbox.enqueue_for([FEED], [hub.url], [])
    hub.respond(status)
    report = outbox.deliver_due()
    # Issue 18, case 6: the hub refused it (final), which is not a failure to deliver.
    assert len(report.refused) == 1 and report.next_due is None
    assert store.failed() == [] and store.pending() == []
    (refusal,) = store.target_refusals()
    assert refusal.message.startswith(f"HTTP {status}") and refusal.http_status == status
    assert store.recent_attempts()[0].status == "refused"
    clock.advance(86400)
    outbox.deliver_due()
    assert len(hub.requests) == 1


def test_gives_up_after_max_attempts_and_retry_brings_it_back(
    store: SqlStore, clock: FakeClock, make_outbox: OutboxFactory
) -> None:
    with HubServer(default=500) as hub:
        outbox = make_outbox(policy=policy(max_attempts=3))
        outbox.enqueue_for([FEED], [hub.url], [])
        for _ in range(3):
            outbox.deliver_due()
            clock.advance(3600)
        assert store.pending() == []
        (n,) = store.failed()
        assert n.attempts == 3
        assert n.last_error is not None
        assert n.last_error.startswith("gave up after 3 attempts: HTTP 500")
        assert [a.status for a in store.recent_attempts()] == ["failed", "retry", "retry"]

        hub.default = HubResponse(204)
        back = outbox.retry(n.id)
        assert back is not None and back.status == "pending" and back.attempts == 0
        assert len(outbox.deliver_due().delivered) == 1
        assert len(hub.requests) == 4
    assert store.failed() == [] and store.pending() == []


def test_a_change_during_delivery_is_sent_again(
    hub: HubServer, store: SqlStore, make_outbox: OutboxFactory, session: TimeoutSession
) -> None:
    edits: list[list[Notification]] = []
    outbox = make_outbox()

    class EditWhilePublishing:
        def publish(self, hub_url: str, feed_url: str) -> Outcome:
            if not edits:  # the hub may fetch the feed before this edit is built
                edits.append(outbox.enqueue_for([FEED], [hub.url], []))
            return WebSubClient(session).publish(hub_url, feed_url)

    outbox.websub = EditWhilePublishing()
    outbox.enqueue_for([FEED], [hub.url], [])
    report = outbox.deliver_due()
    assert len(report.delivered) == 2
    assert hub.publishes == [FEED, FEED]
    assert store.pending() == []


def test_pings_through_the_outbox(
    store: SqlStore, clock: FakeClock, make_outbox: OutboxFactory
) -> None:
    with PingServer(extended=False) as old, PingServer(flerror=True, message="no") as picky:
        outbox = make_outbox()
        outbox.enqueue_for([FEED], [], [old.url, picky.url])
        report = outbox.deliver_due()
    assert [c.method for c in old.calls] == [EXTENDED, PING]
    assert [n.target for n in report.delivered] == [old.url]
    assert store.failed() == [] and store.pending() == []
    (refused,) = store.target_refusals()  # flerror: the server refused it (issue 18, case 6)
    assert (refused.kind, refused.target, refused.message) == ("ping", picky.url, "no")
    by_target = {a.target: a for a in store.recent_attempts()}
    assert (by_target[picky.url].status, by_target[picky.url].error) == ("refused", "no")
    assert (by_target[old.url].status, by_target[old.url].http_status) == ("ok", 200)


def test_notifications_pending_when_the_process_stopped_are_sent_after_restart(
    tmp_path: Path, clock: FakeClock, hub: HubServer, pinger: PingServer
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with SqlStore(url) as store, make_session(TIMEOUT) as session:
        outbox = Outbox(
            store, WebSubClient(session), PingClient(session), policy(), clock, SITE_NAME, SITE_URL
        )
        outbox.enqueue_for([FEED, RSS], [hub.url], [pinger.url])
    assert hub.requests == [] and pinger.calls == []

    clock.advance(30)
    with SqlStore(url) as store, make_session(TIMEOUT) as session:
        outbox = Outbox(
            store, WebSubClient(session), PingClient(session), policy(), clock, SITE_NAME, SITE_URL
        )
        assert outbox.seconds_until_due() == 0
        report = outbox.deliver_due()
        assert len(report.delivered) == 3
        assert store.pending() == []
    assert sorted(hub.publishes) == [FEED, RSS]
    assert len(pinger.calls) == 1


def test_deliver_due_respects_its_limit(
    hub: HubServer, store: SqlStore, make_outbox: OutboxFactory
) -> None:
    outbox = make_outbox()
    outbox.enqueue_for([f"https://example.org/{i}.atom" for i in range(5)], [hub.url], [])
    assert len(outbox.deliver_due(limit=2).delivered) == 2
    assert len(store.pending()) == 3
    assert outbox.seconds_until_due() == 0


# --------------------------------------------------------------------------- HttpSenders


def test_http_senders_make_their_clients_on_the_first_send(
    hub: HubServer, pinger: PingServer
) -> None:
    senders = HttpSenders(timeout=7.0)
    assert senders._clients is None  # nothing made (nor requests needed) before a send
    outcome = senders.publish(hub.url, FEED)
    assert (outcome.verdict, outcome.http_status) == ("ok", 204)
    websub, pings = senders.clients()
    assert isinstance(websub, WebSubClient) and isinstance(pings, PingClient)
    assert websub.session is pings.session and websub.timeout == pings.timeout == 7.0
    assert hub.requests[0].header("User-Agent") == USER_AGENT
    outcome = senders.ping(pinger.url, SITE_NAME, SITE_URL, SITE_URL + "post.html", FEED)
    assert (outcome.verdict, outcome.method) == ("ok", EXTENDED)
    assert senders.clients() == (websub, pings)  # made once


def test_the_http_clients_are_still_importable_from_notify() -> None:
    from syndicate import notify
    from syndicate.notify import clients

    for name in ("PingClient", "RequestsTransport", "TimeoutSession", "WebSubClient"):
        assert getattr(notify, name) is getattr(clients, name)
    assert notify.make_session is clients.make_session
    with pytest.raises(AttributeError):
        notify.nothing  # noqa: B018
