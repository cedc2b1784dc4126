"""Prepared entries (``prepare_entry``): kept as bytes, the same bytes as feedgen's entries.

The feedgen entry behind one lives only until both formats are serialised; a feed in
other surroundings (another Atom root) has it made again from the post's HTML.
"""

from __future__ import annotations

import functools
import pickle

import pytest

from syndicate.feeds._formats import PreparedEntry, prepare_entry, render_feed
from syndicate.posts import Rendered, unpack_rendered

from .test_formats_splice import (
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
