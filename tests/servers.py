"""Real local servers for tests: a WebSub hub, an XML-RPC ping server, a refused port, a clock.

Does network I/O on 127.0.0.1 only. Every server binds port 0, runs in a thread,
and is a context manager that shuts it down and closes its socket (pytest runs
with ``filterwarnings = error``, so a leaked socket fails the test)::

    with HubServer() as hub:
        hub.respond(500, HubResponse(429, {"Retry-After": "120"}), hang(0.5))
        ...  # POST to hub.url
        assert hub.requests[0].form["hub.mode"] == ["publish"]

    with HubServer(fetch_topics=True) as hub:  # fetches each topic it is told of, at once
        ...
        assert hub.fetches == [("http://127.0.0.1:8080/feed.atom", 200)]

    with PingServer(extended=False) as pinger:
        ...  # XML-RPC to pinger.url
        assert [c.method for c in pinger.calls] == [EXTENDED, PING]
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import socket
import threading
import xmlrpc.client
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer, ThreadingMixIn
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

EXTENDED = "weblogUpdates.extendedPing"
PING = "weblogUpdates.ping"

# --------------------------------------------------------------------------- clock


class FakeClock:
    """A clock for ``Outbox`` and ``Publisher``: aware UTC, moves only when told."""

    def __init__(self, start: datetime = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 0.0, **kwargs: float) -> datetime:
        """Move forward by ``seconds`` (and/or ``timedelta`` keywords); return the new now."""
        self.now += timedelta(seconds=seconds, **kwargs)
        return self.now


# --------------------------------------------------------------------------- refused port


def refused_url(path: str = "/") -> str:
    """An http URL on 127.0.0.1 where nothing listens: connecting is refused.

    The port was free a moment ago (bound, then closed); tests that want the
    target to come back later can pass its port to ``HubServer(port=...)``.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def port_of(url: str) -> int:
    """The port of a ``http://127.0.0.1:PORT/...`` URL."""
    return int(url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


# --------------------------------------------------------------------------- base


class _ThreadedServer:
    """Start/stop plumbing shared by the hub and the ping server."""

    _server: TCPServer

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=type(self).__name__,
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, wake any hanging handler, close the socket, join the thread."""
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()  # also joins handler threads (block_on_close)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _quiet_handle_error(request: Any, client_address: Any) -> None:
    """A client that gave up (timeout test) makes the late reply fail: expected."""


# --------------------------------------------------------------------------- hub


@dataclasses.dataclass(frozen=True)
class HubRequest:
    """One request the hub received."""

    method: str
    path: str
    headers: Mapping[str, str]  # as sent; look up case-insensitively with ``header()``
    body: bytes
    form: Mapping[str, list[str]]  # parsed application/x-www-form-urlencoded body

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclasses.dataclass(frozen=True)
class HubResponse:
    """How the hub answers one request: ``delay`` seconds of silence, then ``status``."""

    status: int = 204
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0


def hang(seconds: float, then: int = 204) -> HubResponse:
    """A response that arrives after ``seconds`` (past a client's timeout)."""
    return HubResponse(status=then, delay=seconds)


def retry_after(seconds: int | str, status: int = 429) -> HubResponse:
    """A 429 (or 503) with a ``Retry-After`` header."""
    return HubResponse(status=status, headers={"Retry-After": str(seconds)})


class _HubHandler(BaseHTTPRequestHandler):
    server: _HubHTTPServer

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def _handle(self) -> None:
        hub = self.server.hub
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        form: dict[str, list[str]] = {}
        if (self.headers.get("Content-Type") or "").startswith("application/x-www-form-urlencoded"):
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        request = HubRequest(self.command, self.path, dict(self.headers.items()), body, form)
        response = hub._record(request)
        if hub.fetch_topics and form.get("hub.mode") == ["publish"]:
            for topic in form.get("hub.url", []):
                hub._fetched(topic, fetch(topic))
        if response.delay and hub._stopping.wait(response.delay):
            return  # shutting down: drop the connection
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.body and self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _HubHTTPServer(ThreadingHTTPServer):
    hub: HubServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        _quiet_handle_error(request, client_address)


class HubServer(_ThreadedServer):
    """A WebSub hub on 127.0.0.1 that records every request.

    Answers come from a queue (``respond(500, hang(0.5), 204)``), each used once;
    when it is empty the hub answers ``default`` (204 No Content, as PubSubHubbub
    hubs do on a successful publish). ``port`` binds a given port instead of 0,
    to bring a refused target back. ``fetch_topics``: on a publish, the hub GETs each
    topic before it answers, as real hubs do at once, and records what it got in
    ``fetches`` (the status, or the error).
    """

    def __init__(
        self,
        *responses: int | HubResponse,
        default: int | HubResponse = 204,
        port: int = 0,
        fetch_topics: bool = False,
    ) -> None:
        super().__init__()
        self.requests: list[HubRequest] = []
        self.fetch_topics = fetch_topics
        self._fetches: list[tuple[str, int | str]] = []
        self.default = _response(default)
        self._queue: deque[HubResponse] = deque(_response(r) for r in responses)
        self._server = _HubHTTPServer(("127.0.0.1", port), _HubHandler)
        self._server.hub = self

    def respond(self, *responses: int | HubResponse) -> None:
        """Queue the answers to the next requests."""
        with self._lock:
            self._queue.extend(_response(r) for r in responses)

    def _record(self, request: HubRequest) -> HubResponse:
        with self._lock:
            self.requests.append(request)
            return self._queue.popleft() if self._queue else self.default

    def _fetched(self, topic: str, outcome: int | str) -> None:
        with self._lock:
            self._fetches.append((topic, outcome))

    @property
    def fetches(self) -> list[tuple[str, int | str]]:
        """Each topic fetched (``fetch_topics``) and the status, or the error, it got."""
        with self._lock:
            return list(self._fetches)

    @property
    def publishes(self) -> list[str]:
        """The ``hub.url`` of every publish request received, in order."""
        with self._lock:
            return [
                url
                for r in self.requests
                if r.form.get("hub.mode") == ["publish"]
                for url in r.form.get("hub.url", [])
            ]


def fetch(url: str, timeout: float = 5.0) -> int | str:
    """GET an http URL: its status, or the error (``"ConnectionRefusedError: ..."``)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.request("GET", parts.path or "/")
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        connection.close()


def _response(value: int | HubResponse) -> HubResponse:
    return value if isinstance(value, HubResponse) else HubResponse(status=value)


class GoLikeHub(HubServer):
    """A hub that behaves like the Go hub that passes the websub.rocks suite: on a
    publish it fetches the topic at once and checks that the feed names it as
    ``rel=self``, then answers as Go's ``http.Error`` does, byte for byte: ``400`` with
    ``subscription not found\\n`` (``text/plain; charset=utf-8``, ``nosniff``) for a
    topic nobody subscribed to, ``400 topic mismatch`` when the feed's self link is
    another URL, ``204`` when there are subscribers. ``subscribe(topic)`` adds one
    (as ``hub.mode=subscribe`` would, without the intent verification round trip).
    """

    def __init__(self) -> None:
        super().__init__()
        self.topics: set[str] = set()
        self.checked: list[tuple[str, str]] = []  # (topic, what the check found)

    def subscribe(self, topic: str) -> None:
        with self._lock:
            self.topics.add(topic)

    def _record(self, request: HubRequest) -> HubResponse:
        with self._lock:
            self.requests.append(request)
        if request.form.get("hub.mode") != ["publish"]:
            return _go_error(400, "unknown hub.mode")
        topic = (request.form.get("hub.topic") or request.form.get("hub.url") or [""])[0]
        found = _self_link(topic)
        with self._lock:
            self.checked.append((topic, found))
            subscribed = topic in self.topics
        if found != topic:
            return _go_error(400, "topic mismatch")
        if not subscribed:
            return _go_error(400, "subscription not found")
        return HubResponse(204)


def _go_error(status: int, message: str) -> HubResponse:
    """What Go's ``http.Error(w, message, status)`` sends."""
    headers = {"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"}
    return HubResponse(status, headers, (message + "\n").encode())


def _self_link(url: str) -> str:
    """The ``rel=self`` link of the feed at ``url`` (Atom, or RSS's atom:link; a JSON
    Feed's ``feed_url``), or what went wrong fetching it."""
    from lxml import etree

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        connection.request("GET", parts.path or "/")
        response = connection.getresponse()
        body = response.read()
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        connection.close()
    if response.status != 200:
        return f"HTTP {response.status}"
    if (response.getheader("Content-Type") or "").startswith("application/feed+json"):
        # A JSON Feed names itself in feed_url (JSON Feed 1.1), as a rel=self would.
        return str(json.loads(body).get("feed_url", "no feed_url"))
    root = etree.fromstring(body)
    links = root.xpath("//*[local-name()='link'][@rel='self']/@href", smart_strings=False)
    assert isinstance(links, list)
    return str(links[0]) if links else "no self link"


class SiteServer(_ThreadedServer):
    """A WSGI app on 127.0.0.1 (werkzeug's threaded server), to be fetched by a hub.

    The port is known before the app exists (a site's config names its own URL):
    until ``app`` is set, every request gets 503.
    """

    def __init__(self) -> None:
        from werkzeug.serving import make_server

        super().__init__()
        self.app: Any = None
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)

    def _wsgi(self, environ: Any, start_response: Any) -> Any:
        if self.app is None:
            start_response("503 Service Unavailable", [("Content-Length", "0")])
            return [b""]
        return self.app(environ, start_response)


# --------------------------------------------------------------------------- ping server


@dataclasses.dataclass(frozen=True)
class PingCall:
    """One XML-RPC call the ping server received."""

    method: str
    params: tuple[Any, ...]
    headers: Mapping[str, str]

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


class _PingHandler(SimpleXMLRPCRequestHandler):
    server: _PingXMLRPCServer
    rpc_paths = ()  # accept any path, like ping services that live at "/"

    def do_POST(self) -> None:
        pinger = self.server.pinger
        status = pinger._next_status()
        if status is not None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self.send_response(status)
            for name, value in pinger.status_headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        pinger._local.headers = dict(self.headers.items())
        super().do_POST()


class _PingXMLRPCServer(ThreadingMixIn, SimpleXMLRPCServer):
    pinger: PingServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        _quiet_handle_error(request, client_address)


class PingServer(_ThreadedServer):
    """A weblogUpdates ping server (stdlib ``SimpleXMLRPCServer``) on 127.0.0.1.

    Records every call in ``calls``. ``extended=False`` makes it not know
    ``weblogUpdates.extendedPing``: it answers the way Python's server does for an
    unknown method (fault 1, 'method "..." is not supported'), or with
    ``unknown_fault`` if given (e.g. ``(-32601, "requested method not found")``).
    ``flerror=True`` answers ``{flerror: true, message}``; ``http_statuses``
    are answered (one per request) before any XML-RPC is spoken.
    """

    def __init__(
        self,
        *,
        extended: bool = True,
        flerror: bool = False,
        message: str = "Thanks for the ping.",
        unknown_fault: tuple[int, str] | None = None,
        http_statuses: tuple[int, ...] = (),
        status_headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.extended = extended
        self.flerror = flerror
        self.message = message
        self.unknown_fault = unknown_fault
        self.status_headers: Mapping[str, str] = status_headers or {}
        self.calls: list[PingCall] = []
        self._statuses: deque[int] = deque(http_statuses)
        self._local = threading.local()
        server = _PingXMLRPCServer(
            ("127.0.0.1", 0),
            requestHandler=_PingHandler,
            logRequests=False,
            allow_none=True,
        )
        server.pinger = self
        server.register_instance(self)  # calls go through _dispatch below
        self._server = server

    def respond_http(self, *statuses: int) -> None:
        """Answer the next requests with these bare HTTP statuses."""
        with self._lock:
            self._statuses.extend(statuses)

    def _next_status(self) -> int | None:
        with self._lock:
            return self._statuses.popleft() if self._statuses else None

    def _dispatch(self, method: str, params: tuple[Any, ...]) -> Any:
        headers: Mapping[str, str] = getattr(self._local, "headers", {})
        with self._lock:
            self.calls.append(PingCall(method, tuple(params), headers))
        known = {PING, EXTENDED} if self.extended else {PING}
        if method not in known:
            if self.unknown_fault is not None:
                raise xmlrpc.client.Fault(*self.unknown_fault)
            raise Exception(f'method "{method}" is not supported')  # as SimpleXMLRPCServer
        if method == EXTENDED and len(params) != 4 or method == PING and len(params) != 2:
            raise xmlrpc.client.Fault(-32602, f"{method}: wrong number of parameters")
        return {"flerror": self.flerror, "message": self.message}


class QuirkyPingServer(HubServer):
    """A ping server that answers canned bytes per XML-RPC method, to play servers that
    bend the spec (text booleans, faults sent with HTTP 500, Frontier's wording).

    ``answers`` maps a method name to its answer; any other method gets ``unknown``.
    ``methods`` lists the methods called, in order.
    """

    def __init__(self, answers: Mapping[str, HubResponse], unknown: HubResponse) -> None:
        super().__init__()
        self.answers = dict(answers)
        self.unknown = unknown

    def _record(self, request: HubRequest) -> HubResponse:
        _, method = xmlrpc.client.loads(request.body)
        with self._lock:
            self.requests.append(request)
        return self.answers.get(method or "", self.unknown)

    @property
    def methods(self) -> list[str]:
        with self._lock:
            return [str(xmlrpc.client.loads(r.body)[1]) for r in self.requests]


@contextmanager
def hub_and_pinger(**ping_options: Any) -> Iterator[tuple[HubServer, PingServer]]:
    """Both servers at once, for end-to-end tests."""
    with HubServer() as hub, PingServer(**ping_options) as pinger:
        yield hub, pinger
