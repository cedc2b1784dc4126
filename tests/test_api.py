"""The editor API and the ``republish``/``status`` commands, with real parts.

The app is the real ``create_app`` on posts in tmp_path and a real SQLite file; hubs and
ping servers are real servers on 127.0.0.1 (``tests/servers.py``). Requests never
deliver: the tests deliver what was queued with the Publisher's own ``Outbox``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from syndicate import readable
from syndicate.cli import main
from syndicate.config import Config, load_config
from syndicate.publisher import Publisher, open_publisher
from syndicate.store.sql import SqlStore
from syndicate.web import create_app
from syndicate.web.api import (
    EXTENSION,
    STORE_BUSY_RETRY_AFTER,
    TOKEN_ENV,
    EditorAPI,
    FailureLimiter,
)

from .conftest import ConfigFactory
from .servers import FakeClock, HubServer, PingServer

TOKEN = "s3cret-Editor_token~42"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SITE = "https://example.org/"

CATS = """---
title: Cats
date: 2024-04-01T10:00:00Z
categories: [Life]
tags: [cats]
---
Cats sleep a lot.
"""
PYTHON = """---
title: Python news
date: 2024-04-02T10:00:00Z
categories: [News]
tags: [python]
---
A new Python is out.
"""
LATER = """---
title: Later
date: 2099-01-01T09:00:00Z
categories: [News]
tags: [python]
---
Not yet.
"""
BROKEN = """---
title: [unclosed
date: 2024-04-03
---
Body.
"""

# Every feed's documents: RSS, Atom and JSON Feed.
SITE_FEEDS = {"/feed.rss", "/feed.atom", "/feed.json"}
NEWS_FEEDS = {
    f"/{p}.{ext}" for p in ("category/news", "tag/python") for ext in ("rss", "atom", "json")
}
LIFE_FEEDS = {
    f"/{p}.{ext}" for p in ("category/life", "tag/cats") for ext in ("rss", "atom", "json")
}
ALL_FEEDS = SITE_FEEDS | NEWS_FEEDS | LIFE_FEEDS
# Editing the Python post touches the site's feeds and those of its category and tag.
AFFECTED = SITE_FEEDS | NEWS_FEEDS


def url(path: str) -> str:
    return SITE + path.lstrip("/")


def write_posts(posts_dir: Path, *, broken: bool = False) -> None:
    (posts_dir / "2024-04-01-cats.md").write_text(CATS, encoding="utf-8")
    (posts_dir / "2024-04-02-python.md").write_text(PYTHON, encoding="utf-8")
    (posts_dir / "2099-01-01-later.md").write_text(LATER, encoding="utf-8")
    if broken:
        (posts_dir / "2024-04-03-broken.md").write_text(BROKEN, encoding="utf-8")


def edit_python_post(posts_dir: Path) -> None:
    path = posts_dir / "2024-04-02-python.md"
    path.write_text(PYTHON.replace("is out.", "is out, with a faster interpreter."), "utf-8")


def queued(store: SqlStore) -> set[tuple[str, str, str]]:
    """The pending outbox as (kind, target, feed URL)."""
    return {(n.kind, n.target, n.feed_url) for n in store.pending()}


def websub_for(hub: HubServer, paths: set[str]) -> set[tuple[str, str, str]]:
    return {("websub", hub.url, url(p)) for p in paths}


def ping_for(pinger: PingServer) -> set[tuple[str, str, str]]:
    # weblogUpdates is per site: one ping per server, naming the site's main feed.
    return {("ping", pinger.url, url("/feed.rss"))}


def paths_of(feeds: list[dict[str, str]]) -> set[str]:
    for feed in feeds:
        assert feed["url"] == url(feed["path"])
    return {feed["path"] for feed in feeds}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    return TOKEN


@pytest.fixture
def site_config(
    make_config: ConfigFactory, posts_dir: Path, hub: HubServer, pinger: PingServer
) -> Config:
    """Posts in tmp_path; the local hub and ping server are the configured targets."""
    write_posts(posts_dir)
    return make_config(websub={"hubs": [hub.url]}, pings=[pinger.url], notify={"timeout": 5})


@pytest.fixture
def publisher(site_config: Config, clock: FakeClock) -> Iterator[Publisher]:
    """The real Publisher (SqlStore on the test's SQLite file, Outbox with HTTP clients)."""
    opened = open_publisher(site_config, clock)
    yield opened
    assert opened.store is not None
    opened.store.close()


def close_api(app: Flask) -> None:
    ext: EditorAPI = app.extensions[EXTENSION]
    ext.close()


@pytest.fixture
def app(token: str, site_config: Config, publisher: Publisher) -> Iterator[Flask]:
    app = create_app(site_config, publisher)
    yield app
    close_api(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def republish(client: FlaskClient, body: Any = None, **kwargs: Any) -> TestResponse:
    if body is not None:
        kwargs["json"] = body
    return client.post("/api/republish", headers=AUTH, **kwargs)


def ok_json(response: TestResponse) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    data: dict[str, Any] = response.get_json()
    return data


def deliver(publisher: Publisher) -> None:
    """What the scheduler does: one round of deliveries from the outbox."""
    assert publisher.outbox is not None
    publisher.outbox.deliver_due()


# --------------------------------------------------------------------------- republish


def test_republish_lists_every_feed_first_and_queues_for_every_target(
    client: FlaskClient, store: SqlStore, hub: HubServer, pinger: PingServer
) -> None:
    response = republish(client)
    data = ok_json(response)
    assert response.headers["Cache-Control"] == "no-store"
    assert paths_of(data["changed_feeds"]) == ALL_FEEDS
    assert data["removed_feeds"] == []
    assert data["queued"] == len(ALL_FEEDS) + 1  # one per feed for the hub, one ping
    assert "scheduler" in data["delivery"]
    assert data["errors"] == [] and data["warnings"] == []
    assert data["post_count"] == 3
    assert data["feed_count"] == 5  # site, 2 categories, 2 tags
    assert data["scheduled"] == [
        {"file": "posts/2099-01-01-later.md", "time": "2099-01-01T09:00:00Z"}
    ]
    assert data["started"] == "2024-05-01T12:00:00Z"
    assert isinstance(data["duration"], float)
    assert queued(store) == websub_for(hub, ALL_FEEDS) | ping_for(pinger)
    # The request only queues: delivery is the scheduler's, so no hub was called.
    assert hub.requests == [] and pinger.calls == []


def test_one_edit_republishes_exactly_the_affected_feeds(
    client: FlaskClient,
    publisher: Publisher,
    store: SqlStore,
    clock: FakeClock,
    posts_dir: Path,
    hub: HubServer,
    pinger: PingServer,
) -> None:
    ok_json(republish(client))
    deliver(publisher)
    assert store.pending() == [] and store.failed() == []
    assert set(hub.publishes) == {url(p) for p in ALL_FEEDS}

    clock.advance(60)
    unchanged = ok_json(republish(client))
    assert unchanged["changed_feeds"] == [] and unchanged["queued"] == 0
    assert store.pending() == []

    clock.advance(60)
    edit_python_post(posts_dir)
    data = ok_json(republish(client))
    assert paths_of(data["changed_feeds"]) == AFFECTED
    assert data["queued"] == len(AFFECTED) + 1
    # One notification per changed feed per hub, and the site's ping.
    assert queued(store) == websub_for(hub, AFFECTED) | ping_for(pinger)


def test_force_notifies_every_feed(
    client: FlaskClient,
    publisher: Publisher,
    store: SqlStore,
    hub: HubServer,
    pinger: PingServer,
) -> None:
    ok_json(republish(client))
    deliver(publisher)
    data = ok_json(republish(client, {"force": True}))
    assert data["force"] is True
    assert data["changed_feeds"] == []  # nothing changed ...
    assert data["queued"] == len(ALL_FEEDS) + 1  # ... and every feed is notified
    assert queued(store) == websub_for(hub, ALL_FEEDS) | ping_for(pinger)


def test_force_false_is_a_plain_republish(client: FlaskClient, store: SqlStore) -> None:
    ok_json(republish(client))
    assert ok_json(republish(client, {"force": False}))["queued"] == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "not valid JSON"),
        (b"\xff\xfe{", "not valid JSON"),
        (b"[true]", "JSON object"),
        (b'{"force": "yes"}', "force: expected true or false"),
        (b'{"force": 1}', "force: expected true or false"),
        (b'{"forse": true}', "Unknown key 'forse'"),
    ],
)
def test_bad_body_is_a_400_and_publishes_nothing(
    client: FlaskClient, store: SqlStore, body: bytes, message: str
) -> None:
    response = client.post(
        "/api/republish", headers=AUTH, data=body, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    assert message in response.get_json()["message"]
    assert store.last_build() is None and store.pending() == []


def test_republish_reports_post_errors(
    client: FlaskClient, posts_dir: Path, store: SqlStore
) -> None:
    write_posts(posts_dir, broken=True)
    data = ok_json(republish(client))
    assert [e["file"] for e in data["errors"]] == ["posts/2024-04-03-broken.md"]
    assert "YAML" in data["errors"][0]["message"]
    assert paths_of(data["changed_feeds"]) == ALL_FEEDS  # the good posts are published


def test_republish_opens_its_own_store_when_the_app_has_none(
    token: str, site_config: Config, clock: FakeClock, store: SqlStore, hub: HubServer
) -> None:
    # create_app's default Publisher has no store: the API opens one on first use.
    app = create_app(site_config, Publisher(site_config, clock))
    try:
        data = ok_json(republish(app.test_client()))
        assert paths_of(data["changed_feeds"]) == ALL_FEEDS
        assert data["started"] == "2024-05-01T12:00:00Z"  # with the app's clock
        assert websub_for(hub, ALL_FEEDS) <= queued(store)
    finally:
        close_api(app)
    close_api(app)  # closing twice is harmless


# --------------------------------------------------------------------------- tokens


@pytest.mark.parametrize(("method", "path"), [("POST", "/api/republish"), ("GET", "/api/status")])
@pytest.mark.parametrize(
    ("authorization", "challenge"),
    [
        (None, 'Bearer realm="syndicate"'),
        ("", 'Bearer realm="syndicate"'),
        ("Bearer", 'Bearer realm="syndicate"'),
        (f"Basic {TOKEN}", 'Bearer realm="syndicate"'),
        ("Bearer wrong", 'Bearer realm="syndicate", error="invalid_token"'),
        (f"Bearer {TOKEN}x", 'Bearer realm="syndicate", error="invalid_token"'),
    ],
)
def test_missing_or_wrong_token_is_401_with_a_bearer_challenge(
    client: FlaskClient,
    store: SqlStore,
    method: str,
    path: str,
    authorization: str | None,
    challenge: str,
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.open(path, method=method, headers=headers)
    assert response.status_code == 401
    # RFC 6750 3.1: no error code when the request has no token, invalid_token if wrong.
    assert response.headers["WWW-Authenticate"] == challenge
    assert response.mimetype == "application/json"
    assert response.get_json()["error"] == "Unauthorized"
    assert store.last_build() is None


def test_the_scheme_is_case_insensitive(client: FlaskClient) -> None:
    response = client.get("/api/status", headers={"Authorization": f"bearer {TOKEN}"})
    assert response.status_code == 200


def test_a_non_ascii_token_is_compared_as_utf8_bytes(
    monkeypatch: pytest.MonkeyPatch, site_config: Config, publisher: Publisher
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "jötunn")
    client = create_app(site_config, publisher).test_client()
    # A client sends the token's UTF-8 bytes; WSGI hands them over decoded as latin-1.
    sent = "jötunn".encode().decode("latin-1")
    assert client.get("/api/status", headers={"Authorization": f"Bearer {sent}"}).status_code == 200
    assert client.get("/api/status", headers={"Authorization": "Bearer jotunn"}).status_code == 401


@pytest.mark.parametrize("value", [None, "", "   "])
@pytest.mark.parametrize(("method", "path"), [("POST", "/api/republish"), ("GET", "/api/status")])
def test_no_token_in_the_environment_turns_the_api_off(
    monkeypatch: pytest.MonkeyPatch,
    site_config: Config,
    publisher: Publisher,
    store: SqlStore,
    value: str | None,
    method: str,
    path: str,
) -> None:
    if value is None:
        monkeypatch.delenv(TOKEN_ENV, raising=False)
    else:
        monkeypatch.setenv(TOKEN_ENV, value)
    app = create_app(site_config, publisher)
    response = app.test_client().open(path, method=method, headers=AUTH)
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert "editor API is off" in response.get_json()["message"]
    assert TOKEN_ENV in response.get_json()["message"]
    assert store.last_build() is None
    # The feeds are still served.
    assert app.test_client().get("/feed.atom").status_code == 200


def test_the_token_is_read_when_the_app_is_created(
    monkeypatch: pytest.MonkeyPatch, app: Flask
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "another")
    client = app.test_client()
    assert client.get("/api/status", headers=AUTH).status_code == 200
    assert client.get("/api/status", headers={"Authorization": "Bearer another"}).status_code == 401


# --------------------------------------------------------------------------- slowing down


@pytest.fixture
def limited(app: Flask, clock: FakeClock) -> FakeClock:
    """Give the app's limiter the test's clock."""
    ext: EditorAPI = app.extensions[EXTENSION]
    ext.limiter = FailureLimiter(clock=lambda: clock().timestamp())
    return clock


def wrong(client: FlaskClient, address: str = "127.0.0.1") -> TestResponse:
    return client.get(
        "/api/status",
        headers={"Authorization": "Bearer guess"},
        environ_base={"REMOTE_ADDR": address},
    )


def test_the_sixth_failure_within_a_minute_is_429(client: FlaskClient, limited: FakeClock) -> None:
    for _ in range(5):
        assert wrong(client).status_code == 401
        limited.advance(1)
    blocked = wrong(client)
    assert blocked.status_code == 429
    assert blocked.headers["Retry-After"] == "55"  # the first failure was 5 s ago
    assert blocked.mimetype == "application/json"
    # Another address is not slowed down.
    assert wrong(client, "192.0.2.7").status_code == 401
    limited.advance(54)
    assert wrong(client).status_code == 429
    limited.advance(1)  # the oldest failure is now a minute old
    assert wrong(client).status_code == 401


def test_the_right_token_is_never_locked_out(client: FlaskClient, limited: FakeClock) -> None:
    # Issue 17, case 3: behind a reverse proxy every client shares one address; a
    # stranger's five guesses (renewed every 12 s) must not lock the editors out.
    for _ in range(5):
        assert wrong(client).status_code == 401
    assert wrong(client).status_code == 429
    for _ in range(3):
        limited.advance(12)
        assert wrong(client).status_code == 429  # the guesser keeps the address blocked
        ok_json(client.get("/api/status", headers=AUTH))
        assert republish(client).status_code == 200


def test_wrong_tokens_from_many_addresses_hit_the_global_backstop(
    client: FlaskClient, limited: FakeClock
) -> None:
    ext: EditorAPI = client.application.extensions[EXTENSION]
    ext.limiter = FailureLimiter(max_global=20, clock=ext.limiter.clock)
    for n in range(20):  # four guesses per address, never blocked on its own
        assert wrong(client, f"192.0.2.{n // 4}").status_code == 401
    refused = wrong(client, "198.51.100.1")  # a fresh address: refused all the same
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "60"
    ok_json(client.get("/api/status", headers=AUTH))
    limited.advance(60)
    assert wrong(client, "198.51.100.1").status_code == 401


def test_a_success_does_not_reset_the_failures(client: FlaskClient, limited: FakeClock) -> None:
    # Behind a reverse proxy an editor's success would otherwise give a guesser on the
    # same address five more tries; the right token never needs the reset (case 3).
    for _ in range(4):
        assert wrong(client).status_code == 401
    assert client.get("/api/status", headers=AUTH).status_code == 200
    assert wrong(client).status_code == 401
    assert wrong(client).status_code == 429
    assert client.get("/api/status", headers=AUTH).status_code == 200


def test_failures_older_than_the_window_do_not_count(
    client: FlaskClient, limited: FakeClock
) -> None:
    for _ in range(10):
        assert wrong(client).status_code == 401
        limited.advance(15)  # never five within a minute


def test_the_limiter_forgets_the_oldest_address_first() -> None:
    now = [0.0]
    limiter = FailureLimiter(max_failures=1, window=60, clock=lambda: now[0], max_keys=2)
    for address in ("a", "b", "c"):
        limiter.failure(address)
    assert limiter.blocked_for("a") is None  # forgotten
    assert limiter.blocked_for("b") == 60 and limiter.blocked_for("c") == 60
    now[0] = 60.0
    assert limiter.blocked_for("b") is None


# --------------------------------------------------------------------------- other URLs


def test_unknown_paths_and_methods_are_json(client: FlaskClient) -> None:
    missing = client.get("/api/nope", headers=AUTH)
    assert missing.status_code == 404 and missing.mimetype == "application/json"
    assert "/api/nope" in missing.get_json()["message"]
    wrong_method = client.get("/api/republish", headers=AUTH)
    assert wrong_method.status_code == 405 and wrong_method.headers["Allow"] == "POST"
    assert wrong_method.mimetype == "application/json"
    assert client.delete("/api/status", headers=AUTH).status_code == 405
    # Without the token, the API says nothing about its URLs.
    assert client.get("/api/nope").status_code == 401


# --------------------------------------------------------------------------- status


def test_status_shows_builds_errors_schedule_outbox_and_attempts(
    client: FlaskClient,
    publisher: Publisher,
    posts_dir: Path,
    clock: FakeClock,
    hub: HubServer,
    pinger: PingServer,
) -> None:
    empty = ok_json(client.get("/api/status", headers=AUTH))
    assert empty["last_build"] is None
    assert empty["pending"] == [] and empty["failed"] == [] and empty["recent_attempts"] == []
    assert empty["scheduled"] == [
        {"file": "posts/2099-01-01-later.md", "time": "2099-01-01T09:00:00Z"}
    ]

    write_posts(posts_dir, broken=True)
    ok_json(republish(client))
    clock.advance(10)
    # The first delivery fails for good (a redirect not followed), the second is refused
    # (a 4xx: the hub said no, issue 18 case 6); the rest succeed.
    hub.respond(300, 404)
    deliver(publisher)

    response = client.get("/api/status", headers=AUTH)
    data = ok_json(response)
    assert response.headers["Cache-Control"] == "no-store"
    assert set(data) == {
        "now",
        "last_build",
        "errors",
        "scheduled",
        "pending",
        "failed",
        "recent_attempts",
        "refused",
        "refused_by_targets",
        "held",
    }
    assert data["refused"] is None  # no publish was refused
    assert data["held"] == []  # the publish gate held nothing back (issue 21)
    assert data["now"] == "2024-05-01T12:00:10Z"
    build = data["last_build"]
    assert build["time"] == "2024-05-01T12:00:00Z"
    assert build["post_count"] == 3  # the broken file is not a post
    assert build["feed_count"] == 5
    assert build["error_count"] == 1
    assert paths_of(build["changed_feeds"]) == ALL_FEEDS
    assert isinstance(build["duration"], float)
    assert [e["file"] for e in data["errors"]] == ["posts/2024-04-03-broken.md"]
    assert "YAML" in data["errors"][0]["message"]
    assert data["scheduled"] == [
        {"file": "posts/2099-01-01-later.md", "time": "2099-01-01T09:00:00Z"}
    ]
    assert data["pending"] == []

    [failed] = data["failed"]
    assert failed["kind"] == "websub" and failed["target"] == hub.url
    assert failed["feed"] in {url(p) for p in ALL_FEEDS}
    assert failed["attempts"] == 1
    assert failed["next_attempt"] is None
    assert "300" in failed["last_error"]
    assert failed["created"] == "2024-05-01T12:00:00Z"
    [refusal] = data["refused_by_targets"]
    assert (refusal["kind"], refusal["target"]) == ("websub", hub.url)
    assert refusal["feed"] in {url(p) for p in ALL_FEEDS} and refusal["feed"] != failed["feed"]
    assert (refusal["http_status"], refusal["message"]) == (404, "HTTP 404 Not Found")
    assert refusal["count"] == 1 and refusal["time"] == refusal["since"]

    attempts = data["recent_attempts"]
    assert len(attempts) == len(ALL_FEEDS) + 1
    assert {(a["kind"], a["target"]) for a in attempts} == {
        ("websub", hub.url),
        ("ping", pinger.url),
    }
    [gave_up] = [a for a in attempts if a["status"] == "failed"]
    assert gave_up["feed"] == failed["feed"] and gave_up["http_status"] == 300
    [refused] = [a for a in attempts if a["status"] == "refused"]
    assert refused["feed"] == refusal["feed"] and refused["http_status"] == 404
    assert all(a["status"] == "ok" for a in attempts if a not in (gave_up, refused))
    assert all(a["time"] == "2024-05-01T12:00:10Z" for a in attempts)
    assert all(isinstance(a["latency_ms"], int) for a in attempts)


def test_a_refused_republish_is_a_409_and_status_shows_it(
    client: FlaskClient, store: SqlStore, posts_dir: Path, tmp_path: Path
) -> None:
    """Issue 16, case 3: no posts folder is no reason to empty every feed."""
    ok_json(republish(client))
    rows = store.posts(), store.feeds(), store.pending()
    away = posts_dir.rename(tmp_path / "posts.away")
    for body in (None, {"force": True}):
        response = republish(client, body)
        assert response.status_code == 409
        data = response.get_json()
        assert data["error"] == "Conflict" and data["reason"] == "posts_dir"
        assert data["message"].startswith(f"{posts_dir}: posts folder not found")
    assert (store.posts(), store.feeds(), store.pending()) == rows
    refused = ok_json(client.get("/api/status", headers=AUTH))["refused"]
    assert refused["reason"] == "posts_dir" and str(posts_dir) in refused["message"]
    assert refused["time"] == "2024-05-01T12:00:00Z"

    away.rename(posts_dir)
    ok_json(republish(client))
    assert ok_json(client.get("/api/status", headers=AUTH))["refused"] is None


def test_status_shows_pending_notifications(
    client: FlaskClient, hub: HubServer, pinger: PingServer
) -> None:
    ok_json(republish(client))
    pending = ok_json(client.get("/api/status", headers=AUTH))["pending"]
    assert {(n["kind"], n["target"], n["feed"]) for n in pending} == websub_for(
        hub, ALL_FEEDS
    ) | ping_for(pinger)
    assert all(n["attempts"] == 0 and n["last_error"] is None for n in pending)
    assert all(n["next_attempt"] == "2024-05-01T12:00:00Z" for n in pending)


# --------------------------------------------------------------------------- command line


@pytest.fixture
def project(
    tmp_path: Path, posts_dir: Path, hub: HubServer, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """config.yaml in tmp_path (posts, the local hub; the store beside it), made the cwd."""
    write_posts(posts_dir)
    (tmp_path / "config.yaml").write_text(
        f"site:\n  title: Example News\n  url: {SITE}\nposts_dir: posts\n"
        f"websub:\n  hubs: [{hub.url}]\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def changed_lines(result: Result) -> set[str]:
    return {line for line in result.stdout.splitlines() if line.startswith("changed ")}


def test_cli_republish(project: Path, store: SqlStore, hub: HubServer) -> None:
    first = run("republish", "--config", "config.yaml")
    assert first.exit_code == 0, first.output
    assert changed_lines(first) == {f"changed {url(p)}" for p in ALL_FEEDS}
    summary = first.stdout.splitlines()[-1]
    assert summary.startswith("3 posts, 5 feeds: 15 changed, 0 removed; 15 notifications queued")
    assert summary.endswith("0 errors, 0 warnings")
    assert queued(store) == websub_for(hub, ALL_FEEDS)
    assert hub.requests == []  # queued for the scheduler, not sent

    again = run("republish", "--config", "config.yaml")
    assert again.exit_code == 0
    assert changed_lines(again) == set()
    assert "0 changed" in again.stdout and "0 notifications queued" in again.stdout

    edit_python_post(project / "posts")
    edited = run("republish")  # --config defaults to ./config.yaml
    assert changed_lines(edited) == {f"changed {url(p)}" for p in AFFECTED}

    forced = run("republish", "--force")
    assert forced.exit_code == 0
    assert changed_lines(forced) == set()
    assert "15 notifications queued (--force)" in forced.stdout
    assert queued(store) == websub_for(hub, ALL_FEEDS)  # coalesced with the pending ones


def test_cli_republish_reports_problems_and_strict_fails(project: Path) -> None:
    write_posts(project / "posts", broken=True)
    result = run("republish")
    assert result.exit_code == 0, result.output
    problems = [line for line in result.stderr.splitlines() if "broken.md" in line]
    assert len(problems) == 1, result.stderr
    assert problems[0].startswith("posts/2024-04-03-broken.md: ")
    assert "1 error," in result.stdout

    strict = run("republish", "--strict")
    assert strict.exit_code == 1
    assert "posts/2024-04-03-broken.md: " in strict.stderr


def test_cli_republish_with_a_bad_config_is_a_clean_error(project: Path) -> None:
    result = run("republish", "--config", "missing.yaml")
    assert result.exit_code == 1
    assert "missing.yaml: config file not found" in result.stderr
    assert "Traceback" not in result.output


def test_cli_status(project: Path, hub: HubServer) -> None:
    before = run("status")
    assert before.exit_code == 0, before.output
    assert "Last build: none yet" in before.stdout
    assert "Scheduled posts: 1" in before.stdout
    assert "2099-01-01T09:00:00Z posts/2099-01-01-later.md" in before.stdout

    write_posts(project / "posts", broken=True)
    assert run("republish").exit_code == 0
    result = run("status", "--config", "config.yaml")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Last build: ")
    assert "3 posts, 5 feeds, 1 error, 15 feeds changed" in lines[0]
    assert "Post errors: 1" in lines
    assert any(line.startswith("  posts/2024-04-03-broken.md: ") for line in lines)
    assert "Pending notifications: 15" in lines
    assert f"  websub {url('/feed.atom')} -> {hub.url}: 0 attempts, next " in result.stdout
    assert "Failed notifications: 0" in lines
    assert "Recent attempts: 0" in lines
    shown = {line for line in lines if line.startswith("  changed ")}
    # The status shows the first ten; fifteen feed documents changed (RSS, Atom, JSON Feed).
    assert len(shown) == 10 and shown <= {f"  changed {url(p)}" for p in ALL_FEEDS}
    assert "  ... and 5 more (--json lists them all)" in lines


def test_cli_status_json_is_the_api_json(
    project: Path, store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("republish").exit_code == 0
    result = run("status", "--json")
    assert result.exit_code == 0, result.output
    from_cli = json.loads(result.stdout)

    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    app = create_app(load_config(project / "config.yaml"))
    try:
        from_api = ok_json(app.test_client().get("/api/status", headers=AUTH))
    finally:
        close_api(app)
    del from_cli["now"], from_api["now"]
    assert from_cli == from_api
    assert len(from_cli["pending"]) == len(store.pending()) == 15


# --------------------------------------------------------------------------- hostile names

LATIN1_NAME = b"caf\xe9.md"  # a post file name that is not UTF-8 (issue 17, case 5)


def test_a_file_name_that_is_not_utf8_is_shown_not_a_500(
    client: FlaskClient, site_config: Config
) -> None:
    posts = os.fsencode(site_config.posts_dir)
    with open(os.path.join(posts, LATIN1_NAME), "wb") as file:
        file.write(BROKEN.encode())
    for response in (republish(client), client.get("/api/status", headers=AUTH)):
        data = ok_json(response)
        files = [e["file"] for e in data["errors"]]
        assert "posts/caf\ufffd.md" in files, files
        json.loads(response.data.decode("utf-8"))  # strict UTF-8 JSON


@pytest.mark.parametrize(
    "args", [["check"], ["republish"], ["status"], ["status", "--json"]], ids=" ".join
)
def test_cli_shows_a_file_name_that_is_not_utf8(project: Path, args: list[str]) -> None:
    # Issue 17, case 5, on the command line: a real process, its stdout strict UTF-8.
    with open(os.path.join(os.fsencode(project / "posts"), LATIN1_NAME), "wb") as file:
        file.write(BROKEN.encode())
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    for name in ("PYTHONIOENCODING", "PYTHONUTF8"):  # stdout strict, as on most terminals
        env.pop(name, None)
    if args[0] == "status":
        subprocess.run([sys.executable, "-m", "syndicate", "republish"], env=env, check=False)
    done = subprocess.run(
        [sys.executable, "-m", "syndicate", *args], env=env, capture_output=True, timeout=120
    )
    output = (done.stdout + done.stderr).decode("utf-8")  # strict: valid UTF-8
    assert "Traceback" not in output
    assert "Logging error" not in output
    assert done.returncode in (0, 1), output
    assert "caf\ufffd.md" in output, output


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("posts/café.md", "posts/café.md"),  # UTF-8 names are untouched
        (os.fsdecode(b"posts/caf\xe9.md"), "posts/caf\ufffd.md"),
        (os.fsdecode(b"caf\xc3\xa9 \xff.md"), "caf\u00e9 \ufffd.md"),
        ("lone \ud800 surrogate", "lone ? surrogate"),
    ],
)
def test_readable(text: str, shown: str) -> None:
    assert readable(text) == shown
    shown.encode("utf-8")


# --------------------------------------------------------------------------- 500s


@pytest.fixture
def locked(
    token: str, site_config: Config, publisher: Publisher, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Flask, Path]]:
    """An app whose store (a real SQLite file) another connection holds the write lock of."""
    import sqlite3

    import syndicate.store.sql

    publisher.publish()  # the file and its tables exist
    database = site_config.storage.url.removeprefix("sqlite:///")
    monkeypatch.setattr(syndicate.store.sql, "SQLITE_BUSY_TIMEOUT_MS", 200)  # not 15 s
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    app = create_app(site_config)  # opens its own store, with the short timeout
    try:
        yield app, Path(database)
    finally:
        close_api(app)
        holder.execute("ROLLBACK")
        holder.close()


def test_a_locked_database_is_a_short_503_and_a_log_line(
    locked: tuple[Flask, Path], caplog: pytest.LogCaptureFixture
) -> None:
    # Issue 17, case 10: the answer was a 500 holding the database's absolute path and
    # the SQL. Another process holding the lock is temporary: 503, with a time to retry.
    app, database = locked
    response = app.test_client().post("/api/republish", headers=AUTH)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(STORE_BUSY_RETRY_AFTER)
    assert response.headers["Cache-Control"] == "no-store"
    data = response.get_json()
    assert data["error"] == "Service Unavailable"
    assert "store is busy" in data["message"]
    body = response.get_data(as_text=True)
    for leak in (str(database), database.name, "SQL", "INSERT", "UPDATE", "Traceback", "sqlite"):
        assert leak not in body, body
    assert len(data["message"]) < 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    logged = " ".join(r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    assert "/api/republish" in logged and "locked" in logged, logged


def test_an_unexpected_error_is_a_short_json_500(
    client: FlaskClient, publisher: Publisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Flask's own InternalServerError, through the blueprint's JSON handler: no details.
    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device", "/secret/place/feed.rss")

    monkeypatch.setattr(publisher, "publish", broken)
    response = republish(client)
    assert response.status_code == 500
    assert response.mimetype == "application/json"
    assert "/secret/place" not in response.get_data(as_text=True)
    assert response.get_json()["error"] == "Internal Server Error"
