"""config.yaml validation, and the README documenting every key."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path
from typing import Any

import pytest

from syndicate.config import Author, Config, load_config
from syndicate.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_config_gets_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "site: {title: T, url: 'https://example.org'}\n"))
    assert config.site.url == "https://example.org/"
    assert config.site.timezone == "UTC"
    assert config.feeds.limit == 20
    assert config.serve.cache_max_age == 300
    assert config.posts_dir == (tmp_path / "posts").resolve()
    assert config.assets_dir is None
    assert config.root == tmp_path.resolve()


def test_relative_paths_are_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = tmp_path / "site"
    sub.mkdir()
    path = sub / "config.yaml"
    path.write_text(
        "site: {title: T, url: 'https://example.org/'}\nposts_dir: content\nassets_dir: static\n"
    )
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("site/config.yaml"))
    assert config.posts_dir == (sub / "content").resolve()
    assert config.assets_dir == (sub / "static").resolve()


SITE = "site: {title: T, url: 'https://e.org/'}\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            SITE + "feeds: {limit: many}\n",
            "feeds.limit: expected int",
        ),
        (SITE + "feeds: {limt: 3}\n", "feeds.limt: unknown key"),
        (SITE + "bogus: 1\n", "bogus: unknown key"),
        ("site: {url: 'https://e.org/'}\n", "site.title: required key is missing"),
        ("site: {title: T}\n", "site.url: required key is missing"),
        ("site: {title: T, url: '/relative/'}\n", "site.url: expected an absolute http(s) URL"),
        ("site: {title: T, url: 'https://e.org/', timezone: Mars/Base}\n", "site.timezone"),
        (
            SITE + "serve: {cache_max_age: true}\n",
            "serve.cache_max_age: expected int",
        ),
        (SITE + "feeds: {limit: 0}\n", "feeds.limit"),
        (
            SITE + "authors: {a: {email: x@e.org}}\n",
            "authors.a.name: required",
        ),
        (
            SITE + "authors: {a: 3}\n",
            "authors.a: expected mapping",
        ),
        (SITE + "publish: {max_removed_share: 1.5}\n", "publish.max_removed_share"),
        (SITE + "publish: {max_removed_share: -0.1}\n", "publish.max_removed_share"),
        (SITE + "posts: {max_bytes: 0}\n", "posts.max_bytes: expected a positive int"),
        (SITE + "posts: {max_bytes: 5MB}\n", "posts.max_bytes: expected int"),
        ("site: [1, 2]\n", "site: expected mapping"),
        ("site: {title: T, url: 'https://e.org/'\n", "invalid YAML"),
    ],
)
def test_invalid_config_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (SITE + "watch: {debounce: soon}\n", "watch.debounce: expected number"),
        (SITE + "watch: {debounce: true}\n", "watch.debounce: expected number"),
        ("site: {title: 3, url: 'https://e.org/'}\n", "site.title: expected str"),
        (SITE + "posts_dir: ''\n", "posts_dir: expected path"),
        (SITE + "posts_dir: 3\n", "posts_dir: expected path"),
        (SITE + "pings: http://e.org/rpc\n", "pings: expected list"),
        (SITE + "pings: [3]\n", "pings[0]: expected str"),
        (SITE + "assets_dir: []\n", "assets_dir: expected path"),
    ],
)
def test_a_value_of_the_wrong_type_names_the_key_and_the_type(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(write(tmp_path, text))


def test_an_int_is_a_number_and_an_optional_path_may_be_null(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, SITE + "watch: {debounce: 2}\nassets_dir: null\n"))
    assert config.watch.debounce == 2.0 and isinstance(config.watch.debounce, float)
    assert config.assets_dir is None


def test_a_path_that_loops_is_an_error_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "posts").symlink_to(tmp_path / "posts")
    with pytest.raises(ConfigError, match="posts_dir: .*cannot resolve the path"):
        load_config(write(tmp_path, SITE))


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_authors_accept_a_bare_name(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            "site: {title: T, url: 'https://e.org/', author: Desk}\n"
            "authors: {b: {name: B, email: b@e.org}}\n",
        )
    )
    assert config.site.author == Author(name="Desk")
    assert config.authors["b"] == Author(name="B", email="b@e.org")


def test_shipped_config_is_valid() -> None:
    config = load_config(ROOT / "config.yaml")
    assert config.posts_dir == (ROOT / "posts").resolve()


def _dotted_keys(cls: type[Any], prefix: str = "") -> list[str]:
    keys = []
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if field.metadata.get("internal"):
            continue
        tp = hints[field.name]
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        inner = args[0] if len(args) == 1 else tp
        if dataclasses.is_dataclass(inner) and inner is not Author:
            keys.extend(_dotted_keys(typing.cast(type[Any], inner), f"{prefix}{field.name}."))
        else:
            keys.append(prefix + field.name)
    return keys


def test_readme_documents_every_config_key() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([a-z_.]+)`", readme, flags=re.MULTILINE))
    keys = _dotted_keys(Config)
    assert len(keys) > 10
    missing = [k for k in keys if k not in documented]
    assert not missing, f"README.md does not document: {missing}"
