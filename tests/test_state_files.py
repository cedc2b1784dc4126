"""What syndicate leaves beside the config, seen by git: the shipped .gitignore covers it.

A site is usually a git repository whose config.yaml sits at the top, where the state
(store, cache, lock, dashboard jobs, signed-out sessions) lives by default. After a
publish, a dashboard republish and a sign-out, with the store open as in a running
``serve`` (SQLite's WAL and shared-memory files exist then), ``git status`` must show only
what the editor wrote.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from syndicate.cli import main
from syndicate.config import load_config, state_dir
from syndicate.publisher import open_publisher
from syndicate.service.supervise import WorkerLock
from syndicate.web import create_app
from syndicate.web.api import TOKEN_ENV

from .test_admin import board, post_form, sign_in
from .test_api import close_api

REPO = Path(__file__).resolve().parent.parent
CONFIG = "site:\n  title: Example News\n  url: https://example.org/\n"
POST = "---\ntitle: Hello\ndate: 2024-05-01 10:00:00\n---\nHello.\n"


def git(project: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "core.excludesFile=/dev/null", *args],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_shipped_gitignore_covers_what_serve_leaves_beside_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "site"
    (project / "posts").mkdir(parents=True)
    shutil.copyfile(REPO / ".gitignore", project / ".gitignore")
    (project / "config.yaml").write_text(CONFIG, encoding="utf-8")
    (project / "posts" / "2024-05-01-hello.md").write_text(POST, encoding="utf-8")
    git(project, "init", "-q")
    monkeypatch.chdir(project)
    monkeypatch.setenv(TOKEN_ENV, "state-files-Token_1")

    assert CliRunner().invoke(main, ["republish"]).exit_code == 0
    config = load_config(project / "config.yaml")
    publisher = open_publisher(config)
    app = create_app(config, publisher, reload_interval=None)
    lock = WorkerLock.acquire(state_dir(config))  # as a running `worker` holds it
    try:
        client = app.test_client()
        assert sign_in(client, "state-files-Token_1").status_code == 302
        assert post_form(client, "/admin/", "/admin/republish").status_code == 302
        board(app).jobs.join()
        assert post_form(client, "/admin/", "/admin/logout").status_code == 302

        left = {p.name for p in project.iterdir()}
        assert {"syndicate.db-wal", "syndicate.db-shm", "sessions-revoked"} <= left, left
        assert {".syndicate-admin-jobs", "syndicate.db", "cache", "_site"} <= left, left
        assert {".syndicate.lock", ".syndicate-worker.lock"} <= left, left
        untracked = git(project, "status", "--porcelain", "--untracked-files=all")
        assert sorted(untracked.splitlines()) == [
            "?? .gitignore",
            "?? config.yaml",
            "?? posts/2024-05-01-hello.md",
        ]
    finally:
        lock.release()
        close_api(app)
        assert publisher.store is not None
        publisher.store.close()
