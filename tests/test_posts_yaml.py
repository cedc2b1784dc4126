"""Front matter YAML: the flat-mapping shortcut gives what plain PyYAML gives, errors too."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from syndicate.posts import _YAML_LOADER, _FlatFrontMatter

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
