"""The on-disk post cache and incremental builds: same bytes as a full build, always."""

from __future__ import annotations

import dataclasses
import os
import pickle
import shutil
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syndicate import posts as posts_module
from syndicate.config import Config, state_dir
from syndicate.documents import Document
from syndicate.feeds import Built, Made, Rendering, Site, build_site
from syndicate.feeds._prepared import PreparedEntry
from syndicate.posts import Post, load_posts
from syndicate.publisher import Publisher
from syndicate.publisher import cache as cache_module
from syndicate.publisher.cache import CACHE_FILE, PostCache, body_of
from syndicate.publisher.reading import PostReader
from syndicate.site.manifest import load_live, write_live
from tests.conftest import ConfigFactory

NOW = datetime(2024, 6, 1, tzinfo=UTC)
CATEGORIES = ["News", "World", "Culture"]
TAGS = ["belarus", "europe", "food", "press"]


def post_text(n: int, day: int, category: str, tags: list[str], body: str) -> str:
    return (
        f"---\ntitle: Post {n}\ndate: 2024-05-{day:02d} 10:00:00\nauthor: badely\n"
        f"categories: [{category}]\ntags: [{', '.join(tags)}]\n---\n\n"
        f"{body}\n\nSee [more](../x/).\n"
    )


@dataclasses.dataclass(frozen=True)
class Source:
    """A ``feeds.EntrySource`` made of functions: ``prepare`` a batch, ``render`` one."""

    prepare: Callable[..., Iterable[Made]]  # (posts, config, no_json)
    render: Callable[[Post, Config], posts_module.Rendered] = posts_module.render_post


def cache_source(cache: PostCache, serialise: bool = True) -> Source:
    """The cache as the build's entry source: entries serialised in its processes, or
    (``serialise`` false) only rendered there, a batch at once."""

    def rendered(
        batch: Sequence[Post], config: Config, no_json: Collection[str] = ()
    ) -> Iterator[Made]:
        return ((done, None) for done in cache.render_many(batch, config))

    return Source(
        cache.prepare_many if serialise else rendered,
        lambda post, config: cache.render_many([post], config)[0],
    )


@dataclasses.dataclass(frozen=True)
class Keeping:
    """A ``feeds.DocumentSink`` that hands each document to ``keep``."""

    keep: Callable[[str, Document], Document]

    def planned(self, url_paths: list[str]) -> None:
        pass


def counting_load_post(
    monkeypatch: pytest.MonkeyPatch,
) -> list[Path]:
    calls: list[Path] = []
    real = posts_module.load_post

    def load_post(path: Path, config: Config) -> tuple[Post | None, list[posts_module.PostProblem]]:
        calls.append(path)
        post, problems = real(path, config)
        return post, list(problems)

    monkeypatch.setattr("syndicate.publisher.cache.load_post", load_post)
    return calls


def test_unchanged_posts_are_read_from_the_cache(
    posts_dir: Path, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(3):
        (posts_dir / f"p{n}.md").write_text(post_text(n, n + 1, "News", ["food"], "Hi."))
    first = PostCache(tmp_path / "cache", config)
    expected, _ = load_posts(config, load_one=first.load_post)
    first.render_many(expected, config)
    first.save()

    calls = counting_load_post(monkeypatch)
    second = PostCache(tmp_path / "cache", config)
    got, _ = load_posts(config, load_one=second.load_post)
    assert got == expected and calls == []
    assert second.rendered.keys() == first.rendered.keys()

    # An edit changes size or mtime: that file (and only it) is read again.
    edited = posts_dir / "p1.md"
    edited.write_text(post_text(1, 2, "News", ["food"], "Hi, edited."))
    os.utime(edited, ns=(1, 1))
    got, _ = load_posts(config, load_one=second.load_post)
    assert calls == [edited]
    # Kept without its body, which the publisher reads from the file when it renders.
    assert [body_of(p) for p in got if p.relpath == "p1.md"] == [
        "Hi, edited.\n\nSee [more](../x/)."
    ]


@pytest.mark.parametrize("collecting", [True, False])
def test_loading_the_cache_leaves_the_collector_as_it_was(
    posts_dir: Path, config: Config, tmp_path: Path, collecting: bool
) -> None:
    # A one-shot build runs without cyclic collection (cli.build); reading a saved cache
    # pauses it, and must not turn it on for the rest of the build.
    import gc

    (posts_dir / "p.md").write_text(post_text(1, 1, "News", ["food"], "Hi."))
    first = PostCache(tmp_path / "cache", config)
    load_posts(config, load_one=first.load_post)
    first.save()
    was = gc.isenabled()
    try:
        if collecting:
            gc.enable()
        else:
            gc.disable()
        second = PostCache(tmp_path / "cache", config)
        assert second.posts.keys() == first.posts.keys()  # the saved cache was read
        assert gc.isenabled() is collecting
    finally:
        if was:
            gc.enable()
        else:
            gc.disable()


def test_posts_read_or_unpickled_share_their_common_values(
    posts_dir: Path, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(3):
        text = post_text(n, n + 1, "News", ["food", "press"], "Hi.")
        text = text.replace("---\n\n", f"image: /img/{n}.jpg\n---\n\n", 1)
        (posts_dir / f"p{n}.md").write_text(text)
    fresh, _ = load_posts(config)

    def shared(got: list[Post]) -> None:
        first, *others = got
        assert first.image is not None and first.image.media_type == "image/jpeg"
        for post in others:
            assert post.author is first.author
            assert post.categories is first.categories
            assert post.tags is first.tags and post.tags[1] is first.tags[1]
            assert post.image is not None and post.image.media_type is first.image.media_type

    # Read from the files (each its own copies of the author, the names, ...).
    cache = PostCache(tmp_path / "cache", config)
    got, _ = load_posts(config, load_one=cache.load_post)
    assert got == fresh
    shared(got)
    # Unpickled part by part (one post a part): shared again.
    monkeypatch.setattr(cache_module, "PART", 1)
    cache.save()
    got, _ = load_posts(config, load_one=PostCache(tmp_path / "cache", config).load_post)
    assert got == fresh
    shared(got)


def test_share_values_changes_no_value(posts_dir: Path, config: Config) -> None:
    (posts_dir / "a.md").write_text(post_text(1, 1, "News", ["food"], "Hi."))
    (posts_dir / "b.md").write_text(post_text(2, 2, "News", ["food", "europe"], "Ho."))
    loaded, _ = load_posts(config)
    before = [dataclasses.replace(post) for post in loaded]
    pool: dict[object, object] = {}
    for post in loaded:
        posts_module.share_values(post, pool)
    assert loaded == before
    assert [post.body for post in loaded] == [post.body for post in before]
    assert loaded[0].tags[0] is loaded[1].tags[0]


def test_a_new_version_or_config_invalidates_the_cache(
    posts_dir: Path, make_config: ConfigFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (posts_dir / "p.md").write_text(post_text(1, 1, "News", [], "Hi."))
    config = make_config()
    cache = PostCache(tmp_path / "cache", config)
    load_posts(config, load_one=cache.load_post)
    cache.save()
    assert PostCache(tmp_path / "cache", config).posts

    other = make_config(site={"timezone": "Europe/Minsk"})
    assert PostCache(tmp_path / "cache", other).posts == {}

    import syndicate.config as config_module

    monkeypatch.setattr(config_module, "__version__", "99.0")
    assert PostCache(tmp_path / "cache", config).posts == {}


def test_a_torn_cache_file_is_ignored(posts_dir: Path, config: Config, tmp_path: Path) -> None:
    (posts_dir / "p.md").write_text(post_text(1, 1, "News", [], "Hi."))
    cache = PostCache(tmp_path / "cache", config)
    expected, _ = load_posts(config, load_one=cache.load_post)
    cache.save()
    path = tmp_path / "cache" / CACHE_FILE
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # a crash mid-write without the rename
    torn = PostCache(tmp_path / "cache", config)
    assert torn.posts == {}
    got, _ = load_posts(config, load_one=torn.load_post)
    assert got == expected


def test_save_replaces_the_file_atomically(
    posts_dir: Path, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (posts_dir / "p.md").write_text(post_text(1, 1, "News", [], "Hi."))
    cache = PostCache(tmp_path / "cache", config)
    load_posts(config, load_one=cache.load_post)
    cache.save()
    before = (tmp_path / "cache" / CACHE_FILE).read_bytes()
    (posts_dir / "q.md").write_text(post_text(2, 2, "News", [], "Ho."))
    cache.begin_scan()
    load_posts(config, load_one=cache.load_post)
    cache.end_scan()

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pickle, "dump", crash)
    with pytest.raises(OSError):
        cache.save()
    assert (tmp_path / "cache" / CACHE_FILE).read_bytes() == before


def test_parallel_render_equals_serial(
    posts_dir: Path, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(12):
        (posts_dir / f"p{n}.md").write_text(post_text(n, n + 1, "News", ["food"], f"Body {n}."))
    loaded, _ = load_posts(config)
    monkeypatch.setattr(cache_module, "PARALLEL_MIN", 4)
    parallel = PostCache(tmp_path / "a", config, workers=2).render_many(loaded, config)
    serial = PostCache(tmp_path / "b", config, workers=1).render_many(loaded, config)
    assert parallel == serial


@pytest.mark.parametrize("saved", [False, True], ids=["no-cache", "cache"])
def test_entries_prepared_in_the_workers_build_the_same_site(
    saved: bool,
    posts_dir: Path,
    config: Config,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """prepare_many serialises entries where it renders (worker processes): the site is
    byte for byte the one built from renders alone, and a saved cache keeps the renders."""
    for n in range(12):
        tags = [TAGS[n % 4], TAGS[(n + 1) % 4]]
        body = f"Body {n} <b>bold</b> & [link](/x/{n})."
        (posts_dir / f"p{n}.md").write_text(post_text(n, n + 1, CATEGORIES[n % 3], tags, body))
    loaded, _ = load_posts(config)
    monkeypatch.setattr(cache_module, "PARALLEL_MIN", 4)
    directory = tmp_path / "cache" if saved else None
    cache = PostCache(directory, config, workers=2)
    fresh_cache = PostCache(directory, config, workers=2)
    try:
        made = list(cache.prepare_many(loaded, config))
        assert [(r, ahead is not None) for r, ahead in made] == [(None, True)] * len(loaded)
        # Kept if the cache is saved: the next call takes those renders, serialises nothing.
        again = list(cache.prepare_many(loaded, config))
        serial = PostCache(None, config, workers=1).render_many(loaded, config)
        if saved:
            assert again == [(r, None) for r in serial]
        else:
            assert [(r, ahead is not None) for r, ahead in again] == [(None, True)] * len(loaded)
        parallel, _ = build_site(loaded, config, NOW, cache_source(fresh_cache))
    finally:
        cache.close()
        fresh_cache.close()
    assert bodies(parallel) == bodies(build_site(loaded, config, NOW).site)
    # Below the threshold, or on one core, renders only: the entries are made here.
    one = PostCache(None, config, workers=1)
    assert list(one.prepare_many(loaded, config)) == [(r, None) for r in serial]


def test_feeds_are_made_while_the_next_entries_are_still_coming(
    posts_dir: Path, config: Config
) -> None:
    """build_site takes prepare_many's results as they come: the first feeds are made
    (and handed to ``keep``) before the last entries arrive, with the same bytes."""
    for n in range(30):  # more than the site feed's 20: the older ones come after it
        tags = [TAGS[n % 4], TAGS[(n + 1) % 4]]
        (posts_dir / f"p{n}.md").write_text(post_text(n, n + 1, CATEGORIES[n % 3], tags, "B."))
    loaded, _ = load_posts(config)
    events: list[str] = []
    closed: list[bool] = []

    def prepare_many(
        batch: Sequence[Post], config: Config, no_json: Collection[str] = ()
    ) -> Iterator[tuple[Any, Any]]:
        try:
            for post in batch:
                events.append(f"entry {post.relpath}")
                yield posts_module.render_post(post, config), None
        finally:
            closed.append(True)

    def keep(path: str, document: Document) -> Document:
        events.append(f"document {path}")
        return document

    site, _ = build_site(loaded, config, NOW, Source(prepare_many), sink=Keeping(keep))
    assert bodies(site) == bodies(build_site(loaded, config, NOW).site)
    first_document = next(i for i, event in enumerate(events) if event.startswith("document"))
    last_entry = max(i for i, event in enumerate(events) if event.startswith("entry"))
    assert first_document < last_entry
    assert sum(event.startswith("entry") for event in events) == len(loaded)
    assert closed == [True]  # spent and closed: a caller's clean-up has run


def test_a_build_that_fails_closes_what_prepares_its_entries_at_once(
    posts_dir: Path, config: Config
) -> None:
    """A failure while the feeds are made (a write, say) runs prepare_many's clean-up (the
    publisher's stops the worker processes) before the error goes on, not later."""
    for n in range(30):
        (posts_dir / f"p{n}.md").write_text(post_text(n, n + 1, CATEGORIES[n % 3], [], "B."))
    loaded, _ = load_posts(config)
    closed: list[bool] = []

    def prepare_many(
        batch: Sequence[Post], config: Config, no_json: Collection[str] = ()
    ) -> Iterator[tuple[Any, Any]]:
        try:
            for post in batch:
                yield posts_module.render_post(post, config), None
        finally:
            closed.append(True)

    def keep(path: str, document: Document) -> Document:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full") as failed:
        try:
            build_site(loaded, config, NOW, Source(prepare_many), sink=Keeping(keep))
        finally:
            # The error's traceback still holds build_site's frame, and its iterator.
            assert closed == [True]
    assert failed.traceback


# --- incremental == full --------------------------------------------------------------

Edit = tuple[str, int, int, int, int]  # (kind, post number, day, category, tag mask)


def edit_lists(*kinds: str, max_size: int = 8) -> st.SearchStrategy[list[Edit]]:
    return st.lists(
        st.tuples(
            st.sampled_from(kinds),
            st.integers(0, 7),
            st.integers(1, 28),
            st.integers(0, len(CATEGORIES) - 1),
            st.integers(0, 2 ** len(TAGS) - 1),
        ),
        min_size=1,
        max_size=max_size,
    )


edits = edit_lists("write", "delete", "rename", "unpublish")


def apply(posts_dir: Path, edit: Edit, step: int) -> None:
    kind, n, day, category, mask = edit
    existing = sorted(posts_dir.glob(f"p{n}-*.md"))
    if kind == "delete":
        for path in existing:
            path.unlink()
        return
    if kind == "rename" and existing:
        existing[0].rename(posts_dir / f"p{n}-renamed{step}.md")
        return
    tags = [t for i, t in enumerate(TAGS) if mask & (1 << i)]
    text = post_text(n, day, CATEGORIES[category], tags, f"Body of {n} at step {step}.")
    if kind == "unpublish":
        text = text.replace("---\n\n", "published: false\n---\n\n", 1)
    for path in existing:
        path.unlink()
    (posts_dir / f"p{n}-{step}.md").write_text(text)


def bodies(site: Site) -> dict[str, bytes]:
    return {path: doc.body for path, doc in site.documents.items()}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(edits)
def test_incremental_builds_equal_full_builds(
    make_config: ConfigFactory, tmp_path: Path, sequence: list[Edit]
) -> None:
    work = tmp_path / "work"
    shutil.rmtree(work, ignore_errors=True)
    (work / "posts").mkdir(parents=True)
    posts_dir = work / "posts"
    config = dataclasses.replace(
        make_config(feeds={"limit": 3}), posts_dir=posts_dir, output_dir=work / "live"
    )
    for n in range(4):
        apply(posts_dir, ("write", n, n + 1, n % 3, n), 0)
    cache = PostCache(work / "cache", config)
    incremental = Publisher(config, clock=lambda: NOW, cache=cache)
    previous = Built(incremental.build().site, None)
    reader = PostReader(config, cache)  # the publisher's way of reading, on its cache
    for step, edit in enumerate(sequence, start=1):
        apply(posts_dir, edit, step)
        loaded, _ = reader.load()
        built = build_site(loaded, config, NOW, cache_source(cache, False), previous=previous)
        site = built.site
        full = Publisher(config, clock=lambda: NOW).build().site
        assert bodies(site) == bodies(full)
        assert site.signatures == full.signatures
        # Through the live tree and back (a restart), too.
        write_live(site, config.output_dir)
        reloaded = load_live(config.output_dir)
        assert reloaded is not None and reloaded.signatures == site.signatures
        assert bodies(reloaded) == bodies(full)
        # Odd steps go on from the Site in memory (a running service, which plans from
        # the changes only), even ones from the live tree (a restart, planned afresh).
        previous = built if step % 2 else Built(reloaded, None)


def test_unchanged_feeds_are_not_rendered_again(
    posts_dir: Path, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(4):
        (posts_dir / f"p{n}.md").write_text(
            post_text(n, n + 1, CATEGORIES[n % 3], [TAGS[n]], f"Body {n}.")
        )
    loaded, _ = load_posts(config)
    first = build_site(loaded, config, NOW)
    rendered: list[str] = []

    def render(post: Post, cfg: Config) -> posts_module.Rendered:
        rendered.append(post.relpath)
        return posts_module.render_post(post, cfg)

    (posts_dir / "p3.md").write_text(post_text(3, 4, CATEGORIES[0], [TAGS[3]], "Edited."))
    loaded, _ = load_posts(config)
    second, _ = build_site(loaded, config, NOW, Rendering(render), previous=first)
    # p3 is in the site feed (with everyone), News and its tag: those are rebuilt;
    # World, Culture and the other tags are reused as they were.
    documents = first.site.documents
    assert second.documents["/category/world.atom"] is documents["/category/world.atom"]
    assert second.documents["/tag/belarus.atom"] is documents["/tag/belarus.atom"]
    assert second.documents["/tag/press.atom"] is not documents["/tag/press.atom"]
    # Entries are prepared only for the feeds being rebuilt (here the site feed holds
    # every post); with the render cache only the edited post is rendered anew.
    assert sorted(rendered) == ["p0.md", "p1.md", "p2.md", "p3.md"]


def test_with_the_cache_only_the_edited_post_is_rendered(
    posts_dir: Path, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(4):
        (posts_dir / f"p{n}.md").write_text(post_text(n, n + 1, "News", [TAGS[n]], f"Body {n}."))
    cache = PostCache(tmp_path / "cache", config)
    loaded, _ = load_posts(config, load_one=cache.load_post)
    first = build_site(loaded, config, NOW, cache_source(cache, False))
    rendered: list[str] = []
    real = posts_module.render_post

    def render_post(post: Post, cfg: Config, body: str | None = None) -> posts_module.Rendered:
        rendered.append(post.relpath)
        return real(post, cfg, body)

    monkeypatch.setattr("syndicate.publisher.cache.render_post", render_post)
    (posts_dir / "p2.md").write_text(post_text(2, 3, "News", [TAGS[2]], "Edited body."))
    loaded, _ = load_posts(config, load_one=cache.load_post)
    build_site(loaded, config, NOW, cache_source(cache, False), previous=first)
    assert rendered == ["p2.md"]


def test_a_cache_without_a_folder_is_never_written(
    posts_dir: Path, config: Config, tmp_path: Path
) -> None:
    """`build --no-cache`: nothing is read from or written to disk, renders still shared."""
    (posts_dir / "p.md").write_text(post_text(1, 1, "News", [], "Hi."))
    memory = PostCache(None, config)
    loaded, _ = load_posts(config, load_one=memory.load_post)
    first = memory.render_many(loaded, config)
    assert memory.render_many(loaded, config) == first
    memory.save()
    assert list(tmp_path.rglob(CACHE_FILE)) == []


def _stats(posts_dir: Path) -> dict[Path, tuple[int, int]]:
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in posts_dir.iterdir()}


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    edit_lists("write", "delete", "rename", "unpublish", "break", "same-id", max_size=10),
    st.lists(st.sampled_from([".p1.md", "p1.md~", "#p1.md#", "p1.txt.swp"])),
)
def test_publishing_the_changed_paths_equals_a_full_build(
    make_config: ConfigFactory, tmp_path: Path, sequence: list[Edit], noise: list[str]
) -> None:
    """A running service reads only the files events name, and never walks the folder;
    every feed still comes out as a full build from scratch makes it."""
    from syndicate.publisher import open_publisher

    work = tmp_path / "targeted"
    shutil.rmtree(work, ignore_errors=True)
    posts_dir = work / "posts"
    posts_dir.mkdir(parents=True)
    config = dataclasses.replace(
        make_config(feeds={"limit": 3}, storage={"url": f"sqlite:///{work}/state.db"}),
        posts_dir=posts_dir,
        output_dir=work / "live",
    )
    for n in range(4):
        apply(posts_dir, ("write", n, n + 1, n % 3, n), 0)
    service = open_publisher(config, clock=lambda: NOW)
    try:
        service.publish()
        for step, edit in enumerate(sequence, start=1):
            before = _stats(posts_dir)
            kind, n, day, category, mask = edit
            existing = sorted(posts_dir.glob(f"p{n}-*.md"))
            if kind == "break" and existing:
                # An error: the last good version stays, reported (the full way).
                existing[0].write_text('---\ntitle: "unclosed\n---\nBroken.\n')
            elif kind == "same-id":
                # Two posts with one front-matter id: only the first by path is published.
                text = post_text(n, day, CATEGORIES[category], [], f"Twin {step}.")
                text = text.replace("---\n\n", "id: tag:example.org,2024:twin\n---\n\n", 1)
                (posts_dir / f"p{n}-twin{step}.md").write_text(text)
            else:
                apply(posts_dir, edit, step)
            for name in noise[step % max(len(noise), 1) :][:1]:
                (posts_dir / name).write_text("---\ntitle: not a post\n---\n")
            after = _stats(posts_dir)
            named = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
            site = service.publish(paths=sorted(named)).site
            # From scratch: another process that reuses no feed and settles every post,
            # with only the cache (as saved now) to remember last good versions by.
            assert service.cache is not None
            service.cache.save()
            fresh = Publisher(
                config,
                clock=lambda: NOW,
                store=service.store,
                cache=PostCache(state_dir(config) / "cache", config),
            )
            fresh._site = Site(documents={}, feeds=())
            full = fresh.publish(notify=False, write=False).site
            assert bodies(site) == bodies(full)
            assert site.feeds == full.feeds
            assert site.signatures == full.signatures
    finally:
        service.close()


def test_a_replaced_image_is_read_again_with_its_new_length(
    posts_dir: Path, make_config: ConfigFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "a.jpg").write_bytes(b"\0" * 100)
    config = make_config(assets_dir="assets")
    text = "---\ntitle: {}\ndate: 2024-05-01\nimage: /assets/{}\n---\nHi.\n"
    (posts_dir / "a.md").write_text(text.format("A", "a.jpg"))
    (posts_dir / "b.md").write_text(text.format("B", "b.jpg"))  # no such file yet
    cache = PostCache(tmp_path / "cache", config)
    first, problems = load_posts(config, load_one=cache.load_post)
    assert [(p.title, p.image and p.image.length) for p in first] == [("A", 100), ("B", None)]
    assert [(p.path.name, p.message.split(" is ")[0]) for p in problems] == [
        ("b.md", "image: '/assets/b.jpg'")  # not in assets_dir (yet)
    ]

    calls = counting_load_post(monkeypatch)
    load_posts(config, load_one=cache.load_post)
    assert calls == []  # nothing changed: both from the cache
    (assets / "a.jpg").write_bytes(b"\0" * 5000)  # replaced under the same name
    (assets / "b.jpg").write_bytes(b"\0" * 7)  # appeared
    again, problems = load_posts(config, load_one=cache.load_post)
    assert sorted(p.name for p in calls) == ["a.md", "b.md"]
    assert [(p.title, p.image and p.image.length) for p in again] == [("A", 5000), ("B", 7)]
    assert problems == []  # the image is found now: no warning kept from the cache


def test_republish_force_publishes_the_new_length_of_a_replaced_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import feedparser
    from click.testing import CliRunner
    from lxml import etree

    from syndicate.cli import main

    (tmp_path / "posts").mkdir()
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "a.jpg").write_bytes(b"\0" * 100)
    (tmp_path / "posts" / "a.md").write_text(
        "---\ntitle: A\ndate: 2024-05-01\nimage: /assets/a.jpg\n---\nHi.\n"
    )
    (tmp_path / "config.yaml").write_text(
        "site: {title: T, url: 'https://example.org/'}\nassets_dir: assets\n"
    )
    monkeypatch.chdir(tmp_path)

    def enclosure_length() -> str:
        raw = (tmp_path / "_site" / "feed.rss").read_bytes()
        lengths = etree.fromstring(raw).xpath("//item/enclosure/@length")
        assert isinstance(lengths, list) and len(lengths) == 1
        [entry] = feedparser.parse(raw).entries
        assert entry.enclosures[0]["length"] == str(lengths[0])
        return str(lengths[0])

    assert CliRunner().invoke(main, ["republish"]).exit_code == 0
    assert enclosure_length() == "100"
    (tmp_path / "assets" / "a.jpg").write_bytes(b"\0" * 5000)  # the post file is untouched
    result = CliRunner().invoke(main, ["republish", "--force"])
    assert result.exit_code == 0, result.output
    assert enclosure_length() == "5000"


def test_entries_kept_for_the_next_build_are_deflated(posts_dir: Path, config: Config) -> None:
    """A Site kept as the next build's ``previous`` holds its entries deflated; a build
    that reuses them gives the same bytes as one from scratch."""
    for n in range(6):
        (posts_dir / f"p{n}.md").write_text(post_text(n, n + 1, CATEGORIES[n % 3], [], "B."))
    loaded, _ = load_posts(config)
    first = build_site(loaded, config, NOW)
    assert first.plan is not None
    kept = [entry for _, entry in first.plan.entries.values()]
    assert len(kept) == len(loaded)
    for entry in kept:
        assert isinstance(entry, PreparedEntry)
        assert entry._bytes == {} and entry._deflated is not None
    (posts_dir / "p5.md").write_text(post_text(5, 6, CATEGORIES[2], [], "Edited."))
    loaded, _ = load_posts(config)
    again, _ = build_site(loaded, config, NOW, previous=first)
    assert bodies(again) == bodies(build_site(loaded, config, NOW).site)
