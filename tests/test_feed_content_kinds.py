"""Full content or summary per kind of feed (issue 20): ``feeds.content`` for every feed,
``feeds.category_content`` / ``tag_content`` / ``author_content`` for the category, tag
and author feeds alone; a post's ``excerpt_only: true`` wins everywhere. Built through
the CLI on real files; every feed read as a reader reads it (feedparser, lxml, JSON)."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from syndicate.cli import main
from syndicate.config import Config, FeedsConfig
from syndicate.errors import ConfigError
from syndicate.feeds import Built, Rendering, build_site, serialise_entries
from syndicate.posts import Post, Rendered, load_posts, render_post
from tests.conftest import ConfigFactory
from tests.test_feeds import FakeRender
from tests.test_oracle_incremental_plans import PEOPLE, START, Step, _apply, _post, steps
from tests.validator import validate

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"

CONFIG = """site:
  title: Example News
  url: https://example.org/
  language: en
  author: {{name: Site Desk, email: desk@example.org}}
posts_dir: posts
authors:
  alice: {{name: Alice Smith, email: alice@example.org}}
feeds:
{feeds}
"""

POST = """---
title: {title}
date: {date}
author: alice
categories: [News]
tags: [python]
{extra}---
First paragraph of {title}, the summary.

Second paragraph of {title}, only in the full post.
"""

# Every feed of the site built below, (kind, its path without the extension).
FEEDS = {"site": "feed", "category": "category/news", "tag": "tag/python", "author": "author/alice"}


def write_site(root: Path, feeds: dict[str, str], excerpt_only: bool = False) -> Path:
    posts = root / "posts"
    posts.mkdir(exist_ok=True)
    for name, title, date in (
        ("2024-04-01-one.md", "One", "2024-04-01 10:00:00"),
        ("2024-04-02-two.md", "Two", "2024-04-02 10:00:00"),
    ):
        extra = "excerpt_only: true\n" if excerpt_only and title == "Two" else ""
        (posts / name).write_text(
            POST.format(title=title, date=date, extra=extra), encoding="utf-8"
        )
    config = root / "config.yaml"
    lines = "\n".join(f"  {key}: {value}" for key, value in feeds.items()) or "  limit: 20"
    config.write_text(CONFIG.format(feeds=lines), encoding="utf-8")
    return config


def build(config: Path, out: Path) -> None:
    result = CliRunner().invoke(main, ["build", "--config", str(config), "--out", str(out)])
    assert result.exit_code == 0, result.output


def carried(out: Path, feed: str) -> dict[str, list[bool]]:
    """Whether each entry of the feed carries the full post, per format, as a reader
    sees it: RSS content:encoded, Atom content, JSON Feed content_html beyond the
    summary. Every entry carries its summary and link in every format."""
    seen: dict[str, list[bool]] = {}
    for fmt in ("rss", "atom"):
        body = (out / f"{feed}.{fmt}").read_bytes()
        parsed = feedparser.parse(body)
        assert not parsed.bozo, parsed.get("bozo_exception")
        root = etree.fromstring(body)
        tag = CONTENT if fmt == "rss" else f"{ATOM}content"
        items = root.iter("item" if fmt == "rss" else f"{ATOM}entry")
        elements = [item.find(tag) for item in items]
        for entry, element in zip(parsed.entries, elements, strict=True):
            assert "the summary." in entry.summary
            assert entry.link.startswith("https://example.org/")
            assert ("content" in entry) is (element is not None)
        seen[fmt] = [element is not None for element in elements]
    items = json.loads((out / f"{feed}.json").read_bytes())["items"]
    for item in items:
        assert "the summary." in item["content_html"]
    seen["json"] = ["only in the full post" in item["content_html"] for item in items]
    assert seen["rss"] == seen["atom"] == seen["json"]
    return seen


@pytest.mark.parametrize(
    ("feeds", "full"),
    [
        ({}, {"site", "category", "tag", "author"}),
        ({"category_content": "summary", "author_content": "summary"}, {"site", "tag"}),
        ({"content": "summary", "tag_content": "full"}, {"tag"}),
        ({"content": "summary", "category_content": "summary"}, set()),
        ({"tag_content": "full", "author_content": "full"}, {"site", "category", "tag", "author"}),
    ],
)
def test_each_kind_of_feed_carries_the_content_its_key_says(
    tmp_path: Path, feeds: dict[str, str], full: set[str]
) -> None:
    config = write_site(tmp_path, feeds)
    out = tmp_path / "out"
    build(config, out)
    for kind, feed in FEEDS.items():
        expected = kind in full
        assert carried(out, feed)["rss"] == [expected, expected], kind


def test_excerpt_only_wins_in_a_feed_of_full_content(tmp_path: Path) -> None:
    config = write_site(tmp_path, {"content": "summary", "tag_content": "full"}, excerpt_only=True)
    out = tmp_path / "out"
    build(config, out)
    assert carried(out, "tag/python")["atom"] == [False, True]  # Two (newest) is excerpt_only
    assert carried(out, "feed")["atom"] == [False, False]


@pytest.mark.parametrize("key", ["category_content", "tag_content", "author_content"])
def test_a_kind_content_key_is_full_or_summary(make_config: ConfigFactory, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"feeds\.{key}: expected full or summary"):
        make_config(feeds={key: "excerpt"})


class _Ahead:
    """An EntrySource as the publisher's worker processes are: each entry serialised
    ahead (``serialise_entries``), deflated or not."""

    def __init__(self, deflated: bool) -> None:
        self.deflated = deflated
        self.renders: list[str] = []

    def prepare(
        self, posts: Sequence[Post], config: Config, no_json: Collection[str] = frozenset()
    ) -> list[tuple[Rendered | None, Any]]:
        items = [(post, render_post(post, config)) for post in posts]
        json = [post.entry_id not in no_json for post in posts]
        made = serialise_entries(items, config, deflated=self.deflated, json=json)
        return [(None, s) for s in made]

    def render(self, post: Post, config: Config) -> Rendered:
        self.renders.append(post.relpath)
        return render_post(post, config)


@pytest.mark.parametrize("deflated", [True, False])
@pytest.mark.parametrize(
    "feeds",
    [
        {"category_content": "summary"},
        {"content": "summary", "author_content": "full"},
        {"tag_content": "summary", "author_content": "summary"},
    ],
)
def test_entries_serialised_ahead_give_the_same_bytes_and_render_nothing_again(
    make_config: ConfigFactory, posts_dir: Path, feeds: dict[str, str], deflated: bool
) -> None:
    """The fast path (entries and their summary-only variants serialised in the worker
    processes) equals the plain one, and needs no post rendered again."""
    for day in range(1, 6):
        (posts_dir / f"2024-04-0{day}-p{day}.md").write_text(
            POST.format(title=f"P{day}", date=f"2024-04-0{day} 10:00:00", extra="").replace(
                "author: alice\n", "author: alice\n" if day % 2 else ""
            ),
            encoding="utf-8",
        )
    config = make_config(
        feeds=feeds, authors={"alice": {"name": "Alice Smith", "email": "a@example.org"}}
    )
    posts = load_posts(config)[0]
    renders: list[str] = []

    def counted(post: Post, config: Config) -> Rendered:
        renders.append(post.relpath)
        return render_post(post, config)

    plain = build_site(posts, config, NOW, Rendering(counted)).site
    assert sorted(renders) == sorted(p.relpath for p in posts)  # each rendered once
    ahead = _Ahead(deflated)
    fast = build_site(posts, config, NOW, ahead).site
    assert fast.documents.keys() == plain.documents.keys()
    for path, document in plain.documents.items():
        assert fast.documents[path].body == document.body, path
    assert ahead.renders == []


def test_a_site_with_content_per_kind_passes_the_w3c_validator(tmp_path: Path) -> None:
    config = write_site(
        tmp_path, {"content": "summary", "tag_content": "full", "author_content": "full"}
    )
    out = tmp_path / "out"
    build(config, out)
    results = validate(out, "https://example.org/")
    assert len(results) == 1 + 4 * 2  # the OPML, and each feed in RSS and Atom
    assert [(r["feed"], r["messages"]) for r in results if r["messages"]] == []


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps, st.sampled_from(["category", "tag", "author", "site"]))
def test_incremental_sites_with_content_per_kind_equal_full_sites(
    make_config: ConfigFactory, sequence: list[Step], kind: str
) -> None:
    """Entries kept from build to build (the service's) give the bytes of a fresh build
    when some kinds carry summaries: a kept entry makes its variant when a feed of
    summaries first needs it."""
    if kind == "site":
        feeds = {"limit": 3, "content": "summary", "tag_content": "full"}
    else:
        feeds = {"limit": 3, f"{kind}_content": "summary"}
    config = make_config(feeds=feeds, authors=PEOPLE)
    render = FakeRender()
    posts = {f"p{n}.md": _post(n, n, 9, 1 << (n % 5), n) for n in range(6)}
    now = START + timedelta(days=4)
    built: Built = build_site(posts.values(), config, now, Rendering(render))
    for step in sequence:
        now += _apply(posts, step)
        built = build_site(posts.values(), config, now, Rendering(render), previous=built)
        full = build_site(posts.values(), config, now, Rendering(render)).site
        assert {p: d.body for p, d in built.site.documents.items()} == {
            p: d.body for p, d in full.documents.items()
        }


@pytest.mark.parametrize("content", ["full", "summary"])
@pytest.mark.parametrize("category", [None, "full", "summary"])
@pytest.mark.parametrize("tag", [None, "full", "summary"])
@pytest.mark.parametrize("author", [None, "full", "summary"])
def test_content_is_rendered_when_some_kind_of_feed_carries_it(
    content: str, category: str | None, tag: str | None, author: str | None
) -> None:
    feeds = FeedsConfig(
        content=content, category_content=category, tag_content=tag, author_content=author
    )
    kinds = ("site", "category", "tag", "author")
    assert feeds.renders_content() == ("full" in {feeds.content_of(k) for k in kinds})
