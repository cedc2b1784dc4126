"""Server: ``syndicate serve``'s web tier, granian running ``web.app_from_env`` (WSGI).

Light on purpose (granian and the standard library): ``serve``'s main process only
supervises granian's worker processes, each of which imports the app itself, so it never
pays for Flask and the publishing stack. Starts processes, listens on a socket.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from .supervise import PARENT_ENV

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
each arena keeping what was freed in it for ten seconds. Under 32 connections asking
for a 90 KB feed, one arena made each web worker's peak 5 to 6 MB smaller (43.5 instead
of 48 to 50.6 MB at 10,000 posts) at the same requests/s, measured in turn 4 times.
Purging freed pages at once (``dirty_decay_ms:0``) saved 1 to 2 MB more and halved the
requests/s of a 200."""


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


def run_server(config_path: Path, host: str, port: int, workers: int, log_level: int) -> None:
    """Serve the app under granian (WSGI) until interrupted; each worker reads the live tree."""
    configure_allocator()
    from granian import Granian
    from granian.constants import Interfaces
    from granian.log import LogLevels

    # Workers import the app by name, so the config path travels in the environment,
    # and so does our pid, for their die_with_parent().
    os.environ[CONFIG_ENV] = str(config_path.absolute())
    os.environ[PARENT_ENV] = str(os.getpid())
    server = Granian(
        "syndicate.web:app_from_env",
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        # Requests are answered from memory (a document's file is read once, when first
        # needed) without blocking, so a few threads per worker keep the cores busy;
        # granian's default (half the backlog, 512) only adds memory, and granian itself
        # warns above 2 x cores + 1.
        blocking_threads=2 * (os.cpu_count() or 1) + 1,
        factory=True,
        # Without a limit granian waits for its workers forever; a worker still starting
        # when SIGTERM arrives can miss the signal, and serve would never exit.
        workers_kill_timeout=WORKERS_KILL_TIMEOUT,
        log_level=LogLevels(logging.getLevelName(log_level).lower()),
        log_dictconfig=logging_config(log_level),
    )
    server.serve()
