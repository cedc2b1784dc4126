"""Front matter YAML: the shortcuts (flat mappings, simple lines) give what plain PyYAML gives,
errors too."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from syndicate.posts.frontmatter import _YAML_LOADER, _FlatFrontMatter, _parse_simple_yaml

PLAIN_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str, loader: Any) -> tuple[str, object]:
    try:
        return "ok", yaml.load(text, Loader=loader)
    except (yaml.YAMLError, ValueError) as exc:
        return type(exc).__name__, str(exc)


def test_the_loader_is_libyaml_with_the_shortcut() -> None:
    assert issubclass(_YAML_LOADER, _FlatFrontMatter)
    assert issubclass(_YAML_LOADER, PLAIN_LOADER)
    assert yaml.__with_libyaml__  # the C loader is installed and used


def test_a_typical_front_matter_takes_the_shortcut() -> None:
    text = 'title: "T"\ndate: 2025-06-19 10:00:00 +0100\ntags: ["a", b]\ncount: 3\ndraft: no\n'
    loader = _YAML_LOADER(text)
    try:
        node = loader.get_single_node()
        assert _FlatFrontMatter._is_flat(node)
    finally:
        loader.dispose()
    assert load(text, _YAML_LOADER) == load(text, PLAIN_LOADER)


keys = st.sampled_from(["title", "tags", "date", '"quoted key"', "1", "<<", "? [a, b]\n", "title"])
scalars = st.sampled_from(
    [
        "plain text", '"double: quoted"', "'single'", "3", "-1.5", "0x1F", "yes", "No", "~", "",
        "2025-06-19", "2025-06-19 10:00:00 +01:00", "2025-02-30", "2025-06-19 10:00:00 +0100",
        "!!str 12", "!!int x", "!!binary aGk=", "!!binary ???", "!unknown x", "!!float .inf",
        "&s shared", "*s", "=", "'multi\n  line'", "|\n  block\n  text\n", ">\n  folded\n",
    ]
)  # fmt: skip
flow_lists = st.lists(
    scalars.filter(lambda s: "\n" not in s and not s.startswith(("|", ">"))), max_size=3
).map(lambda items: "[" + ", ".join(items) + "]")
values = st.one_of(
    scalars,
    flow_lists,
    st.sampled_from(["&l [a, b]", "*l", "{a: 1}", "\n  - a\n  - [b]\n", "\n  - x\n  - y\n",
                     "\n  name: A\n", "[{a: 1}]", "[[a]]", "&m {a: 1}", "*m", "[*s]"]),
)  # fmt: skip
documents = st.lists(
    st.builds(lambda k, v: k if k.startswith("?") else f"{k}: {v}", keys, values), max_size=6
).map(lambda lines: "\n".join(lines) + "\n")


@given(documents)
@example("title: T\ntitle: U\n")
@example("tags: &l [a, b]\ncategories: *l\n")
@example("<<: {a: 1}\nb: 2\n")
@example("tags: [!!int x]\ndate: !unknown y\n")  # two bad values: PyYAML reports the second
@example("a: [1, 2]\nb: 2025-02-30\n")
@example("- a\n- b\n")
@example("just text\n")
def test_shortcut_gives_what_pyyaml_gives(text: str) -> None:
    assert load(text, _YAML_LOADER) == load(text, PLAIN_LOADER)


def test_an_aliased_list_is_still_one_object() -> None:
    data = yaml.load("tags: &l [a, b]\ncategories: *l\n", Loader=_YAML_LOADER)
    assert data["tags"] is data["categories"]


def test_the_loader_has_no_path_resolvers() -> None:
    # descend_resolver and ascend_resolver do nothing but for path resolvers.
    assert not _YAML_LOADER.yaml_path_resolvers


TYPICAL = (
    "\nlayout: post\n"
    'title: "Link is post are flask fast"\n'
    "date: 2021-06-22 08:13:03 +0900\n"
    'author: "Tom\u00e1s Andersson"\n'
    'categories: ["Opinion"]\n'
    'tags: ["go-guide", "linux-pitfalls"]\n'
    'excerpt: "Markdown be path: client \u00abupdate\u00bb, build \u2014 flask."\n'
    "image: assets/images/f453f15bc98a954b.jpg\n"
)


def simple(text: str) -> tuple[str, object]:
    try:
        return "ok", _parse_simple_yaml(text)
    except (yaml.YAMLError, ValueError) as exc:
        return type(exc).__name__, str(exc)


def pyyaml(text: str) -> tuple[str, object]:
    outcome, data = load(text, PLAIN_LOADER)
    if outcome == "ok" and isinstance(data, dict):
        data = {str(key): value for key, value in data.items()}
    return outcome, data


def test_typical_front_matter_is_read_without_pyyaml() -> None:
    assert simple(TYPICAL) == pyyaml(TYPICAL)
    assert simple(TYPICAL)[1] is not None


@pytest.mark.parametrize(
    "text",
    [
        "a: []\nb: [x, \"y\"]\n",
        'a: ["x, y", "", z, 1, yes, 2025-06-19]\n',
        "key:\nother: x\n",
        "date: 2025-06-19\ntime: 10:00\nn: 0x1F\nf: .inf\nb: off\nz: null\n",
        "date: 2025-06-19 10:00:00 +01:00\nlocal: 2025-06-19 10:00:00\n",
        "a: x(y) 50% off; don't = ok? ~maybe\n",
        "a:   spaced\nt: title\nt: again\n",
        "a: [2025-13-01]\nb: 2025-02-30\n",  # two bad values: PyYAML reports the scalar's
        "a: 0000-01-01\n",
    ],
)  # fmt: skip
def test_simple_front_matter_reads_as_pyyaml_does(text: str) -> None:
    assert simple(text)[1] is not None
    assert repr(simple(text)) == repr(pyyaml(text))


@pytest.mark.parametrize(
    "text",
    [
        "yes: 1\n", "title: a: b\n", "title: a #b\n", "title: a  b\n", "title: a:\n", "a: =\n",
        "a: <<\n", "a: |\n  x\n", "  a: b\n", 'a: "x\\ty"\n', "a: x\u2028y\n", "a:\tb\n",
        "a: 'x'\n", "a: &x y\n", "a: [x, [y]]\n", "a: [x , y]\n", "- a\n", "a\n", "\n\n",
        "a: -x\n", "a: \u00a0x\n", "a: x # c\n", "a: x \n", "a: [\u00ff:]\n", "a: {b: 1}\n",
        "a: x\nb: [2025-02-30\n",
    ],
)  # fmt: skip
def test_anything_else_is_left_to_pyyaml(text: str) -> None:
    assert _parse_simple_yaml(text) is None


simple_keys = st.sampled_from(
    ["title", "tags", "a_b-c", "_", "yes", "No", "on", "null", "~", "y", "1a", "-a", "a b"]
)
plain_chars = st.sampled_from(list("aZ09 :-._/+'#,%=?~()[]{}&*!|>@`\"\\\t") + ["\u00e9", "\u00a0"])
plain_scalars = st.one_of(
    st.text(plain_chars, min_size=1, max_size=6),
    st.sampled_from(
        [
            "1", "1_000", "0o17", "017", "1:20", "1.5", ".5", "+1", "-1", ".NaN", "1e3", "yes",
            "No", "~", "null", "2025-06-19", "2025-06-19 10:00:00", "2025-6-9 1:00:00",
            "2025-02-30", "2025-06-19T10:00:00Z", "2025-06-19 10:00:00 +0100", "10:00",
            "2025-06-19 10:00:00 +24", "http://x/y", "a:b", "x" * 80,
        ]
    ),
)  # fmt: skip
quoted_scalars = st.text(
    st.sampled_from(list("ab \"\\#:,[]'\t\x85\x7f") + ["\u2028", "\ufeff", "\u00e9", "\U0001f600"]),
    max_size=5,
).map(lambda s: f'"{s}"')
simple_values = st.one_of(
    plain_scalars,
    quoted_scalars,
    st.lists(st.one_of(plain_scalars, quoted_scalars), max_size=3).map(
        lambda items: "[" + ", ".join(items) + "]"
    ),
    st.just(""),
)
simple_lines = st.builds(
    lambda key, sep, value: f"{key}{sep}{value}",
    simple_keys,
    st.sampled_from([": ", ":  ", ":", ": \t", " : "]),
    simple_values,
)
simple_documents = st.lists(simple_lines, min_size=1, max_size=4).map(
    lambda lines: "\n" + "\n".join(lines) + "\n"
)


@given(simple_documents)
@example("a: [2025-13-01]\nb: 2025-02-30\n")
@example("a: 2025-02-30\nb: [x\n")
@example("nan: .NaN\n")
def test_the_simple_reader_gives_what_pyyaml_gives(text: str) -> None:
    outcome = simple(text)
    if outcome != ("ok", None):  # None: left to PyYAML
        # repr: time zones must agree too, and NaN is not equal to itself.
        assert repr(outcome) == repr(pyyaml(text))
