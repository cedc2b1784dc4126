"""Editors' dashboard: the ``admin`` blueprint, server-rendered HTML under ``/admin``. Does I/O.

Editors sign in with the editor token (``SYNDICATE_EDITOR_TOKEN``, the API's) and get a
signed session cookie: HttpOnly, SameSite=Lax, Secure when the request came over HTTPS,
scoped to ``/admin``, valid for ``SESSION_HOURS``. The signing key is derived from the
token (HMAC with a fixed label), so every web worker and every restart accepts the same
cookies, and changing the token signs everybody out. Every form carries a per-session
CSRF token, checked in constant time; failed sign-ins count against the API's
``FailureLimiter`` (the right token is never refused). Without a token the dashboard is
off: ``/admin`` answers 404.

Pages read the store (build records, outbox, attempts), the Site this web process
serves (``Services.holder``) and the posts folder, re-read on demand (``board.PostBoard``
caches the parse until a file changes): the scheduler runs in another process, so its
last publish is not in memory here. "Republish" runs ``Publisher.publish`` in a
background thread (``board.JobBoard``) whose state is a small JSON file in the state
folder, so the progress page, which polls it, works whichever web worker answers. The
rows the pages show are made in ``board``; this module holds the blueprint and its views.

Importing this module imports no part of the publishing stack: ``publisher``, ``posts``
and ``store`` are imported by the first page that needs them, so that a web worker
pays for them only once an editor uses it (see ``web``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import math
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from markupsafe import Markup
from werkzeug.exceptions import InternalServerError, NotFound
from werkzeug.wrappers import Response as BaseResponse

from .. import counted, readable
from ..config import Config, state_dir
from ..documents import Site, absolute_url
from ..errors import PublishRefused
from ..publisher.report import iso, scheduled_posts
from ..site.manifest import held_documents
from .api import TOKEN_ENV, EditorAPI, failure_message
from .board import (
    STATES,
    JobBoard,
    PostBoard,
    PostRow,
    feed_label,
    post_rows,
    run_preview,
    target_rows,
)
from .services import RESOURCES, services
from .sessions import RevokedSessions, new_session_id

if TYPE_CHECKING:
    # The publishing stack: imported when a page needs it, not by web workers that only
    # serve feeds (see ``web``).
    from ..publisher import Publisher
    from ..store import Store

# The name its log lines have always carried (operators filter on it), not the module's.
log = logging.getLogger("syndicate.admin")

EXTENSION: Final = "syndicate.admin"
"""Key of the ``Dashboard`` in ``app.extensions``."""

SESSION_COOKIE: Final = "syndicate_admin"
SESSION_HOURS: Final = 12
CSRF_FIELD: Final = "csrf_token"
# The label the session-signing key is derived under; another label, another key.
_KEY_LABEL: Final = b"syndicate dashboard session key v1"
RECENT_ATTEMPTS: Final = 200  # attempts read for the notifications page
# How long "Republish" waits for a quick rebuild before showing the progress page.
REPUBLISH_WAIT: Final = 1.5
JOB_DIR: Final = ".syndicate-admin-jobs"


# --------------------------------------------------------------------------- extension


@dataclasses.dataclass
class Dashboard:
    """The dashboard's state, kept in ``app.extensions[EXTENSION]``."""

    editors: EditorAPI
    posts: PostBoard
    jobs: JobBoard
    signed_out: RevokedSessions

    @property
    def config(self) -> Config:
        return self.editors.config

    def publisher(self) -> Publisher:
        return self.editors.publisher()


def dashboard() -> Dashboard:
    """The current app's ``Dashboard``."""
    found: Dashboard = current_app.extensions[EXTENSION]
    return found


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with Secure decided per request."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return is_https()


def is_https() -> bool:
    """Whether the request came over HTTPS (directly, or as a proxy in front says)."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    # Trusting the header can only add Secure to a cookie, never take it away.
    return request.is_secure or forwarded == "https"


def session_key(token: bytes) -> bytes:
    """The session-signing key: the same in every worker and after a restart."""
    return hmac.new(token, _KEY_LABEL, hashlib.sha256).digest()


def init_admin(app: Flask, editors: EditorAPI) -> Dashboard | None:
    """Register the ``admin`` blueprint when an editor token is set; else the dashboard
    is off (``/admin`` is a plain 404, like any unknown path)."""
    if editors.token is None:
        log.info("dashboard off: %s is not set", TOKEN_ENV)
        return None
    config = editors.config
    app.secret_key = session_key(editors.token)
    app.session_interface = _SessionInterface()
    app.config.update(
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_PATH="/admin",
        SESSION_COOKIE_HTTPONLY=True,
        # Lax: a link to the dashboard from elsewhere still arrives signed in, while
        # cross-site form posts arrive without the cookie (and fail the CSRF check too).
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
    )
    board = Dashboard(
        editors=editors,
        posts=PostBoard(config),
        jobs=JobBoard(state_dir(config) / JOB_DIR, _utcnow),
        signed_out=RevokedSessions(state_dir(config), SESSION_HOURS * 3600.0),
    )
    app.extensions[EXTENSION] = board
    app.register_blueprint(admin)
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    return board


def _utcnow() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- blueprint

admin = Blueprint(
    "admin",
    __name__,
    url_prefix="/admin",
    static_folder="static",
    static_url_path="/static",
    root_path=RESOURCES,  # syndicate/static, not this subpackage's folder
)

_PUBLIC_ENDPOINTS: Final = frozenset({"admin.login", "admin.static"})


def _render(template: str, **context: Any) -> str:
    """A dashboard page: a post file name that is not UTF-8 shows as U+FFFD, not a 500."""
    return readable(render_template(template, **context))


def csrf_token() -> str:
    """This session's CSRF token, made on first use."""
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


def _csrf_field() -> Markup:
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, csrf_token())


@admin.context_processor
def _template_globals() -> dict[str, Any]:
    return {
        "csrf_field": _csrf_field,
        "signed_in": bool(session.get("editor")),
        "site": dashboard().config.site,
    }


@admin.app_template_filter("when")
def _when(value: datetime | str | None) -> str:
    """``2024-05-01 12:00 UTC``; an ISO string is parsed first."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@admin.app_template_filter("counted")
def _counted(count: int, noun: str) -> str:
    """``3 posts``, ``1 post``: the count and its noun (``syndicate.counted``)."""
    return counted(count, noun)


@admin.app_template_filter("noun")
def _noun(count: int, noun: str) -> str:
    """The noun alone, as ``counted`` says it after ``count`` (shown apart, in bold)."""
    return counted(count, noun).partition(" ")[2]


@admin.app_template_filter("iso")
def _iso_filter(value: datetime | str) -> str:
    return value if isinstance(value, str) else iso(value)


class _CsrfError(Exception):
    """A form post without this session's CSRF token."""


@admin.before_request
def _guard() -> BaseResponse | None:
    """Every /admin request: CSRF check on posts; sign-in required beyond the login page."""
    if request.method == "POST":
        if not _same_origin(request.headers.get("Origin")):
            raise _OriginError()
        sent = request.form.get(CSRF_FIELD, "")
        expected = session.get(CSRF_FIELD)
        if not isinstance(expected, str) or not hmac.compare_digest(
            sent.encode("utf-8"), expected.encode("utf-8")
        ):
            raise _CsrfError()
    if request.endpoint in _PUBLIC_ENDPOINTS or _signed_in():
        return None
    if request.method == "GET":
        return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
    return redirect(url_for("admin.login"))


def _same_origin(origin: str | None) -> bool:
    """Whether a form post's ``Origin`` (RFC 6454) is this server or the site's URL.

    Browsers send it on every cross-site post; without it (older browsers, scripts) the
    CSRF token decides alone. ``null`` (a sandboxed or privacy-hiding context) is refused.
    """
    if origin is None:
        return True
    parts = urlsplit(origin.strip().lower())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    # The host the request came to (a proxy passes the Host header on), or the site's.
    site = urlsplit(dashboard().config.site.url.lower()).netloc
    return parts.netloc in (request.host.lower(), site)


def _signed_in() -> bool:
    """Whether this request's session is an editor's that nobody has signed out since."""
    session_id = session.get("sid")
    if not session.get("editor") or not isinstance(session_id, str):
        return False
    return not dashboard().signed_out.is_revoked(session_id)


@admin.errorhandler(_CsrfError)
def _csrf_failed(error: _CsrfError) -> tuple[str, int]:
    log.warning(
        "dashboard: %s %s from %s failed the CSRF check",
        request.method,
        request.path,
        request.remote_addr,
    )
    page = _render(
        "admin/message.html",
        title="Form expired",
        message=(
            "This form was not sent from the dashboard, or your session changed since the "
            "page was loaded. Nothing was done. Go back, reload the page and try again "
            "(the dashboard needs cookies)."
        ),
    )
    return page, 400


class _OriginError(Exception):
    """A form post whose ``Origin`` is another site."""


@admin.errorhandler(_OriginError)
def _origin_failed(error: _OriginError) -> tuple[str, int]:
    log.warning(
        "dashboard: %s %s from %s came from another site (Origin %r)",
        request.method,
        request.path,
        request.remote_addr,
        request.headers.get("Origin", "")[:200],
    )
    page = _render(
        "admin/message.html",
        title="Form from another site",
        message=(
            "This form was sent from a page of another site, not from the dashboard. "
            "Nothing was done. Open the dashboard itself and try again."
        ),
    )
    return page, 403


@admin.after_request
def _headers(response: Response) -> Response:
    if request.endpoint == "admin.static":
        return response
    # Private, per-editor pages: never cached (RFC 9111 5.2.2.5), never framed.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )
    return response


# A dashboard path (and query) made only of the characters RFC 3986 allows there: no
# control characters (a CR LF would split the Location header), no spaces, no backslash.
_NEXT = re.compile(r"/admin(?:[/?][A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?")
_DOT_SEGMENT = re.compile(r"(?:^|/)(?:\.|%2e){1,2}(?:/|$)", re.IGNORECASE)


def _safe_next(target: str | None) -> str:
    """Where to go after sign-in: a dashboard path, never another site; else the overview."""
    default = url_for("admin.overview")
    if not target or not _NEXT.fullmatch(target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "//" in parts.path or _DOT_SEGMENT.search(parts.path):
        return default
    return target


@admin.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse | tuple[str, int, dict[str, str]] | str:
    """The sign-in form; a right token starts a session."""
    next_url = _safe_next(request.values.get("next"))
    if request.method == "GET":
        if _signed_in():
            return redirect(next_url)
        csrf_token()  # the form's own CSRF token, in a fresh session cookie
        return _render("admin/login.html", next_url=next_url, error=None)
    board = dashboard()
    limiter = board.editors.limiter
    client = request.remote_addr or "unknown"
    token = request.form.get("token", "").strip().encode("utf-8", "replace")
    assert board.editors.token is not None  # the blueprint exists only with a token
    # Compared in constant time (how much of a guess matched must not show), and before
    # any throttling: the right token always signs in, so guessing locks nobody out.
    if not token or not hmac.compare_digest(token, board.editors.token):
        wait = limiter.blocked_for(client)
        if wait is not None:
            seconds = max(1, math.ceil(wait))
            page = _render(
                "admin/login.html",
                next_url=next_url,
                error=f"Too many failed sign-ins from this address; try again in {seconds} s.",
            )
            return page, 429, {"Retry-After": str(seconds)}
        limiter.failure(client)
        log.warning("dashboard: failed sign-in from %s", client)
        page = _render("admin/login.html", next_url=next_url, error="That is not the editor token.")
        return page, 403, {}
    # A new session (and CSRF token) at sign-in, so a session planted before is useless.
    session.clear()
    session["editor"] = True
    session["sid"] = new_session_id()  # what signing out revokes, in every copy of the cookie
    session.permanent = True
    csrf_token()
    log.info("dashboard: editor signed in from %s", client)
    return redirect(next_url)


@admin.post("/logout")
def logout() -> BaseResponse:
    """End the session, in this browser and in any copy of its cookie."""
    session_id = session.get("sid")
    if isinstance(session_id, str):
        dashboard().signed_out.revoke(session_id)
    session.clear()
    flash("You are signed out.")
    log.info("dashboard: editor signed out from %s", request.remote_addr)
    return redirect(url_for("admin.login"))


@admin.get("")
def bare() -> BaseResponse:
    return redirect(url_for("admin.overview"))


@admin.get("/")
def overview() -> str:
    """Last build, counts, and the republish buttons."""
    board = dashboard()
    publisher = board.publisher()
    store = _store(publisher)
    now = publisher.clock()
    build = store.last_build()
    rows = _rows(board, publisher)
    counts = {state: sum(1 for r in rows if r.state == state) for state in STATES}
    return _render(
        "admin/overview.html",
        section="overview",
        build=build,
        counts=counts,
        errors=[r for r in rows if r.state == "error"][:5],
        refusal=store.last_refusal(),
        scheduled=scheduled_posts(publisher, build, now),
        pending=len(store.pending()),
        failed=len(store.failed()),
        refusing=len(store.target_refusals()),
        feed_count=len(_site().feeds),
        config=board.config,
        held=held_documents(board.config.output_dir),
    )


@admin.get("/posts")
def posts_page() -> str:
    """Every post with its state, categories, tags and feeds; filter by state."""
    board = dashboard()
    rows = _rows(board, board.publisher())
    wanted = request.args.get("state", "all")
    if wanted not in STATES:
        wanted = "all"
    counts = {state: sum(1 for r in rows if r.state == state) for state in STATES}
    shown = rows if wanted == "all" else [r for r in rows if r.state == wanted]
    return _render(
        "admin/posts.html",
        section="posts",
        rows=shown,
        counts=counts,
        total=len(rows),
        state=wanted,
        states=STATES,
    )


@admin.get("/feeds")
def feeds_page() -> str:
    """Every feed with its entry count, last change and URLs."""
    board = dashboard()
    store = _store(board.publisher())
    records = store.feeds()
    base = board.config.site.url
    rows = []
    for info in _site().feeds:
        changed = [records[p].last_changed for p in info.paths if p in records]
        rows.append(
            {
                "label": feed_label(info, board.config),
                "title": info.title,
                "entry_count": info.entry_count,
                "changed": max(changed) if changed else info.updated,
                "rss_path": info.rss_path,
                "atom_path": info.atom_path,
                "json_path": info.json_path,
                "rss_url": absolute_url(base, info.rss_path),
            }
        )
    return _render("admin/feeds.html", section="feeds", rows=rows, opml_url="/feeds.opml")


@admin.get("/notifications")
def notifications_page() -> str:
    """Pending and failed notifications and recent attempts, per hub and ping server."""
    board = dashboard()
    store = _store(board.publisher())
    pending = store.pending()
    failed = store.failed()
    attempts = store.recent_attempts(RECENT_ATTEMPTS)
    refusals = store.target_refusals()
    return _render(
        "admin/notifications.html",
        section="notifications",
        pending=pending,
        failed=failed,
        refusals=refusals,
        targets=target_rows(board.config, pending, failed, attempts, refusals),
    )


@admin.post("/notifications/<int:notification_id>/retry")
def retry(notification_id: int) -> BaseResponse:
    """Queue a failed notification again, due now."""
    publisher = dashboard().publisher()
    store = _store(publisher)
    found = store.retry(notification_id, publisher.clock())
    if found is None:
        # Nothing was queued: say why (a stale page, another editor's click, a made-up id).
        if any(n.id == notification_id for n in store.pending()):
            why = "is already queued; the scheduler delivers it when it is due"
        else:
            why = "does not exist (delivered, merged into another or never queued)"
        log.info("dashboard: retry notification #%d: %s", notification_id, why)
        flash(f"Notification #{notification_id} {why}. Nothing to retry.", "error")
    else:
        log.info(
            "dashboard: retry notification #%d (%s %s for %s)",
            found.id,
            found.kind,
            found.target,
            found.feed_url,
        )
        flash(
            f"Notification #{found.id} to {found.target} is queued again; "
            "the scheduler delivers it within seconds."
        )
    return redirect(url_for("admin.notifications_page"))


@admin.post("/republish")
def republish() -> BaseResponse:
    """Start a rebuild; show its result (or its progress, if it takes a while)."""
    board = dashboard()
    force = request.form.get("force") == "1"
    job_id = board.jobs.start(board.publisher(), force)
    board.jobs.wait(job_id, REPUBLISH_WAIT)
    return redirect(url_for("admin.job", job_id=job_id))


@admin.post("/preview")
def preview() -> str | tuple[str, int, dict[str, str]]:
    """What "Republish now" would change and whom it would notify, changing nothing.

    A POST with the CSRF token and Origin check like every other action, although it
    writes nothing: it costs a build, which no link, prefetch or cross-site page may set
    off; and its answer is the page itself (no job to poll)."""
    board = dashboard()
    force = request.form.get("force") == "1"
    try:
        data = run_preview(board.publisher(), force)
    except PublishRefused as exc:  # the posts folder cannot be read: say so, as republish
        log.error("dashboard: preview refused: %s", exc)
        page = _render("admin/message.html", title="Preview refused", message=str(exc))
        return page, 409, {}
    if data is None:
        message = "A preview is already running; try again in a moment."
        page = _render("admin/message.html", title="Preview busy", message=message)
        return page, 503, {"Retry-After": "5"}
    return _render("admin/preview.html", section="overview", preview=data)


@admin.get("/jobs/<job_id>")
def job(job_id: str) -> str:
    """A republish: progress while it runs, then its result."""
    board = dashboard()
    found = board.jobs.get(job_id)
    if found is None:
        raise NotFound()
    started = datetime.fromisoformat(found["started"].replace("Z", "+00:00"))
    elapsed = max(0, round((board.jobs.clock() - started).total_seconds()))
    return _render("admin/job.html", section="overview", job=found, elapsed=elapsed)


@admin.get("/jobs/<job_id>/status")
def job_status(job_id: str) -> Response:
    """A republish's state as JSON, for the progress page to poll."""
    found = dashboard().jobs.get(job_id)
    if found is None:
        raise NotFound()
    body = json.dumps({"state": found["state"], "started": found["started"]})
    return Response(body, content_type="application/json")


@admin.errorhandler(InternalServerError)
def _server_error(error: InternalServerError) -> tuple[str, int]:
    # Flask has logged the exception with its traceback; the page says one short line.
    cause = error.original_exception or error
    page = _render(
        "admin/message.html", title="Something went wrong", message=failure_message(cause)
    )
    return page, 500


@admin.errorhandler(NotFound)
def _not_found(error: NotFound) -> tuple[str, int]:
    page = _render("admin/message.html", title="Not found", message="There is no such page or job.")
    return page, 404


def _store(publisher: Publisher) -> Store:
    store = publisher.store
    assert store is not None  # EditorAPI.publisher() always has one
    return store


def _site() -> Site:
    return services().holder.current.site


def _rows(board: Dashboard, publisher: Publisher) -> list[PostRow]:
    loaded, problems = board.posts.load()
    now = publisher.clock()
    plan, records = publisher.settle_ids(loaded, now)
    return post_rows(loaded, problems, plan, records, _site(), board.config, now)
