"""The command line through click's CliRunner: exit codes and what a user reads."""

from __future__ import annotations

import dataclasses
import gc
import gzip
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from syndicate import __version__
from syndicate.cli import main
from syndicate.feeds import Document, Site
from syndicate.posts import PostProblem
from syndicate.publisher import BuildResult, Publisher

WHEN = datetime(2024, 3, 4, 5, 6, 7, tzinfo=UTC)
SITE = Site(
    documents={
        "/feed.rss": Document("application/rss+xml; charset=utf-8", b"<rss/>", '"r"', WHEN),
        "/": Document("text/html; charset=utf-8", b"<!doctype html>", '"i"', WHEN),
    },
    feeds=(),
)
CONFIG = "site:\n  title: Example News\n  url: https://example.org/\nposts_dir: posts\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with config.yaml and posts/, made the current folder."""
    (tmp_path / "posts").mkdir(exist_ok=True)
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def fake_build(monkeypatch: pytest.MonkeyPatch, project: Path, *problems: PostProblem) -> None:
    """Make Publisher.build return SITE and these problems (posts and feeds have own tests)."""

    def build(
        self: Publisher,
        keep: Callable[[str, Document], Document] | None = None,
        planned: Callable[[list[str]], None] | None = None,
    ) -> BuildResult:
        assert self.config.posts_dir == project / "posts"
        site = SITE
        if planned is not None:  # as build_site does: the feeds before they are made
            planned([path for path in SITE.documents if path.endswith((".rss", ".atom"))])
        if keep is not None:  # as build_site does: each document as it is made
            documents = {path: keep(path, doc) for path, doc in SITE.documents.items()}
            site = dataclasses.replace(SITE, documents=documents)
        return BuildResult(site=site, problems=problems, post_count=3)

    monkeypatch.setattr(Publisher, "build", build)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert __version__ in result.output


@pytest.mark.parametrize("command", ["build", "check", "serve"])
def test_help(command: str) -> None:
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "--config" in result.output


@pytest.mark.parametrize("command", [["check"], ["build", "--out", "public"], ["serve"]])
def test_missing_config_is_a_clean_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run(*command)
    assert result.exit_code == 1
    assert "config.yaml: config file not found" in result.stderr
    assert "Traceback" not in result.output


def test_invalid_config_names_the_key(project: Path) -> None:
    (project / "config.yaml").write_text(CONFIG + "feeds:\n  limit: lots\n", encoding="utf-8")
    result = run("check")
    assert result.exit_code == 1
    assert "feeds.limit: expected int" in result.stderr
    assert "Traceback" not in result.output


def test_build_writes_the_tree(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_build(monkeypatch, project)
    result = run("build", "--out", "public")
    assert result.exit_code == 0, result.output
    assert (project / "public" / "feed.rss").read_bytes() == b"<rss/>"
    assert (
        gzip.decompress((project / "public" / "index.html.gz").read_bytes()) == b"<!doctype html>"
    )
    assert "wrote 2 documents" in result.stdout


def test_build_reports_problems_relative_and_exits_0(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_build(
        monkeypatch,
        project,
        PostProblem(project / "posts" / "broken.md", "invalid YAML front matter"),
        PostProblem(Path("/elsewhere/old.md"), "repaired mojibake", "warning"),
    )
    result = run("build", "--out", "public")
    assert result.exit_code == 0
    lines = result.stderr.splitlines()
    # One line each, and not twice (the publisher's log line for it is not repeated).
    assert lines.count("posts/broken.md: invalid YAML front matter") == 1
    assert lines.count("/elsewhere/old.md: repaired mojibake") == 1
    assert (project / "public" / "feed.rss").is_file()


def test_build_strict_fails_on_an_error_and_writes_nothing(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_build(monkeypatch, project, PostProblem(project / "posts" / "a.md", "bad"))
    result = run("build", "--out", "public", "--strict")
    assert result.exit_code == 1
    assert "posts/a.md: bad" in result.stderr
    assert "Error: 1 error with --strict; public left unchanged" in result.stderr
    assert not (project / "public").exists()


def test_build_strict_passes_a_warning(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--strict fails on errors only (as in check and republish): --strict-warnings is the
    flag for warnings."""
    fake_build(monkeypatch, project, PostProblem(project / "posts" / "a.md", "odd", "warning"))
    result = run("build", "--out", "public", "--strict")
    assert result.exit_code == 0, result.output
    assert "posts/a.md: odd" in result.stderr
    assert (project / "public" / "feed.rss").is_file()


def test_build_strict_without_problems(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_build(monkeypatch, project)
    assert run("build", "--out", "public", "--strict").exit_code == 0
    assert (project / "public" / "feed.rss").is_file()


def test_check_exit_codes(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_build(monkeypatch, project)
    clean = run("check")
    assert clean.exit_code == 0
    assert "3 posts" in clean.stdout and "0 errors" in clean.stdout

    fake_build(monkeypatch, project, PostProblem(project / "posts" / "w.md", "odd", "warning"))
    warned = run("check")
    assert warned.exit_code == 0
    assert "posts/w.md: odd" in warned.stderr
    assert "1 warning" in warned.stdout

    fake_build(
        monkeypatch,
        project,
        PostProblem(project / "posts" / "w.md", "odd", "warning"),
        PostProblem(project / "posts" / "e.md", "bad date"),
    )
    failed = run("check")
    assert failed.exit_code == 1
    assert "posts/e.md: bad date" in failed.stderr
    assert "posts/w.md: odd" in failed.stderr
    assert "1 error, 1 warning" in failed.stdout


# --- --strict and --strict-warnings: the same in build, check and republish -------------

WARNED_POST = """---
date: 2024-05-04 10:00:00
---
A post without a title: a warning, and still published.
"""
FAILED_POST = """---
title: Bad date
date: not a date at all
---
Body.
"""
# (posts, flag) -> exit status of build, check, republish
STRICT_TABLE = [
    ("warning", None, (0, 0, 0)),
    ("warning", "--strict", (0, 0, 0)),
    ("warning", "--strict-warnings", (1, 1, 1)),
    ("error", None, (0, 1, 0)),
    ("error", "--strict", (1, 1, 1)),
    ("error", "--strict-warnings", (1, 1, 1)),
]


def age_posts(project: Path) -> None:
    """Date every post file an hour back: a file modified this very second is read again
    by ``republish`` (its stat cannot prove it unchanged), never answered from the stamp."""
    hour_ago = time.time() - 3600
    for path in (project / "posts").iterdir():
        os.utime(path, (hour_ago, hour_ago))


@pytest.mark.parametrize(("problem", "flag", "statuses"), STRICT_TABLE)
@pytest.mark.parametrize("index", [0, 1, 2], ids=["build", "check", "republish"])
def test_strict_means_the_same_in_every_command(
    project: Path, problem: str, flag: str | None, statuses: tuple[int, int, int], index: int
) -> None:
    """Errors fail --strict everywhere (check always); warnings only --strict-warnings."""
    write_posts(project)
    name, text = ("2024-05-04-untitled.md", WARNED_POST)
    if problem == "error":
        name, text = ("2024-05-04-bad-date.md", FAILED_POST)
    (project / "posts" / name).write_text(text, encoding="utf-8")
    age_posts(project)
    command = [["build", "--out", "public"], ["check"], ["republish"]][index]
    result = run(*command, *([flag] if flag else []))
    assert result.exit_code == statuses[index], result.output
    assert "Traceback" not in result.output
    assert f"posts/{name}: " in result.stderr
    if result.exit_code:
        if flag:  # says which flag failed it, and counts right
            assert f"Error: 1 {problem} with {flag}" in result.stderr, result.stderr
    if command[0] == "build":
        # A failed --strict build writes nothing; any other build writes the tree.
        assert (project / "public").exists() == (result.exit_code == 0)
    if command[0] == "republish" and result.exit_code:
        assert (project / "_site" / "feed.atom").is_file()  # the rest is published
        # Nothing changed since: the quick answer fails the same way.
        again = run(*command, *([flag] if flag else []))
        assert "nothing changed since the last publish" in again.stdout
        assert again.exit_code == 1 and again.stderr == result.stderr


def test_build_strict_warnings_fails_on_a_warning_and_writes_nothing(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_build(monkeypatch, project, PostProblem(project / "posts" / "a.md", "odd", "warning"))
    result = run("build", "--out", "public", "--strict-warnings")
    assert result.exit_code == 1
    assert "posts/a.md: odd" in result.stderr
    assert "Error: 1 warning with --strict-warnings; public left unchanged" in result.stderr
    assert not (project / "public").exists()


@pytest.mark.parametrize("command", ["build", "check", "republish"])
def test_help_says_what_strict_fails_on(command: str) -> None:
    shown = " ".join(run(command, "--help").output.split())
    assert "--strict " in shown and "--strict-warnings" in shown
    assert "warnings do not" in shown


def test_one_of_each_reads_right(project: Path) -> None:
    """'1 post, 1 feed, 1 error, 1 warning': never '1 problems'."""
    with (project / "config.yaml").open("a", encoding="utf-8") as config:
        config.write("pings: [http://127.0.0.1:9/RPC2]\n")
    (project / "posts" / "2024-05-04-untitled.md").write_text(WARNED_POST, encoding="utf-8")
    (project / "posts" / "2024-05-05-bad-date.md").write_text(FAILED_POST, encoding="utf-8")
    age_posts(project)

    checked = run("check")
    assert checked.stdout.strip() == "1 post, 1 feed, 1 error, 1 warning"
    strict = run("build", "--out", "public", "--strict")
    assert "Error: 1 error with --strict; public left unchanged" in strict.stderr
    built = run("build", "--out", "public")
    assert built.stdout.startswith("1 post, 1 feed, 1 error, 1 warning; wrote ")
    published = run("republish")
    assert published.stdout.splitlines()[-1] == (
        "1 post, 1 feed: 3 changed, 0 removed; 1 notification queued for serve or worker "
        "to deliver; 1 error, 1 warning"
    )
    again = run("republish")
    assert again.stdout.strip() == (
        "1 post, 1 feed: 0 changed, 0 removed; 0 notifications queued (nothing changed "
        "since the last publish); 1 error, 1 warning"
    )
    status = run("status").stdout.splitlines()
    assert status[0].endswith(": 1 post, 1 feed, 1 error, 3 feeds changed"), status[0]
    assert "Pending notifications: 1" in status


def test_status_lines_count_attempts_right() -> None:
    from syndicate.cli import _status_lines

    one = {
        "kind": "ping", "feed": "https://example.org/feed.rss", "target": "http://p/",
        "attempts": 1, "next_attempt": "2024-05-01T12:00:00Z", "last_error": "HTTP 500",
    }  # fmt: skip
    data = {
        "last_build": {
            "time": "2024-05-01T12:00:00Z", "duration": 0.5, "post_count": 1,
            "feed_count": 1, "error_count": 1, "changed_feeds": [{"url": "https://x/f"}],
        },
        "errors": [], "scheduled": [], "pending": [one], "failed": [one],
        "recent_attempts": [], "refused": None, "refused_by_targets": [],
    }  # fmt: skip
    lines = list(_status_lines(data))
    assert lines[0].endswith("1 post, 1 feed, 1 error, 1 feed changed")
    assert any(line.endswith(": 1 attempt, next 2024-05-01T12:00:00Z; last error: HTTP 500")
               for line in lines)  # fmt: skip
    assert any(line.endswith(": 1 attempt; HTTP 500") for line in lines)


def test_config_option_resolves_paths_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    (site_dir / "config.yaml").write_text(CONFIG, encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    fake_build(monkeypatch, site_dir)  # asserts posts_dir is site/posts
    result = run("check", "--config", "../site/config.yaml")
    assert result.exit_code == 0, result.output


def test_verbose_logs_to_stderr(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_build(monkeypatch, project)
    quiet = run("check")
    assert "INFO" not in quiet.stderr
    loud = run("-v", "build", "--out", "public")
    assert "INFO syndicate.publisher: wrote 2 documents to" in loud.stderr


# --- end to end, on real post files ----------------------------------------------------

GOOD_POST = """---
title: Good news
date: 2024-05-01 10:00:00
categories: [News]
tags: [python, "C#"]
---
The *first* paragraph.

More text with [a link](/about/).
"""
SECOND_POST = """---
title: Second
date: 2024-05-02T08:00:00+02:00
categories: News
tags: python
---
Second post.
"""
BROKEN_POST = """---
title: [unclosed
date: 2024-05-03
---
Body.
"""


def write_posts(project: Path, *, broken: bool = False) -> None:
    posts = project / "posts"
    (posts / "2024-05-01-good.md").write_text(GOOD_POST, encoding="utf-8")
    (posts / "2024-05-02-second.md").write_text(SECOND_POST, encoding="utf-8")
    if broken:
        (posts / "2024-05-03-broken.md").write_text(BROKEN_POST, encoding="utf-8")


def opml_feeds(opml: bytes) -> list[str]:
    """Every xmlUrl in an OPML document, as paths under the site."""
    from lxml import etree

    root = etree.fromstring(opml)
    urls = [str(o.get("xmlUrl")) for o in root.iter("outline") if o.get("xmlUrl")]
    assert urls, "feeds.opml lists no feeds"
    prefix = "https://example.org"
    assert all(url.startswith(prefix + "/") for url in urls)
    return [url[len(prefix) :] for url in urls]


def test_build_end_to_end(project: Path) -> None:
    import feedparser
    from lxml import etree

    write_posts(project)
    result = run("build", "--out", "public")
    assert result.exit_code == 0, result.output
    public = project / "public"
    paths = opml_feeds((public / "feeds.opml").read_bytes())
    assert {"/feed.rss", "/feed.atom", "/category/news.rss", "/tag/python.atom"} <= set(paths)
    for path in paths:
        body = (public / path.lstrip("/")).read_bytes()
        assert gzip.decompress((public / (path.lstrip("/") + ".gz")).read_bytes()) == body
        if path.endswith(".json"):  # JSON Feed (tests/test_json_feed.py reads it as readers do)
            titles = [item["title"] for item in json.loads(body)["items"]]
            assert "Good news" in titles or path.startswith("/tag/c"), (path, titles)
            continue
        etree.fromstring(body)  # well-formed XML
        parsed = feedparser.parse(body)
        assert not parsed.bozo, (path, parsed.get("bozo_exception"))
        titles = [entry.title for entry in parsed.entries]
        assert "Good news" in titles or path.startswith("/tag/c"), (path, titles)
    site_titles = [e.title for e in feedparser.parse((public / "feed.atom").read_bytes()).entries]
    assert site_titles == ["Second", "Good news"]  # newest first
    index = (public / "index.html").read_text(encoding="utf-8")
    assert 'rel="alternate"' in index

    # Building again gives the same bytes.
    before = {p: p.read_bytes() for p in public.rglob("*") if p.is_file()}
    assert run("build", "--out", "public").exit_code == 0
    assert {p: p.read_bytes() for p in public.rglob("*") if p.is_file()} == before


# The command line as a user runs it, in a process of its own: sys.argv, not CliRunner.
EXIT_PROBE = """
import atexit, sys
atexit.register(lambda: print("interpreter torn down", file=sys.stderr))
from syndicate.cli import main
sys.argv[0] = "syndicate"
main()
"""


def run_process(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", EXIT_PROBE, *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_finished_build_ends_its_process_without_the_teardown(project: Path) -> None:
    """Output and logs are flushed and the tree is written; the interpreter's teardown
    (atexit, then every module freed) is skipped: nothing is left to finalise."""
    write_posts(project)
    done = run_process(project, "-v", "build", "--out", "public")
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout and "documents to public" in done.stdout
    assert "built" in done.stderr  # the log line, flushed
    assert "interpreter torn down" not in done.stderr
    assert (project / "public" / "feed.rss").is_file()
    assert (
        gzip.decompress((project / "public" / "feed.rss.gz").read_bytes())
        == (project / "public" / "feed.rss").read_bytes()
    )


GC_PROBE = """
import gc, os, sys
real_exit = os._exit
def exit_at_once(code):
    print("collector enabled:", gc.isenabled(), file=sys.stderr, flush=True)
    real_exit(code)
os._exit = exit_at_once
from syndicate.cli import main
sys.argv[0] = "syndicate"
main()
"""


def test_a_build_from_the_command_line_runs_without_the_cyclic_collector(
    project: Path,
) -> None:
    """A one-shot build never collects (its objects all go with the process); a build run
    in another program's process (CliRunner here) leaves that program's collector on."""
    write_posts(project)
    done = subprocess.run(
        [sys.executable, "-c", GC_PROBE, "build", "--out", "public"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "collector enabled: False" in done.stderr
    assert (project / "public" / "feed.rss").is_file()
    assert gc.isenabled()
    assert run("build", "--out", "in-process").exit_code == 0
    assert gc.isenabled()


def test_a_failed_build_or_another_command_exits_as_usual(project: Path) -> None:
    failed = run_process(project, "build", "--config", "missing.yaml", "--out", "public")
    assert failed.returncode != 0
    assert "interpreter torn down" in failed.stderr
    version = run_process(project, "--version")
    assert version.returncode == 0 and __version__ in version.stdout
    assert "interpreter torn down" in version.stderr


def test_check_and_build_with_a_broken_post(project: Path) -> None:
    import feedparser

    write_posts(project, broken=True)
    checked = run("check")
    assert checked.exit_code == 1
    problem_lines = [line for line in checked.stderr.splitlines() if "05-03-broken.md" in line]
    # Printed once, relative to the current folder, and not repeated as a log line.
    assert len(problem_lines) == 1, checked.stderr
    assert problem_lines[0].startswith("posts/2024-05-03-broken.md: ")
    assert "2 posts" in checked.stdout and "1 error," in checked.stdout

    built = run("build", "--out", "public")
    assert built.exit_code == 0
    assert "posts/2024-05-03-broken.md: " in built.stderr
    entries = feedparser.parse((project / "public" / "feed.rss").read_bytes()).entries
    assert [e.title for e in entries] == ["Second", "Good news"]  # the good ones are published

    strict = run("build", "--out", "strict-out", "--strict")
    assert strict.exit_code == 1
    assert "posts/2024-05-03-broken.md: " in strict.stderr
    assert not (project / "strict-out").exists()


def test_check_reports_a_file_without_front_matter(project: Path) -> None:
    """A post file type that is not a post is a warning naming it, never skipped in silence."""
    write_posts(project)
    data = Path(__file__).parent / "data" / "posts"
    for name in ("no_front_matter.md", "empty_file.md"):
        (project / "posts" / name).write_bytes((data / name).read_bytes())
    checked = run("check")
    assert checked.exit_code == 0, checked.output
    assert checked.stderr.splitlines() == [
        "posts/empty_file.md: empty file; skipped",
        "posts/no_front_matter.md: no front matter (a post starts with a '---' line); skipped",
    ]
    assert checked.stdout.strip() == "2 posts, 4 feeds, 0 errors, 2 warnings"
    assert run("check", "--strict-warnings").exit_code == 1


IMAGE_POST = """---
title: {name}
date: 2024-05-0{day} 10:00:00
image: {image}
---
Body.
"""


def test_an_image_not_in_assets_or_climbing_out_is_a_warning(project: Path) -> None:
    """The post is published all the same; a length is read only from inside assets_dir."""
    import feedparser

    with (project / "config.yaml").open("a", encoding="utf-8") as config:
        config.write("assets_dir: assets\n")
    (project / "assets" / "images").mkdir(parents=True)
    (project / "assets" / "images" / "ok.jpg").write_bytes(b"j" * 10)
    (project / "secret.bin").write_bytes(b"s" * 1234)  # beside the config, not an asset
    images = {
        "found": "assets/images/ok.jpg",
        "missing": "assets/images/missing.jpg",
        "climbs": "../secret.bin",
        "deep": "/assets/images/../../../secret.bin",
        "beside": "assets/../secret.bin",  # stays in the site, but not in assets_dir
        "remote": "https://cdn.example.net/x.jpg",
    }
    for day, (name, image) in enumerate(images.items(), start=1):
        (project / "posts" / f"2024-05-0{day}-{name}.md").write_text(
            IMAGE_POST.format(name=name, day=day, image=image), encoding="utf-8"
        )
    checked = run("check")
    assert checked.exit_code == 0, checked.output
    climbs = "climbs out of the site with '..' (an image path is relative to the site's root)"
    missing = "is not in assets_dir (assets); its enclosure has no length"
    assert checked.stderr.splitlines() == [
        f"posts/2024-05-02-missing.md: image: 'assets/images/missing.jpg' {missing}",
        f"posts/2024-05-03-climbs.md: image: '../secret.bin' {climbs}",
        f"posts/2024-05-04-deep.md: image: '/assets/images/../../../secret.bin' {climbs}",
        f"posts/2024-05-05-beside.md: image: 'assets/../secret.bin' {missing}",
    ]
    assert checked.stdout.strip() == "6 posts, 1 feed, 0 errors, 4 warnings"

    assert run("build", "--out", "public").exit_code == 0
    parsed = feedparser.parse((project / "public" / "feed.rss").read_bytes())
    assert not parsed.bozo
    lengths = {e.title: e.enclosures[0].get("length") for e in parsed.entries}
    assert lengths == {
        "found": "10",
        "missing": "0",
        "climbs": "0",
        "deep": "0",
        "beside": "0",
        "remote": "0",
    }


def test_check_good_posts_exit_0(project: Path) -> None:
    write_posts(project)
    result = run("check")
    assert result.exit_code == 0, result.output
    assert "2 posts" in result.stdout and "0 errors" in result.stdout
    assert run("build", "--out", "public", "--strict").exit_code == 0


@pytest.mark.parametrize(("service", "shown"), [(True, True), (False, False)])
def test_services_log_post_problems_with_a_time(
    service: bool, shown: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """serve/worker have no one else to report a broken post; one-shot commands print it."""
    from syndicate.cli import _configure_logging

    logger = logging.getLogger("syndicate.publisher")
    problem = PostProblem(Path("posts/bad.md"), "invalid YAML front matter")
    try:
        _configure_logging(logging.INFO, service=service)
        logger.error("%s", problem, extra={"post_problem": problem})
    finally:
        _configure_logging(logging.WARNING)
    err = capsys.readouterr().err
    assert ("posts/bad.md: invalid YAML front matter" in err) is shown
    if shown:
        assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ERROR syndicate.publisher: ", err)
