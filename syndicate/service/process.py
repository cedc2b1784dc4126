"""Process: what a syndicate process does to itself, apart from its work.

A one-shot command ends without the interpreter's teardown (``exit_at_once``) and without
cyclic collection (``skip_cyclic_collection``); the worker turns SIGTERM and SIGINT into
an event (``stop_on_signals``), keeps one malloc arena (``one_malloc_arena``), gives freed
memory back (``give_back_free_memory``) and dies with the ``serve`` that started it
(``die_with_parent``). I/O: signals, a pipe, the C library, the process's exit.

Light on purpose (standard library only; ``ctypes`` is imported by the functions that
call the C library): the command line imports this module at every start.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import sys
import threading
from typing import NoReturn

PARENT_ENV = "SYNDICATE_PARENT_PID"  # serve's pid, for the worker's die_with_parent()

#: glibc's ``mallopt`` parameter for the most malloc arenas a process may have.
M_ARENA_MAX = -8


def exit_at_once(code: object) -> NoReturn:
    """``sys.exit(code)`` without the interpreter's teardown: logs and output flushed.

    For a one-shot command that has done its work, and left nothing that needs
    finalising (its files closed, its worker processes stopped, its store closed):
    tearing the interpreter down (every module's objects, SQLAlchemy's and lxml's among
    them, freed one by one, and the collector run over them) costs time nobody waits for.
    """
    logging.shutdown()
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code or 0)


def skip_cyclic_collection() -> None:
    """No cyclic collection for the rest of a process that ends with ``exit_at_once``.

    A one-shot build is one pass: the publish pauses the collector anyway, and after it
    the first collection would walk every object the build made just before they all go
    with the process.
    """
    gc.disable()


def stop_on_signals() -> threading.Event:
    """An event set by the first SIGTERM or SIGINT (a second SIGINT interrupts at once).

    A Python signal handler runs in the main thread between two of its bytecodes, which
    may be inside ``stop.wait()`` holding the event's (not reentrant) lock, or inside a
    write to stderr: setting the event or logging there can deadlock, or raise in the
    middle of whatever the main thread was doing. So the handler only writes the signal's
    number to a pipe; a thread of its own reads it, logs, and sets the event.
    """
    stop = threading.Event()
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    os.set_blocking(write_end, False)

    def handler(signum: int, frame: object) -> None:
        with contextlib.suppress(OSError):  # the pipe full: a signal is on its way anyway
            os.write(write_end, bytes([signum]))
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def on_signal() -> None:
        while data := os.read(read_end, 1):
            logging.getLogger("syndicate").info(
                "%s: shutting down gracefully", signal.Signals(data[0]).name
            )
            stop.set()

    threading.Thread(target=on_signal, name="signals", daemon=True).start()
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def one_malloc_arena() -> bool:
    """Have glibc's malloc keep one arena (heap) for every thread of this process; True
    if it took (elsewhere than glibc, or if it failed, a no-op: False).

    By default each new thread that allocates gets an arena of its own, up to eight per
    core, and each keeps the memory freed in it for later. The worker's threads (the
    scheduler's, the file watcher's, the publish) take turns under the GIL anyway, so
    extra arenas only add memory (measured: bench/RESULTS.md, "Why the fast paths").
    Call it before the threads start, as the worker's first act. Not
    for web workers: granian's threads, outside the GIL, would contend for one arena.
    """
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return False  # not glibc (musl has no mallopt)
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, 1))


def give_back_free_memory() -> bool:
    """Return the pages malloc holds free to the system (glibc's ``malloc_trim``); True
    if it could (elsewhere than glibc: a no-op, False).

    Freed memory stays the process's own, for its next allocations: after a full
    publish, whose feeds are written out and let go, the worker would stay far above
    what it uses. Trimming costs little next to the publish that calls for it
    (measured: bench/RESULTS.md, "Why the fast paths").
    """
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        malloc_trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return False
    malloc_trim.argtypes = [ctypes.c_size_t]
    malloc_trim.restype = ctypes.c_int
    malloc_trim(0)
    return True


def die_with_parent(signum: int = signal.SIGTERM) -> None:
    """In a worker that ``serve`` started: have Linux send us SIGTERM when serve dies, even
    by SIGKILL, so a killed serve never leaves an orphaned scheduler behind (a restarted
    serve would otherwise make two). Call it once SIGTERM stops the worker gracefully.
    Elsewhere, or for a worker started by hand, a no-op.

    Done by the worker itself rather than between fork and exec, where running Python
    is unsafe once serve has threads (its supervisor restarts the worker from one).
    """
    parent = os.environ.pop(PARENT_ENV, None)
    if parent is None or not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signum, 0, 0, 0)
    if os.getppid() != int(parent):  # serve died before we asked
        os.kill(os.getpid(), signum)
