"""Editor API: the ``api`` blueprint, ``POST /api/republish`` and ``GET /api/status``. Does I/O.

Requests carry a bearer token (RFC 6750) that must equal ``SYNDICATE_EDITOR_TOKEN``,
read from the environment when the app is created; without it the API is off and every
``/api/`` URL answers 404. Repeated failures from one address (or from everyone, as a
backstop) are answered 429 for a while (``FailureLimiter``, in process memory); the right
token is checked first and always gets through, so nobody can lock the editors out by
guessing (behind a reverse proxy every client shares one address).

``republish`` runs ``Publisher.publish`` (posts read from disk, changed feeds written to
``output_dir``, notifications written to the store's outbox) and answers what changed.
It never talks to a hub: the scheduler (``serve`` or ``worker``) delivers what is queued,
so the request takes as long as a build. ``status`` reads the store (and, for scheduled
posts, the posts folder). Every answer is JSON, errors included (blueprint error
handlers, as in reader's ``_app``).

``publisher.report``'s ``republish_json`` and ``status_json`` build the JSON documents;
the CLI's ``republish`` and ``status --json`` print the same ones.

Importing this module imports no part of the publishing stack: ``publisher``, ``posts``
and ``store`` are imported by the first request that needs them, so that a web worker
pays for them only once an editor uses it (see ``web``).
"""

from __future__ import annotations

import atexit
import collections
import hmac
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    MethodNotAllowed,
    NotFound,
    TooManyRequests,
    Unauthorized,
)

from .. import counted, readable
from ..config import Config
from ..errors import PublishRefused, StoreBusy, SyndicateError
from ..publisher.report import Json, republish_json, status_json

if TYPE_CHECKING:
    # The publishing stack: imported when a request needs it, not by web workers that
    # only serve feeds (see ``web``).
    from ..publisher import Publisher

# The name its log lines have always carried (operators filter on it), not the module's.
log = logging.getLogger("syndicate.api")

TOKEN_ENV: Final = "SYNDICATE_EDITOR_TOKEN"
"""Environment variable holding the editor token; unset or empty turns the API off."""

EXTENSION: Final = "syndicate.api"
"""Key of the ``EditorAPI`` in ``app.extensions``."""

MAX_FAILURES: Final = 5  # failed authentications per address ...
FAILURE_WINDOW: Final = 60.0  # ... within this many seconds, then 429 until the oldest expires
# Failed authentications from all addresses together within the window: past it every
# wrong guess is refused (429), so spreading guesses over many addresses does not help.
MAX_FAILURES_GLOBAL: Final = 100
REALM: Final = "syndicate"
#: Seconds a client is asked to wait when the store was busy (another process held its lock).
STORE_BUSY_RETRY_AFTER: Final = 10

# Paths of the API under /api/ and the methods each allows; anything else is a JSON 404/405.
_ROUTES: Final = {"republish": ("POST",), "status": ("GET", "HEAD")}
_EVERY_METHOD: Final = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


# --------------------------------------------------------------------------- limiter


class FailureLimiter:
    """Failed authentications per client address in a sliding window. No I/O; thread-safe.

    After ``max_failures`` failures within ``window`` seconds an address is blocked
    until the oldest of them is ``window`` old. A success forgets nothing: behind a
    reverse proxy an editor's success would otherwise give a guesser five more tries.
    After ``max_global`` failures within ``window`` from all addresses together, every
    address is blocked likewise (a backstop against guesses spread over many addresses).
    Callers ask only for wrong attempts: a right token is never refused (``_authenticate``).
    ``clock`` returns seconds (monotonic by default, so wall-clock steps do not matter).
    At most ``max_keys`` addresses are remembered; the oldest is forgotten first.
    """

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window: float = FAILURE_WINDOW,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
        max_global: int = MAX_FAILURES_GLOBAL,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self.max_keys = max_keys
        self.max_global = max_global
        self._failures: dict[str, collections.deque[float]] = {}
        # Only the last max_global times matter: the oldest decides the wait.
        self._global: collections.deque[float] = collections.deque(maxlen=max_global)
        self._lock = threading.Lock()

    def blocked_for(self, key: str) -> float | None:
        """Seconds until ``key`` may try again, or None if it may try now."""
        with self._lock:
            now = self.clock()
            waits = []
            times = self._recent(key, now)
            if len(times) >= self.max_failures:
                waits.append(times[0] + self.window - now)
            while self._global and self._global[0] <= now - self.window:
                self._global.popleft()
            if len(self._global) >= self.max_global:
                waits.append(self._global[0] + self.window - now)
            return max(0.0, *waits) if waits else None

    def failure(self, key: str) -> None:
        """Record a failed attempt from ``key``."""
        with self._lock:
            now = self.clock()
            self._global.append(now)
            times = self._recent(key, now)
            if not times:
                # Only the last max_failures times matter: the oldest decides the wait.
                times = collections.deque(maxlen=self.max_failures)
                self._failures[key] = times
                while len(self._failures) > self.max_keys:
                    del self._failures[next(iter(self._failures))]
            times.append(now)

    def _recent(self, key: str, now: float) -> collections.deque[float]:
        times = self._failures.get(key)
        if times is None:
            return collections.deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times


# --------------------------------------------------------------------------- extension


class EditorAPI:
    """The editor API's state, kept in ``app.extensions[EXTENSION]``.

    ``publisher()`` is the app's Publisher when it has a store; otherwise one is opened
    (``open_publisher``) on first use, and closed by ``close()`` or at exit.
    """

    def __init__(
        self,
        config: Config,
        publisher: Publisher | None,
        token: str | None,
        limiter: FailureLimiter | None = None,
    ) -> None:
        self.config = config
        self.token = token.encode("utf-8") if token else None
        self.limiter = limiter or FailureLimiter()
        self._given = publisher
        self._owned: Publisher | None = None
        self._lock = threading.Lock()

    def publisher(self) -> Publisher:
        """A Publisher with a store and an outbox, shared by every request of this app."""
        given = self._given
        if given is not None and given.store is not None:
            return given
        with self._lock:
            if self._owned is None:
                from ..publisher import open_publisher

                self._owned = (
                    open_publisher(self.config, given.clock)
                    if given is not None
                    else open_publisher(self.config)
                )
                # Flask has no app shutdown hook; server workers exit through atexit.
                atexit.register(self.close)
            return self._owned

    def close(self) -> None:
        """Close the store of the Publisher opened here, if any."""
        with self._lock:
            owned, self._owned = self._owned, None
        if owned is not None:
            atexit.unregister(self.close)
            if owned.store is not None:
                owned.store.close()


def init_api(app: Flask, config: Config, publisher: Publisher | None = None) -> EditorAPI:
    """Register the ``api`` blueprint; the token is read from the environment now."""
    token = os.environ.get(TOKEN_ENV, "").strip() or None
    ext = EditorAPI(config, publisher, token)
    app.extensions[EXTENSION] = ext
    app.register_blueprint(api)
    if token is None:
        log.info("editor API off: %s is not set", TOKEN_ENV)
    return ext


def editor_api() -> EditorAPI:
    """The current app's ``EditorAPI``."""
    found: EditorAPI = current_app.extensions[EXTENSION]
    return found


# --------------------------------------------------------------------------- blueprint

api = Blueprint("api", __name__, url_prefix="/api")


class BearerChallenge(Unauthorized):
    """401 with the ``WWW-Authenticate: Bearer`` challenge of RFC 6750 section 3."""

    def __init__(self, description: str, error: str | None = None) -> None:
        super().__init__(description)
        self.error = error

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        headers = super().get_headers(*args, **kwargs)
        # RFC 6750 3.1: a request without credentials gets no error code; a wrong
        # token gets error="invalid_token". Values quoted as in the RFC's examples.
        params = [f'realm="{REALM}"']
        if self.error:
            params.append(f'error="{self.error}"')
        headers.append(("WWW-Authenticate", "Bearer " + ", ".join(params)))
        return headers


@api.before_request
def _authenticate() -> None:
    """Every /api/ request: API on, right bearer token; wrong ones are throttled."""
    ext = editor_api()
    if ext.token is None:
        raise NotFound(f"The editor API is off: set {TOKEN_ENV} in the server's environment.")
    client = request.remote_addr or "unknown"
    scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
    credentials = credentials.strip()
    # The auth-scheme is case-insensitive (RFC 9110 11.1). WSGI hands header values over
    # as latin-1, so this gives back the bytes the client sent. Compared in constant time
    # (how much of a guess matched must not show), and before any throttling: the right
    # token always gets through, else anyone could lock every editor out by guessing
    # (behind a reverse proxy all clients share one address).
    given = credentials.encode("latin-1", "replace")
    if scheme.lower() == "bearer" and credentials and hmac.compare_digest(given, ext.token):
        return
    wait = ext.limiter.blocked_for(client)
    if wait is not None:
        # A blocked client learns only that its guess was not the token.
        raise TooManyRequests(
            "Too many failed attempts from this address; try again later.",
            retry_after=max(1, math.ceil(wait)),
        )
    ext.limiter.failure(client)
    if scheme.lower() != "bearer" or not credentials:
        log.warning(
            "editor API: %s %s from %s without a token", request.method, request.path, client
        )
        raise BearerChallenge("An editor token is required: Authorization: Bearer <token>.")
    log.warning(
        "editor API: %s %s from %s with a wrong token", request.method, request.path, client
    )
    raise BearerChallenge("The editor token is wrong.", error="invalid_token")


@api.after_request
def _no_store(response: Response) -> Response:
    # Answers describe private state and follow a credentialed request: never cache them
    # (RFC 6750 section 5.3 and RFC 9111 5.2.2.5).
    response.headers["Cache-Control"] = "no-store"
    return response


@api.post("/republish")
def republish() -> Response:
    """Rebuild now and queue notifications for changed feeds (every feed with force)."""
    force = _force_from_body()
    publisher = editor_api().publisher()
    result = publisher.publish(force=force)
    log.info(
        "editor API: republish%s from %s: %s changed, %s queued",
        " (force)" if force else "",
        request.remote_addr,
        counted(len(result.changed_feeds), "feed"),
        counted(result.queued, "notification"),
    )
    return _json(republish_json(result, publisher.config, force=force))


@api.get("/status")
def status() -> Response:
    """Last build, post errors, scheduled posts, the outbox and recent attempts."""
    return _json(status_json(editor_api().publisher()))


@api.route("/", defaults={"rest": ""}, methods=_EVERY_METHOD, provide_automatic_options=False)
@api.route("/<path:rest>", methods=_EVERY_METHOD, provide_automatic_options=False)
def unknown(rest: str) -> Response:
    """Anything else under /api/: a JSON 405 for a known path, else a JSON 404."""
    allowed = _ROUTES.get(rest)
    if allowed is not None:
        raise MethodNotAllowed(valid_methods=list(allowed))
    raise NotFound(f"No such editor API endpoint: /api/{rest}")


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
    return _json({"error": error.name, "message": error.description}, status, headers)


# Flask prefers an app's handler for a status code over a blueprint's for HTTPException,
# and the app answers 404 and 405 in plain text (feeds); so each code the API raises
# is registered here by its class, then HTTPException for the rest.
for _error in (BadRequest, Unauthorized, NotFound, MethodNotAllowed, TooManyRequests):
    api.register_error_handler(_error, _http_error)
api.register_error_handler(HTTPException, _http_error)


@api.errorhandler(PublishRefused)
def _refused(error: PublishRefused) -> Response:
    # Not a server failure: the posts are not in a state to publish (409 Conflict);
    # the message says what to do, and ``status`` shows it until a publish goes through.
    log.error("editor API: %s %s refused: %s", request.method, request.path, error)
    return _json({"error": "Conflict", "reason": error.reason, "message": str(error)}, 409)


@api.errorhandler(StoreBusy)
def _busy(error: StoreBusy) -> Response:
    # Another process held the store's lock past its busy timeout: temporary, so 503
    # with a time to come back, not a server failure.
    log.error("editor API: %s %s: store busy: %s", request.method, request.path, error)
    body = {"error": "Service Unavailable", "message": failure_message(error)}
    return _json(body, 503, [("Retry-After", str(STORE_BUSY_RETRY_AFTER))])


@api.errorhandler(SyndicateError)
def _syndicate_error(error: SyndicateError) -> Response:
    log.error("editor API: %s %s failed: %s", request.method, request.path, error)
    return _json({"error": "Internal Server Error", "message": failure_message(error)}, 500)


def failure_message(error: BaseException) -> str:
    """What a client is told of a failure: one short line; the log has the details.

    Never the error's own text: it may name the database (its absolute path), the SQL,
    or files on the server.
    """
    from ..errors import StoreError

    if isinstance(error, StoreError):
        return (
            "The store is busy or unavailable (another process may hold its lock), so this "
            "request did not finish. Try again in a minute; the server's log has the details."
        )
    if isinstance(error, OSError) and error.strerror:
        # "No space left on device" helps an editor; the file's path stays in the log.
        return f"{error.strerror}; the server's log has the details."
    return "The server could not finish this request; its log has the details."


def _json(data: Json, status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> Response:
    # readable: a post file name that is not UTF-8 must not make the answer a 500.
    body = readable(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return Response(
        body, status=status, headers=list(headers), content_type="application/json; charset=utf-8"
    )


def _force_from_body() -> bool:
    """``force`` from an optional JSON body ``{"force": true}``; anything else is a 400."""
    raw = request.get_data(cache=False)
    if not raw.strip():
        return False
    try:
        body = json.loads(raw)
    except ValueError:
        raise BadRequest('The body is not valid JSON; send {"force": true} or nothing.') from None
    if not isinstance(body, dict):
        raise BadRequest('The body must be a JSON object, like {"force": true}.')
    unknown = sorted(set(body) - {"force"})
    if unknown:
        raise BadRequest(f"Unknown key {unknown[0]!r}; the only key is 'force'.")
    force = body.get("force", False)
    if not isinstance(force, bool):
        raise BadRequest("force: expected true or false.")
    return force
