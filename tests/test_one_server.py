"""One server per port, one scheduler per state folder (issue 16, case 5).

Real processes (``syndicate serve`` and ``worker``) on 127.0.0.1, each in a session of
its own so that whatever it started can be found and stopped; real sockets hold ports.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner

from syndicate.cli import main
from syndicate.errors import SyndicateError
from syndicate.server import listen
from syndicate.supervise import LOCK_FD_ENV, WORKER_LOCK, WorkerLock

from .servers import port_of
from .test_scheduler import _free_port, _get, start_serve, wait_for, write_post
from .test_supervise import _alive, _running_worker, _stop_group, _worker_pid

SITE = "https://example.org/"
REFUSED_QUICKLY = 5.0  # seconds: "within a few seconds"


def _site(folder: Path, title: str = "Served") -> Path:
    """A site in ``folder``: one post and config.yaml (its state beside it); the post."""
    (folder / "posts").mkdir(parents=True)
    post = write_post(folder / "posts", "2024-04-01-hello.md", title="Hello")
    config = f"site:\n  title: {title}\n  url: {SITE}\n"
    config += "watch:\n  debounce: 0.2\n  scan_interval: 3600\n"
    (folder / "config.yaml").write_text(config, encoding="utf-8")
    return post


def _refused(args: Sequence[str], cwd: Path, timeout: float = 20) -> tuple[str, float]:
    """Run ``syndicate ARGS``, which must exit 1 with nothing on stdout and nothing left
    running; its stderr and how long it took. Fails if it is still running at ``timeout``."""
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "syndicate", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop_group(process)
        pytest.fail(f"syndicate {' '.join(args)}: still running after {timeout:g} s")
    seconds = time.monotonic() - started
    left = _group_alive(process.pid)
    _stop_group(process)
    assert not left, f"syndicate {' '.join(args)} left processes running"
    assert (process.returncode, out) == (1, b""), err.decode(errors="replace")
    return err.decode(errors="replace"), seconds


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _in_use(address: str, port: int) -> str:
    return (
        f"Error: {address}:{port} is already in use by another server; "
        "choose another port with --port or serve.port"
    )


@contextlib.contextmanager
def _worker(folder: Path, *options: str) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """``syndicate worker`` on folder/config.yaml, once its service started; its log."""
    log = folder / "worker.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "syndicate", "worker", "--config", "config.yaml", *options],
            cwd=folder,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: b"service started" in log.read_bytes(), "the worker started", 30)
        yield process, log
    finally:
        process.terminate()
        try:
            process.wait(30)
        finally:
            _stop_group(process)


# --------------------------------------------------------------------------- case 5: the port


@pytest.mark.parametrize("how", ["--port", "serve.port"])
def test_serve_on_a_port_another_program_holds_exits_at_once_with_one_line(
    tmp_path: Path, how: str
) -> None:
    _site(tmp_path)
    with socket.socket() as holder:
        if how == "serve.port":  # as most servers do; it never lets a second one listen
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        args = ["serve", "--config", "config.yaml"]
        if how == "--port":
            args += ["--port", str(port)]
        else:
            with open(tmp_path / "config.yaml", "a", encoding="utf-8") as config:
                config.write(f"serve:\n  port: {port}\n")
        err, seconds = _refused(args, tmp_path)
    assert err.splitlines() == [_in_use("127.0.0.1", port)]
    assert seconds < REFUSED_QUICKLY
    # Refused before anything started: no worker ran, so nothing was published or stored.
    assert not (tmp_path / "_site").exists()
    assert not (tmp_path / "syndicate.db").exists()


def test_a_second_serve_on_the_port_of_a_running_serve_is_refused(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    _site(first, title="First")
    _site(second, title="Second")
    process, base = start_serve(first)
    try:
        port = port_of(base)
        err, seconds = _refused(["serve", "--config", "config.yaml", "--port", str(port)], second)
        assert err.splitlines() == [_in_use("127.0.0.1", port)]
        assert seconds < REFUSED_QUICKLY
        assert not (second / "_site").exists()  # its worker never started
        # The first site answers alone, every time (the kernel once took turns).
        bodies = []
        for _ in range(20):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(b"GET /feed.atom HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                bodies.append(b"".join(iter(lambda: sock.recv(65536), b"")))
        assert all(b"<title>First</title>" in body for body in bodies)
    finally:
        _stop_group(process)


def test_serve_listens_alone_where_granian_would_share_the_port(tmp_path: Path) -> None:
    """granian's own sockets have SO_REUSEPORT, which lets any server of the same user
    that asks for it share the port; the socket serve hands its web workers has not."""
    with listen("127.0.0.1", 0) as listener:
        port = listener.getsockname()[1]
        with socket.socket() as sharer:
            sharer.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sharer.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            with pytest.raises(OSError) as raised:
                sharer.bind(("127.0.0.1", port))
                sharer.listen()
    assert raised.value.errno == errno.EADDRINUSE


def test_serve_listens_on_ipv6_and_wildcard_addresses_and_says_which_is_in_use() -> None:
    with listen("0.0.0.0", 0) as anywhere:
        port = anywhere.getsockname()[1]
        with pytest.raises(SyndicateError) as raised:
            listen("127.0.0.1", port)
        assert str(raised.value) == _in_use("127.0.0.1", port).removeprefix("Error: ")
    with listen("localhost", 0) as named:
        assert named.getsockname()[0] in ("127.0.0.1", "::1")
    try:
        loopback6 = listen("::1", 0)
    except SyndicateError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    with loopback6:
        port = loopback6.getsockname()[1]
        with pytest.raises(SyndicateError, match=rf"^\[::1\]:{port} is already in use"):
            listen("::1", port)


def test_a_host_that_is_not_an_address_here_is_one_line() -> None:
    with pytest.raises(SyndicateError) as raised:
        listen("no-such-host.invalid", 8080)
    assert str(raised.value).startswith("serve.host 'no-such-host.invalid': not an address")
    assert str(raised.value).endswith("change --host or serve.host")


# --------------------------------------------------------------------------- one scheduler


def test_a_second_worker_on_the_same_state_is_refused_naming_the_lock(tmp_path: Path) -> None:
    _site(tmp_path)
    lock = tmp_path / WORKER_LOCK
    with _worker(tmp_path) as (first, _):
        err, seconds = _refused(["worker", "--config", "config.yaml"], tmp_path)
        assert err.splitlines() == [
            f"Error: {lock} is held by another syndicate worker or serve on this state "
            f"(pid {first.pid}): one scheduler per state folder (two would notify twice); "
            "stop that one first"
        ]
        assert seconds < REFUSED_QUICKLY

        # serve would start a second scheduler: refused too, its port left free.
        port = _free_port()
        err, _ = _refused(["serve", "--config", "config.yaml", "--port", str(port)], tmp_path)
        assert err.splitlines() == [
            f"Error: {lock} is held by another syndicate worker or serve on this state "
            f"(pid {first.pid}): stop it, or serve beside it with "
            "`syndicate serve --no-scheduler`"
        ]
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))
        # The way out it names: a web tier beside the worker.
        beside, base = start_serve(tmp_path, port, "--no-scheduler")
        try:
            assert _worker_pid(beside.pid) is None
            assert _get(base + "/feed.atom")["ETag"]
        finally:
            _stop_group(beside)

        # The lock is the scheduler's, not the publish lock: republish goes on.
        result = CliRunner().invoke(
            main, ["republish", "--force", "--config", str(tmp_path / "config.yaml")]
        )
        assert result.exit_code == 0, result.output
    # Gone with the worker.
    WorkerLock.acquire(tmp_path).release()


def test_serve_holds_the_lock_for_its_worker_even_while_the_worker_restarts(
    tmp_path: Path,
) -> None:
    _site(tmp_path)
    process, _ = start_serve(tmp_path)
    try:
        killed = _running_worker(process)
        os.kill(killed, signal.SIGKILL)  # serve starts another after 1 s
        wait_for(lambda: not _alive(killed), "the worker gone")
        err, _ = _refused(["worker", "--config", "config.yaml"], tmp_path)
        assert f"(pid {process.pid}): one scheduler per state folder" in err
        wait_for(lambda: _worker_pid(process.pid) not in (None, killed), "a new worker")
    finally:
        _stop_group(process)


def test_the_worker_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    held = WorkerLock.acquire(tmp_path / "state")  # the folder is made
    try:
        assert held.path.read_text() == f"{os.getpid()}\n"
        with pytest.raises(SyndicateError, match=rf"\(pid {os.getpid()}\): stop it, or serve"):
            WorkerLock.acquire(tmp_path / "state", serving=True)
        # serve's worker inherits serve's lock, the same open file: already its own.
        monkeypatch.setenv(LOCK_FD_ENV, str(held.fd))
        inherited = WorkerLock.acquire(tmp_path / "state")
        assert inherited.fd == held.fd
        assert LOCK_FD_ENV not in os.environ  # not handed on to its own children
        # A descriptor that is not this state's lock is not taken for it.
        other = WorkerLock.acquire(tmp_path / "other")
        monkeypatch.setenv(LOCK_FD_ENV, str(other.fd))
        with pytest.raises(SyndicateError, match="is held by another syndicate worker"):
            WorkerLock.acquire(tmp_path / "state")
        other.release()
    finally:
        held.release()
    WorkerLock.acquire(tmp_path / "state").release()
