"""Web: the WSGI hot path that serves prepared feeds, and the Flask app factory. Does I/O
(network, and the files of the live tree).

Feed hits are the hot path. ``FeedResponder`` sits in front of the Flask app, looks
``PATH_INFO`` up in the prepared documents of the current ``Site`` and answers GET and
HEAD at once, with validators, caching headers and gzip all computed when the Site was
swapped in. It answers every other request outside ``/api`` and ``/admin`` too (404, or
405 for another method on a document, with short plain-text messages); those two fall
through to the Flask app, home of the ``api`` (``api.py``) and ``admin`` (``admin.py``,
the dashboard) blueprints.

A feed requested by a browser (``Accept`` preferring text/html over every feed type and
``*/*``, see ``prefers_html``) gets a readable HTML page of the same feed instead
(``preview.render_preview``), made once per feed version and cached with its own
ETag and gzip; every other request gets the feed, byte for byte. Both carry
``Vary: Accept, Accept-Encoding``. Only an Accept value that mentions "html" is parsed.

``SiteHolder.current`` is the one place the current Site lives; a swap is a single
attribute assignment, so a request sees either the old Site or the new one, never a mix.
The Site comes from the live tree in ``output_dir`` that the service (``syndicate worker``)
keeps up to date; a ``LiveReloader`` thread in each web process stats its manifest a few
times a second and swaps in a new generation. A generation is prepared from the manifest
alone (entity-tag, media type and date are all there), so a 304 never needs a body: a
document's file and its .gz are read on the first request that needs the bytes, checked
against the manifest's entity-tag, and kept in a ``BodyCache`` within a byte budget per
process (``BODY_CACHE_BYTES``), least recently served dropped first. A read that finds a
newer file than the manifest it holds (the publisher replaces files before it writes the
manifest) swaps in the newer generation at once, or answers 503 if the tree keeps moving.
A tree removed (its manifest gone) is logged once; until a publish writes it again, the
documents in memory are served and the others answer 503 at once.
A Site built in memory (no live tree yet) keeps every body, as built.
The web app never publishes on its own and never starts the scheduler.

Light on purpose, so that each web worker process stays small: serving a live tree
takes the standard library and the light modules (``config``, ``documents``, ``live``).
Flask, ``api`` and ``admin`` are imported here only when the Flask app is made: by
``create_app`` at once, by a server worker (``app_from_env``, ``EditorsApp``) on the first
request for ``/api`` or ``/admin``. The publishing stack (``publisher``, ``posts``,
feedgen, SQLAlchemy, requests) is imported only by the editor API and the dashboard, or
to build in memory when there is no live tree yet, and lxml (``preview``) by the first
HTML page a browser asks for.
``server.run_server`` runs the app under granian (a production WSGI server) via
``app_from_env``.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import io
import ipaddress
import itertools
import json
import logging
import operator
import os
import re
import signal
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from .config import MANIFEST, Config, load_config
from .documents import Document, Site, entity_tag
from .errors import PostsFolderError
from .server import BLOCKING_THREADS, CONFIG_ENV
from .site.manifest import (
    Identity,
    LiveFile,
    LiveSite,
    ManifestMemo,
    gzip_bytes,
    manifest_identity,
    read_live,
)

if TYPE_CHECKING:
    from flask import Flask, Response
    from werkzeug.exceptions import MethodNotAllowed, NotFound

    from .publisher import Publisher

log = logging.getLogger(__name__)


#: Seconds between looks at the live tree's manifest: a stat(2) (a few microseconds, 50
#: times a second), and a published edit is served at most this long after the worker
#: wrote it, plus the time to read the new manifest (10 to 15 ms at 10,000 posts, most of
#: it parsing the JSON; entries that did not change are not made again, see ManifestMemo).
RELOAD_INTERVAL = 0.02

#: Bytes of live-tree documents (body and gzip form) a web process keeps in memory. Feed
#: readers hit a few feeds and revalidate the rest (a 304 needs no body), so a small part
#: of the tree is enough; the least recently served go first and are read again if asked.
BODY_CACHE_BYTES = 48 * 1024 * 1024

#: Tries to read a document consistent with the generation being served before a request
#: gets 503. Between tries the request swaps in a newer generation if there is one, else
#: waits up to LOAD_RETRY_WAIT seconds for one: the publisher writes the manifest last.
LOAD_ATTEMPTS = 4
LOAD_RETRY_WAIT = RELOAD_INTERVAL

ALLOWED_METHODS = ("GET", "HEAD")
#: URL paths under these belong to the Flask app (``api`` and ``admin``); every other is
#: a document of the Site, or 404.
EDITOR_PREFIXES = ("/api", "/admin")
Headers = list[tuple[str, str]]
Answer = tuple[str, Headers, bytes]  # status, headers, body
#: On every response: browsers must not guess a type other than the one sent (a feed or
#: a 404 read as HTML). A constant in each document's precomputed headers, so the hot
#: path pays nothing for it.
NOSNIFF = ("X-Content-Type-Options", "nosniff")

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

# Ticks for the body cache's LRU order: a count's next is atomic, and cheaper than a clock.
_tick = itertools.count(1).__next__
_last_used = operator.attrgetter("used")

# An entity-tag in a list (RFC 9110 8.8.3): optional weak prefix, then a quoted opaque-tag.
_ENTITY_TAG = re.compile(r'(?:W/)?("[^"]*")')

# Documents that are feeds, and so get WebSub discovery Link headers.
FEED_MEDIA_TYPES = frozenset({"application/rss+xml", "application/atom+xml"})
# Media types a feed is also served as: a request must prefer text/html over every one of
# them (and over */*) to get the readable page instead of the feed.
FEED_ACCEPT_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/xml",
    "text/xml",
    "*/*",
)
HTML_TYPE = "text/html; charset=utf-8"
# Responses that depend on Accept as well as Accept-Encoding (RFC 9110 12.5.5).
VARY_NEGOTIATED = "Accept, Accept-Encoding"
VARY_ENCODING = "Accept-Encoding"

Previewer = Callable[[Site, str], bytes]
"""Renders the HTML page of the feed at a URL path of a Site (``preview.render_preview``)."""

# Characters left as they are in a Link target: RFC 3986 reserved and unreserved, and "%".
_URI_SAFE = ":/?#[]@!$&'()*+,;=~%"


@dataclasses.dataclass(frozen=True, slots=True)
class Payload:
    """A document's bytes in both encodings, with the 200 headers that describe them."""

    document: Document  # with the body
    body: bytes
    gzip_body: bytes
    headers: Headers  # 200, identity
    gzip_headers: Headers  # 200, Content-Encoding: gzip

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzip_body)


@dataclasses.dataclass(slots=True, eq=False)
class PreparedDocument:
    """One document with its validators and every header computed up front, and its bytes
    (``payload``) once they are in memory.

    A 304 needs the validators only. ``payload`` is there from the start for a document
    built in memory; for a file of the live tree it is set on first need (``BodyCache``)
    and may be dropped again, so read it once into a local. ``used`` orders the cache's
    evictions: the tick of the last 200 served from the payload (0: none yet).
    """

    # What it was prepared from: a Document built in memory, a file of the live tree, or
    # None for an HTML page (made again by ``SiteHolder`` when its bytes were dropped).
    origin: Document | LiveFile | None
    content_type: str
    common: Headers  # every response: Last-Modified, Cache-Control, Vary, Link
    not_modified_headers: Headers  # 304 for an identity request
    gzip_not_modified_headers: Headers  # 304 for a gzip request
    etag: str  # the Document's, identity variant
    etags: frozenset[str]  # opaque-tags of both variants, for If-None-Match
    last_modified: str  # HTTP-date, as sent
    last_modified_ts: int  # whole seconds: HTTP-dates have no finer resolution
    negotiable: bool = False  # a feed that also has an HTML page for browsers
    payload: Payload | None = None
    used: int = 0

    # The payload's parts, for callers that know the bytes are in memory (a Site built
    # in memory); LookupError otherwise.

    def _loaded(self) -> Payload:
        payload = self.payload
        if payload is None:
            raise LookupError(f"document {self.etag}: its bytes are not in memory")
        return payload

    @property
    def body(self) -> bytes:
        return self._loaded().body

    @property
    def gzip_body(self) -> bytes:
        return self._loaded().gzip_body

    @property
    def headers(self) -> Headers:
        return self._loaded().headers

    @property
    def gzip_headers(self) -> Headers:
        return self._loaded().gzip_headers


@dataclasses.dataclass(frozen=True, slots=True)
class PreparedSite:
    """A Site and its documents prepared for serving, keyed by URL path."""

    site: Site
    documents: Mapping[str, PreparedDocument]


class DocumentGone(KeyError):
    """A live-tree document whose file no longer holds the version its manifest named."""


class BodyCache:
    """The bytes of live-tree documents held in memory, within a byte budget. Does I/O.

    ``load`` reads a document's file and its .gz, and keeps them only if the body is the
    version the manifest named (its entity-tag is its digest). Over budget, the documents
    served longest ago go first (LRU): serving a 200 stamps the document with the next
    tick (``used``), one attribute store and no lock, and the order is only worked out
    when something must go, which happens on a read, never on the hot path.
    """

    def __init__(self, budget: int = BODY_CACHE_BYTES) -> None:
        self.budget = budget
        self.held = 0  # bytes held now
        self.reads = 0  # documents read from the live tree
        self.read_bytes = 0  # bytes read from the live tree (bodies and .gz files)
        self.evictions = 0
        self._sizes: dict[PreparedDocument, int] = {}  # what is held, and its bytes
        self._lock = threading.Lock()

    def load(self, prepared: PreparedDocument) -> Payload | None:
        """The document's bytes, read now if need be; None if its file no longer holds
        the version ``prepared`` names (the live tree moved on, or the file is gone)."""
        origin = prepared.origin
        if not isinstance(origin, LiveFile):
            return prepared.payload  # built in memory; a dropped page is made again
        read = _read_version(origin)
        with self._lock:
            self.reads += 1
            if read is not None:
                self.read_bytes += read[2]
        if read is None:
            return None
        body, gzip_body, _ = read
        document = Document(origin.media_type, body, origin.etag, origin.last_modified, gzip_body)
        return self.admit(prepared, _payload(prepared, document, gzip_body))

    def admit(self, prepared: PreparedDocument, payload: Payload) -> Payload:
        """Keep ``payload`` as the document's bytes, within the budget; the bytes already
        kept if a racing request got there first (the same version, so the same bytes)."""
        with self._lock:
            held = prepared.payload
            if held is not None:
                return held
            prepared.payload = payload
            prepared.used = _tick()  # loaded is as good as served: the newest
            self._sizes[prepared] = payload.size
            self.held += payload.size
            self._trim()
        return payload

    def forget(self, prepared: PreparedDocument) -> None:
        """Drop a document that is no longer served (a swap replaced it)."""
        with self._lock:
            size = self._sizes.pop(prepared, None)
            if size is not None:
                prepared.payload = None
                self.held -= size

    def _trim(self) -> None:
        if self.held <= self.budget:
            return
        sizes = self._sizes
        # A sort of at most the documents held (a few hundred), on a read only.
        for prepared in sorted(sizes, key=_last_used):
            prepared.payload = None
            self.held -= sizes.pop(prepared)
            self.evictions += 1
            if self.held <= self.budget:
                return


class LiveDocuments(Mapping[str, Document]):
    """The documents of a live-tree generation, as a Site's mapping: keys and membership
    cost nothing, and looking a document up reads its file (once, then from the cache).
    Iterating over the values would read every file; callers look up the one they need."""

    def __init__(self, prepared: Mapping[str, PreparedDocument], cache: BodyCache) -> None:
        self.prepared = prepared
        self._cache = cache

    def __getitem__(self, path: str) -> Document:
        prepared = self.prepared[path]
        payload = prepared.payload or self._cache.load(prepared)
        if payload is None:
            raise DocumentGone(path)
        return payload.document

    def __contains__(self, path: object) -> bool:
        return path in self.prepared

    def __iter__(self) -> Iterator[str]:
        return iter(self.prepared)

    def __len__(self) -> int:
        return len(self.prepared)


def _read_version(file: LiveFile) -> tuple[bytes, bytes, int] | None:
    """A live-tree document's body, its gzip form and the bytes read, if the file holds
    the version the manifest named; None if it is gone or holds another version."""
    try:
        body = file.path.read_bytes()
    except OSError:
        return None  # removed by a later publish
    if entity_tag(body) != file.etag:
        return None  # replaced by a later publish, whose manifest is not read yet
    try:
        packed = file.path.with_name(file.path.name + ".gz").read_bytes()
        # Decompressing is several times cheaper than compressing again.
        if gzip.decompress(packed) == body:
            return body, packed, len(body) + len(packed)
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile):
        pass
    # Missing, or written beside another version of the body: compress it here.
    return body, gzip_bytes(body), len(body)


class SiteHolder:
    """Holds the Site being served; ``current`` is read once per request, swapped whole.
    ``cache`` holds the bytes of live-tree documents that have been read."""

    def __init__(
        self,
        site: Site | LiveSite,
        cache_max_age: int,
        site_url: str,
        hubs: Sequence[str] = (),
        preview: Previewer | None = None,
        *,
        body_cache_bytes: int = BODY_CACHE_BYTES,
    ) -> None:
        self.cache_control = f"public, max-age={cache_max_age}"
        self.site_url = site_url  # absolute, ends with "/" (config.site.url)
        self.hubs = tuple(hubs)
        # Renders a feed's page for browsers; None: feeds are never negotiated.
        self.preview = preview
        self.cache = BodyCache(body_cache_bytes)
        # Swaps in the newest generation of the live tree now, True if there was one
        # (``LiveReloader.check``): a read that found the tree moved on calls it.
        self.refresh: Callable[[], bool] | None = None
        # The live tree's manifest is gone (``LiveReloader.check`` said so): a document
        # not in memory answers 503 at once, until a publish writes the tree again.
        self.tree_gone = False
        self.retry_wait = LOAD_RETRY_WAIT
        self.current = PreparedSite(Site({}, ()), {})
        # HTML pages of feeds, by (URL path, the feed's entity-tag); made on first request.
        self.pages: dict[tuple[str, str], PreparedDocument] = {}
        self._swap_lock = threading.Lock()
        self._swapped = threading.Condition()
        self.swap(site)

    def swap(self, site: Site | LiveSite) -> None:
        """Prepare site and make it current: a Site built in memory, or a generation of
        the live tree (read lazily). Unchanged documents keep their bytes; a changed one
        whose old version was in memory and served is read at once, the rest on demand."""
        with self._swap_lock:
            old = self.current
            if isinstance(site, LiveSite):
                new = self._prepare_live(site, old)
            elif isinstance(site.documents, LiveDocuments):
                new = PreparedSite(site, site.documents.prepared)  # a live Site served before
            else:
                new = self._prepare_built(site, old)
            # One attribute assignment: requests in flight keep the PreparedSite they read.
            with self._swapped:
                self.current = new
                self._swapped.notify_all()
            kept = {id(prepared) for prepared in new.documents.values()}
            for prepared in old.documents.values():
                if id(prepared) not in kept:
                    self.cache.forget(prepared)
            # Pages of feeds that changed or went away are dropped; the rest stay valid.
            pages = {}
            for key, page in self.pages.items():
                feed = new.documents.get(key[0])
                if feed is not None and feed.etag == key[1]:
                    pages[key] = page
                else:
                    self.cache.forget(page)
            self.pages = pages

    def _prepare_built(self, site: Site, old: PreparedSite) -> PreparedSite:
        # Compress each document once: reuse the bytes when the same entity-tag and body
        # come back in the next Site (comparing bodies is far cheaper than gzip).
        gzip_cache = {
            prepared.etag: (payload.body, payload.gzip_body)
            for prepared in old.documents.values()
            if (payload := prepared.payload) is not None
        }
        documents: dict[str, PreparedDocument] = {}
        for path, doc in site.documents.items():
            prepared = old.documents.get(path)
            if prepared is not None and prepared.origin is doc and prepared.payload is not None:
                # The very same Document (a reload reuses unchanged ones): nothing to redo.
                documents[path] = prepared
                continue
            prepared = self._prepare(path, doc, doc.media_type, doc.etag, doc.last_modified)
            cached = gzip_cache.get(doc.etag)
            if cached is not None and cached[0] == doc.body:
                gzip_body = cached[1]
            elif doc.gzip_body is not None:
                gzip_body = doc.gzip_body  # the publisher's .gz, checked against the body
            else:
                gzip_body = gzip_bytes(doc.body)
            # Outside the budget: the Site holds every body anyway.
            prepared.payload = _payload(prepared, doc, gzip_body)
            documents[path] = prepared
        return PreparedSite(site, documents)

    def _prepare_live(self, live: LiveSite, old: PreparedSite) -> PreparedSite:
        documents: dict[str, PreparedDocument] = {}
        carried: list[tuple[PreparedDocument, Payload]] = []
        hot: list[PreparedDocument] = []
        for path, file in live.files.items():
            prepared = old.documents.get(path)
            if prepared is not None and (prepared.origin is file or prepared.origin == file):
                documents[path] = prepared  # the same version: headers and bytes stay
                continue
            new = self._prepare(path, file, file.media_type, file.etag, file.last_modified)
            documents[path] = new
            payload = prepared.payload if prepared is not None else None
            # Hot: its old version was read (or, built in memory, served); the rest are
            # read on demand.
            if prepared is None or payload is None or not prepared.used:
                continue
            if prepared.etag == file.etag:
                # Same bytes under new headers (a date or type changed, or the Site built
                # in memory before the live tree existed): no need to read them again.
                document = Document(
                    file.media_type, payload.body, file.etag, file.last_modified, payload.gzip_body
                )
                carried.append((new, _payload(new, document, payload.gzip_body)))
            else:
                hot.append(new)
        for new, payload in carried:
            self.cache.admit(new, payload)
        # Read now, so the first request after an edit of a busy feed finds the bytes; a
        # file already newer than this manifest is left to be read on demand.
        for new in hot:
            self.cache.load(new)
        site = Site(LiveDocuments(documents, self.cache), live.feeds, live.signatures)
        return PreparedSite(site, documents)

    def _prepare(
        self,
        path: str,
        origin: Document | LiveFile,
        media_type: str,
        etag: str,
        last_modified: datetime,
    ) -> PreparedDocument:
        negotiable = self.preview is not None and _is_feed(media_type)
        return _prepare(
            origin,
            media_type,
            etag,
            last_modified,
            self.cache_control,
            self._links(path, media_type),
            vary=VARY_NEGOTIATED if negotiable else VARY_ENCODING,
            negotiable=negotiable,
        )

    def respond(self, path: str, environ: WSGIEnvironment) -> Answer | None:
        """Answer a GET or HEAD of ``path`` when the hot path could not from memory: the
        body is to be read, or the HTML page made. None: no such document.

        A file that no longer holds the version being served means the live tree moved
        on: the newer generation is swapped in and the request answered from it; after
        ``LOAD_ATTEMPTS`` tries it gets 503, never bytes under another version's headers.
        """
        for attempt in range(LOAD_ATTEMPTS):
            current = self.current
            prepared = current.documents.get(path)
            if prepared is None:
                return None
            found = self._respond(current, path, prepared, environ)
            if found is not None:
                return found
            if self.tree_gone:
                return _unavailable(path)  # no file to wait for; said once, by the reloader
            if attempt + 1 < LOAD_ATTEMPTS:
                self._follow(current)
        log.warning("document %s: the live tree kept changing under every read; answered 503", path)
        return _unavailable(path)

    def _respond(
        self, current: PreparedSite, path: str, prepared: PreparedDocument, environ: WSGIEnvironment
    ) -> Answer | None:
        """The answer from ``current``; None if the document's file moved on."""
        if prepared.negotiable and _wants_page(environ):
            page = self.pages.get((path, prepared.etag))
            if page is not None:
                found = answer(page, environ)  # a 304 needs no page bytes
                if found is not None:
                    return found
            made = self.page(current, path, prepared)
            if made is None:
                return None
            return _answer_with(*made, environ)
        found = answer(prepared, environ)
        if found is not None:
            return found
        payload = self.cache.load(prepared)
        if payload is None:
            return None
        return _answer_with(prepared, payload, environ)

    def _follow(self, seen: PreparedSite) -> None:
        """The live tree moved on under ``seen``: swap in its newer generation now, or
        wait a little for one (the publisher replaces the files first, then the manifest)."""
        if self.current is not seen:
            return  # swapped meanwhile
        if self.refresh is not None:
            try:
                if self.refresh():
                    return
            except Exception:  # the request goes on, and gets 503 at worst
                log.exception("document read: cannot follow the live tree")
        with self._swapped:
            if self.current is seen:
                self._swapped.wait(self.retry_wait)

    def page(
        self, current: PreparedSite, path: str, feed: PreparedDocument
    ) -> tuple[PreparedDocument, Payload] | None:
        """The HTML page of the feed at ``path`` (made once per feed version) and its bytes;
        the feed itself if the page cannot be made, so a browser still gets something
        readable; None if the feed's file moved on."""
        key = (path, feed.etag)
        page = self.pages.get(key)
        if page is not None:
            payload = page.payload
            if payload is not None:
                return page, payload
        feed_payload = feed.payload or self.cache.load(feed)
        if feed_payload is None:
            return None
        assert self.preview is not None  # only negotiable documents get here
        try:
            body = self.preview(current.site, path)
        except DocumentGone:
            return None  # dropped and moved on while the page was being made
        except Exception:  # a preview must never cost a feed its availability
            log.exception("feed %s: cannot render its HTML page", path)
            return feed, feed_payload
        html = Document(HTML_TYPE, body, _html_etag(body), feed_payload.document.last_modified)
        if page is None or page.etag != html.etag:
            from .preview import content_security_policy  # see _render_preview

            extra = [("Content-Security-Policy", content_security_policy())]
            made = _prepare(
                None,
                html.media_type,
                html.etag,
                html.last_modified,
                self.cache_control,
                extra,
                vary=VARY_NEGOTIATED,
            )
            # Racing requests may both render; either result is the same page.
            page = self.pages.setdefault(key, made)
            if page.etag != made.etag:
                page = self.pages[key] = made  # not the same bytes after all: ours
        gzip_body = gzip_bytes(body)
        # Pages count against the budget too: dropped, one is made again when asked for.
        return page, self.cache.admit(page, _payload(page, html, gzip_body))

    def _links(self, path: str, media_type: str) -> Headers:
        """WebSub discovery (W3C WebSub section 4) for a feed: a Link per hub, then self."""
        if not _is_feed(media_type):
            return []
        links = [("Link", f'<{_link_target(hub)}>; rel="hub"') for hub in self.hubs]
        # The topic URL subscribers use, the same one the feed's own rel="self" names.
        self_url = self.site_url + path.lstrip("/")
        links.append(("Link", f'<{_link_target(self_url)}>; rel="self"'))
        return links


def _unavailable(path: str) -> Answer:
    # RFC 9110 10.2.3: the publish that caused it ends within a second.
    extra = [("Retry-After", "1"), ("Cache-Control", "no-store")]
    message = f"Temporarily unavailable: {path} is being republished; try again"
    return _plain_answer("503 Service Unavailable", message, extra)


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


def _html_etag(body: bytes) -> str:
    # Its own entity-tag, from its own bytes: the page is another representation of the
    # feed's resource (RFC 9110 8.8.3), and changes when the template does.
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '-html"'


def _gzip_etag(etag: str) -> str:
    # A gzip response is a different representation and needs its own entity-tag
    # (RFC 9110 8.8.3.3), else a cache could hand gzip bytes to a client that can't read them.
    return etag[:-1] + '-gzip"' if etag.endswith('"') else etag + "-gzip"


def _opaque(etag: str) -> str:
    return etag[2:] if etag.startswith("W/") else etag


def _is_feed(media_type: str) -> bool:
    return media_type.partition(";")[0].strip().lower() in FEED_MEDIA_TYPES


def _link_target(url: str) -> str:
    # A Link target is a URI-reference between "<" and ">" (RFC 8288 3.1); escape what
    # could end it early or is not ASCII, which a header value cannot carry.
    return quote(url, safe=_URI_SAFE)


def _media_type(media_type: str) -> str:
    # Feeds are XML in UTF-8; say so, so clients don't guess (RFC 7303 section 3).
    lowered = media_type.lower()
    textual = lowered.startswith("text/") or "xml" in lowered or "json" in lowered
    if textual and "charset=" not in lowered:
        return media_type + "; charset=utf-8"
    return media_type


def _prepare(
    origin: Document | LiveFile | None,
    media_type: str,
    etag: str,
    last_modified: datetime,
    cache_control: str,
    links: Sequence[tuple[str, str]],
    vary: str = VARY_ENCODING,
    negotiable: bool = False,
) -> PreparedDocument:
    """Validators and headers of a document; its bytes come later (``_payload``)."""
    gz_etag = _gzip_etag(etag)
    http_date = format_datetime(last_modified.astimezone(UTC), usegmt=True)
    # Vary: the body depends on Accept-Encoding (and, for a feed that has an HTML page,
    # on Accept), so shared caches must key on them (RFC 9110 12.5.5).
    # Link: WebSub discovery travels on every response, 304 included, since a subscriber
    # may revalidate a feed it already holds (WebSub section 4).
    common = [
        ("Last-Modified", http_date),
        ("Cache-Control", cache_control),
        ("Vary", vary),
        NOSNIFF,
        *links,
    ]
    return PreparedDocument(
        origin=origin,
        content_type=_media_type(media_type),
        common=common,
        # A 304 carries what a 200 to the same request would have: ETag, Cache-Control,
        # Vary (RFC 9110 15.4.5), and Last-Modified so caches can refresh it (RFC 9111 4.3.4).
        not_modified_headers=[("ETag", etag), *common],
        gzip_not_modified_headers=[("ETag", gz_etag), *common],
        etag=etag,
        etags=frozenset({_opaque(etag), _opaque(gz_etag)}),
        last_modified=http_date,
        last_modified_ts=int(last_modified.timestamp()),
        negotiable=negotiable,
    )


def _payload(prepared: PreparedDocument, document: Document, gzip_body: bytes) -> Payload:
    """The bytes of a prepared document, with the 200 headers (Content-Length) they need."""
    return Payload(
        document=document,
        body=document.body,
        gzip_body=gzip_body,
        headers=[
            ("Content-Type", prepared.content_type),
            ("Content-Length", str(len(document.body))),
            ("ETag", prepared.etag),
            *prepared.common,
        ],
        gzip_headers=[
            ("Content-Type", prepared.content_type),
            ("Content-Length", str(len(gzip_body))),
            ("Content-Encoding", "gzip"),
            ("ETag", _gzip_etag(prepared.etag)),
            *prepared.common,
        ],
    )


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


def _wants_page(environ: WSGIEnvironment) -> bool:
    accept = environ.get("HTTP_ACCEPT")
    # Feed readers seldom mention HTML: their requests skip parsing altogether.
    return accept is not None and ("html" in accept or "HTML" in accept) and prefers_html(accept)


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


def _answer_with(prepared: PreparedDocument, payload: Payload, environ: WSGIEnvironment) -> Answer:
    """``answer``, with the bytes just read (they may be dropped from ``prepared`` already)."""
    found = answer(prepared, environ)
    if found is not None:
        return found
    if accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING", "")):
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


class FeedResponder:
    """WSGI middleware: answers GET/HEAD for known documents and 404 or 405 for any other
    request outside ``EDITOR_PREFIXES``; passes those to ``app`` (the editor API and the
    dashboard), so serving feeds never needs the Flask app, with their bodies read
    (bounded) by a ``BodyGate`` first."""

    def __init__(self, holder: SiteHolder, app: WSGIApplication) -> None:
        self.holder = holder
        self.app = app
        self.bodies = BodyGate()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        if method == "GET" or method == "HEAD":
            holder = self.holder
            path = environ.get("PATH_INFO", "")
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
        status, headers, body = _refusal(method, path, self.holder.current.documents)
        start_response(status, headers)
        return [body] if method != "HEAD" else []


@dataclasses.dataclass(frozen=True)
class Services:
    """What the app needs, kept in ``app.extensions["syndicate"]``."""

    config: Config
    publisher: Publisher | None  # None: the editors' API opens one when first asked
    holder: SiteHolder
    reloader: LiveReloader | None = None  # None: the live tree is not followed on its own


def services() -> Services:
    """The current app's services."""
    from flask import current_app

    found: Services = current_app.extensions["syndicate"]
    return found


def _plain(answer: Answer) -> Response:
    from flask import Response

    status, headers, body = answer
    return Response(body, status=status, headers=headers)


def _not_found(error: NotFound) -> Response:
    from flask import request

    return _plain(_no_such_feed(request.path))


def _method_not_allowed(error: MethodNotAllowed) -> Response:
    # Under the editors' prefixes: a route that allows other methods, which is no
    # document, so 404 (there is no resource to allow anything on).
    from flask import request

    return _plain(_refusal(request.method, request.path, services().holder.current.documents))


def create_app(
    config: Config,
    publisher: Publisher | None = None,
    *,
    reload_interval: float | None = RELOAD_INTERVAL,
    body_cache_bytes: int = BODY_CACHE_BYTES,
) -> Flask:
    """The Flask app serving the live tree, with the feed hot path in front.

    The Site is read from ``config.output_dir``, its manifest at once and each document's
    file when first needed, keeping at most ``body_cache_bytes`` of them in memory; until
    a worker has written it (a web tier started first), the posts are built in memory,
    with the entry ids and slugs of the store if it exists, recording nothing. A
    ``LiveReloader`` then follows the live tree every ``reload_interval`` seconds (None:
    only when a read finds a file newer than the manifest, since the old version is
    gone). The scheduler is never started here:
    ``serve`` and ``worker`` do that.

    Serving a live tree imports none of the publishing stack (publisher, posts, feedgen,
    lxml, SQLAlchemy, requests): it is imported when a request needs it (a feed's HTML
    page, the editor API, the dashboard), or here when there is no live tree to serve.
    ``publisher`` is used for that build and by the editors' API (which opens one with a
    store when it has none).
    """
    found = _services(config, publisher, reload_interval, body_cache_bytes)
    app = _editors_app(found)
    # Wrapping wsgi_app (not the app) keeps app.test_client() on the real hot path.
    app.wsgi_app = FeedResponder(found.holder, app.wsgi_app)  # type: ignore[method-assign]
    return app


def _services(
    config: Config,
    publisher: Publisher | None = None,
    reload_interval: float | None = RELOAD_INTERVAL,
    body_cache_bytes: int = BODY_CACHE_BYTES,
) -> Services:
    """The live tree's Site, in a SiteHolder that a LiveReloader keeps current."""
    stamp = manifest_identity(config.output_dir)  # before reading: a publish meanwhile is seen next
    memo = ManifestMemo()
    live = read_live(config.output_dir, memo)
    site: Site | LiveSite
    if live is not None:
        site = live
    else:
        if publisher is None:
            # Only here does a web worker import the publishing stack: serving a live
            # tree needs none of it (see _render_preview, and api and admin).
            from .publisher import Publisher

            publisher = Publisher(config)
        try:
            site = _build_in_memory(publisher)
        except PostsFolderError as exc:
            # No live tree and no posts to make one from: nothing is served (404) until
            # a worker publishes, rather than feeds emptied by a missing folder.
            log.error("%s; nothing is served until a publish writes %s", exc, config.output_dir)
            site = Site(documents={}, feeds=())
    holder = SiteHolder(
        site,
        cache_max_age=config.serve.cache_max_age,
        site_url=config.site.url,
        hubs=config.websub.hubs,
        preview=functools.partial(_render_preview, config=config),
        body_cache_bytes=body_cache_bytes,
    )
    reloader = LiveReloader(
        config.output_dir, holder, live.generation if live is not None else None, stamp, memo
    )
    holder.refresh = reloader.check
    if reload_interval is not None:
        reloader.start(reload_interval)
    return Services(
        config=config,
        publisher=publisher,
        holder=holder,
        reloader=reloader if reload_interval is not None else None,
    )


def _build_in_memory(publisher: Publisher) -> Site:
    """The Site built from the posts, with the entry ids and slugs of the store if there
    is one (read only, as ``build``): until a worker writes the live tree, a feed URL
    must not serve another name's feed than the one the service published there."""
    if publisher.store is not None:
        return publisher.build().site
    from .errors import StoreError
    from .publisher import Publisher, existing_store

    try:
        store = existing_store(publisher.config)
    except StoreError as exc:
        log.warning("%s; built in memory without the store's entry ids and slugs", exc)
        store = None
    if store is None:
        return publisher.build().site  # a first start: the ids and slugs of a first build
    try:
        reader = Publisher(publisher.config, publisher.clock, store, cache=publisher.cache)
        return reader.build().site
    finally:
        store.close()


def _editors_app(found: Services) -> Flask:
    """The Flask app: the editor API (``api`` blueprint) and the dashboard (``admin``),
    both off unless SYNDICATE_EDITOR_TOKEN is set, with plain-text 404 and 405."""
    from flask import Flask
    from werkzeug.exceptions import MethodNotAllowed, NotFound

    from .admin import init_admin
    from .api import init_api

    # No static folder: every URL path outside the editors' belongs to the Site.
    app = Flask(__name__, static_folder=None)
    # BodyGate in front has read the body within these already; Flask's own limits hold
    # them for a request that reaches the app some other way.
    app.config["MAX_CONTENT_LENGTH"] = API_BODY_BYTES
    app.config["MAX_FORM_MEMORY_SIZE"] = FORM_BODY_BYTES
    app.extensions["syndicate"] = found
    editors = init_api(app, found.config, found.publisher)
    init_admin(app, editors)
    app.register_error_handler(NotFound, _not_found)
    app.register_error_handler(MethodNotAllowed, _method_not_allowed)
    app.after_request(_nosniff)
    return app


def _nosniff(response: Response) -> Response:
    # Every answer of the editors' app too (JSON, pages, errors): see NOSNIFF.
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


class EditorsApp:
    """A server worker's Flask app, made on the first request for it: a web worker that
    only serves feeds never imports Flask, the editor API or the dashboard."""

    def __init__(self, found: Services) -> None:
        self.services = found
        self._app: Flask | None = None
        self._lock = threading.Lock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        app = self._app
        if app is None:
            with self._lock:
                if self._app is None:
                    self._app = _editors_app(self.services)
                app = self._app
        return app(environ, start_response)


def _render_preview(site: Site, path: str, config: Config) -> bytes:
    """``preview.render_preview``, imported when a browser first asks for a page: it
    parses feeds with lxml, which a web worker serving feed readers never loads."""
    from .preview import render_preview

    return render_preview(site, path, config)


def app_from_env() -> WSGIApplication:
    """App factory for server workers: the config path comes from ``SYNDICATE_CONFIG``.

    The same as ``create_app``, except that the Flask app behind the feeds is made when
    a request for the editor API or the dashboard first comes (``EditorsApp``).
    """
    from .supervise import die_with_parent

    # Like the scheduler worker, a web worker must not outlive a serve killed outright:
    # it would hold the port and serve a tree nobody updates. SIGKILL, as it has no state
    # to save, and granian's worker, sent SIGTERM without its main process, stops
    # accepting connections but never exits.
    die_with_parent(signal.SIGKILL)
    found = _services(load_config(os.environ[CONFIG_ENV]))
    return FeedResponder(found.holder, EditorsApp(found))


# --------------------------------------------------------------------------- live reload


class LiveReloader:
    """Keeps a SiteHolder on the newest generation of a live tree.

    ``check()`` stats the manifest and, when it changed and names a new generation,
    reads that manifest and swaps the generation in (unchanged documents keep their
    bytes). A manifest gone (the tree removed) is logged once, and the next one is
    swapped in whatever generation it names. ``start()`` calls it from a daemon thread
    every ``interval`` seconds; the thread ends with ``stop()``, or once the reloader
    (that is, its app) is garbage. A request whose read found the tree moved on calls
    it too, so it is locked.
    """

    def __init__(
        self,
        out_dir: Path,
        holder: SiteHolder,
        generation: int | None,
        stamp: Identity | None,
        memo: ManifestMemo | None = None,
    ) -> None:
        self.out_dir = out_dir
        self.holder = holder
        self.generation = generation
        self._stamp = stamp
        self._memo = memo if memo is not None else ManifestMemo()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> bool:
        """Look once; True if a new generation was swapped in."""
        with self._lock:
            stamp = manifest_identity(self.out_dir)
            if stamp == self._stamp:
                return False
            if stamp is None:
                # Removed (rm -rf of the output folder): said once, and the next manifest
                # is taken whatever its generation (an older publisher may count from 1
                # again). Meanwhile the bytes in memory are served (the generation last
                # published, under its own validators), and the rest answer 503.
                log.warning(
                    "live tree %s: gone (no %s); serving generation %s from memory until"
                    " a publish writes it again",
                    self.out_dir,
                    MANIFEST,
                    self.generation,
                )
                self._stamp = None
                self.generation = None
                self.holder.tree_gone = True
                return False
            # Remembered even if this manifest cannot be read: a broken one is replaced
            # by the next publish, which is read then.
            self._stamp = stamp
            started = time.perf_counter()
            live = read_live(self.out_dir, self._memo)
            if live is None:
                return False
            if live.generation is not None and live.generation == self.generation:
                return False
            self.holder.swap(live)
            self.holder.tree_gone = False
            # With the time from seeing the manifest to serving it: the part of an edit's
            # latency that is this process's (reading it, and the changed documents in use).
            log.info(
                "live tree %s: generation %s swapped in (%.0f ms after it was seen)",
                self.out_dir,
                live.generation,
                1000 * (time.perf_counter() - started),
            )
            self.generation = live.generation
            return True

    def start(self, interval: float) -> None:
        """Look every ``interval`` seconds from a daemon thread."""
        if self._thread is not None:
            return
        # The thread holds only a weak reference, so an app that is dropped (tests make
        # many) takes its thread with it instead of leaving it polling forever.
        self._thread = threading.Thread(
            target=_follow,
            args=(weakref.ref(self), self._stop, interval),
            name=f"syndicate-reload {self.out_dir}",
            daemon=True,
        )
        weakref.finalize(self, self._stop.set)
        self._thread.start()

    def stop(self) -> None:
        """Stop looking and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def _follow(ref: weakref.ref[LiveReloader], stop: threading.Event, interval: float) -> None:
    while not stop.wait(interval):
        reloader = ref()
        if reloader is None:
            return
        try:
            reloader.check()
        except Exception:  # the web process must go on serving the Site it has
            log.exception("live tree %s: reload failed", reloader.out_dir)
        del reloader
