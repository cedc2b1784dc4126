"""Web workers over a live tree: headers from the manifest, bodies read on first need.

Real parts: posts in tmp_path built by the real Publisher and written with ``write_live``
(files first, manifest last, as the worker does), the real ``create_app`` and its
``test_client()`` (which takes the hot path). The reloader thread is off, so each test
says when a new generation is looked at; a request that finds the live tree moved on
under it still asks for the newer generation itself. What a server worker process
imports is checked in a fresh interpreter, through the app factory granian calls.
"""

from __future__ import annotations

import copy
import gzip
import json
import logging
import os
import pickle
import random
import re
import subprocess
import sys
import threading
from collections.abc import Mapping
from email.utils import format_datetime
from pathlib import Path
from wsgiref.types import WSGIEnvironment

import feedparser
import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree
from werkzeug.test import Client

from syndicate.config import Config, load_config
from syndicate.feeds import FeedInfo, Site, entity_tag
from syndicate.publisher import Publisher, open_publisher
from syndicate.service.server import CONFIG_ENV
from syndicate.site.manifest import StoredDocument, file_path, read_live, write_live
from syndicate.web import BodyCache, FeedResponder, PreparedDocument, SiteHolder, create_app
from syndicate.web.api import EXTENSION as API_EXTENSION
from syndicate.web.api import TOKEN_ENV
from syndicate.web.hotpath import Answer
from syndicate.web.prepared import PreparedSite

from .conftest import ConfigFactory
from .servers import FakeClock

POST = """---
title: {title}
date: 2024-04-{day:02d}T10:00:00Z
categories: [{category}]
tags: [{tag}]
---
{body}
"""
CHROME = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8"
)


def write_post(posts_dir: Path, day: int, title: str, category: str, tag: str) -> None:
    body = " ".join(f"{title.lower()}-word{n}" for n in range(300))
    text = POST.format(title=title, day=day, category=category, tag=tag, body=body)
    (posts_dir / f"2024-04-{day:02d}-post.md").write_text(text, encoding="utf-8")


@pytest.fixture
def config(make_config: ConfigFactory, posts_dir: Path) -> Config:
    write_post(posts_dir, 1, "First", "News", "alpha")
    write_post(posts_dir, 2, "Second", "Life", "beta")
    return make_config()


def publish(config: Config, clock: FakeClock) -> Site:
    """What the worker does: build, then write the files and, last, the manifest."""
    site = Publisher(config, clock).build().site
    write_live(site, config.output_dir)
    return site


def make_app(config: Config, budget: int | None = None) -> Flask:
    if budget is None:
        app = create_app(config, reload_interval=None)
    else:
        app = create_app(config, reload_interval=None, body_cache_bytes=budget)
    # A request that finds the tree moved on waits this long for a manifest between tries.
    holder(app).retry_wait = 0.01
    return app


def holder(app: Flask) -> SiteHolder:
    found: SiteHolder = app.extensions["syndicate"].holder
    return found


def cache(app: Flask) -> BodyCache:
    return holder(app).cache


def prepared(app: Flask, path: str) -> PreparedDocument:
    return holder(app).current.documents[path]


def file_of(config: Config, path: str) -> Path:
    return config.output_dir / path.lstrip("/")


def stored(config: Config, path: str) -> int:
    """Bytes a document takes in the cache: its file and its .gz."""
    file = file_of(config, path)
    return file.stat().st_size + file.with_name(file.name + ".gz").stat().st_size


def replace_file(target: Path, data: bytes) -> None:
    """Replace a file with rename(2), as the publisher does."""
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)


def titles(body: bytes) -> list[str]:
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.bozo_exception
    return [entry.title for entry in parsed.entries]


# --------------------------------------------------------------------------- one factory


def test_a_server_workers_app_answers_as_the_flask_app_does(
    config: Config, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``create_app(lazy_editors=True)`` (what granian runs) is the same app: feeds, 404s
    and the editors' requests get the same answers as from ``create_app``'s Flask app
    (signed in and through to the store: the worker test below)."""
    monkeypatch.setenv(TOKEN_ENV, "lazy-Token_1")
    publish(config, clock)
    flask_app = create_app(config, reload_interval=None)
    lazy_app = create_app(config, reload_interval=None, lazy_editors=True)
    assert not isinstance(lazy_app, Flask)
    asked = [
        ("GET", "/feed.atom", {"Accept-Encoding": "gzip"}),
        ("GET", "/tag/alpha.rss", {}),
        ("HEAD", "/feeds.opml", {}),
        ("GET", "/feed.atom", {"Accept": "text/html,*/*;q=0.8"}),
        ("POST", "/feed.atom", {}),
        ("GET", "/no/such.rss", {}),
        ("GET", "/api/status", {}),
        ("GET", "/admin/login", {}),
    ]
    answers = []
    for app in (flask_app, lazy_app):
        client = Client(app)
        got = []
        for method, path, headers in asked:
            response = client.open(path, method=method, headers=headers)
            shown = dict(response.headers)
            shown.pop("Set-Cookie", None)  # a new session each time
            body = response.get_data()
            if path.startswith("/admin"):
                body = re.sub(rb'value="[^"]+"', b"", body)  # the CSRF token
            got.append((response.status, shown, body))
        answers.append(got)
    assert answers[0] == answers[1]
    assert [status for status, _, _ in answers[0]] == [
        "200 OK",
        "200 OK",
        "200 OK",
        "200 OK",
        "405 Method Not Allowed",
        "404 Not Found",
        "401 UNAUTHORIZED",
        "200 OK",
    ]
    flask_app.extensions[API_EXTENSION].close()


class AskedHolder:
    """A holder (``hotpath.Holder``) that counts what the hot path could not answer alone."""

    def __init__(self, inner: SiteHolder) -> None:
        self.inner = inner
        self.asked: list[str] = []

    @property
    def current(self) -> PreparedSite:
        return self.inner.current

    @property
    def pages(self) -> Mapping[tuple[str, str], PreparedDocument]:
        return self.inner.pages

    def respond(self, path: str, environ: WSGIEnvironment) -> Answer | None:
        self.asked.append(path)
        return self.inner.respond(path, environ)


def test_the_hot_path_asks_its_holder_only_for_bytes_not_in_memory(
    config: Config, clock: FakeClock
) -> None:
    site = publish(config, clock)
    app = make_app(config)
    asked = AskedHolder(holder(app))
    client = Client(FeedResponder(asked, app.wsgi_app))
    etag = site.documents["/feed.atom"].etag
    assert client.get("/feed.atom", headers={"If-None-Match": etag}).status_code == 304
    assert asked.asked == []  # validators are in memory from the manifest
    first = client.get("/feed.atom")
    assert asked.asked == ["/feed.atom"]  # the body is read by the holder
    again = client.get("/feed.atom")
    assert asked.asked == ["/feed.atom"]  # then served from memory
    assert first.get_data() == again.get_data() == site.documents["/feed.atom"].body
    assert client.get("/no/such.rss").status_code == 404
    assert asked.asked == ["/feed.atom"]


# --------------------------------------------------------------------------- lazy reading


def test_a_fresh_worker_answers_304_without_reading_a_body(
    config: Config, clock: FakeClock
) -> None:
    site = publish(config, clock)
    app = make_app(config)
    client = app.test_client()
    assert cache(app).reads == 0
    assert all(p.payload is None for p in holder(app).current.documents.values())
    doc = site.documents["/feed.atom"]
    http_date = format_datetime(doc.last_modified, usegmt=True)
    gzip_etag = doc.etag[:-1] + '-gzip"'
    for headers, etag in [
        ({"If-None-Match": doc.etag}, doc.etag),
        ({"If-None-Match": gzip_etag, "Accept-Encoding": "gzip"}, gzip_etag),
        ({"If-Modified-Since": http_date}, doc.etag),
    ]:
        response = client.get("/feed.atom", headers=headers)
        assert response.status_code == 304
        assert response.headers["ETag"] == etag
        assert response.headers["Last-Modified"] == http_date
        assert response.headers["Vary"] == "Accept, Accept-Encoding"
    assert client.head("/", headers={"If-None-Match": site.documents["/"].etag}).status_code == 304
    assert cache(app).reads == 0
    assert cache(app).read_bytes == 0
    assert cache(app).held == 0


def test_the_first_200_reads_the_file_once(config: Config, clock: FakeClock) -> None:
    site = publish(config, clock)
    app = make_app(config)
    client = app.test_client()
    doc = site.documents["/feed.atom"]
    file = file_of(config, "/feed.atom")

    response = client.get("/feed.atom")
    assert response.status_code == 200
    assert response.data == file.read_bytes() == doc.body
    assert response.headers["ETag"] == doc.etag
    assert response.headers["Content-Length"] == str(len(doc.body))
    assert response.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    assert titles(response.data) == ["Second", "First"]
    assert cache(app).reads == 1
    assert cache(app).read_bytes == stored(config, "/feed.atom")
    assert cache(app).held == stored(config, "/feed.atom")

    # Later requests, either encoding, come from memory: the publisher's .gz as it is.
    assert client.get("/feed.atom").data == doc.body
    packed = client.get("/feed.atom", headers={"Accept-Encoding": "gzip"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert packed.headers["ETag"] == doc.etag[:-1] + '-gzip"'
    assert packed.data == file.with_name("feed.atom.gz").read_bytes()
    assert gzip.decompress(packed.data) == doc.body
    assert cache(app).reads == 1


@pytest.mark.parametrize("accept_encoding", ["", "gzip"])
@pytest.mark.parametrize("path", ["/feed.rss", "/feeds.opml", "/"])
def test_head_reads_the_body_for_its_content_length(
    config: Config, clock: FakeClock, accept_encoding: str, path: str
) -> None:
    publish(config, clock)
    app = make_app(config)
    client = app.test_client()
    headers = {"Accept-Encoding": accept_encoding}
    head = client.head(path, headers=headers)
    assert head.status_code == 200
    assert head.data == b""
    assert cache(app).reads == 1
    got = client.get(path, headers=headers)
    assert head.headers["Content-Length"] == str(len(got.data)) == got.headers["Content-Length"]
    assert dict(head.headers) == dict(got.headers)


def test_every_kind_of_document_has_the_entity_tag_reads_are_checked_against(
    config: Config, clock: FakeClock
) -> None:
    # Feeds, the OPML and the index page alike: a file is the manifest's version iff
    # its digest is the manifest's entity-tag.
    site = publish(config, clock)
    assert {"/", "/feeds.opml", "/feed.rss", "/tag/alpha.atom"} <= set(site.documents)
    for path, doc in site.documents.items():
        assert entity_tag(doc.body) == doc.etag, path


def test_a_site_built_in_memory_reads_no_files(config: Config) -> None:
    app = make_app(config)  # no live tree yet: the posts are built in memory
    response = app.test_client().get("/feed.atom")
    assert titles(response.data) == ["Second", "First"]
    assert cache(app).reads == 0
    assert cache(app).held == 0  # the Site holds its bodies anyway: not in the budget


# --------------------------------------------------------------------------- the budget


def test_the_budget_drops_the_least_recently_served(config: Config, clock: FakeClock) -> None:
    site = publish(config, clock)
    a, b, c = "/feed.atom", "/feed.rss", "/category/news.atom"
    budget = stored(config, a) + stored(config, b) + stored(config, c) - 1
    app = make_app(config, budget)
    client = app.test_client()
    for path in (a, b, a, c):  # b is now the one served longest ago
        assert client.get(path).data == site.documents[path].body
    assert prepared(app, b).payload is None
    assert prepared(app, a).payload is not None
    assert prepared(app, c).payload is not None
    assert cache(app).held == stored(config, a) + stored(config, c) <= budget
    assert cache(app).evictions == 1
    assert cache(app).reads == 3

    # Dropped bytes are read again when asked for; now a goes, served before c.
    response = client.get(b, headers={"Accept-Encoding": "gzip"})
    assert gzip.decompress(response.data) == site.documents[b].body
    assert cache(app).reads == 4
    assert prepared(app, a).payload is None
    assert cache(app).held == stored(config, b) + stored(config, c) <= budget


def test_a_budget_of_nothing_reads_every_time_and_still_serves(
    config: Config, clock: FakeClock
) -> None:
    site = publish(config, clock)
    app = make_app(config, budget=0)
    client = app.test_client()
    for n in range(3):
        assert client.get("/tag/beta.rss").data == site.documents["/tag/beta.rss"].body
        assert cache(app).reads == n + 1
    assert client.head("/tag/beta.rss").headers["Content-Length"] == str(
        len(site.documents["/tag/beta.rss"].body)
    )
    assert cache(app).held == 0


def test_concurrent_requests_keep_bytes_and_bookkeeping_consistent(
    config: Config, clock: FakeClock, posts_dir: Path
) -> None:
    for day in range(3, 9):
        write_post(posts_dir, day, f"Post {day}", f"Cat{day % 3}", f"tag{day % 4}")
    site = publish(config, clock)
    paths = [p for p in site.documents if p.endswith((".rss", ".atom"))]
    budget = 2 * max(stored(config, p) for p in paths)
    app = make_app(config, budget)
    failures: list[str] = []

    def hammer(seed: int) -> None:
        client = app.test_client()
        rng = random.Random(seed)
        for _ in range(40):
            path = rng.choice(paths)
            packed = rng.random() < 0.5
            response = client.get(path, headers={"Accept-Encoding": "gzip" if packed else ""})
            body = gzip.decompress(response.data) if packed else response.data
            etag = entity_tag(body)
            expected = etag[:-1] + '-gzip"' if packed else etag
            if response.status_code != 200 or response.headers["ETag"] != expected:
                failures.append(f"{path}: {response.status_code} {response.headers['ETag']}")
            if body != site.documents[path].body:
                failures.append(f"{path}: other bytes")

    threads = [threading.Thread(target=hammer, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    documents = holder(app).current.documents.values()
    held = sum(p.payload.size for p in documents if p.payload is not None)
    assert cache(app).held == held <= budget
    assert cache(app).evictions > 0


# --------------------------------------------------------------------------- the live tree moves


def test_a_newer_file_under_the_manifest_held_is_never_served(
    config: Config, clock: FakeClock, posts_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old = publish(config, clock)
    app = make_app(config)
    client = app.test_client()
    assert client.get("/feed.rss").status_code == 200  # in memory before the publish

    # The next publish has replaced the files, but not yet the manifest.
    write_post(posts_dir, 2, "Second, edited", "Life", "beta")
    new = Publisher(config, clock).build().site
    for path in ("/feed.atom", "/feed.rss"):
        body = new.documents[path].body
        replace_file(file_of(config, path), body)
        replace_file(file_of(config, path + ".gz"), gzip.compress(body, mtime=0))

    caplog.set_level(logging.WARNING, logger="syndicate.web")
    response = client.get("/feed.atom")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert "ETag" not in response.headers
    assert "/feed.atom" in response.get_data(as_text=True)
    assert [r.getMessage() for r in caplog.records if r.name == "syndicate.web"] == [
        "document /feed.atom: the live tree kept changing under every read; answered 503"
    ]
    # What needs no body is still answered from the generation held ...
    not_modified = client.get(
        "/feed.atom", headers={"If-None-Match": old.documents["/feed.atom"].etag}
    )
    assert not_modified.status_code == 304
    # ... and so is a document whose bytes were read before: the old version, whole.
    rss = client.get("/feed.rss")
    assert rss.data == old.documents["/feed.rss"].body
    assert rss.headers["ETag"] == old.documents["/feed.rss"].etag

    # The manifest follows: the next request reads the new generation.
    write_live(new, config.output_dir)
    response = client.get("/feed.atom")
    assert response.status_code == 200
    assert response.headers["ETag"] == new.documents["/feed.atom"].etag
    assert titles(response.data) == ["Second, edited", "First"]


def test_a_file_gone_with_its_document_is_404_from_the_new_generation(
    config: Config, clock: FakeClock, posts_dir: Path
) -> None:
    publish(config, clock)
    app = make_app(config)
    client = app.test_client()
    assert client.get("/tag/beta.atom", headers={"If-None-Match": "*"}).status_code == 304

    (posts_dir / "2024-04-02-post.md").unlink()  # the only post tagged beta
    new = publish(config, clock)
    assert "/tag/beta.atom" not in new.documents
    assert not file_of(config, "/tag/beta.atom").exists()
    # The generation held still lists it; reading it finds the tree moved on.
    assert "/tag/beta.atom" in holder(app).current.documents
    response = client.get("/tag/beta.atom")
    assert response.status_code == 404
    assert response.get_data(as_text=True) == "No such feed: /tag/beta.atom\n"
    assert titles(client.get("/feed.atom").data) == ["First"]


def test_a_missing_file_is_503_until_the_publisher_writes_it_again(
    config: Config, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    site = publish(config, clock)
    app = make_app(config)
    client = app.test_client()
    file_of(config, "/tag/alpha.rss").unlink()
    response = client.get("/tag/alpha.rss")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert "/tag/alpha.rss" in caplog.text

    write_live(site, config.output_dir)  # the next publish: the file is written again
    response = client.get("/tag/alpha.rss")
    assert response.status_code == 200
    assert response.data == site.documents["/tag/alpha.rss"].body


@pytest.mark.parametrize("gz", [b"not gzip at all", gzip.compress(b"<rss>stale</rss>"), None])
def test_a_gz_file_that_does_not_hold_the_body_is_compressed_here(
    config: Config, clock: FakeClock, gz: bytes | None
) -> None:
    site = publish(config, clock)
    target = file_of(config, "/feed.rss.gz")
    if gz is None:
        target.unlink()
    else:
        target.write_bytes(gz)
    app = make_app(config)
    response = app.test_client().get("/feed.rss", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Content-Length"] == str(len(response.data))
    assert gzip.decompress(response.data) == site.documents["/feed.rss"].body


def test_a_swap_keeps_bytes_read_and_reads_changed_hot_documents_at_once(
    config: Config, clock: FakeClock, posts_dir: Path
) -> None:
    old = publish(config, clock)
    app = make_app(config)
    client = app.test_client()
    for path in ("/feed.atom", "/tag/alpha.atom"):
        assert client.get(path).status_code == 200
    alpha = prepared(app, "/tag/alpha.atom")
    alpha_bytes = alpha.payload

    write_post(posts_dir, 2, "Second, edited", "Life", "beta")
    new = publish(config, clock)
    assert new.documents["/tag/alpha.atom"].etag == old.documents["/tag/alpha.atom"].etag
    for path in ("/feed.atom", "/feed.rss"):
        assert new.documents[path].etag != old.documents[path].etag
    reads = cache(app).reads
    refresh = holder(app).refresh
    assert refresh is not None and refresh()  # what the reloader thread does

    # Unchanged: the very same prepared document, bytes and all.
    assert prepared(app, "/tag/alpha.atom") is alpha
    assert alpha.payload is alpha_bytes
    # Changed and hot: read during the swap. Changed and cold: still lazy.
    assert prepared(app, "/feed.atom").payload is not None
    assert prepared(app, "/feed.rss").payload is None
    assert cache(app).reads == reads + 1
    response = client.get("/feed.atom")
    assert response.headers["ETag"] == new.documents["/feed.atom"].etag
    assert titles(response.data) == ["Second, edited", "First"]
    assert cache(app).reads == reads + 1


def test_the_live_tree_reads_back_as_the_publishers_documents_without_their_bytes(
    config: Config, clock: FakeClock
) -> None:
    built = publish(config, clock)
    live = read_live(config.output_dir)
    assert live is not None
    # One shape: what a web worker serves is the publisher's Site, read back from the
    # manifest (same feeds, same signatures), each document a StoredDocument of its file.
    assert isinstance(live, Site)
    assert live.feeds == built.feeds and live.signatures == built.signatures
    assert set(live.documents) == set(built.documents)
    for path, doc in live.documents.items():
        assert isinstance(doc, StoredDocument)
        assert doc.path == config.output_dir.joinpath(*file_path(path).parts)
        made = built.documents[path]
        assert (doc.media_type, doc.etag, doc.last_modified) == (
            made.media_type,
            made.etag,
            made.last_modified,
        )
        assert doc.body == made.body  # read from its file when asked for
    # Comparing two readings of one manifest compares files and validators, never bytes:
    # it holds with every file gone.
    again = read_live(config.output_dir)
    assert again is not None
    for doc in live.documents.values():
        assert isinstance(doc, StoredDocument)
        doc.path.unlink()
    assert again.documents == live.documents
    assert {path: pickle.loads(pickle.dumps(doc)) for path, doc in live.documents.items()} == {
        path: copy.copy(doc) for path, doc in again.documents.items()
    }
    assert len({*again.documents.values(), *live.documents.values()}) == len(live.documents)
    assert live.documents["/feed.rss"] != live.documents["/feed.atom"]


def test_a_reload_takes_unchanged_entries_as_they_were_parsed(
    config: Config, clock: FakeClock, posts_dir: Path
) -> None:
    publish(config, clock)
    app = make_app(config)
    before = holder(app).current
    write_post(posts_dir, 3, "Third", "Life", "beta")
    publish(config, clock)
    refresh = holder(app).refresh
    assert refresh is not None and refresh()
    after = holder(app).current

    # What a reader that starts from nothing makes of the same manifest.
    fresh = read_live(config.output_dir)
    assert fresh is not None
    assert {path: doc.origin for path, doc in after.documents.items()} == fresh.documents
    assert after.site.feeds == fresh.feeds
    assert after.site.signatures == fresh.signatures

    def info(site: Site, rss_path: str) -> FeedInfo:
        return next(feed for feed in site.feeds if feed.rss_path == rss_path)

    # Untouched by the new post: the very objects of the last generation.
    assert after.documents["/tag/alpha.atom"] is before.documents["/tag/alpha.atom"]
    assert info(after.site, "/tag/alpha.rss") is info(before.site, "/tag/alpha.rss")
    # In its feeds: parsed again.
    for path in ("/tag/beta.atom", "/feed.rss"):
        assert after.documents[path].origin != before.documents[path].origin
    assert info(after.site, "/tag/beta.rss").entry_count == 2


def test_bytes_served_from_a_site_built_in_memory_carry_over_to_the_live_tree(
    config: Config, clock: FakeClock
) -> None:
    app = create_app(config, Publisher(config, clock), reload_interval=None)
    client = app.test_client()
    served = client.get("/feed.atom").data
    site = publish(config, clock)  # the worker's first publish: the same posts
    refresh = holder(app).refresh
    assert refresh is not None and refresh()
    assert prepared(app, "/feed.atom").payload is not None  # served: kept (or read at once)
    assert prepared(app, "/feed.rss").payload is None  # never served: lazy from now on
    assert cache(app).reads <= 1
    response = client.get("/feed.atom")
    assert response.data == served == site.documents["/feed.atom"].body
    assert response.headers["ETag"] == site.documents["/feed.atom"].etag


# --------------------------------------------------------------------------- HTML pages


def test_the_html_page_of_a_lazy_feed(config: Config, clock: FakeClock) -> None:
    site = publish(config, clock)
    app = make_app(config)
    client = app.test_client()
    response = client.get("/feed.atom", headers={"Accept": CHROME})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["ETag"].endswith('-html"')
    page = etree.fromstring(response.data, etree.HTMLParser())
    entries = [li.xpath("string(h3)") for li in page.iterfind(".//ul[@class='entries']/li")]
    assert entries == ["Second", "First"]
    assert cache(app).reads == 1  # the feed, which the page is made from

    # The page revalidates without its bytes, and the feed itself is served from memory.
    etag = response.headers["ETag"]
    assert (
        client.get("/feed.atom", headers={"Accept": CHROME, "If-None-Match": etag}).status_code
        == 304
    )
    assert client.get("/feed.atom").data == site.documents["/feed.atom"].body
    assert cache(app).reads == 1

    # The Site of a live tree gives documents (their bytes read on lookup), not stubs.
    live = holder(app).current.site
    assert "/feed.rss" in live.documents and len(live.documents) == len(site.documents)
    assert cache(app).reads == 1
    assert live.documents["/feed.atom"].body == site.documents["/feed.atom"].body
    assert live.documents["/feeds.opml"].body == site.documents["/feeds.opml"].body
    assert cache(app).reads == 2


def test_a_page_dropped_from_the_budget_is_made_again(config: Config, clock: FakeClock) -> None:
    publish(config, clock)
    app = make_app(config, budget=0)
    client: FlaskClient = app.test_client()
    first = client.get("/tag/alpha.rss", headers={"Accept": CHROME})
    again = client.get("/tag/alpha.rss", headers={"Accept": CHROME, "Accept-Encoding": "gzip"})
    assert (
        first.headers["Content-Type"] == again.headers["Content-Type"] == "text/html; charset=utf-8"
    )
    assert gzip.decompress(again.data) == first.data
    assert again.headers["ETag"] == first.headers["ETag"][:-1] + '-gzip"'
    assert cache(app).held == 0


def test_while_the_publisher_writes_every_200_is_the_version_its_etag_names(
    config: Config, clock: FakeClock, posts_dir: Path
) -> None:
    one = publish(config, clock)
    write_post(posts_dir, 2, "Second, edited", "Life", "beta")
    two = Publisher(config, clock).build().site
    # Nothing kept in memory, and a reloader thread: every 200 reads a file that the
    # publisher may be replacing at that very moment.
    app = create_app(config, reload_interval=0.002, body_cache_bytes=0)
    paths = ["/feed.atom", "/feed.rss", "/tag/beta.atom", "/"]
    bodies = {site.documents[p].body for site in (one, two) for p in paths}
    stop = threading.Event()
    failures: list[str] = []
    statuses: list[int] = []

    def read(seed: int) -> None:
        client = app.test_client()
        rng = random.Random(seed)
        while not stop.is_set():
            path = rng.choice(paths)
            packed = rng.random() < 0.5
            response = client.get(path, headers={"Accept-Encoding": "gzip" if packed else ""})
            statuses.append(response.status_code)
            if response.status_code == 503:
                continue
            body = gzip.decompress(response.data) if packed else response.data
            etag = entity_tag(body)
            if response.headers["ETag"] != (etag[:-1] + '-gzip"' if packed else etag):
                failures.append(f"{path}: {response.headers['ETag']} on other bytes")
            if body not in bodies:
                failures.append(f"{path}: bytes of no version")

    readers = [threading.Thread(target=read, args=(seed,)) for seed in range(4)]
    for reader in readers:
        reader.start()
    try:
        for n in range(30):
            write_live(two if n % 2 == 0 else one, config.output_dir)
    finally:
        stop.set()
        for reader in readers:
            reader.join()
        reloader = app.extensions["syndicate"].reloader
        assert reloader is not None
        reloader.stop()
    assert failures == []
    assert statuses.count(200) > 0
    assert set(statuses) <= {200, 503}


# --------------------------------------------------------------------------- what a worker imports

# The publishing stack: none of it is needed to serve a live tree.
HEAVY_MODULES = (
    "syndicate.publisher",
    "syndicate.posts.load",
    "syndicate.feeds",
    "syndicate.store.sql",
    "syndicate.notify",
    "syndicate.web.preview",
    "syndicate.publisher.cache",
    "sqlalchemy",
    "lxml",
    "feedgen",
    "cmarkgfm",
    "nh3",
    "ftfy",
    "slugify",
    "requests",
    # The standard library's HTTP client (with ssl and email, 2 MB): the worker's
    # --wait-for probe needs it, a web process never does.
    "http.client",
    "ssl",
)

# A server worker process: the app made by the factory granian calls (server.run_server),
# then called as a WSGI application, as granian calls it. Feeds first; then what needs
# more: a feed's HTML page, the editor API, the dashboard (signed in, its posts page;
# werkzeug's test client keeps the cookies).
WORKER_SCRIPT = """
import json, re, sys
from syndicate.web import app_from_env

HEAVY = {heavy!r}
app = app_from_env()


def call(method, path, **headers):
    environ = {{
        "REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8080", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.input": sys.stdin.buffer,
        "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": True,
        "wsgi.run_once": False, "wsgi.version": (1, 0),
    }}
    environ.update(("HTTP_" + name.upper(), value) for name, value in headers.items())
    seen = []
    body = b"".join(app(environ, lambda status, headers, exc=None: seen.append((status, headers))))
    return {{"status": seen[0][0], "headers": dict(seen[0][1]), "length": len(body)}}


found = {{}}
found["atom_gzip"] = call("GET", "/feed.atom", accept_encoding="gzip")
etag = found["atom_gzip"]["headers"]["ETag"]
found["atom_304"] = call("GET", "/feed.atom", accept_encoding="gzip", if_none_match=etag)
found["rss"] = call("GET", "/tag/alpha.rss")
found["head"] = call("HEAD", "/category/news.atom")
found["opml"] = call("GET", "/feeds.opml")
found["index"] = call("GET", "/")
found["unknown"] = call("GET", "/no/such.rss")
found["after_feeds"] = [m for m in HEAVY if m in sys.modules]
found["flask_after_feeds"] = "flask" in sys.modules

found["page"] = call("GET", "/feed.atom", accept="text/html,*/*;q=0.8")
found["after_page"] = [m for m in HEAVY if m in sys.modules]
found["api"] = call("GET", "/api/status", authorization="Bearer {token}")
from werkzeug.test import Client

client = Client(app)
form = client.get("/admin/login").get_data(as_text=True)
csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
signed = client.post("/admin/login", data={{"csrf_token": csrf, "token": "{token}"}})
found["sign_in"] = signed.status_code
posts = client.get("/admin/posts")
found["posts_page"] = [posts.status_code, "A lazy post" in posts.get_data(as_text=True)]
found["after_all"] = [m for m in HEAVY if m in sys.modules]
print(json.dumps(found))
"""


def test_a_server_worker_serves_feeds_without_the_publishing_stack(
    tmp_path: Path, posts_dir: Path
) -> None:
    write_post(posts_dir, 1, "A lazy post", "News", "alpha")
    config_path = tmp_path / "config.yaml"
    config_path.write_text(
        "site:\n  title: Example News\n  url: https://example.org/\nposts_dir: posts\n",
        encoding="utf-8",
    )
    # What the worker does before serve starts its web tier: publish the live tree.
    publisher = open_publisher(load_config(config_path))
    try:
        publisher.publish()
    finally:
        publisher.close()

    token = "worker-Token_7"
    script = WORKER_SCRIPT.format(heavy=HEAVY_MODULES, token=token)
    env = {**os.environ, CONFIG_ENV: str(config_path), TOKEN_ENV: token}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)

    assert found["atom_gzip"]["status"] == "200 OK"
    assert found["atom_gzip"]["headers"]["Content-Encoding"] == "gzip"
    assert found["atom_304"]["status"] == "304 Not Modified"
    assert found["rss"]["status"] == "200 OK"
    assert found["rss"]["headers"]["Content-Type"] == "application/rss+xml; charset=utf-8"
    assert found["rss"]["length"] == int(found["rss"]["headers"]["Content-Length"])
    assert found["head"]["status"] == "200 OK" and found["head"]["length"] == 0
    assert found["opml"]["status"] == "200 OK"
    assert found["index"]["status"] == "200 OK"
    assert found["unknown"]["status"] == "404 Not Found"
    # Serving the live tree, 404s included, imported none of the publishing stack, and
    # not even Flask (the editor API's and the dashboard's).
    assert found["after_feeds"] == []
    assert found["flask_after_feeds"] is False

    # What needs it imports it on first use, and works.
    assert found["page"]["status"] == "200 OK"
    assert found["page"]["headers"]["Content-Type"] == "text/html; charset=utf-8"
    assert found["after_page"] == ["syndicate.web.preview", "lxml"]  # feeds parsed, not built
    assert found["api"]["status"] == "200 OK"
    assert found["sign_in"] == 302
    assert found["posts_page"] == [200, True]
    assert {"syndicate.web.preview", "lxml", "syndicate.publisher", "sqlalchemy"} <= set(
        found["after_all"]
    )
