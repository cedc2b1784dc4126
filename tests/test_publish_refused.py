"""Refused publishes: a missing posts folder, and a publish that would remove most posts.

Issue 16, case 3: with ``posts_dir`` missing (a typo, an unmounted volume, a checkout in
progress), ``republish`` and a running service published empty feeds, removed every
category and tag feed, notified every hub and forgot every entry id. Now nothing is
published, written, recorded or queued, and ``status`` says why. Real parts: the command
line through CliRunner (and ``syndicate worker`` as a process), a real SQLite store,
real watchdog and APScheduler, and a real WebSub hub and ping server on 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import feedparser
import pytest
from click.testing import CliRunner, Result
from lxml import etree

from syndicate import posts as posts_module
from syndicate.cli import main
from syndicate.config import MANIFEST, Config
from syndicate.errors import PostsFolderError, PublishRefused, RemovalRefused
from syndicate.posts import PostProblem, load_post
from syndicate.publisher import IdPlan, Publisher, open_publisher, removed_posts
from syndicate.service.scheduler import Service
from syndicate.site.manifest import read_manifest
from syndicate.store import PostRecord
from syndicate.store.sql import SqlStore
from syndicate.web import create_app
from syndicate.web.api import EXTENSION as API_EXTENSION

from .conftest import CLOCK_START, ConfigFactory, HookedPublisher
from .servers import FakeClock, HubServer, PingServer

SITE = "https://example.org/"
WAIT = 10.0

POST = """---
title: {title}
date: {date}
categories: [{category}]
tags: [{tags}]
---

{body}
"""


def write_post(
    posts_dir: Path,
    name: str,
    title: str = "A post",
    date: str = "2024-04-01 10:00:00",
    category: str = "News",
    tags: str = "alpha",
    body: str = "Some text.",
) -> Path:
    path = posts_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    text = POST.format(title=title, date=date, category=category, tags=tags, body=body)
    path.write_text(text, encoding="utf-8")
    return path


def write_many(posts_dir: Path, count: int) -> list[Path]:
    """``count`` posts, each in the site feed, category News and its own tag."""
    return [
        write_post(
            posts_dir,
            f"2024-04-{i + 1:02d}-post-{i}.md",
            title=f"Post {i}",
            date=f"2024-04-{i + 1:02d} 10:00:00",
            tags=f"t{i}",
            body=f"Text of post {i}.",
        )
        for i in range(count)
    ]


def tree_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too) with its bytes."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def feeds_of(tree: dict[str, bytes]) -> dict[str, bytes]:
    """The documents of a live tree, without its manifest (each publish writes a new one)."""
    return {path: body for path, body in tree.items() if path != MANIFEST}


def atom_ids(output_dir: Path, path: str = "feed.atom") -> list[str]:
    body = (output_dir / path).read_bytes()
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    etree.fromstring(body)  # well-formed XML for lxml too
    return [entry.id for entry in parsed.entries]


def wait_for(predicate: Callable[[], object], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:g} s: {what}")
        time.sleep(0.05)


def store_state(url: str) -> tuple[Any, ...]:
    """What a publish may change in the store: posts, feeds, last build, the outbox."""
    with SqlStore(url) as store:
        return (
            store.posts(),
            store.feeds(),
            store.last_build(),
            [(n.id, n.revision, n.next_attempt_at) for n in store.pending()],
            store.failed(),
        )


def empty_outbox(url: str) -> None:
    """As if the scheduler had delivered every notification queued so far."""
    with SqlStore(url) as store:
        for notification in store.pending():
            store.mark_delivered(notification.id)
        assert store.pending() == [] and store.failed() == []


CONFIG = """\
site:
  title: Example News
  url: https://example.org/
posts_dir: posts
websub:
  hubs: [http://127.0.0.1:9/hub]
{extra}"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """config.yaml and posts/ in tmp_path, made the current folder."""
    (tmp_path / "posts").mkdir()
    (tmp_path / "config.yaml").write_text(CONFIG.format(extra=""), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def db_url(project: Path) -> str:
    return f"sqlite:///{project / 'syndicate.db'}"


# --------------------------------------------------------------------------- republish


def test_republish_without_the_posts_folder_changes_nothing_and_ids_survive(
    project: Path,
) -> None:
    posts = project / "posts"
    write_post(posts, "2024-04-01-hello.md", title="Hello", tags="alpha")
    write_post(posts, "2024-04-02-more.md", title="More", category="Life", tags="beta")
    assert run("republish").exit_code == 0
    # A renamed post keeps the entry id readers have: the store remembers it, and only
    # the store (its id differs from what the new file name would give).
    (posts / "2024-04-01-hello.md").rename(posts / "2024-04-01-hello-world.md")
    assert run("republish").exit_code == 0
    ids = atom_ids(project / "_site")
    assert len(ids) == 2
    empty_outbox(db_url(project))
    live = tree_bytes(project / "_site")
    stored = store_state(db_url(project))

    away = posts.rename(project / "posts.away")
    for args in (["republish"], ["republish", "--force"]):
        result = run(*args)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and str(posts) in errors[0], result.stderr
        assert "posts_dir" in errors[0]
        assert tree_bytes(project / "_site") == live
        assert store_state(db_url(project)) == stored  # outbox still empty
        assert not posts.exists()

    status = run("status", "--json")
    assert status.exit_code == 0, status.output
    refused = json.loads(status.stdout)["refused"]
    assert refused["reason"] == "posts_dir"
    assert str(posts) in refused["message"]
    assert refused["time"].endswith("Z")
    plain = run("status")
    assert f"Publishing refused at {refused['time']}: " in plain.stdout

    away.rename(posts)
    result = run("republish")
    assert result.exit_code == 0, result.output
    assert "0 changed, 0 removed; 0 notifications queued" in result.stdout
    assert atom_ids(project / "_site") == ids  # the same ids, nothing twice
    assert feeds_of(tree_bytes(project / "_site")) == feeds_of(live)
    with SqlStore(db_url(project)) as store:
        assert {p: r.entry_id for p, r in store.posts().items()} == {
            p: r.entry_id for p, r in stored[0].items()
        }
        assert store.pending() == []
    assert json.loads(run("status", "--json").stdout)["refused"] is None


def test_posts_that_come_back_in_another_folder_keep_their_ids(project: Path) -> None:
    posts = project / "posts"
    write_post(posts, "2024-04-01-hello.md", title="Hello", body="Hello, world.")
    write_post(posts, "2024-04-02-more.md", title="More", body="More of it.")
    assert run("republish").exit_code == 0
    (posts / "2024-04-01-hello.md").rename(posts / "2024-04-01-hello-world.md")
    assert run("republish").exit_code == 0
    ids = atom_ids(project / "_site")
    away = posts.rename(project / "posts.away")
    assert run("republish").exit_code == 1
    posts.mkdir()
    away.rename(posts / "restored")  # one level down: every path is new
    result = run("republish")
    assert result.exit_code == 0, result.output
    assert atom_ids(project / "_site") == ids


def test_republish_with_an_unreadable_posts_folder_is_refused(project: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any folder")
    posts = project / "posts"
    write_post(posts, "2024-04-01-hello.md")
    assert run("republish").exit_code == 0
    live = tree_bytes(project / "_site")
    posts.chmod(0)
    try:
        result = run("republish")
    finally:
        posts.chmod(0o755)
    assert result.exit_code == 1
    assert str(posts) in result.stderr and "cannot read" in result.stderr
    assert tree_bytes(project / "_site") == live


def test_a_posts_folder_that_cannot_be_opened_is_refused(pub: Publisher, posts_dir: Path) -> None:
    """Unreadable even for root: a link to itself (ELOOP), as a broken mount may be."""
    write_many(posts_dir, 2)
    pub.publish()
    live = tree_bytes(pub.config.output_dir)
    shutil.rmtree(posts_dir)
    posts_dir.symlink_to(posts_dir)
    with pytest.raises(PostsFolderError, match="cannot read the posts folder"):
        pub.publish()
    assert tree_bytes(pub.config.output_dir) == live


def test_a_posts_dir_link_loop_in_the_config_is_a_clean_error(project: Path) -> None:
    (project / "posts").rmdir()
    (project / "posts").symlink_to(project / "posts")
    result = run("republish")
    assert result.exit_code == 1
    assert "posts_dir" in result.stderr and "Traceback" not in result.output


def test_republish_refuses_a_posts_path_that_is_a_file(project: Path) -> None:
    (project / "posts").rmdir()
    (project / "posts").write_text("not a folder", encoding="utf-8")
    result = run("republish")
    assert result.exit_code == 1
    assert "not a folder" in result.stderr and "Traceback" not in result.output
    assert not (project / "_site").exists()


@pytest.mark.parametrize("command", [["build", "--out", "public"], ["check"]])
def test_build_and_check_refuse_a_missing_posts_folder(project: Path, command: list[str]) -> None:
    (project / "posts").rmdir()
    result = run(*command)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(project / "posts") in lines[0], result.stderr
    assert not (project / "posts").exists()
    assert not (project / "public").exists()
    assert [p.name for p in project.iterdir() if not p.name.startswith(".")] == ["config.yaml"]


# --------------------------------------------------------------------------- mass removal


@pytest.fixture
def pub(make_config: ConfigFactory, tmp_path: Path) -> Iterator[Publisher]:
    config = make_config(websub={"hubs": ["http://127.0.0.1:9/hub"]})
    publisher = open_publisher(config, FakeClock())
    yield publisher
    assert publisher.store is not None
    publisher.store.close()


def test_removing_half_the_posts_is_published(pub: Publisher, posts_dir: Path) -> None:
    files = write_many(posts_dir, 10)
    pub.publish()
    for path in files[:5]:
        path.unlink()
    result = pub.publish()
    assert result.post_count == 5
    assert len(atom_ids(pub.config.output_dir)) == 5


def test_removing_more_than_half_the_posts_is_refused_unless_forced(
    pub: Publisher, posts_dir: Path
) -> None:
    assert pub.store is not None and pub.outbox is not None
    files = write_many(posts_dir, 10)
    pub.publish()
    for n in pub.store.pending():
        pub.store.mark_delivered(n.id)
    live = tree_bytes(pub.config.output_dir)
    rows = pub.store.posts(), pub.store.feeds(), pub.store.last_build()
    for path in files[:6]:
        path.unlink()
    with pytest.raises(RemovalRefused) as caught:
        pub.publish()
    message = str(caught.value)
    assert "6 of the 10 posts" in message and "republish --force" in message
    assert "\n" not in message
    assert tree_bytes(pub.config.output_dir) == live
    assert (pub.store.posts(), pub.store.feeds(), pub.store.last_build()) == rows
    assert pub.store.pending() == []
    refusal = pub.store.last_refusal()
    assert refusal is not None and refusal.reason == "removal" and refusal.message == message

    result = pub.publish(force=True)
    assert result.post_count == 4
    assert len(atom_ids(pub.config.output_dir)) == 4
    assert len(pub.store.posts()) == 4
    assert pub.store.last_refusal() is None
    assert pub.publish().post_count == 4  # and the next publish goes on as usual


def test_removing_every_post_is_refused_even_on_a_small_site(
    pub: Publisher, posts_dir: Path
) -> None:
    (only,) = write_many(posts_dir, 1)
    pub.publish()
    only.unlink()
    with pytest.raises(RemovalRefused, match=r"every post of the last publish \(1\)"):
        pub.publish()
    assert len(atom_ids(pub.config.output_dir)) == 1
    assert pub.publish(force=True).post_count == 0


def test_a_small_site_may_lose_most_of_its_posts(pub: Publisher, posts_dir: Path) -> None:
    files = write_many(posts_dir, 4)
    pub.publish()
    for path in files[:3]:
        path.unlink()
    assert pub.publish().post_count == 1


def test_renamed_and_broken_posts_are_not_removed(pub: Publisher, posts_dir: Path) -> None:
    files = write_many(posts_dir, 10)
    pub.publish()
    ids = atom_ids(pub.config.output_dir)
    # Eight files move to a folder of their own, and the other two break: every entry
    # stays, under the id readers have.
    (posts_dir / "archive").mkdir()
    for path in files[:8]:
        path.rename(posts_dir / "archive" / path.name)
    for path in files[8:]:
        path.write_text("---\ntitle: [unclosed\n---\nBody.\n", encoding="utf-8")
    result = pub.publish()
    assert len(result.errors) == 2
    assert sorted(atom_ids(pub.config.output_dir)) == sorted(ids)


def test_a_broken_post_is_not_a_removed_one(config: Config, posts_dir: Path) -> None:
    """Even one that leaves the feeds (it has no last good version): it is the editor's
    to fix, and its file is there."""
    rows = {
        path: PostRecord(path, "d", f"tag:x,2024:{path}", CLOCK_START, CLOCK_START)
        for path in ("a.md", "b.md", "sub/c.md")
    }
    plan = IdPlan(posts=(), problems=(), upserts=(), deletes=tuple(rows), digests={})
    broken = [
        PostProblem(posts_dir / "a.md", "invalid YAML"),
        PostProblem(posts_dir / "sub" / "c.md", "odd", "warning"),
    ]
    assert removed_posts(plan, rows, posts_dir, broken) == ["b.md", "sub/c.md"]
    # A post (at a new path) that carries b.md's id on: b.md was renamed, not removed.
    post, _ = load_post(write_post(posts_dir, "2024-04-01-new.md"), config)
    assert post is not None
    carried = (posts_module.replace(post, entry_id="tag:x,2024:b.md"),)
    moved = dataclasses.replace(plan, posts=carried)
    assert removed_posts(moved, rows, posts_dir, broken) == ["sub/c.md"]


def test_the_share_is_a_config_key(make_config: ConfigFactory, posts_dir: Path) -> None:
    config = make_config(publish={"max_removed_share": 0.25})
    publisher = open_publisher(config, FakeClock())
    try:
        files = write_many(posts_dir, 20)
        publisher.publish()
        for path in files[:5]:
            path.unlink()
        assert publisher.publish().post_count == 15  # 5 of 20 is 25 %: not more
        for path in files[5:9]:
            path.unlink()
        with pytest.raises(RemovalRefused, match="4 of the 15 posts"):
            publisher.publish()  # more than a quarter
    finally:
        assert publisher.store is not None
        publisher.store.close()


def test_republish_force_allows_a_mass_removal(project: Path) -> None:
    files = write_many(project / "posts", 10)
    assert run("republish").exit_code == 0
    for path in files[:7]:
        path.unlink()
    result = run("republish")
    assert result.exit_code == 1
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert "7 of the 10 posts" in line and "republish --force" in line
    assert len(atom_ids(project / "_site")) == 10
    assert json.loads(run("status", "--json").stdout)["refused"]["reason"] == "removal"

    result = run("republish", "--force")
    assert result.exit_code == 0, result.output
    assert len(atom_ids(project / "_site")) == 3
    assert json.loads(run("status", "--json").stdout)["refused"] is None


# --------------------------------------------------------------------------- the service


@pytest.fixture
def scan_config(make_config: ConfigFactory, hub: HubServer, pinger: PingServer) -> Config:
    """Notifies the local hub and ping server; a full scan every half second."""
    return make_config(
        websub={"hubs": [hub.url]},
        pings=[pinger.url],
        watch={"debounce": 0.2, "scan_interval": 0.5},
        notify={"timeout": 5, "max_attempts": 3, "max_backoff": 10},
    )


@pytest.fixture
def services() -> Iterator[list[Service]]:
    made: list[Service] = []
    yield made
    for service in made:
        service.shutdown()
        assert service.publisher.store is not None
        service.publisher.store.close()


def refusal_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "syndicate.scheduler" and "publish refused" in r.getMessage()
    ]


def test_a_running_service_keeps_its_feeds_while_the_posts_folder_is_gone(
    scan_config: Config,
    services: list[Service],
    posts_dir: Path,
    tmp_path: Path,
    hub: HubServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="syndicate")
    write_post(posts_dir, "2024-04-01-one.md", title="One", tags="alpha")
    two = write_post(posts_dir, "2024-04-02-two.md", title="Two", category="Life", tags="beta")
    service = Service(scan_config, open_publisher(scan_config), poll_interval=0.2)
    services.append(service)
    service.start()
    store = service.store
    wait_for(lambda: hub.publishes and not store.pending(), "the first publish delivered")
    output = scan_config.output_dir
    live = tree_bytes(output)
    requests = len(hub.requests)

    away = posts_dir.rename(tmp_path / "posts.away")
    wait_for(lambda: store.last_refusal() is not None, "the refusal recorded")
    time.sleep(1.5)  # the watcher's publish and a few full scans, all refused
    assert tree_bytes(output) == live
    assert len(hub.requests) == requests and store.pending() == []
    assert not posts_dir.exists()
    lines = refusal_lines(caplog)
    assert len(lines) == 1, lines  # one line, not one a scan
    assert str(posts_dir) in lines[0]
    assert not [r for r in caplog.records if r.exc_info]  # no traceback

    away.rename(posts_dir)
    wait_for(lambda: store.last_refusal() is None, "a publish once the folder is back")
    assert feeds_of(tree_bytes(output)) == feeds_of(live)
    time.sleep(0.5)
    assert len(hub.requests) == requests  # nothing changed: nobody to tell

    # The watcher follows the folder that came back: an edit is published in seconds.
    write_post(posts_dir, two.name, title="Two, edited", category="Life", tags="beta")
    wait_for(lambda: SITE + "feed.atom" in hub.publishes[requests:], "the edit notified")


def test_a_running_service_refuses_to_remove_most_posts(
    scan_config: Config,
    services: list[Service],
    posts_dir: Path,
    hub: HubServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="syndicate")
    files = write_many(posts_dir, 10)
    service = Service(scan_config, open_publisher(scan_config), poll_interval=0.2)
    services.append(service)
    service.start()
    store = service.store
    wait_for(lambda: hub.publishes and not store.pending(), "the first publish delivered")
    live = tree_bytes(scan_config.output_dir)
    requests = len(hub.requests)

    for path in files[:8]:
        path.unlink()
    wait_for(lambda: store.last_refusal() is not None, "the refusal recorded")
    time.sleep(1.0)
    assert tree_bytes(scan_config.output_dir) == live
    assert len(hub.requests) == requests
    lines = refusal_lines(caplog)
    assert len(lines) == 1 and "8 of the 10 posts" in lines[0], lines
    refusal = store.last_refusal()
    assert refusal is not None and refusal.reason == "removal"


def test_a_service_started_without_its_posts_folder_waits_for_it(
    scan_config: Config,
    services: list[Service],
    posts_dir: Path,
    hub: HubServer,
) -> None:
    posts_dir.rmdir()
    named: list[list[Path] | None] = []
    base = open_publisher(scan_config)
    service = Service(scan_config, HookedPublisher(base, named.append), poll_interval=0.2)
    services.append(service)
    assert service.start() is None  # refused, not raised
    assert not posts_dir.exists()
    assert read_manifest(scan_config.output_dir) is None
    refusal = service.store.last_refusal()
    assert refusal is not None and refusal.reason == "posts_dir"

    posts_dir.mkdir()
    post = write_post(posts_dir, "2024-04-01-one.md", title="One")
    wait_for(lambda: (scan_config.output_dir / "feed.atom").exists(), "the folder picked up")
    assert len(atom_ids(scan_config.output_dir)) == 1
    wait_for(lambda: SITE + "feed.atom" in hub.publishes, "the hub notified")

    # Watched from now on: the edit comes as a file event naming the file.
    write_post(posts_dir, post.name, title="One, edited")
    wait_for(lambda: [post] in named, "a publish of the edited file alone")


def test_worker_started_without_its_posts_folder_creates_nothing(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        CONFIG.format(extra="watch:\n  scan_interval: 0.5\n  debounce: 0.2\n"), encoding="utf-8"
    )
    log = tmp_path / "worker.log"
    with open(log, "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "syndicate", "worker", "--config", str(config)],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    try:
        wait_for(lambda: b"publish refused" in log.read_bytes(), "the refusal logged", timeout=30)
        assert process.poll() is None, log.read_text()
        assert not (tmp_path / "posts").exists()
        write_post(tmp_path / "posts", "2024-04-01-one.md", title="One")
        wait_for(lambda: (tmp_path / "_site" / "feed.atom").exists(), "the posts published")
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        assert process.returncode == 0, log.read_text()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    text = log.read_text()
    assert "Traceback" not in text
    assert len([line for line in text.splitlines() if "publish refused" in line]) == 1, text


def test_a_web_tier_without_a_live_tree_or_posts_serves_nothing(
    make_config: ConfigFactory, posts_dir: Path
) -> None:
    posts_dir.rmdir()
    config = make_config()
    app = create_app(config, reload_interval=None)
    try:
        client = app.test_client()
        assert client.get("/feed.rss").status_code == 404
        assert client.get("/").status_code == 404
    finally:
        app.extensions[API_EXTENSION].close()
    assert not posts_dir.exists()


# --------------------------------------------------------------------------- the errors


def test_the_refusals_are_one_kind_of_error() -> None:
    assert issubclass(PostsFolderError, PublishRefused)
    assert issubclass(RemovalRefused, PublishRefused)
    assert PostsFolderError("x").reason == "posts_dir"
    assert RemovalRefused("x").reason == "removal"


def test_a_posts_folder_removed_outright_is_survived(pub: Publisher, posts_dir: Path) -> None:
    write_many(posts_dir, 3)
    pub.publish()
    live = tree_bytes(pub.config.output_dir)
    shutil.rmtree(posts_dir)
    with pytest.raises(PostsFolderError):
        pub.publish()
    with pytest.raises(PostsFolderError):
        pub.publish(force=True)
    assert tree_bytes(pub.config.output_dir) == live
