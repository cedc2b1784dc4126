"""One server per port, one scheduler per state folder, and no hub told of a change
before the web tier answers (issue 16, cases 5 and 7).

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
from syndicate.notify import DeliveryReport
from syndicate.publisher import open_publisher
from syndicate.service.scheduler import WAIT_JOB, Service
from syndicate.service.server import listen, local_url
from syndicate.service.supervise import LOCK_FD_ENV, WORKER_LOCK, WorkerLock, web_answers

from .conftest import ConfigFactory
from .servers import HubResponse, HubServer, fetch, port_of, refused_url
from .test_scheduler import _free_port, _get, start_serve, wait_for, write_post
from .test_supervise import _alive, _running_worker, _stop_group, _worker_pid

SITE = "https://example.org/"
REFUSED_QUICKLY = 5.0  # seconds: "within a few seconds"


def _site(folder: Path, title: str = "Served", url: str = SITE, hubs: Sequence[str] = ()) -> Path:
    """A site in ``folder``: one post and config.yaml (its state beside it); the post."""
    (folder / "posts").mkdir(parents=True)
    post = write_post(folder / "posts", "2024-04-01-hello.md", title="Hello")
    config = f"site:\n  title: {title}\n  url: {url}\n"
    config += "watch:\n  debounce: 0.2\n  scan_interval: 3600\nnotify:\n  timeout: 5\n"
    if hubs:
        config += f"websub:\n  hubs: [{', '.join(hubs)}]\n"
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
        assert local_url(anywhere) == f"http://127.0.0.1:{port}/"
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
        assert local_url(loopback6, "/feed.atom") == f"http://[::1]:{port}/feed.atom"
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


# --------------------------------------------------------------------------- case 7: hubs wait


def test_hubs_hear_of_changes_waiting_at_start_only_once_serve_answers(tmp_path: Path) -> None:
    """A hub fetches the topic the moment it hears of a change: serve's worker must not
    tell it before granian answers (a hub once took "connection refused" as final)."""
    with HubServer(fetch_topics=True) as hub:
        port = _free_port()  # after the hub's: a port freed just now may be handed out again
        site = f"http://127.0.0.1:{port}/"
        post = _site(tmp_path, url=site, hubs=[hub.url])
        # Published once while nothing served (its notifications wait in the outbox),
        # then a post edited: changes wait for the next start.
        result = CliRunner().invoke(main, ["republish", "--config", str(tmp_path / "config.yaml")])
        assert result.exit_code == 0, result.output
        write_post(post.parent, post.name, title="Hello again", body="Edited.")
        process, _ = start_serve(tmp_path, port)
        try:
            topics = {site + "feed.atom", site + "feed.rss"}
            wait_for(lambda: topics <= {url for url, _ in hub.fetches}, "the hub fetched")
            fetches = hub.fetches  # before serve stops: fetches after that are refused
        finally:
            _stop_group(process)
    assert fetches
    assert [outcome for _, outcome in fetches] == [200] * len(fetches), fetches


def test_worker_wait_for_holds_deliveries_until_the_url_answers(tmp_path: Path) -> None:
    with HubServer() as hub:
        web = refused_url("/feed.atom")  # the web tier, not started yet (after the hub's port)
        _site(tmp_path, hubs=[hub.url])  # its first publish notifies
        with _worker(tmp_path, "--wait-for", web) as (_, log):
            time.sleep(1)  # a few looks at the web tier
            assert hub.requests == []
            # Behind a proxy, a web tier that is down is a 502: still not answering.
            with HubServer(default=502, port=port_of(web)) as tier:
                wait_for(lambda: len(tier.requests) >= 2, "two looks at the web tier")
                time.sleep(0.5)
                assert hub.requests == []
                tier.default = HubResponse(200)
                wait_for(lambda: SITE + "feed.atom" in hub.publishes, "notified once it answers")
            assert tier.requests[0].path == "/feed.atom"
            output = log.read_text()
    assert f"deliveries wait until {web} answers" in output
    assert f"{web} answers: deliveries start" in output


@pytest.mark.parametrize("url", ["localhost:8080", "http://", "http://127.0.0.1:80a/"])
def test_wait_for_must_be_an_http_url(url: str) -> None:
    result = CliRunner().invoke(main, ["worker", "--wait-for", url])
    assert result.exit_code == 2
    assert "Invalid value for --wait-for: expected an http:// or https:// URL" in result.output


def test_a_service_delivers_nothing_until_the_web_tier_answers(
    make_config: ConfigFactory, posts_dir: Path, hub: HubServer
) -> None:
    config = make_config(websub={"hubs": [hub.url]}, watch={"scan_interval": 3600})
    write_post(posts_dir, "2024-04-01-first.md")
    web = refused_url("/")
    service = Service(config, open_publisher(config), wait_for=web)
    try:
        service.start(paused=True)  # the first publish queued a notification per feed
        assert WAIT_JOB in service.jobs()
        assert service.run_delivery() == DeliveryReport()
        assert not service.look_for_web()
        with HubServer(default=503, port=port_of(web)) as tier:
            assert not service.look_for_web()
            tier.default = HubResponse(404)  # any answer of the web tier itself will do
            assert service.look_for_web()
        assert hub.requests == []
        report = service.run_delivery()
        assert report is not None and report.delivered
        assert SITE + "feed.atom" in hub.publishes
    finally:
        service.shutdown()
        assert service.publisher.store is not None
        service.publisher.store.close()


def test_web_answers_names_what_went_wrong() -> None:
    refused = refused_url("/")
    assert "Connection refused" in (web_answers(refused, 2) or "")
    with HubServer(500) as tier:
        assert web_answers(tier.url, 2) == "HTTP 500"
        assert web_answers(tier.url, 2) is None  # then the default 204
        assert fetch(tier.url) == 204
