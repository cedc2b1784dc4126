"""render_feed splices each entry's cached bytes into feedgen's channel: the bytes must be
exactly those feedgen writes when every entry is added to the FeedGenerator.

``reference_feed`` is render_feed as it was before the splice (a FeedGenerator,
``add_entry`` of fresh feedgen entries, ``rss_str()`` / ``atom_str()``); every test
compares the two byte for byte, then reads the result with feedparser and lxml.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import feedparser
import pytest
from feedgen.entry import FeedEntry
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from syndicate.config import Author, Config, SiteConfig, WebSubConfig
from syndicate.feeds._entry import entry_change, make_entry
from syndicate.feeds._feedgen import (
    FeedMeta,
    Format,
    _new_feed,
    rss_char_refs,
)
from syndicate.feeds._formats import render_feed
from syndicate.feeds._prepared import PreparedEntry, prepare_entry, serialise_entries
from syndicate.posts import Image, Post, Rendered

from .test_feeds import NS, SITE, XML_LANG

DECLARATION = b"<?xml version='1.0' encoding='UTF-8'?>\n"
FORMATS: tuple[Format, ...] = ("rss", "atom")
BADELY = Author("Badely", "badely@example.org", "https://example.org/about")
NO_EMAIL = Author("Ана Мельник")
HUBS = ("https://hub.example.com/", "https://pubsubhubbub.example.net/hub?a=1&b=2")


# -- the reference: render_feed before the splice ----------------------------------------


def reference_feed(meta: FeedMeta, entries: Sequence[Any], config: Config, fmt: Format) -> bytes:
    """What render_feed must equal: feedgen writes the same channel (``_new_feed``) and
    then every entry itself, with nothing spliced."""
    feed = _new_feed(meta, config, fmt)
    for entry in entries:
        feed.add_entry(entry, order="append")
    body: bytes = feed.rss_str() if fmt == "rss" else feed.atom_str()
    return with_char_refs(body) if fmt == "rss" else body


def with_char_refs(body: bytes) -> bytes:
    """feedgen's whole RSS feed with its plain text's & and < as hexadecimal character
    references (issue 18): in the channel's texts, and in each item's but its HTML."""
    start, end = body.find(b"<item>"), body.rfind(b"</item>") + len(b"</item>")
    if start < 0:
        return rss_char_refs(body, frozenset())
    items = re.sub(
        rb"<item>.*?</item>",
        lambda found: rss_char_refs(found.group(), frozenset((b"description", b"encoded"))),
        body[start:end],
        flags=re.DOTALL,
    )
    channel = rss_char_refs(body[:start] + b"\0" + body[end:], frozenset())
    head, tail = channel.split(b"\0")
    return head + items + tail


# -- inputs ---------------------------------------------------------------------------------


def make_config(
    *,
    hubs: tuple[str, ...] = (),
    language: str | None = "en",
    author: Author | None = BADELY,
    title: str = "Example News",
) -> Config:
    site = SiteConfig(title=title, url=SITE, description="News", language=language, author=author)
    return Config(site=site, websub=WebSubConfig(hubs=hubs))


def make_post(n: int, **overrides: Any) -> Post:
    values: dict[str, Any] = {
        "source": Path(f"/posts/post-{n}.md"),
        "relpath": f"post-{n}.md",
        "digest": hashlib.sha256(str(n).encode()).hexdigest(),
        "title": f"Post {n}",
        "date": datetime(2025, 6, 1, 9, 0, tzinfo=UTC) + timedelta(days=n),
        "updated": None,
        "author": BADELY,
        "categories": ("News",),
        "tags": (),
        "url": f"{SITE}news/post-{n}.html",
        "entry_id": f"tag:example.org,2025:post-{n}",
        "image": None,
        "lang": None,
        "body": "",
        "excerpt": None,
        "is_html": True,
        "published": True,
    }
    values.update(overrides)
    return Post(**values)


def rendered(n: int, content: str | None = None, summary: str | None = None) -> Rendered:
    return Rendered(
        content_html=f"<h2>Post {n}</h2><p>Body {n}</p>" if content is None else content,
        summary_html=f"<p>Excerpt {n}</p>" if summary is None else summary,
    )


Item = tuple[Post, Rendered]

VARIED: list[Item] = [
    (make_post(1), rendered(1)),
    (
        make_post(
            2,
            title="Café culture in Minsk — «кафе» & <friends> ]]> done",
            author=NO_EMAIL,
            categories=("Culture", "Café"),
            tags=("minsk", "C++", "C#", "a&b", "<tag>"),
            image=Image(f"{SITE}assets/b.png?x=1&y=2", "image/png", None),
            lang="be",
        ),
        rendered(
            2,
            "<p>Tom &amp; Jerry &lt;3 \"quotes\" 'apos' ]]&gt; ]]> &#x1F600; 😀</p>\n"
            "<pre>line\r\nnext\tcol</pre><![CDATA[not really]]>",
            "<p>Ελληνικά — 日本語 — עברית</p>",
        ),
    ),
    (
        make_post(
            3,
            title="",  # no title: the URL stands in
            author=None,
            categories=(),
            tags=("python", "feeds"),
            updated=datetime(2025, 7, 20, 8, 30, tzinfo=UTC),
            image=Image(f"{SITE}assets/a.jpg", "image/jpeg", 48213),
            lang="en-GB",
        ),
        rendered(3, summary=""),  # no summary: the content stands in
    ),
    (
        make_post(
            4,
            title="Election explainer",
            categories=("News", "Politics"),
            tags=("belarus", "Ελληνικά"),
            url=f"{SITE}explainer.html",
            entry_id=f"{SITE}explainer.html",  # the guid is a permalink
            author=Author("Jo", "jo@example.org"),
            date=datetime(2025, 6, 4, 9, 0, tzinfo=timezone(timedelta(hours=3))),
        ),
        rendered(4),
    ),
    (
        make_post(5, author=Author("No Mail", None, "https://example.org/nm"), lang=""),
        rendered(5, "x" * 5000, "y"),
    ),
]


def meta_for(items: Sequence[Item], name: str = "feed") -> FeedMeta:
    posts = [post for post, _ in items]
    return FeedMeta(
        title=f"Example News — {name} & <more>",
        description=f"Posts in “{name}”",
        rss_url=f"{SITE}{name}.rss",
        atom_url=f"{SITE}{name}.atom",
        updated=max((entry_change(p) for p in posts), default=datetime(2000, 1, 1, tzinfo=UTC)),
        published=max((p.date for p in posts), default=None),
    )


def fresh(items: Sequence[Item], config: Config) -> list[FeedEntry]:
    return [make_entry(post, r, config) for post, r in items]


def check(meta: FeedMeta, items: Sequence[Item], config: Config, fmt: Format) -> bytes:
    """render_feed with fresh entries; the reference with other fresh entries; equal."""
    body = render_feed(meta, fresh(items, config), config, fmt)
    expected = reference_feed(meta, fresh(items, config), config, fmt)
    assert body == expected
    return body


def assert_readable(body: bytes, items: Sequence[Item], config: Config, fmt: Format) -> None:
    """feedparser and lxml both see every entry, in order, with its namespaces resolved."""
    assert body.startswith(DECLARATION)
    assert b"syndicate-entries" not in body  # the slot marker never leaks
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert [e.id for e in parsed.entries] == [post.entry_id for post, _ in items]
    root = etree.fromstring(body)
    if fmt == "rss":
        elements = root.findall("channel/item")
        assert [el.findtext("guid") for el in elements] == [p.entry_id for p, _ in items]
        for element, (post, r) in zip(elements, items, strict=True):
            if r.summary_html:  # else the content is the description
                # An empty body is left out, not written empty (issue 18, case 4).
                assert element.findtext("content:encoded", None, NS) == (r.content_html or None)
            creator = element.findtext("dc:creator", None, NS)
            author = post.author or config.site.author
            assert creator == (None if author is None or author.email else author.name)
            assert (element.find("media:content", NS) is not None) == (post.image is not None)
        # The channel's own elements come first, the items last.
        channel = root.find("channel")
        assert channel is not None
        tags = [child.tag for child in channel]
        assert tags[len(tags) - len(elements) :] == ["item"] * len(elements)
    else:
        elements = root.findall("atom:entry", NS)
        assert [el.findtext("atom:id", None, NS) for el in elements] == [
            p.entry_id for p, _ in items
        ]
        for element, (post, r) in zip(elements, items, strict=True):
            assert element.findtext("atom:content", None, NS) == (r.content_html or None)
            assert element.get(XML_LANG) == (post.lang or None)
    for element in elements:  # no namespace declaration was left on a spliced entry
        parent = element.getparent()
        assert parent is not None and element.nsmap == parent.nsmap


# -- tests ----------------------------------------------------------------------------------

CONFIGS = {
    "plain": make_config(),
    "hubs": make_config(hubs=HUBS),
    "one-hub-no-language": make_config(hubs=HUBS[:1], language=None),
    "author-without-email": make_config(author=NO_EMAIL, language="be"),
    "no-author": make_config(author=None, language=None, title="Ex & <Co> «новини»"),
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("config_name", CONFIGS)
def test_varied_entries_are_byte_identical(config_name: str, fmt: Format) -> None:
    config = CONFIGS[config_name]
    body = check(meta_for(VARIED), VARIED, config, fmt)
    assert_readable(body, VARIED, config, fmt)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("config_name", CONFIGS)
def test_empty_feed_is_byte_identical(config_name: str, fmt: Format) -> None:
    config = CONFIGS[config_name]
    body = check(meta_for([]), [], config, fmt)
    assert_readable(body, [], config, fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_one_entry_feed_and_entry_twice(fmt: Format) -> None:
    config = make_config(hubs=HUBS)
    check(meta_for(VARIED[1:2]), VARIED[1:2], config, fmt)
    (entry,) = fresh(VARIED[1:2], config)
    (again,) = fresh(VARIED[1:2], config)
    meta = meta_for(VARIED[1:2])
    body = render_feed(meta, [entry, entry], config, fmt)
    assert body == reference_feed(meta, [again, again], config, fmt)


@pytest.mark.parametrize("reverse", [False, True], ids=["a-then-b", "b-then-a"])
def test_entries_shared_by_feeds_are_identical_in_each(reverse: bool) -> None:
    """One entry object in several feeds, formats and configs, in either order."""
    check_shared(fresh(VARIED, make_config(hubs=HUBS)), reverse)


def check_shared(entries: Sequence[Any], reverse: bool) -> None:
    """VARIED's entries, made with ``make_config(hubs=HUBS)``, each in several feeds,
    formats and configs, twice, in either order: the bytes feedgen writes, every time."""
    config = make_config(hubs=HUBS)
    other = make_config(language=None, author=NO_EMAIL)  # another Atom root: xml:lang
    feeds: list[tuple[str, list[int]]] = [("a", [0, 1, 2, 3]), ("b", [3, 1, 4]), ("c", [2])]
    if reverse:
        feeds.reverse()
    for _round in range(2):  # the second round is served from the cache
        for fmt in FORMATS if not reverse else FORMATS[::-1]:
            for cfg in (config, other):
                for name, picks in feeds:
                    items = [VARIED[i] for i in picks]
                    meta = meta_for(items, name)
                    body = render_feed(meta, [entries[i] for i in picks], cfg, fmt)
                    assert body == reference_feed(meta, fresh(items, config), cfg, fmt)
                    assert_readable(body, items, config, fmt)  # entries from config


def test_rss_and_atom_of_one_entry_do_not_mix() -> None:
    config = make_config()
    entries = fresh(VARIED, config)
    meta = meta_for(VARIED)
    rss = render_feed(meta, entries, config, "rss")
    atom = render_feed(meta, entries, config, "atom")
    assert rss == reference_feed(meta, fresh(VARIED, config), config, "rss")
    assert atom == reference_feed(meta, fresh(VARIED, config), config, "atom")
    assert render_feed(meta, entries, config, "rss") == rss


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_plain_feedgen_entry_is_rendered_as_add_entry_would(fmt: Format) -> None:
    """Not from make_entry: loads the extensions as add_entry() does, then splices."""

    def plain() -> FeedEntry:
        entry = FeedEntry()
        entry.id("urn:x:1")
        entry.title("Plain & <simple>")
        entry.link(href=f"{SITE}plain.html")
        entry.content("<p>plain</p>", type="CDATA")  # RSS content:encoded as CDATA
        entry.description("a ]]> b")
        entry.updated(datetime(2025, 1, 1, tzinfo=UTC))
        return entry

    config = make_config(hubs=HUBS)
    meta = meta_for([])
    mixed = fresh(VARIED[:2], config)
    body = render_feed(meta, [plain(), mixed[0], plain(), mixed[1]], config, fmt)
    expected = [plain(), *fresh(VARIED[:1], config), plain(), *fresh(VARIED[1:2], config)]
    assert body == reference_feed(meta, expected, config, fmt)


def test_entry_elements_are_fresh_on_every_call() -> None:
    """rss_entry / atom_entry hand out a new element each time, as feedgen's do."""
    config = make_config()
    (entry,) = fresh(VARIED[1:2], config)
    assert entry.rss_entry() is not entry.rss_entry()
    first, second = entry.atom_entry(), entry.atom_entry()
    assert first is not second
    assert etree.tostring(first) == etree.tostring(second)
    assert first.get(XML_LANG) == "be"
    assert [link.get("rel") for link in first.iterfind("link")] == ["alternate", "enclosure"]


def prepared(items: Sequence[Item], config: Config, deflated: bool = True) -> list[PreparedEntry]:
    """Entries serialised ahead, as the worker processes of a cold build make them
    (deflated for a service, as they are for a one-shot build); made again (for a context
    not foreseen) from the post's HTML, as a cold build would."""
    ahead = serialise_entries(items, config, deflated=deflated)
    return [
        prepare_entry(post, None, config, functools.partial(_as_given, r), s)
        for (post, r), s in zip(items, ahead, strict=True)
    ]


def _as_given(rendered: Rendered) -> Rendered:
    return rendered


@pytest.mark.parametrize("deflated", [True, False])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("config_name", CONFIGS)
def test_entries_serialised_ahead_are_spliced_byte_identical(
    config_name: str, fmt: Format, deflated: bool
) -> None:
    config = CONFIGS[config_name]
    entries = prepared(VARIED, config, deflated)
    for name, picks in (("a", [0, 1, 2, 3, 4]), ("b", [4, 1]), ("c", [])):
        items = [VARIED[i] for i in picks]
        meta = meta_for(items, name)
        body = render_feed(meta, [entries[i] for i in picks], config, fmt)
        assert body == reference_feed(meta, fresh(items, config), config, fmt)
        assert_readable(body, items, config, fmt)
    # Every feed of the config shares the context they were made for: nothing was
    # built here, the bytes were spliced as they came.
    assert all(entry._packed is None and len(entry._bytes) == 3 for entry in entries)  # + JSON


@pytest.mark.parametrize("fmt", FORMATS)
def test_entries_serialised_for_another_context_are_made_again(fmt: Format) -> None:
    """Bytes made for another root (Atom xml:lang, another config) are never spliced."""
    config = make_config(hubs=HUBS)
    other = make_config(language=None, author=NO_EMAIL)
    calls: list[int] = []

    def again(index: int) -> Rendered:
        calls.append(index)
        return VARIED[index][1]

    ahead = serialise_entries(VARIED, other, deflated=fmt == "rss")
    entries = [
        prepare_entry(post, None, other, functools.partial(again, index), s)
        for index, ((post, _), s) in enumerate(zip(VARIED, ahead, strict=True))
    ]
    meta = meta_for(VARIED)
    body = render_feed(meta, entries, config, fmt)
    assert body == reference_feed(meta, fresh(VARIED, other), config, fmt)
    # Another xml:lang on the Atom feed: another context, each entry made again; the
    # RSS root is the same in both configs.
    assert sorted(calls) == (list(range(len(VARIED))) if fmt == "atom" else [])
    assert render_feed(meta, entries, other, fmt) == reference_feed(
        meta, fresh(VARIED, other), other, fmt
    )
    assert all(entry._packed is None for entry in entries)


@pytest.mark.parametrize("reverse", [False, True], ids=["a-then-b", "b-then-a"])
def test_entries_serialised_ahead_shared_by_feeds_and_configs(reverse: bool) -> None:
    check_shared(prepared(VARIED, make_config(hubs=HUBS)), reverse)


# -- generated text ---------------------------------------------------------------------------


def _xml_char(c: str) -> bool:
    o = ord(c)
    return o in (0x9, 0xA, 0xD) or 0x20 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD or o >= 0x10000


xml_text = st.text(st.characters(exclude_categories=["Cs"]).filter(_xml_char), max_size=40)
markup = st.lists(
    st.one_of(xml_text, st.sampled_from(["&", "<", ">", "]]>", "&amp;", "<p>", '"', "'", "\r"])),
    max_size=8,
).map("".join)
names = st.lists(xml_text.filter(lambda s: s.strip() != ""), max_size=3, unique=True).map(tuple)
authors = st.one_of(
    st.none(),
    st.builds(
        Author,
        xml_text.filter(lambda s: s.strip() != ""),
        st.one_of(st.none(), st.just("a@example.org")),
        st.one_of(st.none(), st.just(f"{SITE}about")),
    ),
)
images = st.one_of(
    st.none(),
    st.builds(
        Image,
        st.just(f"{SITE}i.jpg"),
        st.sampled_from(["image/jpeg", "image/png"]),
        st.one_of(st.none(), st.integers(0, 10**9)),
    ),
)


@st.composite
def items_strategy(draw: st.DrawFn) -> list[Item]:
    count = draw(st.integers(0, 4))
    out: list[Item] = []
    for n in range(count):
        post = make_post(
            n,
            title=draw(xml_text),
            author=draw(authors),
            categories=draw(names),
            tags=draw(names),
            image=draw(images),
            lang=draw(st.sampled_from([None, "", "be", "en-GB", "x-<&>"])),
            updated=draw(st.one_of(st.none(), st.just(datetime(2026, 1, 1, tzinfo=UTC)))),
        )
        out.append((post, Rendered(content_html=draw(markup), summary_html=draw(markup))))
    return out


@settings(max_examples=60, deadline=None)
@given(
    items=items_strategy(),
    hubs=st.sampled_from([(), HUBS[:1], HUBS]),
    language=st.sampled_from([None, "en", "be-tarask"]),
    site_author=authors,
    feed_title=xml_text.filter(lambda s: s.strip() != ""),
)
def test_generated_feeds_are_byte_identical(
    items: list[Item],
    hubs: tuple[str, ...],
    language: str | None,
    site_author: Author | None,
    feed_title: str,
) -> None:
    config = make_config(hubs=hubs, language=language, author=site_author)
    meta = dataclasses.replace(meta_for(items), title=feed_title, description=feed_title)
    entries = fresh(items, config)
    for fmt in FORMATS:
        body = render_feed(meta, entries, config, fmt)
        assert body == reference_feed(meta, fresh(items, config), config, fmt)
        assert_readable(body, items, config, fmt)
        # Again, from the cache, in another feed holding the entries in reverse.
        flipped = dataclasses.replace(meta, rss_url=f"{SITE}other.rss")
        body = render_feed(flipped, entries[::-1], config, fmt)
        assert body == reference_feed(flipped, fresh(items[::-1], config), config, fmt)
        # And from entries serialised ahead (a cold build's worker processes).
        body = render_feed(meta, prepared(items, config), config, fmt)
        assert body == reference_feed(meta, fresh(items, config), config, fmt)
