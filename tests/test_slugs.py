"""make_slugs: URL-safe ASCII, distinct, stable, and never a way out of the output folder."""

from __future__ import annotations

import posixpath
import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syndicate.feeds import make_slugs

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
