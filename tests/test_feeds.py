"""build_site: what a feed reader sees in every feed, read with feedparser and lxml.

Posts are made directly and rendered by a small fake, so these tests do not depend
on posts.render_post.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import json
import random
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest
from lxml import etree

from syndicate import __version__, documents
from syndicate.config import Author, Config
from syndicate.errors import ConfigError
from syndicate.feeds import (
    Document,
    FeedInfo,
    Made,
    Rendering,
    Site,
    absolute_url,
    build_site,
)
from syndicate.posts import Image, Post, Rendered, load_posts

from .conftest import ConfigFactory

NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "content": "http://purl.org/rss/1.0/modules/content/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "media": "http://search.yahoo.com/mrss/",
}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
NOW = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)
SITE = "https://example.org/"
BADELY = Author("Badely", "badely@example.org", "https://example.org/about")
NO_EMAIL = Author("Ана Мельник")
JPEG = Image("https://example.org/assets/a.jpg", "image/jpeg", 48213)
PNG_UNKNOWN_SIZE = Image("https://example.org/assets/b.png", "image/png", None)


def make_post(n: int, **overrides: Any) -> Post:
    """Post number n, dated n days into June 2025 unless told otherwise."""
    values: dict[str, Any] = {
        "source": Path(f"/posts/2025-06-{n:02d}-post-{n}.md"),
        "relpath": f"2025-06-{n:02d}-post-{n}.md",
        "digest": hashlib.sha256(str(n).encode()).hexdigest(),
        "title": f"Post {n}",
        "date": datetime(2025, 6, n, 9, 0, tzinfo=UTC),
        "updated": None,
        "author": BADELY,
        "categories": ("News",),
        "tags": (),
        "url": f"{SITE}news/2025/06/{n:02d}/post-{n}.html",
        "entry_id": f"tag:example.org,2025-06-{n:02d}:post-{n}",
        "image": None,
        "lang": None,
        "body": f"<p>Body {n}</p>",
        "excerpt": None,
        "is_html": True,
        "published": True,
    }
    values.update(overrides)
    return Post(**values)


class FakeRender:
    """A pure stand-in for render_post that counts its calls per entry id."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def __call__(self, post: Post, config: Config) -> Rendered:
        self.calls[post.entry_id] += 1
        title = html.escape(post.title)
        return Rendered(
            content_html=f"<h2>{title}</h2>{post.body}",
            summary_html=f"<p>Excerpt of <em>{title}</em></p>",
        )


def build(posts: list[Post], config: Config, now: datetime = NOW) -> Site:
    return build_site(posts, config, now, Rendering(FakeRender())).site


def xml(site: Site, path: str) -> etree._Element:
    return etree.fromstring(site.documents[path].body)


def attrs(element: etree._Element) -> dict[str, str]:
    return {str(k): str(v) for k, v in element.attrib.items()}


def read(site: Site, path: str) -> Any:
    parsed = feedparser.parse(site.documents[path].body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


def items(site: Site, path: str) -> list[etree._Element]:
    return list(xml(site, path).iterfind("channel/item"))


def atom_entries(site: Site, path: str) -> list[etree._Element]:
    return list(xml(site, path).iterfind("atom:entry", NS))


def rss_item(site: Site, path: str, entry_id: str) -> etree._Element:
    (item,) = [i for i in items(site, path) if i.findtext("guid") == entry_id]
    return item


def atom_entry(site: Site, path: str, entry_id: str) -> etree._Element:
    (entry,) = [e for e in atom_entries(site, path) if e.findtext("atom:id", None, NS) == entry_id]
    return entry


def feed_ids(site: Site, path: str) -> list[str]:
    return [e.id for e in read(site, path).entries]


FEED_PATHS = ["/feed.rss", "/feed.atom", "/category/news.rss", "/category/news.atom"]


@pytest.fixture
def sample() -> list[Post]:
    """A small realistic site: several authors, images, categories, tags, unicode."""
    return [
        make_post(1, title="Exiles pursued & threatened", image=JPEG, tags=("belarus",)),
        make_post(
            2,
            title="Café culture in Minsk — «кафе»",
            author=NO_EMAIL,
            categories=("Culture", "Café"),
            tags=("minsk", "C++", "C#"),
            image=PNG_UNKNOWN_SIZE,
            lang="be",
        ),
        make_post(
            3,
            title="How we publish our feeds",
            author=None,
            categories=("Meta",),
            tags=("python", "feeds"),
            updated=datetime(2025, 6, 20, 8, 30, tzinfo=UTC),
            body='<pre><code class="language-python">print("&lt;hi&gt;")\n</code></pre>'
            "<table><tr><th>a</th></tr><tr><td>1</td></tr></table>",
        ),
        make_post(
            4,
            title="Election explainer",
            categories=("News", "Politics"),
            tags=("belarus", "Ελληνικά"),
            url=f"{SITE}explainer.html",
            entry_id=f"{SITE}explainer.html",
        ),
    ]


# -- documents -------------------------------------------------------------------------


def test_every_feed_kind_is_published_at_its_url(sample: list[Post], config: Config) -> None:
    site = build(sample, config)
    expected = {"/", "/feeds.opml", "/feed.rss", "/feed.atom", "/feed.json"}
    for kind, names in {
        "category": ["news", "culture", "cafe", "meta", "politics"],
        "tag": ["belarus", "minsk", "c", "python", "feeds", "ellenika"],
        "author": ["badely"],  # the `authors:` key of the posts' author
    }.items():
        expected |= {f"/{kind}/{name}.{ext}" for name in names for ext in ("rss", "atom", "json")}
    collided = {p for p in site.documents if p.startswith("/tag/c-")}
    assert len(collided) == 3  # C++ beside C#: its own slug, every format
    assert set(site.documents) == expected | collided


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/feed.rss", "application/rss+xml; charset=utf-8"),
        ("/tag/minsk.atom", "application/atom+xml; charset=utf-8"),
        ("/feeds.opml", "text/x-opml; charset=utf-8"),
        ("/", "text/html; charset=utf-8"),
    ],
)
def test_documents_have_media_type_and_strong_etag(
    sample: list[Post], config: Config, path: str, media_type: str
) -> None:
    doc = build(sample, config).documents[path]
    assert doc.media_type == media_type
    assert doc.etag == '"' + hashlib.sha256(doc.body).hexdigest()[:32] + '"'
    if path != "/":
        assert doc.body.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")


def test_rebuild_is_byte_identical_whatever_the_input_order_and_clock(
    sample: list[Post], config: Config
) -> None:
    first = build(sample, config)
    shuffled = list(sample)
    random.Random(3).shuffle(shuffled)
    second = build(shuffled, config, now=NOW + timedelta(days=30))
    assert first == second


def test_last_modified_is_the_newest_entry_change(sample: list[Post], config: Config) -> None:
    site = build(sample, config)
    # Post 3 was updated on June 20, after every other post's date.
    assert site.documents["/feed.rss"].last_modified == datetime(2025, 6, 20, 8, 30, tzinfo=UTC)
    assert site.documents["/category/news.atom"].last_modified == datetime(
        2025, 6, 4, 9, tzinfo=UTC
    )
    assert site.documents["/"].last_modified == datetime(2025, 6, 20, 8, 30, tzinfo=UTC)
    assert site.documents["/feeds.opml"].last_modified == datetime(2025, 6, 20, 8, 30, tzinfo=UTC)


# -- RSS 2.0 ---------------------------------------------------------------------------


def test_rss_channel(sample: list[Post], config: Config) -> None:
    site = build(sample, config)
    channel = xml(site, "/feed.rss").find("channel")
    assert channel is not None
    assert channel.findtext("title") == "Example News"
    assert channel.findtext("link") == SITE
    assert channel.findtext("description") == "News from Example"
    assert channel.findtext("language") == "en"
    (self_link,) = channel.findall("atom:link", NS)
    assert attrs(self_link) == {
        "href": f"{SITE}feed.rss",
        "rel": "self",
        "type": "application/rss+xml",
    }
    assert (
        channel.findtext("generator")
        == f"syndicate {__version__} (https://github.com/syndicate-feeds/syndicate)"
    )
    # The newest entry *change* (post 3's update), never the build time.
    assert channel.findtext("lastBuildDate") == "Fri, 20 Jun 2025 08:30:00 +0000"
    assert channel.findtext("pubDate") == "Wed, 04 Jun 2025 09:00:00 +0000"
    parsed = read(site, "/feed.rss")
    assert parsed.version == "rss20"
    assert parsed.feed.title == "Example News"


@pytest.mark.parametrize(
    ("path", "title", "self_url"),
    [
        ("/category/cafe.rss", "Example News — Category: Café", f"{SITE}category/cafe.rss"),
        ("/tag/ellenika.rss", "Example News — Tag: Ελληνικά", f"{SITE}tag/ellenika.rss"),
    ],
)
def test_rss_category_and_tag_channels(
    sample: list[Post], config: Config, path: str, title: str, self_url: str
) -> None:
    channel = xml(build(sample, config), path).find("channel")
    assert channel is not None
    assert channel.findtext("title") == title
    assert channel.findtext("link") == SITE
    assert channel.findtext("description")
    assert channel.find("atom:link[@rel='self']", NS).get("href") == self_url  # type: ignore[union-attr]


def test_rss_items_carry_what_readers_need(sample: list[Post], config: Config) -> None:
    site = build(sample, config)
    item = rss_item(site, "/feed.rss", "tag:example.org,2025-06-01:post-1")
    assert item.findtext("title") == "Exiles pursued & threatened"
    assert item.findtext("link") == f"{SITE}news/2025/06/01/post-1.html"
    assert item.find("guid").get("isPermaLink") == "false"  # type: ignore[union-attr]
    assert item.findtext("pubDate") == "Sun, 01 Jun 2025 09:00:00 +0000"
    assert (
        item.findtext("description") == "<p>Excerpt of <em>Exiles pursued &amp; threatened</em></p>"
    )
    content = item.findtext("content:encoded", None, NS)
    assert content is not None
    assert content.startswith("<h2>Exiles pursued &amp; threatened</h2><p>Body 1</p>")
    assert item.findtext("author") == "badely@example.org (Badely)"
    assert item.find("dc:creator", NS) is None
    assert [(c.text, c.get("domain")) for c in item.iterfind("category")] == [
        ("News", f"{SITE}category/"),
        ("belarus", f"{SITE}tag/"),
    ]


def test_rss_guid_is_a_permalink_only_when_the_id_is_the_url(
    sample: list[Post], config: Config
) -> None:
    site = build(sample, config)
    guid = rss_item(site, "/feed.rss", f"{SITE}explainer.html").find("guid")
    assert guid is not None
    assert guid.get("isPermaLink") == "true"
    entry = next(e for e in read(site, "/feed.rss").entries if e.id == f"{SITE}explainer.html")
    assert entry.link == f"{SITE}explainer.html"


def test_rss_author_without_email_is_dc_creator(sample: list[Post], config: Config) -> None:
    site = build(sample, config)
    item = rss_item(site, "/feed.rss", "tag:example.org,2025-06-02:post-2")
    assert item.find("author") is None
    assert item.findtext("dc:creator", None, NS) == "Ана Мельник"
    entry = read(site, "/feed.rss").entries[2]
    assert entry.author == "Ана Мельник"


def test_rss_post_without_author_and_site_without_author_has_none(
    sample: list[Post], config: Config
) -> None:
    item = rss_item(build(sample, config), "/feed.rss", "tag:example.org,2025-06-03:post-3")
    assert item.find("author") is None
    assert item.find("dc:creator", NS) is None


@pytest.mark.parametrize(
    ("entry_id", "url", "media_type", "length"),
    [
        ("tag:example.org,2025-06-01:post-1", JPEG.url, "image/jpeg", "48213"),
        # RSS 2.0 requires a length; "0" is the recommended value for "unknown".
        ("tag:example.org,2025-06-02:post-2", PNG_UNKNOWN_SIZE.url, "image/png", "0"),
    ],
)
def test_rss_image_is_an_enclosure_and_media_content(
    sample: list[Post], config: Config, entry_id: str, url: str, media_type: str, length: str
) -> None:
    site = build(sample, config)
    item = rss_item(site, "/feed.rss", entry_id)
    (enclosure,) = item.findall("enclosure")
    assert attrs(enclosure) == {"url": url, "length": length, "type": media_type}
    (media,) = item.findall("media:content", NS)  # not wrapped in a media:group
    assert media.get("url") == url
    assert media.get("medium") == "image"
    assert media.get("type") == media_type
    assert media.get("fileSize") == (None if length == "0" else length)
    entry = next(e for e in read(site, "/feed.rss").entries if e.id == entry_id)
    assert [e.href for e in entry.enclosures] == [url]


def test_rss_post_without_image_has_no_enclosure(sample: list[Post], config: Config) -> None:
    item = rss_item(build(sample, config), "/feed.rss", "tag:example.org,2025-06-03:post-3")
    assert item.find("enclosure") is None
    assert item.find("media:content", NS) is None


# -- Atom 1.0 --------------------------------------------------------------------------


def test_atom_feed_head(sample: list[Post], make_config: ConfigFactory) -> None:
    config = make_config(site={"author": {"name": "Desk", "email": "desk@example.org"}})
    site = build(sample, config)
    feed = xml(site, "/tag/belarus.atom")
    assert feed.tag == "{http://www.w3.org/2005/Atom}feed"
    assert feed.get(XML_LANG) == "en"
    assert feed.findtext("atom:id", None, NS) == f"{SITE}tag/belarus.atom"
    assert feed.findtext("atom:title", None, NS) == "Example News — Tag: belarus"
    assert feed.findtext("atom:subtitle", None, NS)
    assert feed.findtext("atom:updated", None, NS) == "2025-06-04T09:00:00+00:00"
    assert feed.findtext("atom:author/atom:name", None, NS) == "Desk"
    links = {
        (ln.get("rel"), ln.get("type")): ln.get("href") for ln in feed.iterfind("atom:link", NS)
    }
    assert links == {
        ("self", "application/atom+xml"): f"{SITE}tag/belarus.atom",
        ("alternate", "text/html"): SITE,
    }
    generator = feed.find("atom:generator", NS)
    assert generator is not None
    assert (generator.text, generator.get("version")) == ("syndicate", __version__)
    assert generator.get("uri")
    parsed = read(site, "/tag/belarus.atom")
    assert parsed.version == "atom10"
    assert parsed.feed.title == "Example News — Tag: belarus"


def test_atom_feed_author_defaults_to_the_site_title(sample: list[Post], config: Config) -> None:
    feed = xml(build(sample, config), "/feed.atom")
    assert [a.findtext("atom:name", None, NS) for a in feed.iterfind("atom:author", NS)] == [
        "Example News"
    ]


def test_atom_entries_carry_what_readers_need(sample: list[Post], config: Config) -> None:
    site = build(sample, config)
    entry = atom_entry(site, "/feed.atom", "tag:example.org,2025-06-03:post-3")
    assert entry.findtext("atom:title", None, NS) == "How we publish our feeds"
    assert entry.findtext("atom:published", None, NS) == "2025-06-03T09:00:00+00:00"
    assert entry.findtext("atom:updated", None, NS) == "2025-06-20T08:30:00+00:00"
    # Post without author, site without author: the feed-level author applies (RFC 4287 4.2.1).
    assert entry.find("atom:author", NS) is None
    summary = entry.find("atom:summary", NS)
    content = entry.find("atom:content", NS)
    assert summary is not None and content is not None
    assert summary.get("type") == "html"
    assert content.get("type") == "html"  # never feedgen's invalid "CDATA"
    assert '<pre><code class="language-python">' in (content.text or "")
    assert "<table>" in (content.text or "")
    assert [
        (c.get("term"), c.get("label"), c.get("scheme"))
        for c in entry.iterfind("atom:category", NS)
    ] == [
        ("Meta", "Meta", f"{SITE}category/"),
        ("python", "python", f"{SITE}tag/"),
        ("feeds", "feeds", f"{SITE}tag/"),
    ]
    (link,) = entry.findall("atom:link", NS)
    assert attrs(link) == {
        "href": f"{SITE}news/2025/06/03/post-3.html",
        "rel": "alternate",
        "type": "text/html",
    }
    parsed = next(
        e for e in read(site, "/feed.atom").entries if e.id == "tag:example.org,2025-06-03:post-3"
    )
    assert parsed.content[0].type == "text/html"
    assert parsed.content[0].value.startswith("<h2>How we publish our feeds</h2>")
    assert parsed.summary == "<p>Excerpt of <em>How we publish our feeds</em></p>"
    assert [t.term for t in parsed.tags] == ["Meta", "python", "feeds"]


def test_atom_entry_author_and_language(sample: list[Post], config: Config) -> None:
    site = build(sample, config)
    entry = atom_entry(site, "/feed.atom", "tag:example.org,2025-06-02:post-2")
    assert entry.get(XML_LANG) == "be"
    (author,) = entry.findall("atom:author", NS)
    assert author.findtext("atom:name", None, NS) == "Ана Мельник"
    assert author.find("atom:email", NS) is None
    entry = atom_entry(site, "/feed.atom", "tag:example.org,2025-06-01:post-1")
    assert entry.get(XML_LANG) is None
    assert entry.findtext("atom:author/atom:email", None, NS) == "badely@example.org"
    assert entry.findtext("atom:author/atom:uri", None, NS) == "https://example.org/about"


def test_atom_entry_author_falls_back_to_the_site_author(
    sample: list[Post], make_config: ConfigFactory
) -> None:
    config = make_config(site={"author": {"name": "Desk", "email": "desk@example.org"}})
    site = build(sample, config)
    entry = atom_entry(site, "/feed.atom", "tag:example.org,2025-06-03:post-3")
    assert entry.findtext("atom:author/atom:name", None, NS) == "Desk"
    assert rss_item(site, "/feed.rss", "tag:example.org,2025-06-03:post-3").findtext("author") == (
        "desk@example.org (Desk)"
    )


@pytest.mark.parametrize(
    ("entry_id", "url", "media_type", "length"),
    [
        ("tag:example.org,2025-06-01:post-1", JPEG.url, "image/jpeg", "48213"),
        ("tag:example.org,2025-06-02:post-2", PNG_UNKNOWN_SIZE.url, "image/png", None),
    ],
)
def test_atom_image_is_an_enclosure_link(
    sample: list[Post], config: Config, entry_id: str, url: str, media_type: str, length: str | None
) -> None:
    entry = atom_entry(build(sample, config), "/feed.atom", entry_id)
    (enclosure,) = entry.findall("atom:link[@rel='enclosure']", NS)
    assert enclosure.get("href") == url
    assert enclosure.get("type") == media_type
    assert enclosure.get("length") == length
    assert len(entry.findall("atom:link[@rel='alternate']", NS)) == 1
    assert entry.find("media:content", NS) is None  # Atom has its own enclosure link


# -- which posts, in which order -------------------------------------------------------


@pytest.mark.parametrize("path", FEED_PATHS)
def test_entries_are_newest_first(sample: list[Post], config: Config, path: str) -> None:
    dates = [e.published_parsed for e in read(build(sample, config), path).entries]
    assert dates == sorted(dates, reverse=True)
    assert len(dates) >= 2


def test_same_date_is_ordered_by_entry_id_whatever_the_input(config: Config) -> None:
    same = datetime(2025, 6, 5, 9, tzinfo=UTC)
    posts = [
        make_post(n, date=same, entry_id=f"tag:example.org,2025:{c}")
        for n, c in [(1, "b"), (2, "c"), (3, "a")]
    ]
    expected = ["tag:example.org,2025:a", "tag:example.org,2025:b", "tag:example.org,2025:c"]
    assert feed_ids(build(posts, config), "/feed.atom") == expected
    assert feed_ids(build(posts[::-1], config), "/feed.rss") == expected


@pytest.mark.parametrize("path", FEED_PATHS)
def test_limit_is_honoured_keeping_the_newest(make_config: ConfigFactory, path: str) -> None:
    config = make_config(feeds={"limit": 3})
    posts = [make_post(n) for n in range(1, 8)]
    ids = feed_ids(build(posts, config), path)
    assert ids == [f"tag:example.org,2025-06-{n:02d}:post-{n}" for n in (7, 6, 5)]


@pytest.mark.parametrize(
    "hidden",
    [
        {"published": False},
        {"date": NOW + timedelta(seconds=1)},
        {"date": datetime(2030, 1, 1, tzinfo=UTC)},
    ],
    ids=["unpublished", "one-second-in-the-future", "far-future"],
)
def test_unpublished_and_future_posts_are_in_no_feed(
    config: Config, hidden: dict[str, Any]
) -> None:
    shown = make_post(1, tags=("shared",))
    secret = make_post(2, categories=("Secret",), tags=("shared", "secret-tag"), **hidden)
    render = FakeRender()
    site, _ = build_site([shown, secret], config, NOW, Rendering(render))
    assert all(info.entry_ids == (shown.entry_id,) for info in site.feeds)
    assert [(f.kind, f.name) for f in site.feeds] == [
        ("site", None),
        ("category", "News"),
        ("tag", "shared"),
        ("author", "badely"),
    ]
    assert not any("secret" in path for path in site.documents)
    assert secret.entry_id not in render.calls
    for path in ("/feed.rss", "/tag/shared.atom"):
        assert feed_ids(site, path) == [shown.entry_id]


def test_a_post_dated_exactly_now_is_published(config: Config) -> None:
    site = build([make_post(1, date=NOW)], config)
    assert site.feeds[0].entry_count == 1


def test_category_and_tag_feeds_hold_exactly_their_posts(
    sample: list[Post], config: Config
) -> None:
    site = build(sample, config)
    by_path = {info.rss_path: info for info in site.feeds}
    expected = {
        "/feed.rss": [4, 3, 2, 1],
        "/category/news.rss": [4, 1],
        "/category/cafe.rss": [2],
        "/category/meta.rss": [3],
        "/tag/belarus.rss": [4, 1],
        "/tag/minsk.rss": [2],
        "/tag/python.rss": [3],
    }
    for path, numbers in expected.items():
        ids = [sample[n - 1].entry_id for n in numbers]
        assert list(by_path[path].entry_ids) == ids, path
        assert feed_ids(site, path) == ids, path
        assert feed_ids(site, by_path[path].atom_path) == ids, path


def test_feed_infos_are_site_then_categories_then_tags_then_authors_by_name(
    sample: list[Post], config: Config
) -> None:
    feeds = build(sample, config).feeds
    assert [(f.kind, f.name) for f in feeds] == [
        ("site", None),
        ("category", "Café"),
        ("category", "Culture"),
        ("category", "Meta"),
        ("category", "News"),
        ("category", "Politics"),
        ("tag", "belarus"),
        ("tag", "C#"),
        ("tag", "C++"),
        ("tag", "feeds"),
        ("tag", "minsk"),
        ("tag", "python"),
        ("tag", "Ελληνικά"),
        ("author", "badely"),
    ]
    site_info = feeds[0]
    assert site_info == FeedInfo(
        kind="site",
        name=None,
        slug=None,
        title="Example News",
        rss_path="/feed.rss",
        atom_path="/feed.atom",
        entry_count=4,
        updated=datetime(2025, 6, 20, 8, 30, tzinfo=UTC),
        entry_ids=tuple(p.entry_id for p in reversed(sample)),
    )


def test_colliding_tag_names_get_separate_feeds(sample: list[Post], config: Config) -> None:
    site = build(sample, config)
    by_name = {f.name: f for f in site.feeds if f.kind == "tag"}
    assert by_name["C#"].slug == "c"
    assert by_name["C++"].slug is not None and by_name["C++"].slug.startswith("c-")
    assert read(site, by_name["C++"].atom_path).feed.title == "Example News — Tag: C++"
    assert read(site, by_name["C#"].rss_path).feed.title == "Example News — Tag: C#"


def test_duplicate_entry_ids_are_published_once(config: Config) -> None:
    posts = [
        make_post(1, entry_id="tag:example.org,2025:same"),
        make_post(2, entry_id="tag:example.org,2025:same"),
    ]
    site = build(posts, config)
    assert feed_ids(site, "/feed.rss") == ["tag:example.org,2025:same"]
    assert read(site, "/feed.rss").entries[0].title == "Post 2"  # the newer one


# -- rendering -------------------------------------------------------------------------


@pytest.mark.parametrize("archives", ["none", "site"])
def test_each_post_is_rendered_once_however_many_feeds_it_is_in(
    make_config: ConfigFactory, archives: str
) -> None:
    config = make_config(feeds={"limit": 2, "archives": archives})
    posts = [
        make_post(n, categories=("News", "World"), tags=("a", "b", "c")) for n in range(1, 5)
    ] + [make_post(5, categories=("Old",), date=datetime(2020, 1, 1, tzinfo=UTC))]
    render = FakeRender()
    build_site(posts, config, NOW, Rendering(render))
    # Posts 4 and 3 fill every shared feed; post 5 is alone in "Old"; 1 and 2 are in no
    # live feed, only in the site feed's archive pages (when there are any).
    expected = Counter({posts[3].entry_id: 1, posts[2].entry_id: 1, posts[4].entry_id: 1})
    if archives == "site":
        expected.update([posts[0].entry_id, posts[1].entry_id])
    assert render.calls == expected


def test_entries_kept_between_builds_are_those_of_posts_still_in_a_feed(
    make_config: ConfigFactory,
) -> None:
    config = make_config(feeds={"limit": 2, "archives": "none"})
    posts = [make_post(n, tags=("a",)) for n in range(1, 4)]
    first = build_site(posts, config, NOW, Rendering(FakeRender()))
    assert first.plan is not None
    assert set(first.plan.entries) == {posts[2].entry_id, posts[1].entry_id}

    # Post 3 edited (a new object with the same entry id), post 4 added: post 2 drops
    # out of every feed, and post 3's old entry goes with its old version.
    edited = make_post(3, tags=("a",), title="Post 3, edited")
    newer = make_post(4, tags=("a",))
    render = FakeRender()
    second = build_site([*posts[:2], edited, newer], config, NOW, Rendering(render), previous=first)
    assert second.plan is not None
    kept = second.plan.entries
    assert set(kept) == {edited.entry_id, newer.entry_id}
    assert kept[edited.entry_id][0] is edited and kept[newer.entry_id][0] is newer
    assert render.calls == Counter({edited.entry_id: 1, newer.entry_id: 1})
    assert (
        second.site.documents == build([*posts[:2], edited, newer], config).documents
    )  # the same bytes as from scratch


def test_entries_kept_for_archives_are_those_of_the_newest_pages(
    make_config: ConfigFactory,
) -> None:
    """Archive pages (RFC 5005) hold every post: the entries of the newest page, which
    each new post changes, are kept; those of older pages are made again when their page
    changes."""
    config = make_config(feeds={"limit": 2, "archive_page_size": 3})
    # Two in May (a page that is not the newest), two in June.
    dates = [datetime(2025, 5, 2, tzinfo=UTC), datetime(2025, 5, 3, tzinfo=UTC)]
    posts = [make_post(n, date=d) for n, d in enumerate(dates, start=1)]
    posts += [make_post(n) for n in range(3, 5)]
    first = build_site(posts, config, NOW, Rendering(FakeRender()))
    assert first.plan is not None
    assert set(first.plan.entries) == {posts[3].entry_id, posts[2].entry_id}
    newer = make_post(5)
    render = FakeRender()
    second = build_site([*posts, newer], config, NOW, Rendering(render), previous=first)
    # The new post goes in June's page, which is the newest still: nothing else is made.
    assert render.calls == Counter({newer.entry_id: 1})
    assert second.plan is not None
    assert set(second.plan.entries) == {p.entry_id for p in posts[2:]} | {newer.entry_id}
    assert second.site.documents == build([*posts, newer], config).documents
    # An edit of a post of May's page makes that page again, with its other post.
    edited = dataclasses.replace(posts[0], title="Post 1, edited", digest="edited")
    render = FakeRender()
    build_site([edited, *posts[1:], newer], config, NOW, Rendering(render), previous=second)
    assert render.calls == Counter({edited.entry_id: 1, posts[1].entry_id: 1})


class Recorder:
    """An ``EntrySource`` and a ``DocumentSink`` that note what the build asks of them."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.render_post = FakeRender()

    def prepare(
        self, posts: Sequence[Post], config: Config, no_json: Collection[str] = frozenset()
    ) -> Iterator[Made]:
        for post in posts:
            self.events.append(f"render {post.entry_id}")
            yield self.render_post(post, config), None

    def render(self, post: Post, config: Config) -> Rendered:
        self.events.append(f"again {post.entry_id}")
        return self.render_post(post, config)

    def planned(self, url_paths: list[str]) -> None:
        self.events.append("planned " + " ".join(url_paths))

    def keep(self, url_path: str, document: Document) -> Document:
        self.events.append(f"keep {url_path}")
        return dataclasses.replace(document, body=b"kept: " + document.body)


def test_the_sink_hears_of_every_feed_first_then_keeps_each_document_as_made(
    config: Config,
) -> None:
    posts = [make_post(n, tags=(f"t{n % 2}",)) for n in range(1, 5)]
    recorder = Recorder()
    site, _ = build_site(posts, config, NOW, recorder, sink=recorder)
    plain = build(posts, config)
    feeds = [p for info in plain.feeds for p in info.paths]
    assert recorder.events[0] == "planned " + " ".join(feeds)
    kept = [e.removeprefix("keep ") for e in recorder.events if e.startswith("keep ")]
    assert kept == [*feeds, "/feeds.opml", "/"]
    # What the sink returns is what the Site holds.
    assert {p: d.body for p, d in site.documents.items()} == {
        p: b"kept: " + d.body for p, d in plain.documents.items()
    }
    # Each post prepared once, however many feeds it is in, and never rendered again.
    assert sorted(e for e in recorder.events if e.startswith(("render ", "again "))) == sorted(
        f"render {p.entry_id}" for p in posts
    )


def test_missing_summary_falls_back_to_content(config: Config) -> None:
    def render(post: Post, config: Config) -> Rendered:
        return Rendered(content_html="<p>All of it</p>", summary_html="")

    site, _ = build_site([make_post(1)], config, NOW, Rendering(render))
    assert items(site, "/feed.rss")[0].findtext("description") == "<p>All of it</p>"
    assert read(site, "/feed.atom").entries[0].summary == "<p>All of it</p>"


def test_a_feed_is_named_by_one_url_in_every_document(make_config: ConfigFactory) -> None:
    """The feed's self link, the OPML's xmlUrl and the index page's links all give the
    URL ``absolute_url`` makes of the path ``feed_paths`` gives the feed."""
    config = make_config(site={"url": "https://example.org/news/"})
    site = build([make_post(1, categories=("World",), tags=("C#",))], config)
    opml = etree.fromstring(site.documents["/feeds.opml"].body)
    listed = {o.get("xmlUrl") for o in opml.iter("outline") if o.get("xmlUrl")}
    index = etree.fromstring(site.documents["/"].body, etree.HTMLParser())
    linked = {a.get("href") for a in index.iter("a", "link")}
    assert [(f.kind, f.slug) for f in site.feeds] == [
        ("site", None),
        ("category", "world"),
        ("tag", "c"),
        ("author", "badely"),
    ]
    for info in site.feeds:
        assert info.paths == documents.feed_paths(info.kind, info.slug)
        for path in (info.rss_path, info.atom_path):
            url = absolute_url(config.site.url, path)
            assert url == "https://example.org/news/" + path[1:]
            selves = [link.href for link in read(site, path).feed.links if link.rel == "self"]
            assert selves == [url]
            assert url in listed
            assert url in linked


# -- WebSub hubs -----------------------------------------------------------------------

HUBS = ("https://hub.example.com/", "https://websub.example.net/hub?a=1&b=2")


def feed_paths(site: Site) -> list[str]:
    return [p for p in site.documents if p.endswith((".rss", ".atom"))]


def hub_links(site: Site, path: str) -> list[str]:
    """The hrefs of the feed-level rel="hub" links, in document order, read with lxml."""
    root = xml(site, path)
    head = root.find("channel") if path.endswith(".rss") else root
    assert head is not None
    return [ln.get("href", "") for ln in head.iterfind("atom:link[@rel='hub']", NS)]


@pytest.mark.parametrize("count", [1, 2])
def test_every_feed_advertises_each_hub_once(
    sample: list[Post], make_config: ConfigFactory, count: int
) -> None:
    hubs = list(HUBS[:count])
    site = build(sample, make_config(websub={"hubs": hubs}))
    paths = feed_paths(site)
    assert len(paths) == 2 * len(site.feeds)
    for path in paths:
        assert hub_links(site, path) == hubs, path
        # What a subscriber sees (WebSub section 4): feedparser reads atom:link in RSS too.
        parsed = read(site, path)
        assert [ln.href for ln in parsed.feed.links if ln.rel == "hub"] == hubs, path


@pytest.mark.parametrize("path", ["/feed.rss", "/tag/belarus.rss"])
def test_hubs_leave_the_rss_channel_link_and_self_link_alone(
    sample: list[Post], make_config: ConfigFactory, path: str
) -> None:
    site = build(sample, make_config(websub={"hubs": list(HUBS)}))
    channel = xml(site, path).find("channel")
    assert channel is not None
    assert channel.findtext("link") == SITE
    links = [attrs(ln) for ln in channel.iterfind("atom:link", NS)]
    assert links == [
        {"href": SITE + path.lstrip("/"), "rel": "self", "type": "application/rss+xml"},
        *({"href": hub, "rel": "hub"} for hub in HUBS),
    ]
    # Hubs belong to the feed, not to its items.
    assert not any(item.findall("atom:link", NS) for item in items(site, path))


def test_hubs_sit_at_atom_feed_level_only(sample: list[Post], make_config: ConfigFactory) -> None:
    site = build(sample, make_config(websub={"hubs": list(HUBS)}))
    feed = xml(site, "/feed.atom")
    links = [(ln.get("rel"), ln.get("href")) for ln in feed.iterfind("atom:link", NS)]
    assert links == [
        ("self", f"{SITE}feed.atom"),
        *(("hub", hub) for hub in HUBS),
        ("alternate", SITE),
    ]
    assert not feed.findall("atom:entry/atom:link[@rel='hub']", NS)


def test_no_hubs_means_no_hub_links(sample: list[Post], config: Config) -> None:
    site = build(sample, config)
    for path in feed_paths(site):
        assert hub_links(site, path) == [], path
        assert b'rel="hub"' not in site.documents[path].body, path


def test_feeds_with_hubs_rebuild_byte_identical(
    sample: list[Post], make_config: ConfigFactory
) -> None:
    config = make_config(websub={"hubs": list(HUBS)})
    first = build(sample, config)
    assert build(list(reversed(sample)), config, now=NOW + timedelta(days=3)) == first


# -- empty site ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/feed.rss", "/feed.atom"])
def test_a_site_without_posts_still_has_valid_fixed_date_feeds(config: Config, path: str) -> None:
    site = build([], config)
    assert set(site.documents) == {"/", "/feeds.opml", "/feed.rss", "/feed.atom", "/feed.json"}
    assert read(site, path).entries == []
    fixed = datetime(2000, 1, 1, tzinfo=UTC)  # not 1970: the W3C validator calls that implausible
    assert site.documents[path].last_modified == fixed
    assert site.documents["/feeds.opml"].last_modified == fixed
    assert site.feeds[0].updated is None
    assert build([], config, now=NOW + timedelta(days=400)) == site


# -- OPML and index --------------------------------------------------------------------


def test_opml_lists_every_feed(sample: list[Post], config: Config) -> None:
    site = build(sample, config)
    opml = xml(site, "/feeds.opml")
    assert opml.tag == "opml" and opml.get("version") == "2.0"
    assert opml.findtext("head/title") == "Example News: feeds"
    assert opml.findtext("head/dateModified") == "Fri, 20 Jun 2025 08:30:00 +0000"
    outlines = {o.get("xmlUrl"): o for o in opml.iterfind(".//outline[@xmlUrl]")}
    expected = {SITE + p.lstrip("/") for f in site.feeds for p in f.paths}
    assert set(outlines) == expected
    for info in site.feeds:
        for path in info.paths:
            outline = outlines[SITE + path.lstrip("/")]
            assert outline.get("type") == "rss"  # OPML 2.0: a subscription, whatever the format
            assert outline.get("title") == info.title
            assert (outline.get("text") or "").startswith(info.title)
            assert outline.get("htmlUrl") == SITE
    # Folder outlines carry only text (anything more needs a type in OPML 2.0).
    assert [attrs(o) for o in opml.iterfind("body/outline") if o.get("xmlUrl") is None] == [
        {"text": "Categories"},
        {"text": "Tags"},
        {"text": "Authors"},
    ]


def test_index_has_autodiscovery_links_for_every_feed(sample: list[Post], config: Config) -> None:
    site = build(sample, config)
    body = site.documents["/"].body
    assert body.startswith(b"<!DOCTYPE html>")
    page = etree.fromstring(body, etree.HTMLParser())
    assert page.get("lang") == "en"
    assert page.find("head/meta[@charset]") is not None
    found = {
        (ln.get("type"), ln.get("href"), ln.get("title"))
        for ln in page.iterfind("head/link[@rel='alternate']")
    }
    expected = set()
    for info in site.feeds:
        expected.add(
            ("application/rss+xml", SITE + info.rss_path.lstrip("/"), f"{info.title} (RSS)")
        )
        expected.add(
            ("application/atom+xml", SITE + info.atom_path.lstrip("/"), f"{info.title} (Atom)")
        )
        expected.add(
            (
                "application/feed+json",
                SITE + info.json_path.lstrip("/"),
                f"{info.title} (JSON Feed)",
            )
        )
    assert found == expected
    hrefs = {a.get("href") for a in page.iterfind(".//body//a")}
    assert {h for (_, h, _) in expected} <= hrefs
    assert f"{SITE}feeds.opml" in hrefs


def test_index_escapes_names(make_config: ConfigFactory) -> None:
    config = make_config(site={"title": "News <script>alert(1)</script> & Co"})
    site = build([make_post(1, tags=('"><img src=x onerror=alert(1)>',))], config)
    body = site.documents["/"].body.decode()
    # The page's own script (the copy buttons) is the only one.
    assert "<script>alert(1)" not in body
    assert body.count("<script>") == 1
    assert "<img" not in body
    assert "News &lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in body


def test_index_lists_entry_counts_and_dates(sample: list[Post], config: Config) -> None:
    page = etree.fromstring(build(sample, config).documents["/"].body, etree.HTMLParser())
    rows = page.findall(".//tbody/tr")
    first = [td.xpath("string()") for td in rows[0].findall("td")]
    assert first[0] == "Example News"
    assert first[2] == "4"
    assert rows[0].find(".//time").get("datetime") == "2025-06-20T08:30:00Z"  # type: ignore[union-attr]


def test_render_order_follows_the_feeds_not_the_input(config: Config) -> None:
    calls: list[str] = []

    def render(post: Post, config: Config) -> Rendered:
        calls.append(post.entry_id)
        return Rendered("<p>x</p>", "<p>y</p>")

    posts = [make_post(n, tags=(f"t{n % 2}",)) for n in range(1, 6)]
    build_site(posts, config, NOW, Rendering(render))
    first = list(calls)
    calls.clear()
    build_site(posts[::-1], config, NOW, Rendering(render))
    assert calls == first  # rendering order does not follow the input order


@pytest.mark.parametrize(
    ("settings", "ttl", "period", "frequency"),
    [
        ({}, "5", "hourly", "12"),  # serve.cache_max_age 300 s
        ({"serve": {"cache_max_age": 90}}, "2", "hourly", "30"),  # minutes rounded up
        ({"serve": {"cache_max_age": 7200}}, "120", "daily", "12"),
        ({"feeds": {"ttl": 1440}, "serve": {"cache_max_age": 60}}, "1440", "daily", "1"),
        ({"feeds": {"ttl": 20160}}, "20160", "monthly", "1"),
    ],
)
def test_rss_says_how_often_to_poll(
    make_config: ConfigFactory,
    posts_dir: Path,
    settings: dict[str, Any],
    ttl: str,
    period: str,
    frequency: str,
) -> None:
    """Polite polling (RSS <ttl> and the syndication module), from feeds.ttl or
    serve.cache_max_age; Atom has no such element."""
    (posts_dir / "2024-01-02-a.md").write_text(
        "---\ntitle: A\ndate: 2024-01-02 10:00:00\n---\nText.\n", encoding="utf-8"
    )
    config = make_config(**settings)
    site = build_site(load_posts(config)[0], config, NOW).site
    rss = etree.fromstring(site.documents["/feed.rss"].body).find("channel")
    assert rss is not None
    sy = "{http://purl.org/rss/1.0/modules/syndication/}"
    assert (rss.findtext("ttl"), rss.findtext(f"{sy}updatePeriod")) == (ttl, period)
    assert rss.findtext(f"{sy}updateFrequency") == frequency
    parsed = feedparser.parse(site.documents["/feed.rss"].body)
    assert not parsed.bozo and parsed.feed.ttl == ttl
    assert b"ttl" not in site.documents["/feed.atom"].body


def test_feeds_ttl_must_be_positive(make_config: ConfigFactory) -> None:
    with pytest.raises(ConfigError, match=r"feeds\.ttl: expected a positive number of minutes"):
        make_config(feeds={"ttl": 0})


@pytest.mark.parametrize(
    ("settings", "front", "summary_only"),
    [
        ({}, "", False),
        ({}, "excerpt_only: true\n", True),  # jekyll-feed's per-post key
        ({"feeds": {"content": "summary"}}, "", True),
        ({"feeds": {"content": "summary"}}, "excerpt_only: false\n", True),
    ],
)
def test_summary_only_entries_carry_the_summary_and_the_link(
    make_config: ConfigFactory,
    posts_dir: Path,
    settings: dict[str, Any],
    front: str,
    summary_only: bool,
) -> None:
    """feeds.content: summary, or a post's excerpt_only: true: every format gives the
    summary and the link, and none the body."""
    (posts_dir / "2024-01-02-a.md").write_text(
        f"---\ntitle: A\ndate: 2024-01-02 10:00:00\n{front}---\n"
        "First paragraph, the summary.\n\nSecond paragraph, only in the full post.\n",
        encoding="utf-8",
    )
    config = make_config(**settings)
    site = build_site(load_posts(config)[0], config, NOW).site
    rss = feedparser.parse(site.documents["/feed.rss"].body).entries[0]
    atom = feedparser.parse(site.documents["/feed.atom"].body).entries[0]
    item = json.loads(site.documents["/feed.json"].body)["items"][0]
    for entry in (rss, atom):
        assert "First paragraph, the summary." in entry.summary
        assert entry.link == item["url"]
        assert ("content" in entry) is not summary_only
    assert ("Second paragraph" in item["content_html"]) is not summary_only
    assert "First paragraph, the summary." in item["content_html"]


def test_feeds_content_is_full_or_summary(make_config: ConfigFactory) -> None:
    with pytest.raises(ConfigError, match=r"feeds\.content: expected full or summary"):
        make_config(feeds={"content": "excerpt"})
