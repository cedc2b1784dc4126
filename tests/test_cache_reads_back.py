"""The cache file is written in parts (a pickler's memory of what it wrote stays small)
and read back whole, with the objects a post shares with its last good version, render
and digests shared again."""

from __future__ import annotations

import pytest

from syndicate.config import Config
from syndicate.posts import load_posts
from syndicate.publisher import Publisher
from syndicate.publisher import cache as cache_module
from syndicate.publisher.cache import CACHE_FILE, PostCache
from tests.conftest import ConfigFactory

POST = "---\ntitle: Post {n}\ndate: 2024-04-0{n} 10:00:00\ntags: [t{n}]\n---\n\nBody {n}.\n"


@pytest.fixture
def limited(make_config: ConfigFactory) -> Config:
    return make_config(feeds={"limit": 2})


def test_a_cache_saved_in_parts_reads_back_the_same(
    limited: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(1, 8):
        (limited.posts_dir / f"p{n}.md").write_text(POST.format(n=n), encoding="utf-8")
    (limited.posts_dir / "broken.md").write_text("---\ntitle: [\n---\nBroken.\n")
    monkeypatch.setattr(cache_module, "PART", 3)
    cache = PostCache(limited.posts_dir.parent / "cache", limited)
    Publisher(limited, cache=cache).build()
    cache.save()
    assert len(cache._parts()) == 3  # 8 files in parts of 3
    again = PostCache(limited.posts_dir.parent / "cache", limited)
    assert again.posts == cache.posts and again.last_good == cache.last_good
    assert again.rendered == cache.rendered and again.digests == cache.digests
    assert len(again.rendered) == 7  # limit 2, but every tag has its own feed
    for relpath, (_, post, _) in again.posts.items():
        if post is not None:
            assert again.last_good[relpath] is post
    for digest, relpath, url, length in again.digests:
        post = again.last_good[relpath]
        assert (digest, url) == (post.digest, post.url) and digest is post.digest
        assert length == (post.image.length if post.image is not None else None)


def test_an_empty_cache_is_saved_and_read_back(limited: Config) -> None:
    cache = PostCache(limited.posts_dir.parent / "cache", limited)
    load_posts(limited, load_many=cache.load_many)
    cache._dirty = True
    cache.save()
    assert (limited.posts_dir.parent / "cache" / CACHE_FILE).exists()
    again = PostCache(limited.posts_dir.parent / "cache", limited)
    assert (again.posts, again.rendered, again.last_good, again.digests) == ({}, {}, {}, {})
