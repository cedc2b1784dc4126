"""make_slugs and mint_slugs: URL-safe ASCII, distinct, stable, never a way out of the
output folder; and once minted, a name's slug stays its own while it has a feed."""

from __future__ import annotations

import posixpath
import random
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syndicate.feeds import SLUG_GRACE, make_slugs, mint_slugs
from syndicate.store import SlugRecord

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")

# Names that collide or are hostile, mixed into the generated ones so collisions happen.
TRICKY = [
    "C++",
    "C#",
    "c",
    "Café",
    "Cafe",
    "cafe",
    "Python",
    "python",
    "PYTHON",
    "",
    " ",
    ".",
    "..",
    "/",
    "../../etc/passwd",
    "a/b",
    "\\",
    "Ελληνικά",
    "日本語",
    "!!!",
    "c-" + "0" * 6,
]
names_strategy = st.lists(st.sampled_from(TRICKY) | st.text(max_size=12), max_size=15)


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Café", "cafe"),
        ("Ελληνικά", "ellenika"),
        ("Привет мир", "privet-mir"),
        ("News & Politics", "news-politics"),
        ("python", "python"),
        ("a/b", "a-b"),
    ],
)
def test_single_name_gets_its_transliterated_slug(name: str, slug: str) -> None:
    assert make_slugs([name]) == {name: slug}


@pytest.mark.parametrize("name", ["", " ", ".", "..", "/", "../..", "!!!", "—", "\x00"])
def test_unsluggable_names_get_a_safe_non_empty_slug(name: str) -> None:
    slug = make_slugs([name])[name]
    assert SLUG.match(slug)
    assert slug not in (".", "..")


@pytest.mark.parametrize(
    ("names", "bare_owner"),
    [
        (["Python", "python"], "python"),
        (["Café", "Cafe"], "Cafe"),
        (["Café", "cafe", "Cafe"], "cafe"),
        (["C++", "C#"], "C#"),  # neither is its own slug: sorted order decides
    ],
)
def test_collisions_get_distinct_slugs_and_the_plainest_name_keeps_the_bare_one(
    names: list[str], bare_owner: str
) -> None:
    slugs = make_slugs(names)
    assert len(set(slugs.values())) == len(names)
    bare = slugs[bare_owner]
    for name in names:
        if name != bare_owner:
            assert slugs[name].startswith(bare + "-")
            assert re.fullmatch(re.escape(bare) + r"-[0-9a-f]{6}", slugs[name])


def test_adding_a_colliding_name_never_renames_a_plain_one() -> None:
    before = make_slugs(["python", "rust"])
    after = make_slugs(["python", "rust", "Python", "PYTHON", "pythön"])
    assert after["python"] == before["python"] == "python"
    assert after["rust"] == "rust"


def test_a_suffixed_slug_never_takes_another_names_bare_slug() -> None:
    # "C#" keeps "c"; "C++" would become "c-<hash>", so a name that is exactly that
    # slug must win it and "C++" must move on to a longer suffix.
    plain = make_slugs(["C#", "C++"])
    squatter = plain["C++"]
    slugs = make_slugs(["C#", "C++", squatter])
    assert slugs[squatter] == squatter
    assert slugs["C++"] != squatter
    assert len(set(slugs.values())) == 3


@given(names_strategy)
def test_slugs_are_unique_ascii_and_url_safe(names: list[str]) -> None:
    slugs = make_slugs(names)
    assert set(slugs) == set(names)
    assert len(set(slugs.values())) == len(slugs)
    for slug in slugs.values():
        assert slug.isascii()
        assert SLUG.match(slug), slug


@given(names_strategy, st.randoms(use_true_random=False))
def test_slugs_do_not_depend_on_input_order_or_repeats(
    names: list[str], rnd: random.Random
) -> None:
    shuffled = list(names) * 2
    rnd.shuffle(shuffled)
    assert make_slugs(shuffled) == make_slugs(names)


@given(names_strategy)
def test_no_slug_escapes_the_output_folder(names: list[str]) -> None:
    out = "/srv/site/tag"
    for slug in make_slugs(names).values():
        for suffix in (".rss", ".atom"):
            target = posixpath.normpath(posixpath.join(out, slug + suffix))
            assert posixpath.dirname(target) == out


@given(names_strategy, names_strategy)
def test_names_that_are_their_own_slug_keep_it_whatever_is_added(
    names: list[str], more: list[str]
) -> None:
    before = make_slugs(names)
    after = make_slugs(names + more)
    for name, slug in before.items():
        if name == slug:
            assert after[name] == slug


# --------------------------------------------------------------------------- minted once

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def slugs_of(records: dict[str, SlugRecord]) -> dict[str, str]:
    return {name: record.slug for name, record in records.items()}


@given(names_strategy)
def test_minting_without_records_is_make_slugs(names: list[str]) -> None:
    minted = mint_slugs("tag", names, [], T0)
    assert slugs_of(minted) == make_slugs(names)
    assert all(r.kind == "tag" and r.name == n and r.released_at is None for n, r in minted.items())


@given(names_strategy, names_strategy)
def test_an_existing_slug_never_changes_whatever_names_are_added(
    names: list[str], more: list[str]
) -> None:
    before = mint_slugs("tag", names, [], T0)
    after = mint_slugs("tag", names + more, before.values(), T0 + timedelta(seconds=1))
    for name, record in before.items():
        assert after[name].slug == record.slug
    assert len({r.slug for r in after.values()}) == len(after)


def test_a_new_name_never_takes_a_held_slug_even_the_plainest() -> None:
    # Issue 16, case 4: "cafe" would win the bare slug from "café" in make_slugs.
    held = mint_slugs("tag", ["café"], [], T0)
    assert slugs_of(held) == {"café": "cafe"}
    after = mint_slugs("tag", ["café", "cafe"], held.values(), T0)
    assert after["café"].slug == "cafe"
    assert re.fullmatch(r"cafe-[0-9a-f]{6}", after["cafe"].slug)
    # A name that is exactly a held suffixed slug does not squat it either.
    squat = mint_slugs("tag", ["café", "cafe", after["cafe"].slug], after.values(), T0)
    assert slugs_of(squat)["cafe"] == after["cafe"].slug
    assert squat[after["cafe"].slug].slug != after["cafe"].slug


def test_slugs_of_one_kind_do_not_hold_the_others() -> None:
    tags = mint_slugs("tag", ["café"], [], T0)
    categories = mint_slugs("category", ["cafe"], tags.values(), T0)
    assert slugs_of(categories) == {"cafe": "cafe"}


def test_hostile_records_are_not_trusted() -> None:
    # A store edited by hand: a slug that could escape the folder, and two names on one.
    records = [
        SlugRecord("tag", "dots", ".."),
        SlugRecord("tag", "a", "shared"),
        SlugRecord("tag", "b", "shared"),
    ]
    minted = mint_slugs("tag", ["dots", "a", "b"], records, T0)
    assert minted["a"].slug == "shared"  # held by the first in rank, by name
    assert minted["b"].slug != "shared"
    assert SLUG.match(minted["dots"].slug)
    assert len({r.slug for r in minted.values()}) == 3


# Each step: the names that have a feed now, and how long after the last step it is.
histories = st.lists(
    st.tuples(
        st.lists(st.sampled_from(TRICKY[:10] + ["Ops", "ops", "Öps"]), max_size=6),
        st.sampled_from([0, 1, 29, 30, 31, 400]).map(lambda days: timedelta(days=days)),
    ),
    min_size=1,
    max_size=12,
)


@given(histories)
def test_minted_slugs_through_a_history_of_builds(
    history: list[tuple[list[str], timedelta]],
) -> None:
    """Unique, ASCII, no escape; kept while a name has a feed; kept for it through the
    grace period; given back to it later if still free; each build's records, minted
    again with the same names, come back as they are."""
    now = T0
    records: dict[str, SlugRecord] = {}
    last_names: set[str] = set()
    for names, later in history:
        now += later
        minted = mint_slugs("tag", names, records.values(), now)
        assert set(names) <= set(minted)
        slugs = [r.slug for r in minted.values()]
        assert len(set(slugs)) == len(slugs)  # held or kept, one name per slug
        for name, record in minted.items():
            assert record.name == name and SLUG.match(record.slug) and record.slug.isascii()
            assert (record.released_at is None) == (name in names)
            old = records.get(name)
            if name in names and old is not None:
                # A name with a record keeps its slug: it never lost it to another name.
                assert record.slug == old.slug
            if name not in names and old is not None and old.released_at is not None:
                assert record.released_at == old.released_at
        for name in last_names & set(names):
            assert minted[name].slug == records[name].slug
        for name, old in records.items():
            if name in minted:
                continue
            # A record goes only when another name takes its slug, after the grace period.
            assert old.released_at is not None or name not in last_names
            released = old.released_at or now
            assert now - released >= SLUG_GRACE
            assert any(r.slug == old.slug and r.name in names for r in minted.values())
        assert mint_slugs("tag", names, minted.values(), now + timedelta(days=999)) == minted
        records, last_names = minted, set(names)
