"""RFC 5005 archived feeds (issue 20): the live feed holds the newest ``feeds.limit``
entries and links ``prev-archive`` to the newest archive page; the pages hold every post
of the feed by month (a busy month in several pages), each with ``fh:archive``, a
``current`` link and its neighbours, and keep their bytes once a newer page follows.

Read as a reader reads them: from the live feed's URL, link after link, with feedparser
and lxml, on sites built through the CLI (``build``) and served by the web app."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from lxml import etree

from syndicate.cli import main
from syndicate.config import Config, load_config
from syndicate.errors import ConfigError
from syndicate.feeds import build_site
from syndicate.posts import Post, Rendered, load_posts
from syndicate.publisher import Publisher, open_publisher
from syndicate.web import create_app
from tests.conftest import ConfigFactory
from tests.servers import FakeClock
from tests.test_feed_content_kinds import _Ahead
from tests.validator import validate

ATOM = "{http://www.w3.org/2005/Atom}"
FH = "{http://purl.org/syndication/history/1.0}"
SITE = "https://example.org/"
START = datetime(2023, 1, 2, 8, 0, tzinfo=UTC)
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
# About a post every two and a half days: 300 posts over two years, some 12 a month.
STEP = timedelta(hours=61)
POSTS = 300

CONFIG = """site:
  title: Example News
  url: https://example.org/
  language: en
  timezone: UTC
posts_dir: posts
feeds:
  limit: 10
  archive_page_size: {page}
  archives: {archives}
"""

POST = """---
title: Post {n}
date: {date}
categories: [{category}]
tags: [{tag}]
---
The text of post {n}.
"""


def write_post(posts: Path, n: int, date: datetime, title: str | None = None) -> Path:
    path = posts / f"post-{n:04d}.md"
    text = POST.format(
        n=n,
        date=date.strftime("%Y-%m-%d %H:%M:%S +0000"),
        category="News" if n % 3 else "Ops",
        tag="python" if n % 2 else "rust",
    )
    if title is not None:
        text = text.replace(f"title: Post {n}\n", f"title: {title}\n")
    path.write_text(text, encoding="utf-8")
    return path


def write_site(root: Path, posts: int = POSTS, page: int = 5, archives: str = "site") -> Path:
    folder = root / "posts"
    folder.mkdir(exist_ok=True)
    for n in range(posts):
        write_post(folder, n, START + n * STEP)
    config = root / "config.yaml"
    config.write_text(CONFIG.format(page=page, archives=archives), encoding="utf-8")
    return config


def build(config: Path, out: Path) -> None:
    result = CliRunner().invoke(main, ["build", "--config", str(config), "--out", str(out)])
    assert result.exit_code == 0, result.output


def local(out: Path, url: str) -> Path:
    assert url.startswith(SITE), url
    return out / url.removeprefix(SITE)


def read(path: Path) -> feedparser.FeedParserDict:
    parsed = feedparser.parse(path.read_bytes())
    assert not parsed.bozo, (path, parsed.get("bozo_exception"))
    return parsed


def link(parsed: feedparser.FeedParserDict, rel: str) -> str | None:
    found = [item.href for item in parsed.feed.get("links", []) if item.get("rel") == rel]
    assert len(found) <= 1, (rel, found)
    return found[0] if found else None


def page_back(out: Path, live: str) -> list[tuple[str, feedparser.FeedParserDict]]:
    """Every archive page from the live feed's ``prev-archive`` on, newest first, as a
    reader follows them; checks the links between neighbours on the way."""
    pages: list[tuple[str, feedparser.FeedParserDict]] = []
    url = link(read(local(out, live)), "prev-archive")
    seen: set[str] = set()
    while url is not None:
        assert url not in seen, f"{url}: a loop"
        seen.add(url)
        parsed = read(local(out, url))
        assert link(parsed, "self") == url
        assert link(parsed, "current") == live
        if pages:
            assert link(parsed, "next-archive") == pages[-1][0]
        else:
            assert link(parsed, "next-archive") is None  # the newest page
        pages.append((url, parsed))
        url = link(parsed, "prev-archive")
    return pages


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_paging_back_from_the_live_feed_finds_every_post_once(tmp_path: Path, fmt: str) -> None:
    config = write_site(tmp_path)
    out = tmp_path / "out"
    build(config, out)
    live_url = f"{SITE}feed.{fmt}"
    live = read(out / f"feed.{fmt}")
    newest = [f"Post {n}" for n in range(POSTS - 1, POSTS - 11, -1)]
    assert [e.title for e in live.entries] == newest
    pages = page_back(out, live_url)
    titles = [e.title for _, page in pages for e in page.entries]
    assert sorted(titles) == sorted(f"Post {n}" for n in range(POSTS))  # each post, once
    assert len(titles) == len(set(titles)) == POSTS
    # Newest first throughout, as a reader pages back in time.
    dates = [e.published_parsed for _, page in pages for e in page.entries]
    assert dates == sorted(dates, reverse=True)
    for url, page in pages:
        assert 1 <= len(page.entries) <= 5
        months = {e.published_parsed[:2] for e in page.entries}
        assert len(months) == 1, url  # one month to a page
        year, month = months.pop()
        assert f"/feed/archive/{year:04d}/{month:02d}" in url
        root = etree.parse(local(out, url)).getroot()
        channel = root if fmt == "atom" else root.find("channel")
        assert channel is not None and channel.find(f"{FH}archive") is not None
    # The live feed is no archive; every archive page keeps the live feed's id.
    root = etree.parse(out / f"feed.{fmt}").getroot()
    assert root.find(f".//{FH}archive") is None
    if fmt == "atom":
        assert {
            etree.parse(local(out, url)).getroot().findtext(f"{ATOM}id") for url, _ in pages
        } == {root.findtext(f"{ATOM}id")}


def archive_files(out: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(out)): path.read_bytes()
        for path in sorted(out.rglob("*"))
        if path.is_file() and "archive" in path.parts
    }


def has_next(body: bytes) -> bool:
    return b'rel="next-archive"' in body


def test_a_new_post_leaves_the_full_archives_byte_identical(tmp_path: Path) -> None:
    config = write_site(tmp_path)
    build(config, tmp_path / "one")
    before = archive_files(tmp_path / "one")
    newest = [name for name in before if name.endswith(".atom") and not has_next(before[name])]
    assert len(newest) == 1
    stem = newest[0].removesuffix(".atom")
    # Room for one more in the newest page, and a date in its month.
    assert len(read(tmp_path / "one" / newest[0]).entries) < 5
    write_post(tmp_path / "posts", POSTS, START + (POSTS - 1) * STEP + timedelta(minutes=1))
    build(config, tmp_path / "two")
    after = archive_files(tmp_path / "two")
    assert set(after) == set(before)
    full = [name for name in before if has_next(before[name])]
    assert len(full) > 100
    for name in full:
        assert after[name] == before[name], name
        assert after[name + ".gz"] == before[name + ".gz"], name
    changed = {name for name in after if before[name] != after[name]}
    assert changed == {f"{stem}.atom", f"{stem}.atom.gz", f"{stem}.rss", f"{stem}.rss.gz"}
    assert f"Post {POSTS}" in [e.title for e in read(tmp_path / "two" / newest[0]).entries]


def test_a_post_that_starts_a_page_changes_the_page_before_once(tmp_path: Path) -> None:
    """A new page: the one before it gains its next-archive link (RFC 5005 says a page
    SHOULD have one), and every other page stays as it was."""
    config = write_site(tmp_path, posts=40)
    build(config, tmp_path / "one")
    before = archive_files(tmp_path / "one")
    # Into next year: a month of its own, so a page of its own.
    write_post(tmp_path / "posts", 40, START + timedelta(days=400))
    build(config, tmp_path / "two")
    after = archive_files(tmp_path / "two")
    changed = {name for name in before if after.get(name) != before[name]}
    added = set(after) - set(before)
    newest_before = [n for n in before if n.endswith(".atom") and not has_next(before[n])]
    assert len(newest_before) == 1
    stem = newest_before[0].removesuffix(".atom")
    assert changed == {f"{stem}.atom", f"{stem}.atom.gz", f"{stem}.rss", f"{stem}.rss.gz"}
    assert {name.rsplit("/", 2)[-2] for name in added} == {"2024"}
    assert len(added) == 4


def test_an_edit_of_an_old_post_rewrites_only_its_page(tmp_path: Path) -> None:
    config = write_site(tmp_path)
    build(config, tmp_path / "one")
    before = archive_files(tmp_path / "one")
    write_post(tmp_path / "posts", 7, START + 7 * STEP, title="Post 7, corrected")
    build(config, tmp_path / "two")
    after = archive_files(tmp_path / "two")
    assert set(after) == set(before)
    changed = sorted(name for name in before if after[name] != before[name])
    assert [name for name in changed if not name.endswith(".gz")] == [
        "feed/archive/2023/01-2.atom",
        "feed/archive/2023/01-2.rss",
    ]
    page = read(tmp_path / "two" / "feed/archive/2023/01-2.atom")
    assert "Post 7, corrected" in [e.title for e in page.entries]


def test_deleting_an_old_post_changes_only_its_month(tmp_path: Path) -> None:
    config = write_site(tmp_path)
    build(config, tmp_path / "one")
    before = archive_files(tmp_path / "one")
    (tmp_path / "posts" / "post-0030.md").unlink()  # March 2023
    build(config, tmp_path / "two")
    after = archive_files(tmp_path / "two")
    changed = {n for n in set(before) | set(after) if before.get(n) != after.get(n)}
    assert changed and all(n.startswith("feed/archive/2023/03") for n in changed), changed
    titles = [
        e.title for _, page in page_back(tmp_path / "two", f"{SITE}feed.atom") for e in page.entries
    ]
    assert "Post 30" not in titles and len(titles) == POSTS - 1


def test_a_feed_with_no_more_posts_than_the_live_feed_has_no_archives(tmp_path: Path) -> None:
    config = write_site(tmp_path, posts=10)
    build(config, tmp_path / "out")
    assert not (tmp_path / "out" / "feed" / "archive").exists()
    assert link(read(tmp_path / "out" / "feed.atom"), "prev-archive") is None


def test_archives_for_every_feed_or_none(tmp_path: Path) -> None:
    config = write_site(tmp_path, posts=60, archives="all")
    build(config, tmp_path / "all")
    out = tmp_path / "all"
    for live in ("category/news.atom", "tag/python.rss", "tag/rust.atom"):
        parsed = read(out / live)
        titles = [e.title for _, page in page_back(out, SITE + live) for e in page.entries]
        assert len(titles) == len(set(titles)) > len(parsed.entries)
        assert set(e.title for e in parsed.entries) <= set(titles)
    # "Ops" has 20 posts (every third), more than the live feed's 10: archived too.
    assert (out / "category" / "ops" / "archive").is_dir()
    config.write_text(CONFIG.format(page=5, archives="none"), encoding="utf-8")
    build(config, tmp_path / "none")
    assert not any("archive" in p.parts for p in (tmp_path / "none").rglob("*"))
    assert link(read(tmp_path / "none" / "feed.atom"), "prev-archive") is None


def test_no_json_feed_archives_and_no_listing_of_pages(tmp_path: Path) -> None:
    config = write_site(tmp_path, posts=40)
    out = tmp_path / "out"
    build(config, out)
    assert not list(out.rglob("archive/**/*.json"))
    opml = (out / "feeds.opml").read_text(encoding="utf-8")
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "archive" not in opml and "/archive/" not in index


def test_archive_pages_pass_the_w3c_validator(tmp_path: Path) -> None:
    config = write_site(tmp_path, posts=30, page=4, archives="all")
    out = tmp_path / "out"
    build(config, out)
    results = validate(out, SITE)
    pages = [r for r in results if "/archive/" in f"/{r['feed']}"]
    assert len(pages) > 10
    problems = [(r["feed"], m) for r in results for m in r["messages"]]
    assert problems == []


def test_served_archive_pages_say_how_long_caches_may_keep_them(
    tmp_path: Path, make_config: ConfigFactory, posts_dir: Path
) -> None:
    for n in range(40):
        write_post(posts_dir, n, START + n * STEP)
    config = make_config(
        feeds={"limit": 10, "archive_page_size": 5},
        serve={"cache_max_age": 120, "archive_max_age": 86400},
        storage={"url": "sqlite:///state/syndicate.db"},
        output_dir="live",
    )
    publisher = open_publisher(config, clock=FakeClock(START + 50 * STEP))
    publisher.publish()
    assert publisher.store is not None
    publisher.store.close()
    app = create_app(config, reload_interval=None)
    client: FlaskClient = app.test_client()
    live = client.get("/feed.atom")
    assert live.status_code == 200 and live.headers["Cache-Control"] == "public, max-age=120"
    newest = link(feedparser.parse(live.data), "prev-archive")
    assert newest is not None
    answer = client.get(newest.removeprefix(SITE[:-1]))
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "public, max-age=120"  # still growing
    older = link(feedparser.parse(answer.data), "prev-archive")
    assert older is not None
    path = older.removeprefix(SITE[:-1])
    full = client.get(path, headers={"Accept-Encoding": "gzip"})
    assert full.status_code == 200
    assert full.headers["Cache-Control"] == "public, max-age=86400"
    assert full.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    again = client.get(
        path, headers={"If-None-Match": full.headers["ETag"], "Accept-Encoding": "gzip"}
    )
    assert again.status_code == 304
    assert again.headers["Cache-Control"] == "public, max-age=86400"
    # The service and the static build write the same bytes.
    with Publisher(config, clock=FakeClock(START + 50 * STEP)).build_static(tmp_path / "static"):
        pass
    served = archive_files(tmp_path / "live")
    assert len(served) > 8
    assert served == archive_files(tmp_path / "static")


@pytest.mark.parametrize(
    "feeds, message",
    [
        ({"archives": "monthly"}, "feeds.archives: expected site, all or none"),
        ({"archive_page_size": 0}, "feeds.archive_page_size: expected a positive int"),
    ],
)
def test_bad_archive_settings_are_refused(
    make_config: ConfigFactory, feeds: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        make_config(feeds=feeds)


def test_posts_in_archive_pages_only_are_prepared_without_json_feed_items(
    tmp_path: Path,
) -> None:
    """The worker processes leave out the JSON Feed item of a post that only archive
    pages carry (JSON Feed has none): told which posts those are, the site is the same
    bytes as rendered here, and no post is rendered again for a missing item."""
    config = load_config(write_site(tmp_path, posts=80, page=5, archives="all"))
    loaded, _ = load_posts(config)
    told: list[Collection[str]] = []

    class Recording(_Ahead):
        def prepare(
            self, posts: Sequence[Post], config: Config, no_json: Collection[str] = frozenset()
        ) -> list[tuple[Rendered | None, Any]]:
            told.append(no_json)
            return super().prepare(posts, config, no_json)

    ahead = Recording(deflated=False)
    fast = build_site(loaded, config, NOW, ahead).site
    plain = build_site(loaded, config, NOW).site
    assert fast.documents.keys() == plain.documents.keys()
    for path, document in plain.documents.items():
        assert fast.documents[path].body == document.body, path
    assert ahead.renders == []
    live = {entry_id for feed in fast.feeds for entry_id in feed.entry_ids}
    assert len(told) == 1
    assert set(told[0]) == {post.entry_id for post in loaded} - live
    assert len(told[0]) > len(loaded) / 2  # most of the posts: only in archive pages
