"""``Publisher.build_static``: a static build that writes each document as it is made.

It gives the very tree ``write_static(build().site)`` gives, holds no document's bytes,
and replaces the target only when it ends well.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from syndicate.config import Config
from syndicate.feeds import Document
from syndicate.outdir import MARKER, write_marker
from syndicate.publisher import Publisher
from syndicate.publisher import cache as cache_module
from syndicate.publisher.cache import PostCache
from syndicate.site.manifest import StoredDocument

POST = (
    "---\ntitle: Post {n}\ndate: 2024-04-0{n} 10:00:00\ncategories: [News]\ntags: [t{n}]\n"
    "---\n\nBody {n}.\n"
)
NOW = datetime(2024, 5, 1, tzinfo=UTC)


def tree(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under root: its bytes and its modification time."""
    return {
        str(path.relative_to(root)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def run_twice(
    monkeypatch: pytest.MonkeyPatch, plans: list[str], made: list[tuple[str, Document]]
) -> None:
    """Make each build run twice, as when a post's file changes while it runs: the first
    run plans the documents ``plans`` (their files are created ahead) and makes ``made``."""
    real = Publisher._build

    def build(
        self: Publisher,
        keep: Callable[[str, Document], Document] | None = None,
        planned: Callable[[list[str]], None] | None = None,
    ) -> Any:
        assert keep is not None and planned is not None
        planned(plans)
        for path, doc in made:
            keep(path, doc)
        return real(self, keep, planned)

    monkeypatch.setattr(Publisher, "_build", build)


@pytest.fixture
def written(config: Config, posts_dir: Path) -> Config:
    for n in range(1, 6):
        (posts_dir / f"p{n}.md").write_text(POST.format(n=n), encoding="utf-8")
    return config


def test_build_static_writes_what_build_and_write_static_write(
    written: Config, tmp_path: Path
) -> None:
    publisher = Publisher(written, clock=lambda: NOW)
    publisher.write_static(publisher.build().site, tmp_path / "two-steps")
    with Publisher(written, clock=lambda: NOW).build_static(tmp_path / "one") as result:
        assert not (tmp_path / "one").exists()  # swapped in when the block ends
    assert tree(tmp_path / "one") == tree(tmp_path / "two-steps")
    assert all(isinstance(doc, StoredDocument) for doc in result.site.documents.values())
    feed = result.site.documents["/feed.atom"]
    assert feed.body == (tmp_path / "one" / "feed.atom").read_bytes()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".one.")] == []


def test_a_cold_build_whose_workers_serialise_the_entries_writes_the_same_tree(
    written: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker processes render the posts and serialise their entries (as a cold
    ``syndicate build --no-cache`` does at 400 posts and more); the feeds splice them."""
    with Publisher(written, clock=lambda: NOW).build_static(tmp_path / "serial"):
        pass
    monkeypatch.setattr(cache_module, "PARALLEL_MIN", 1)
    calls: list[tuple[Any, int]] = []
    real = PostCache._parallel_results

    def spy(self: PostCache, func: Any, items: Any, config: Config) -> Any:
        calls.append((func, len(items)))
        return real(self, func, items, config)

    monkeypatch.setattr(PostCache, "_parallel_results", spy)
    cache = PostCache(None, written, workers=2)
    with Publisher(written, clock=lambda: NOW, cache=cache).build_static(tmp_path / "cold"):
        pass
    assert tree(tmp_path / "cold") == tree(tmp_path / "serial")
    assert calls == [(cache_module._load_chunk, 5), (cache_module._serialise_chunk, 5)]
    assert cache._pool is None  # stopped once the posts were rendered


def test_a_build_run_again_rewrites_a_document_the_first_run_wrote_longer(
    written: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files created ahead are written without truncating them (known empty); a file the
    first run wrote is not empty, and what the second run writes there must replace it
    whole, however much shorter."""
    with Publisher(written, clock=lambda: NOW).build_static(tmp_path / "plain"):
        pass
    long = Document(
        "application/rss+xml; charset=utf-8", b"<rss>" + b" " * 100_000 + b"</rss>", '"l"', NOW
    )
    # More documents than are kept waiting to be written: the first two are written now.
    fillers = [(f"/tag/filler-{n}.rss", long) for n in range(8)]
    made = [("/feed.rss", long), ("/tag/t1.atom", long), *fillers]
    run_twice(monkeypatch, ["/feed.rss", "/tag/t1.atom"], made)
    with Publisher(written, clock=lambda: NOW).build_static(tmp_path / "again"):
        pass
    assert tree(tmp_path / "again") == tree(tmp_path / "plain")


def test_build_static_leaves_the_target_as_it_was_when_the_block_raises(
    written: Config, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    write_marker(out)  # a tree of an earlier build
    (out / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), Publisher(written).build_static(out):
        raise RuntimeError("--strict found problems")
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "old.txt"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")] == []


def test_a_build_run_again_leaves_nothing_of_the_first_run(
    written: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A post's file changed during the build: it runs again, and what the first run
    wrote that the second did not (a tag no post has any more) is not in the tree."""
    stale = Document("application/rss+xml; charset=utf-8", b"<rss/>", '"s"', NOW)
    # The first run planned a feed (its files are created ahead, empty) and made another.
    run_twice(monkeypatch, ["/tag/planned.rss", "/tag/planned.atom"], [("/tag/gone.rss", stale)])
    with Publisher(written, clock=lambda: NOW).build_static(tmp_path / "one") as result:
        pass
    assert "/tag/gone.rss" not in result.site.documents
    files = tree(tmp_path / "one")
    assert "tag/t1.rss" in files and not any(name.startswith("tag/gone") for name in files)
    assert not any(name.startswith("tag/planned") for name in files)
    assert all((tmp_path / "one" / name).stat().st_size > 0 for name in files)
