"""The publish stamp: a start with nothing changed is confirmed without a publish, and
anything that would change a feed makes it a real publish again."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

import syndicate.config as config_module
from syndicate.cli import main
from syndicate.config import MANIFEST, Config
from syndicate.errors import SyndicateError
from syndicate.publisher import confirm_current, open_publisher, stamp
from syndicate.service.supervise import READY_FD_ENV, WorkerProcess

from .conftest import ConfigFactory
from .servers import FakeClock

HOUR_AGO = time.time() - 3600

POST = """---
title: {title}
date: {date}
categories: [News]
tags: [{tag}]
---
{body}
"""


def write(
    posts_dir: Path,
    name: str,
    title: str = "A post",
    date: str = "2024-04-01 10:00:00",
    tag: str = "alpha",
    body: str = "Some words.",
    mtime: float | None = HOUR_AGO,
) -> Path:
    path = posts_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(POST.format(title=title, date=date, tag=tag, body=body), encoding="utf-8")
    if mtime is not None:
        # Saved a while ago: a file modified just before a publish is not trusted.
        os.utime(path, (mtime, mtime))
    return path


def publish(config: Config, clock: FakeClock | None = None) -> None:
    publisher = open_publisher(config, clock) if clock else open_publisher(config)
    try:
        publisher.publish()
    finally:
        publisher.close()


@pytest.fixture
def published(config: Config, posts_dir: Path) -> Config:
    """Two posts, published once; the stamp of that publish is on disk."""
    write(posts_dir, "2024-04-01-one.md", title="One")
    write(posts_dir, "2024-04-02-two.md", title="Two", date="2024-04-02 10:00:00", tag="beta")
    publish(config)
    return config


def test_a_finished_publish_is_confirmed(published: Config) -> None:
    found = stamp.confirm(published)
    assert found is not None
    assert found.post_count == 2
    # Site (2 formats), one category and two tags.
    assert found.feed_count == 4
    assert found.problems == ()
    assert set(found.files) == {"2024-04-01-one.md", "2024-04-02-two.md"}


def _edit(posts_dir: Path, config: Config, make_config: ConfigFactory) -> None:
    write(posts_dir, "2024-04-01-one.md", title="One, corrected")


def _touch(posts_dir: Path, config: Config, make_config: ConfigFactory) -> None:
    path = posts_dir / "2024-04-01-one.md"
    os.utime(path, (HOUR_AGO + 60, HOUR_AGO + 60))  # same bytes, another mtime


def _add(posts_dir: Path, config: Config, make_config: ConfigFactory) -> None:
    write(posts_dir, "later/2024-04-03-three.md", title="Three")


def _delete(posts_dir: Path, config: Config, make_config: ConfigFactory) -> None:
    (posts_dir / "2024-04-02-two.md").unlink()


def _rename(posts_dir: Path, config: Config, make_config: ConfigFactory) -> None:
    (posts_dir / "2024-04-02-two.md").rename(posts_dir / "2024-04-02-deux.md")


def _other_manifest(posts_dir: Path, config: Config, make_config: ConfigFactory) -> None:
    manifest = config.output_dir / MANIFEST
    data = manifest.read_bytes()
    manifest.unlink()
    manifest.write_bytes(data)  # the same bytes, but not the file the publish wrote


def _other_store(posts_dir: Path, config: Config, make_config: ConfigFactory) -> None:
    path = config_module.sqlite_file(config.storage.url)
    assert path is not None and path.exists()
    for extra in path.parent.glob(path.name + "-*"):
        extra.unlink()
    path.unlink()
    path.write_bytes(b"")  # a restored or new database


CHANGES: dict[str, Callable[[Path, Config, ConfigFactory], None]] = {
    "edited": _edit,
    "touched": _touch,
    "added": _add,
    "deleted": _delete,
    "renamed": _rename,
    "live tree rewritten": _other_manifest,
    "store replaced": _other_store,
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_any_change_means_a_publish(
    change: str, published: Config, posts_dir: Path, make_config: ConfigFactory
) -> None:
    CHANGES[change](posts_dir, published, make_config)
    assert stamp.confirm(published) is None


def test_a_new_config_or_version_means_a_publish(
    published: Config, make_config: ConfigFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert stamp.confirm(make_config(site={"title": "Another title"})) is None
    assert stamp.confirm(published) is not None
    monkeypatch.setattr(config_module, "__version__", "99.0")
    assert stamp.confirm(published) is None


@pytest.mark.parametrize("name", [".hidden.md", "notes.jpg", "draft.md~", ".git/HEAD.md"])
def test_files_a_scan_skips_do_not_count(published: Config, posts_dir: Path, name: str) -> None:
    write(posts_dir, name)
    assert stamp.confirm(published) is not None


def test_a_file_saved_just_before_the_publish_is_not_trusted(
    config: Config, posts_dir: Path
) -> None:
    # Its mtime could stay the same through a write in the same clock tick as our read.
    write(posts_dir, "2024-04-01-one.md", mtime=None)
    publish(config)
    assert stamp.read(config) is not None
    assert stamp.confirm(config) is None


def test_a_scheduled_post_coming_due_means_a_publish(
    config: Config, posts_dir: Path, clock: FakeClock
) -> None:
    write(posts_dir, "2024-04-01-one.md")
    write(posts_dir, "2024-06-01-later.md", title="Later", date="2024-06-01 09:00:00")
    publish(config, clock)  # the clock says 2024-05-01: "Later" waits
    due = datetime.fromisoformat("2024-06-01T09:00:00+00:00").timestamp()
    found = stamp.confirm(config, now=due - 1)
    assert found is not None and found.next_due == due
    assert stamp.confirm(config, now=due) is None


def test_a_publish_removes_the_stamp_before_it_starts(
    published: Config, posts_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import syndicate.publisher.orchestrator as publisher_module

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(publisher_module, "write_live", broken)
    write(posts_dir, "2024-04-01-one.md", title="One, corrected")
    with pytest.raises(OSError, match="disk full"):
        publish(published)
    assert not stamp.path_of(published).exists()
    # And an unreadable stamp is no stamp.
    stamp.path_of(published).write_bytes(b"not a pickle")
    assert stamp.confirm(published) is None


def test_problems_are_kept_and_reported_again(config: Config, posts_dir: Path) -> None:
    write(posts_dir, "2024-04-01-one.md")
    broken = posts_dir / "2024-04-02-broken.md"
    broken.write_text("---\ntitle: [unclosed\n---\nBody.\n", encoding="utf-8")
    os.utime(broken, (HOUR_AGO, HOUR_AGO))
    publish(config)
    found = stamp.confirm(config)
    assert found is not None
    assert [p.path for p in found.errors] == [broken]
    assert "2024-04-02-broken.md: " in str(found.errors[0])


def test_a_stamp_of_another_version_is_no_stamp_and_no_warning(
    published: Config, caplog: pytest.LogCaptureFixture
) -> None:
    assert confirm_current(published) is not None
    assert confirm_current(published, force=True) is None  # --force: always a publish
    # A stamp pickled when the module lived elsewhere (syndicate.stamp, before issue 19).
    stamp.path_of(published).write_bytes(b"csyndicate.stamp\nStamp\n.")
    with caplog.at_level("DEBUG", logger="syndicate.stamp"):
        assert stamp.read(published) is None
        assert confirm_current(published) is None
    assert [r for r in caplog.records if r.levelname == "WARNING"] == []


# --------------------------------------------------------------------------- commands


@pytest.fixture
def project(tmp_path: Path, posts_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "config.yaml").write_text(
        "site:\n  title: Example News\n  url: https://example.org/\nposts_dir: posts\n"
        "storage:\n  url: sqlite:///state.db\n",
        encoding="utf-8",
    )
    write(posts_dir, "2024-04-01-one.md", title="One")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_republish_with_nothing_changed_says_so(project: Path) -> None:
    first = CliRunner().invoke(main, ["republish"])
    assert first.exit_code == 0, first.output
    assert "nothing changed" not in first.stdout
    again = CliRunner().invoke(main, ["republish"])
    assert again.exit_code == 0, again.output
    assert again.stdout.strip() == (
        "1 post, 3 feeds: 0 changed, 0 removed; 0 notifications queued (nothing changed "
        "since the last publish); 0 errors, 0 warnings"
    )
    forced = CliRunner().invoke(main, ["republish", "--force"])
    # --force always publishes (and queues for every feed: none here, with no hubs).
    assert "0 notifications queued (--force)" in forced.stdout
    assert "nothing changed" not in forced.stdout


def test_republish_with_nothing_changed_reports_problems_again(project: Path) -> None:
    broken = project / "posts" / "2024-04-02-broken.md"
    broken.write_text("---\ntitle: [unclosed\n---\nBody.\n", encoding="utf-8")
    os.utime(broken, (HOUR_AGO, HOUR_AGO))
    first = CliRunner().invoke(main, ["republish", "--strict"])
    assert first.exit_code == 1
    again = CliRunner().invoke(main, ["republish", "--strict"])
    assert again.exit_code == 1
    assert "nothing changed since the last publish" in again.stdout
    assert again.stderr.startswith("posts/2024-04-02-broken.md: ")
    assert again.stderr == first.stderr


def run_cli(project: Path, args: list[str], modules: tuple[str, ...]) -> tuple[str, list[str]]:
    """Run ``syndicate args`` in a fresh interpreter: its output, and which of ``modules``
    it imported."""
    script = (
        "import sys\n"
        "from syndicate.cli import main\n"
        f"main({args!r}, standalone_mode=False)\n"
        f"print('loaded:', [m for m in {modules!r} if m in sys.modules])\n"
    )
    command = [sys.executable, "-c", script]
    done = subprocess.run(command, cwd=project, capture_output=True, text=True, check=True)
    output, _, loaded = done.stdout.rpartition("loaded: ")
    return output, ast.literal_eval(loaded.strip())


def test_republish_with_nothing_changed_never_loads_the_publishing_stack(project: Path) -> None:
    heavy = ("syndicate.publisher.orchestrator", "sqlalchemy", "lxml", "feedgen")
    _, first = run_cli(project, ["republish"], heavy)
    assert "syndicate.publisher.orchestrator" in first
    output, again = run_cli(project, ["republish"], heavy)
    assert "nothing changed since the last publish" in output
    assert again == []


def test_worker_with_nothing_changed_is_ready_before_its_first_publish(project: Path) -> None:
    assert CliRunner().invoke(main, ["republish"]).exit_code == 0
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        [sys.executable, "-m", "syndicate", "worker", "--config", "config.yaml"],
        cwd=project,
        stderr=subprocess.PIPE,
        pass_fds=(write_end,),
        env={**os.environ, READY_FD_ENV: str(write_end)},
    )
    os.close(write_end)
    worker = WorkerProcess(process, grace=20, ready_fd=read_end)
    lines: list[str] = []
    try:
        assert worker.wait_ready(timeout=30)
        assert process.stderr is not None
        for raw in process.stderr:
            lines.append(raw.decode())
            if "service started" in lines[-1]:
                break
    finally:
        status = worker.stop()
        if process.stderr is not None:
            process.stderr.close()
    assert status == 0
    current = next(i for i, line in enumerate(lines) if "is current: 1 post, 3 feeds" in line)
    started = next(i for i, line in enumerate(lines) if "service started" in line)
    assert current < started


def test_wait_ready_fails_when_the_worker_exits_first(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.exit(3)"], pass_fds=(write_end,)
    )
    os.close(write_end)
    worker = WorkerProcess(process, grace=5, ready_fd=read_end)
    with pytest.raises(SyndicateError, match="status 3 before publishing"):
        worker.wait_ready(timeout=30)
    assert worker.stop() == 3


def test_a_build_without_a_store_never_loads_sqlalchemy(project: Path) -> None:
    # SQLAlchemy is 0.28 s of a cold build's start; without a store nothing needs it.
    build = ["build", "--out", "public", "--no-cache"]
    assert run_cli(project, build, ("sqlalchemy", "requests"))[1] == []
    assert (project / "public" / "feed.atom").exists()
    # With a store (after a republish made it), the build reads it, as before.
    assert CliRunner().invoke(main, ["republish"]).exit_code == 0
    assert run_cli(project, build, ("sqlalchemy", "requests"))[1] == ["sqlalchemy"]


def test_republish_never_loads_requests(project: Path) -> None:
    # The HTTP clients are imported only when a notification is sent: republish queues
    # them, the worker sends them.
    assert run_cli(project, ["republish"], ("syndicate.publisher", "requests"))[1] == [
        "syndicate.publisher"
    ]
