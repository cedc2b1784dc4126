"""The stateful publish path: ids minted once, change detection, notifications end to end.

Real parts: post files in tmp_path, a real SQLite store, the real outbox delivering to a
real local hub and XML-RPC ping server on 127.0.0.1. Time is a FakeClock.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import logging
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest
from lxml import etree

from syndicate.config import MANIFEST, Config
from syndicate.documents import entity_tag
from syndicate.outdir import MARKER
from syndicate.publisher import Publisher, open_publisher
from syndicate.publisher import orchestrator as publisher_module
from syndicate.site import manifest as manifest_module
from syndicate.site.manifest import StoredDocument, load_live, read_manifest
from tests.conftest import ConfigFactory
from tests.servers import EXTENDED, FakeClock, HubServer, PingServer

ATOM = "{http://www.w3.org/2005/Atom}"

POST = """---
title: {title}
date: {date}
author: badely
categories: [{category}]
tags: [{tags}]
{extra}---

{body}
"""


def write_post(
    posts_dir: Path,
    name: str,
    title: str = "A post",
    date: str = "2024-04-01 10:00:00",
    category: str = "News",
    tags: str = "belarus",
    body: str = "Some text.",
    extra: str = "",
) -> Path:
    path = posts_dir / name
    path.write_text(
        POST.format(title=title, date=date, category=category, tags=tags, body=body, extra=extra),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def servers() -> Iterator[tuple[HubServer, PingServer]]:
    with HubServer() as hub, PingServer() as pinger:
        yield hub, pinger


@pytest.fixture
def pub_clock() -> FakeClock:
    return FakeClock(datetime(2024, 5, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def publisher(
    make_config: ConfigFactory,
    servers: tuple[HubServer, PingServer],
    pub_clock: FakeClock,
    tmp_path: Path,
) -> Iterator[Publisher]:
    hub, pinger = servers
    config = make_config(
        websub={"hubs": [hub.url]},
        pings=[pinger.url],
        storage={"url": "sqlite:///state/syndicate.db"},
        notify={"timeout": 2, "max_attempts": 3, "max_backoff": 10},
    )
    pub = open_publisher(config, clock=pub_clock)
    yield pub
    assert pub.store is not None
    pub.store.close()


def deliver(pub: Publisher) -> None:
    assert pub.outbox is not None
    pub.outbox.deliver_due()


def atom_ids(config: Config, path: str) -> list[str]:
    body = (config.output_dir / path.lstrip("/")).read_bytes()
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return [entry.id for entry in parsed.entries]


def test_first_publish_writes_the_live_tree_and_notifies_every_feed(
    publisher: Publisher, posts_dir: Path, servers: tuple[HubServer, PingServer]
) -> None:
    hub, pinger = servers
    write_post(posts_dir, "2024-04-01-one.md", title="One", tags="belarus, europe")
    result = publisher.publish()
    expected = {
        "/feed.rss", "/feed.atom", "/category/news.rss", "/category/news.atom",
        "/tag/belarus.rss", "/tag/belarus.atom", "/tag/europe.rss", "/tag/europe.atom",
        "/feed.json", "/category/news.json", "/tag/belarus.json", "/tag/europe.json",
        "/author/badely.rss", "/author/badely.atom", "/author/badely.json",
    }  # fmt: skip
    assert set(result.changed_feeds) == expected
    assert result.queued == len(expected) + 1  # one per feed for the hub, one ping
    deliver(publisher)
    assert sorted(hub.publishes) == sorted("https://example.org/" + p.lstrip("/") for p in expected)
    assert [call.method for call in pinger.calls] == [EXTENDED]
    site = load_live(publisher.config.output_dir)
    assert site is not None and set(expected) <= set(site.documents)
    root = etree.fromstring(site.documents["/feed.atom"].body)
    assert root.findtext(f"{ATOM}entry/{ATOM}title") == "One"


def test_unchanged_posts_change_nothing_and_notify_nobody(
    publisher: Publisher, posts_dir: Path, servers: tuple[HubServer, PingServer]
) -> None:
    hub, _ = servers
    write_post(posts_dir, "2024-04-01-one.md")
    publisher.publish()
    deliver(publisher)
    before = len(hub.requests)
    manifest = read_manifest(publisher.config.output_dir)
    result = publisher.publish()
    deliver(publisher)
    assert result.changed_feeds == () and result.queued == 0
    assert len(hub.requests) == before
    after = read_manifest(publisher.config.output_dir)
    assert manifest is not None and after is not None
    assert after["documents"] == manifest["documents"]


def test_the_manifest_is_plain_json_through_edits(publisher: Publisher, posts_dir: Path) -> None:
    """The manifest is spliced from entries encoded once each: the bytes are exactly what
    json.dumps makes of what they parse to, however many publishes reused them."""
    out = publisher.config.output_dir
    write_post(posts_dir, "2024-04-01-one.md", title="One", tags="belarus")
    write_post(posts_dir, "2024-04-02-two.md", title='Tw\u00f6 "quoted"', tags="europe")
    seen = []
    for step in range(4):
        if step == 1:
            write_post(posts_dir, "2024-04-01-one.md", title="One, again", tags="belarus, asia")
        if step == 2:
            (posts_dir / "2024-04-02-two.md").unlink()
        # File events name the changed files, a deleted one included.
        named = [posts_dir / "2024-04-01-one.md", posts_dir / "2024-04-02-two.md"]
        publisher.publish(paths=None if step == 0 else named)
        raw = (out / MANIFEST).read_bytes()
        parsed = json.loads(raw)
        assert raw == json.dumps(parsed).encode()
        assert parsed["generation"] == step + 1
        seen.append(set(parsed["documents"]))
    assert "/tag/asia.rss" in seen[1]
    assert "/tag/europe.rss" in seen[1] and "/tag/europe.rss" not in seen[2]
    assert seen[3] == seen[2]


def test_one_edit_notifies_exactly_the_affected_feeds(
    publisher: Publisher,
    posts_dir: Path,
    servers: tuple[HubServer, PingServer],
    pub_clock: FakeClock,
) -> None:
    hub, pinger = servers
    write_post(posts_dir, "2024-04-01-one.md", title="One", category="News", tags="belarus")
    write_post(posts_dir, "2024-04-02-two.md", title="Two", category="Culture", tags="food")
    publisher.publish()
    deliver(publisher)
    hub.requests.clear()
    pinger.calls.clear()

    pub_clock.advance(60)
    write_post(posts_dir, "2024-04-02-two.md", title="Two", category="Culture", tags="food",
               body="Corrected text.")  # fmt: skip
    result = publisher.publish()
    expected = {"/feed.rss", "/feed.atom", "/category/culture.rss", "/category/culture.atom",
                "/tag/food.rss", "/tag/food.atom",
                "/feed.json", "/category/culture.json", "/tag/food.json",
                # both posts are badely's: the author's feed holds the edit too
                "/author/badely.rss", "/author/badely.atom", "/author/badely.json"}  # fmt: skip
    assert set(result.changed_feeds) == expected
    deliver(publisher)
    assert sorted(hub.publishes) == sorted("https://example.org/" + p.lstrip("/") for p in expected)
    assert len(pinger.calls) == 1


def test_content_change_moves_the_entry_updated(
    publisher: Publisher, posts_dir: Path, pub_clock: FakeClock
) -> None:
    write_post(posts_dir, "2024-04-01-one.md", body="First version.")
    publisher.publish()
    config = publisher.config
    first = feedparser.parse((config.output_dir / "feed.atom").read_bytes()).entries[0]
    assert first.updated_parsed[:5] == (2024, 4, 1, 10, 0)

    pub_clock.advance(3600)
    write_post(posts_dir, "2024-04-01-one.md", body="Second version, with a correction.")
    publisher.publish()
    second = feedparser.parse((config.output_dir / "feed.atom").read_bytes()).entries[0]
    assert second.id == first.id
    assert second.published == first.published
    # The clock read 2024-05-01 13:00 UTC when the change was seen.
    assert second.updated_parsed[:5] == (2024, 5, 1, 13, 0)


@pytest.mark.parametrize("key", ["last_modified_at", "updated"])
def test_the_front_matter_last_modified_at_is_the_entry_updated(
    publisher: Publisher, posts_dir: Path, pub_clock: FakeClock, key: str
) -> None:
    """When the front matter says when the post last changed, readers see exactly that
    (jekyll-feed's rule), not the time the publisher noticed a change."""

    def entry() -> feedparser.FeedParserDict:
        raw = (publisher.config.output_dir / "feed.atom").read_bytes()
        etree.fromstring(raw)
        parsed = feedparser.parse(raw)
        assert not parsed.bozo, parsed.get("bozo_exception")
        rss = feedparser.parse((publisher.config.output_dir / "feed.rss").read_bytes())
        assert not rss.bozo and rss.entries[0].published_parsed[:5] == (2024, 4, 1, 10, 0)
        return parsed.entries[0]

    name = "2024-04-01-one.md"
    write_post(posts_dir, name, body="First.", extra=f"{key}: 2024-04-02 09:00:00\n")
    publisher.publish()
    assert entry().updated_parsed[:5] == (2024, 4, 2, 9, 0)

    pub_clock.advance(3600)  # 2024-05-01 13:00 UTC when the edits below are published
    write_post(posts_dir, name, body="Second.", extra=f"{key}: 2024-04-20 08:30:00\n")
    publisher.publish()
    assert entry().updated_parsed[:5] == (2024, 4, 20, 8, 30)

    # An edit that leaves the date alone: the editor says it is not worth an update.
    pub_clock.advance(3600)
    write_post(posts_dir, name, body="Third, a typo fixed.", extra=f"{key}: 2024-04-20 08:30:00\n")
    publisher.publish()
    assert entry().updated_parsed[:5] == (2024, 4, 20, 8, 30)

    # Without the key, the time the change was published (as before any key was given).
    pub_clock.advance(3600)
    write_post(posts_dir, name, body="Fourth.")
    publisher.publish()
    assert entry().updated_parsed[:5] == (2024, 5, 1, 15, 0)


def test_renamed_post_keeps_its_entry_id(publisher: Publisher, posts_dir: Path) -> None:
    old = write_post(posts_dir, "2024-04-01-one.md", title="One", body="Body that stays.")
    publisher.publish()
    ids = atom_ids(publisher.config, "/feed.atom")
    # The editor tidies the file name and fixes the date: readers must not see it twice.
    old.unlink()
    write_post(posts_dir, "2024-04-02-one-renamed.md", title="One, retitled",
               date="2024-04-02 09:00:00", body="Body that stays.")  # fmt: skip
    publisher.publish()
    assert atom_ids(publisher.config, "/feed.atom") == ids
    assert publisher.store is not None
    assert set(publisher.store.posts()) == {"2024-04-02-one-renamed.md"}


def test_renamed_post_with_front_matter_id_keeps_it(publisher: Publisher, posts_dir: Path) -> None:
    old = write_post(posts_dir, "2024-04-01-one.md", extra="id: urn:uuid:1b4e28ba-2fa1-11d2\n")
    publisher.publish()
    old.unlink()
    write_post(posts_dir, "2024-04-01-other.md", body="Rewritten body.",
               extra="id: urn:uuid:1b4e28ba-2fa1-11d2\n")  # fmt: skip
    publisher.publish()
    assert atom_ids(publisher.config, "/feed.atom") == ["urn:uuid:1b4e28ba-2fa1-11d2"]


def test_deleted_post_leaves_its_feeds_and_they_are_notified(
    publisher: Publisher, posts_dir: Path, servers: tuple[HubServer, PingServer]
) -> None:
    hub, _ = servers
    write_post(posts_dir, "2024-04-01-one.md", title="One", tags="belarus")
    gone = write_post(posts_dir, "2024-04-02-two.md", title="Two", tags="belarus, food")
    publisher.publish()
    deliver(publisher)
    hub.requests.clear()

    gone.unlink()
    result = publisher.publish()
    assert {"/feed.atom", "/tag/belarus.atom"} <= set(result.changed_feeds)
    assert set(result.removed_feeds) == {"/tag/food.rss", "/tag/food.atom", "/tag/food.json"}
    deliver(publisher)
    assert "https://example.org/tag/belarus.atom" in hub.publishes
    assert [e.title for e in feedparser.parse(
        (publisher.config.output_dir / "feed.atom").read_bytes()).entries] == ["One"]  # fmt: skip
    assert not (publisher.config.output_dir / "tag" / "food.atom").exists()
    assert not (publisher.config.output_dir / "tag" / "food.atom.gz").exists()


def test_unpublished_post_leaves_its_feeds(publisher: Publisher, posts_dir: Path) -> None:
    write_post(posts_dir, "2024-04-01-one.md", title="One")
    write_post(posts_dir, "2024-04-02-two.md", title="Two")
    publisher.publish()
    write_post(posts_dir, "2024-04-02-two.md", title="Two", extra="published: false\n")
    result = publisher.publish()
    assert "/feed.atom" in result.changed_feeds
    titles = [e.title for e in feedparser.parse(
        (publisher.config.output_dir / "feed.atom").read_bytes()).entries]  # fmt: skip
    assert titles == ["One"]


def test_two_posts_with_one_id_are_an_error_naming_both(
    publisher: Publisher, posts_dir: Path
) -> None:
    write_post(posts_dir, "2024-04-01-a.md", title="A", extra="id: urn:x:same\n")
    write_post(posts_dir, "2024-04-02-b.md", title="B", extra="id: urn:x:same\n")
    result = publisher.publish()
    messages = [str(p) for p in result.errors]
    assert any("2024-04-01-a.md" in m and "2024-04-02-b.md" in m for m in messages), messages
    assert atom_ids(publisher.config, "/feed.atom") == ["urn:x:same"]


def test_force_notifies_every_feed(
    publisher: Publisher, posts_dir: Path, servers: tuple[HubServer, PingServer]
) -> None:
    hub, _ = servers
    write_post(posts_dir, "2024-04-01-one.md")
    publisher.publish()
    deliver(publisher)
    hub.requests.clear()
    result = publisher.publish(force=True)
    assert result.changed_feeds == ()
    deliver(publisher)
    # site, category, tag and author feeds, RSS, Atom and JSON
    assert len(hub.publishes) == 12


def test_notifications_survive_a_restart(
    make_config: ConfigFactory, posts_dir: Path, pub_clock: FakeClock
) -> None:
    with HubServer() as hub:
        config = make_config(websub={"hubs": [hub.url]})
        write_post(posts_dir, "2024-04-01-one.md")
        first = open_publisher(config, clock=pub_clock)
        first.publish()
        assert first.store is not None
        first.store.close()  # the process stops before delivering anything
        assert hub.requests == []

        second = open_publisher(config, clock=pub_clock)
        assert second.store is not None and second.outbox is not None
        assert len(second.store.pending()) == 12  # 4 feeds (an author's too), 3 formats
        second.outbox.deliver_due()
        assert len(hub.publishes) == 12
        assert second.store.pending() == []
        second.store.close()


def test_future_post_is_published_at_its_time(
    publisher: Publisher, posts_dir: Path, pub_clock: FakeClock
) -> None:
    write_post(posts_dir, "2024-04-01-now.md", title="Now")
    write_post(posts_dir, "2024-06-01-later.md", title="Later", date="2024-06-01 08:00:00")
    result = publisher.publish()
    assert [path for path, _ in result.scheduled] == ["2024-06-01-later.md"]
    assert result.scheduled[0][1] == datetime(2024, 6, 1, 8, 0, tzinfo=UTC)
    titles = [e.title for e in feedparser.parse(
        (publisher.config.output_dir / "feed.atom").read_bytes()).entries]  # fmt: skip
    assert titles == ["Now"]

    pub_clock.advance(days=31, hours=20)  # 2024-06-01 08:00 UTC
    result = publisher.publish()
    assert result.scheduled == ()
    assert "/feed.atom" in result.changed_feeds and result.queued > 0
    titles = [e.title for e in feedparser.parse(
        (publisher.config.output_dir / "feed.atom").read_bytes()).entries]  # fmt: skip
    assert titles == ["Later", "Now"]


def test_a_post_that_breaks_keeps_its_last_good_version_published(
    publisher: Publisher, posts_dir: Path
) -> None:
    write_post(posts_dir, "2024-04-01-one.md", title="One")
    path = write_post(posts_dir, "2024-04-02-two.md", title="Two", date="2024-04-02 10:00:00")
    publisher.publish()
    path.write_text('---\ntitle: "Two\ndate: 2024-04-02\n---\nBroken quote.\n', encoding="utf-8")
    result = publisher.publish()
    (error,) = result.errors
    assert error.path == path and "last good version stays published" in error.message
    titles = [e.title for e in feedparser.parse(
        (publisher.config.output_dir / "feed.atom").read_bytes()).entries]  # fmt: skip
    assert titles == ["Two", "One"]
    assert result.changed_feeds == ()


def test_a_post_that_breaks_before_it_was_ever_in_a_feed_stays_out_until_fixed(
    make_config: ConfigFactory, pub_clock: FakeClock
) -> None:
    """Its last good version was never rendered, and its text, let go once digested,
    cannot be read back from the broken file: the other posts are published all the
    same, and this one joins its feeds once the editor fixes it."""
    # One entry a feed and no archive pages (which hold every post): the older post is
    # in no feed.
    config = make_config(
        feeds={"limit": 1, "archives": "none"}, storage={"url": "sqlite:///state/syndicate.db"}
    )
    posts_dir = config.posts_dir
    newer = write_post(posts_dir, "2024-04-03-newer.md", title="Newer", date="2024-04-03 10:00:00")
    older = write_post(posts_dir, "2024-04-01-older.md", title="Older")
    pub = open_publisher(config, clock=pub_clock)

    def titles(path: str) -> list[str]:
        body = (config.output_dir / path.lstrip("/")).read_bytes()
        etree.fromstring(body)
        return [entry.title for entry in feedparser.parse(body).entries]

    try:
        pub.publish()
        write_post(posts_dir, older.name, title="Older, edited")  # in no feed: limit 1
        pub.publish(paths=[older])
        older.write_text('---\ntitle: "Older\n---\nBroken quote.\n', encoding="utf-8")
        (error,) = pub.publish(paths=[older]).errors
        assert error.path == older and "stays out of the feeds until it is fixed" in error.message
        newer.unlink()  # the older post would now lead every feed
        # Forced: the store's every post goes (a broken one never published has no row).
        result = pub.publish(paths=[newer, older], force=True)
        assert [problem.path for problem in result.errors] == [older]
        assert titles("/feed.atom") == []
        assert not (config.output_dir / "category" / "news.rss").exists()  # no post left in it
        write_post(posts_dir, older.name, title="Older, fixed")
        assert pub.publish(paths=[older]).errors == ()
        assert titles("/feed.atom") == titles("/tag/belarus.atom") == ["Older, fixed"]
    finally:
        assert pub.store is not None
        pub.store.close()


def test_static_build_shows_the_ids_the_service_published(
    publisher: Publisher, posts_dir: Path
) -> None:
    """`syndicate build` reads ids from the store, so a renamed post keeps its id there too."""
    old = write_post(posts_dir, "2024-04-01-one.md", title="One", body="Body that stays.")
    publisher.publish()
    ids = atom_ids(publisher.config, "/feed.atom")
    old.unlink()
    write_post(posts_dir, "2024-04-03-renamed.md", title="One", date="2024-04-03 09:00:00",
               body="Body that stays.")  # fmt: skip
    publisher.publish()
    result = Publisher(publisher.config, store=publisher.store).build()
    parsed = feedparser.parse(result.site.documents["/feed.atom"].body)
    assert [e.id for e in parsed.entries] == ids
    # Without the store, the id would be minted from the new file name and date.
    fresh = Publisher(publisher.config).build()
    fresh_ids = [e.id for e in feedparser.parse(fresh.site.documents["/feed.atom"].body).entries]
    assert fresh_ids != ids


def test_another_process_keeps_the_last_good_version_too(
    publisher: Publisher, posts_dir: Path
) -> None:
    """`syndicate republish` or the dashboard start with no memory: the cache has it."""
    write_post(posts_dir, "2024-04-01-one.md", title="One")
    path = write_post(posts_dir, "2024-04-02-two.md", title="Two", date="2024-04-02 10:00:00")
    publisher.publish()
    path.write_text('---\ntitle: "Two\n---\nBroken.\n', encoding="utf-8")
    other = open_publisher(publisher.config, clock=publisher.clock)
    try:
        result = other.publish()
    finally:
        assert other.store is not None
        other.store.close()
    assert "last good version stays published" in result.errors[0].message
    assert result.changed_feeds == ()


def test_publishing_named_paths_equals_a_full_scan(
    publisher: Publisher, posts_dir: Path, make_config: ConfigFactory, pub_clock: FakeClock
) -> None:
    """File events name the changed files; the result is what a full scan would give."""
    for n in range(4):
        write_post(posts_dir, f"2024-04-0{n + 1}-p{n}.md", title=f"P{n}",
                   date=f"2024-04-0{n + 1} 10:00:00", tags=["belarus", "food"][n % 2])  # fmt: skip
    publisher.publish()
    edited = write_post(posts_dir, "2024-04-02-p1.md", title="P1 edited",
                        date="2024-04-02 10:00:00", tags="food")  # fmt: skip
    added = write_post(posts_dir, "2024-04-05-new.md", title="New", date="2024-04-05 10:00:00")
    gone = posts_dir / "2024-04-03-p2.md"
    gone.unlink()
    # A file changed behind the watcher's back is not re-read by a targeted publish...
    sneaky = write_post(posts_dir, "2024-04-04-p3.md", title="P3 sneaky",
                        date="2024-04-04 10:00:00", tags="food")  # fmt: skip
    os.utime(sneaky, ns=(1, 1))
    result = publisher.publish(paths=[edited, added, gone])
    titles = [e.title for e in feedparser.parse(result.site.documents["/feed.atom"].body).entries]
    assert titles == ["New", "P3", "P1 edited", "P0"]
    # ... until the next full scan, the safety net.
    full = publisher.publish()
    titles = [e.title for e in feedparser.parse(full.site.documents["/feed.atom"].body).entries]
    assert titles == ["New", "P3 sneaky", "P1 edited", "P0"]
    fresh = open_publisher(publisher.config, clock=pub_clock)
    try:
        again = fresh.publish()
    finally:
        assert fresh.store is not None
        fresh.store.close()
    assert {p: d.body for p, d in again.site.documents.items()} == {
        p: d.body for p, d in full.site.documents.items()
    }


def test_web_workers_serve_the_publishers_gzip_files(publisher: Publisher, posts_dir: Path) -> None:
    """A web worker takes each document's .gz from the live tree (checked against the
    body) instead of compressing it again; a .gz that does not match is compressed afresh."""
    import gzip

    from syndicate.site.manifest import read_live
    from syndicate.web import SiteHolder

    write_post(posts_dir, "2024-04-01-one.md", title="One", tags="belarus")
    publisher.publish()
    out = publisher.config.output_dir
    (out / "tag" / "belarus.rss.gz").write_bytes(gzip.compress(b"<rss>stale</rss>", mtime=0))
    (out / "feed.rss.gz").write_bytes(b"not gzip at all")
    live = read_live(out)
    assert live is not None
    holder = SiteHolder(live, 300, "https://example.org/")

    def served_gzip(path: str) -> bytes:
        payload = holder.cache.load(holder.current.documents[path])
        assert payload is not None
        return payload.gzip_body

    assert served_gzip("/feed.atom") == (out / "feed.atom.gz").read_bytes()
    for path in ("/tag/belarus.rss", "/feed.rss"):
        packed = served_gzip(path)
        assert packed != (out / (path.lstrip("/") + ".gz")).read_bytes()
        assert gzip.decompress(packed) == (out / path.lstrip("/")).read_bytes()


def test_an_edit_is_settled_without_going_over_every_post(
    publisher: Publisher, posts_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Named files in a clean site take the short way (no full reconcile); anything that
    needs arbitrating (an error, a duplicate id) takes the full way, and back again."""
    for n in range(3):
        write_post(posts_dir, f"2024-04-0{n + 1}-p{n}.md", title=f"P{n}",
                   date=f"2024-04-0{n + 1} 10:00:00")  # fmt: skip
    publisher.publish()
    full_ways: list[int] = []
    real = Publisher._reconcile

    def counting(self: Publisher, *args: object, **kwargs: object) -> object:
        full_ways.append(1)
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Publisher, "_reconcile", counting)
    edited = write_post(posts_dir, "2024-04-02-p1.md", title="P1 edited",
                        date="2024-04-02 10:00:00")  # fmt: skip
    result = publisher.publish(paths=[edited])
    assert full_ways == []
    assert "P1 edited" in [e.title for e in feedparser.parse(
        result.site.documents["/feed.atom"].body).entries]  # fmt: skip
    edited.write_text('---\ntitle: "P1\n---\nBroken.\n', encoding="utf-8")
    result = publisher.publish(paths=[edited])
    assert full_ways == [1] and result.errors
    fixed = write_post(posts_dir, "2024-04-02-p1.md", title="P1 fixed", date="2024-04-02 10:00:00")
    publisher.publish(paths=[fixed])  # the state before had an error: the full way
    again = write_post(posts_dir, "2024-04-02-p1.md", title="P1 again", date="2024-04-02 10:00:00")
    result = publisher.publish(paths=[again])
    assert full_ways == [1, 1]
    assert "P1 again" in [e.title for e in feedparser.parse(
        result.site.documents["/feed.atom"].body).entries]  # fmt: skip


def test_a_restart_keeps_the_store_rows_as_settled_sharing_the_posts_strings(
    publisher: Publisher, posts_dir: Path
) -> None:
    """The rows a restart reads from the store and finds unchanged are kept once, as
    settled (the post's path and entry id, the cache's digests), not as read; the next
    full publish still recognises each post by them and settles it as it was."""
    write_post(posts_dir, "2024-04-01-one.md", title="One", tags="belarus")
    write_post(posts_dir, "2024-04-02-two.md", title="Two", tags="europe")
    publisher.publish()
    restarted = Publisher(
        publisher.config, publisher.clock, publisher.store, publisher.outbox, publisher.cache
    )
    restarted.publish()
    assert restarted._records is not None and restarted._pipe is not None
    assert publisher.store is not None
    rows = restarted._records[2]
    assert rows == publisher.store.posts()
    memo = dict(restarted._settled)
    assert memo.keys() == rows.keys() == {"2024-04-01-one.md", "2024-04-02-two.md"}
    for relpath, post in restarted._pipe.settled.items():
        row = rows[relpath]
        assert memo[relpath][1] is row
        assert row.path is post.relpath and row.entry_id is post.entry_id

    assert restarted.publish().changed_feeds == ()
    assert restarted._records[2] == rows
    for relpath, settled in restarted._settled.items():
        assert settled is memo[relpath]  # recognised: not settled again
        assert restarted._records[2][relpath] is rows[relpath]


# --------------------------------------------------------------------------- kept on disk


def test_documents_between_publishes_are_read_from_the_live_tree(
    publisher: Publisher, posts_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A publisher keeps its Site without the bytes (they are on disk), and a restart with
    nothing changed reads none of them back, yet changes nothing."""

    write_post(posts_dir, "2024-04-01-one.md", title="One", tags="belarus")
    write_post(posts_dir, "2024-04-02-two.md", title="Two", tags="europe")
    first = publisher.publish()
    out = publisher.config.output_dir
    kept = publisher._site
    assert kept is not None and kept.documents
    assert all(isinstance(doc, StoredDocument) for doc in kept.documents.values())
    for path, doc in first.site.documents.items():
        assert kept.documents[path].body == doc.body  # read from the file, checked

    read: list[Path] = []
    real_read_bytes = Path.read_bytes

    def counting_read_bytes(self: Path) -> bytes:
        if self.is_relative_to(out) and self.name != MANIFEST:  # documents, not the index of them
            read.append(self)
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", counting_read_bytes)
    restarted = Publisher(
        publisher.config, publisher.clock, publisher.store, publisher.outbox, publisher.cache
    )
    again = restarted.publish()
    assert again.changed_feeds == () and again.queued == 0
    assert read == []

    # An edit reads nothing back either: it writes the feeds the post is in.
    write_post(posts_dir, "2024-04-01-one.md", title="One, edited", tags="belarus")
    edited = restarted.publish()
    assert "/tag/belarus.atom" in edited.changed_feeds
    assert "/tag/europe.atom" not in edited.changed_feeds
    assert read == []
    feed = feedparser.parse((out / "tag" / "belarus.atom").read_bytes())
    assert [entry.title for entry in feed.entries] == ["One, edited"]


def test_a_live_file_gone_at_a_restart_is_written_again(
    publisher: Publisher, posts_dir: Path
) -> None:
    write_post(posts_dir, "2024-04-01-one.md", title="One", tags="belarus")
    first = publisher.publish()
    out = publisher.config.output_dir
    (out / "tag" / "belarus.rss").unlink()
    restarted = Publisher(
        publisher.config, publisher.clock, publisher.store, publisher.outbox, publisher.cache
    )
    again = restarted.publish()
    assert again.changed_feeds == ()  # the same bytes as recorded: nobody is notified
    assert (out / "tag" / "belarus.rss").read_bytes() == first.site.documents[
        "/tag/belarus.rss"
    ].body
    assert etree.fromstring((out / "tag" / "belarus.rss").read_bytes()).tag == "rss"


def test_a_live_tree_removed_under_a_running_publisher_is_written_again_whole(
    publisher: Publisher, posts_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``rm -rf`` of the output folder between two publishes of one process: the next
    writes every document again (not only the changed ones) under a later generation."""
    write_post(posts_dir, "2024-04-01-one.md", title="One", tags="belarus, food")
    write_post(posts_dir, "2024-04-02-two.md", title="Two", tags="food")
    publisher.publish()
    write_post(posts_dir, "2024-04-02-two.md", title="Two, edited", tags="food")
    publisher.publish()
    out = publisher.config.output_dir
    before = read_manifest(out)
    assert before is not None and before["generation"] == 2

    shutil.rmtree(out)
    caplog.set_level(logging.INFO, logger="syndicate")
    again = publisher.publish()
    assert again.changed_feeds == ()  # the same bytes as recorded: nobody is notified
    manifest = read_manifest(out)
    assert manifest is not None
    assert manifest["generation"] == 3
    assert manifest["documents"].keys() == before["documents"].keys()
    for url_path, entry in manifest["documents"].items():
        assert entry == before["documents"][url_path]
        body = (out / entry["file"]).read_bytes()
        assert entity_tag(body) == entry["etag"], url_path
    assert _gz_mismatches(out) == []
    assert (out / MARKER).is_file()
    feed = feedparser.parse((out / "tag" / "belarus.atom").read_bytes())
    assert not feed.bozo and [e.title for e in feed.entries] == ["One"]
    assert any("gone" in r.getMessage() and str(out) in r.getMessage() for r in caplog.records)
    # The same process goes on from the tree it wrote again: an edit writes its feeds.
    write_post(posts_dir, "2024-04-01-one.md", title="One, edited", tags="belarus, food")
    publisher.publish()
    assert read_manifest(out)["generation"] == 4  # type: ignore[index]
    feed = feedparser.parse((out / "tag" / "belarus.atom").read_bytes())
    assert [e.title for e in feed.entries] == ["One, edited"]


def _gz_mismatches(out: Path) -> list[str]:
    """Documents of a live tree whose .gz is missing or holds other bytes."""
    manifest = read_manifest(out)
    assert manifest is not None
    wrong = []
    for entry in manifest["documents"].values():
        body = (out / entry["file"]).read_bytes()
        packed = out / (entry["file"] + ".gz")
        if not packed.exists() or gzip.decompress(packed.read_bytes()) != body:
            wrong.append(entry["file"])
    return wrong


@pytest.mark.parametrize("most", [64, 3])
def test_every_gz_of_the_live_tree_is_its_document(
    publisher: Publisher, posts_dir: Path, monkeypatch: pytest.MonkeyPatch, most: int
) -> None:
    """A publish compresses the documents it makes while it makes the next ones (up to
    a bound, the rest as they are written): each .gz, before and after an edit, holds
    its document's bytes."""
    monkeypatch.setattr(manifest_module, "PACK_AHEAD", most)
    write_post(posts_dir, "2024-04-01-one.md", title="One", tags="belarus, food")
    edited = write_post(
        posts_dir, "2024-04-02-two.md", title="Two", date="2024-04-02 10:00:00", tags="belarus"
    )
    publisher.publish()
    out = publisher.config.output_dir
    if most < 64:  # some documents beyond the bound
        assert len(read_manifest(out)["documents"]) > most  # type: ignore[index]
    assert _gz_mismatches(out) == []
    write_post(
        posts_dir, edited.name, title="Two, edited", date="2024-04-02 10:00:00", tags="belarus"
    )
    result = publisher.publish(paths=[edited])
    assert "/tag/belarus.atom" in result.changed_feeds
    assert _gz_mismatches(out) == []
    titles = [e.title for e in feedparser.parse(gzip.decompress(
        (out / "tag" / "belarus.atom.gz").read_bytes())).entries]  # fmt: skip
    assert titles == ["Two, edited", "One"]


def test_a_written_publish_holds_no_document_bytes(publisher: Publisher, posts_dir: Path) -> None:
    """The result's documents are the live tree's files, read back when asked for."""
    write_post(posts_dir, "2024-04-01-one.md", title="One")
    result = publisher.publish()
    assert all(isinstance(d, StoredDocument) for d in result.site.documents.values())
    feed = result.site.documents["/feed.atom"]
    assert feed.body == (publisher.config.output_dir / "feed.atom").read_bytes()
    assert [e.title for e in feedparser.parse(feed.body).entries] == ["One"]


def _tree(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(path.relative_to(root)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name not in (MANIFEST, MARKER)
    }


def test_a_publish_of_many_feeds_spools_them_and_writes_the_same_tree(
    make_config: ConfigFactory, pub_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the first PACK_AHEAD documents, each is written beside its place as it is made
    and renamed in by write_live: the tree is the one written all at the end."""
    trees = []
    moved: list[Path] = []
    real_move = manifest_module.SpooledDocument.move_to

    def move_to(self: manifest_module.SpooledDocument, target: Path) -> None:
        moved.append(target)
        real_move(self, target)

    monkeypatch.setattr(manifest_module.SpooledDocument, "move_to", move_to)
    for ahead in (1000, 2):
        monkeypatch.setattr(manifest_module, "PACK_AHEAD", ahead)
        config = make_config(storage={"url": f"sqlite:///state-{ahead}/syndicate.db"})
        config = dataclasses.replace(config, output_dir=config.root / f"live-{ahead}")
        for n in range(5):
            write_post(
                config.posts_dir,
                f"2024-04-0{n + 1}-p{n}.md",
                title=f"P{n}",
                date=f"2024-04-0{n + 1} 10:00:00",
                tags=["belarus", "food"][n % 2],
            )
        pub = open_publisher(config, clock=pub_clock)
        try:
            result = pub.publish()
        finally:
            assert pub.store is not None
            pub.store.close()
        assert all(isinstance(d, StoredDocument) for d in result.site.documents.values())
        assert not [p for p in config.output_dir.rglob("*") if ".spool-" in p.name]
        trees.append(_tree(config.output_dir))
    assert trees[0] == trees[1]  # bytes and mtimes (Last-Modified)
    # None spooled with room for every document ahead; all but two spooled, with two.
    assert len(moved) == len(result.site.documents) - 2
    feed = trees[1]["tag/food.atom"][0]
    assert gzip.decompress(trees[1]["tag/food.atom.gz"][0]) == feed
    assert [e.title for e in feedparser.parse(feed).entries] == ["P3", "P1"]


def test_a_publish_that_fails_leaves_no_spooled_file_and_the_tree_as_it_was(
    publisher: Publisher, posts_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_post(posts_dir, "2024-04-01-one.md", title="One")
    publisher.publish()
    out = publisher.config.output_dir
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    monkeypatch.setattr(manifest_module, "PACK_AHEAD", 1)

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(publisher_module, "write_live", broken)
    spooled: list[str] = []
    real_write = manifest_module.SpooledDocument.write

    def write(self: manifest_module.SpooledDocument, body: bytes) -> None:
        real_write(self, body)
        spooled.extend(p.name for p in out.rglob("*.spool-*"))

    monkeypatch.setattr(manifest_module.SpooledDocument, "write", write)
    write_post(posts_dir, "2024-04-02-two.md", title="Two", date="2024-04-02 10:00:00")
    with pytest.raises(OSError, match="disk full"):
        publisher.publish()
    assert spooled  # there were spooled files, and they are gone
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
