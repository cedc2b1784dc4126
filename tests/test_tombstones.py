"""RFC 6721 tombstones (issue 20): a deleted or unpublished post appears as
``<at:deleted-entry ref="ID" when="...">`` in the Atom feeds that listed it, for
``feeds.tombstone_days``, and those feeds are notified.

Real parts: post files in tmp_path, a real SQLite store, the CLI through CliRunner, a
real local hub on 127.0.0.1; time is a FakeClock where the Publisher is driven directly.
Every feed asserted on is parsed with lxml (tombstones) and feedparser (what a reader
without RFC 6721 sees: the entries, cleanly).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner, Result
from lxml import etree

from syndicate.cli import main
from syndicate.config import Config
from syndicate.feeds import _formats
from syndicate.feeds._feedgen import FeedMeta
from syndicate.publisher import Publisher, open_publisher
from syndicate.store import TombstoneRecord
from syndicate.store.sql import SqlStore
from tests.conftest import ConfigFactory
from tests.servers import FakeClock, HubServer

from .validator import validate

ATOM = "{http://www.w3.org/2005/Atom}"
AT = "{http://purl.org/atompub/tombstones/1.0}"

POST = """---
title: {title}
date: {date}
author: badely
tags: [{tags}]
{extra}---

Body of {title}.
"""


def write_post(
    posts_dir: Path,
    name: str,
    title: str,
    date: str = "2024-04-01 10:00:00",
    tags: str = "common",
    extra: str = "",
) -> Path:
    path = posts_dir / name
    path.write_text(POST.format(title=title, date=date, tags=tags, extra=extra), encoding="utf-8")
    return path


def read_atom(body: bytes) -> tuple[list[str], list[tuple[str, str]]]:
    """(entry ids as feedparser reads them, (ref, when) of each tombstone as lxml finds
    it); the feed must read cleanly in both."""
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    root = etree.fromstring(body)
    assert root.tag == f"{ATOM}feed"
    tombs = [(str(el.get("ref")), str(el.get("when"))) for el in root.iter(f"{AT}deleted-entry")]
    # Children of the feed, after its entries (RFC 6721 2: a child of atom:feed).
    for el in root.iter(f"{AT}deleted-entry"):
        assert el.getparent() is root
    return [entry.id for entry in parsed.entries], tombs


def atom_of(config: Config, path: str) -> tuple[list[str], list[tuple[str, str]]]:
    return read_atom((config.output_dir / path.lstrip("/")).read_bytes())


# -- through the CLI ----------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """config.yaml, posts/ and a store under tmp_path, made the current folder."""
    (tmp_path / "posts").mkdir()
    (tmp_path / "config.yaml").write_text(
        "site:\n  title: News\n  url: https://example.org/\n  description: The news\n"
        "posts_dir: posts\nauthors:\n  badely:\n    name: Badely\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result


def entry_ids(path: Path) -> dict[str, str]:
    """Title -> entry id of each entry of an Atom feed."""
    parsed = feedparser.parse(path.read_bytes())
    return {entry.title: entry.id for entry in parsed.entries}


def test_republish_after_deleting_a_post_file_shows_its_tombstone(project: Path) -> None:
    posts = project / "posts"
    write_post(posts, "2024-04-01-one.md", "One", tags="common, only-one")
    write_post(posts, "2024-04-02-two.md", "Two", "2024-04-02 10:00:00")
    write_post(posts, "2024-04-03-three.md", "Three", "2024-04-03 10:00:00")
    run("republish")
    live = project / "_site"
    gone_id = entry_ids(live / "feed.atom")["One"]
    before = datetime.now(UTC).replace(microsecond=0)

    (posts / "2024-04-01-one.md").unlink()
    run("republish")
    after = datetime.now(UTC)

    for feed in ("feed.atom", "tag/common.atom", "author/badely.atom"):
        ids, tombs = read_atom((live / feed).read_bytes())
        assert gone_id not in ids and len(ids) == 2, feed
        assert [ref for ref, _ in tombs] == [gone_id], feed
        when = datetime.fromisoformat(tombs[0][1])
        assert when.tzinfo is not None and before <= when <= after, feed
        # The feed's updated is the deletion's time: a reader polling by date sees it.
        root = etree.fromstring((live / feed).read_bytes())
        assert root.findtext(f"{ATOM}updated") == tombs[0][1]
    # The feed only the deleted post was in is gone: no feed to show its tombstone in.
    assert not (live / "tag" / "only-one.atom").exists()
    # RSS and JSON Feed have no tombstone: the entry is just gone.
    for feed in ("feed.rss", "feed.json", "tag/common.rss", "tag/common.json"):
        body = (live / feed).read_bytes()
        assert b"deleted-entry" not in body and b"One" not in body, feed
    assert [i["title"] for i in json.loads((live / "feed.json").read_bytes())["items"]] == [
        "Three",
        "Two",
    ]

    # Publishing again changes nothing: the tombstone keeps the time it was first seen.
    bytes_before = {p: p.read_bytes() for p in live.rglob("*.atom")}
    result = run("republish")
    assert "0 changed" in result.output
    assert {p: p.read_bytes() for p in live.rglob("*.atom")} == bytes_before

    # The static build reads the same tombstones from the store: the same bytes.
    run("build", "--out", "public")
    for feed in ("feed.atom", "tag/common.atom", "author/badely.atom", "feed.rss", "feed.json"):
        assert (project / "public" / feed).read_bytes() == (live / feed).read_bytes(), feed


def test_build_alone_shows_no_tombstone_it_was_never_told_of(project: Path) -> None:
    """A static build records nothing: a deletion no publish saw has no tombstone (its
    time would be a different one at each build)."""
    posts = project / "posts"
    write_post(posts, "2024-04-01-one.md", "One")
    write_post(posts, "2024-04-02-two.md", "Two", "2024-04-02 10:00:00")
    run("build", "--out", "public")
    (posts / "2024-04-01-one.md").unlink()
    run("build", "--out", "public")
    ids, tombs = read_atom((project / "public" / "feed.atom").read_bytes())
    assert len(ids) == 1 and tombs == []


def test_unpublishing_shows_a_tombstone_and_publishing_again_drops_it(project: Path) -> None:
    posts = project / "posts"
    write_post(posts, "2024-04-01-one.md", "One")
    write_post(posts, "2024-04-02-two.md", "Two", "2024-04-02 10:00:00")
    run("republish")
    live = project / "_site"
    one = entry_ids(live / "feed.atom")["One"]

    write_post(posts, "2024-04-01-one.md", "One", extra="published: false\n")
    run("republish")
    ids, tombs = read_atom((live / "feed.atom").read_bytes())
    assert one not in ids and [ref for ref, _ in tombs] == [one]

    write_post(posts, "2024-04-01-one.md", "One")
    run("republish")
    ids, tombs = read_atom((live / "feed.atom").read_bytes())
    assert one in ids and tombs == []
    # Gone from the store too: a later build does not bring it back.
    run("build", "--out", "public")
    assert read_atom((project / "public" / "feed.atom").read_bytes())[1] == []


# -- through the Publisher, with a clock and a hub -----------------------------------


@pytest.fixture
def hub() -> Iterator[HubServer]:
    with HubServer() as server:
        yield server


@pytest.fixture
def pub_clock() -> FakeClock:
    return FakeClock(datetime(2024, 5, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def pub_config(make_config: ConfigFactory, hub: HubServer) -> Config:
    return make_config(
        websub={"hubs": [hub.url]},
        storage={"url": "sqlite:///state/syndicate.db"},
        notify={"timeout": 2, "max_attempts": 3, "max_backoff": 10},
        feeds={"tombstone_days": 10},
    )


@pytest.fixture
def publisher(pub_config: Config, pub_clock: FakeClock) -> Iterator[Publisher]:
    pub = open_publisher(pub_config, clock=pub_clock)
    yield pub
    pub.close()


def deliver(pub: Publisher) -> None:
    assert pub.outbox is not None
    pub.outbox.deliver_due()


def three_posts(posts_dir: Path) -> None:
    write_post(posts_dir, "2024-04-01-one.md", "One", tags="common, first")
    write_post(posts_dir, "2024-04-02-two.md", "Two", "2024-04-02 10:00:00", "common, first")
    write_post(posts_dir, "2024-04-03-three.md", "Three", "2024-04-03 10:00:00")


@pytest.mark.parametrize("named", [False, True], ids=["scan", "file-event"])
def test_the_feeds_with_a_new_tombstone_are_notified(
    publisher: Publisher, posts_dir: Path, hub: HubServer, pub_clock: FakeClock, named: bool
) -> None:
    """A deletion found by a scan, or named by a file-system event (the service's edit
    path, which plans from the last plan)."""
    three_posts(posts_dir)
    publisher.publish()
    publisher.publish(paths=[])  # the posts as last read, as the watcher leaves them
    deliver(publisher)
    config = publisher.config
    one = atom_ids(config, "/feed.atom")[-1]
    hub.requests.clear()

    pub_clock.advance(hours=1)
    (posts_dir / "2024-04-01-one.md").unlink()
    result = publisher.publish(paths=[posts_dir / "2024-04-01-one.md"] if named else None)
    # Planned from the last plan: the posts gone known from what it took out.
    assert publisher._plan is not None and publisher._plan.left is not None
    deliver(publisher)
    atoms = {
        f"https://example.org{p}" for p in ("/feed.atom", "/tag/common.atom", "/tag/first.atom")
    }
    assert atoms | {"https://example.org/author/badely.atom"} <= set(hub.publishes)
    for path in ("/feed.atom", "/tag/common.atom", "/tag/first.atom", "/author/badely.atom"):
        assert atom_of(config, path)[1] == [(one, "2024-05-01T13:00:00+00:00")], path
        assert path in result.changed_feeds
    # The tag the post shared with another one keeps its feed; the other post is not
    # tombstoned anywhere.
    assert atom_of(config, "/tag/first.atom")[0] == [atom_ids(config, "/feed.atom")[-1]]


def atom_ids(config: Config, path: str) -> list[str]:
    return atom_of(config, path)[0]


def test_a_tombstone_expires_after_the_window_and_its_feed_is_notified(
    publisher: Publisher, posts_dir: Path, hub: HubServer, pub_clock: FakeClock
) -> None:
    three_posts(posts_dir)
    publisher.publish()
    (posts_dir / "2024-04-03-three.md").unlink()
    publisher.publish()
    deliver(publisher)
    config = publisher.config
    assert len(atom_of(config, "/feed.atom")[1]) == 1
    rss_before = (config.output_dir / "feed.rss").read_bytes()
    hub.requests.clear()

    pub_clock.advance(days=9, hours=23)  # within the 10 days: no change
    assert publisher.publish().changed_feeds == ()
    assert len(atom_of(config, "/feed.atom")[1]) == 1

    pub_clock.advance(hours=2)  # past them
    result = publisher.publish()
    deliver(publisher)
    assert atom_of(config, "/feed.atom")[1] == []
    assert atom_of(config, "/author/badely.atom")[1] == []
    # Only the Atom documents changed (RSS never had the tombstone).
    assert set(result.changed_feeds) == {"/feed.atom", "/tag/common.atom", "/author/badely.atom"}
    assert (config.output_dir / "feed.rss").read_bytes() == rss_before
    assert set(hub.publishes) == {f"https://example.org{p}" for p in result.changed_feeds}
    assert publisher.store is not None and publisher.store.tombstones() == []


def test_tombstones_survive_a_restart(
    pub_config: Config, posts_dir: Path, pub_clock: FakeClock
) -> None:
    three_posts(posts_dir)
    first = open_publisher(pub_config, clock=pub_clock)
    first.publish()
    (posts_dir / "2024-04-02-two.md").unlink()
    first.publish()
    first.close()
    tombs = atom_of(pub_config, "/feed.atom")[1]
    assert len(tombs) == 1
    before = (pub_config.output_dir / "feed.atom").read_bytes()

    # A new process: a new store connection, no memory of the last Site but the live tree.
    pub_clock.advance(days=1)
    second = open_publisher(pub_config, clock=pub_clock)
    try:
        assert second.publish().changed_feeds == ()
        assert (pub_config.output_dir / "feed.atom").read_bytes() == before
        # A post deleted while no publisher ran is seen by the first publish after.
        (posts_dir / "2024-04-01-one.md").unlink()
        second.publish()
        refs = [ref for ref, _ in atom_of(pub_config, "/feed.atom")[1]]
        assert len(refs) == 2 and tombs[0][0] in refs
        assert atom_of(pub_config, "/feed.atom")[1][0][1] == "2024-05-02T12:00:00+00:00"
    finally:
        second.close()


def test_a_post_that_only_left_a_tag_or_changed_its_id_gets_no_tombstone(
    publisher: Publisher, posts_dir: Path
) -> None:
    three_posts(posts_dir)
    publisher.publish()
    config = publisher.config
    write_post(posts_dir, "2024-04-01-one.md", "One", tags="common")  # off "first"
    write_post(posts_dir, "2024-04-03-three.md", "Three", "2024-04-03 10:00:00", extra="id: x:3\n")
    publisher.publish()
    for path in ("/feed.atom", "/tag/first.atom", "/tag/common.atom", "/author/badely.atom"):
        assert atom_of(config, path)[1] == [], path
    assert "x:3" in atom_ids(config, "/feed.atom")
    # Renamed: the post keeps its entry id, so it never left.
    (posts_dir / "2024-04-02-two.md").rename(posts_dir / "2024-04-02-two-renamed.md")
    publisher.publish()
    assert atom_of(config, "/feed.atom")[1] == []


def test_the_same_after_a_restart_for_a_changed_id(
    pub_config: Config, posts_dir: Path, pub_clock: FakeClock
) -> None:
    """The full plan after a restart (no plan in memory) spares a renumbered post too."""
    three_posts(posts_dir)
    first = open_publisher(pub_config, clock=pub_clock)
    first.publish()
    first.close()
    write_post(posts_dir, "2024-04-03-three.md", "Three", "2024-04-03 10:00:00", extra="id: x:3\n")
    second = open_publisher(pub_config, clock=pub_clock)
    try:
        second.publish()
    finally:
        second.close()
    assert atom_of(pub_config, "/feed.atom")[1] == []


def test_no_tombstones_when_the_window_is_zero(
    make_config: ConfigFactory, posts_dir: Path, pub_clock: FakeClock
) -> None:
    config = make_config(storage={"url": "sqlite:///state/s.db"}, feeds={"tombstone_days": 0})
    pub = open_publisher(config, clock=pub_clock)
    try:
        three_posts(posts_dir)
        pub.publish()
        (posts_dir / "2024-04-01-one.md").unlink()
        pub.publish()
        assert atom_of(config, "/feed.atom")[1] == []
        assert pub.store is not None and pub.store.tombstones() == []
    finally:
        pub.close()


def test_a_negative_window_is_a_config_error(project: Path) -> None:
    (project / "config.yaml").write_text(
        "site:\n  title: News\n  url: https://example.org/\nfeeds:\n  tombstone_days: -1\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["build", "--out", "public"])
    assert result.exit_code == 1
    assert "feeds.tombstone_days: expected an int >= 0" in result.output
    assert "Traceback" not in result.output


# -- the W3C validator, the formats' two paths, the store -----------------------------


def test_feeds_with_tombstones_validate(project: Path) -> None:
    posts = project / "posts"
    write_post(posts, "2024-04-01-one.md", "One", tags="a & b")
    write_post(posts, "2024-04-02-two.md", "Two", "2024-04-02 10:00:00", tags="a & b")
    write_post(posts, "2024-04-03-three.md", "Three", "2024-04-03 10:00:00", extra="id: x:<&>\n")
    run("republish")
    (posts / "2024-04-01-one.md").unlink()
    (posts / "2024-04-03-three.md").unlink()
    run("republish")
    live = project / "_site"
    refs = [ref for ref, _ in read_atom((live / "feed.atom").read_bytes())[1]]
    assert "x:<&>" in refs and len(refs) == 2
    results = validate(live, "https://example.org/")
    # 0 errors. The W3C validator knows no RFC 6721 (its list of namespaces predates it)
    # and warns once per feed of any namespace it does not know: that one warning, of
    # the tombstones' namespace, is all it may say, and only of a feed with tombstones.
    with_tombs = {"feed.atom", "tag/a-b.atom", "author/badely.atom"}
    complaints = {str(r["feed"]): r["messages"] for r in results if r["messages"]}
    assert set(complaints) == with_tombs
    for feed, messages in complaints.items():
        assert len(messages) == 1, (feed, messages)
        assert messages[0]["type"] == "warning" and messages[0]["class"] == "UnknownNamespace"
        assert _formats.TOMBSTONES_NS in str(messages[0]), messages


def test_templated_and_feedgen_feeds_splice_tombstones_alike(
    config: Config, posts_dir: Path
) -> None:
    """The oracle: the template path and feedgen's own feed give the same bytes, with
    entries or none (the only post of a feed deleted)."""
    from syndicate.feeds._entry import make_entry
    from syndicate.posts import load_posts, render_post

    write_post(posts_dir, "a.md", "A & B")
    (post,), problems = load_posts(config)
    assert not problems
    entry = make_entry(post, render_post(post, config), config)
    when = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    tombs = [
        TombstoneRecord("site", "", 'tag:example.org,2024:"b"&<c>', when),
        TombstoneRecord("site", "", "tag:example.org,2024:d", when - timedelta(days=1)),
    ]
    meta = FeedMeta(
        title="News",
        description="The news",
        rss_url="https://example.org/feed.rss",
        atom_url="https://example.org/feed.atom",
        updated=when,
        published=post.date,
    )
    for entries in ([entry], []):
        templated = _formats.render_feed(meta, entries, config, "atom", tombs)
        reference = _formats._feedgen_feed(
            meta, entries, config, "atom", _formats.deleted_entries(tombs)
        )
        assert templated == reference
        ids, found = read_atom(templated)
        assert len(ids) == len(entries)
        assert found == [(t.entry_id, t.when.isoformat()) for t in tombs]
        rss = _formats.render_feed(meta, entries, config, "rss", tombs)
        assert b"deleted-entry" not in rss
        assert rss == _formats.render_feed(meta, entries, config, "rss")


def test_the_store_keeps_tombstones(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    when = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    long_name = "n" * 3000
    records = [
        TombstoneRecord("site", "", "tag:a", when),
        TombstoneRecord("tag", long_name, "tag:a", when),
        TombstoneRecord("category", "News", "x" * 3000, when + timedelta(seconds=1)),
    ]
    store = SqlStore(url)
    store.save_tombstones(records)
    store.close()
    store = SqlStore(url)
    try:
        assert sorted(store.tombstones(), key=lambda t: t.key) == sorted(
            records, key=lambda t: t.key
        )
        store.save_tombstones([], [("tag", long_name, "tag:a")])
        assert {t.key for t in store.tombstones()} == {records[0].key, records[2].key}
        # Saving one again replaces it (one row per key).
        later = TombstoneRecord("site", "", "tag:a", when + timedelta(days=1))
        store.save_tombstones([later])
        assert later in store.tombstones() and len(store.tombstones()) == 2
    finally:
        store.close()


@pytest.mark.parametrize("seed", range(6))
def test_tombstones_planned_from_the_last_plan_equal_those_from_scratch(
    make_config: ConfigFactory, posts_dir: Path, seed: int
) -> None:
    """The oracle of the two ways to find the posts gone: from the plan's own record of
    what it took out (an edit in a running service), and from every feed of the last
    Site (after a restart): the same tombstones, the same bytes."""
    import random

    from syndicate.feeds import Built, Tombstones, build_site
    from syndicate.posts import load_post, load_posts

    config = make_config(feeds={"limit": 5, "tombstone_days": 3})
    rng = random.Random(seed)
    tags = ["a", "b", "c", "d"]
    for n in range(30):
        chosen = ", ".join(rng.sample(tags, rng.randint(0, 2)))
        write_post(posts_dir, f"p{n:02}.md", f"Post {n}", f"2024-04-{n % 28 + 1:02} 10:00", chosen)
    posts, _ = load_posts(config)
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    kept = (TombstoneRecord("tag", "a", "tag:gone-long-ago", now - timedelta(days=5)),)
    first = [build_site(posts, config, now, tombstones=Tombstones(kept)) for _ in range(2)]
    assert first[0].plan is not None and first[0].plan.tombstones == ()
    by_path = {post.relpath: post for post in posts}
    renumbered: set[str] = set()
    (posts_dir / "p27.md").unlink()  # the newest: in the site feed's first 5 at least
    del by_path["p27.md"]
    for path in rng.sample(sorted(by_path), 12):
        change = rng.choice(["delete", "unpublish", "retag", "renumber", "edit"])
        post = by_path[path]
        if change == "delete":
            (posts_dir / path).unlink()
            del by_path[path]
            continue
        extra = {"unpublish": "published: false\n", "renumber": f"id: x:{path}\n"}.get(change, "")
        retag = rng.choice(tags) if change == "retag" else ", ".join(post.tags)
        title = post.title + (" again" if change == "edit" else "")
        date = post.date.strftime("%Y-%m-%d %H:%M")
        write_post(posts_dir, path, title, date, retag, extra)
        new, _ = load_post(posts_dir / path, config)
        assert new is not None
        by_path[path] = new
        if change == "renumber":
            renumbered.add(post.entry_id)
    later = now + timedelta(hours=1)
    again = list(by_path.values())
    incremental = build_site(
        again, config, later, previous=first[0], tombstones=Tombstones(kept, renumbered)
    )
    assert incremental.plan is not None and incremental.plan.left is not None
    scratch = build_site(
        again,
        config,
        later,
        previous=Built(first[1].site, None),
        tombstones=Tombstones(kept, renumbered),
    )
    assert scratch.plan is not None and scratch.plan.left is None
    tombs = incremental.plan.tombstones
    assert tombs is not None and tombs == scratch.plan.tombstones
    assert ("site", "", first[0].site.feeds[0].entry_ids[0]) in {t.key for t in tombs}
    assert all(t.when == later for t in tombs)
    assert incremental.site.signatures == scratch.site.signatures
    assert incremental.site.documents.keys() == scratch.site.documents.keys()
    for path, doc in incremental.site.documents.items():
        assert doc.body == scratch.site.documents[path].body, path
    # And every tombstone is in its feed, for the ids no longer in any feed.
    shown = {info.atom_path: info for info in incremental.site.feeds}
    for tomb in tombs:
        info = next(i for i in shown.values() if (i.kind, i.name or "") == tomb.key[:2])
        refs = [r for r, _ in read_atom(incremental.site.documents[info.atom_path].body)[1]]
        assert tomb.entry_id in refs and tomb.entry_id not in info.entry_ids
        assert tomb.entry_id not in renumbered


def test_the_end_of_a_tombstone_means_a_publish_at_the_next_start(
    pub_config: Config, posts_dir: Path, pub_clock: FakeClock
) -> None:
    """``republish`` or a worker starting with no file changed skips the publish (the
    stamp): not once a tombstone's window has ended, which changes its feeds."""
    from syndicate.publisher import stamp

    three_posts(posts_dir)
    hour_ago = time.time() - 3600
    for path in posts_dir.iterdir():
        os.utime(path, (hour_ago, hour_ago))  # saved a while ago: trusted by the stamp
    pub = open_publisher(pub_config, clock=pub_clock)
    try:
        pub.publish()
        (posts_dir / "2024-04-01-one.md").unlink()
        pub.publish()
    finally:
        pub.close()  # writes the stamp
    end = (pub_clock() + timedelta(days=10)).timestamp()  # feeds.tombstone_days: 10
    found = stamp.confirm(pub_config, now=end - 1)
    assert found is not None and found.next_due == end
    assert stamp.confirm(pub_config, now=end) is None


@pytest.mark.parametrize("extra", ["published: false\n", "draft: true\n", "future"])
def test_deleting_the_file_of_a_post_never_shown_leaves_no_tombstone(
    project: Path, extra: str
) -> None:
    """A draft, an unpublished post or one scheduled for later has a row in the store
    (its entry id is minted when it is first read) but was never in a feed: deleting its
    file tells readers nothing, in any feed, archive pages or not."""
    config_path = project / "config.yaml"
    config_path.write_text(
        config_path.read_text(encoding="utf-8") + "feeds:\n  limit: 2\n", encoding="utf-8"
    )
    posts = project / "posts"
    for n in range(1, 6):
        write_post(posts, f"2024-04-0{n}-p{n}.md", f"P{n}", f"2024-04-0{n} 10:00:00")
    date = "2099-01-01 10:00:00" if extra == "future" else "2024-03-01 10:00:00"
    hidden = write_post(
        posts, "hidden.md", "Hidden", date, extra="" if extra == "future" else extra
    )
    run("republish")
    store = SqlStore(f"sqlite:///{project / 'syndicate.db'}")
    try:
        assert "hidden.md" in store.posts()  # a row, though never shown
    finally:
        store.close()
    hidden.unlink()
    run("republish")
    feeds = sorted((project / "_site").rglob("*.atom"))
    assert len(feeds) > 2  # the site feed, its archive pages, the tag and author feeds
    for feed in feeds:
        assert read_atom(feed.read_bytes())[1] == [], feed
