"""Post paths and URLs: the string shortcuts agree with ``pathlib`` and ``urllib``."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path, PurePosixPath
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from syndicate.config import Config
from syndicate.posts import load, load_post, urls
from syndicate.posts.load import _relpath


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


@pytest.mark.parametrize(
    "relpath",
    [
        "a.md", "a.b.md", "2025-01-01-x.markdown", "x.tar.gz", "noext", ".md", "..md", "a.",
        "a..", "...", "news/a.md", "news.d/a", "news.d/.hidden", "a/..md", "a b/c d.txt",
        "\u00fcn\u00ef/\u540d\u524d.md",
    ],
)  # fmt: skip
def test_suffix_helpers_agree_with_pathlib(relpath: str) -> None:
    path = PurePosixPath(relpath)
    assert urls._suffix(path.name) == path.suffix
    assert urls.without_suffix(relpath) == str(path.with_suffix(""))
    assert urls.without_suffix(relpath).rpartition("/")[2] == path.stem


def test_a_normalised_absolute_path_is_used_as_it_is(tmp_path: Path) -> None:
    given_path = tmp_path / "p.md"
    assert load._absolute(given_path) is given_path
    for other in (
        tmp_path / "x" / ".." / "p.md",
        str(given_path),
        Path(os.path.relpath(given_path)),
    ):
        result = load._absolute(other)  # type: ignore[arg-type]
        assert result == given_path and type(result) is type(given_path)


url_refs = st.text(
    st.sampled_from(list("ab:/\\?#[]@%+-.1 \t\n\r\x00\x1f\x7f") + ["\u00e9"]), max_size=8
)


@given(url_refs)
@example("ht\ttp://x")
@example("//[oops")
@example(" http://x")
def test_url_scheme_is_urlsplits(ref: str) -> None:
    def outcome(split: Callable[[str], str]) -> tuple[str, str]:
        try:
            return "ok", split(ref)
        except ValueError as exc:
            return "ValueError", str(exc)

    assert outcome(urls._url_scheme) == outcome(lambda r: urlsplit(r).scheme)


@given(url_refs)
@example("a%zz/%41")
def test_quote_path_skips_only_what_quote_keeps(path: str) -> None:
    expected = urls._LONE_PERCENT.sub("%25", quote(path, safe=urls._URL_PATH_SAFE))
    assert urls._quote_path(path) == expected


@pytest.mark.parametrize(
    ("url", "media_type"),
    [
        ("https://example.org/a.jpg", "image/jpeg"),
        ("https://example.org/a.JPG/", "image/jpeg"),  # pathlib drops the trailing "/"
        ("https://example.org/a.png/.", "image/png"),
        ("https://example.org/", "application/octet-stream"),
        ("https://example.org/a%2Egif", "image/gif"),
        ("https://example.org/a.mp4?x=1", "video/mp4"),
        ("https://example.org/a.", "application/octet-stream"),
    ],
)
def test_media_type(url: str, media_type: str) -> None:
    assert urls._media_type(url) == media_type


def expand_like_jekyll(pattern: str, parts: urls._UrlParts) -> str:
    """The permalink placeholders substituted one by one, as a reference."""

    def expand(match: re.Match[str]) -> str:
        make = urls._PLACEHOLDERS.get(match.group(1))
        return make(parts) if make else match.group(0)

    return urls._PLACEHOLDER.sub(expand, pattern)


@given(
    st.lists(
        st.one_of(
            st.sampled_from([*(f":{name}" for name in urls._PLACEHOLDERS), ":nope", ":Title"]),
            st.text(st.sampled_from("/:-.x_"), max_size=3),
        ),
        max_size=6,
    ).map("".join)
)
def test_permalink_templates_expand_as_substitution_would(pattern: str) -> None:
    parts = urls._UrlParts(datetime(2025, 6, 9, 7, 5, 3), ["News", "A B"], "my-title", "stem")
    pairs, tail = urls._permalink_template(pattern)
    assert "".join(text + make(parts) for text, make in pairs) + tail == expand_like_jekyll(
        pattern, parts
    )


def test_real_path_is_pathlibs_resolve(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "file").write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path / "dir")
    (tmp_path / "relative").symlink_to("dir/file")
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    names = ["dir", "dir/file", "link/file", "link/../dir/./file", "relative", "dangling",
             "gone/x", "dir/file/x", "loop", "loop/x", "link/loop/../file", ".", "/"]  # fmt: skip
    for name in names:
        path = str(tmp_path / name)
        try:
            expected = str(Path(path).resolve())
        except RuntimeError:  # pathlib's symlink loop: no file, and no crash
            real, found = urls._real_path(path)
            assert found is None, name
            continue
        real, found = urls._real_path(path)
        assert (found is not None) == os.path.exists(real), name
        assert real == expected, name


@pytest.mark.parametrize(
    ("path", "folder"),
    [("/a/b", "/a"), ("/a", "/a"), ("/ab", "/a"), ("/a", "/a/b"), ("/a", "/"), ("/", "/")],
)
def test_is_within_is_is_relative_to(path: str, folder: str) -> None:
    assert urls._is_within(path, folder) == PurePosixPath(path).is_relative_to(folder)
