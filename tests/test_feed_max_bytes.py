"""``feeds.max_bytes`` (issue 20): no feed document (RSS, Atom, JSON Feed, each on its
own) is over the limit; entries are dropped from the end, the newest is always kept, and
an entry that alone is over is sent as a summary, with a warning naming the post and the
feed. Built through the CLI on real files; every feed read as a reader reads it."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner, Result
from lxml import etree

from syndicate.cli import main
from syndicate.errors import ConfigError
from syndicate.feeds import build_site
from syndicate.posts import load_posts
from tests.conftest import ConfigFactory
from tests.validator import validate

ATOM = "{http://www.w3.org/2005/Atom}"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
FORMATS = ("rss", "atom", "json")

CONFIG = """site:
  title: Example News
  url: https://example.org/
  language: en
  author: {{name: Site Desk, email: desk@example.org}}
posts_dir: posts
authors:
  alice: {{name: Alice Smith, email: alice@example.org}}
feeds:
  max_bytes: {max_bytes}
{extra}"""

POST = """---
title: {title}
date: 2024-04-{day:02d} 10:00:00
author: alice
categories: [News]
---
The summary of {title}.

{body}
"""


def write_site(root: Path, max_bytes: int, sizes: list[int], extra: str = "") -> Path:
    """A site of one post per size (its body about that many bytes), oldest first."""
    posts = root / "posts"
    posts.mkdir(parents=True, exist_ok=True)
    for day, size in enumerate(sizes, start=1):
        body = "\n\n".join(f"Paragraph {n} of post {day}, " + "x" * 80 for n in range(size // 100))
        (posts / f"2024-04-{day:02d}-p{day}.md").write_text(
            POST.format(title=f"Post {day}", day=day, body=body), encoding="utf-8"
        )
    config = root / "config.yaml"
    config.write_text(CONFIG.format(max_bytes=max_bytes, extra=extra), encoding="utf-8")
    return config


def build(config: Path, out: Path) -> Result:
    result = CliRunner().invoke(main, ["build", "--config", str(config), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return result


def titles(path: Path) -> list[str]:
    """The entries' titles as a reader sees them, newest first; the document checked by
    feedparser and lxml (JSON Feed: json)."""
    body = path.read_bytes()
    if path.suffix == ".json":
        return [item["title"] for item in json.loads(body)["items"]]
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    root = etree.fromstring(body)
    tag = "item" if path.suffix == ".rss" else f"{ATOM}entry"
    assert len(list(root.iter(tag))) == len(parsed.entries)
    return [entry.title for entry in parsed.entries]


def feed_files(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.suffix in (".rss", ".atom", ".json"))


def size_with(document: bytes, suffix: str, count: int) -> int:
    """The size of ``document`` with its first ``count`` entries only (at least one),
    cut where its entries are: the head, then ``count`` entries, then the tail."""
    if suffix == ".json":
        starts = [m.start() + 1 for m in re.finditer(rb"\n    \{\"id\"", document)]
        tail = len(document) - document.rindex(b"\n  ]\n}\n")
        cut = starts[count] - len(b",\n") if count < len(starts) else len(document) - tail
        return cut + tail
    start, end = (rb"<item>", b"</item>") if suffix == ".rss" else (rb"<entry[ >]", b"</entry>")
    starts = [m.start() for m in re.finditer(start, document)]
    tail = len(document) - (document.rindex(end) + len(end))
    cut = starts[count] if count < len(starts) else len(document) - tail
    return cut + tail


NEWEST_FIRST = [f"Post {day}" for day in range(8, 0, -1)]


def test_without_a_limit_every_entry_is_in_every_feed(tmp_path: Path) -> None:
    config = write_site(tmp_path, 0, [3000] * 8)
    out = tmp_path / "out"
    build(config, out)
    for path in feed_files(out):
        assert titles(path) == NEWEST_FIRST, path


@pytest.mark.parametrize("max_bytes", [9000, 16000, 30000])
def test_no_feed_document_is_over_the_limit_and_the_newest_entries_stay(
    tmp_path: Path, max_bytes: int
) -> None:
    config = write_site(tmp_path, max_bytes, [3000] * 8)
    out = tmp_path / "out"
    build(config, out)
    full = tmp_path / "full"
    build(write_site(tmp_path / "unbounded", 0, [3000] * 8), full)
    counts = {}
    for path in feed_files(out):
        kept = titles(path)
        assert len(path.read_bytes()) <= max_bytes, path
        # A prefix of the unbounded feed's entries, newest first, the newest kept...
        assert kept == NEWEST_FIRST[: len(kept)] and kept, path
        counts[path.name] = len(kept)
    assert min(counts.values()) < 8  # the limit bites
    # ... and as many as fit: the unbounded document cut after the entries kept is the
    # bounded one, and cut after one more, it is over the limit.
    for path in feed_files(out):
        count = len(titles(path))
        unbounded = (full / path.relative_to(out)).read_bytes()
        assert size_with(unbounded, path.suffix, count) == len(path.read_bytes())
        if count < 8:
            assert size_with(unbounded, path.suffix, count + 1) > max_bytes


@pytest.mark.parametrize("sizes", [[3000] * 8, []])
def test_a_limit_no_feed_reaches_changes_no_byte(
    make_config: ConfigFactory, posts_dir: Path, sizes: list[int]
) -> None:
    """The bounded path (the feeds' parts added up, then joined) equals the plain one."""
    write_site(posts_dir.parent, 0, sizes)
    config = make_config(authors={"alice": {"name": "Alice Smith"}})
    bounded = make_config(authors={"alice": {"name": "Alice Smith"}}, feeds={"max_bytes": 10**9})
    posts = load_posts(config)[0]
    assert len(posts) == len(sizes)
    plain = build_site(posts, config, NOW).site.documents
    made = build_site(posts, bounded, NOW).site.documents
    assert {p: d.body for p, d in made.items()} == {p: d.body for p, d in plain.items()}


def test_formats_are_trimmed_each_on_its_own(tmp_path: Path) -> None:
    """RSS carries more bytes per entry than JSON Feed (content and summary both as
    escaped HTML): at a limit between them, the JSON Feed keeps more entries."""
    config = write_site(tmp_path, 20000, [3000] * 8)
    out = tmp_path / "out"
    build(config, out)
    sizes = {fmt: len(titles(out / f"feed.{fmt}")) for fmt in FORMATS}
    assert sizes["json"] >= sizes["atom"] and sizes["json"] > sizes["rss"] >= 1


def test_an_entry_over_the_limit_alone_is_sent_as_a_summary_with_a_warning(
    tmp_path: Path,
) -> None:
    config = write_site(tmp_path, 6000, [500, 500, 30000])  # the newest is huge
    out = tmp_path / "out"
    result = build(config, out)
    for fmt in FORMATS:
        path = out / f"feed.{fmt}"
        # The newest as a summary, and the next ones, which fit after it.
        assert titles(path) == ["Post 3", "Post 2", "Post 1"]
        body = path.read_bytes()
        assert len(body) <= 6000
        assert b"The summary of Post 3." in body
        assert b"Paragraph 5 of post 3" not in body  # the content is left out
    # The newest without its content in every format; the others keep theirs.
    atom = feedparser.parse((out / "feed.atom").read_bytes()).entries
    assert "content" not in atom[0] and "The summary of Post 3." in atom[0].summary
    assert "content" in atom[1]
    items = list(etree.fromstring((out / "feed.rss").read_bytes()).iter("item"))
    encoded = "{http://purl.org/rss/1.0/modules/content/}encoded"
    assert [item.find(encoded) is not None for item in items] == [False, True, True]
    json_items = json.loads((out / "feed.json").read_bytes())["items"]
    assert json_items[0]["content_html"] == "<p>The summary of Post 3.</p>"
    lines = [line for line in result.output.splitlines() if "feeds.max_bytes" in line]
    for feed in ("/feed.rss", "/feed.atom", "/feed.json", "/category/news.rss"):
        assert any("2024-04-03-p3.md" in line and f" {feed} " in line for line in lines), feed
    assert all("WARNING" in line and "as a summary" in line for line in lines)
    assert not any("still over" in line for line in lines)


def test_a_summary_still_over_the_limit_is_sent_anyway_and_the_warning_says_so(
    tmp_path: Path,
) -> None:
    config = write_site(tmp_path, 700, [500, 30000])
    out = tmp_path / "out"
    result = build(config, out)
    for fmt in FORMATS:
        path = out / f"feed.{fmt}"
        assert titles(path) == ["Post 2"]  # the newest entry, always
        assert len(path.read_bytes()) > 700
    lines = [line for line in result.output.splitlines() if "feeds.max_bytes" in line]
    assert any("2024-04-02-p2.md" in line and "/feed.atom" in line for line in lines)
    assert all("still over" in line and "sent anyway" in line for line in lines), lines


def test_feeds_max_bytes_is_not_negative(make_config: ConfigFactory) -> None:
    with pytest.raises(ConfigError, match=r"feeds\.max_bytes: expected an int >= 0"):
        make_config(feeds={"max_bytes": -1})


def test_bounded_feeds_pass_the_w3c_validator(tmp_path: Path) -> None:
    config = write_site(tmp_path, 9000, [3000] * 6 + [30000], extra="  tag_content: summary\n")
    out = tmp_path / "out"
    build(config, out)
    results = validate(out, "https://example.org/")
    assert len(results) == 1 + 3 * 2  # the OPML; the site, category and author feeds
    assert [(r["feed"], r["messages"]) for r in results if r["messages"]] == []
