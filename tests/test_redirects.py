"""Old feed URLs keep their subscribers (issue 21): ``redirects:`` (``paths`` and the
presets ``wordpress``, ``hugo``, ``jekyll-feed``) answered ``301`` with the absolute URL
of the matching feed by ``serve`` (the Flask test client on the real hot path, over a
live tree and over a Site built in memory, and one real ``syndicate serve`` on
127.0.0.1), ``404`` where there is no such feed, and the config refused with the key
named. The nginx map ``build`` writes: ``test_redirects_nginx``.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import feedparser
import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from lxml import etree

from syndicate.cli import main
from syndicate.config import load_config
from syndicate.errors import ConfigError
from syndicate.publisher import open_publisher
from syndicate.redirects import REDIRECT_CACHE_CONTROL
from syndicate.web import create_app
from syndicate.web.api import EXTENSION as API_EXTENSION

from .test_live_tree_serving import HEAVY_MODULES
from .test_scheduler import start_serve

SITE = "https://example.org/"

CONFIG = """site:
  title: Example News
  url: https://example.org/
  language: en
posts_dir: posts
authors:
  alice: {name: Alice Smith}
redirects:
  preset: [wordpress, hugo, jekyll-feed]
  paths:
    /rss.xml: /feed.rss
    /old/news.xml: /category/news.atom
    /?tag=python&feed=rss2: /tag/python.rss
    /gone.xml: /tag/nothing.rss
    /category/news.rss: /feed.atom
"""

POST = """---
title: {title}
date: {date}
author: alice
categories: [{categories}]
tags: [{tags}]
---
Text of {title}.
"""


def write_site(root: Path, config: str = CONFIG) -> Path:
    """Posts in the categories News and Release Notes, tagged python and my_tag, by
    alice; the config beside them."""
    posts = root / "posts"
    posts.mkdir(exist_ok=True)
    for name, title, date, categories, tags in (
        ("2024-04-01-one.md", "One", "2024-04-01 10:00:00", "News, Release Notes", "python"),
        ("2024-04-02-two.md", "Two", "2024-04-02 10:00:00", "News", "python, my_tag"),
    ):
        text = POST.format(title=title, date=date, categories=categories, tags=tags)
        (posts / name).write_text(text, encoding="utf-8")
    path = root / "config.yaml"
    path.write_text(config, encoding="utf-8")
    return path


# Old URL (as a client sends it) -> the feed path it moved to.
MOVED = {
    # wordpress
    "/feed/": "/feed.rss",
    "/feed": "/feed.rss",
    "/feed/rss2/": "/feed.rss",
    "/feed/rdf/": "/feed.rss",
    "/feed/atom/": "/feed.atom",
    "/feed/atom": "/feed.atom",
    "/category/news/feed/": "/category/news.rss",
    "/category/release-notes/feed/atom/": "/category/release-notes.atom",
    "/tag/python/feed/": "/tag/python.rss",
    "/tag/my-tag/feed/rss2": "/tag/my-tag.rss",
    "/author/alice/feed/": "/author/alice.rss",
    "/author/alice/feed/atom/": "/author/alice.atom",
    "/?feed=rss2": "/feed.rss",
    "/?feed=atom": "/feed.atom",
    # hugo
    "/index.xml": "/feed.rss",
    "/categories/release-notes/index.xml": "/category/release-notes.rss",
    "/tags/python/index.xml": "/tag/python.rss",
    # jekyll-feed: categories as feed.categories names them, tags of [A-Za-z0-9_]
    "/feed.xml": "/feed.atom",
    "/feed/News.xml": "/category/news.atom",
    "/feed/Release%20Notes.xml": "/category/release-notes.atom",
    "/feed/by_tag/my_tag.xml": "/tag/my-tag.atom",
    "/feed/by_tag/python.xml": "/tag/python.atom",
    # redirects.paths
    "/rss.xml": "/feed.rss",
    "/old/news.xml": "/category/news.atom",
    "/?tag=python&feed=rss2": "/tag/python.rss",
}

# Old URLs that name no feed of this site (or whose paths: feed is gone): 404.
NOT_MOVED = [
    "/tag/nope/feed/",
    "/category/nope/feed/atom/",
    "/author/bob/feed/",
    "/categories/nope/index.xml",
    "/tags/nope/index.xml",
    "/feed/Nope.xml",
    "/feed/by_tag/nope.xml",
    "/comments/feed/",
    "/gone.xml",
    "/feed/archive/",
]


@pytest.fixture(params=["live", "memory"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FlaskClient]:
    """The site's web app: over the live tree a worker published, or built in memory
    (no live tree yet)."""
    config = load_config(write_site(tmp_path))
    if request.param == "live":
        publisher = open_publisher(config)
        try:
            publisher.publish(notify=False)
        finally:
            publisher.close()
    app = create_app(config, reload_interval=None)
    yield app.test_client()
    app.extensions[API_EXTENSION].close()


def _feed_title(client: FlaskClient, url: str) -> str:
    """The title of the feed at an absolute URL of the site, as a reader parses it."""
    assert url.startswith(SITE)
    response = client.get("/" + url.removeprefix(SITE))
    assert response.status_code == 200
    parsed = feedparser.parse(response.data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    etree.fromstring(response.data)
    return str(parsed.feed.title)


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_an_old_feed_url_is_a_permanent_redirect_to_its_feed(
    client: FlaskClient, old: str, new: str
) -> None:
    response = client.get(old)
    assert response.status_code == 301
    assert response.headers["Location"] == SITE + new.lstrip("/")
    assert response.headers["Cache-Control"] == REDIRECT_CACHE_CONTROL
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert int(response.headers["Content-Length"]) == len(response.data) < 200
    # The reader that follows it gets the feed, in the format the old URL had.
    title = _feed_title(client, response.headers["Location"])
    assert title.startswith("Example News")
    head = client.head(old)
    assert head.status_code == 301 and head.data == b""
    assert head.headers["Location"] == response.headers["Location"]


@pytest.mark.parametrize("old", NOT_MOVED)
def test_an_old_url_with_no_feed_here_is_404(client: FlaskClient, old: str) -> None:
    response = client.get(old)
    assert response.status_code == 404
    assert "Location" not in response.headers
    assert response.data.startswith(b"No such feed: ")


def test_the_feeds_and_documents_are_served_never_redirected(client: FlaskClient) -> None:
    # /category/news.rss is a paths: key too: the feed that is there wins.
    for path in ("/category/news.rss", "/feed.rss", "/tag/python.rss", "/feeds.opml"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "Location" not in response.headers
    parsed = feedparser.parse(client.get("/tag/python.rss").data)
    assert parsed.feed.title == "Example News — Tag: python"
    # The home page, with a query no old URL had.
    for query in ("", "?feed=nope", "?utm_source=x", "?feed=rss2&extra=1"):
        response = client.get("/" + query)
        assert response.status_code == 200, query
        assert response.mimetype == "text/html"


def test_an_old_query_is_matched_whole_in_any_order(client: FlaskClient) -> None:
    response = client.get("/?feed=rss2&tag=python")
    assert response.status_code == 301
    assert response.headers["Location"] == SITE + "tag/python.rss"
    # Old paths without a query: a query (a reader's cache buster) does not matter.
    response = client.get("/feed/?nocache=1")
    assert response.headers["Location"] == SITE + "feed.rss"


def test_only_get_and_head_are_redirected(client: FlaskClient) -> None:
    assert client.post("/feed/").status_code == 404
    assert client.delete("/rss.xml").status_code == 404


def test_without_redirects_old_urls_stay_404(tmp_path: Path) -> None:
    config = load_config(write_site(tmp_path, CONFIG.split("redirects:")[0]))
    app = create_app(config, reload_interval=None)
    try:
        client = app.test_client()
        for old in ("/feed/", "/?feed=rss2", "/index.xml", "/feed.xml"):
            assert client.get(old).status_code == (200 if old.startswith("/?") else 404)
    finally:
        app.extensions[API_EXTENSION].close()


def test_one_preset_may_be_named_alone(tmp_path: Path) -> None:
    text = CONFIG.split("redirects:")[0] + "redirects:\n  preset: hugo\n"
    config = load_config(write_site(tmp_path, text))
    assert config.redirects.preset == ("hugo",)
    app = create_app(config, reload_interval=None)
    try:
        client = app.test_client()
        assert client.get("/index.xml").headers["Location"] == SITE + "feed.rss"
        assert client.get("/feed/").status_code == 404  # not WordPress's
    finally:
        app.extensions[API_EXTENSION].close()


def test_a_feed_published_later_is_found_once_the_live_tree_moves_on(tmp_path: Path) -> None:
    config = load_config(write_site(tmp_path))
    publisher = open_publisher(config)
    try:
        publisher.publish(notify=False)
        app = create_app(config, reload_interval=None)
        client = app.test_client()
        assert client.get("/tag/fresh/feed/").status_code == 404
        text = POST.format(
            title="Three", date="2024-04-03 10:00:00", categories="News", tags="fresh"
        )
        (tmp_path / "posts" / "2024-04-03-three.md").write_text(text, encoding="utf-8")
        publisher.publish(notify=False)
        refresh = app.extensions["syndicate"].holder.refresh
        assert refresh is not None and refresh()  # what the reloader thread does
        response = client.get("/tag/fresh/feed/")
        assert response.headers["Location"] == SITE + "tag/fresh.rss"
        assert feedparser.parse(client.get("/tag/fresh.rss").data).entries[0].title == "Three"
    finally:
        publisher.close()
        app.extensions[API_EXTENSION].close()


def test_the_location_is_under_a_site_url_with_a_path(tmp_path: Path) -> None:
    text = CONFIG.replace("url: https://example.org/", "url: https://example.org/blog")
    config = load_config(write_site(tmp_path, text))
    app = create_app(config, reload_interval=None)
    try:
        response = app.test_client().get("/feed/atom/")
        assert response.headers["Location"] == "https://example.org/blog/feed.atom"
    finally:
        app.extensions[API_EXTENSION].close()


def test_the_redirects_import_nothing_a_web_worker_does_without() -> None:
    """The hot path imports them: a web worker serving a live tree stays light."""
    script = (
        "import sys, syndicate.redirects, syndicate.web.hotpath\n"
        f"print([m for m in {HEAVY_MODULES!r} if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# --------------------------------------------------------------------------- config errors


@pytest.mark.parametrize(
    ("redirects", "message"),
    [
        (
            "preset: blogger",
            "redirects.preset: unknown preset 'blogger' (expected wordpress, hugo, "
            "jekyll-feed, or a list of them)",
        ),
        ("preset: [hugo, 3]", "redirects.preset[1]: expected str"),
        ("paths: [/rss.xml]", "redirects.paths: expected mapping"),
        ("paths: {rss.xml: /feed.rss}", "redirects.paths.rss.xml: an old path starts with one /"),
        ("paths: {//x/rss.xml: /feed.rss}", "redirects.paths.//x/rss.xml: an old path starts"),
        ("paths: {/old feed.xml: /feed.rss}", "redirects.paths./old feed.xml: write the path"),
        ("paths: {/rss.xml: 3}", "redirects.paths./rss.xml: expected str"),
        ("paths: {/rss.xml: feed.rss}", "redirects.paths./rss.xml: 'feed.rss' is not the path"),
        (
            "paths: {/rss.xml: 'https://example.com/feed.rss'}",
            "redirects.paths./rss.xml: 'https://example.com/feed.rss' is not the path of a feed",
        ),
        ("paths: {/rss.xml: '/feed.rss?x=1'}", "redirects.paths./rss.xml: '/feed.rss?x=1' is not"),
        ("paths: {/rss.xml: /about.html}", "redirects.paths./rss.xml: '/about.html' is not"),
        ("paths: {/rss.xml: //evil.org/x.rss}", "redirects.paths./rss.xml: '//evil.org/x.rss'"),
        ("paths: {/rss.xml: /tag/../x.rss}", "redirects.paths./rss.xml: '/tag/../x.rss' is not"),
        ("paths: {/: /feed.rss}", "redirects.paths./: / is the home page"),
        ("paths: {/api/feed.xml: /feed.rss}", "redirects.paths./api/feed.xml: /api and /admin"),
        ("paths: {/admin: /feed.rss}", "redirects.paths./admin: /api and /admin"),
        ("paths: {/a.rss: /a.rss}", "redirects.paths./a.rss: /a.rss is an old path itself"),
        (
            "paths: {/a.xml: /b.rss, /b.rss: /feed.rss}",
            "redirects.paths./a.xml: /b.rss is an old path itself",
        ),
        ("nginx: true", "redirects.nginx: unknown key (expected one of: paths, preset)"),
    ],
)
def test_a_wrong_redirect_is_refused_naming_its_key(
    tmp_path: Path, redirects: str, message: str
) -> None:
    base = CONFIG.split("redirects:")[0]
    path = write_site(tmp_path, f"{base}redirects:\n  {redirects}\n")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert message in str(raised.value)
    # As a user meets it: one line, exit 1, no traceback.
    result = CliRunner().invoke(main, ["check", "--config", str(path)])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_redirect_from_a_feed_path_to_a_feed_path_is_allowed(tmp_path: Path) -> None:
    """A renamed tag: its old feed URL redirected once the old feed is gone."""
    base = CONFIG.split("redirects:")[0]
    text = f"{base}redirects:\n  paths:\n    /tag/py.rss: /tag/python.rss\n"
    config = load_config(write_site(tmp_path, text))
    app = create_app(config, reload_interval=None)
    try:
        response = app.test_client().get("/tag/py.rss")
        assert response.headers["Location"] == SITE + "tag/python.rss"
    finally:
        app.extensions[API_EXTENSION].close()


# --------------------------------------------------------------------------- a real server


def _request(base: str, method: str, target: str) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request, no redirect followed: status, headers (names in any case), body."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        connection.request(method, target)
        response = connection.getresponse()
        return response.status, response.msg, response.read()
    finally:
        connection.close()


def test_syndicate_serve_redirects_old_urls(tmp_path: Path) -> None:
    write_site(tmp_path)
    process, base = start_serve(tmp_path)
    try:
        for old, new in MOVED.items():
            status, headers, body = _request(base, "GET", old)
            assert (status, headers.get("Location")) == (301, SITE + new.lstrip("/")), old
            assert headers["Cache-Control"] == REDIRECT_CACHE_CONTROL
            assert body.startswith(b"Moved to ")
        status, headers, body = _request(base, "HEAD", "/tags/python/index.xml")
        assert (status, headers["Location"], body) == (301, SITE + "tag/python.rss", b"")
        for old in NOT_MOVED:
            assert _request(base, "GET", old)[0] == 404, old
        assert _request(base, "GET", "/tag/python.rss")[0] == 200
        assert _request(base, "GET", "/?feed=nope")[0] == 200
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.communicate(timeout=30)
