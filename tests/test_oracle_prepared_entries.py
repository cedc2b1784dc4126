"""Prepared entries (``prepare_entry``): kept as bytes, the same bytes as feedgen's entries.

The feedgen entry behind one lives only until both formats are serialised; a feed in
other surroundings (another Atom root) has it made again from the post's HTML.
"""

from __future__ import annotations

import functools
import pickle

import pytest

from syndicate.feeds._feedgen import Format
from syndicate.feeds._formats import render_feed
from syndicate.feeds._prepared import PreparedEntry, prepare_entry, serialise_entries
from syndicate.posts import Rendered, unpack_rendered

from .test_oracle_spliced_feeds import (
    HUBS,
    VARIED,
    check_shared,
    fresh,
    make_config,
    meta_for,
    reference_feed,
)


def prepared(calls: list[int]) -> list[PreparedEntry]:
    """VARIED's entries, prepared; ``calls`` gets the index of each post rendered again."""
    config = make_config(hubs=HUBS)

    def again(index: int) -> Rendered:
        calls.append(index)
        return VARIED[index][1]

    return [
        prepare_entry(post, rendered, config, functools.partial(again, index))
        for index, (post, rendered) in enumerate(VARIED)
    ]


@pytest.mark.parametrize("reverse", [False, True], ids=["a-then-b", "b-then-a"])
def test_prepared_entries_in_several_feeds_formats_and_configs(reverse: bool) -> None:
    calls: list[int] = []
    check_shared(prepared(calls), reverse)  # the second round from the bytes kept
    # RSS first: each entry's feedgen entry goes with its first Atom feed, and is made
    # again for the other config's Atom root, once. Atom first: both Atom roots come
    # before the entry's first RSS feed, which has the same root in both configs.
    assert sorted(calls) == (list(range(len(VARIED))) if not reverse else [])


def test_a_prepared_entry_keeps_only_bytes_once_both_formats_are_made() -> None:
    config = make_config()
    calls: list[int] = []
    entries = prepared(calls)
    meta = meta_for(VARIED)
    render_feed(meta, entries, config, "rss")
    assert all(entry._packed is not None for entry in entries)
    render_feed(meta, entries, config, "atom")
    assert all(entry._packed is None for entry in entries)
    assert render_feed(meta, entries, config, "atom") == reference_feed(
        meta, fresh(VARIED, config), config, "atom"
    )
    assert calls == []


def test_packed_html_equals_and_pickles_as_the_plain_html() -> None:
    plain = VARIED[1][1]
    packed = unpack_rendered(*plain.packed())
    assert packed == plain and plain == packed and hash(packed) == hash(plain)
    assert (packed.content_html, packed.summary_html) == (plain.content_html, plain.summary_html)
    assert pickle.loads(pickle.dumps(packed)) == plain
    assert packed.packed() is packed.packed()  # kept as it came, never encoded again


def test_a_compacted_entry_keeps_its_bytes_deflated_and_splices_them_again() -> None:
    config = make_config(hubs=HUBS)
    calls: list[int] = []
    entries = prepared(calls)
    meta = meta_for(VARIED)
    first = {fmt: render_feed(meta, entries, config, fmt) for fmt in ("rss", "atom")}
    plain = [sum(map(len, entry._bytes.values())) for entry in entries]
    for entry in entries:
        entry.compact()
    assert all(entry._bytes == {} and entry._packed is None for entry in entries)
    deflated = [entry._deflated for entry in entries]
    assert all(d is not None for d in deflated)
    assert sum(len(d[2]) for d in deflated if d is not None) < sum(plain) / 2
    for fmt in ("atom", "rss"):  # inflated on first need, in either order
        assert render_feed(meta, entries, config, fmt) == first[fmt]
        assert first[fmt] == reference_feed(meta, fresh(VARIED, config), config, fmt)
    assert calls == []  # nothing made again: the bytes were kept
    for entry, before in zip(entries, deflated, strict=True):
        entry.compact()
        assert entry._deflated is before  # the same bytes: not deflated again


def test_an_entry_seeded_with_plain_bytes_is_deflated_when_compacted() -> None:
    """A one-shot build's worker processes send the entries' bytes as they are; an entry
    kept after all (``compact()``) holds them deflated like any other."""
    config = make_config(hubs=HUBS)
    ahead = serialise_entries(VARIED, config, deflated=False)
    assert all(isinstance(s, dict) and len(s) == 3 for s in ahead)  # RSS, Atom, JSON Feed
    entries = [
        prepare_entry(post, None, config, functools.partial(_no_render, index), s)
        for index, ((post, _), s) in enumerate(zip(VARIED, ahead, strict=True))
    ]
    meta = meta_for(VARIED)
    expected = {fmt: reference_feed(meta, fresh(VARIED, config), config, fmt) for fmt in FMTS}
    assert {fmt: render_feed(meta, entries, config, fmt) for fmt in FMTS} == expected
    for entry in entries:
        entry.compact()
    assert all(entry._bytes == {} and entry._deflated is not None for entry in entries)
    assert (
        sum(len(e._deflated[2]) for e in entries if e._deflated is not None)
        < sum(len(part) for s in ahead if isinstance(s, dict) for part in s.values()) / 2
    )
    assert {fmt: render_feed(meta, entries, config, fmt) for fmt in ("atom", "rss")} == expected


FMTS: tuple[Format, ...] = ("rss", "atom")


def _no_render(index: int) -> Rendered:
    raise AssertionError(f"post {index} rendered again: its bytes were at hand")
