"""The publisher keeps posts without their bodies once digested, and reads a body from its
file again when it renders the post; a post never reads a file when an attribute is asked.

A body is a function of the file's bytes (``Post.digest``): reading it again gives the
same feeds, byte for byte, and a file that changed since it was read is read anew.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest

from syndicate import posts as posts_module
from syndicate.config import Config
from syndicate.errors import PostChanged
from syndicate.posts import Post, Rendered, load_post, load_posts, read_body, render_post
from syndicate.publisher import Publisher, ids, open_publisher
from syndicate.publisher import cache as cache_module
from syndicate.publisher.cache import PostCache, body_of
from tests.conftest import ConfigFactory
from tests.servers import FakeClock

POST = (
    "---\ntitle: {title}\ndate: 2024-04-0{day} 10:00:00\ncategories: [News]\ntags: [food]\n"
    "---\n\n{body}\n"
)


def write(posts_dir: Path, name: str, title: str, day: int, body: str) -> Path:
    path = posts_dir / name
    path.write_text(POST.format(title=title, day=day, body=body), encoding="utf-8")
    return path


@pytest.fixture
def limited(make_config: ConfigFactory) -> Config:
    # One entry a feed: an older post enters the feeds only when the newer one leaves
    # (no archive pages, which hold every post).
    return make_config(
        feeds={"limit": 1, "archives": "none"}, storage={"url": "sqlite:///state/syndicate.db"}
    )


@pytest.fixture
def publisher(limited: Config) -> Iterator[Publisher]:
    pub = open_publisher(limited, clock=FakeClock(datetime(2024, 5, 1, tzinfo=UTC)))
    yield pub
    pub.close()


def fresh_bodies(config: Config) -> dict[str, bytes]:
    """Every document of a full publish by a process with no memory and no cache."""
    pub = open_publisher(config, clock=FakeClock(datetime(2024, 5, 1, tzinfo=UTC)))
    try:
        assert pub.cache is not None
        pub.cache.posts.clear()
        pub.cache.rendered.clear()
        result = pub.publish(write=False, notify=False)
    finally:
        pub.close()
    return {path: doc.body for path, doc in result.site.documents.items()}


def reads_of_bodies(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = read_body

    def counted_read_body(source: Path, digest: str) -> str:
        calls.append(source)
        return real(source, digest)

    # Where the publisher's cache finds it (``body_of``): the one place a body kept out of
    # a post is read back.
    monkeypatch.setattr("syndicate.publisher.cache.read_body", counted_read_body)
    return calls


def publish_two(publisher: Publisher, posts_dir: Path) -> tuple[Path, Path]:
    """Publish an older post and a newer one: the newer one is in every feed, alone."""
    older = write(posts_dir, "2024-04-01-older.md", "Older", 1, "The older post.")
    newer = write(posts_dir, "2024-04-02-newer.md", "Newer", 2, "The newer post.")
    publisher.publish()
    return older, newer


def test_a_published_post_keeps_no_body_and_reads_the_same_one_again(
    publisher: Publisher, posts_dir: Path
) -> None:
    path = write(posts_dir, "2024-04-01-one.md", "One", 1, "Body *one*, with ünïcode.")
    publisher.publish()
    assert publisher.cache is not None
    (_, post, _) = publisher.cache.posts["2024-04-01-one.md"]
    assert post is not None and post.body is None
    fresh, _ = load_post(path, publisher.config)
    assert fresh is not None and body_of(post) == fresh.body == "Body *one*, with ünïcode."
    assert post == fresh
    assert render_post(post, publisher.config, body_of(post)) == render_post(
        fresh, publisher.config
    )


def test_a_post_entering_a_feed_after_its_body_was_dropped_is_read_again(
    publisher: Publisher, posts_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    older, newer = publish_two(publisher, posts_dir)
    reads = reads_of_bodies(monkeypatch)
    newer.unlink()
    result = publisher.publish(paths=[newer])
    assert reads == [older]  # never rendered before: its body is read from its file
    entries = feedparser.parse(result.site.documents["/feed.atom"].body).entries
    assert [(e.title, e.content[0].value) for e in entries] == [("Older", "<p>The older post.</p>")]
    assert {p: d.body for p, d in result.site.documents.items()} == fresh_bodies(publisher.config)


def test_a_file_changed_behind_our_back_is_read_again_when_its_body_is_needed(
    publisher: Publisher, posts_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    older, newer = publish_two(publisher, posts_dir)
    # Saved again and not named by a file event (yet): when its body is needed, the
    # digest tells, and the publish reads every changed file again.
    write(posts_dir, older.name, "Older", 1, "The older post, edited.")
    newer.unlink()
    with caplog.at_level("INFO", logger="syndicate.publisher"):
        result = publisher.publish(paths=[newer])
    assert f"{older}: changed since it was read: reading the posts again" in caplog.messages
    entries = feedparser.parse(result.site.documents["/feed.atom"].body).entries
    assert [e.content[0].value for e in entries] == ["<p>The older post, edited.</p>"]
    assert {p: d.body for p, d in result.site.documents.items()} == fresh_bodies(publisher.config)


def test_a_build_reads_the_bodies_it_renders_again_on_every_core(
    limited: Config, posts_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(1, 7):
        write(posts_dir, f"2024-04-0{n}-p{n}.md", f"P{n}", n, f"Body {n}.")
    monkeypatch.setattr(cache_module, "PARALLEL_MIN", 1)
    parallel = Publisher(limited, cache=PostCache(None, limited, workers=2)).build()
    serial = Publisher(limited).build()
    assert {p: d.body for p, d in parallel.site.documents.items()} == {
        p: d.body for p, d in serial.site.documents.items()
    }


def test_read_body_says_when_the_file_changed_or_went_away(config: Config, posts_dir: Path) -> None:
    path = write(posts_dir, "2024-04-01-one.md", "One", 1, "Body.")
    (post,), _ = load_posts(config)
    assert read_body(post.source, post.digest) == post.body == "Body."
    path.write_text(path.read_text() + "More.\n")
    with pytest.raises(PostChanged, match="changed since it was read") as changed:
        read_body(post.source, post.digest)
    assert changed.value.path == path
    path.unlink()
    with pytest.raises(PostChanged, match="cannot read file again"):
        read_body(post.source, post.digest)
    # Raised in a worker process, it comes back whole.
    again = pickle.loads(pickle.dumps(changed.value))
    assert (type(again), again.path, again.message) == (PostChanged, path, changed.value.message)


def test_a_post_kept_without_its_body_is_a_plain_value_that_reads_no_file(
    config: Config, posts_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(posts_dir, "2024-04-01-one.md", "One", 1, "Body.")
    (post,), _ = load_posts(config)
    reads = reads_of_bodies(monkeypatch)
    kept = posts_module.without_body(post)
    assert kept == post and kept.body is None and post.body == "Body."
    moved = posts_module.replace(kept, entry_id="urn:x")
    assert isinstance(moved, Post) and moved.entry_id == "urn:x" and moved.body is None
    assert pickle.loads(pickle.dumps(kept)) == kept
    path.unlink()  # asking a post for its values never goes to its file
    assert (kept.title, kept.body, moved.body) == ("One", None, None)
    with pytest.raises(ValueError, match="kept without its body"):
        render_post(kept, config)
    assert render_post(kept, config, "Body.") == render_post(post, config)
    assert reads == []


def test_a_post_kept_without_its_body_nor_its_digests_is_read_again(
    config: Config, posts_dir: Path
) -> None:
    write(posts_dir, "2024-04-01-one.md", "One", 1, "Body.")
    (post,), _ = load_posts(config)
    kept = posts_module.without_body(post)
    known = {posts_module.digest_key(post): posts_module.entry_digests(post)}
    assert ids.entry_digests(kept, known, {}) == posts_module.entry_digests(post)
    # Settling it needs its body: the publisher reads the posts again (PostChanged).
    with pytest.raises(PostChanged, match="its body is no longer in memory") as missing:
        ids.entry_digests(kept, {}, {})
    assert missing.value.path == post.source


def test_rendered_html_is_kept_and_pickled_as_utf8() -> None:
    rendered = Rendered("<p>ünï 😀</p>", "<p>s\udc80</p>")
    assert posts_module.unpack_rendered(*rendered.packed()) == rendered
    assert pickle.loads(pickle.dumps(rendered)) == rendered
