"""Request bodies to the editors' routes are bounded in size and in time, and a stalled
one never holds up the feeds (issue 17, cases 1 and 2).

Sizes through the Flask test client (the app's own WSGI front, as served); stalls
through a real ``syndicate serve`` on 127.0.0.1 and raw sockets that send the headers
and part of a body, then wait.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from syndicate.config import Config
from syndicate.web import (
    API_BODY_BYTES,
    BODY_WAITERS,
    BODY_WAITERS_PER_ADDRESS,
    FORM_BODY_BYTES,
)
from syndicate.web.api import TOKEN_ENV
from syndicate.web.hotpath import _client_key

from .conftest import ConfigFactory
from .test_scheduler import start_serve, write_post

TOKEN = "s3cret-token-for-bodies"

FEED_QUICKLY = 1.0  # seconds a feed may take while the dashboard's clients stall
STALLED = 12  # more than granian's blocking threads (2 x cores + 1) on any test machine


@pytest.fixture
def config(make_config: ConfigFactory, posts_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    """With the editors' token set and a post: ``client`` is the app as served."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    write_post(posts_dir, "2024-04-01-hello.md", title="Hello")
    return make_config()


def test_a_form_larger_than_the_limit_is_413(client: FlaskClient) -> None:
    big = "x" * FORM_BODY_BYTES  # with "token=": past the limit
    response = client.post("/admin/login", data={"token": big})
    assert response.status_code == 413
    assert f"at most {FORM_BODY_BYTES} are read here" in response.get_data(as_text=True)


def test_an_api_body_larger_than_the_limit_is_413(client: FlaskClient) -> None:
    body = b'{"force": true' + b" " * API_BODY_BYTES + b"}"
    response = client.post(
        "/api/republish",
        data=body,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json == {
        "error": "Content Too Large",
        "message": f"The body is {len(body)} bytes; at most {API_BODY_BYTES} are read here.",
    }


def test_a_huge_declared_length_is_413_without_reading(client: FlaskClient) -> None:
    class Unreadable:
        def read(self, *args: object) -> bytes:
            raise AssertionError("the body was read")

    environ = {"wsgi.input": Unreadable(), "CONTENT_LENGTH": str(300 * 1024 * 1024)}
    response = client.post(
        "/admin/login",
        environ_overrides=environ,
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413


def test_a_chunked_body_to_the_editors_is_411(client: FlaskClient) -> None:
    response = client.post(
        "/admin/login",
        input_stream=io.BytesIO(b"token=x"),
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"CONTENT_LENGTH": ""},  # as a server hands a chunked body over
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 411


def test_small_bodies_still_work(client: FlaskClient) -> None:
    response = client.post("/admin/login", data={"token": "wrong"})
    assert response.status_code != 413
    assert response.status_code < 500


# --------------------------------------------------------------------------- a real server


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    (tmp_path / "posts").mkdir()
    write_post(tmp_path / "posts", "2024-04-01-hello.md", title="Hello")
    (tmp_path / "config.yaml").write_text(
        "site:\n  title: Served\n  url: https://example.org/\n"
        "watch:\n  debounce: 0.2\n  scan_interval: 3600\n",
        encoding="utf-8",
    )
    process, base = start_serve(tmp_path)
    try:
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.communicate(timeout=15)
        except Exception:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()


def _port(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def _stall(
    port: int, path: str, declared: int = 1000, extra: str = "", source: str = "127.0.0.1"
) -> socket.socket:
    """A connection from ``source`` (any address of 127.0.0.0/8 reaches 127.0.0.1) that
    sent a request's headers and one byte of its body, then waits."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    conn.sendall(
        (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}"
            f"Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {declared}\r\n\r\nt"
        ).encode("ascii")
    )
    return conn


def _status(conn: socket.socket, timeout: float) -> int | None:
    """The status of the answer on ``conn``, or None if none came within ``timeout``."""
    conn.settimeout(timeout)
    try:
        head = conn.recv(64)
    except TimeoutError:
        return None
    return int(head.split(b" ", 2)[1])


def _feed_time(base: str) -> float:
    started = time.monotonic()
    with urllib.request.urlopen(base + "/feed.rss", timeout=FEED_QUICKLY * 3) as response:
        assert response.status == 200
        response.read()
    return time.monotonic() - started


def test_stalled_bodies_never_hold_up_the_feeds(served: str) -> None:
    port = _port(served)
    auth = f"Authorization: Bearer {TOKEN}\r\n"
    with contextlib.ExitStack() as stack:
        stalled = []
        for number in range(STALLED):
            path, extra = ("/admin/login", "") if number % 2 else ("/api/republish", auth)
            source = f"127.0.0.{10 + number}"  # each from its own address
            stalled.append(stack.enter_context(_stall(port, path, extra=extra, source=source)))
        time.sleep(0.5)  # each reaches the app, and waits for the rest of its body or not
        times = [_feed_time(served) for _ in range(5)]
        assert max(times) < FEED_QUICKLY, times
        # Those past the readers' slots are told at once; the others still wait.
        statuses = [_status(conn, 0.5) for conn in stalled]
        assert statuses.count(None) == BODY_WAITERS, statuses
        assert set(statuses) == {None, 503}, statuses
    # Gone, they leave their slots: a sign-in is read and answered again.
    time.sleep(0.5)
    with urllib.request.urlopen(served + "/admin/login", timeout=5) as response:
        assert response.status == 200
    assert _feed_time(served) < FEED_QUICKLY
    with _stall(port, "/admin/login", declared=1) as conn:  # the whole body: one byte
        assert _status(conn, 5) == 400  # read, and refused by the CSRF check


def test_one_address_cannot_keep_the_editors_out(served: str) -> None:
    """A stranger's stalled bodies, however many, hold one reader's slot: an editor at
    another address still signs in (there is no body timeout to wait for)."""
    port = _port(served)
    with contextlib.ExitStack() as stack:
        stalled = [
            stack.enter_context(_stall(port, "/admin/login", source="127.0.0.66"))
            for _ in range(STALLED)
        ]
        time.sleep(0.5)
        statuses = [_status(conn, 0.5) for conn in stalled]
        assert statuses.count(None) == BODY_WAITERS_PER_ADDRESS, statuses
        assert set(statuses) == {None, 503}, statuses
        # An editor elsewhere: the sign-in form's body is read and checked (400: the CSRF
        # token is missing, not 503).
        with _stall(port, "/admin/login", declared=1, source="127.0.0.77") as editor:
            assert _status(editor, 5) == 400
        assert _feed_time(served) < FEED_QUICKLY


def test_a_huge_declared_body_is_refused_at_once(served: str) -> None:
    with _stall(_port(served), "/admin/login", declared=300 * 1024 * 1024) as conn:
        assert _status(conn, 3) == 413


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("192.0.2.1", "192.0.2.1", True),
        ("192.0.2.1", "192.0.2.2", False),
        ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9", True),  # one /64: one client
        ("2001:db8:1:2::1", "2001:db8:1:3::1", False),
    ],
)
def test_body_slots_count_an_ipv6_client_by_its_64(first: str, second: str, same: bool) -> None:
    assert (_client_key(first) == _client_key(second)) is same
