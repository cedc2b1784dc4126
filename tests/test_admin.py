"""The editors' dashboard (``/admin``) through the Flask test client, with real parts.

The app is the real ``create_app`` on posts in tmp_path and a real SQLite file; the hub
is a real server on 127.0.0.1 (``tests/servers.py``). Requests never deliver: the tests
deliver what was queued with the Publisher's own ``Outbox``, as the scheduler would.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree
from werkzeug.test import TestResponse

from syndicate.config import Config
from syndicate.posts import load_posts
from syndicate.publisher import Publisher, PublishResult, open_publisher
from syndicate.store.sql import SqlStore
from syndicate.web import admin, create_app
from syndicate.web.admin import EXTENSION, SESSION_COOKIE, Dashboard
from syndicate.web.api import TOKEN_ENV
from syndicate.web.sessions import RevokedSessions

from .conftest import ConfigFactory, HookedPublisher
from .servers import FakeClock, HubServer
from .test_api import BROKEN, CATS, LATER, PYTHON, close_api

TOKEN = "dashboard-Token_42"
DRAFT = """---
title: Half done
date: 2024-04-04T10:00:00Z
draft: true
categories: [News]
---
Not ready.
"""


def write_posts(posts_dir: Path) -> None:
    (posts_dir / "2024-04-01-cats.md").write_text(CATS, encoding="utf-8")
    (posts_dir / "2024-04-02-python.md").write_text(PYTHON, encoding="utf-8")
    (posts_dir / "2099-01-01-later.md").write_text(LATER, encoding="utf-8")
    (posts_dir / "2024-04-03-broken.md").write_text(BROKEN, encoding="utf-8")
    (posts_dir / "2024-04-04-draft.md").write_text(DRAFT, encoding="utf-8")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    return TOKEN


@pytest.fixture
def hub() -> Iterator[HubServer]:
    """A hub that answers every publish with 500: with one attempt allowed, notifications
    fail at once (a 4xx would be the hub refusing them, issue 18 case 6: not a failure)."""
    with HubServer(default=500) as server:
        yield server


@pytest.fixture
def site_config(make_config: ConfigFactory, posts_dir: Path, hub: HubServer) -> Config:
    write_posts(posts_dir)
    return make_config(websub={"hubs": [hub.url]}, notify={"timeout": 5, "max_attempts": 1})


@pytest.fixture
def publisher(site_config: Config, clock: FakeClock) -> Iterator[Publisher]:
    """The real Publisher, published once (as the worker would have on start)."""
    opened = open_publisher(site_config, clock)
    opened.publish()
    yield opened
    assert opened.store is not None
    opened.store.close()


def make_app(config: Config, publisher: Publisher) -> Flask:
    return create_app(config, publisher, reload_interval=None)


@pytest.fixture
def app(token: str, site_config: Config, publisher: Publisher) -> Iterator[Flask]:
    app = make_app(site_config, publisher)
    yield app
    board(app).jobs.join()
    close_api(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def signed_in(client: FlaskClient) -> FlaskClient:
    response = sign_in(client)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def board(app: Flask) -> Dashboard:
    found: Dashboard = app.extensions[EXTENSION]
    return found


def csrf_of(response: TestResponse) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True))
    assert match, "no CSRF field on the page"
    return match.group(1)


def sign_in(client: FlaskClient, token: str = TOKEN, **kwargs: Any) -> TestResponse:
    form = client.get("/admin/login", **kwargs)
    return client.post("/admin/login", data={"csrf_token": csrf_of(form), "token": token}, **kwargs)


def with_cookie(app: Flask, cookie: str) -> FlaskClient:
    """A client of ``app`` (another web worker, or after a restart) holding ``cookie``."""
    client = app.test_client()
    client.set_cookie(SESSION_COOKIE, cookie, path="/admin")
    return client


def signed_in_cookie(app: Flask) -> tuple[FlaskClient, str]:
    """A client signed in to ``app``, and a copy of its session cookie."""
    client = app.test_client()
    sign_in(client)
    cookie = client.get_cookie(SESSION_COOKIE, path="/admin")
    assert cookie is not None
    return client, cookie.value


def post_form(client: FlaskClient, page: str, action: str, **data: str) -> TestResponse:
    """Submit a form the way a browser does: the CSRF token from the page it is on."""
    token = csrf_of(client.get(page))
    return client.post(action, data={"csrf_token": token, **data})


def html(response: TestResponse) -> Any:
    return etree.fromstring(response.data, etree.HTMLParser())


def text(response: TestResponse) -> str:
    return " ".join(html(response).xpath("string(//main)").split())


def set_cookie(response: TestResponse) -> str:
    cookies = [v for v in response.headers.getlist("Set-Cookie") if v.startswith(SESSION_COOKIE)]
    assert len(cookies) == 1, response.headers
    return cookies[0]


# --------------------------------------------------------------------------- sign-in


def test_pages_need_a_session(client: FlaskClient) -> None:
    for path in ("/admin/", "/admin/posts", "/admin/feeds", "/admin/notifications"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"] == f"/admin/login?next={path}"
    assert client.get("/admin").status_code == 302


def test_sign_in_with_the_right_token(client: FlaskClient) -> None:
    response = sign_in(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    cookie = set_cookie(response)
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/admin" in cookie
    assert "Secure" not in cookie  # plain HTTP: a Secure cookie would never come back
    page = client.get("/admin/")
    assert page.status_code == 200
    assert "Overview" in text(page)


def test_sign_in_returns_to_the_page_asked_for(client: FlaskClient) -> None:
    form = client.get("/admin/login?next=/admin/feeds")
    response = client.post(
        "/admin/login",
        data={"csrf_token": csrf_of(form), "token": TOKEN, "next": "/admin/feeds"},
    )
    assert response.headers["Location"] == "/admin/feeds"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/admin", "/feed.rss", "/admin\\..\\x"]
)
def test_sign_in_never_redirects_off_the_dashboard(client: FlaskClient, target: str) -> None:
    form = client.get("/admin/login")
    response = client.post(
        "/admin/login", data={"csrf_token": csrf_of(form), "token": TOKEN, "next": target}
    )
    assert response.headers["Location"] == "/admin/"


@pytest.mark.parametrize(
    "kwargs",
    [{"base_url": "https://localhost"}, {"headers": {"X-Forwarded-Proto": "https"}}],
    ids=["https", "behind-a-proxy"],
)
def test_the_cookie_is_secure_over_https(client: FlaskClient, kwargs: dict[str, Any]) -> None:
    response = sign_in(client, **kwargs)
    assert response.status_code == 302
    assert "Secure" in set_cookie(response)


@pytest.mark.parametrize("wrong", ["", "nope", TOKEN + "x", TOKEN[:-1], f"Bearer {TOKEN}"])
def test_a_wrong_token_is_refused(client: FlaskClient, wrong: str) -> None:
    response = sign_in(client, wrong)
    assert response.status_code == 403
    assert "not the editor token" in text(response)
    assert client.get("/admin/").status_code == 302


def test_failed_sign_ins_are_throttled_with_the_api(client: FlaskClient) -> None:
    for _ in range(5):
        assert sign_in(client, "guess").status_code == 403
    blocked = sign_in(client, "guess")
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) >= 1
    assert "Too many failed sign-ins" in text(blocked)
    # One limiter for the address: the API refuses wrong tokens too.
    api = client.get("/api/status", headers={"Authorization": "Bearer guess"})
    assert api.status_code == 429


def test_the_right_token_signs_in_while_the_address_is_throttled(client: FlaskClient) -> None:
    # Issue 17, case 3: a stranger's guesses from the same address (a reverse proxy)
    # must not lock the editors out, of the dashboard or of the API.
    for _ in range(6):
        sign_in(client, "guess")
    assert sign_in(client, "guess").status_code == 429
    response = sign_in(client)
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200
    api = client.get("/api/status", headers={"Authorization": f"Bearer {TOKEN}"})
    assert api.status_code == 200


def test_the_session_key_is_derived_from_the_token(
    token: str, site_config: Config, publisher: Publisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two apps (two granian workers, or before and after a restart) share sessions.
    first, second = make_app(site_config, publisher), make_app(site_config, publisher)
    _, cookie = signed_in_cookie(first)
    assert with_cookie(second, cookie).get("/admin/").status_code == 200
    # A new token signs everybody out.
    monkeypatch.setenv(TOKEN_ENV, "another-token")
    third = make_app(site_config, publisher)
    assert with_cookie(third, cookie).get("/admin/").status_code == 302
    for app in (first, second, third):
        close_api(app)


def test_sign_out(signed_in: FlaskClient) -> None:
    response = post_form(signed_in, "/admin/", "/admin/logout")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/login"
    assert "You are signed out." in text(signed_in.get("/admin/login"))
    assert signed_in.get("/admin/").status_code == 302


@pytest.mark.parametrize("value", [None, "", "  "])
def test_without_a_token_the_dashboard_is_off(
    monkeypatch: pytest.MonkeyPatch, site_config: Config, publisher: Publisher, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv(TOKEN_ENV, raising=False)
    else:
        monkeypatch.setenv(TOKEN_ENV, value)
    app = make_app(site_config, publisher)
    client = app.test_client()
    for path in ("/admin", "/admin/", "/admin/login", "/admin/static/admin.css"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Set-Cookie" not in response.headers
    assert client.post("/admin/login", data={"token": ""}).status_code == 404
    assert EXTENSION not in app.extensions
    close_api(app)


# --------------------------------------------------------------------------- CSRF


def test_forms_without_the_csrf_token_are_refused(signed_in: FlaskClient, store: SqlStore) -> None:
    builds = store.last_build()
    for action in ("/admin/republish", "/admin/logout", "/admin/notifications/1/retry"):
        for data in ({}, {"csrf_token": ""}, {"csrf_token": "forged"}):
            response = signed_in.post(action, data=data)
            assert response.status_code == 400, action
            assert "Form expired" in text(response)
    assert store.last_build() == builds  # nothing was republished
    assert signed_in.get("/admin/").status_code == 200  # and still signed in


def test_the_sign_in_form_needs_its_csrf_token_too(client: FlaskClient) -> None:
    response = client.post("/admin/login", data={"token": TOKEN})
    assert response.status_code == 400
    assert client.get("/admin/").status_code == 302


def test_a_token_from_another_session_is_refused(app: Flask, signed_in: FlaskClient) -> None:
    other = app.test_client()
    sign_in(other)
    theirs = csrf_of(other.get("/admin/"))
    assert signed_in.post("/admin/republish", data={"csrf_token": theirs}).status_code == 400


def test_signing_in_starts_a_new_csrf_token(client: FlaskClient) -> None:
    before = csrf_of(client.get("/admin/login"))
    sign_in(client)
    assert csrf_of(client.get("/admin/")) != before


def test_pages_are_private_and_unframed(signed_in: FlaskClient) -> None:
    response = signed_in.get("/admin/posts")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    page = html(response)
    assert page.find("head/meta[@name='viewport']") is not None
    assert page.find("head/link[@rel='stylesheet']").get("href") == "/admin/static/admin.css"
    with signed_in.get("/admin/static/admin.css") as css:
        assert css.status_code == 200
        assert css.mimetype == "text/css"


# --------------------------------------------------------------------------- posts


def rows_of(response: TestResponse) -> list[dict[str, Any]]:
    rows = []
    for tr in html(response).iterfind(".//table[@class='stack posts']/tbody/tr"):
        cells = {td.get("data-label"): td for td in tr.iterfind("td")}
        rows.append(
            {
                "state": tr.get("class"),
                "file": tr.findtext(".//code[@class='file']"),
                "errors": [d.xpath("string()") for d in tr.iterfind(".//div[@class='msg error']")],
                "date": cells["Date" if "Date" in cells else "Scheduled for"].xpath("string()"),
                "terms": cells["Categories and tags"].xpath("string()").split(),
                "feeds": [a.text for a in cells["In feeds"].iterfind("a")],
                "feed_paths": [a.get("href") for a in cells["In feeds"].iterfind("a")],
            }
        )
    return rows


def test_posts_page_shows_every_state_errors_first(signed_in: FlaskClient) -> None:
    rows = rows_of(signed_in.get("/admin/posts"))
    assert [(r["state"], r["file"]) for r in rows] == [
        ("error", "posts/2024-04-03-broken.md"),
        ("scheduled", "posts/2099-01-01-later.md"),
        ("draft", "posts/2024-04-04-draft.md"),
        ("published", "posts/2024-04-02-python.md"),  # newest first
        ("published", "posts/2024-04-01-cats.md"),
    ]
    broken, later, draft, python, cats = rows
    assert "invalid YAML front matter" in broken["errors"][0]
    assert later["date"] == "2099-01-01 09:00 UTC"
    assert later["feeds"] == []  # not in any feed until its time
    assert draft["feeds"] == []
    assert python["terms"] == ["News", "#python"]
    assert python["feeds"] == ["Site", "Category: News", "Tag: python"]
    assert python["feed_paths"] == ["/feed.rss", "/category/news.rss", "/tag/python.rss"]
    assert cats["feeds"] == ["Site", "Category: Life", "Tag: cats"]


@pytest.mark.parametrize(
    ("state", "files"),
    [
        ("error", ["posts/2024-04-03-broken.md"]),
        ("scheduled", ["posts/2099-01-01-later.md"]),
        ("draft", ["posts/2024-04-04-draft.md"]),
        ("published", ["posts/2024-04-02-python.md", "posts/2024-04-01-cats.md"]),
        ("bogus", None),
    ],
)
def test_posts_filter_by_state(signed_in: FlaskClient, state: str, files: list[str] | None) -> None:
    response = signed_in.get(f"/admin/posts?state={state}")
    shown = [r["file"] for r in rows_of(response)]
    assert shown == files if files is not None else len(shown) == 5
    current = html(response).find(".//nav[@class='filters']/a[@aria-current]")
    assert current.text.strip() == (state.capitalize() if files is not None else "All")


def test_posts_page_follows_edits(signed_in: FlaskClient, posts_dir: Path) -> None:
    (posts_dir / "2024-04-03-broken.md").write_text(
        "---\ntitle: Fixed\ndate: 2024-04-03T10:00:00Z\n---\nBody.\n", encoding="utf-8"
    )
    states = {r["file"]: r["state"] for r in rows_of(signed_in.get("/admin/posts"))}
    # Fixed on disk, but not yet republished: its state says so (no feeds yet).
    assert states["posts/2024-04-03-broken.md"] == "published"


def test_a_broken_post_that_was_published_shows_its_feeds(
    signed_in: FlaskClient, posts_dir: Path, publisher: Publisher, app: Flask
) -> None:
    cats = posts_dir / "2024-04-01-cats.md"
    cats.write_text(CATS.replace("title: Cats", "title: [Cats"), encoding="utf-8")
    row = next(r for r in rows_of(signed_in.get("/admin/posts")) if r["file"].endswith("cats.md"))
    assert row["state"] == "error"
    assert row["errors"]
    # The service keeps the last good version in its feeds until the editor fixes it.
    assert row["feeds"] == ["Site", "Category: Life", "Tag: cats"]


def test_a_renamed_post_is_shown_in_the_feeds_of_its_published_id(
    signed_in: FlaskClient, posts_dir: Path, publisher: Publisher, clock: FakeClock
) -> None:
    store = publisher.store
    assert store is not None
    before = store.posts()
    (posts_dir / "2024-04-01-cats.md").rename(posts_dir / "2024-04-01-kittens.md")
    # The publisher settles the ids as a publish would, and records nothing.
    loaded, _ = load_posts(publisher.config)
    plan, records = publisher.settle_ids(loaded, clock())
    assert records == before and store.posts() == before
    kittens = next(p for p in plan.posts if p.relpath == "2024-04-01-kittens.md")
    assert kittens.entry_id == before["2024-04-01-cats.md"].entry_id
    # So the page shows it in the feeds it is published in, under its new name.
    rows = rows_of(signed_in.get("/admin/posts"))
    row = next(r for r in rows if r["file"] == "posts/2024-04-01-kittens.md")
    assert row["state"] == "published"
    assert row["feeds"] == ["Site", "Category: Life", "Tag: cats"]


# --------------------------------------------------------------------------- feeds


def test_feeds_page(signed_in: FlaskClient) -> None:
    page = html(signed_in.get("/admin/feeds"))
    rows = {
        tr.findtext(".//strong"): [td.xpath("string()").strip() for td in tr.iterfind("td")]
        for tr in page.iterfind(".//tbody/tr")
    }
    assert list(rows) == ["Site", "Category: Life", "Category: News", "Tag: cats", "Tag: python"]
    assert rows["Site"][1] == "2"
    assert rows["Site"][2] == "2024-05-01 12:00 UTC"  # when the store saw it change
    links = {a.get("href") for a in page.iterfind(".//tbody//a")}
    assert {"/feed.rss", "/feed.atom", "/tag/python.rss", "/tag/python.atom"} <= links
    assert {"/feed.json", "/tag/python.json"} <= links  # the JSON Feed twins too


BY_ANN = """---
title: By Ann
date: 2024-04-01T10:00:00Z
author: ann
---
Written by Ann.
"""


def test_an_author_feed_is_shown_by_the_authors_name(
    token: str, make_config: ConfigFactory, posts_dir: Path, clock: FakeClock
) -> None:
    """An author feed is keyed by its `authors:` key (its URL stays when the person is
    renamed); the dashboard shows the person's name, as the home page does."""
    (posts_dir / "2024-04-01-by-ann.md").write_text(BY_ANN, encoding="utf-8")
    config = make_config(authors={"ann": {"name": "Ann Lee", "email": "ann@example.org"}})
    opened = open_publisher(config, clock)
    opened.publish()
    app = make_app(config, opened)
    try:
        client = app.test_client()
        assert sign_in(client).status_code == 302
        page = html(client.get("/admin/feeds"))
        labels = [tr.findtext(".//strong") for tr in page.iterfind(".//tbody/tr")]
        assert labels == ["Site", "Author: Ann Lee"]
        assert "/author/ann.rss" in {a.get("href") for a in page.iterfind(".//tbody//a")}
        posts = text(client.get("/admin/posts"))
        assert "Author: Ann Lee" in posts and "Author: ann" not in posts
    finally:
        board(app).jobs.join()
        close_api(app)
        assert opened.store is not None
        opened.store.close()


# --------------------------------------------------------------------------- notifications


def deliver(publisher: Publisher) -> None:
    """What the scheduler does: one round of deliveries from the outbox."""
    assert publisher.outbox is not None
    publisher.outbox.deliver_due()


def test_failed_notifications_and_retry(
    signed_in: FlaskClient, publisher: Publisher, store: SqlStore, hub: HubServer
) -> None:
    deliver(publisher)  # the hub answers 500 and one attempt is all: every one fails
    failed = store.failed()
    assert failed and not store.pending()
    page = signed_in.get("/admin/notifications")
    assert f"Failed {len(failed)}" in text(page)
    rows = html(page).findall(".//tr[@class='error']")
    assert len(rows) == len(failed)
    assert "500" in rows[0].xpath("string()")
    # Attempts per target, with status, HTTP status and latency.
    target = html(page).find(".//section[@class='card target']")
    assert hub.url in target.xpath("string(h3)")
    attempt = target.find(".//tbody/tr")
    assert "failed" in attempt.xpath("string()") and "HTTP 500" in attempt.xpath("string()")
    assert attempt.find("td[@data-label='Latency']").text.endswith(" ms")

    first = failed[0]
    response = post_form(
        signed_in, "/admin/notifications", f"/admin/notifications/{first.id}/retry"
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/notifications"
    assert [n.id for n in store.pending()] == [first.id]
    assert f"Notification #{first.id}" in text(signed_in.get("/admin/notifications"))
    # Retrying what is not failed says so.
    again = post_form(signed_in, "/admin/notifications", f"/admin/notifications/{first.id}/retry")
    assert again.status_code == 302
    page = html(signed_in.get("/admin/notifications"))
    [flash] = page.xpath("//p[contains(@class, 'flash')]")
    assert flash.get("class") == "flash error"
    assert flash.text == (
        f"Notification #{first.id} is already queued; the scheduler delivers it when it is "
        "due. Nothing to retry."
    )


def test_retrying_a_notification_that_does_not_exist_says_so(
    signed_in: FlaskClient, publisher: Publisher, store: SqlStore
) -> None:
    """A stale page (delivered since, merged into another) or a made-up id: an error that
    says the notification does not exist, never a success, and nothing is queued."""
    pending = sorted(n.id for n in store.pending())
    missing = max(pending, default=0) + 1000
    response = post_form(signed_in, "/admin/notifications", f"/admin/notifications/{missing}/retry")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/notifications"
    page = html(signed_in.get("/admin/notifications"))
    [flash] = page.xpath("//p[contains(@class, 'flash')]")
    assert flash.get("class") == "flash error"
    assert flash.text == (
        f"Notification #{missing} does not exist (delivered, merged into another or never "
        "queued). Nothing to retry."
    )
    assert sorted(n.id for n in store.pending()) == pending


def test_overview_counts(signed_in: FlaskClient, publisher: Publisher) -> None:
    deliver(publisher)
    page = text(signed_in.get("/admin/"))
    assert "1 post error " in page  # one of each reads right
    assert "2 published" in page and "1 scheduled" in page and "1 draft " in page
    assert "5 feeds" in page
    assert "notifications failed" in page
    assert "posts/2024-04-03-broken.md" in page
    assert "2099-01-01" in page  # scheduled


# --------------------------------------------------------------------------- republish


def republish(client: FlaskClient, force: bool = False) -> TestResponse:
    data = {"force": "1"} if force else {}
    response = post_form(client, "/admin/", "/admin/republish", **data)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert re.fullmatch(r"/admin/jobs/[0-9a-f]{16}", location)
    return client.get(location)


def test_republish_now_shows_the_result(
    signed_in: FlaskClient, posts_dir: Path, store: SqlStore, publisher: Publisher
) -> None:
    deliver(publisher)  # the first publish's notifications: out of the way (failed)
    (posts_dir / "2024-04-02-python.md").write_text(
        PYTHON.replace("is out.", "is out, and faster."), encoding="utf-8"
    )
    page = republish(signed_in)
    assert page.status_code == 200
    result = html(page).find(".//section[@id='result']")
    assert result is not None, page.get_data(as_text=True)
    changed = {a.text for a in result.iterfind(".//ul/li/a")}
    assert changed == {
        "/feed.rss",
        "/feed.atom",
        "/category/news.rss",
        "/category/news.atom",
        "/tag/python.rss",
        "/tag/python.atom",
        "/feed.json",
        "/category/news.json",
        "/tag/python.json",
    }
    summary = " ".join(result.xpath("string(p)").split())
    assert summary.startswith("9 feeds changed, 0 removed, 9 notifications queued, 1 post error.")
    assert "posts/2024-04-03-broken.md" in result.xpath("string()")
    assert len(store.pending()) == 9


def test_republish_and_notify_all(signed_in: FlaskClient, store: SqlStore) -> None:
    page = republish(signed_in, force=True)
    summary = " ".join(html(page).find(".//section[@id='result']").xpath("string(p)").split())
    # Nothing changed, yet every feed (5 feeds, RSS, Atom and JSON Feed) is notified.
    assert summary.startswith("0 feeds changed, 0 removed, 15 notifications queued")
    assert "and notified all" in text(page)


def test_a_long_republish_shows_progress(
    app: Flask, signed_in: FlaskClient, publisher: Publisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    slow = HookedPublisher(publisher, lambda paths: None if release.wait(10) else pytest.fail())
    monkeypatch.setattr(board(app).editors, "publisher", lambda: slow)
    monkeypatch.setattr(admin, "REPUBLISH_WAIT", 0.01)
    page = republish(signed_in)
    try:
        assert "Republishing…" in text(page)
        tree = html(page)
        assert tree.find(".//progress") is not None
        assert tree.find("head/script").get("src") == "/admin/static/admin.js"
        # Without JavaScript, the page refreshes itself.
        assert b'<noscript><meta http-equiv="refresh" content="2"></noscript>' in page.data
        status_url = tree.find(".//section[@data-job-status]").get("data-job-status")
        status = signed_in.get(status_url)
        assert status.get_json()["state"] == "running"
        assert status.headers["Cache-Control"] == "no-store"
        # A second click while it runs shows the same job.
        assert republish(signed_in).request.path == page.request.path
    finally:
        release.set()
        board(app).jobs.join()
    assert signed_in.get(status_url).get_json()["state"] == "done"
    assert "Republished" in text(signed_in.get(page.request.path))


def test_a_failed_republish_is_shown(
    app: Flask, signed_in: FlaskClient, monkeypatch: pytest.MonkeyPatch, publisher: Publisher
) -> None:
    def broken(force: bool = False) -> PublishResult:
        raise OSError(28, "No space left on device", "/srv/secret/feed.rss")

    monkeypatch.setattr(publisher, "publish", broken)
    page = republish(signed_in)
    assert "Republish failed" in text(page)
    assert "No space left on device" in text(page)
    assert "/srv/secret" not in page.get_data(as_text=True)  # paths stay in the log


def test_a_refused_republish_is_shown_and_stays_on_the_overview(
    signed_in: FlaskClient, posts_dir: Path, tmp_path: Path, store: SqlStore
) -> None:
    """Issue 16, case 3: no posts folder, no publish; the dashboard says why, until a
    publish goes through."""
    feeds_before = store.feeds()
    away = posts_dir.rename(tmp_path / "posts.away")
    page = republish(signed_in)
    assert "Republish refused" in text(page)
    assert f"{posts_dir}: posts folder not found" in text(page)
    assert store.feeds() == feeds_before

    overview = html(signed_in.get("/admin/"))
    banner = overview.find(".//section[@id='refused']")
    assert banner is not None
    assert f"{posts_dir}: posts folder not found" in banner.xpath("string()")
    assert not posts_dir.exists()

    away.rename(posts_dir)
    assert "Republished" in text(republish(signed_in))
    assert html(signed_in.get("/admin/")).find(".//section[@id='refused']") is None


@pytest.mark.parametrize("job", ["0123456789abcdef", "../../etc/passwd", "x"])
def test_unknown_jobs_are_404(signed_in: FlaskClient, job: str) -> None:
    assert signed_in.get(f"/admin/jobs/{job}").status_code == 404
    assert signed_in.get(f"/admin/jobs/{job}/status").status_code == 404


def test_signing_out_revokes_every_copy_of_the_cookie(
    token: str, site_config: Config, publisher: Publisher
) -> None:
    # Signed in through one web worker; a copy of the cookie is used through another.
    first, second = make_app(site_config, publisher), make_app(site_config, publisher)
    client, cookie = signed_in_cookie(first)
    copy = with_cookie(second, cookie)
    assert copy.get("/admin/").status_code == 200
    other = first.test_client()  # another editor's session, signed in separately
    sign_in(other)

    assert post_form(client, "/admin/", "/admin/logout").status_code == 302

    assert client.get("/admin/").status_code == 302
    refused = copy.get("/admin/")  # the other worker reads the revocation from the state
    assert refused.status_code == 302
    assert refused.headers["Location"].startswith("/admin/login")
    assert copy.get("/admin/login").status_code == 200  # the form again, not a redirect loop
    assert other.get("/admin/").status_code == 200  # only the session signed out
    # A restart (a new app) still knows; signing in again works.
    third = make_app(site_config, publisher)
    again = with_cookie(third, cookie)
    assert again.get("/admin/").status_code == 302
    assert sign_in(again).status_code == 302
    assert again.get("/admin/").status_code == 200
    for app in (first, second, third):
        close_api(app)


def test_revoked_sessions_are_forgotten_once_their_cookies_expire(tmp_path: Path) -> None:
    now = [1_000_000.0]
    revoked = RevokedSessions(tmp_path, lifetime=3600, clock=lambda: now[0])
    other = RevokedSessions(tmp_path, lifetime=3600, clock=lambda: now[0])
    revoked.revoke("a")
    now[0] += 1800
    revoked.revoke("b")
    assert other.is_revoked("a") and other.is_revoked("b") and not other.is_revoked("c")
    now[0] += 1801  # a's cookie has expired: its line goes at the next write
    assert not other.is_revoked("a") and other.is_revoked("b")
    revoked.revoke("c")
    ids = [line.split()[1] for line in (tmp_path / "sessions-revoked").read_text().splitlines()]
    assert ids == ["b", "c"]


@pytest.mark.parametrize(
    "target",
    [
        "/admin/\r\nSet-Cookie: x=1",
        "/admin//evil.example/",
        "/admin/%2e%2e/feed.rss",
        "/admin/\x00",
        "/admin/\tx",
        "/admin/ x",
        "/admin/\u2028",
        "/adminx",
        "/admin/../feed.rss",
    ],
)
def test_a_bad_next_while_signed_in_falls_back_to_the_dashboard(
    signed_in: FlaskClient, target: str
) -> None:
    # Issue 17, case 9: CR LF in next gave a 500 with a traceback.
    response = signed_in.get("/admin/login", query_string={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    assert "Set-Cookie: x" not in str(response.headers).replace("Set-Cookie: syndicate", "")


def test_a_bad_next_on_the_form_falls_back_to_the_dashboard(client: FlaskClient) -> None:
    form = client.get("/admin/login", query_string={"next": "/admin/\r\nX-Evil: 1"})
    assert form.status_code == 200
    assert 'value="/admin/"' in form.get_data(as_text=True)
    response = client.post(
        "/admin/login",
        data={"csrf_token": csrf_of(form), "token": TOKEN, "next": "/admin/\r\nX-Evil: 1"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    assert "X-Evil" not in response.headers


def test_a_file_name_that_is_not_utf8_is_shown_not_a_500(
    signed_in: FlaskClient, site_config: Config, publisher: Publisher
) -> None:
    # Issue 17, case 5: every page listing it answered 500 ("surrogates not allowed").
    posts = os.fsencode(site_config.posts_dir)
    with open(os.path.join(posts, b"caf\xe9.md"), "wb") as file:
        file.write(BROKEN.encode())
    with open(os.path.join(posts, b"2024-05-01-na\xefve.md"), "wb") as file:
        file.write(CATS.replace("Cats", "Naive").encode())
    publisher.publish()
    for page in ("/admin/", "/admin/posts", "/admin/posts?state=error", "/admin/feeds"):
        response = signed_in.get(page)
        assert response.status_code == 200, page
        response.data.decode("utf-8")  # strict UTF-8
    shown = text(signed_in.get("/admin/posts"))
    assert "posts/caf\ufffd.md" in shown
    assert "posts/2024-05-01-na\ufffdve.md" in shown
    overview = text(signed_in.get("/admin/"))
    assert "caf\ufffd.md" in overview
    job = republish(signed_in)
    assert job.status_code == 200
    assert "caf\ufffd.md" in text(job)


def test_a_locked_database_fails_the_republish_with_a_short_message(
    token: str, site_config: Config, publisher: Publisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 17, case 10: the error shown held the database's absolute path and the SQL.
    import sqlite3

    import syndicate.store.sql

    publisher.publish()
    database = site_config.storage.url.removeprefix("sqlite:///")
    monkeypatch.setattr(syndicate.store.sql, "SQLITE_BUSY_TIMEOUT_MS", 200)
    app = create_app(site_config, reload_interval=None)  # its own store, short timeout
    client = app.test_client()
    sign_in(client)
    csrf = csrf_of(client.get("/admin/"))
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = client.post("/admin/republish", data={"csrf_token": csrf})
        board(app).jobs.join()
        page = client.get(started.headers["Location"])
        assert "Republish failed" in text(page)
        assert "store is busy" in text(page)
        assert page.headers["X-Content-Type-Options"] == "nosniff"
        for leak in (database, "SQL", "sqlite", "Traceback"):
            assert leak not in page.get_data(as_text=True)
    finally:
        board(app).jobs.join()
        close_api(app)
        holder.execute("ROLLBACK")
        holder.close()


def test_a_failing_page_is_a_short_500(
    signed_in: FlaskClient, publisher: Publisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    from syndicate.errors import StoreError

    def broken() -> None:
        raise StoreError("sqlite:////srv/secret/syndicate.db: database is locked [SQL: BEGIN]")

    assert publisher.store is not None
    monkeypatch.setattr(publisher.store, "last_build", broken)
    page = signed_in.get("/admin/")
    assert page.status_code == 500
    shown = page.get_data(as_text=True)
    assert "store is busy" in text(page)
    assert "/srv/secret" not in shown and "SQL" not in shown
    assert page.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        (None, 302),  # no Origin (older browsers, curl): the CSRF token decides
        ("http://localhost", 302),  # this server
        ("https://example.org", 302),  # the site's URL (a proxy in front)
        ("https://evil.example", 403),
        ("http://localhost.evil.example", 403),
        ("null", 403),
    ],
)
def test_dashboard_posts_check_origin(
    signed_in: FlaskClient, origin: str | None, status: int
) -> None:
    token = csrf_of(signed_in.get("/admin/notifications"))
    headers = {"Origin": origin} if origin is not None else {}
    response = signed_in.post(
        "/admin/notifications/999/retry", data={"csrf_token": token}, headers=headers
    )
    assert response.status_code == status
    if status == 403:
        assert "Nothing was done" in text(response)


def test_sign_in_checks_origin(client: FlaskClient) -> None:
    form = client.get("/admin/login")
    response = client.post(
        "/admin/login",
        data={"csrf_token": csrf_of(form), "token": TOKEN},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert client.get("/admin/").status_code == 302  # not signed in
