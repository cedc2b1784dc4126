"""PostCache.load_many: reading posts on several cores gives what reading one by one gives."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from syndicate.config import Config
from syndicate.posts import Post, PostProblem, load_post, load_posts
from syndicate.publisher import cache as cache_module
from syndicate.publisher.cache import PostCache, body_of

GEN_CORPUS = Path("/work/shared/bench/gen_corpus.py")


def post_text(n: int, extra: str = "") -> str:
    return (
        f"---\ntitle: Post {n}\ndate: 2024-05-{n % 28 + 1:02d} 10:00:00\nauthor: badely\n"
        f"categories: [News]\ntags: [food, t{n % 5}]\n{extra}---\n\nBody of post {n}.\n"
    )


# Files that load with problems, or not at all: (name, bytes).
ODD_FILES: list[tuple[str, bytes]] = [
    ("bad-yaml.md", b"---\ntitle: [unclosed\ndate: 2024-05-01\n---\n\nBody.\n"),
    ("bad-date.md", b"---\ntitle: Bad date\ndate: not a date at all\n---\n\nBody.\n"),
    ("latin1.md", post_text(900).replace("Body", "Caf\xe9 body").encode("latin-1")),
    ("control.md", post_text(901).replace("Body", "Bo\x01dy").encode()),
    ("no-title.md", b"---\ndate: 2024-05-02\ntags: [1, ok]\n---\n\nUntitled.\n"),
    ("bad-permalink.md", post_text(902, "permalink: 42\n").encode()),
    ("bad-id.md", post_text(903, "id: not a uri\n").encode()),
    ("same-id.md", post_text(904, "id: not a uri\n").encode()),  # duplicate id: an error
    ("same-url-a.md", post_text(905, "permalink: /same/\n").encode()),
    ("same-url-b.md", post_text(906, "permalink: /same/\n").encode()),
    ("draft.md", post_text(907, "published: false\n").encode()),
    ("not-a-post.md", b"Just text, no front matter.\n"),
    ("notes.txt", b"---\nnot: [a mapping\n"),
    ("sub/nested.md", post_text(908).encode()),
]


def write_corpus(posts_dir: Path, count: int) -> None:
    for n in range(count):
        (posts_dir / f"p{n:03d}.md").write_text(post_text(n))
    for name, data in ODD_FILES:
        path = posts_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


Loaded = tuple[list[Post], list[PostProblem]]


def spy_parallel(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Callable[..., Any], int]]:
    """Record each batch sent to the worker processes: (chunk function, items)."""
    calls: list[tuple[Callable[..., Any], int]] = []
    real = cache_module._parallel

    def spy(func: Callable[..., Any], items: Sequence[Any], *args: Any) -> Iterator[Any]:
        calls.append((func, len(items)))
        return real(func, items, *args)

    monkeypatch.setattr(cache_module, "_parallel", spy)
    return calls


@pytest.fixture
def parallel(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Callable[..., Any], int]]:
    """A low threshold, so that a small corpus is read in worker processes; the spy."""
    monkeypatch.setattr(cache_module, "PARALLEL_MIN", 8)
    return spy_parallel(monkeypatch)


def test_parallel_load_equals_sequential(
    posts_dir: Path,
    config: Config,
    tmp_path: Path,
    parallel: list[tuple[Callable[..., Any], int]],
) -> None:
    write_corpus(posts_dir, 40)
    expected = load_posts(config)
    cache = PostCache(tmp_path / "cache", config, workers=2)
    try:
        got = load_posts(config, load_many=cache.load_many)
    finally:
        cache.close()
    assert parallel == [(cache_module._load_chunk, 40 + len(ODD_FILES))]
    assert got == expected
    # Post by post, problem by problem, in order, with their severities.
    posts, problems = got
    assert [p.relpath for p in posts] == [p.relpath for p in expected[0]]
    assert [(str(p), p.severity) for p in problems] == [(str(p), p.severity) for p in expected[1]]
    assert {p.severity for p in problems} == {"error", "warning"}
    assert len(problems) >= 10


def test_the_bookkeeping_is_that_of_load_post_path_by_path(
    posts_dir: Path,
    config: Config,
    tmp_path: Path,
    parallel: list[tuple[Callable[..., Any], int]],
) -> None:
    write_corpus(posts_dir, 30)
    one = PostCache(tmp_path / "one", config, workers=2)
    many = PostCache(tmp_path / "many", config, workers=2)
    try:
        for cache in (one, many):
            cache.begin_scan()
        by_one = load_posts(config, load_one=one.load_post)
        by_many = load_posts(config, load_many=many.load_many)
    finally:
        many.close()
    assert parallel and by_many == by_one
    assert many.posts == one.posts
    assert list(many.posts) == list(one.posts)  # same order in the saved file too
    assert many.last_good == one.last_good
    assert many._seen == one._seen
    assert (many.hits, many.misses, many._dirty) == (one.hits, one.misses, one._dirty)
    assert many.misses == len(many.posts) == 30 + len(ODD_FILES)

    # And the cache saves and reloads as well as one filled path by path.
    many.end_scan()
    many.save()
    again = PostCache(tmp_path / "many", config, workers=2)
    assert again.posts == one.posts and again.last_good == one.last_good


def test_a_second_load_hits_and_an_edited_file_is_read_again(
    posts_dir: Path,
    config: Config,
    tmp_path: Path,
    parallel: list[tuple[Callable[..., Any], int]],
) -> None:
    write_corpus(posts_dir, 30)
    cache = PostCache(tmp_path / "cache", config, workers=2)
    try:
        cache.begin_scan()
        first = load_posts(config, load_many=cache.load_many)
        cache.end_scan()
        assert len(parallel) == 1 and cache.misses == 30 + len(ODD_FILES)

        cache.begin_scan()
        second = load_posts(config, load_many=cache.load_many)
        cache.end_scan()
        assert second == first
        assert (cache.hits, cache.misses) == (30 + len(ODD_FILES), 0)
        assert len(parallel) == 1  # nothing to read: no worker was asked

        # Changed size, and a changed mtime at the same size: both read again, alone.
        edited = posts_dir / "p007.md"
        edited.write_text(post_text(7).replace("Body of post 7.", "Edited body of post 7."))
        touched = posts_dir / "bad-date.md"
        os.utime(touched, ns=(1, 1))
        fixed = posts_dir / "bad-yaml.md"
        fixed.write_text(post_text(950))
        cache.begin_scan()
        third = load_posts(config, load_many=cache.load_many)
        cache.end_scan()
        assert cache.misses == 3 and cache.hits == 30 + len(ODD_FILES) - 3
        assert len(parallel) == 1  # 3 misses: below the threshold, read here
        assert third == load_posts(config)
        # Kept without their bodies; the publisher reads one from its file to render it.
        bodies = {p.relpath: body_of(p) for p in third[0]}
        assert bodies["p007.md"] == "Edited body of post 7."
        assert "bad-yaml.md" in bodies and "bad-yaml.md" in cache.last_good

        # Many edits at once go to the workers again.
        for n in range(10):
            (posts_dir / f"p{n:03d}.md").write_text(post_text(n, "lang: de\n"))
        cache.begin_scan()
        fourth = load_posts(config, load_many=cache.load_many)
        cache.end_scan()
        assert parallel[1:] == [(cache_module._load_chunk, 10)]
        assert fourth == load_posts(config)
        assert [p.lang for p in fourth[0] if "p000" <= p.relpath < "p010"] == ["de"] * 10
    finally:
        cache.close()


def test_a_deleted_file_leaves_the_cache_at_end_scan(
    posts_dir: Path, config: Config, parallel: list[tuple[Callable[..., Any], int]]
) -> None:
    write_corpus(posts_dir, 20)
    cache = PostCache(None, config, workers=2)
    try:
        cache.begin_scan()
        load_posts(config, load_many=cache.load_many)
        cache.end_scan()
        (posts_dir / "p003.md").unlink()
        cache.begin_scan()
        posts, _ = load_posts(config, load_many=cache.load_many)
        cache.end_scan()
    finally:
        cache.close()
    assert "p003.md" not in cache.posts and "p003.md" not in cache.last_good
    assert "p003.md" not in {p.relpath for p in posts}
    assert cache.misses == 0


def test_a_file_that_vanishes_is_reported_as_load_post_reports_it(
    posts_dir: Path, config: Config
) -> None:
    (posts_dir / "p.md").write_text(post_text(1))
    gone = posts_dir / "gone.md"
    cache = PostCache(None, config, workers=2)
    got = cache.load_many([posts_dir / "p.md", gone], config)
    assert got == [load_post(posts_dir / "p.md", config), load_post(gone, config)]
    assert got[1][0] is None and "cannot read file" in got[1][1][0].message
    assert cache._seen == {"p.md"} and list(cache.posts) == ["p.md"]


def test_the_no_cache_build_reads_in_parallel_and_shares_the_pool_with_rendering(
    posts_dir: Path, config: Config, parallel: list[tuple[Callable[..., Any], int]]
) -> None:
    """`build --no-cache`: the in-memory cache is the cold build, on every core."""
    write_corpus(posts_dir, 20)
    cache = PostCache(None, config, workers=2)
    posts, _ = load_posts(config, load_many=cache.load_many)
    pool = cache._pool
    assert pool is not None and parallel == [(cache_module._load_chunk, 20 + len(ODD_FILES))]
    rendered = cache.render_many(posts, config)
    assert cache._pool is pool  # one pool started for both
    assert parallel[1] == (cache_module._render_chunk, len(posts))
    assert rendered == PostCache(None, config, workers=1).render_many(posts, config)
    cache.save()  # the end of a build: the workers stop, though nothing is written
    assert cache._pool is None
    # A later batch starts a new pool.
    (posts_dir / "new.md").write_text(post_text(77))
    for n in range(10):
        (posts_dir / f"p{n:03d}.md").write_text(post_text(n, "lang: fr\n"))
    assert load_posts(config, load_many=cache.load_many) == load_posts(config)
    assert cache._pool is not None and cache._pool is not pool
    cache.close()
    assert cache._pool is None


@pytest.mark.parametrize(
    ("items", "sizes"),
    [(10_000, [313] * 31 + [297]), (400, [25] * 16), (30, [25, 5]), (1, [1])],
)
def test_batches_go_out_in_small_chunks_and_come_back_in_order(
    config: Config, items: int, sizes: list[int]
) -> None:
    """Many chunks a worker (a worker that runs dry idles while the other finishes)."""
    sent: list[int] = []
    ahead: list[int] = []  # chunks handed out and not yet taken, at each result taken

    class Pool:
        def submit(self, func: Callable[..., Any], arg: Any) -> Future[Any]:
            sent.append(len(arg[0]))
            future: Future[Any] = Future()
            future.set_result(func(arg))
            return future

    def double(args: tuple[Sequence[int], Config]) -> list[int]:
        return [2 * n for n in args[0]]

    got = []
    results = cache_module._parallel(double, list(range(items)), config, Pool(), 2)  # type: ignore[arg-type]
    for n, result in enumerate(results):
        # Chunks whose results were all taken, and the one being taken.
        taken = sum(1 for end in itertools.accumulate(sent) if end <= n) + 1
        ahead.append(len(sent) - taken)
        got.append(result)
    assert got == [2 * n for n in range(items)]
    assert sent == sizes
    # Two chunks a worker at most, handed out ahead of the results taken: those not
    # taken wait in the parent's memory.
    assert max(ahead) <= 4


def test_one_worker_reads_in_this_process(
    posts_dir: Path, config: Config, parallel: list[tuple[Callable[..., Any], int]]
) -> None:
    write_corpus(posts_dir, 20)
    cache = PostCache(None, config, workers=1)
    assert load_posts(config, load_many=cache.load_many) == load_posts(config)
    assert parallel == [] and cache._pool is None


def test_workers_are_spawned_when_other_threads_run(
    posts_dir: Path,
    config: Config,
    parallel: list[tuple[Callable[..., Any], int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A forked child could inherit a lock another thread holds: fresh processes then."""
    write_corpus(posts_dir, 20)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    methods: list[str] = []
    real_context = multiprocessing.get_context

    def get_context(method: str | None = None) -> Any:
        methods.append(str(method))
        return real_context(method)

    monkeypatch.setattr(multiprocessing, "get_context", get_context)
    cache = PostCache(None, config, workers=2)
    try:
        got = load_posts(config, load_many=cache.load_many)
    finally:
        cache.close()
        stop.set()
        other.join()
    assert methods == ["spawn"] and len(parallel) == 1
    assert got == load_posts(config)


def test_load_posts_rejects_a_load_many_that_loses_files(posts_dir: Path, config: Config) -> None:
    (posts_dir / "a.md").write_text(post_text(1))
    (posts_dir / "b.md").write_text(post_text(2))

    def short(paths: Sequence[Path], config: Config) -> list[tuple[Post | None, list[Any]]]:
        return [(None, [])]

    with pytest.raises(ValueError, match="1 results for 2 files"):
        load_posts(config, load_many=short)


@pytest.mark.skipif(not GEN_CORPUS.exists(), reason="needs the shared benchmark corpus generator")
def test_a_generated_corpus_above_the_real_threshold(
    posts_dir: Path, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    count = cache_module.PARALLEL_MIN + 50
    subprocess.run(
        [sys.executable, str(GEN_CORPUS), "--posts", str(count), "--out", str(posts_dir)],
        check=True,
        capture_output=True,
    )
    calls = spy_parallel(monkeypatch)
    cache = PostCache(None, config, workers=2)
    try:
        got = load_posts(config, load_many=cache.load_many)
    finally:
        cache.close()
    assert calls == [(cache_module._load_chunk, count)]
    assert got == load_posts(config)
    assert len(got[0]) == count
