"""The WSGI front of the web tier, the hot path. Does I/O (the request, and an editor's
request body).

``FeedResponder`` sits in front of the Flask app, looks ``PATH_INFO`` up in the prepared
documents of the current Site and answers GET and HEAD at once (``answer``), with
validators, caching headers and gzip all computed when the Site was swapped in. It answers
every other request outside ``/api`` and ``/admin`` too (404, or 405 for another method
on a document, with short plain-text messages); those two fall through to the Flask app,
their bodies read first, bounded, by a ``BodyGate``. What needs bytes read or a page made
goes to the holder (``holder.SiteHolder.respond``). An old feed URL of the config's
``redirects:`` gets a 301 to its feed instead of a 404 (``redirects.Redirects``).
"""

from __future__ import annotations

import functools
import io
import ipaddress
import json
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from ..redirects import REDIRECT_CACHE_CONTROL, Redirects
from ..service.server import BLOCKING_THREADS
from .prepared import NOSNIFF, Headers, PreparedDocument, PreparedSite, _tick

if TYPE_CHECKING:
    pass


# The name the web tier's log lines have always carried (operators filter on it).
log = logging.getLogger("syndicate.web")


ALLOWED_METHODS = ("GET", "HEAD")
#: URL paths under these belong to the Flask app (``api`` and ``admin``); every other is
#: a document of the Site, or 404.
EDITOR_PREFIXES = ("/api", "/admin")
Answer = tuple[str, Headers, bytes]  # status, headers, body
#: Largest request body the dashboard's forms may send (sign-in, CSRF token, a button),
#: and the editor API (``{"force": true}``); past them, 413 before a byte is read.
FORM_BODY_BYTES = 8 * 1024
API_BODY_BYTES = 64 * 1024
#: Requests of a web worker that may wait for their bodies at once; the next get 503.
#: Fewer than granian's threads, so feeds always find one free (``BodyGate``).
BODY_WAITERS = max(1, BLOCKING_THREADS - 2)
#: Of those, how many one client address may hold (an IPv6 client: its /64). A stalled
#: body has no timeout in granian 2.8, so without this one address could hold them all
#: and shut every editor out of the dashboard (the feeds stay free either way).
BODY_WAITERS_PER_ADDRESS = 1

# An entity-tag in a list (RFC 9110 8.8.3): optional weak prefix, then a quoted opaque-tag.
_ENTITY_TAG = re.compile(r'(?:W/)?("[^"]*")')

# Media types a feed is also served as: a request must prefer text/html over every one of
# them (and over */*) to get the readable page instead of the feed.
FEED_ACCEPT_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/xml",
    "text/xml",
    "*/*",
)


def _plain_answer(status: str, message: str, extra: Headers | None = None) -> Answer:
    """A short plain-text answer: the message and a newline."""
    body = (message + "\n").encode()
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        NOSNIFF,
    ]
    return status, [*headers, *(extra or [])], body


# Control characters (C0, DEL, C1) and the line and paragraph separators: shown
# percent-encoded, as in a URL, so that a 404 never echoes a NUL or a line break.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _no_such_feed(path: str) -> Answer:
    shown = _UNPRINTABLE.sub(lambda m: quote(m.group(), safe=""), path)
    return _plain_answer("404 Not Found", f"No such feed: {shown}")


def _moved_to(location: str) -> Answer:
    """301 to ``location`` (absolute): a feed reader moves the subscription there
    (RFC 9110 15.4.2); a short body for a person, cached for ``REDIRECT_MAX_AGE``."""
    extra = [("Location", location), ("Cache-Control", REDIRECT_CACHE_CONTROL)]
    return _plain_answer("301 Moved Permanently", f"Moved to {location}", extra)


def _refusal(method: str, path: str, documents: Mapping[str, PreparedDocument]) -> Answer:
    """404 for a path that is no document; 405 for a method other than GET and HEAD on one."""
    if method in ALLOWED_METHODS or path not in documents:
        return _no_such_feed(path)
    allow = ", ".join(ALLOWED_METHODS)
    # 405 must list the methods the resource supports (RFC 9110 15.5.6).
    message = f"Method {method} not allowed; use {allow}"
    return _plain_answer("405 Method Not Allowed", message, [("Allow", allow)])


def _request_path(environ: WSGIEnvironment) -> str:
    """The path asked for, as Flask's ``request.path`` has it: WSGI hands PATH_INFO over
    as latin-1 (PEP 3333), which holds the URL's UTF-8 bytes."""
    raw: str = environ.get("PATH_INFO", "")
    return "/" + raw.encode("latin-1").decode("utf-8", "replace").lstrip("/")


def _for_editors(path: str) -> bool:
    """Whether a path is the editor API's or the dashboard's (the Flask app's)."""
    return any(path == prefix or path.startswith(prefix + "/") for prefix in EDITOR_PREFIXES)


def _weighted(header: str) -> list[tuple[str, float]]:
    """The lower-cased items of a list header with their q-values (RFC 9110 12.4.2)."""
    items = []
    for item in header.split(","):
        value, _, params = item.partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, weight = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(weight.strip())
                except ValueError:
                    q = 0.0  # a malformed weight is not a preference
        items.append((value.strip().lower(), q))
    return items


@functools.lru_cache(maxsize=256)
def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding value allows gzip (RFC 9110 12.5.3); ``q=0`` means no."""
    gzip_q: float | None = None
    star_q: float | None = None
    for coding, q in _weighted(accept_encoding):
        # x-gzip is the same coding (RFC 9110 8.4.1.3).
        if coding in ("gzip", "x-gzip"):
            gzip_q = q if gzip_q is None else max(gzip_q, q)
        elif coding == "*":
            star_q = q
    if gzip_q is not None:
        return gzip_q > 0
    # "*" matches any coding not listed explicitly.
    return star_q is not None and star_q > 0


@functools.lru_cache(maxsize=256)
def prefers_html(accept: str) -> bool:
    """Whether an Accept value prefers text/html over every feed type and ``*/*``.

    Each type gets the q of the most specific media range that matches it (RFC 9110
    12.5.1); HTML wins only with a strictly higher q, so a tie (``*/*``, or a feed
    reader listing text/html beside its feed types) keeps the feed.
    """
    ranges: list[tuple[str, str, float]] = []
    for media, q in _weighted(accept):
        kind, _, subtype = media.partition("/")
        if kind:
            ranges.append((kind, subtype.strip(), q))

    def quality(media_type: str) -> float:
        kind, _, subtype = media_type.partition("/")
        best, found = -1, 0.0
        for range_kind, range_subtype, q in ranges:
            if range_kind == kind and range_subtype == subtype:
                rank = 2
            elif range_kind == kind and range_subtype == "*":
                rank = 1
            elif range_kind == "*" and range_subtype == "*":
                rank = 0
            else:
                continue
            if rank > best:
                best, found = rank, q
        return found

    html = quality("text/html")
    return html > 0 and all(html > quality(t) for t in FEED_ACCEPT_TYPES)


def _none_match(header: str, etags: frozenset[str]) -> bool:
    """If-None-Match: true when a listed tag matches (weak comparison, RFC 9110 13.1.2)."""
    if header.strip() == "*":
        # "*" matches any current representation, and there always is one here.
        return True
    return any(m.group(1) in etags for m in _ENTITY_TAG.finditer(header))


def _not_modified_since(header: str, prepared: PreparedDocument) -> bool:
    """If-Modified-Since (RFC 9110 13.1.3): unchanged since the given HTTP-date?"""
    if header == prepared.last_modified:
        return True  # the common case: the client echoes our Last-Modified
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return False  # an invalid date is ignored (RFC 9110 13.1.3)
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)  # HTTP-dates are always GMT
    return prepared.last_modified_ts <= since.timestamp()


def answer(prepared: PreparedDocument, environ: WSGIEnvironment) -> Answer | None:
    """Decide a GET's status, headers and body from precomputed values; no I/O. None when
    the answer is a 200 and the bytes are not in memory (``SiteHolder.respond`` reads them)."""
    use_gzip = accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING", ""))
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None:
        # If-None-Match wins; If-Modified-Since is then ignored (RFC 9110 13.2.2).
        not_modified = _none_match(if_none_match, prepared.etags)
    else:
        if_modified_since = environ.get("HTTP_IF_MODIFIED_SINCE")
        not_modified = if_modified_since is not None and _not_modified_since(
            if_modified_since, prepared
        )
    if not_modified:
        headers = prepared.gzip_not_modified_headers if use_gzip else prepared.not_modified_headers
        return "304 Not Modified", headers, b""
    payload = prepared.payload
    if payload is None:
        return None
    prepared.used = _tick()  # for the cache's LRU: no lock, no bookkeeping here
    if use_gzip:
        return "200 OK", payload.gzip_headers, payload.gzip_body
    return "200 OK", payload.headers, payload.body


class BodyGate:
    """Reads the bodies of the editors' requests, bounded in size and in number, before
    the Flask app sees them.

    granian calls the app on one of a few threads per web worker
    (``server.BLOCKING_THREADS``), and its ``wsgi.input`` waits for the client with no
    timeout (granian 2.8 has one for the headers only). A client that sends headers and
    then stalls holds its thread for as long as it likes: five of them took every thread
    and the feeds waited. So at most ``waiters`` requests of a worker read a body at
    once, and the next ones get 503 at once: the other threads stay free for feeds. One
    client address may hold ``per_address`` of those slots, so that one stranger's
    stalled bodies cannot keep the editors out either.
    A body larger than its limit, by its Content-Length, is 413 and never read; one
    without a length (chunked) is 411. What is read is at most the limit, in memory.
    """

    def __init__(
        self, waiters: int = BODY_WAITERS, per_address: int = BODY_WAITERS_PER_ADDRESS
    ) -> None:
        self._waiters = threading.BoundedSemaphore(waiters)
        self._per_address = per_address
        self._lock = threading.Lock()
        self._reading: dict[str, int] = {}  # client address -> bodies it is sending now

    def refusal(self, path: str, environ: WSGIEnvironment) -> Answer | None:
        """None when the request has no body or its body is now read into memory (and
        ``wsgi.input`` replaced by it); else the answer to give instead."""
        declared = environ.get("CONTENT_LENGTH", "")
        api = path == "/api" or path.startswith("/api/")
        if not declared:
            if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
                return _body_refusal(
                    api, "411 Length Required", "Send the body with a Content-Length."
                )
            return None  # no body (RFC 9112 6.3: neither header means none)
        limit = API_BODY_BYTES if api else FORM_BODY_BYTES
        length = int(declared) if declared.isdigit() else -1
        if length < 0:
            return _body_refusal(api, "400 Bad Request", "Content-Length is not a number.")
        if length > limit:
            message = f"The body is {length} bytes; at most {limit} are read here."
            return _body_refusal(api, "413 Content Too Large", message)
        if length == 0:
            return None
        client = _client_key(environ.get("REMOTE_ADDR", ""))
        if not self._enter(client):
            message = "Too many requests are sending their bodies; try again in a few seconds."
            return _body_refusal(api, "503 Service Unavailable", message, [("Retry-After", "5")])
        try:
            body = _read_body(environ["wsgi.input"], length)
        finally:
            self._leave(client)
        if len(body) < length:
            message = "The body ended before its Content-Length."
            return _body_refusal(api, "400 Bad Request", message)
        environ["wsgi.input"] = io.BytesIO(body)
        return None

    def _enter(self, client: str) -> bool:
        """Take a reader's slot for ``client``, if it has one left and a slot is free."""
        with self._lock:
            held = self._reading.get(client, 0)
            if held >= self._per_address or not self._waiters.acquire(blocking=False):
                return False
            self._reading[client] = held + 1
            return True

    def _leave(self, client: str) -> None:
        with self._lock:
            held = self._reading.pop(client) - 1
            if held:
                self._reading[client] = held
            self._waiters.release()


def _client_key(address: str) -> str:
    """Whom a body slot is counted against: the IPv4 address, or the /64 of an IPv6 one
    (a single host is commonly handed a whole /64)."""
    if ":" not in address:
        return address
    try:
        return str(ipaddress.IPv6Network((address.split("%", 1)[0], 64), strict=False))
    except ValueError:
        return address


def _body_refusal(api: bool, status: str, message: str, extra: Headers | None = None) -> Answer:
    """A request refused for its body: JSON under /api, as the API's other errors
    (``{"error", "message"}``), plain text for the dashboard; never cached."""
    headers = [("Cache-Control", "no-store"), *(extra or [])]
    if not api:
        return _plain_answer(status, message, headers)
    data = {"error": status.split(" ", 1)[1], "message": message}
    body = (json.dumps(data, indent=2) + "\n").encode()
    content = [("Content-Type", "application/json; charset=utf-8")]
    return status, [*content, ("Content-Length", str(len(body))), *headers], body


def _read_body(stream: io.BufferedReader, length: int) -> bytes:
    """Up to ``length`` bytes of ``stream``: fewer if the client went first."""
    chunks: list[bytes] = []
    got = 0
    try:
        while got < length:
            chunk = stream.read(length - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
    except OSError as exc:  # the client went
        log.info("request body: the client went after %d of %d bytes (%s)", got, length, exc)
    return b"".join(chunks)


class Holder(Protocol):
    """What the hot path reads of the Site being served (``holder.SiteHolder``): read
    once per request, so a swap is never seen half done."""

    @property
    def current(self) -> PreparedSite: ...

    @property
    def pages(self) -> Mapping[tuple[str, str], PreparedDocument]: ...

    def respond(self, path: str, environ: WSGIEnvironment) -> Answer | None:
        """Answer from the bytes read now or the page made now; None: no such document."""
        ...


class FeedResponder:
    """WSGI middleware: answers GET/HEAD for known documents and 404 or 405 for any other
    request outside ``EDITOR_PREFIXES``; passes those to ``app`` (the editor API and the
    dashboard), so serving feeds never needs the Flask app, with their bodies read
    (bounded) by a ``BodyGate`` first. With ``redirects``, an old feed URL that is no
    document of the Site (or is one, with an old URL's query) gets a 301 instead of 404."""

    def __init__(
        self, holder: Holder, app: WSGIApplication, redirects: Redirects | None = None
    ) -> None:
        self.holder = holder
        self.app = app
        self.bodies = BodyGate()
        self.redirects = redirects
        # Paths that are old URLs with a query (/ for WordPress's /?feed=rss2): the one
        # set lookup redirects cost a feed request (an empty set without them).
        self.queried = redirects.queried if redirects is not None else frozenset()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        if method == "GET" or method == "HEAD":
            holder = self.holder
            path = environ.get("PATH_INFO", "")
            if path in self.queried and environ.get("QUERY_STRING"):
                moved = self._moved(_request_path(environ), environ, queries_only=True)
                if moved is not None:
                    start_response(moved[0], moved[1])
                    return [moved[2]] if method == "GET" else []
            prepared: PreparedDocument | None = holder.current.documents.get(path)
            if prepared is not None:
                if prepared.negotiable:
                    # Inlined _wants_page: feed readers seldom mention HTML, so their
                    # requests cost a substring test and never reach the parser.
                    accept = environ.get("HTTP_ACCEPT")
                    if (
                        accept is not None
                        and ("html" in accept or "HTML" in accept)
                        and prefers_html(accept)
                    ):
                        # The page of this version of the feed, if it was made already.
                        prepared = holder.pages.get((path, prepared.etag))
                found = answer(prepared, environ) if prepared is not None else None
                if found is None:
                    # Bytes to read or a page to make first: the slow way, which also
                    # follows the live tree if it moved on (and the document went away).
                    found = holder.respond(path, environ)
                if found is not None:
                    status, headers, body = found
                    # A copy: some servers append to the list (Date, Server), and ours is
                    # shared.
                    start_response(status, list(headers))
                    # HEAD: the same headers, Content-Length included, and no content
                    # (RFC 9110 9.3.2).
                    return [body] if method == "GET" and body else []
        path = _request_path(environ)
        if _for_editors(path):
            refused = self.bodies.refusal(path, environ)
            if refused is not None:
                status, headers, body = refused
                start_response(status, headers)
                return [body] if method != "HEAD" else []
            return self.app(environ, start_response)
        if self.redirects is not None and (method == "GET" or method == "HEAD"):
            moved = self._moved(path, environ)
            if moved is not None:
                start_response(moved[0], moved[1])
                return [moved[2]] if method == "GET" else []
        status, headers, body = _refusal(method, path, self.holder.current.documents)
        start_response(status, headers)
        return [body] if method != "HEAD" else []

    def _moved(
        self, path: str, environ: WSGIEnvironment, queries_only: bool = False
    ) -> Answer | None:
        """The 301 for an old URL of ``redirects`` (``path`` decoded), if its feed is
        served now; None otherwise."""
        assert self.redirects is not None
        current = self.holder.current
        query = environ.get("QUERY_STRING", "")
        found = self.redirects.target(
            path, query, current.documents, current.site.feeds, queries_only
        )
        return _moved_to(self.redirects.location(found)) if found is not None else None
