"""Server: ``syndicate serve``'s web tier, granian running ``web.app_from_env`` (WSGI).

Light on purpose (granian and the standard library): ``serve``'s main process only
supervises granian's worker processes, each of which imports the app itself, so it never
pays for Flask and the publishing stack. Starts processes, listens on a socket.

``listen()`` takes ``serve``'s address for it alone, before anything else starts; granian's
web workers then all accept on that one socket (see ``run_server``).
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

from ..errors import SyndicateError
from .process import PARENT_ENV

CONFIG_ENV = "SYNDICATE_CONFIG"
"""Environment variable through which ``serve`` hands the config path to server workers."""
WORKERS_KILL_TIMEOUT = 10  # seconds a web worker gets to stop before it is killed

JEMALLOC_CONF_ENV = "_RJEM_MALLOC_CONF"
"""The variable by which granian's allocator (jemalloc, built with tikv-jemallocator's
``_rjem_`` prefix) takes its options, read once, when granian is first imported."""
WEB_JEMALLOC_CONF = "narenas:1"
"""jemalloc's options for the web tier unless the environment sets its own: one arena.

By default jemalloc gives each core four arenas, and a web worker's threads (granian's
runtime and blocking threads) spread the buffers of the responses in flight over them,
each arena keeping what was freed in it for ten seconds. One arena makes each web
worker's peak smaller at the same requests/s. Purging freed pages at once
(``dirty_decay_ms:0``) saves a little more memory but costs much of the requests/s, so
it is not done (measured: bench/RESULTS.md, "Why the fast paths")."""


BACKLOG = 1024
"""Connections the kernel queues for the web workers (granian's default)."""

BLOCKING_THREADS = 2 * (os.cpu_count() or 1) + 1
"""Threads per web worker that run the WSGI app: granian calls it on one of them per
request, so this many requests at once are answered and the next ones queue.

Requests are answered from memory (a document's file is read once, when first needed)
without blocking, so a few threads per worker keep the cores busy; granian's default
(half the backlog, 512) only adds memory, and granian itself warns above 2 x cores + 1.
The only request that can wait on its client is one with a body, and ``web.BodyGate``
lets fewer than this many wait at once, so feeds always find a free thread."""


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port`` for ``serve`` alone; a one-line
    ``SyndicateError`` naming the address and the option to change if it cannot be had.

    No ``SO_REUSEPORT``: with it (granian's own way on Linux, one socket per web worker)
    any other server of the same user that asks for it shares the port, and the kernel
    hands it every other connection: two sites answering in turn. ``SO_REUSEADDR`` only
    lets a restarted serve have its port while the last connections are in TIME_WAIT;
    on Linux it never lets two sockets listen on one address. ``host`` may be an IPv4
    or IPv6 address or a name (its first address is used); ``::`` also takes IPv4 where
    the system can.
    """
    try:
        found = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except (socket.gaierror, UnicodeError) as exc:
        raise SyndicateError(
            f"serve.host {host!r}: not an address this machine can listen on ({exc}); "
            "change --host or serve.host"
        ) from None
    family, _, _, _, address = found[0]
    shown = _shown_address(str(address[0]), port)
    dual = family == socket.AF_INET6 and address[0] == "::" and socket.has_dualstack_ipv6()
    try:
        return socket.create_server(
            address, family=family, backlog=BACKLOG, reuse_port=False, dualstack_ipv6=dual
        )
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise SyndicateError(
                f"{shown} is already in use by another server; "
                "choose another port with --port or serve.port"
            ) from None
        raise SyndicateError(
            f"cannot listen on {shown}: {exc.strerror or exc}; change --host/--port "
            "or serve.host/serve.port"
        ) from None


def _shown_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def local_url(listener: socket.socket, path: str = "/") -> str:
    """An http URL by which this machine reaches ``listener`` (the wildcard address is
    reached through the loopback)."""
    host, port = listener.getsockname()[:2]
    address = ipaddress.ip_address(host.split("%", 1)[0])
    if address.is_unspecified:
        host = "::1" if address.version == 6 else "127.0.0.1"
    return f"http://{_shown_address(host, port)}{path}"


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


def configure_allocator() -> None:
    """Give granian's jemalloc ``WEB_JEMALLOC_CONF`` unless the environment has options
    of its own. Call it before granian's first import in this process: the web workers
    are its forks (or, with the spawn start method, inherit the environment)."""
    os.environ.setdefault(JEMALLOC_CONF_ENV, WEB_JEMALLOC_CONF)


def run_server(config_path: Path, listener: socket.socket, workers: int, log_level: int) -> None:
    """Serve the app under granian (WSGI) on ``listener`` (from ``listen()``) until
    interrupted; each web worker reads the live tree."""
    configure_allocator()
    from granian.constants import Interfaces
    from granian.log import LogLevels

    host, port = listener.getsockname()[:2]

    # Workers import the app by name, so the config path travels in the environment,
    # and so does our pid, for their die_with_parent().
    os.environ[CONFIG_ENV] = str(config_path.absolute())
    os.environ[PARENT_ENV] = str(os.getpid())
    server = _granian_on(listener)(
        "syndicate.web:app_from_env",
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=BLOCKING_THREADS,
        factory=True,
        # Without a limit granian waits for its workers forever; a worker still starting
        # when SIGTERM arrives can miss the signal, and serve would never exit.
        workers_kill_timeout=WORKERS_KILL_TIMEOUT,
        log_level=LogLevels(logging.getLevelName(log_level).lower()),
        log_dictconfig=logging_config(log_level),
    )
    server.serve()


def _granian_on(listener: socket.socket) -> Any:
    """granian's server class, made to have its web workers accept on ``listener``.

    granian has no option for a socket made elsewhere, nor one to bind without
    ``SO_REUSEPORT``. But it has the way: off Linux it binds one socket in its main
    process and every web worker accepts on it (``SocketHolder``, inherited); on Linux
    each web worker binds a socket of its own, with ``SO_REUSEPORT``. This takes the
    first way everywhere, with our socket, through the one method that makes the
    socket (``_init_shared_socket``, granian 2.8); tests start a real serve to keep it
    honest when granian changes.
    """
    from granian import Granian
    from granian._granian import SocketHolder

    fd = listener.fileno()
    # Its constructor (missing from granian's stubs) differs by platform, granian's
    # net.rs: (fd, is_unix_socket, backlog) where each web worker calls listen() itself.
    if sys.platform.startswith(("linux", "freebsd")):
        holder = SocketHolder(fd, False, BACKLOG)  # type: ignore[call-arg]
    else:
        holder = SocketHolder(fd, False)  # type: ignore[call-arg]

    class OnListener(Granian):  # type: ignore[misc, valid-type]
        def _init_shared_socket(self) -> None:
            listener.set_inheritable(True)  # for web workers started with "spawn"
            self._ssp = None  # no address to bind: the holder below is the listener
            self._shd = holder
            self._sfd = fd
            self._sso = listener  # what the multiprocess server closes at shutdown

    return OnListener
