"""Hubs and ping servers syndicate's authors did not write (issue 18, cases 1 and 6).

The servers on 127.0.0.1 answer byte for byte as the real ones were seen to: XML-RPC ping
servers that write booleans as words, send faults with HTTP 500 or word "method not
found" as Frontier does, and a WebSub hub that, like the Go hub, fetches the topic on a
publish and refuses one nobody subscribed to. What a user meets is driven through the
CLI (``republish``, then the worker's delivery step, then ``status``).
"""

from __future__ import annotations

import json
import logging
import xmlrpc.client
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from syndicate.cli import main
from syndicate.config import load_config
from syndicate.notify import (
    Clock,
    DeliveryReport,
    PingClient,
    is_method_unknown,
    make_session,
    utc_now,
)
from syndicate.publisher import open_publisher
from syndicate.web import create_app
from syndicate.web.api import TOKEN_ENV

from .servers import (
    EXTENDED,
    PING,
    FakeClock,
    GoLikeHub,
    HubResponse,
    QuirkyPingServer,
    SiteServer,
    refused_url,
)
from .test_admin import TOKEN, html, sign_in, text
from .test_scheduler import write_post

SITE = "https://example.org/"
XML = {"Content-Type": "text/xml"}


def _answer(flerror: bytes, message: str = "Thanks for the ping.") -> bytes:
    """A weblogUpdates answer with ``flerror`` written as given, as a node library does."""
    return (
        b'<?xml version="1.0"?>\n<methodResponse>\n<params>\n<param>\n<value>\n<struct>\n'
        b"<member>\n<name>flerror</name>\n<value>\n<boolean>" + flerror + b"</boolean>\n"
        b"</value>\n</member>\n<member>\n<name>message</name>\n<value>\n<string>"
        + message.encode()
        + b"</string>\n</value>\n</member>\n</struct>\n</value>\n</param>\n</params>\n"
        b"</methodResponse>"
    )


def _fault(code: int, text: str) -> bytes:
    return (
        b'<?xml version="1.0"?>\n<methodResponse>\n<fault>\n<value>\n<struct>\n'
        b"<member>\n<name>faultCode</name>\n<value><int>" + str(code).encode() + b"</int></value>\n"
        b"</member>\n<member>\n<name>faultString</name>\n<value><string>"
        + text.encode()
        + b"</string></value>\n</member>\n</struct>\n</value>\n</fault>\n</methodResponse>\n"
    )


# Frontier (and Radio UserLand) word an unknown method this way, with code 4, over 200.
FRONTIER_UNKNOWN = (
    b'<?xml version="1.0"?>\r\n<methodResponse>\r\n\t<fault>\r\n\t\t<value>\r\n\t\t\t<struct>\r\n'
    b"\t\t\t\t<member>\r\n\t\t\t\t\t<name>faultCode</name>\r\n"
    b"\t\t\t\t\t<value><int>4</int></value>\r\n\t\t\t\t\t</member>\r\n"
    b"\t\t\t\t<member>\r\n\t\t\t\t\t<name>faultString</name>\r\n"
    b"\t\t\t\t\t<value><string>Can't call &quot;weblogUpdates.extendedPing&quot; because the "
    b"name hasn't been defined.</string></value>\r\n\t\t\t\t\t</member>\r\n"
    b"\t\t\t\t</struct>\r\n\t\t\t</value>\r\n\t\t</fault>\r\n\t</methodResponse>\r\n"
)
FRONTIER_OK = (
    b'<?xml version="1.0"?>\r\n<methodResponse>\r\n\t<params>\r\n\t\t<param>\r\n'
    b"\t\t\t<value>\r\n\t\t\t\t<struct>\r\n\t\t\t\t\t<member>\r\n"
    b"\t\t\t\t\t\t<name>flerror</name>\r\n\t\t\t\t\t\t<value><boolean>0</boolean></value>\r\n"
    b"\t\t\t\t\t\t</member>\r\n\t\t\t\t\t<member>\r\n\t\t\t\t\t\t<name>message</name>\r\n"
    b"\t\t\t\t\t\t<value>Thanks for the ping.</value>\r\n\t\t\t\t\t\t</member>\r\n"
    b"\t\t\t\t\t</struct>\r\n\t\t\t\t</value>\r\n\t\t\t</param>\r\n\t\t</params>\r\n"
    b"\t</methodResponse>\r\n"
)
FRONTIER_WORDS = "Can't call \"weblogUpdates.extendedPing\" because the name hasn't been defined."
HTML_500 = b"<html><head><title>500 Internal Server Error</title></head><body>oops</body></html>"


def ok(body: bytes) -> HubResponse:
    return HubResponse(200, XML, body)


def http_500(body: bytes, content_type: str = "text/xml") -> HubResponse:
    return HubResponse(500, {"Content-Type": content_type}, body)


# --------------------------------------------------------------------------- the project


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A site with one post; ``configure()`` adds its hubs and ping servers."""
    (tmp_path / "posts").mkdir()
    write_post(tmp_path / "posts", "2024-04-01-hello.md", title="Hello")
    return tmp_path


def configure(
    project: Path,
    pings: list[str] = [],  # noqa: B006
    hubs: list[str] = [],  # noqa: B006
    site: str = SITE,
) -> None:
    config = f"site:\n  title: Example News\n  url: {site}\nposts_dir: posts\n"
    config += "notify:\n  timeout: 5\n  max_attempts: 3\n"
    if pings:
        config += f"pings: [{', '.join(pings)}]\n"
    if hubs:
        config += f"websub:\n  hubs: [{', '.join(hubs)}]\n"
    (project / "config.yaml").write_text(config, encoding="utf-8")


def run(project: Path, *args: str) -> Result:
    result = CliRunner().invoke(main, [*args, "--config", str(project / "config.yaml")])
    assert result.exit_code == 0, result.output
    return result


def deliver(project: Path, clock: Clock = utc_now) -> DeliveryReport:
    """One round of the worker's delivery step (``Outbox.deliver_due``)."""
    publisher = open_publisher(load_config(project / "config.yaml"), clock)
    try:
        assert publisher.outbox is not None
        return publisher.outbox.deliver_due()
    finally:
        publisher.close()


def status(project: Path) -> list[str]:
    return run(project, "status").stdout.splitlines()


# --------------------------------------------------------------------------- case 1: XML-RPC


@pytest.mark.parametrize(
    ("answers", "unknown", "methods"),
    [
        pytest.param({EXTENDED: ok(_answer(b"false"))}, None, [EXTENDED], id="text-false"),
        pytest.param({EXTENDED: ok(_answer(b" False\n"))}, None, [EXTENDED], id="text-False"),
        pytest.param(
            {PING: ok(_answer(b"0"))},
            http_500(_fault(-32601, "requested method not found")),
            [EXTENDED, PING],
            id="fault-over-500",
        ),
        pytest.param(
            {PING: ok(FRONTIER_OK)}, ok(FRONTIER_UNKNOWN), [EXTENDED, PING], id="frontier"
        ),
        pytest.param(
            {PING: ok(_answer(b"false"))},
            http_500(_fault(7, "No such method: weblogUpdates.extendedPing")),
            [EXTENDED, PING],
            id="worded-fault-over-500",
        ),
    ],
)
def test_a_ping_server_that_bends_the_spec_is_pinged(
    project: Path,
    answers: dict[str, HubResponse],
    unknown: HubResponse | None,
    methods: list[str],
) -> None:
    with QuirkyPingServer(answers, unknown or http_500(HTML_500, "text/html")) as server:
        configure(project, pings=[server.url])
        run(project, "republish")
        report = deliver(project)
        assert server.methods == methods
    assert [a.status for a in report.attempts] == ["ok"]
    shown = status(project)
    assert "Failed notifications: 0" in shown and "Pending notifications: 0" in shown
    (attempt,) = [line for line in shown if line.startswith("  ") and "-> " + server.url in line]
    assert " ok ping " in attempt and "malformed" not in attempt


def test_text_true_is_the_servers_refusal_with_its_message(project: Path) -> None:
    refusal = _answer(b"TRUE", "Slow down, you pinged 3 times")
    with QuirkyPingServer({EXTENDED: ok(refusal)}, ok(FRONTIER_UNKNOWN)) as server:
        configure(project, pings=[server.url])
        run(project, "republish")
        (attempt,) = deliver(project).attempts
        assert server.methods == [EXTENDED]  # not retried
    assert attempt.error == "Slow down, you pinged 3 times"
    assert attempt.status == "refused"  # final, and not a failure (case 6)


def test_a_fault_over_500_is_the_servers_answer_not_a_transport_error(project: Path) -> None:
    blocked = http_500(_fault(-32500, "blog URL is blocked"))
    with QuirkyPingServer({}, blocked) as server:
        configure(project, pings=[server.url])
        run(project, "republish")
        (attempt,) = deliver(project).attempts
        assert server.methods == [EXTENDED]  # no fallback: the server knows the method
    assert attempt.status == "refused"
    assert attempt.http_status == 500
    assert attempt.error == "XML-RPC fault -32500: blog URL is blocked"
    assert "Pending notifications: 0" in status(project)


def test_a_500_that_is_not_xml_rpc_is_still_retried(project: Path) -> None:
    with QuirkyPingServer({}, http_500(HTML_500, "text/html")) as server:
        configure(project, pings=[server.url])
        run(project, "republish")
        (attempt,) = deliver(project).attempts
        assert server.methods == [EXTENDED]
    assert (attempt.status, attempt.http_status) == ("retry", 500)
    assert "Pending notifications: 1" in status(project)


@pytest.fixture
def client() -> Iterator[PingClient]:
    with make_session(5.0) as session:
        yield PingClient(session)


@pytest.mark.parametrize("flerror", [b"1", b"true", b"True", b" TRUE ", b"\ntrue\n"])
def test_every_spelling_of_true_is_flerror(client: PingClient, flerror: bytes) -> None:
    with QuirkyPingServer({EXTENDED: ok(_answer(flerror, "no"))}, ok(b"")) as server:
        outcome = client.ping(server.url, "Example News", SITE, SITE, SITE + "feed.rss")
    assert (outcome.ok, outcome.error) == (False, "no")


def test_a_boolean_that_is_no_boolean_is_malformed(client: PingClient) -> None:
    with QuirkyPingServer({EXTENDED: ok(_answer(b"maybe"))}, ok(b"")) as server:
        outcome = client.ping(server.url, "Example News", SITE, SITE, SITE + "feed.rss")
    assert outcome.error is not None and outcome.error.startswith("malformed XML-RPC response")


@pytest.mark.parametrize(
    ("code", "text", "unknown"),
    [
        (4, FRONTIER_WORDS, True),
        (1, 'method "weblogUpdates.extendedPing" is not supported', True),
        (-32601, "whatever", True),
        (2, "weblogUpdates.extendedPing is not defined", True),
        (3, "Unknown method weblogUpdates.extendedPing", True),
        (3, "no such method", True),
        (0, "Method not found: weblogUpdates.extendedPing", True),
        (5, "weblogUpdates.extendedPing: wrong number of parameters", False),
        (6, "The URL you pinged is blocked", False),
        (7, "Too many pings from this site", False),
    ],
)
def test_method_unknown_faults_by_code_or_wording(code: int, text: str, unknown: bool) -> None:
    assert is_method_unknown(xmlrpc.client.Fault(code, text), EXTENDED) is unknown


# --------------------------------------------------------------------------- case 6: refusals


def test_a_hub_refusing_unsubscribed_topics_does_not_bury_real_failures(
    project: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The Go hub answers ``400 subscription not found`` for every feed nobody follows,
    at every edit: each is the hub refusing it (final, shown once per hub with its
    message), while a hub that is down gives real failures that status must show."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    dead = refused_url()
    clock = FakeClock(datetime.now(UTC))
    with GoLikeHub() as hub, SiteServer() as web:
        configure(project, hubs=[hub.url, dead], site=web.url)
        config = load_config(project / "config.yaml")
        hub.subscribe(web.url + "feed.atom")  # a reader follows the main Atom feed only
        rounds = 3
        for edit in range(rounds):
            write_post(project / "posts", "2024-04-01-hello.md", title=f"Hello {edit}")
            run(project, "republish")
            web.app = web.app or create_app(config)
            for _ in range(4):  # the worker's rounds: the dead hub is retried, then given up
                clock.advance(hours=2)
                deliver(project, clock)
        topics = {topic for topic, _ in hub.checked}
        # The hub fetched every topic and found it named as the feed's rel=self.
        assert hub.checked and all(found == topic for topic, found in hub.checked)

    feeds = len(topics)
    assert feeds >= 4 and web.url + "feed.atom" in topics
    shown = status(project)
    # The dead hub's: one per feed, however many edits (each new change supersedes the
    # failed row of its feed, so they do not pile up either).
    assert f"Failed notifications: {feeds}" in shown
    failed = [line for line in shown if line.startswith("  websub ") and "; gave up" in line]
    assert failed and all(f"-> {dead}: 3 attempts; gave up after 3" in x for x in failed)
    assert "Refused by hubs and ping servers: 1 target" in shown
    (refusal,) = [line for line in shown if "subscription not found" in line]
    assert refusal.startswith(f"  hub {hub.url} refused {(feeds - 1) * rounds} notifications")
    assert refusal.endswith(": HTTP 400 Bad Request: subscription not found")
    assert "Pending notifications: 0" in shown

    data = json.loads(run(project, "status", "--json").stdout)
    assert {n["target"] for n in data["failed"]} == {dead}
    (latest,) = data["refused_by_targets"]
    assert (latest["kind"], latest["target"], latest["http_status"]) == ("websub", hub.url, 400)
    assert latest["message"] == "HTTP 400 Bad Request: subscription not found"
    assert latest["count"] == (feeds - 1) * rounds and latest["feed"] in topics

    # The first refusal of the hub is a warning; the same answer again is only news.
    warned = [r for r in caplog.records if "refused by the hub" in r.getMessage()]
    assert [r.levelno for r in warned].count(logging.WARNING) == rounds  # one per worker run

    publisher = open_publisher(config, clock)
    try:
        app = create_app(config, publisher, reload_interval=None)
        client = app.test_client()
        api = client.get("/api/status", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
        assert api["refused_by_targets"] == data["refused_by_targets"]
        assert api["failed"] == data["failed"]
        assert sign_in(client).status_code == 302
        overview = html(client.get("/admin/"))
        stats = [
            " ".join(a.xpath("string()").split())
            for a in overview.xpath("//a[contains(@class, 'stat')]")
        ]
        assert f"{feeds} notifications failed" in stats
        assert "1 target refusing" in stats
        page = client.get("/admin/notifications")
        rows = html(page).xpath("//section[@id='refused']//tbody/tr")
        assert len(rows) == 1 and "subscription not found" in rows[0].xpath("string()")
        assert f"Failed {feeds}" in text(page)
    finally:
        publisher.close()
