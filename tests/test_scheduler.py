"""The service: file watching, debounced publishing, scheduled posts, delivery, live reload.

Real parts only: post files in tmp_path watched by real watchdog, a real SQLite store,
a real APScheduler, and a real WebSub hub and XML-RPC ping server on 127.0.0.1.
Waits for real events are bounded polls. Scheduled posts are driven by a FakeClock with
the scheduler paused (``run_due()``), never by sleeping until their time.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from syndicate.cli import main
from syndicate.config import Config
from syndicate.errors import PublishError, SyndicateError
from syndicate.notify import utc_now
from syndicate.posts.walk import skip_reason
from syndicate.publisher import Publisher, open_publisher
from syndicate.service.scheduler import (
    DELIVER_JOB,
    POLL_JOB,
    PRUNE_JOB,
    SCAN_JOB,
    Service,
)
from syndicate.site.manifest import load_live, read_manifest
from syndicate.store import Attempt
from syndicate.store.sql import SqlStore
from syndicate.web import Services, create_app

from .conftest import CLOCK_START, ConfigFactory, HookedPublisher
from .servers import EXTENDED, FakeClock, HubServer, PingServer, hang

SITE = "https://example.org/"
WAIT = 10.0  # seconds: the longest any bounded wait here may take

POST = """---
title: {title}
date: {date}
tags: [{tags}]
---

{body}
"""


def write_post(
    posts_dir: Path,
    name: str,
    title: str = "A post",
    date: str = "2024-04-01 10:00:00",
    tags: str = "alpha",
    body: str = "Some text.",
) -> Path:
    path = posts_dir / name
    path.write_text(POST.format(title=title, date=date, tags=tags, body=body), encoding="utf-8")
    return path


def wait_for(predicate: Callable[[], object], what: str, timeout: float = WAIT) -> None:
    """Poll until predicate() is true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:g} s: {what}")
        time.sleep(0.05)


def feed_urls(*paths: str) -> set[str]:
    return {SITE + path.lstrip("/") for path in paths}


def live_body(config: Config, path: str = "/feed.atom") -> bytes:
    site = load_live(config.output_dir)
    return site.documents[path].body if site is not None else b""


def generation(config: Config) -> int:
    manifest = read_manifest(config.output_dir)
    return int(manifest["generation"]) if manifest else 0


ServiceFactory = Callable[..., Service]


@pytest.fixture
def service_config(make_config: ConfigFactory, hub: HubServer, pinger: PingServer) -> Config:
    """Notifies the test hub and ping server; a short debounce; no full scan in a test."""
    return make_config(
        websub={"hubs": [hub.url]},
        pings=[pinger.url],
        watch={"debounce": 0.3, "scan_interval": 3600},
        notify={"timeout": 5, "max_attempts": 3, "max_backoff": 10},
    )


@pytest.fixture
def make_service() -> Iterator[ServiceFactory]:
    """Services on their own publisher and store; all shut down and closed after the test."""
    made: list[Service] = []

    def factory(config: Config, clock: Callable[[], datetime] = utc_now) -> Service:
        service = Service(config, open_publisher(config, clock), poll_interval=0.5)
        made.append(service)
        return service

    yield factory
    for service in made:
        service.shutdown()
        assert service.publisher.store is not None
        service.publisher.store.close()


# --------------------------------------------------------------------------- watching


def test_a_saved_post_is_published_and_notified_within_seconds(
    service_config: Config,
    make_service: ServiceFactory,
    posts_dir: Path,
    hub: HubServer,
    pinger: PingServer,
) -> None:
    write_post(posts_dir, "2024-04-01-first.md", title="First")
    make_service(service_config).start()
    assert b"First" in live_body(service_config)  # start() published before returning

    write_post(posts_dir, "2024-04-02-second.md", title="Second", date="2024-04-02 10:00:00")
    wait_for(lambda: b"Second" in live_body(service_config), "the new post in /feed.atom")
    wait_for(
        lambda: Counter(hub.publishes)[SITE + "feed.atom"] == 2,
        "the hub told about /feed.atom at start and after the save",
    )


def test_a_burst_of_saves_is_one_publish_and_one_notification_per_feed_and_target(
    service_config: Config,
    make_service: ServiceFactory,
    posts_dir: Path,
    hub: HubServer,
    pinger: PingServer,
) -> None:
    write_post(posts_dir, "2024-04-01-first.md", tags="alpha")
    make_service(service_config).start()
    initial = feed_urls(
        "/feed.rss",
        "/feed.atom",
        "/tag/alpha.rss",
        "/tag/alpha.atom",
        "/feed.json",
        "/tag/alpha.json",
    )
    wait_for(lambda: set(hub.publishes) == initial, "the first publish delivered to the hub")
    wait_for(lambda: len(pinger.calls) == 1, "the first publish pinged")
    assert generation(service_config) == 1
    seen = len(hub.publishes)

    for n in range(5):  # an editor saving again and again, faster than the debounce
        write_post(posts_dir, "2024-04-02-draft.md", tags="beta", body=f"Version {n}.")
        time.sleep(0.03)

    changed = feed_urls(
        "/feed.rss", "/feed.atom", "/tag/beta.rss", "/tag/beta.atom", "/feed.json", "/tag/beta.json"
    )
    wait_for(lambda: set(hub.publishes[seen:]) == changed, "the burst delivered to the hub")
    wait_for(lambda: len(pinger.calls) == 2, "the burst pinged")
    time.sleep(1.0)  # > 3 debounces: a second rebuild, had there been one, is done by now
    assert generation(service_config) == 2  # exactly one publish after the first
    assert Counter(hub.publishes[seen:]) == Counter(changed)  # one per feed and hub
    assert len(pinger.calls) == 2  # one per ping server
    assert b"Version 4." in live_body(service_config)


def test_a_live_tree_under_posts_dir_is_refused(
    make_config: ConfigFactory, make_service: ServiceFactory, posts_dir: Path
) -> None:
    """Its index.html would be read as a post (issue 16). config.yaml refuses it at load
    (tests/test_outdir.py); a Config made in code is refused at the first publish."""
    config = dataclasses.replace(make_config(), output_dir=posts_dir / "_site")
    write_post(posts_dir, "2024-04-01-first.md")
    with pytest.raises(PublishError, match="is inside the posts folder"):
        make_service(config).start()
    assert [p.name for p in posts_dir.iterdir()] == ["2024-04-01-first.md"]


@pytest.mark.parametrize(
    ("name", "is_post"),
    [
        ("2024-04-01-hello.md", True),
        ("hello.markdown", True),
        ("page.HTML", True),
        ("notes.txt", True),
        (".hello.md", False),  # hidden
        (".#hello.md", False),  # Emacs lock
        ("#hello.md#", False),  # Emacs auto-save
        ("hello.md~", False),  # backup
        ("hello.md.swp", False),  # Vim swap
        (".hello.md.swx", False),
        ("4913", False),  # Vim's probe file
        ("image.png", False),
        ("hello.md.tmp", False),
    ],
)
def test_which_file_names_can_be_posts(name: str, is_post: bool) -> None:
    """The watcher reacts to the files a scan would read: one rule (``walk``) for both."""
    assert (skip_reason(name) is None) is is_post


# --------------------------------------------------------------------------- scheduled posts


def test_a_future_post_is_published_and_notified_at_its_time(
    service_config: Config,
    make_service: ServiceFactory,
    posts_dir: Path,
    clock: FakeClock,
    hub: HubServer,
    pinger: PingServer,
) -> None:
    write_post(posts_dir, "2024-04-01-now.md", title="Now", tags="alpha")
    write_post(
        posts_dir, "2024-05-01-later.md", title="Later", date="2024-05-01 15:00", tags="beta"
    )
    service = make_service(service_config, clock)
    service.start(paused=True)

    due = CLOCK_START.replace(hour=15)
    assert service.scheduled_posts() == {"2024-05-01-later.md": due}
    jobs = service.jobs()
    assert jobs["post:2024-05-01-later.md"] == due
    assert {SCAN_JOB, POLL_JOB, PRUNE_JOB, DELIVER_JOB} <= set(jobs)

    assert service.run_due() == [DELIVER_JOB]  # what the first publish queued
    assert set(hub.publishes) == feed_urls(
        "/feed.rss",
        "/feed.atom",
        "/tag/alpha.rss",
        "/tag/alpha.atom",
        "/feed.json",
        "/tag/alpha.json",
    )
    assert b"Later" not in live_body(service_config)

    clock.advance(hours=3, minutes=1)
    seen, pings = len(hub.publishes), len(pinger.calls)
    ran = service.run_due()
    assert ran == ["post:2024-05-01-later.md", DELIVER_JOB]
    assert b"Later" in live_body(service_config)
    assert set(hub.publishes[seen:]) == feed_urls(
        "/feed.rss", "/feed.atom", "/tag/beta.rss", "/tag/beta.atom", "/feed.json", "/tag/beta.json"
    )
    assert [call.method for call in pinger.calls[pings:]] == [EXTENDED]
    assert service.scheduled_posts() == {}
    assert service.run_due() == []


def test_scheduled_posts_are_restored_after_a_restart(
    service_config: Config,
    make_service: ServiceFactory,
    posts_dir: Path,
    clock: FakeClock,
    hub: HubServer,
    store: SqlStore,
) -> None:
    write_post(posts_dir, "2024-05-02-later.md", title="Later", date="2024-05-02 09:00")
    first = make_service(service_config, clock)
    first.start(paused=True)
    due = datetime(2024, 5, 2, 9, 0, tzinfo=UTC)
    assert first.scheduled_posts() == {"2024-05-02-later.md": due}
    first.shutdown()

    clock.advance(hours=1)  # down for a while, still before the post's time
    second = make_service(service_config, clock)
    second.start(paused=True)
    assert second.scheduled_posts() == {"2024-05-02-later.md": due}  # from the post itself

    clock.advance(days=1)
    assert "post:2024-05-02-later.md" in second.run_due()
    assert b"Later" in live_body(service_config)
    assert SITE + "feed.atom" in hub.publishes
    assert store.pending() == []


def test_a_rescheduled_post_moves_its_job(
    service_config: Config, make_service: ServiceFactory, posts_dir: Path, clock: FakeClock
) -> None:
    path = write_post(posts_dir, "later.md", title="Later", date="2024-05-02 09:00")
    # Not the only post: removing every post at once is refused (test_publish_refused).
    write_post(posts_dir, "2024-04-01-earlier.md", title="Earlier")
    service = make_service(service_config, clock)
    service.start(paused=True)
    assert service.scheduled_posts() == {"later.md": datetime(2024, 5, 2, 9, tzinfo=UTC)}

    write_post(posts_dir, "later.md", title="Later", date="2024-05-03 09:00")
    service.run_publish()
    assert service.scheduled_posts() == {"later.md": datetime(2024, 5, 3, 9, tzinfo=UTC)}

    path.unlink()
    service.run_publish()
    assert service.scheduled_posts() == {}


def test_shutdown_waits_for_the_publish_in_flight(service_config: Config, posts_dir: Path) -> None:
    write_post(posts_dir, "2024-04-01-first.md")
    hold, entered, gate = threading.Event(), threading.Event(), threading.Event()

    def wait_at_gate(paths: list[Path] | None) -> None:
        if hold.is_set():
            entered.set()
            gate.wait(WAIT)

    publisher = HookedPublisher(open_publisher(service_config), wait_at_gate)
    service = Service(service_config, publisher)
    try:
        service.start()
        hold.set()
        write_post(posts_dir, "2024-05-01-later.md", title="Later", date="2099-01-01")
        assert entered.wait(WAIT), "the rebuild did not start"

        stopper = threading.Thread(target=service.shutdown)
        stopper.start()
        # APScheduler is stopped and waits for the job, holding its job-store lock.
        wait_for(lambda: not service.scheduler.running, "the scheduler stopping")
        gate.set()  # the publish ends, and would now plan the scheduled post
        stopper.join(WAIT)
        assert not stopper.is_alive(), "shutdown deadlocked with the job in flight"
        assert b"Later" not in live_body(service_config)
        assert generation(service_config) == 2  # the publish in flight did finish
    finally:
        gate.set()
        service.shutdown()
        assert publisher.store is not None
        publisher.store.close()


# --------------------------------------------------------------------------- delivery


def test_shutdown_leaves_undelivered_notifications_for_the_next_service(
    service_config: Config,
    make_service: ServiceFactory,
    posts_dir: Path,
    hub: HubServer,
    pinger: PingServer,
    store: SqlStore,
) -> None:
    write_post(posts_dir, "2024-04-01-first.md", tags="alpha")
    hub.respond(hang(1.0))  # the first notification is in flight when we shut down
    first = make_service(service_config)
    first.start()
    wait_for(lambda: len(hub.requests) == 1, "the first notification in flight")
    first.shutdown()  # waits for the one in flight, sends no other

    assert len(hub.requests) == 1
    assert len(pinger.calls) == 0
    expected = feed_urls(
        "/feed.rss",
        "/feed.atom",
        "/tag/alpha.rss",
        "/tag/alpha.atom",
        "/feed.json",
        "/tag/alpha.json",
    )
    pending = store.pending()
    assert len(pending) == 6  # five for the hub, and the ping
    assert {n.feed_url for n in pending if n.kind == "websub"} == expected - set(hub.publishes)

    make_service(service_config).start()  # posts unchanged: nothing new is queued
    wait_for(lambda: store.pending() == [], "the pending notifications delivered")
    assert Counter(hub.publishes) == Counter(expected)
    assert len(pinger.calls) == 1


def test_notifications_queued_by_another_process_are_delivered(
    service_config: Config,
    make_service: ServiceFactory,
    posts_dir: Path,
    hub: HubServer,
) -> None:
    write_post(posts_dir, "2024-04-01-first.md")
    make_service(service_config).start()
    wait_for(lambda: len(hub.publishes) == 6, "the first publish delivered")

    # `syndicate republish --force` in another process: its own publisher and store.
    other = open_publisher(service_config)
    try:
        assert other.publish(force=True).queued == 7  # six feed documents for the hub, one ping
    finally:
        assert other.store is not None
        other.store.close()
    wait_for(lambda: len(hub.publishes) == 12, "the republish delivered by the poll")


def test_prune_removes_old_attempts(
    service_config: Config, make_service: ServiceFactory, clock: FakeClock, store: SqlStore
) -> None:
    service = make_service(service_config, clock)
    for days in (40, 31, 29, 1):
        store.record_attempt(
            Attempt(
                "websub", "http://hub/", SITE + "feed.atom", clock() - timedelta(days=days), "ok"
            )
        )
    assert service.run_prune() == 2
    assert len(store.recent_attempts()) == 2


def test_a_service_needs_a_store_and_an_outbox(service_config: Config) -> None:
    with pytest.raises(SyndicateError, match="store and an outbox"):
        Service(service_config, Publisher(service_config))


# --------------------------------------------------------------------------- web reload


def test_web_app_follows_the_live_tree(
    service_config: Config, posts_dir: Path, clock: FakeClock
) -> None:
    write_post(posts_dir, "2024-04-01-first.md", tags="alpha")
    publisher = open_publisher(service_config, clock)
    assert publisher.store is not None
    app = create_app(service_config)  # before any publish: built in memory
    services: Services = app.extensions["syndicate"]
    reloader = services.reloader
    assert reloader is not None
    try:
        client = app.test_client()
        assert b"<title>A post</title>" in client.get("/feed.atom").data
        assert reloader.generation is None

        publisher.publish()  # what the worker does
        wait_for(lambda: reloader.generation == 1, "the live tree picked up")
        etag = client.get("/feed.atom").headers["ETag"]
        alpha = services.holder.current.site.documents["/tag/alpha.atom"]
        prepared_alpha = services.holder.current.documents["/tag/alpha.atom"]

        write_post(posts_dir, "2024-04-02-second.md", title="Second", tags="beta")
        clock.advance(60)
        publisher.publish()
        wait_for(lambda: client.get("/feed.atom").headers["ETag"] != etag, "a new ETag")
        response = client.get("/feed.atom")
        assert b"<title>Second</title>" in response.data
        assert client.get("/feed.atom", headers={"If-None-Match": etag}).status_code == 200
        assert client.get("/tag/beta.atom").status_code == 200
        # A document that did not change is reused as it is, not read again.
        assert services.holder.current.site.documents["/tag/alpha.atom"] is alpha
        assert services.holder.current.documents["/tag/alpha.atom"] is prepared_alpha
        assert reloader.generation == 2
    finally:
        reloader.stop()
        publisher.store.close()


def test_reload_can_be_turned_off(service_config: Config, posts_dir: Path) -> None:
    write_post(posts_dir, "2024-04-01-first.md")
    app = create_app(service_config, reload_interval=None)
    assert app.extensions["syndicate"].reloader is None


# --------------------------------------------------------------------------- end to end


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.headers


def start_serve(
    tmp_path: Path, port: int | None = None, *options: str
) -> tuple[subprocess.Popen[bytes], str]:
    """``syndicate serve [options]`` on tmp_path/config.yaml, in a process group of its own
    (serve, its worker and granian's workers), once it answers: the process and its base URL."""
    port = port or _free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "syndicate", "serve", "--config", "config.yaml", *options]
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def answers() -> bool:
        if process.poll() is not None:
            pytest.fail(f"serve exited with {process.returncode}")
        try:
            return bool(_get(base + "/feed.atom"))
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            # TimeoutError: serve holds its port from the start, so a request made while
            # its worker publishes waits for the web tier instead of being refused.
            return False

    try:
        wait_for(answers, "serve answering", timeout=30)
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    return process, base


def test_serve_publishes_edits_and_notifies_the_hub(tmp_path: Path, hub: HubServer) -> None:
    posts = tmp_path / "posts"
    posts.mkdir()
    post = write_post(posts, "2024-04-01-hello.md", title="Hello")
    (tmp_path / "config.yaml").write_text(
        "site:\n  title: Served\n  url: https://example.org/\n"
        f"websub:\n  hubs: [{hub.url}]\n"
        "watch:\n  debounce: 0.2\n  scan_interval: 3600\n"
        "notify:\n  timeout: 5\n",
        encoding="utf-8",
    )
    process, base = start_serve(tmp_path)
    output = ""
    try:
        etag = _get(base + "/feed.atom")["ETag"]
        wait_for(lambda: SITE + "feed.atom" in hub.publishes, "the first publish notified")
        seen = len(hub.publishes)

        write_post(posts, post.name, title="Hello again", body="Edited.")
        wait_for(lambda: _get(base + "/feed.atom")["ETag"] != etag, "the served ETag changed")
        wait_for(lambda: SITE + "feed.atom" in hub.publishes[seen:], "the edit notified")

        process.send_signal(signal.SIGTERM)  # serve alone: it must stop its worker itself
        output = process.communicate(timeout=30)[0].decode(errors="replace")
        assert process.returncode == 0, output
        assert "worker stopped (status 0)" in output
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    # Nothing left of the group: no orphaned worker goes on watching.
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)


# --------------------------------------------------------------------------- command line


def test_worker_and_serve_options() -> None:
    worker = CliRunner().invoke(main, ["worker", "--help"])
    assert worker.exit_code == 0
    assert "--config" in worker.output
    serve = CliRunner().invoke(main, ["serve", "--help"])
    assert serve.exit_code == 0
    assert "--no-scheduler" in serve.output


def test_worker_with_a_missing_config_is_a_clean_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["worker"])
    assert result.exit_code == 1
    assert "config.yaml: config file not found" in result.stderr
    assert "Traceback" not in result.output


def test_file_events_name_the_changed_files(service_config: Config, posts_dir: Path) -> None:
    """The watcher hands the publisher the files that changed; a folder event means all."""
    seen: list[list[Path] | None] = []

    base = open_publisher(service_config)
    publisher = HookedPublisher(base, seen.append)
    service = Service(service_config, publisher)
    try:
        service.start(paused=True)
        one = posts_dir / "2024-04-01-one.md"
        service.request_publish("modified", paths=[one])
        service.request_publish("modified", paths=[one, posts_dir / "2024-04-02-two.md"])
        service.run_publish()
        service.request_publish("created folder", paths=None)
        service.request_publish("modified", paths=[one])
        service.run_publish()
    finally:
        service.shutdown()
        assert base.store is not None
        base.store.close()
    assert seen == [None, [one, posts_dir / "2024-04-02-two.md"], None]
