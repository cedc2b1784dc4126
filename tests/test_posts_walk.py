"""One candidate rule: the walk of the posts folder and ``candidate_relpath`` (a path
named by a file event) agree on which files are posts."""

from __future__ import annotations

from pathlib import Path

from syndicate.config import Config
from syndicate.posts import candidate_relpath
from syndicate.posts.walk import candidates, skip_reason

FILES = [
    "a.md",
    "b.markdown",
    "c.txt",
    "d.html",
    "UPPER.MD",
    "e.jpg",
    ".hidden.md",
    "f.md~",
    "#g.md#",
    "h.md.swp",
    "sub/i.md",
    "sub/deeper/j.md",
    ".git/k.md",
    "sub/.drafts/l.md",
    "sub/notes.pdf",
]


def test_the_walk_and_one_path_agree(posts_dir: Path, config: Config) -> None:
    for name in FILES:
        path = posts_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("---\ntitle: T\n---\n", encoding="utf-8")

    walked = [rel for rel, _ in candidates(posts_dir, lambda exc: None)]
    one_by_one = sorted(
        found for name in FILES if (found := candidate_relpath(posts_dir / name, config))
    )

    assert walked == one_by_one
    assert walked == [
        "UPPER.MD",
        "a.md",
        "b.markdown",
        "c.txt",
        "d.html",
        "sub/deeper/j.md",
        "sub/i.md",
    ]
    # The name alone decides for a file at the top of the folder.
    assert [name for name in FILES if "/" not in name and skip_reason(name) is None] == [
        "a.md",
        "b.markdown",
        "c.txt",
        "d.html",
        "UPPER.MD",
    ]


def test_a_path_outside_the_posts_folder_is_no_candidate(
    tmp_path: Path, posts_dir: Path, config: Config
) -> None:
    assert candidate_relpath(tmp_path / "elsewhere.md", config) is None
    assert candidate_relpath(posts_dir, config) is None
    assert candidate_relpath(posts_dir / "sub" / ".." / "a.md", config) == "a.md"
