"""Feeds in a browser: Accept negotiation on the hot path, and the readable HTML page.

The app is the real ``create_app`` on posts in tmp_path; ``test_client()`` goes through
``FeedResponder``. Browsers' Accept strings get the HTML page; feed readers, ``*/*`` and
no Accept get the feed, byte for byte the Document that ``build`` writes.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree
from werkzeug.test import TestResponse

from syndicate.config import Config
from syndicate.feeds import Document, Site
from syndicate.publisher import Publisher
from syndicate.web import FeedResponder, SiteHolder, prefers_html
from syndicate.web.preview import excerpt, read_feed, render_preview

from .conftest import ConfigFactory

SITE = "https://example.org/"

CATS = """---
title: "Cats &amp; &lt;dogs&gt;"
date: 2024-04-01T10:00:00Z
categories: [Life]
tags: [cats]
---
Cats *sleep* a lot. <script>alert(1)</script> They also purr.
"""
LONG = """---
title: A long read
date: 2024-04-02T10:00:00Z
categories: [News]
---
{body}
"""

CHROME = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
BROWSERS = [
    CHROME,
    FIREFOX,
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/webp,*/*;q=0.8",
    "text/html",
    "TEXT/HTML; q=1.0, */*; q=0.1",
]
READERS = [
    # feedparser's default
    "application/atom+xml,application/rdf+xml,application/rss+xml,application/x-netcdf,"
    "application/xml;q=0.9,text/xml;q=0.2,*/*;q=0.1",
    # Miniflux-like: HTML listed, but no better than the feed types
    "application/xml, application/atom+xml, application/rss+xml, application/rdf+xml, "
    "application/feed+json, text/html, */*;q=0.9",
    "application/rss+xml, application/atom+xml;q=0.9, text/html;q=0.8",
    "text/html, application/rss+xml",  # a tie keeps the feed
    "text/html, */*",  # a tie with */* keeps the feed
    "text/html;q=0.5, */*",
    "text/*, application/xml;q=0.5",  # text/xml matches text/* as well as text/html does
    "*/*",
    "application/xml",
    "",
    "text/html;q=0",
    "text/html;q=oops, */*;q=0.1",  # a bad q is 0
]


def post(n: int, title: str, categories: str = "[News]") -> str:
    return (
        f"---\ntitle: {title}\ndate: 2024-04-{n:02d}T10:00:00Z\ncategories: {categories}\n---\n"
        f"Body of {title}.\n"
    )


@pytest.fixture
def config(make_config: ConfigFactory, posts_dir: Path) -> Config:
    """Two posts, no live tree and no store: ``app`` builds them in memory."""
    (posts_dir / "2024-04-01-cats.md").write_text(CATS, encoding="utf-8")
    body = " ".join(f"word{n}" for n in range(200))
    (posts_dir / "2024-04-02-long.md").write_text(LONG.format(body=body), encoding="utf-8")
    return make_config()


@pytest.fixture
def site(app: Flask) -> Site:
    found: Site = app.extensions["syndicate"].holder.current.site
    return found


def get(client: FlaskClient, path: str, accept: str | None, **headers: str) -> TestResponse:
    sent = {k.replace("_", "-"): v for k, v in headers.items()}
    if accept is not None:
        sent["Accept"] = accept
    return client.get(path, headers=sent)


def page_of(response: TestResponse) -> Any:
    return etree.fromstring(response.data, etree.HTMLParser())


FEEDS = ["/feed.rss", "/feed.atom", "/category/life.atom", "/tag/cats.rss"]


# --------------------------------------------------------------------------- negotiation


@pytest.mark.parametrize("accept", BROWSERS)
@pytest.mark.parametrize("path", FEEDS)
def test_browsers_get_the_html_page(
    client: FlaskClient, site: Site, path: str, accept: str
) -> None:
    response = get(client, path, accept)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Vary"] == "Accept, Accept-Encoding"
    assert response.headers["ETag"] != site.documents[path].etag
    assert response.headers["Content-Length"] == str(len(response.data))
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'sha256-" in response.headers["Content-Security-Policy"]
    assert response.data.startswith(b"<!DOCTYPE html>")
    assert b"How to subscribe" in response.data


@pytest.mark.parametrize("accept", [*READERS, None])
@pytest.mark.parametrize("path", FEEDS)
def test_feed_readers_get_the_feed_byte_for_byte(
    client: FlaskClient, site: Site, path: str, accept: str | None
) -> None:
    doc = site.documents[path]
    response = get(client, path, accept)
    assert response.status_code == 200
    assert response.data == doc.body
    assert response.headers["Content-Type"] == doc.media_type
    assert response.headers["ETag"] == doc.etag
    assert response.headers["Vary"] == "Accept, Accept-Encoding"


@pytest.mark.parametrize("accept", [CHROME, "*/*"])
def test_other_documents_are_not_negotiated(client: FlaskClient, site: Site, accept: str) -> None:
    for path in ("/feeds.opml", "/"):
        response = get(client, path, accept)
        assert response.data == site.documents[path].body
        assert response.headers["Vary"] == "Accept-Encoding"


def test_each_variant_has_its_own_etag_and_304(client: FlaskClient, site: Site) -> None:
    feed_etag = site.documents["/feed.atom"].etag
    html = get(client, "/feed.atom", CHROME)
    html_etag = html.headers["ETag"]
    assert html_etag.endswith('-html"') and html_etag != feed_etag

    # Each variant revalidates with its own entity-tag ...
    not_modified = get(client, "/feed.atom", CHROME, If_None_Match=html_etag)
    assert not_modified.status_code == 304
    assert not_modified.data == b""
    assert not_modified.headers["ETag"] == html_etag
    assert not_modified.headers["Vary"] == "Accept, Accept-Encoding"
    feed_304 = get(client, "/feed.atom", "*/*", If_None_Match=feed_etag)
    assert feed_304.status_code == 304
    assert feed_304.headers["ETag"] == feed_etag

    # ... and not with the other's.
    assert get(client, "/feed.atom", CHROME, If_None_Match=feed_etag).status_code == 200
    crossed = get(client, "/feed.atom", None, If_None_Match=html_etag)
    assert crossed.status_code == 200
    assert crossed.data == site.documents["/feed.atom"].body

    # If-Modified-Since works for both.
    since = html.headers["Last-Modified"]
    assert get(client, "/feed.atom", CHROME, If_Modified_Since=since).status_code == 304
    assert get(client, "/feed.atom", None, If_Modified_Since=since).status_code == 304


def test_the_html_page_is_gzipped_with_its_own_etag(client: FlaskClient) -> None:
    plain = get(client, "/feed.rss", FIREFOX)
    packed = get(client, "/feed.rss", FIREFOX, Accept_Encoding="gzip, br")
    assert packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.data) == plain.data
    assert packed.headers["ETag"] == plain.headers["ETag"][:-1] + '-gzip"'
    again = get(
        client, "/feed.rss", FIREFOX, Accept_Encoding="gzip", If_None_Match=packed.headers["ETag"]
    )
    assert again.status_code == 304


def test_head_gets_the_html_headers_without_a_body(client: FlaskClient) -> None:
    page = get(client, "/feed.atom", CHROME)
    head = client.head("/feed.atom", headers={"Accept": CHROME})
    assert head.status_code == 200
    assert head.data == b""
    assert head.headers["ETag"] == page.headers["ETag"]
    assert head.headers["Content-Length"] == str(len(page.data))


@pytest.mark.parametrize(
    ("accept", "html"),
    [(a, True) for a in BROWSERS] + [(a, False) for a in READERS],
)
def test_prefers_html(accept: str, html: bool) -> None:
    assert prefers_html(accept) is html


def test_the_page_is_made_once_per_feed_version(config: Config) -> None:
    calls: list[str] = []
    atom = Document("application/atom+xml; charset=utf-8", b"<feed/>", '"a1"', _when())

    def preview(site: Site, path: str) -> bytes:
        calls.append(path)
        return b"<!DOCTYPE html><title>page</title>" + site.documents[path].etag.encode()

    holder = SiteHolder(_site({"/f.atom": atom}), 60, SITE, preview=preview)
    responder = FeedResponder(holder, _never)
    first = _call(responder, "/f.atom", CHROME)
    assert _call(responder, "/f.atom", CHROME) == first
    assert calls == ["/f.atom"]
    # A new version of the feed gets a new page; the same one keeps its page.
    holder.swap(_site({"/f.atom": Document(atom.media_type, b"<feed></feed>", '"a2"', _when())}))
    assert _call(responder, "/f.atom", CHROME) != first
    assert calls == ["/f.atom", "/f.atom"]


def test_a_failing_preview_serves_the_feed(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    def preview(site: Site, path: str) -> bytes:
        raise RuntimeError("template bug")

    atom = Document("application/atom+xml; charset=utf-8", b"<feed/>", '"a1"', _when())
    holder = SiteHolder(_site({"/f.atom": atom}), 60, SITE, preview=preview)
    assert _call(FeedResponder(holder, _never), "/f.atom", CHROME) == b"<feed/>"
    assert "cannot render its HTML page" in caplog.text


def test_without_a_previewer_nothing_is_negotiated() -> None:
    atom = Document("application/atom+xml; charset=utf-8", b"<feed/>", '"a1"', _when())
    holder = SiteHolder(_site({"/f.atom": atom}), 60, SITE)
    headers: list[Any] = []
    body = FeedResponder(holder, _never)(
        {"REQUEST_METHOD": "GET", "PATH_INFO": "/f.atom", "HTTP_ACCEPT": CHROME},
        lambda status, h, exc_info=None: headers.extend(h),  # type: ignore[arg-type]
    )
    assert b"".join(body) == b"<feed/>"
    assert ("Vary", "Accept-Encoding") in headers


def test_the_static_build_keeps_plain_feeds(config: Config, site: Site, tmp_path: Path) -> None:
    out = tmp_path / "public"
    Publisher(config).write_static(site, out)
    assert (out / "feed.atom").read_bytes() == site.documents["/feed.atom"].body
    assert (out / "feed.atom").read_bytes().startswith(b"<?xml")


# --------------------------------------------------------------------------- the page


@pytest.mark.parametrize("path", ["/feed.atom", "/feed.rss"])
def test_the_page_shows_the_feed(client: FlaskClient, site: Site, path: str) -> None:
    page = page_of(get(client, path, CHROME))
    assert page.get("lang") == "en"
    assert page.find("head/meta[@name='viewport']") is not None
    assert page.findtext(".//h1") == "Example News"
    # How to subscribe: the address of this feed first, ready to copy, then the others.
    fields = [i.get("value") for i in page.iterfind(".//section[@class='card subscribe']//input")]
    assert fields[0] == SITE + path.lstrip("/")
    assert set(fields) == {SITE + "feed.atom", SITE + "feed.rss", SITE + "feed.json"}
    buttons = page.findall(".//button[@data-copy]")
    assert [b.get("data-copy") for b in buttons] == fields
    # Autodiscovery, as on the home page.
    types = {link.get("type") for link in page.iterfind("head/link[@rel='alternate']")}
    assert types == {"application/rss+xml", "application/atom+xml", "application/feed+json"}
    # Entries: newest first, with dates, links and plain-text excerpts.
    items = page.findall(".//ul[@class='entries']/li")
    assert [i.xpath("string(h3)") for i in items] == ["A long read", "Cats & <dogs>"]
    assert items[1].find("h3/a").get("href") == SITE + "life/2024/04/01/cats.html"
    assert items[1].find(".//time").get("datetime") == "2024-04-01T10:00:00Z"
    assert items[1].findtext(".//time") == "1 Apr 2024"
    cats = items[1].findtext("p")
    assert cats.startswith("Cats sleep a lot.")
    assert "They also purr." in cats
    long_text = items[0].findtext("p")
    assert long_text.endswith("…") and len(long_text) <= 281


def test_the_page_escapes_what_the_feed_says(client: FlaskClient) -> None:
    body = get(client, "/feed.atom", CHROME).data.decode()
    assert "Cats &amp; &lt;dogs&gt;" in body
    assert "<script>alert" not in body
    # The only script is the copy button's, allowed by its hash.
    assert body.count("<script>") == 1


def test_render_preview_of_a_category_feed(config: Config, site: Site) -> None:
    page = etree.fromstring(render_preview(site, "/category/life.rss", config), etree.HTMLParser())
    assert page.findtext(".//h1") == "Example News — Category: Life"
    assert len(page.findall(".//ul[@class='entries']/li")) == 1


@pytest.mark.parametrize("body", [b"", b"not xml", b"<html/>", b"<rss version='2.0'/>"])
def test_read_feed_survives_anything(body: bytes) -> None:
    assert read_feed(body).entries == ()


def test_excerpt_cuts_at_a_word() -> None:
    assert excerpt("short") == "short"
    assert excerpt("alpha beta gamma", limit=12) == "alpha beta…"


# --------------------------------------------------------------------------- helpers


def _when() -> datetime:
    return datetime(2024, 5, 1, 12, tzinfo=UTC)


def _site(documents: dict[str, Document]) -> Site:
    return Site(documents=documents, feeds=())


def _never(environ: Any, start_response: Any) -> Iterable[bytes]:
    raise AssertionError("a known feed must not reach the fallback app")


def _call(responder: FeedResponder, path: str, accept: str) -> bytes:
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "HTTP_ACCEPT": accept}
    return b"".join(responder(environ, lambda *args: None))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- home page


def test_the_home_page_lists_every_feed_with_its_latest_post(client: FlaskClient) -> None:
    response = get(client, "/", CHROME)
    page = page_of(response)
    alternates = page.findall("head/link[@rel='alternate']")
    assert len(alternates) == 3 * 4  # site, 2 categories, 1 tag; RSS, Atom, JSON Feed each
    rows = {tr.findtext("td[@class='name']"): tr for tr in page.iterfind(".//tbody/tr")}
    assert list(rows) == ["Example News", "Life", "News", "cats"]
    site_row = rows["Example News"]
    assert site_row.findtext("td[@class='num']") == "2"
    latest = site_row.find("td[@class='latest']/a")
    assert latest.text == "A long read"
    assert latest.get("href") == SITE + "news/2024/04/02/long.html"
    copies = [b.get("data-copy") for b in site_row.iterfind(".//button[@data-copy]")]
    assert copies == [SITE + "feed.rss", SITE + "feed.atom", SITE + "feed.json"]
    assert page.find("head/meta[@name='viewport']") is not None
