"""The feed around the entries from a template (``_FeedTemplate``): byte for byte what
feedgen writes for each feed.

feedgen is the oracle: ``_feedgen_feed`` makes the feed around the same entries with
feedgen, feed by feed, as ``render_feed`` did before the template; ``reference_feed``
(feedgen writes the entries too) for the fixed cases. Titles, descriptions and URLs are
drawn from every character XML can hold and some it cannot (both paths must refuse those
alike), dates from any zone.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syndicate.config import Author, Config
from syndicate.feeds import _entry, _formats
from syndicate.feeds._feedgen import FeedMeta, Format, History
from syndicate.feeds._formats import _feed_template, _feedgen_feed, render_feed

from .test_feeds import SITE
from .test_oracle_spliced_feeds import CONFIGS, FORMATS, VARIED, fresh, reference_feed

Outcome = tuple[str, bytes | str]

# Any character, the markup ones and whitespace often; lone surrogates and the control
# characters XML refuses now and then (both paths must raise the same error).
TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from("&<>\"'\r\n\t ]]>«»"),
        st.characters(codec="utf-8"),
        st.characters(),
    ),
    min_size=1,
    max_size=40,
)
URL = st.builds(lambda path: f"{SITE}{path}", st.text(max_size=20))
ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-5, minutes=-30))]
)
DATES = st.builds(
    lambda d, zone: d.replace(tzinfo=zone),
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 12, 31)),
    ZONES,
)
# The channel's author: the site's (None), or an author feed's own.
AUTHORS = [
    None,
    Author("Alice & <Co>", "alice@example.org", "https://example.org/alice"),
    Author("Bob"),
]
# RFC 5005 links: none, a live feed's prev-archive, or an archive page's links.
LINKS = st.one_of(st.none(), st.tuples(URL, URL))
HISTORIES = st.one_of(
    st.none(),
    st.builds(History, prev_archive=st.tuples(URL, URL)),
    st.builds(History, current=st.tuples(URL, URL), prev_archive=LINKS, next_archive=LINKS),
)
METAS = st.builds(
    FeedMeta,
    history=HISTORIES,
    title=TEXT,
    description=TEXT,
    rss_url=URL,
    atom_url=URL,
    updated=DATES,
    published=st.one_of(st.none(), DATES),
    author=st.sampled_from(AUTHORS),
)


def outcome(make: Callable[[], bytes]) -> Outcome:
    try:
        return ("bytes", make())
    except (ValueError, UnicodeError) as exc:
        return ("error", type(exc).__name__)


@settings(max_examples=400, deadline=None, database=None)
@given(meta=METAS, config_name=st.sampled_from(sorted(CONFIGS)), fmt=st.sampled_from(FORMATS))
def test_a_feed_from_the_template_is_feedgens(
    meta: FeedMeta, config_name: str, fmt: Format
) -> None:
    config = CONFIGS[config_name]
    entries = fresh(VARIED[:2], config)
    made = outcome(lambda: render_feed(meta, entries, config, fmt))
    shape = meta.history.shape() if meta.history is not None else None
    assert _feed_template(config, fmt, meta.published is not None, meta.author, shape).usable
    assert made == outcome(lambda: _feedgen_feed(meta, fresh(VARIED[:2], config), config, fmt))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("config_name", sorted(CONFIGS))
def test_the_template_serves_feed_after_feed(config_name: str, fmt: Format) -> None:
    """One template for every feed of a config: each with its own values, none left over
    from the feed before (nor a hole's marker)."""
    config = CONFIGS[config_name]
    dates = [None, datetime(2024, 3, 1, tzinfo=UTC), None, None]
    pages = [(f"{SITE}a/{n}.rss", f"{SITE}a/{n}.atom") for n in range(3)]
    histories = [
        History(current=pages[0], next_archive=pages[1]),
        None,
        History(prev_archive=pages[2]),
        History(current=pages[1], prev_archive=pages[0], next_archive=pages[2]),
    ]
    for n, (published, author) in enumerate(zip(dates, [*AUTHORS, None], strict=True)):
        meta = FeedMeta(
            history=histories[n],
            title=f"Feed {n} & <friends>",
            description=f'The "{n}" feed',
            rss_url=f"{SITE}feed-{n}.rss?a=1&b=2",
            atom_url=f"{SITE}feed-{n}.atom",
            updated=datetime(2024, 4, n + 1, 12, tzinfo=UTC),
            published=published,
            author=author,
        )
        body = render_feed(meta, fresh(VARIED, config), config, fmt)
        assert body == reference_feed(meta, fresh(VARIED, config), config, fmt)
        assert b"syndicate-hole" not in body and b"1234" not in body


def test_an_empty_value_or_feed_is_made_by_feedgen(monkeypatch: pytest.MonkeyPatch) -> None:
    """Feeds the template does not cover (no entries) are feedgen's, made feed by feed."""
    config = CONFIGS["plain"]
    made: list[Any] = []
    real = _formats._feedgen_feed

    def counted(*args: Any) -> bytes:
        made.append(args)
        return real(*args)

    monkeypatch.setattr(_formats, "_feedgen_feed", counted)
    updated = datetime(2024, 1, 1, tzinfo=UTC)
    meta = FeedMeta("T", "D", f"{SITE}f.rss", f"{SITE}f.atom", updated, None)
    assert render_feed(meta, [], config, "rss") == reference_feed(meta, [], config, "rss")
    render_feed(meta, fresh(VARIED[:1], config), config, "rss")
    assert len(made) == 1  # the empty feed only


@pytest.mark.parametrize(
    "module, name, wrong",
    [
        (_formats, "_attr", lambda value: _entry._text(value)),  # attribute escaped as a text
        # A text not escaped (in an attribute too: ``_entry._attr`` escapes it as a text).
        (_entry, "_text", lambda value: value.encode()),
        # RSS dates as Atom's (but for the markers' own, which the template finds then).
        (
            _formats,
            "_format_date",
            lambda date, fmt: (
                _entry._rfc2822(date) if date.year in (1234, 1235) else date.isoformat()
            ),
        ),
    ],
)
def test_the_comparison_tells_a_wrong_template(
    monkeypatch: pytest.MonkeyPatch, module: ModuleType, name: str, wrong: Callable[..., Any]
) -> None:
    config: Config = CONFIGS["hubs"]
    meta = FeedMeta(
        title="A & B",
        description="<d>",
        rss_url=f'{SITE}x.rss?a=1&b="2"',  # a quote: escaped in an attribute only
        atom_url=f"{SITE}x.atom?a=1&b=2",
        updated=datetime(2024, 1, 1, tzinfo=UTC),
        published=datetime(2024, 1, 1, tzinfo=UTC),
    )
    right = reference_feed(meta, fresh(VARIED, config), config, "rss")
    assert render_feed(meta, fresh(VARIED, config), config, "rss") == right
    monkeypatch.setattr(module, name, wrong)
    _formats._TEMPLATES.clear()
    assert render_feed(meta, fresh(VARIED, config), config, "rss") != right
