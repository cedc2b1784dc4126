"""Entry ids (``publisher.ids``): the fast path of an edit, ``settle_touched``, gives what
the full rules, ``reconcile_ids``, give for the same files, and hands every case the
rules must arbitrate (a rename, an id claimed twice, an error) back to them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from syndicate.config import Config
from syndicate.posts import Post, load_post, load_posts
from syndicate.publisher.ids import Found, IdPlan, Pipe, reconcile_ids, settle_touched
from syndicate.store import PostRecord

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)


def write(posts_dir: Path, name: str, title: str, body: str = "Body.", extra: str = "") -> Path:
    path = posts_dir / name
    text = f"---\ntitle: {title}\ndate: {name[:10]} 10:00:00\n{extra}---\n\n{body}\n"
    path.write_text(text, encoding="utf-8")
    return path


def published(config: Config) -> tuple[Pipe, dict[str, PostRecord]]:
    """A first publish of every post: its pipe and the store's rows after it."""
    loaded, problems = load_posts(config)
    plan = reconcile_ids(loaded, {}, T0)
    files: dict[str, Found] = {
        post.relpath: load_post(config.posts_dir / post.relpath, config) for post in loaded
    }
    pipe = Pipe.after(loaded, problems, plan, files)
    assert pipe is not None
    return pipe, {record.path: record for record in plan.upserts}


def touched(config: Config, *names: str) -> dict[str, Found]:
    """What reading the named files again gives (None for a file gone)."""
    found: dict[str, Found] = {}
    for name in names:
        path = config.posts_dir / name
        found[name] = load_post(path, config) if path.exists() else (None, ())
    return found


def shown(posts: tuple[Post, ...]) -> list[tuple[str, str, datetime | None]]:
    """Each post's id and ``updated``, by path: the fast path keeps the posts in the
    order they were touched, the feeds sort them anyway."""
    return sorted((post.relpath, post.entry_id, post.updated) for post in posts)


def assert_same(fast: IdPlan, full: IdPlan) -> None:
    assert shown(fast.posts) == shown(full.posts)
    assert sorted(fast.upserts, key=lambda r: r.path) == sorted(full.upserts, key=lambda r: r.path)
    assert fast.deletes == full.deletes
    assert fast.problems == full.problems == ()


def test_an_edit_and_an_addition_settle_as_the_full_rules_do(config: Config) -> None:
    for n in range(1, 4):
        write(config.posts_dir, f"2024-04-0{n}-p{n}.md", f"P{n}")
    pipe, records = published(config)
    write(config.posts_dir, "2024-04-02-p2.md", "P2", body="Edited body.")
    write(config.posts_dir, "2024-04-05-new.md", "New")
    done = settle_touched(
        pipe, touched(config, "2024-04-02-p2.md", "2024-04-05-new.md"), records, T1, {}
    )
    assert done is not None
    plan, problems = done
    full = reconcile_ids(load_posts(config)[0], records, T1)
    assert_same(plan, full)
    assert problems == []
    # The edit moved the entry's `updated`: readers see it changed.
    edited = next(p for p in plan.posts if p.relpath == "2024-04-02-p2.md")
    assert edited.updated == T1
    assert [p.relpath for p in pipe.collected.values()][-1] == "2024-04-05-new.md"


def test_a_removal_settles_as_the_full_rules_do(config: Config) -> None:
    for n in range(1, 4):
        write(config.posts_dir, f"2024-04-0{n}-p{n}.md", f"P{n}")
    pipe, records = published(config)
    (config.posts_dir / "2024-04-03-p3.md").unlink()
    done = settle_touched(pipe, touched(config, "2024-04-03-p3.md"), records, T1, {})
    assert done is not None
    full = reconcile_ids(load_posts(config)[0], records, T1)
    assert_same(done[0], full)
    assert done[0].deletes == ("2024-04-03-p3.md",)


def test_a_rename_is_left_to_the_full_rules_which_keep_the_id(config: Config) -> None:
    write(config.posts_dir, "2024-04-01-p1.md", "P1", body="A body that stays.")
    write(config.posts_dir, "2024-04-02-p2.md", "P2")
    pipe, records = published(config)
    (config.posts_dir / "2024-04-01-p1.md").unlink()
    write(config.posts_dir, "2024-04-03-moved.md", "P1", body="A body that stays.")
    names = ("2024-04-01-p1.md", "2024-04-03-moved.md")
    assert settle_touched(pipe, touched(config, *names), records, T1, {}) is None
    assert list(pipe.collected) == ["2024-04-01-p1.md", "2024-04-02-p2.md"]  # as it was
    full = reconcile_ids(load_posts(config)[0], records, T1)
    moved = next(p for p in full.posts if p.relpath == "2024-04-03-moved.md")
    assert moved.entry_id == records["2024-04-01-p1.md"].entry_id


def test_an_id_claimed_twice_is_left_to_the_full_rules(config: Config) -> None:
    write(config.posts_dir, "2024-04-01-p1.md", "P1", extra="id: urn:x:one\n")
    write(config.posts_dir, "2024-04-02-p2.md", "P2")
    pipe, records = published(config)
    write(config.posts_dir, "2024-04-02-p2.md", "P2", extra="id: urn:x:one\n")
    assert settle_touched(pipe, touched(config, "2024-04-02-p2.md"), records, T1, {}) is None
    loaded, problems = load_posts(config)  # collect_posts keeps the first
    assert "already used by 2024-04-01-p1.md" in problems[0].message
    full = reconcile_ids(loaded, records, T1)
    assert [p.relpath for p in full.posts] == ["2024-04-01-p1.md"]


def test_a_post_with_an_error_is_left_to_the_full_rules(config: Config) -> None:
    write(config.posts_dir, "2024-04-01-p1.md", "P1")
    pipe, records = published(config)
    (config.posts_dir / "2024-04-01-p1.md").write_text("---\ntitle: [x\n---\n", encoding="utf-8")
    assert settle_touched(pipe, touched(config, "2024-04-01-p1.md"), records, T1, {}) is None
