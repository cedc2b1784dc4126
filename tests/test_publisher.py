"""Publisher: builds (logging problems) and static trees written and swapped atomically."""

from __future__ import annotations

import gzip
import json
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from syndicate import feeds as feeds_module
from syndicate import posts as posts_module
from syndicate.config import Config
from syndicate.errors import SyndicateError
from syndicate.feeds import Built, Document, FeedInfo, Site
from syndicate.outdir import MARKER, write_marker
from syndicate.posts import Post, PostProblem
from syndicate.publisher import Publisher
from syndicate.site import files as files_module
from syndicate.site.manifest import gzip_document

WHEN = datetime(2024, 3, 4, 5, 6, 7, tzinfo=UTC)


def doc(body: bytes, when: datetime = WHEN, media_type: str = "application/rss+xml") -> Document:
    return Document(f"{media_type}; charset=utf-8", body, f'"{len(body)}"', when)


def make_site(documents: dict[str, Document]) -> Site:
    return Site(documents=documents, feeds=())


SITE = make_site(
    {
        "/": doc(b"<!doctype html><title>feeds</title>", media_type="text/html"),
        "/feed.rss": doc(b"<rss>site</rss>" * 20, WHEN - timedelta(days=1)),
        "/feed.atom": doc(b"<feed>site</feed>", WHEN - timedelta(days=2)),
        "/category/news.atom": doc(b"<feed>news</feed>", WHEN - timedelta(days=3)),
        "/tag/c-sharp.rss": doc(b"<rss>c#</rss>"),
        "/feeds.opml": doc(b"<opml/>", media_type="text/x-opml"),
    }
)
FILES = {
    "index.html": "/",
    "feed.rss": "/feed.rss",
    "feed.atom": "/feed.atom",
    "category/news.atom": "/category/news.atom",
    "tag/c-sharp.rss": "/tag/c-sharp.rss",
    "feeds.opml": "/feeds.opml",
}


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_write_static_writes_every_document_and_gzip(tmp_path: Path, config: Config) -> None:
    out = tmp_path / "public"
    Publisher(config).write_static(SITE, out)
    written = tree(out)
    assert set(written) == set(FILES) | {f"{name}.gz" for name in FILES} | {MARKER}
    for name, url_path in FILES.items():
        document = SITE.documents[url_path]
        assert written[name] == document.body
        assert gzip.decompress(written[f"{name}.gz"]) == document.body
        stamp = document.last_modified.timestamp()
        assert (out / name).stat().st_mtime == stamp
        assert (out / f"{name}.gz").stat().st_mtime == stamp
    # Nothing left beside the output folder.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["posts", "public"]


def test_write_static_is_reproducible(tmp_path: Path, config: Config) -> None:
    Publisher(config).write_static(SITE, tmp_path / "a")
    Publisher(config).write_static(SITE, tmp_path / "b")
    assert tree(tmp_path / "a") == tree(tmp_path / "b")


def test_write_static_replaces_the_old_tree(tmp_path: Path, config: Config) -> None:
    out = tmp_path / "public"
    (out / "tag").mkdir(parents=True)
    (out / "tag" / "gone.rss").write_bytes(b"old")
    write_marker(out)  # an earlier build's
    Publisher(config).write_static(SITE, out)
    assert not (out / "tag" / "gone.rss").exists()
    assert (out / "feed.rss").read_bytes() == SITE.documents["/feed.rss"].body
    assert sorted(p.name for p in tmp_path.iterdir()) == ["posts", "public"]
    assert (out.stat().st_mode & 0o777) == 0o755


def test_write_static_files_are_readable_by_a_web_server(tmp_path: Path, config: Config) -> None:
    """Files are made as open(2) makes them, the umask applied: another user can read them."""
    old = os.umask(0o022)
    try:
        Publisher(config).write_static(SITE, tmp_path / "public")
    finally:
        os.umask(old)
    files = [path for path in (tmp_path / "public").rglob("*") if path.is_file()]
    assert len(files) == 2 * len(SITE.documents) + 1  # and the marker
    assert {path.stat().st_mode & 0o777 for path in files} == {0o644}


def test_write_static_creates_parents(tmp_path: Path, config: Config) -> None:
    out = tmp_path / "deep" / "er" / "public"
    Publisher(config).write_static(SITE, out)
    assert (out / "index.html").is_file()


def _good_tree(out: Path) -> dict[str, bytes]:
    (out / "category").mkdir(parents=True)
    write_marker(out)  # an earlier build's
    (out / "feed.rss").write_bytes(b"good")
    (out / "category" / "news.rss").write_bytes(b"good news")
    return tree(out)


@pytest.mark.parametrize(
    "url_path",
    [
        "/../escaped.rss",
        "/tag/../../escaped.rss",
        "/..",
        "../escaped.rss",
        "/tag/..\\..\\x.rss",
        "/x\0",
    ],
)
def test_write_static_refuses_escaping_paths(tmp_path: Path, config: Config, url_path: str) -> None:
    out = tmp_path / "public"
    before = _good_tree(out)
    site = make_site({"/feed.rss": doc(b"new"), url_path: doc(b"evil")})
    with pytest.raises(SyndicateError, match="outside the output folder"):
        Publisher(config).write_static(site, out)
    assert tree(out) == before
    assert not (tmp_path / "escaped.rss").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["posts", "public"]


def test_failure_while_writing_keeps_the_old_tree(
    tmp_path: Path, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "public"
    before = _good_tree(out)
    calls = 0
    real_compress = gzip_document

    def failing_compress(doc: Document) -> bytes:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError("disk full")
        return real_compress(doc)

    monkeypatch.setattr(files_module, "gzip_document", failing_compress)
    with pytest.raises(OSError, match="disk full"):
        Publisher(config).write_static(SITE, out)
    assert tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["posts", "public"]


def test_failure_while_swapping_keeps_the_old_tree(
    tmp_path: Path, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "public"
    before = _good_tree(out)
    real_rename = os.rename

    def rename(src: str | Path, dst: str | Path) -> None:
        if Path(src).name.startswith(".public.new-"):
            raise OSError("rename failed")
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(files_module, "_renameat2", None)  # the portable path
    with pytest.raises(OSError, match="rename failed"):
        Publisher(config).write_static(SITE, out)
    assert tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["posts", "public"]


@pytest.mark.skipif(files_module._renameat2 is None, reason="renameat2 is Linux-only")
def test_swap_exchanges_the_trees_in_one_step(
    tmp_path: Path, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Linux the old and new trees are exchanged atomically, never by two renames."""
    out = tmp_path / "public"
    _good_tree(out)

    def no_rename(src: str | Path, dst: str | Path) -> None:
        raise AssertionError(f"rename({src}, {dst}) used instead of an exchange")

    monkeypatch.setattr(os, "rename", no_rename)
    Publisher(config).write_static(SITE, out)
    assert (out / "feed.rss").read_bytes() == SITE.documents["/feed.rss"].body
    assert sorted(p.name for p in tmp_path.iterdir()) == ["posts", "public"]


def test_failed_exchange_keeps_the_old_tree(
    tmp_path: Path, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "public"
    before = _good_tree(out)

    def exchange(a: Path, b: Path) -> bool:
        raise OSError("exchange failed")

    monkeypatch.setattr(files_module, "_exchange", exchange)
    with pytest.raises(OSError, match="exchange failed"):
        Publisher(config).write_static(SITE, out)
    assert tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["posts", "public"]


def test_out_dir_that_is_a_file_is_refused(tmp_path: Path, config: Config) -> None:
    out = tmp_path / "public"
    out.write_bytes(b"a file")
    with pytest.raises(SyndicateError, match="not a folder"):
        Publisher(config).write_static(SITE, out)
    assert out.read_bytes() == b"a file"


def test_build_logs_problems_and_summary(
    config: Config, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The orchestration: load_posts -> build_site with the clock's now, problems logged."""
    problems = [
        PostProblem(Path("/p/broken.md"), "invalid YAML front matter", "error"),
        PostProblem(Path("/p/old.md"), "repaired mojibake", "warning"),
    ]
    seen: dict[str, object] = {}

    def load_posts(cfg: Config) -> tuple[list[Post], list[PostProblem]]:
        return [], problems

    def build_site(posts: list[Post], cfg: Config, now: datetime, **kwargs: object) -> Built:
        seen["now"] = now
        feed = FeedInfo("site", None, None, "Example", "/feed.rss", "/feed.atom", 0, None, ())
        return Built(Site(documents=SITE.documents, feeds=(feed,)), None)

    monkeypatch.setattr(posts_module, "load_posts", load_posts)
    monkeypatch.setattr(feeds_module, "build_site", build_site)
    caplog.set_level(logging.INFO, logger="syndicate")

    result = Publisher(config, clock=lambda: WHEN).build()

    assert seen["now"] == WHEN
    assert result.problems == tuple(problems)
    assert result.errors == (problems[0],)
    assert result.warnings == (problems[1],)
    records = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert (logging.ERROR, "/p/broken.md: invalid YAML front matter") in records
    assert (logging.WARNING, "/p/old.md: repaired mojibake") in records
    summary = [m for _, m in records if m.startswith("built ")]
    assert len(summary) == 1
    assert summary[0].startswith("built 1 feed from 0 posts (1 error, 1 warning) in ")


# --- the shipped posts -----------------------------------------------------------------

REPO = Path(__file__).resolve().parent.parent


def test_shipped_posts_build_into_valid_feeds(tmp_path: Path) -> None:
    """The repository's config.yaml and posts/: every feed in feeds.opml parses and has entries."""
    import feedparser
    from lxml import etree

    from syndicate.config import load_config

    config = load_config(REPO / "config.yaml")
    publisher = Publisher(config)
    result = publisher.build()
    assert not result.errors, [str(p) for p in result.errors]
    out = tmp_path / "public"
    publisher.write_static(result.site, out)

    opml = etree.fromstring((out / "feeds.opml").read_bytes())
    urls = [str(o.get("xmlUrl")) for o in opml.iter("outline") if o.get("xmlUrl")]
    assert len(urls) >= 4
    for url in urls:
        assert url.startswith(config.site.url)
        path = "/" + url[len(config.site.url) :]
        assert path in result.site.documents
        body = (out / path.lstrip("/")).read_bytes()
        if path.endswith(".json"):  # JSON Feed, which feedparser 6.0 does not read
            assert json.loads(body)["items"], url
            continue
        etree.fromstring(body)
        parsed = feedparser.parse(body)
        assert not parsed.bozo, (url, parsed.get("bozo_exception"))
        assert parsed.entries, url
