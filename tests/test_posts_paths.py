"""Post paths: the string fast path for ``relpath`` agrees with ``pathlib``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from syndicate.config import Config
from syndicate.posts import _relpath, load_post


@pytest.mark.parametrize(
    ("base", "source", "expected"),
    [
        ("/site/posts", "/site/posts/a.md", "a.md"),
        ("/site/posts", "/site/posts/news/2025/b.md", "news/2025/b.md"),
        ("/site/posts", "/site/posts2/c.md", "c.md"),  # a sibling sharing the prefix
        ("/site/posts", "/elsewhere/d.md", "d.md"),
        ("/", "/e.md", "e.md"),
        ("posts", "/site/posts/f.md", "f.md"),  # a relative base never matches by text
    ],
)
def test_relpath(config: Config, base: str, source: str, expected: str) -> None:
    config = dataclasses.replace(config, posts_dir=Path(base))
    assert _relpath(Path(source), config) == expected
    if Path(source).is_relative_to(base):
        assert expected == Path(source).relative_to(base).as_posix()


def test_relpath_through_a_symlinked_folder(
    tmp_path: Path, posts_dir: Path, config: Config
) -> None:
    (posts_dir / "news").mkdir()
    (posts_dir / "news" / "p.md").write_text("---\ntitle: T\ndate: 2025-01-01\n---\n")
    (tmp_path / "link").symlink_to(posts_dir)
    post, problems = load_post(tmp_path / "link" / "news" / "p.md", config)
    assert problems == [] and post is not None and post.relpath == "news/p.md"
