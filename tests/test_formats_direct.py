"""Entries built directly with lxml (``_entry_bytes``): byte for byte what feedgen writes.

feedgen is the oracle: ``make_entry``'s ``FeedEntry``, its ``rss_entry()`` /
``atom_entry()`` serialised in the feed's own context (``_Context.serialise``), as
``render_feed`` splices a feedgen entry. Every test compares the two; the last ones show
the comparison tells apart the small differences a direct build could get wrong.
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
from syndicate.feeds import _formats
from syndicate.feeds._formats import (
    Format,
    _Context,
    _entry_bytes,
    _reference_contexts,
    make_entry,
    render_feed,
    serialise_entries,
)
from syndicate.posts import Image, Post, Rendered

from .test_feeds import SITE
from .test_formats_splice import (
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
            got = outcome(_entry_bytes, post, rendered, config, fmt, ctx)
            assert got == expected, (fmt, post, rendered)
            built = built and got[0] == "bytes"
    if built:
        ahead = serialise_entries(items, config)
        for (post, rendered), serialised in zip(items, ahead, strict=True):
            parts = _formats._inflate(serialised)
            for fmt, ctx in contexts:
                assert parts[ctx.key] == feedgen_bytes(post, rendered, config, fmt, ctx)


# -- the hand-picked posts of the splice tests -------------------------------------------------


@pytest.mark.parametrize("config_name", CONFIGS)
def test_varied_entries_are_feedgen_bytes(config_name: str) -> None:
    assert_same_entries(VARIED, CONFIGS[config_name])


@pytest.mark.parametrize("fmt", FORMATS)
def test_direct_element_serialised_alone_or_in_the_feed_is_the_same(fmt: Format) -> None:
    """serialise_new (the element alone, its declarations dropped) gives what the
    element gives in the whole emptied feed (serialise)."""
    config = make_config(hubs=HUBS)
    fill = _formats._fill_rss if fmt == "rss" else _formats._fill_atom
    tag = "item" if fmt == "rss" else "entry"
    namespaces = _formats._RSS_NAMESPACES if fmt == "rss" else frozenset()
    (ctx,) = (c for f, c in _reference_contexts(config) if f == fmt)
    for post, rendered in VARIED:
        alone, whole = ctx.new_entry(tag, namespaces), ctx.new_entry(tag, namespaces)
        fill(alone, post, rendered, config)
        fill(whole, post, rendered, config)
        assert ctx.serialise_new(alone) == ctx.serialise(whole)
        assert b"xmlns" not in ctx.serialise_new(alone)  # declared by the feed's root


def odd_context(nsmap: dict[str | None, str]) -> _Context:
    """Not a feedgen context: an RSS root with other namespace declarations."""
    root = etree.Element("rss", nsmap=nsmap)  # type: ignore[arg-type]  # None: lxml takes it
    channel = etree.SubElement(root, "channel")
    slot = etree.ProcessingInstruction("syndicate-entries")
    channel.append(slot)
    return _Context(slot)


CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"


@pytest.mark.parametrize(
    "nsmap",
    [
        {"c1": CONTENT_NS, "c2": CONTENT_NS},  # one namespace, two prefixes
        {"content": CONTENT_NS},  # dc and media not in scope
        {None: "urn:x", "content": CONTENT_NS},  # a default namespace
        {},
    ],
    ids=["two-prefixes", "missing", "default", "none"],
)
def test_other_contexts_give_feedgen_bytes_too(nsmap: dict[str | None, str]) -> None:
    """The bare element, serialised in the whole context, as feedgen's is."""
    config = make_config()
    for post, rendered in VARIED:
        ctx = odd_context(nsmap)
        got = _entry_bytes(post, rendered, config, "rss", ctx)
        assert got == feedgen_bytes(post, rendered, config, "rss", ctx)
        assert b"encoded>" in got


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
        entry_id=draw(st.one_of(st.just(url), st.just("tag:example.org,2025:a&<b>"), urls)),
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
    """Prepared entries (built directly) in whole feeds, against feedgen's whole feed."""
    config = make_config(hubs=HUBS)
    post, rendered = item
    meta = meta_for([item])
    for fmt in FORMATS:
        entry = _formats.prepare_entry(post, rendered, config, lambda: rendered)
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
    original = getattr(_formats, name)
    setattr(_formats, name, replacement)
    try:
        yield
    finally:
        setattr(_formats, name, original)


def _attributes_reversed(fill: Callable[..., None]) -> Callable[..., None]:
    def wrong(element: etree._Element, *args: Any) -> None:
        fill(element, *args)
        for child in element.iter():
            items = list(child.attrib.items())
            child.attrib.clear()
            for key, value in reversed(items):
                child.set(key, value)

    return wrong


def _empty_texts_dropped(fill: Callable[..., None]) -> Callable[..., None]:
    def wrong(element: etree._Element, *args: Any) -> None:
        fill(element, *args)
        for child in element.iter():
            if child.text == "":
                child.text = None

    return wrong


def _wrong_date(date: datetime) -> str:
    return date.strftime("%a, %d %b %Y %H:%M:%S %Z")


@pytest.mark.parametrize(
    ("name", "make_wrong"),
    [
        ("_fill_rss", _attributes_reversed),
        ("_fill_atom", _attributes_reversed),
        ("_fill_rss", _empty_texts_dropped),
        ("_rfc2822", lambda _: _wrong_date),
    ],
    ids=["rss-attribute-order", "atom-attribute-order", "empty-text", "date-format"],
)
def test_the_comparison_tells_a_wrong_build(name: str, make_wrong: Callable[[Any], Any]) -> None:
    post = make_post(
        7,
        image=Image(f"{SITE}i.jpg", "image/jpeg", 10),
        categories=("A",),
        tags=("",),
    )
    items: list[Item] = [(post, Rendered(content_html="<p>x</p>", summary_html=""))]
    config = make_config()
    assert_same_entries(items, config)
    with patched(name, make_wrong(getattr(_formats, name))):
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
