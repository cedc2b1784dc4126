"""Post files that are not plain posts (issue 17, cases 4, 6 and 7): FIFOs, sockets,
links out of ``posts_dir`` and oversized files, as a user meets them through the CLI
and the running service. Each costs its own file and says so in one line; the other
posts are published and nothing blocks.

A FIFO blocks whoever opens it for reading until a writer comes, so every command that
may meet one runs in a subprocess with a timeout (a regression fails, not hangs).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import feedparser
import pytest
from click.testing import CliRunner, Result
from lxml import etree

from syndicate.cli import main
from syndicate.config import Config
from syndicate.errors import PostChanged
from syndicate.posts import Post, PostProblem, load_post_statted, read_body
from syndicate.publisher import open_publisher
from syndicate.service.scheduler import Service
from syndicate.site.manifest import load_live
from syndicate.web import create_app
from syndicate.web.api import EXTENSION, TOKEN_ENV

from .conftest import ConfigFactory

CONFIG = "site:\n  title: Example News\n  url: https://example.org/\nposts_dir: posts\n"
POST = "---\ntitle: {title}\ndate: 2024-05-0{day} 10:00:00\n---\n\n{body}\n"
TIMEOUT = 30  # seconds: far more than any of these commands takes; a hang fails the test


def write_post(folder: Path, name: str, title: str, day: int = 1, body: str = "Text.") -> Path:
    path = folder / name
    path.write_text(POST.format(title=title, day=day, body=body), encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """config.yaml and posts/ with two good posts, made the current folder."""
    posts = tmp_path / "posts"
    posts.mkdir()
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    write_post(posts, "2024-05-01-first.md", "First post", 1)
    write_post(posts, "2024-05-02-second.md", "Second post", 2)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def run_process(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``syndicate ARGS`` in a subprocess, failing the test if it does not end in time."""
    try:
        return subprocess.run(
            [sys.executable, "-m", "syndicate", *args],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"syndicate {' '.join(args)} did not end within {TIMEOUT} s (blocked?)")


def feed_titles(path: Path) -> list[str]:
    """The entry titles of a feed file, parsed as a reader would."""
    body = path.read_bytes()
    etree.fromstring(body)  # well-formed XML
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return [entry.title for entry in parsed.entries]


def test_a_fifo_named_like_a_post_is_skipped_with_a_warning_and_blocks_nothing(
    project: Path,
) -> None:
    os.mkfifo(project / "posts" / "x.md")

    checked = run_process(project, "check")
    assert checked.returncode == 0, checked.stderr
    assert "x.md: not a regular file (a FIFO); skipped" in checked.stdout + checked.stderr

    built = run_process(project, "build", "--out", "public")
    assert built.returncode == 0, built.stderr
    assert feed_titles(project / "public" / "feed.rss") == ["Second post", "First post"]

    republished = run_process(project, "republish")
    assert republished.returncode == 0, republished.stderr
    assert "x.md: not a regular file (a FIFO); skipped" in republished.stdout + republished.stderr
    assert feed_titles(project / "_site" / "feed.atom") == ["Second post", "First post"]


def test_a_socket_named_like_a_post_is_skipped_with_a_warning(project: Path) -> None:
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(project / "posts" / "s.md"))
        result = run("build", "--out", "public")
    assert result.exit_code == 0, result.output
    assert "s.md: not a regular file (a socket); skipped" in result.output
    assert feed_titles(project / "public" / "feed.rss") == ["Second post", "First post"]


def test_a_link_to_a_file_outside_posts_dir_is_refused(project: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.md"
    write_post(tmp_path, "secret.md", "Secret title", 3, body="the private text")
    (project / "posts" / "2024-05-03-leak.md").symlink_to(secret)

    result = run("build", "--out", "public")
    assert result.exit_code == 0, result.output
    assert (
        f"2024-05-03-leak.md: a link to a file outside posts_dir ({secret}); not published"
        in result.output
    )
    for name in ("feed.rss", "feed.atom"):
        feed = project / "public" / name
        assert feed_titles(feed) == ["Second post", "First post"]
        assert b"private text" not in feed.read_bytes()
        assert b"Secret title" not in feed.read_bytes()

    republished = run("republish")
    assert republished.exit_code == 0, republished.output
    assert "a link to a file outside posts_dir" in republished.output
    assert b"private text" not in (project / "_site" / "feed.rss").read_bytes()


def test_a_link_that_climbs_out_through_a_linked_folder_is_refused(
    project: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    write_post(outside, "post.md", "Elsewhere", 3, body="not for the feeds")
    # A link inside posts_dir to a link to a folder outside: its real path leaves too.
    (project / "posts" / "drafts").symlink_to(outside)
    (project / "posts" / "2024-05-03-via.md").symlink_to(project / "posts" / "drafts" / "post.md")

    result = run("check")
    assert result.exit_code == 0, result.output
    assert "2024-05-03-via.md: a link to a file outside posts_dir" in result.output
    assert run("build", "--out", "public").exit_code == 0
    assert b"not for the feeds" not in (project / "public" / "feed.rss").read_bytes()


def test_a_link_inside_posts_dir_is_published(project: Path) -> None:
    posts = project / "posts"
    (posts / "archive").mkdir()
    write_post(posts / "archive", "2024-05-03-kept.md", "Kept post", 3)
    (posts / "2024-05-03-alias.md").symlink_to(Path("archive") / "2024-05-03-kept.md")
    (posts / "2024-05-04-relative.md").symlink_to("2024-05-01-first.md")

    result = run("build", "--out", "public")
    assert result.exit_code == 0, result.output
    assert "outside posts_dir" not in result.output
    # A link is a post of its own, named by the link, as it always was.
    titles = feed_titles(project / "public" / "feed.rss")
    assert sorted(titles) == sorted(
        ["First post", "First post", "Second post", "Kept post", "Kept post"]
    )


def test_a_post_larger_than_the_limit_is_an_error_and_not_read(project: Path) -> None:
    big = write_post(project / "posts", "2024-05-03-big.md", "Big post", 3)
    with big.open("a", encoding="utf-8") as handle:
        handle.write("x" * (5 * 1024 * 1024))

    checked = run("check")
    assert checked.exit_code == 1
    assert "2024-05-03-big.md: larger than 5 MB (posts.max_bytes); not read" in checked.output

    built = run("build", "--out", "public")
    assert built.exit_code == 0, built.output
    assert "2024-05-03-big.md: larger than 5 MB (posts.max_bytes); not read" in built.output
    assert feed_titles(project / "public" / "feed.rss") == ["Second post", "First post"]

    republished = run("republish")
    assert republished.exit_code == 0, republished.output  # the rest is published
    assert "larger than 5 MB" in republished.output
    assert feed_titles(project / "_site" / "feed.atom") == ["Second post", "First post"]


def test_posts_max_bytes_sets_the_limit(project: Path) -> None:
    with (project / "config.yaml").open("a", encoding="utf-8") as config:
        config.write("posts:\n  max_bytes: 1000\n")
    write_post(project / "posts", "2024-05-03-long.md", "Long post", 3, body="y" * 1000)

    result = run("build", "--out", "public")
    assert result.exit_code == 0, result.output
    assert "2024-05-03-long.md: larger than 1000 bytes (posts.max_bytes); not read" in (
        result.output
    )
    assert feed_titles(project / "public" / "feed.rss") == ["Second post", "First post"]


# --------------------------------------------------------------------------- the service


@pytest.fixture
def service(make_config: ConfigFactory, posts_dir: Path) -> Iterator[Service]:
    config: Config = make_config(watch={"debounce": 0.2, "scan_interval": 3600})
    write_post(posts_dir, "2024-05-01-first.md", "First post", 1)
    made = Service(config, open_publisher(config), poll_interval=0.5)
    yield made
    made.shutdown()
    assert made.publisher.store is not None
    made.publisher.store.close()


def test_a_fifo_in_a_running_service_costs_only_itself(service: Service, posts_dir: Path) -> None:
    service.start()
    fifo = posts_dir / "x.md"
    os.mkfifo(fifo)
    write_post(posts_dir, "2024-05-02-second.md", "Second post", 2)

    def full_scan() -> None:
        service.request_publish("full scan", paths=None)
        service.run_publish()

    scans = [threading.Thread(target=full_scan, daemon=True) for _ in range(2)]
    try:
        for scan in scans:  # the next full scan, and one more: nothing is left blocked
            scan.start()
            scan.join(TIMEOUT)
            assert not scan.is_alive(), "a full scan blocked on a FIFO in posts_dir"
    finally:
        if any(scan.is_alive() for scan in scans):
            # Release the blocked reader (a writer that opens and closes), so the service
            # can shut down and the test fails rather than hangs.
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    live = load_live(service.config.output_dir)
    assert live is not None
    titles = [e.title for e in feedparser.parse(live.documents["/feed.atom"].body).entries]
    assert titles == ["Second post", "First post"]


def test_a_link_out_saved_while_the_service_runs_is_not_published(
    service: Service, posts_dir: Path, tmp_path: Path
) -> None:
    service.start()
    secret = write_post(tmp_path, "secret.md", "Secret title", 3, body="the private text")
    # Watched file events name these files: the publish reads only them (no full scan).
    (posts_dir / "2024-05-03-leak.md").symlink_to(secret)
    write_post(posts_dir, "2024-05-02-second.md", "Second post", 2)

    def published() -> bool:
        live = load_live(service.config.output_dir)
        return live is not None and b"Second post" in live.documents["/feed.atom"].body

    deadline = time.monotonic() + TIMEOUT
    while not published():
        assert time.monotonic() < deadline, "the new post was not published"
        time.sleep(0.05)
    time.sleep(0.5)  # the debounce: events of both files are in one publish or two
    service.request_publish("modified", paths=[posts_dir / "2024-05-03-leak.md"])
    result = service.run_publish()
    assert result is not None
    assert [str(p) for p in result.problems] == [
        f"{posts_dir / '2024-05-03-leak.md'}: a link to a file outside posts_dir ({secret}); "
        "not published"
    ]
    live = load_live(service.config.output_dir)
    assert live is not None
    for path in ("/feed.atom", "/feed.rss"):
        assert b"private text" not in live.documents[path].body
        assert b"Secret title" not in live.documents[path].body


def test_a_fifo_read_by_name_does_not_block(posts_dir: Path, config: Config) -> None:
    # The walk leaves FIFOs out; a file named by an event, or swapped in after the walk,
    # reaches the reader itself, which must not wait for a writer either.
    fifo = posts_dir / "x.md"
    os.mkfifo(fifo)
    found: list[tuple[Post | None, Sequence[PostProblem], os.stat_result | None]] = []
    reader = threading.Thread(
        target=lambda: found.append(load_post_statted(fifo, config)), daemon=True
    )
    reader.start()
    reader.join(TIMEOUT)
    if reader.is_alive():
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("reading a FIFO named like a post blocked")
    post, problems, _ = found[0]
    assert post is None
    assert [(p.message, p.severity) for p in problems] == [
        ("not a regular file (a FIFO); skipped", "warning")
    ]
    with pytest.raises(PostChanged, match="not a regular file"):
        read_body(fifo, "0" * 64)


def test_the_editor_api_answers_with_a_fifo_in_posts_dir(
    make_config: ConfigFactory, posts_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "s3cret-Editor_token~42"
    monkeypatch.setenv(TOKEN_ENV, token)
    auth = {"Authorization": f"Bearer {token}"}
    write_post(posts_dir, "2024-05-01-first.md", "First post", 1)
    fifo = posts_dir / "x.md"
    os.mkfifo(fifo)
    config = make_config()
    publisher = open_publisher(config)
    answers: dict[str, Any] = {}

    def ask() -> None:
        # The app is made here too: without a live tree it builds the feeds in memory.
        app = answers["app"] = create_app(config, publisher)
        client = app.test_client()
        answers["republish"] = client.post("/api/republish", headers=auth)
        answers["status"] = client.get("/api/status", headers=auth)
        answers["feed"] = client.get("/feed.atom")

    asking = threading.Thread(target=ask, daemon=True)
    try:
        asking.start()
        asking.join(TIMEOUT)
        assert not asking.is_alive(), "the editor API blocked on a FIFO in posts_dir"
    finally:
        for _ in range(20):  # each read of the FIFO waits for a writer: release each
            if not asking.is_alive():
                break
            with contextlib.suppress(OSError):  # no reader waiting at this instant
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            asking.join(0.5)
        if "app" in answers:
            answers["app"].extensions[EXTENSION].close()
        assert publisher.store is not None
        publisher.store.close()
    republished = answers["republish"].get_json()
    assert answers["republish"].status_code == 200
    assert republished["warnings"] == [
        {"file": "posts/x.md", "message": "not a regular file (a FIFO); skipped"}
    ]
    assert answers["status"].status_code == 200
    entries = feedparser.parse(answers["feed"].data).entries
    assert [entry.title for entry in entries] == ["First post"]
