"""Web: the Flask app factory and the WSGI hot path that serves prepared feeds. Network I/O.

Feed hits are the hot path. ``FeedResponder`` sits in front of the Flask app, looks
``PATH_INFO`` up in the prepared documents of the current ``Site`` and answers GET and
HEAD at once, with validators, caching headers and gzip all computed when the Site was
swapped in. Everything else (other methods, unknown paths) falls through to Flask,
whose ``feeds`` blueprint answers 404 and 405 with short plain-text messages; the
``api`` (``api.py``) and ``admin`` (``admin.py``, the dashboard) blueprints live there too.

A feed requested by a browser (``Accept`` preferring text/html over every feed type and
``*/*``, see ``prefers_html``) gets a readable HTML page of the same feed instead
(``preview.render_preview``), made once per feed version and cached with its own
ETag and gzip; every other request gets the feed, byte for byte. Both carry
``Vary: Accept, Accept-Encoding``. Only an Accept value that mentions "html" is parsed.

``SiteHolder.current`` is the one place the current Site lives; a swap is a single
attribute assignment, so a request sees either the old Site or the new one, never a mix.
The Site comes from the live tree in ``output_dir`` that the service (``syndicate worker``)
keeps up to date; a ``LiveReloader`` thread in each web process stats its manifest a few
times a second and swaps in a new generation, re-reading only the documents that changed.
The web app never publishes on its own and never starts the scheduler.
``run_server`` runs the app under granian (a production WSGI server) via ``app_from_env``.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import logging
import os
import re
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.exceptions import MethodNotAllowed, NotFound

from .admin import init_admin
from .api import init_api
from .config import Config, load_config
from .feeds import Document, Site
from .preview import content_security_policy, render_preview
from .publisher import GZIP_LEVEL, MANIFEST, Publisher, read_manifest, site_from_manifest

log = logging.getLogger(__name__)

CONFIG_ENV = "SYNDICATE_CONFIG"
"""Environment variable through which ``serve`` hands the config path to server workers."""
WORKERS_KILL_TIMEOUT = 10  # seconds a web worker gets to stop before it is killed

#: Seconds between looks at the live tree's manifest: a stat(2), cheap enough to do often,
#: and a published edit is served at most this long after the worker wrote it.
RELOAD_INTERVAL = 0.05

ALLOWED_METHODS = ("GET", "HEAD")
Headers = list[tuple[str, str]]

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
class PreparedDocument:
    """One Document with every response header and both encodings computed up front."""

    body: bytes
    gzip_body: bytes
    headers: Headers  # 200, identity
    gzip_headers: Headers  # 200, Content-Encoding: gzip
    not_modified_headers: Headers  # 304 for an identity request
    gzip_not_modified_headers: Headers  # 304 for a gzip request
    etag: str  # the Document's, identity variant
    etags: frozenset[str]  # opaque-tags of both variants, for If-None-Match
    last_modified: str  # HTTP-date, as sent
    last_modified_ts: int  # whole seconds: HTTP-dates have no finer resolution
    negotiable: bool = False  # a feed that also has an HTML page for browsers


@dataclasses.dataclass(frozen=True, slots=True)
class PreparedSite:
    """A Site and its documents prepared for serving, keyed by URL path."""

    site: Site
    documents: Mapping[str, PreparedDocument]


class SiteHolder:
    """Holds the Site being served; ``current`` is read once per request, swapped whole."""

    def __init__(
        self,
        site: Site,
        cache_max_age: int,
        site_url: str,
        hubs: Sequence[str] = (),
        preview: Previewer | None = None,
    ) -> None:
        self.cache_control = f"public, max-age={cache_max_age}"
        self.site_url = site_url  # absolute, ends with "/" (config.site.url)
        self.hubs = tuple(hubs)
        # Renders a feed's page for browsers; None: feeds are never negotiated.
        self.preview = preview
        self.current = PreparedSite(site, {})
        # HTML pages of feeds, by (URL path, the feed's entity-tag); made on first request.
        self._pages: dict[tuple[str, str], PreparedDocument] = {}
        self.swap(site)

    def swap(self, site: Site) -> None:
        """Prepare site and make it current; unchanged documents keep their gzip bytes."""
        old = self.current
        gzip_cache = {
            prepared.etag: (prepared.body, prepared.gzip_body)
            for prepared in old.documents.values()
        }
        documents: dict[str, PreparedDocument] = {}
        for path, doc in site.documents.items():
            prepared = old.documents.get(path)
            if prepared is not None and old.site.documents.get(path) is doc:
                # The very same Document (a reload reuses unchanged ones): nothing to redo.
                documents[path] = prepared
            else:
                negotiable = self.preview is not None and _is_feed(doc.media_type)
                documents[path] = _prepare(
                    doc,
                    self.cache_control,
                    gzip_cache,
                    self._links(path, doc),
                    vary=VARY_NEGOTIATED if negotiable else VARY_ENCODING,
                    negotiable=negotiable,
                )
        # One attribute assignment: requests in flight keep the PreparedSite they read.
        self.current = PreparedSite(site, documents)
        # Pages of feeds that changed or went away are dropped; the rest stay valid.
        self._pages = {
            key: page
            for key, page in self._pages.items()
            if key[0] in documents and documents[key[0]].etag == key[1]
        }

    def page(self, current: PreparedSite, path: str, feed: PreparedDocument) -> PreparedDocument:
        """The HTML page of the feed at ``path`` (made once per feed version); the feed
        itself if the page cannot be made, so a browser still gets something readable."""
        key = (path, feed.etag)
        found = self._pages.get(key)
        if found is not None:
            return found
        assert self.preview is not None  # only negotiable documents get here
        try:
            body = self.preview(current.site, path)
        except Exception:  # a preview must never cost a feed its availability
            log.exception("feed %s: cannot render its HTML page", path)
            return feed
        doc = current.site.documents[path]
        html = Document(HTML_TYPE, body, _html_etag(body), doc.last_modified)
        extra = [
            ("Content-Security-Policy", content_security_policy()),
            ("X-Content-Type-Options", "nosniff"),
        ]
        page = _prepare(html, self.cache_control, {}, extra, vary=VARY_NEGOTIATED)
        # Racing requests may both render; either result is the same page.
        self._pages[key] = page
        return page

    def _links(self, path: str, doc: Document) -> Headers:
        """WebSub discovery (W3C WebSub section 4) for a feed: a Link per hub, then self."""
        if not _is_feed(doc.media_type):
            return []
        links = [("Link", f'<{_link_target(hub)}>; rel="hub"') for hub in self.hubs]
        # The topic URL subscribers use, the same one the feed's own rel="self" names.
        self_url = self.site_url + path.lstrip("/")
        links.append(("Link", f'<{_link_target(self_url)}>; rel="self"'))
        return links


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
    doc: Document,
    cache_control: str,
    gzip_cache: Mapping[str, tuple[bytes, bytes]],
    links: Sequence[tuple[str, str]],
    vary: str = VARY_ENCODING,
    negotiable: bool = False,
) -> PreparedDocument:
    gz_etag = _gzip_etag(doc.etag)
    content_type = _media_type(doc.media_type)
    # Compress each document once: reuse the bytes when the same entity-tag and body
    # come back in the next Site (comparing bodies is far cheaper than gzip).
    cached = gzip_cache.get(doc.etag)
    if cached is not None and cached[0] == doc.body:
        gzip_body = cached[1]
    elif doc.gzip_body is not None:
        gzip_body = doc.gzip_body  # the publisher's .gz, checked against the body
    else:
        gzip_body = gzip.compress(doc.body, compresslevel=GZIP_LEVEL, mtime=0)
    last_modified = format_datetime(doc.last_modified.astimezone(UTC), usegmt=True)
    # Vary: the body depends on Accept-Encoding (and, for a feed that has an HTML page,
    # on Accept), so shared caches must key on them (RFC 9110 12.5.5).
    # Link: WebSub discovery travels on every response, 304 included, since a subscriber
    # may revalidate a feed it already holds (WebSub section 4).
    common = [
        ("Last-Modified", last_modified),
        ("Cache-Control", cache_control),
        ("Vary", vary),
        *links,
    ]
    return PreparedDocument(
        body=doc.body,
        gzip_body=gzip_body,
        headers=[
            ("Content-Type", content_type),
            ("Content-Length", str(len(doc.body))),
            ("ETag", doc.etag),
            *common,
        ],
        gzip_headers=[
            ("Content-Type", content_type),
            ("Content-Length", str(len(gzip_body))),
            ("Content-Encoding", "gzip"),
            ("ETag", gz_etag),
            *common,
        ],
        # A 304 carries what a 200 to the same request would have: ETag, Cache-Control,
        # Vary (RFC 9110 15.4.5), and Last-Modified so caches can refresh it (RFC 9111 4.3.4).
        not_modified_headers=[("ETag", doc.etag), *common],
        gzip_not_modified_headers=[("ETag", gz_etag), *common],
        etag=doc.etag,
        etags=frozenset({_opaque(doc.etag), _opaque(gz_etag)}),
        last_modified=last_modified,
        last_modified_ts=int(doc.last_modified.timestamp()),
        negotiable=negotiable,
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


def answer(prepared: PreparedDocument, environ: WSGIEnvironment) -> tuple[str, Headers, bytes]:
    """Decide a GET's status, headers and body from precomputed values; no I/O."""
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
    if use_gzip:
        return "200 OK", prepared.gzip_headers, prepared.gzip_body
    return "200 OK", prepared.headers, prepared.body


class FeedResponder:
    """WSGI middleware: answers GET/HEAD for known documents, passes the rest to ``app``."""

    def __init__(self, holder: SiteHolder, app: WSGIApplication) -> None:
        self.holder = holder
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        if method == "GET" or method == "HEAD":
            current = self.holder.current
            path = environ.get("PATH_INFO", "")
            prepared = current.documents.get(path)
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
                        prepared = self.holder.page(current, path, prepared)
                status, headers, body = answer(prepared, environ)
                # A copy: some servers append to the list (Date, Server), and ours is shared.
                start_response(status, list(headers))
                # HEAD: the same headers, Content-Length included, and no content (RFC 9110 9.3.2).
                return [body] if method == "GET" and body else []
        return self.app(environ, start_response)


@dataclasses.dataclass(frozen=True)
class Services:
    """What the app needs, kept in ``app.extensions["syndicate"]``."""

    config: Config
    publisher: Publisher
    holder: SiteHolder
    reloader: LiveReloader | None = None


def services() -> Services:
    """The current app's services."""
    found: Services = current_app.extensions["syndicate"]
    return found


feeds = Blueprint("feeds", __name__)


@feeds.route("/", defaults={"path": ""}, provide_automatic_options=False)
@feeds.route("/<path:path>", provide_automatic_options=False)
def document(path: str) -> Response:
    """Serve a document the hot path did not (the Site was swapped in between), else 404."""
    holder = services().holder
    current = holder.current
    prepared = current.documents.get(request.path)
    if prepared is None:
        raise NotFound()
    if prepared.negotiable and _wants_page(request.environ):
        prepared = holder.page(current, request.path, prepared)
    status, headers, body = answer(prepared, request.environ)
    return Response(body, status=status, headers=headers)


def _plain(message: str, status: int, headers: Headers | None = None) -> Response:
    return Response(
        message + "\n", status=status, headers=headers, content_type="text/plain; charset=utf-8"
    )


def _not_found(error: NotFound) -> Response:
    return _plain(f"No such feed: {request.path}", 404)


def _method_not_allowed(error: MethodNotAllowed) -> Response:
    # The catch-all route matches every path, so routing says 405 even for paths that
    # are not documents; those are 404, because there is no resource to allow anything on.
    if request.path not in services().holder.current.documents:
        return _not_found(NotFound())
    allow = ", ".join(ALLOWED_METHODS)
    # 405 must list the methods the resource supports (RFC 9110 15.5.6).
    return _plain(f"Method {request.method} not allowed; use {allow}", 405, [("Allow", allow)])


def create_app(
    config: Config,
    publisher: Publisher | None = None,
    *,
    reload_interval: float | None = RELOAD_INTERVAL,
) -> Flask:
    """The Flask app serving the live tree, with the feed hot path in front.

    The Site is read from ``config.output_dir``; until a worker has written it (a web
    tier started first), the posts are built in memory, without touching the store.
    A ``LiveReloader`` then follows the live tree every ``reload_interval`` seconds
    (None: never). The scheduler is never started here: ``serve`` and ``worker`` do that.
    """
    if publisher is None:
        publisher = Publisher(config)
    stamp = _stamp(config.output_dir)  # before reading: a publish meanwhile is seen next
    generation, site = _read_live(config.output_dir)
    if site is None:
        site = publisher.build().site
    holder = SiteHolder(
        site,
        cache_max_age=config.serve.cache_max_age,
        site_url=config.site.url,
        hubs=config.websub.hubs,
        preview=functools.partial(render_preview, config=config),
    )
    reloader = None
    if reload_interval is not None:
        reloader = LiveReloader(config.output_dir, holder, generation, stamp)
        reloader.start(reload_interval)
    # No static folder: every URL path belongs to the Site.
    app = Flask(__name__, static_folder=None)
    app.extensions["syndicate"] = Services(
        config=config, publisher=publisher, holder=holder, reloader=reloader
    )
    app.register_blueprint(feeds)
    # The editor API (`api` blueprint) and dashboard (`admin`); off unless
    # SYNDICATE_EDITOR_TOKEN is set.
    editors = init_api(app, config, publisher)
    init_admin(app, editors)
    app.register_error_handler(NotFound, _not_found)
    app.register_error_handler(MethodNotAllowed, _method_not_allowed)
    # Wrapping wsgi_app (not the app) keeps app.test_client() on the real hot path.
    app.wsgi_app = FeedResponder(holder, app.wsgi_app)  # type: ignore[method-assign]
    return app


def app_from_env() -> Flask:
    """App factory for server workers: the config path comes from ``SYNDICATE_CONFIG``."""
    return create_app(load_config(os.environ[CONFIG_ENV]))


# --------------------------------------------------------------------------- live reload

Stamp = tuple[int, int, int] | None  # (inode, size, mtime in ns) of the manifest; None: absent


def _stamp(out_dir: Path) -> Stamp:
    try:
        st = os.stat(out_dir / MANIFEST)
    except OSError:
        return None
    # The manifest is replaced with rename(2), so a new one always has a new inode.
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _read_live(out_dir: Path, reuse: Site | None = None) -> tuple[int | None, Site | None]:
    """The generation and Site of the live tree; (None, None) if there is none (yet)."""
    manifest = read_manifest(out_dir)
    if manifest is None:
        return None, None
    try:
        site = site_from_manifest(
            out_dir, manifest, reuse.documents if reuse else None, with_gzip=True
        )
    except (OSError, KeyError, TypeError, ValueError) as exc:
        # A document went away under us (the next publish removed it): the next look
        # finds the manifest changed again and reads that generation instead.
        log.warning("%s: cannot read the live tree: %s", out_dir, exc)
        return None, None
    generation = manifest.get("generation")
    return (generation if isinstance(generation, int) else None), site


class LiveReloader:
    """Keeps a SiteHolder on the newest generation of a live tree.

    ``check()`` stats the manifest and, when it changed and names a new generation,
    reads that generation (unchanged documents are reused, not re-read) and swaps it
    in. ``start()`` calls it from a daemon thread every ``interval`` seconds; the thread
    ends with ``stop()``, or once the reloader (that is, its app) is garbage.
    """

    def __init__(
        self, out_dir: Path, holder: SiteHolder, generation: int | None, stamp: Stamp
    ) -> None:
        self.out_dir = out_dir
        self.holder = holder
        self.generation = generation
        self._stamp = stamp
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> bool:
        """Look once; True if a new generation was swapped in."""
        stamp = _stamp(self.out_dir)
        if stamp == self._stamp or stamp is None:
            return False
        # Remembered even if this manifest cannot be read: the publish that made it so
        # (a document removed under us) writes a newer one, which is read then.
        self._stamp = stamp
        generation, site = _read_live(self.out_dir, reuse=self.holder.current.site)
        if site is None:
            return False
        if generation is not None and generation == self.generation:
            return False
        self.holder.swap(site)
        log.info("live tree %s: generation %s swapped in", self.out_dir, generation)
        self.generation = generation
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


def logging_config(level: int) -> dict[str, Any]:
    """A ``logging.config`` dict: one line per event on stderr, for us and for granian."""
    handler = {"class": "logging.StreamHandler", "formatter": "line", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "line": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
            "access": {"format": "%(message)s"},
        },
        "handlers": {
            "console": handler,
            "access": {**handler, "formatter": "access"},
        },
        "loggers": {
            "syndicate": {"handlers": ["console"], "level": level, "propagate": False},
            "_granian": {"handlers": ["console"], "level": level, "propagate": False},
            "granian.access": {"handlers": ["access"], "level": level, "propagate": False},
        },
    }


def run_server(config_path: Path, host: str, port: int, workers: int, log_level: int) -> None:
    """Serve the app under granian (WSGI) until interrupted; each worker builds its Site."""
    from granian import Granian
    from granian.constants import Interfaces
    from granian.log import LogLevels

    # Workers import the app by name, so the config path travels in the environment.
    os.environ[CONFIG_ENV] = str(config_path.absolute())
    server = Granian(
        "syndicate.web:app_from_env",
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        # Requests are answered from memory without blocking, so a few threads per worker
        # keep the cores busy; granian's default (half the backlog, 512) only adds memory,
        # and granian itself warns above 2 x cores + 1.
        blocking_threads=2 * (os.cpu_count() or 1) + 1,
        factory=True,
        # Without a limit granian waits for its workers forever; a worker still starting
        # when SIGTERM arrives can miss the signal, and serve would never exit.
        workers_kill_timeout=WORKERS_KILL_TIMEOUT,
        log_level=LogLevels(logging.getLevelName(log_level).lower()),
        log_dictconfig=logging_config(log_level),
    )
    server.serve()
