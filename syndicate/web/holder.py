"""The Site being served and how it stays current. Does I/O (the live tree's files and
manifest).

``SiteHolder.current`` is the one place the current Site lives; a swap is a single
attribute assignment, so a request sees either the old Site or the new one, never a mix.
A generation of the live tree is prepared from its manifest alone
(``site.manifest.read_live``), so a 304 never needs a body; a document's file and its
.gz are read on the first request that needs the bytes and kept in a ``BodyCache`` (an
LRU within a byte budget). A
``LiveReloader`` thread stats the manifest a few times a second and swaps in a new
generation. HTML pages of feeds for browsers are made here too, once per feed version.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import operator
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote
from wsgiref.types import WSGIEnvironment

from ..config import MANIFEST
from ..documents import Document, Site, absolute_url, entity_tag
from ..site.manifest import (
    Identity,
    LiveSite,
    ManifestMemo,
    StoredDocument,
    gzip_bytes,
    gzip_document,
    manifest_identity,
    read_live,
)
from .hotpath import Answer, _plain_answer, accepts_gzip, answer, prefers_html
from .prepared import (
    VARY_ENCODING,
    VARY_NEGOTIATED,
    Headers,
    Payload,
    PreparedDocument,
    PreparedSite,
    _payload,
    _prepare,
    _tick,
)

if TYPE_CHECKING:
    pass


# The name the web tier's log lines have always carried (operators filter on it).
log = logging.getLogger("syndicate.web")


#: Seconds between looks at the live tree's manifest: a stat(2) each time, which is cheap,
#: and a published edit is served at most this long after the worker wrote it, plus the
#: time to read the new manifest (most of it parsing the JSON; entries that did not change
#: are not made again, see ManifestMemo; the time it takes is in bench/RESULTS.md).
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

_last_used = operator.attrgetter("used")

# Documents that are feeds, and so get WebSub discovery Link headers.
FEED_MEDIA_TYPES = frozenset(
    {"application/rss+xml", "application/atom+xml", "application/feed+json"}
)
# Of those, the feeds a browser asking for HTML gets the readable page of (``preview``
# reads XML); a JSON Feed is served as it is, which browsers show as JSON.
PAGE_MEDIA_TYPES = frozenset({"application/rss+xml", "application/atom+xml"})
HTML_TYPE = "text/html; charset=utf-8"
Previewer = Callable[[Site, str], bytes]
"""Renders the HTML page of the feed at a URL path of a Site (``preview.render_preview``)."""

# Characters left as they are in a Link target: RFC 3986 reserved and unreserved, and "%".
_URI_SAFE = ":/?#[]@!$&'()*+,;=~%"


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
        if not isinstance(origin, StoredDocument):
            return prepared.payload  # built in memory; a dropped page is made again
        read = _read_version(origin)
        with self._lock:
            self.reads += 1
            if read is not None:
                self.read_bytes += read[2]
        if read is None:
            return None
        body, gzip_body, _ = read
        document = Document(origin.media_type, body, origin.etag, origin.last_modified)
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


def _read_version(file: StoredDocument) -> tuple[bytes, bytes, int] | None:
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
        site: Site,
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
        # A jekyll-feed URL -> the Atom feed whose bytes it serves (``FeedInfo.aliases``).
        self._canonical: dict[str, str] = {}
        self.swap(site)

    def swap(self, site: Site) -> None:
        """Prepare site and make it current: a Site built in memory, or a generation of
        the live tree (read lazily). Unchanged documents keep their bytes; a changed one
        whose old version was in memory and served is read at once, the rest on demand."""
        with self._swap_lock:
            old = self.current
            self._canonical = {
                alias: info.atom_path for info in site.feeds for alias in info.aliases
            }
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
            else:
                gzip_body = gzip_document(doc)
            # Outside the budget: the Site holds every body anyway.
            prepared.payload = _payload(prepared, doc, gzip_body)
            documents[path] = prepared
        return PreparedSite(site, documents)

    def _prepare_live(self, live: LiveSite, old: PreparedSite) -> PreparedSite:
        documents: dict[str, PreparedDocument] = {}
        carried: list[tuple[PreparedDocument, Payload]] = []
        hot: list[PreparedDocument] = []
        for path, file in live.documents.items():
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
                document = Document(file.media_type, payload.body, file.etag, file.last_modified)
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
        origin: Document,
        media_type: str,
        etag: str,
        last_modified: datetime,
    ) -> PreparedDocument:
        negotiable = self.preview is not None and _has_page(media_type)
        return _prepare(
            origin,
            media_type,
            etag,
            last_modified,
            self._cache_control(origin),
            self._links(path, media_type),
            vary=VARY_NEGOTIATED if negotiable else VARY_ENCODING,
            negotiable=negotiable,
        )

    def _cache_control(self, document: Document) -> str:
        # A full archive page keeps its entries: it says for how long caches may keep it.
        if document.max_age is not None:
            return f"public, max-age={document.max_age}"
        return self.cache_control

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

            # The feed's discovery too (self = the feed's URL, not the page's): a subscriber
            # that opens the feed's URL in a browser-like client must find its hub.
            extra = [
                ("Content-Security-Policy", content_security_policy()),
                *self._links(path, feed.content_type),
            ]
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
        # The topic URL subscribers use, the same one the feed's own rel="self" names (a
        # jekyll-feed URL serves the Atom feed's bytes, which name the Atom feed).
        self_url = absolute_url(self.site_url, self._canonical.get(path, path))
        links.append(("Link", f'<{_link_target(self_url)}>; rel="self"'))
        return links


def _unavailable(path: str) -> Answer:
    # RFC 9110 10.2.3: the publish that caused it ends within a second.
    extra = [("Retry-After", "1"), ("Cache-Control", "no-store")]
    message = f"Temporarily unavailable: {path} is being republished; try again"
    return _plain_answer("503 Service Unavailable", message, extra)


def _html_etag(body: bytes) -> str:
    # Its own entity-tag, from its own bytes: the page is another representation of the
    # feed's resource (RFC 9110 8.8.3), and changes when the template does.
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '-html"'


def _is_feed(media_type: str) -> bool:
    return media_type.partition(";")[0].strip().lower() in FEED_MEDIA_TYPES


def _has_page(media_type: str) -> bool:
    return media_type.partition(";")[0].strip().lower() in PAGE_MEDIA_TYPES


def _link_target(url: str) -> str:
    # A Link target is a URI-reference between "<" and ">" (RFC 8288 3.1); escape what
    # could end it early or is not ASCII, which a header value cannot carry.
    return quote(url, safe=_URI_SAFE)


def _wants_page(environ: WSGIEnvironment) -> bool:
    accept = environ.get("HTTP_ACCEPT")
    # Feed readers seldom mention HTML: their requests skip parsing altogether.
    return accept is not None and ("html" in accept or "HTML" in accept) and prefers_html(accept)


def _answer_with(prepared: PreparedDocument, payload: Payload, environ: WSGIEnvironment) -> Answer:
    """``answer``, with the bytes just read (they may be dropped from ``prepared`` already)."""
    found = answer(prepared, environ)
    if found is not None:
        return found
    if accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING", "")):
        return "200 OK", payload.gzip_headers, payload.gzip_body
    return "200 OK", payload.headers, payload.body


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
