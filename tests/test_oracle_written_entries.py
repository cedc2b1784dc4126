"""Entries written directly (``_entry_bytes``): byte for byte what feedgen writes.

feedgen is the oracle: ``make_entry``'s ``FeedEntry``, its ``rss_entry()`` /
``atom_entry()`` serialised in the feed's own context (``_Context.serialise``), as
``render_feed`` splices a feedgen entry; and lxml for the escaping of every character.
The last tests show the comparison tells apart the small differences a direct writer
could get wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from syndicate.config import Author, Config
from syndicate.feeds import _entry, _prepared
from syndicate.feeds._entry import (
    _attr,
    _entry_bytes,
    _Escaper,
    _Html,
    _plain,
    _text,
    make_entry,
)
from syndicate.feeds._feedgen import Format, _Context, rss_char_refs
from syndicate.feeds._formats import render_feed
from syndicate.feeds._prepared import _reference_contexts, serialise_entries
from syndicate.posts import Image, Post, Rendered

from .test_feeds import SITE
from .test_oracle_spliced_feeds import (
    BADELY,
    CONFIGS,
    FORMATS,
    HUBS,
    NO_EMAIL,
    VARIED,
    Item,
    fresh,
    make_config,
    make_post,
    meta_for,
    reference_feed,
)

Outcome = tuple[str, bytes | str]  # ("bytes", the entry's bytes) or ("error", its type)


def feedgen_bytes(
    post: Post, rendered: Rendered, config: Config, fmt: Format, ctx: _Context
) -> bytes:
    """The oracle: feedgen's element for make_entry's entry, serialised in the context."""
    entry = make_entry(post, rendered, config)
    return ctx.serialise(entry.rss_entry() if fmt == "rss" else entry.atom_entry())


def outcome(make: Callable[..., bytes], *args: Any) -> Outcome:
    try:
        return ("bytes", make(*args))
    except (ValueError, TypeError, UnicodeError) as exc:  # what lxml and feedgen raise
        return ("error", type(exc).__name__)


def assert_same_entries(items: list[Item], config: Config) -> None:
    """Each item in each format: the direct bytes, feedgen's, and serialise_entries'."""
    contexts = _reference_contexts(config)
    built = True
    for post, rendered in items:
        for fmt, ctx in contexts:
            expected = outcome(feedgen_bytes, post, rendered, config, fmt, ctx)
            got = outcome(_entry_bytes, post, _Html(rendered), config, fmt, ctx)
            assert got == expected, (fmt, post, rendered)
            built = built and got[0] == "bytes"
    if built:
        ahead = serialise_entries(items, config)
        for (post, rendered), serialised in zip(items, ahead, strict=True):
            parts = _prepared._inflate(serialised)
            for fmt, ctx in contexts:
                assert parts[ctx.key] == feedgen_bytes(post, rendered, config, fmt, ctx)


# -- the hand-picked posts of the splice tests -------------------------------------------------


@pytest.mark.parametrize("config_name", CONFIGS)
def test_varied_entries_are_feedgen_bytes(config_name: str) -> None:
    assert_same_entries(VARIED, CONFIGS[config_name])


def _valid(c: int) -> bool:
    return c in (0x9, 0xA, 0xD) or 0x20 <= c <= 0xD7FF or 0xE000 <= c <= 0xFFFD or c >= 0x10000


def test_every_character_is_escaped_as_lxml_escapes_it() -> None:
    """Every character XML can hold, in a text and in an attribute value."""
    every = "".join(chr(c) for c in range(0x110000) if _valid(c))
    element = etree.Element("a", b=every)
    element.text = every
    expected = etree.tostring(element, encoding="UTF-8")
    assert expected == b'<a b="' + _attr(every) + b'">' + _text(every) + b"</a>"


def test_rss_plain_text_is_lxmls_with_character_references() -> None:
    """RSS plain text (issue 18): & and < as &#x26; and &#x3C;, the same text once parsed;
    an item's HTML keeps lxml's escaping."""
    every = "".join(chr(c) for c in range(0x110000) if _valid(c)) + "&amp; &lt;p&gt; ]]>"
    item = etree.Element("item")
    for tag in (
        "title",
        "description",
        "category",
        "{http://purl.org/rss/1.0/modules/content/}encoded",
    ):
        etree.SubElement(item, tag, domain="a&<b/").text = every
    expected = rss_char_refs(
        etree.tostring(item, encoding="UTF-8"), frozenset((b"description", b"encoded"))
    )
    texts = [_plain(every), _text(every), _plain(every), _text(every)]
    assert b"&amp;" not in texts[0] and b"&lt;" not in texts[0]
    assert expected.count(b"&#x26;") == 2 * every.count("&")  # title, category; not attributes
    parsed = etree.fromstring(expected)
    assert [child.text for child in parsed] == [every] * 4
    assert [child.get("domain") for child in parsed] == ["a&<b/"] * 4
    assert (
        b"<item>"
        + b"".join(
            b"<" + tag + b' domain="a&amp;&lt;b/">' + text + b"</" + tag.split(b" ")[0] + b">"
            for tag, text in zip((b"title", b"description", b"category"), texts, strict=False)
        )
        in expected
    )


@pytest.mark.parametrize("c", [c for c in range(0x20) if not _valid(c)] + [0xFFFE, 0xFFFF, 0xD800])
def test_characters_xml_cannot_hold_are_refused_as_lxml_refuses_them(c: int) -> None:
    for text in (chr(c), f"ab{chr(c)}", f"{chr(c)}cd", f"«{chr(c)}»"):
        with pytest.raises((ValueError, UnicodeError)) as by_lxml:
            etree.Element("a").text = text
        with pytest.raises(by_lxml.type):
            _text(text)
        with pytest.raises((ValueError, UnicodeError)) as by_lxml:
            etree.Element("a").set("b", text)
        with pytest.raises(by_lxml.type):
            _attr(text)


def test_an_escaper_shared_by_posts_gives_each_its_own_bytes() -> None:
    config = make_config(hubs=HUBS)
    contexts = _reference_contexts(config)
    esc = _Escaper()
    for _round in range(2):
        for post, rendered in VARIED:
            for fmt, ctx in contexts:
                got = _entry_bytes(post, _Html(rendered), config, fmt, ctx, esc)
                assert got == feedgen_bytes(post, rendered, config, fmt, ctx)


def odd_context(nsmap: dict[str | None, str]) -> _Context:
    """Not a feedgen context: an RSS root with other namespace declarations."""
    root = etree.Element("rss", nsmap=nsmap)  # type: ignore[arg-type]  # None: lxml takes it
    channel = etree.SubElement(root, "channel")
    slot = etree.ProcessingInstruction("syndicate-entries")
    channel.append(slot)
    return _Context(slot)


CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
DC_NS = "http://purl.org/dc/elements/1.1/"
MEDIA_NS = "http://search.yahoo.com/mrss/"


@pytest.mark.parametrize(
    ("nsmap", "written"),
    [
        ({"c1": CONTENT_NS, "c2": CONTENT_NS, "d": DC_NS, "m": MEDIA_NS}, False),
        ({"content": CONTENT_NS}, False),  # dc and media not in scope
        ({None: "urn:x", "content": CONTENT_NS, "dc": DC_NS, "media": MEDIA_NS}, False),
        ({}, False),
        ({"c": CONTENT_NS, "d": DC_NS, "m": MEDIA_NS, "x": "urn:x"}, True),  # other prefixes
    ],
    ids=["two-prefixes", "missing", "default", "none", "other-prefixes"],
)
def test_other_contexts_give_feedgen_bytes_too(nsmap: dict[str | None, str], written: bool) -> None:
    """Written directly with the prefixes in scope, or else feedgen's entry serialised in
    the context."""
    config = make_config()
    for post, rendered in VARIED:
        ctx = odd_context(nsmap)
        assert (ctx.prefixes(_entry._RSS_NAMESPACES) is not None) == written
        got = _entry_bytes(post, _Html(rendered), config, "rss", ctx)
        assert got == feedgen_bytes(post, rendered, config, "rss", ctx)
        assert b"encoded>" in got


def test_feedgen_contexts_are_written_directly() -> None:
    for config in CONFIGS.values():
        (_, rss), (_, atom) = _reference_contexts(config)
        assert rss.prefixes(_entry._RSS_NAMESPACES) == {
            CONTENT_NS: b"content",
            DC_NS: b"dc",
            MEDIA_NS: b"media",
        }
        assert atom.prefixes(frozenset()) == {}


# -- generated posts -----------------------------------------------------------------------------


def _xml_char(c: str) -> bool:
    o = ord(c)
    return o in (0x9, 0xA, 0xD) or 0x20 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD or o >= 0x10000


xml_text = st.text(st.characters(exclude_categories=["Cs"]).filter(_xml_char), max_size=30)
# Now and then a character XML cannot hold: lxml refuses it in both builds.
any_text = st.one_of(
    xml_text, xml_text, xml_text, st.text(st.characters(exclude_categories=["Cs"]), max_size=8)
)
special = st.sampled_from(
    ["&", "<", ">", "]]>", "&amp;", "<p>", "</p>", '"', "'", "\r", "\n", "\t", "\r\n", " ", "😀"]
)
markup = st.lists(st.one_of(xml_text, special), max_size=8).map("".join)
names = st.lists(st.one_of(xml_text, special), max_size=4, unique=True).map(tuple)
urls = st.sampled_from(
    [
        f"{SITE}news/p.html",
        f'{SITE}news/p.html?a=1&b=<2>&c="3"',
        "https://пример.рф/пост/1",
        f"{SITE}tab\there",
    ]
)
authors = st.one_of(
    st.none(),
    st.builds(
        Author,
        st.one_of(st.just(""), xml_text, special),
        st.one_of(st.none(), st.just(""), st.just("a@example.org"), st.just("a&b@<x>.org")),
        st.one_of(st.none(), st.just(""), st.just(f"{SITE}about?a=1&b=2")),
    ),
)
images = st.one_of(
    st.none(),
    st.builds(
        Image,
        st.one_of(urls, st.just(f"{SITE}i.jpg")),
        st.sampled_from(["image/jpeg", "image/png", "image/svg+xml", ""]),
        st.one_of(st.none(), st.just(0), st.integers(0, 10**12)),
    ),
)
offsets = st.sampled_from(
    [UTC, timezone(timedelta(hours=3)), timezone(timedelta(hours=-9, minutes=-30))]
    + [timezone(timedelta(hours=5, minutes=45, seconds=30))]
)
dates = st.builds(
    lambda d, tz: d.replace(tzinfo=tz),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    offsets,
)


@st.composite
def posts(draw: st.DrawFn) -> Item:
    url = draw(urls)
    date = draw(dates)
    post = make_post(
        draw(st.integers(0, 99)),
        title=draw(st.one_of(any_text, markup)),
        url=url,
        entry_id=draw(
            st.one_of(st.just(url), st.just("tag:example.org,2025:a&<b>"), urls, st.just(""))
        ),
        author=draw(authors),
        categories=draw(names),
        tags=draw(names),
        image=draw(images),
        lang=draw(st.sampled_from([None, "", "be", "en-GB", 'x-<&>"'])),
        date=date,
        updated=draw(
            st.one_of(
                st.none(),
                st.just(date),
                st.just(date - timedelta(days=1)),
                st.just(date + timedelta(hours=1)),
                dates,
            )
        ),
    )
    rendered = Rendered(content_html=draw(st.one_of(markup, any_text)), summary_html=draw(markup))
    return post, rendered


@settings(max_examples=300, deadline=None)
@given(
    items=st.lists(posts(), min_size=1, max_size=3),
    hubs=st.sampled_from([(), HUBS[:1], HUBS]),
    language=st.sampled_from([None, "en", "be-tarask"]),
    site_author=st.sampled_from([None, BADELY, NO_EMAIL, Author("")]),
)
def test_generated_entries_are_feedgen_bytes(
    items: list[Item], hubs: tuple[str, ...], language: str | None, site_author: Author | None
) -> None:
    assert_same_entries(items, make_config(hubs=hubs, language=language, author=site_author))


@settings(max_examples=60, deadline=None)
@given(item=posts())
def test_generated_entries_in_whole_feeds(item: Item) -> None:
    """Prepared entries (written directly) in whole feeds, against feedgen's whole feed."""
    config = make_config(hubs=HUBS)
    post, rendered = item
    meta = meta_for([item])
    for fmt in FORMATS:
        entry = _prepared.prepare_entry(post, rendered, config, lambda: rendered)
        try:
            expected = reference_feed(meta, fresh([item], config), config, fmt)
        except (ValueError, TypeError, UnicodeError):
            with pytest.raises((ValueError, TypeError, UnicodeError)):
                render_feed(meta, [entry], config, fmt)
            continue
        assert render_feed(meta, [entry], config, fmt) == expected


# -- the comparison tells the differences a direct build could get wrong -------------------------


@contextmanager
def patched(name: str, replacement: Any) -> Iterator[None]:
    original = getattr(_entry, name)
    setattr(_entry, name, replacement)
    try:
        yield
    finally:
        setattr(_entry, name, original)


def _wrong_date(date: datetime) -> str:
    return date.strftime("%a, %d %b %Y %H:%M:%S %Z")


def _attr_unquoted(value: str) -> bytes:
    return _text(value)


def _text_with_raw_returns(text: str) -> bytes:
    return _text(text).replace(b"&#13;", b"\r")


def _categories_reversed(post: Post, config: Config) -> list[tuple[str, str]]:
    return _formats_categories(post, config)[::-1]


_formats_categories = _entry._categories


@pytest.mark.parametrize(
    ("name", "wrong"),
    [
        ("_attr", _attr_unquoted),
        ("_text", _text_with_raw_returns),
        ("_rfc2822", _wrong_date),
        ("_categories", _categories_reversed),
    ],
    ids=["attribute-escaping", "text-escaping", "date-format", "element-order"],
)
def test_the_comparison_tells_a_wrong_writer(name: str, wrong: Callable[..., Any]) -> None:
    post = make_post(
        7,
        image=Image(f"{SITE}i.jpg", "image/jpeg", 10),
        categories=('A "quoted"',),
        tags=("b",),
    )
    items: list[Item] = [(post, Rendered(content_html="<p>x\r\n</p>", summary_html=""))]
    config = make_config()
    assert_same_entries(items, config)
    with patched(name, wrong):
        with pytest.raises(AssertionError):
            assert_same_entries(items, config)


def test_the_test_posts_are_varied() -> None:
    """The generated posts reach every branch the direct build has (a sample)."""
    seen: set[str] = set()

    @settings(max_examples=300, deadline=None, database=None)
    @given(item=posts())
    def sample(item: Item) -> None:
        post, rendered = item
        seen.add("permalink" if post.entry_id == post.url else "not-permalink")
        seen.add("image" if post.image else "no-image")
        if post.image:
            seen.add("length" if post.image.length is not None else "no-length")
        seen.add("author-email" if post.author and post.author.email else "no-author-email")
        seen.add("no-summary" if not rendered.summary_html else "summary")
        seen.add("lang" if post.lang else "no-lang")
        if post.updated is not None:
            seen.add("updated-later" if post.updated > post.date else "updated-not-later")

    sample()
    assert seen >= {
        "permalink", "not-permalink", "image", "no-image", "length", "no-length",
        "author-email", "no-author-email", "no-summary", "summary", "lang", "no-lang",
        "updated-later", "updated-not-later",
    }  # fmt: skip
