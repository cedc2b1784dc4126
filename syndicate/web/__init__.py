"""Web: the Flask app factory, and the face of the web tier. Does I/O (network, and the
files of the live tree).

Its rooms: ``hotpath`` (the WSGI front, ``FeedResponder`` and ``answer``, and the
``BodyGate`` for editors' request bodies), ``prepared`` (a document prepared for serving,
pure), ``holder`` (the Site being served, the ``BodyCache`` LRU, the live tree's reader and
``LiveReloader``), ``services`` (what the app keeps in ``app.extensions``), ``api`` (the
editor API), ``admin`` (the dashboard's pages), ``board`` (the rows they show, and the
republish jobs), ``sessions`` (its revoked sessions) and ``preview`` (a feed's HTML page).
Imports go one way: this module imports them, never the reverse.

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
takes the standard library and the light modules (``config``, ``documents``, ``site.manifest``).
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

import functools
import logging
import os
import signal
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal, overload
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from ..config import Config, load_config
from ..documents import Site
from ..errors import PostsFolderError
from ..redirects import Redirects
from ..service.server import CONFIG_ENV
from ..site.manifest import ManifestMemo, manifest_identity, read_live
from .holder import (
    BODY_CACHE_BYTES,
    RELOAD_INTERVAL,
    BodyCache,
    LiveReloader,
    SiteHolder,
)
from .hotpath import (
    API_BODY_BYTES,
    BODY_WAITERS,
    BODY_WAITERS_PER_ADDRESS,
    FORM_BODY_BYTES,
    Answer,
    FeedResponder,
    _no_such_feed,
    _refusal,
    accepts_gzip,
    prefers_html,
)
from .prepared import PreparedDocument
from .services import RESOURCES, Services, services

if TYPE_CHECKING:
    from flask import Flask, Response
    from werkzeug.exceptions import MethodNotAllowed, NotFound

    from ..publisher import Publisher

# The package's face: the app factory, and the parts of the web tier that tests and the
# server reach for.
__all__ = [
    "API_BODY_BYTES",
    "BODY_CACHE_BYTES",
    "BODY_WAITERS",
    "BODY_WAITERS_PER_ADDRESS",
    "FORM_BODY_BYTES",
    "RELOAD_INTERVAL",
    "BodyCache",
    "EditorsApp",
    "FeedResponder",
    "PreparedDocument",
    "Services",
    "SiteHolder",
    "accepts_gzip",
    "app_from_env",
    "create_app",
    "prefers_html",
]

log = logging.getLogger(__name__)


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


@overload
def create_app(
    config: Config,
    publisher: Publisher | None = None,
    *,
    reload_interval: float | None = RELOAD_INTERVAL,
    body_cache_bytes: int = BODY_CACHE_BYTES,
    lazy_editors: Literal[False] = False,
) -> Flask: ...


@overload
def create_app(
    config: Config,
    publisher: Publisher | None = None,
    *,
    reload_interval: float | None = RELOAD_INTERVAL,
    body_cache_bytes: int = BODY_CACHE_BYTES,
    lazy_editors: Literal[True],
) -> WSGIApplication: ...


def create_app(
    config: Config,
    publisher: Publisher | None = None,
    *,
    reload_interval: float | None = RELOAD_INTERVAL,
    body_cache_bytes: int = BODY_CACHE_BYTES,
    lazy_editors: bool = False,
) -> Flask | WSGIApplication:
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

    ``lazy_editors`` (a server worker, ``app_from_env``): the WSGI hot path alone, with
    the Flask app behind it made on the first request for the editor API or the dashboard
    (``EditorsApp``), so that a worker serving only feeds never imports Flask.
    """
    found = _services(config, publisher, reload_interval, body_cache_bytes)
    redirects = _redirects(config)
    if lazy_editors:
        return FeedResponder(found.holder, EditorsApp(found), redirects)
    app = _editors_app(found)
    # Wrapping wsgi_app (not the app) keeps app.test_client() on the real hot path.
    app.wsgi_app = FeedResponder(found.holder, app.wsgi_app, redirects)  # type: ignore[method-assign]
    return app


def _redirects(config: Config) -> Redirects | None:
    """The old feed URLs of ``redirects:`` that the hot path answers with a 301; None
    without any."""
    if not config.redirects.paths and not config.redirects.preset:
        return None
    return Redirects(config.redirects, config.site.url)


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
    site: Site
    if live is not None:
        site = live
    else:
        if publisher is None:
            # Only here does a web worker import the publishing stack: serving a live
            # tree needs none of it (see _render_preview, and api and admin).
            from ..publisher import Publisher

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
    from ..errors import StoreError
    from ..publisher import Publisher, existing_store

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

    # No static folder: every URL path outside the editors' belongs to the Site. The
    # templates are the package's (syndicate/templates), not this subpackage's.
    app = Flask(__name__, static_folder=None, root_path=RESOURCES)
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
    """What granian calls in each server worker (it takes no arguments): ``create_app``
    with the config at ``SYNDICATE_CONFIG`` and ``lazy_editors``."""
    from ..service.process import die_with_parent

    # Like the scheduler worker, a web worker must not outlive a serve killed outright:
    # it would hold the port and serve a tree nobody updates. SIGKILL, as it has no state
    # to save, and granian's worker, sent SIGTERM without its main process, stops
    # accepting connections but never exits.
    die_with_parent(signal.SIGKILL)
    return create_app(load_config(os.environ[CONFIG_ENV]), lazy_editors=True)
