"""serve's supervision of its worker: restarted when it dies, gone when serve dies."""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from syndicate.service.supervise import WorkerProcess

from .test_scheduler import _get, start_serve, wait_for, write_post

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for our purpose.
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def _children(pid: int) -> list[int]:
    # Each thread's own: serve's supervisor thread starts the restarted worker.
    tasks = Path(f"/proc/{pid}/task").glob("*/children")
    return [int(child) for task in tasks for child in task.read_text().split()]


def _worker_pid(serve_pid: int) -> int | None:
    for child in _children(serve_pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            continue
        if b"worker" in cmdline and _alive(child):
            return child
    return None


def _running_worker(serve: subprocess.Popen[bytes]) -> int:
    """The pid of serve's worker, once it runs."""
    wait_for(lambda: _worker_pid(serve.pid) is not None, "the worker running")
    pid = _worker_pid(serve.pid)
    assert pid is not None
    return pid


def _supervised(command: list[str]) -> WorkerProcess:
    process = subprocess.Popen(command)
    read_end, write_end = os.pipe()
    os.close(write_end)
    return WorkerProcess(process, grace=5, ready_fd=read_end, command=command)


def test_a_worker_that_dies_is_restarted_and_stop_ends_the_last_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "syndicate")
    worker = _supervised(SLEEPER)
    first = worker.process
    try:
        worker.supervise(delay=0.05)
        first.kill()
        wait_for(lambda: worker.restarts == 1 and _alive(worker.process.pid), "a restart")
        second = worker.process
        assert second.pid != first.pid
    finally:
        status = worker.stop()
    assert status == -signal.SIGTERM
    assert not _alive(second.pid)
    messages = [record.getMessage() for record in caplog.records]
    assert f"worker (pid {first.pid}) exited with status -9; restarting it in 0.05 s" in messages
    assert f"worker restarted (pid {second.pid})" in messages
    assert worker.restarts == 1  # stopping is not dying: no restart after stop()


def test_a_worker_that_keeps_dying_is_restarted_ever_more_slowly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "syndicate")
    worker = _supervised([sys.executable, "-c", "import sys; sys.exit(3)"])
    try:
        worker.supervise(delay=0.05, max_delay=0.2)
        wait_for(lambda: worker.restarts >= 4, "four restarts")
    finally:
        worker.stop()
    waits = [
        record.getMessage().rsplit(" in ", 1)[1]
        for record in caplog.records
        if "exited with status 3" in record.getMessage()
    ]
    assert waits[:4] == ["0.05 s", "0.1 s", "0.2 s", "0.2 s"]


def test_supervise_needs_the_command() -> None:
    process = subprocess.Popen(SLEEPER)
    read_end, write_end = os.pipe()
    os.close(write_end)
    worker = WorkerProcess(process, grace=5, ready_fd=read_end)
    try:
        with pytest.raises(ValueError, match="needs the command"):
            worker.supervise()
    finally:
        worker.stop()


def _start_serve(tmp_path: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    posts = tmp_path / "posts"
    posts.mkdir()
    post = write_post(posts, "2024-04-01-hello.md", title="Hello")
    (tmp_path / "config.yaml").write_text(
        "site:\n  title: Served\n  url: https://example.org/\n"
        "watch:\n  debounce: 0.2\n  scan_interval: 3600\n",
        encoding="utf-8",
    )
    process, base = start_serve(tmp_path)
    return process, base, post


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    # Even when serve is gone: what is left of its group keeps our pipe open.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()


def test_serve_restarts_a_killed_worker_and_edits_are_published_again(tmp_path: Path) -> None:
    process, base, post = _start_serve(tmp_path)
    try:
        killed = _running_worker(process)
        os.kill(killed, signal.SIGKILL)  # as the OOM killer would
        wait_for(lambda: _worker_pid(process.pid) not in (None, killed), "a new worker")

        etag = _get(base + "/feed.atom")["ETag"]
        write_post(post.parent, post.name, title="Hello again", body="Edited.")
        wait_for(lambda: _get(base + "/feed.atom")["ETag"] != etag, "the edit served")

        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode(errors="replace")
    finally:
        _stop_group(process)
    assert process.returncode == 0, output
    assert f"worker (pid {killed}) exited with status -9; restarting it in 1 s" in output
    assert "worker restarted (pid " in output
    assert "worker stopped (status 0)" in output


def test_the_worker_and_the_web_workers_stop_when_serve_is_killed(tmp_path: Path) -> None:
    process, _, _ = _start_serve(tmp_path)
    try:
        wait_for(lambda: _worker_pid(process.pid) is not None, "the worker running")
        children = _children(process.pid)
        assert len(children) == 2  # the scheduler worker and one web worker (serve.workers)
        process.kill()  # serve alone, by SIGKILL: it cannot stop its children itself
        wait_for(lambda: not any(map(_alive, children)), "the orphaned children gone", 30)
    finally:
        _stop_group(process)


# glibc gives every non-main malloc arena a heap of its own: 64 MB of address space,
# aligned to its size, mapped read-write as far as it is used and PROT_NONE beyond.
_ARENA_HEAP = 64 << 20


def _extra_malloc_arenas(maps: str) -> int:
    """How many malloc arenas a process has besides the main one, from its maps."""
    regions = []
    for line in maps.splitlines():
        fields = line.split()
        if not fields:
            continue
        start, end = (int(x, 16) for x in fields[0].split("-"))
        regions.append((start, end, fields[1], len(fields) > 5))  # ..., backed by a file
    return sum(
        1
        for (start, end, perms, named), (start2, end2, perms2, named2) in itertools.pairwise(
            regions
        )
        if not named
        and not named2
        and (perms, perms2) == ("rw-p", "---p")
        and start % _ARENA_HEAP == 0
        and end == start2
        and end2 - start == _ARENA_HEAP
    )


_THREADS_ALLOCATE = """
import sys, threading, time
from syndicate.service.process import one_malloc_arena
if sys.argv[1] == "one":
    assert one_malloc_arena()
def work():
    kept = [bytes(4000) for _ in range(2000)]  # beyond pymalloc: glibc's malloc
    time.sleep(0.2)
threads = [threading.Thread(target=work) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(open("/proc/self/maps").read())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_one_malloc_arena_keeps_every_thread_in_the_main_arena() -> None:
    def extra_arenas(mode: str) -> int:
        command = [sys.executable, "-c", _THREADS_ALLOCATE, mode]
        maps = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        return _extra_malloc_arenas(maps)

    assert extra_arenas("default") >= 1  # the threads got arenas of their own
    assert extra_arenas("one") == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_the_worker_keeps_one_malloc_arena(tmp_path: Path) -> None:
    process, base, post = _start_serve(tmp_path)
    try:
        worker = _running_worker(process)
        # A publish, with the scheduler's and the file watcher's threads at work.
        etag = _get(base + "/feed.atom")["ETag"]
        write_post(post.parent, post.name, title="Hello again", body="Edited.")
        wait_for(lambda: _get(base + "/feed.atom")["ETag"] != etag, "the edit served")
        assert len(list(Path(f"/proc/{worker}/task").iterdir())) > 1
        assert _extra_malloc_arenas(Path(f"/proc/{worker}/maps").read_text()) == 0
    finally:
        _stop_group(process)


_FREE_AND_TRIM = """
import sys
from syndicate.service.process import give_back_free_memory
def rss():
    with open("/proc/self/status") as status:
        return int(status.read().split("VmRSS:")[1].split()[0]) // 1024
kept = [bytes(70_000) for _ in range(1000)]  # a full publish's feeds, in malloc's heap
fence = [bytes(600) for _ in range(1000)]  # still used: the heap cannot just shrink
del kept
before = rss()
assert give_back_free_memory()
print(before, rss())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_free_memory_is_given_back_to_the_system() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _FREE_AND_TRIM], capture_output=True, text=True, check=True
    )
    before, after = map(int, done.stdout.split())
    assert before - after >= 40, (before, after)  # most of the 70 MB freed
