"""SqlStore against real SQLite files in tmp_path: schema, records, outbox rules, sharing."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from syndicate.errors import StoreError
from syndicate.store import (
    BUILDS_KEPT,
    NO_BUILD_MARK,
    Attempt,
    BuildRecord,
    FeedRecord,
    NewNotification,
    PostRecord,
    Refusal,
    SlugRecord,
    Store,
    TargetRefusal,
    peek,
)
from syndicate.store.schema import SCHEMA_VERSION
from syndicate.store.sql import SqlStore

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
HUB = "http://127.0.0.1:9/hub"
FEED = "https://example.org/feed.atom"
OTHER_FEED = "https://example.org/feed.rss"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def websub(feed: str = FEED, hub: str = HUB) -> NewNotification:
    return NewNotification("websub", hub, feed)


def post(path: str = "2024-05-01-hello.md", **changes: object) -> PostRecord:
    values: dict[str, object] = {
        "path": path,
        "digest": "d1",
        "entry_id": "tag:example.org,2024-05-01:/hello",
        "first_seen": T0,
        "last_changed": T0,
        "front_id": None,
        "body_digest": "b1",
    }
    values.update(changes)
    return PostRecord(**values)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- schema


def test_sqlstore_satisfies_the_protocol(store: SqlStore) -> None:
    s: Store = store
    assert s.posts() == {}


def test_first_open_creates_tables_and_records_the_schema_version(db_url: str) -> None:
    with SqlStore(db_url) as store:
        assert store.schema_version() == SCHEMA_VERSION
        names = set(sa.inspect(store.engine).get_table_names())
    assert {
        "schema_version",
        "posts",
        "feeds",
        "slugs",
        "outbox",
        "attempts",
        "builds",
        "refusals",
        "live_tree",
    } <= names


def test_data_survives_reopening(db_url: str) -> None:
    with SqlStore(db_url) as store:
        store.upsert_post(post())
    with SqlStore(db_url) as store:
        assert store.posts() == {"2024-05-01-hello.md": post()}
        assert store.schema_version() == SCHEMA_VERSION


def test_a_newer_schema_version_is_refused_naming_the_url(db_url: str) -> None:
    with SqlStore(db_url) as store, store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE schema_version SET version = :v"), {"v": SCHEMA_VERSION + 1})
    with pytest.raises(StoreError, match="newer") as excinfo:
        SqlStore(db_url)
    assert db_url in str(excinfo.value)


def test_a_version_1_database_is_upgraded_keeping_its_data(db_url: str) -> None:
    # What syndicate before the slugs table left: every other table, version 1.
    with SqlStore(db_url) as store:
        store.upsert_post(post())
        store.upsert_feed(FeedRecord("/feed.atom", "f1", T0, 1))
        with store.engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE slugs"))
            conn.execute(sa.text("UPDATE schema_version SET version = 1"))
    with SqlStore(db_url) as store:
        assert store.schema_version() == SCHEMA_VERSION == 2
        assert store.posts() == {"2024-05-01-hello.md": post()}
        assert list(store.feeds()) == ["/feed.atom"]
        assert store.slugs() == {}
        store.save_slugs([SlugRecord("tag", "café", "cafe")])
        assert store.slugs() == {("tag", "café"): SlugRecord("tag", "café", "cafe")}


def test_an_unusable_database_is_a_store_error_naming_the_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}"
    with pytest.raises(StoreError, match="missing-dir"):
        SqlStore(url)


@pytest.mark.parametrize("url", ["not a url", "nosuchdialect://x/y"])
def test_a_bad_url_is_a_store_error(url: str) -> None:
    with pytest.raises(StoreError, match=url.split(":")[0]):
        SqlStore(url)


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(store: SqlStore) -> None:
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() >= 1000


def test_in_memory_store_is_shared_between_threads() -> None:
    with SqlStore("sqlite://") as store:
        thread = threading.Thread(target=store.upsert_post, args=(post(),))
        thread.start()
        thread.join()
        assert list(store.posts()) == ["2024-05-01-hello.md"]


# --------------------------------------------------------------------------- time


def test_datetimes_come_back_aware_in_utc(store: SqlStore) -> None:
    minsk = timezone(timedelta(hours=3))
    local = datetime(2024, 5, 1, 15, 0, 0, 123456, tzinfo=minsk)
    store.upsert_post(post(first_seen=local, last_changed=local))
    record = store.posts()["2024-05-01-hello.md"]
    assert record.first_seen == datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert record.first_seen.tzinfo is UTC


def test_timestamps_are_stored_as_sortable_utc_strings(store: SqlStore) -> None:
    store.upsert_post(
        post(first_seen=datetime(2024, 5, 1, 15, tzinfo=timezone(timedelta(hours=3))))
    )
    with store.engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT first_seen FROM posts").scalar()
    assert raw == "2024-05-01T12:00:00.000000Z"


def test_a_naive_datetime_is_refused(store: SqlStore) -> None:
    with pytest.raises(StoreError, match="naive"):
        store.upsert_post(post(first_seen=datetime(2024, 5, 1, 12)))
    assert store.posts() == {}


# --------------------------------------------------------------------------- posts and feeds


def test_posts_upsert_find_and_delete(store: SqlStore) -> None:
    store.upsert_post(post())
    store.upsert_post(post(digest="d2", last_changed=at(60)))
    (record,) = store.posts().values()
    assert (record.digest, record.last_changed, record.first_seen) == ("d2", at(60), T0)
    assert store.find_post("tag:example.org,2024-05-01:/hello") == record
    assert store.find_post("tag:example.org,2024-05-01:/other") is None
    assert store.delete_post("2024-05-01-hello.md") is True
    assert store.delete_post("2024-05-01-hello.md") is False
    assert store.posts() == {}


def test_save_posts_moves_an_entry_id_to_a_renamed_file_in_one_go(store: SqlStore) -> None:
    store.upsert_post(post("old-name.md", front_id="hello"))
    renamed = post("new-name.md", front_id="hello")
    store.save_posts([renamed], delete=["old-name.md"])
    assert store.posts() == {"new-name.md": renamed}
    assert store.find_post(renamed.entry_id) == renamed


def test_save_posts_is_one_transaction(store: SqlStore) -> None:
    store.upsert_post(post("a.md"))
    with pytest.raises(StoreError):
        store.save_posts([post("b.md"), post("c.md", first_seen=datetime(2024, 1, 1))], ["a.md"])
    assert list(store.posts()) == ["a.md"]


def test_feeds_upsert_and_delete(store: SqlStore) -> None:
    atom = FeedRecord("/feed.atom", "f1", T0, 3)
    store.save_feeds([atom, FeedRecord("/feed.rss", "r1", T0, 3)])
    store.upsert_feed(FeedRecord("/feed.atom", "f2", at(5), 4))
    store.save_feeds([], delete=["/feed.rss"])
    assert store.feeds() == {"/feed.atom": FeedRecord("/feed.atom", "f2", at(5), 4)}
    assert store.delete_feed("/feed.atom") is True
    assert store.feeds() == {}


# --------------------------------------------------------------------------- slugs


def test_slugs_upsert_release_and_delete(store: SqlStore) -> None:
    cafe = SlugRecord("tag", "café", "cafe")
    news = SlugRecord("category", "News", "news")
    store.save_slugs([cafe, news, SlugRecord("tag", "C++", "c-3f2a1b")])
    store.save_slugs([SlugRecord("tag", "café", "cafe", released_at=at(60))], [("tag", "C++")])
    assert store.slugs() == {
        ("category", "News"): news,
        ("tag", "café"): SlugRecord("tag", "café", "cafe", released_at=at(60)),
    }
    assert store.slugs()[("tag", "café")].released_at == at(60)


def test_a_slug_is_held_by_one_name_of_a_kind(store: SqlStore) -> None:
    store.save_slugs([SlugRecord("tag", "café", "cafe")])
    # The same slug in the other kind is another URL (/category/cafe.rss): allowed.
    store.save_slugs([SlugRecord("category", "Café", "cafe")])
    with pytest.raises(StoreError):
        store.save_slugs([SlugRecord("tag", "cafe", "cafe")])
    # Deletes come first: a slug passes from a name long gone to a new one in one save.
    store.save_slugs([SlugRecord("tag", "cafe", "cafe")], [("tag", "café")])
    assert {key: r.slug for key, r in store.slugs().items()} == {
        ("category", "Café"): "cafe",
        ("tag", "cafe"): "cafe",
    }


def test_slug_names_of_any_length_and_script(store: SqlStore) -> None:
    names = ["x" * 5000, "日本語 " * 700, "Ελληνικά", "a/b", "Café"]
    records = [SlugRecord("tag", name, f"s{i}") for i, name in enumerate(names)]
    store.save_slugs(records)
    assert store.slugs() == {("tag", r.name): r for r in records}
    # Names that differ in case or normalisation only are distinct names.
    store.save_slugs([SlugRecord("tag", "cafe\u0301", "s9"), SlugRecord("tag", "CAFÉ", "s10")])
    assert len(store.slugs()) == len(names) + 2


# --------------------------------------------------------------------------- outbox


def test_enqueue_writes_pending_notifications_due_now(store: SqlStore) -> None:
    (n,) = store.enqueue([websub()], T0)
    assert (n.kind, n.target, n.feed_url, n.status, n.attempts) == (
        "websub",
        HUB,
        FEED,
        "pending",
        0,
    )
    assert n.created_at == n.next_attempt_at == T0
    assert store.pending() == [n]
    assert store.next_due_time() == T0


def test_enqueue_coalesces_a_pending_notification_for_the_same_target_and_feed(
    store: SqlStore,
) -> None:
    (first,) = store.enqueue([websub()], T0)
    store.reschedule(first.id, at(600), 2, "HTTP 500")
    (again,) = store.enqueue([websub(), websub()], at(30))
    assert again.id == first.id
    assert again.next_attempt_at == at(30)  # min(existing, now)
    assert again.revision == first.revision + 1
    assert again.attempts == 2 and again.created_at == T0
    assert len(store.pending()) == 1
    # An earlier due time is kept: min(existing, now).
    (later,) = store.enqueue([websub()], at(90))
    assert later.next_attempt_at == at(30)


def test_coalescing_respects_not_before_from_retry_after(store: SqlStore) -> None:
    (n,) = store.enqueue([websub()], T0)
    store.reschedule(n.id, at(120), 1, "HTTP 429", not_before=at(120))
    (again,) = store.enqueue([websub()], at(10))
    assert again.next_attempt_at == at(120)


def test_different_kind_target_or_feed_are_not_coalesced(store: SqlStore) -> None:
    store.enqueue(
        [
            websub(),
            websub(OTHER_FEED),
            websub(hub="http://127.0.0.1:9/other-hub"),
            NewNotification("ping", HUB, FEED),
        ],
        T0,
    )
    assert len(store.pending()) == 4


def test_a_new_notification_supersedes_the_failed_one(store: SqlStore) -> None:
    """A target that stays down keeps one failed row per feed, not one per change: the
    new notification tells it of the feed as it is now (issue 18, case 6)."""
    (n,) = store.enqueue([websub()], T0)
    (other_feed,) = store.enqueue([websub("https://example.org/other")], T0)
    (other_kind,) = store.enqueue([NewNotification("ping", HUB, FEED)], T0)
    for failed in (n, other_feed, other_kind):
        store.mark_failed(failed.id, "gave up after 8 attempts")
    (fresh,) = store.enqueue([websub()], at(1))
    assert fresh.id != n.id and fresh.status == "pending" and fresh.attempts == 0
    assert store.get_notification(n.id) is None
    assert {f.id for f in store.failed()} == {other_feed.id, other_kind.id}


def test_due_returns_pending_ones_due_now_most_overdue_first(store: SqlStore) -> None:
    a, b, c = store.enqueue(
        [
            websub("https://example.org/a"),
            websub("https://example.org/b"),
            websub("https://example.org/c"),
        ],
        T0,
    )
    store.reschedule(a.id, at(50), 1, "x")
    store.reschedule(b.id, at(10), 1, "x")
    store.mark_failed(c.id, "HTTP 400")
    assert store.due(at(5)) == []
    assert [n.id for n in store.due(at(60))] == [b.id, a.id]
    assert [n.id for n in store.due(at(60), limit=1)] == [b.id]
    assert store.next_due_time() == at(10)


def test_due_with_claim_hides_them_until_the_claim_ends(store: SqlStore) -> None:
    (n,) = store.enqueue([websub()], T0)
    (claimed,) = store.due(T0, 10, claim_until=at(120))
    assert claimed.id == n.id and claimed.next_attempt_at == T0
    assert store.due(at(119)) == []
    assert [x.id for x in store.due(at(120))] == [n.id]


def test_mark_delivered_removes_the_row(store: SqlStore) -> None:
    (n,) = store.enqueue([websub()], T0)
    assert store.mark_delivered(n.id, n.revision) is True
    assert store.pending() == [] and store.next_due_time() is None


def test_a_change_coalesced_during_delivery_keeps_the_row_pending(store: SqlStore) -> None:
    (n,) = store.enqueue([websub()], T0)
    store.due(T0, 1, claim_until=at(120))  # in flight
    store.enqueue([websub()], at(1))  # a new change while the hub is being told
    assert store.mark_delivered(n.id, n.revision) is False
    (still,) = store.pending()
    assert still.id == n.id and still.next_attempt_at == at(1) and still.attempts == 0


def refused(feed: str, when: datetime, message: str, hub: str = HUB) -> TargetRefusal:
    return TargetRefusal("websub", hub, feed, when, message, 400)


def test_refusals_are_kept_once_per_target_with_a_count(store: SqlStore) -> None:
    """Issue 18, case 6: a hub's steady refusals are one row, the latest, not a heap."""
    first, second = store.enqueue([websub(FEED), websub(OTHER_FEED)], T0)
    store.mark_refused(first.id, first.revision, refused(FEED, at(1), "subscription not found"))
    store.mark_refused(second.id, second.revision, refused(OTHER_FEED, at(2), "topic mismatch"))
    assert store.pending() == [] and store.failed() == []
    (latest,) = store.target_refusals()
    assert (latest.feed_url, latest.time, latest.message) == (OTHER_FEED, at(2), "topic mismatch")
    assert (latest.count, latest.first_time, latest.http_status) == (2, at(1), 400)

    (other,) = store.enqueue([websub(FEED, hub="http://127.0.0.1:9/other")], at(3))
    store.mark_refused(other.id, None, refused(FEED, at(3), "no", hub=other.target))
    assert [r.target for r in store.target_refusals()] == [other.target, HUB]  # newest first

    store.prune_attempts(at(2.5))  # a target that refused nothing since is no longer news
    assert [r.target for r in store.target_refusals()] == [other.target]


def test_a_change_coalesced_during_a_refused_delivery_keeps_the_row_pending(
    store: SqlStore,
) -> None:
    (n,) = store.enqueue([websub()], T0)
    store.due(T0, 1, claim_until=at(120))
    store.enqueue([websub()], at(1))
    store.mark_refused(n.id, n.revision, refused(FEED, at(2), "subscription not found"))
    (still,) = store.pending()
    assert still.id == n.id and still.next_attempt_at == at(1)
    assert len(store.target_refusals()) == 1


def test_reschedule_and_mark_failed(store: SqlStore) -> None:
    (n,) = store.enqueue([websub()], T0)
    store.reschedule(n.id, at(4), 1, "HTTP 500 Internal Server Error")
    got = store.get_notification(n.id)
    assert got is not None
    assert (got.next_attempt_at, got.attempts, got.last_error) == (
        at(4),
        1,
        "HTTP 500 Internal Server Error",
    )
    store.mark_failed(n.id, "gave up after 2 attempts", attempts=2)
    (failed,) = store.failed()
    assert (failed.status, failed.attempts, failed.last_error) == (
        "failed",
        2,
        "gave up after 2 attempts",
    )
    assert store.pending() == [] and store.due(at(10**6)) == [] and store.next_due_time() is None


def test_retry_puts_a_failed_notification_back(store: SqlStore) -> None:
    (n,) = store.enqueue([websub()], T0)
    store.mark_failed(n.id, "HTTP 404", attempts=1)
    back = store.retry(n.id, at(300))
    assert back is not None
    assert (back.id, back.status, back.attempts, back.next_attempt_at) == (
        n.id,
        "pending",
        0,
        at(300),
    )
    assert store.retry(n.id, at(300)) is None  # not failed any more
    assert store.retry(12345, at(300)) is None


def test_retry_merges_into_a_pending_twin(store: SqlStore) -> None:
    # A database from before new notifications superseded failed ones may hold both.
    (new,) = store.enqueue([websub()], at(10))
    (old,) = store.enqueue([websub("https://example.org/twin")], T0)
    store.mark_failed(old.id, "gave up")
    with store.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE outbox SET feed_url = :feed WHERE id = :id"),
            {"feed": FEED, "id": old.id},
        )
    store.reschedule(new.id, at(500), 1, "HTTP 500")
    merged = store.retry(old.id, at(20))
    assert merged is not None and merged.id == new.id and merged.next_attempt_at == at(20)
    assert store.failed() == [] and [n.id for n in store.pending()] == [new.id]


# --------------------------------------------------------------------------- attempts and builds


def test_attempts_are_recorded_and_listed_newest_first(store: SqlStore) -> None:
    first = Attempt("websub", HUB, FEED, T0, "retry", 1, 500, 12, "HTTP 500")
    second = Attempt("websub", HUB, FEED, at(4), "ok", 2, 204, 7, None)
    store.record_attempt(first)
    store.record_attempt(second)
    got = store.recent_attempts()
    assert [(a.status, a.http_status, a.latency_ms, a.attempt) for a in got] == [
        ("ok", 204, 7, 2),
        ("retry", 500, 12, 1),
    ]
    assert got[1].error == "HTTP 500" and got[1].time == T0 and got[1].id is not None
    assert len(store.recent_attempts(1)) == 1
    assert store.prune_attempts(at(1)) == 1
    assert [a.status for a in store.recent_attempts()] == ["ok"]


def test_last_build(store: SqlStore) -> None:
    assert store.last_build() is None
    build = BuildRecord(T0, 0.25, 12, 30, ("posts/a.md: no title",), ("/feed.atom",))
    store.record_build(BuildRecord(at(-60), 1.0, 11, 30))
    store.record_build(build)
    assert store.last_build() == build


def test_old_builds_are_pruned(store: SqlStore) -> None:
    for i in range(BUILDS_KEPT + 5):
        store.record_build(BuildRecord(at(i), 0.1, i, 1))
    with store.engine.connect() as conn:
        count = conn.exec_driver_sql("SELECT count(*) FROM builds").scalar()
    assert count == BUILDS_KEPT
    last = store.last_build()
    assert last is not None and last.post_count == BUILDS_KEPT + 4


def test_every_build_gives_a_new_mark(store: SqlStore) -> None:
    assert store.build_mark() == NO_BUILD_MARK
    marks = {NO_BUILD_MARK}
    for i in range(BUILDS_KEPT + 2):  # past the pruning of old builds
        # The same time twice: the id alone tells the builds apart.
        store.record_build(BuildRecord(at(i // 2), 0.1, i, 1))
        mark = store.build_mark()
        assert mark not in marks
        marks.add(mark)
    assert store.build_mark()[1] == "2024-05-01T12:00:25.000000Z"  # the time as stored


def test_peeking_reads_the_mark_of_a_sqlite_store(store: SqlStore, db_url: str) -> None:
    """``peek.build_mark`` (the standard library's sqlite3, for a start with nothing to
    do) is the fast path of ``SqlStore.build_mark``: the same mark, build after build."""
    path = Path(db_url.removeprefix("sqlite:///"))
    assert peek.build_mark(path) == store.build_mark() == NO_BUILD_MARK
    for i in range(BUILDS_KEPT + 2):
        store.record_build(BuildRecord(at(i // 2), 0.1, i, 1))
        assert peek.build_mark(path) == store.build_mark()


def test_another_store_has_another_mark(tmp_path: Path) -> None:
    with (
        SqlStore(f"sqlite:///{tmp_path / 'a.db'}") as a,
        SqlStore(f"sqlite:///{tmp_path / 'b.db'}") as b,
    ):
        a.record_build(BuildRecord(T0, 0.1, 1, 1))
        b.record_build(BuildRecord(at(1), 0.1, 1, 1))
        assert a.build_mark() != b.build_mark()
        assert peek.build_mark(tmp_path / "a.db") != peek.build_mark(tmp_path / "b.db")


def test_peeking_at_what_is_no_store_gives_no_mark_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    assert peek.build_mark(missing) == NO_BUILD_MARK
    assert not missing.exists()
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database, " * 100)
    assert peek.build_mark(garbage) == NO_BUILD_MARK
    # A SQLite file without the store's tables (a store never opened by syndicate).
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    assert peek.build_mark(empty) == NO_BUILD_MARK


def test_a_refusal_is_kept_until_a_build(store: SqlStore) -> None:
    assert store.last_refusal() is None
    store.record_build(BuildRecord(T0, 0.5, 3, 5))
    first = Refusal(at(1), "posts_dir", "/srv/posts: posts folder not found")
    store.record_refusal(first)
    assert store.last_refusal() == first
    latest = Refusal(at(2), "removal", "this publish would remove 8 of the 10 posts")
    store.record_refusal(latest)
    assert store.last_refusal() == latest  # one at a time: the latest
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM refusals").scalar() == 1
    store.record_build(BuildRecord(at(3), 0.5, 3, 5))
    assert store.last_refusal() is None
    assert store.last_build() == BuildRecord(at(3), 0.5, 3, 5)


def test_a_store_made_before_refusals_were_kept_gets_their_table(db_url: str) -> None:
    with SqlStore(db_url) as store:
        store.record_build(BuildRecord(T0, 0.5, 3, 5))
        with store.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE refusals")
    with SqlStore(db_url) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.last_build() == BuildRecord(T0, 0.5, 3, 5)
        assert store.last_refusal() is None
        store.record_refusal(Refusal(at(1), "posts_dir", "gone"))
        assert store.last_refusal() == Refusal(at(1), "posts_dir", "gone")


def test_a_store_made_before_target_refusals_were_kept_gets_their_table(db_url: str) -> None:
    with SqlStore(db_url) as store:
        (n,) = store.enqueue([websub()], T0)
        with store.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE target_refusals")
    with SqlStore(db_url) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.target_refusals() == [] and [p.id for p in store.pending()] == [n.id]
        store.mark_refused(n.id, n.revision, refused(FEED, at(1), "subscription not found"))
        assert [r.message for r in store.target_refusals()] == ["subscription not found"]


def test_the_live_tree_generation_only_grows(db_url: str) -> None:
    with SqlStore(db_url) as store:
        assert store.next_generation() == 1
        assert store.next_generation(after=1) == 2
        # A manifest further on than the store (written by an older syndicate): past it.
        assert store.next_generation(after=7) == 8
        # The tree removed (its manifest says 0) or an older manifest: never back.
        assert store.next_generation(after=0) == 9
        assert store.next_generation(after=3) == 10
    with SqlStore(db_url) as store:
        assert store.next_generation() == 11  # kept
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM live_tree").scalar() == 1


def test_a_store_made_before_generations_were_kept_gets_their_table(db_url: str) -> None:
    with SqlStore(db_url) as store:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE live_tree")
    with SqlStore(db_url) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.next_generation(after=4) == 5


# --------------------------------------------------------------------------- sharing


def test_two_stores_on_one_file_from_many_threads(db_url: str) -> None:
    """The CLI and a running server share the file: concurrent writers wait, not fail,
    and coalescing holds across them."""
    feeds = [f"https://example.org/{i}.atom" for i in range(5)]
    errors: list[BaseException] = []
    with SqlStore(db_url) as a, SqlStore(db_url) as b:

        def work(store: SqlStore, k: int) -> None:
            try:
                for i in range(10):
                    store.enqueue([websub(feeds[(i + k) % 5])], at(i))
                    store.record_attempt(Attempt("websub", HUB, FEED, at(i), "ok"))
                    store.due(at(i), 5)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(a if k % 2 else b, k)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert sorted(n.feed_url for n in a.pending()) == sorted(feeds)
        assert len(b.recent_attempts(1000)) == 80
