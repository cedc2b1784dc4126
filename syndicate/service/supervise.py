"""Supervise: ``syndicate serve``'s child ``syndicate worker`` and its ready signal.

``WorkerProcess`` is how ``serve`` runs the worker as a child process, so that there is
exactly one scheduler per deployment and none in the process that forks granian's web
workers. The worker says it is ready (its live tree is current: confirmed by the publish
stamp, or written by its first publish) by writing one byte to a pipe whose descriptor
it finds in ``SYNDICATE_READY_FD``; ``serve`` starts its web tier then, and restarts the
worker whenever it exits on its own (a crash, the OOM killer).

``WorkerLock`` makes the scheduler one per state folder: ``syndicate worker`` holds it
while it runs, and ``serve`` holds it for its child (which inherits it), so a second
worker or serve on the same state is refused at once, naming the lock.
``web_answers()`` is how a worker started with ``--wait-for`` knows that the web tier
serves, before it lets hubs know of a change (a hub fetches the feed at once).

Light on purpose (standard library only): ``serve``'s main process imports this and
granian, not the publishing stack its child runs. I/O: starts a process, reads a pipe,
locks a file, sends an HTTP request.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from ..config import Config
from ..errors import SyndicateError
from .process import PARENT_ENV

log = logging.getLogger("syndicate.scheduler")

READY_FD_ENV = "SYNDICATE_READY_FD"
LOCK_FD_ENV = "SYNDICATE_WORKER_LOCK_FD"  # serve's WorkerLock, inherited by its worker
WORKER_LOCK = ".syndicate-worker.lock"
"""The scheduler's lock file in the state folder (``.syndicate.lock`` is the publish lock)."""


def signal_ready() -> None:
    """Tell the ``serve`` that started us that the live tree is current (once; a no-op
    when nobody is waiting, for example a ``syndicate worker`` started by hand)."""
    fd = os.environ.pop(READY_FD_ENV, None)
    if fd is None:
        return
    try:
        os.write(int(fd), b"1")
        os.close(int(fd))
    except (OSError, ValueError) as exc:
        log.warning("cannot tell serve that the worker is ready: %s", exc)


class WorkerLock:
    """The state folder's one scheduler: an exclusive ``flock`` on ``WORKER_LOCK`` there,
    held for the life of a ``syndicate worker`` (or of a ``serve`` with its worker child).

    Not the publish lock: ``republish`` and the editor API publish while a worker runs
    (one publish at a time, under ``.syndicate.lock``); this one only keeps a second
    scheduler, which would publish and notify everything twice, from starting.
    The file holds the pid of the process that took it, for the message of the next.
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd

    @classmethod
    def acquire(cls, state: Path, serving: bool = False) -> WorkerLock:
        """Take the lock at once, or raise a one-line ``SyndicateError`` naming it.

        A worker started by ``serve`` finds serve's lock in ``LOCK_FD_ENV``: the same
        open file, so the same lock, already held (taking it again is a no-op).
        ``serving``: the message is for ``serve``, which can serve without a scheduler.
        """
        path = state / WORKER_LOCK
        fd = _inherited_lock(path)
        inherited = fd is not None
        if fd is None:
            try:
                state.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                raise SyndicateError(f"{path}: cannot open the lock: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _lock_holder(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise SyndicateError(f"{path}: cannot lock: {exc.strerror}") from None
            held = f"{path} is held by another syndicate worker or serve on this state"
            held += f" (pid {holder})" if holder else ""
            if serving:
                raise SyndicateError(
                    f"{held}: stop it, or serve beside it with `syndicate serve --no-scheduler`"
                ) from None
            raise SyndicateError(
                f"{held}: one scheduler per state folder (two would notify twice); "
                "stop that one first"
            ) from None
        if not inherited:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd)

    def release(self) -> None:
        """Close our descriptor. Never ``LOCK_UN``: in serve's worker that would free the
        lock serve holds for it (one open file, one lock); it goes with the last close."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _inherited_lock(path: Path) -> int | None:
    """serve's lock descriptor, if we are its worker and it is the lock of ``path``."""
    value = os.environ.pop(LOCK_FD_ENV, None)
    if value is None:
        return None
    try:
        fd = int(value)
        held, ours = os.fstat(fd), os.stat(path)
    except (OSError, ValueError):
        return None
    return fd if (held.st_dev, held.st_ino) == (ours.st_dev, ours.st_ino) else None


def _lock_holder(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode("ascii").strip())
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def web_answers(url: str, timeout: float) -> str | None:
    """None if the web tier at ``url`` answers a GET with a status below 500, else what
    it did (the error, or the 5xx a proxy in front of a web tier that is down answers).

    ``http.client``, not urllib: no proxy from the environment between us and our own
    web tier. Imported here: ``serve``'s main process imports this module and never
    probes; it would pay in memory for http.client and the ssl and email modules it
    brings.
    """
    import http.client

    parts = urlsplit(url)
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    connection = connection_class(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.request("GET", target, headers={"User-Agent": "syndicate (worker --wait-for)"})
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as exc:
        return str(exc) or type(exc).__name__
    finally:
        connection.close()
    return None if status < 500 else f"HTTP {status}"


class WorkerProcess:
    """``syndicate worker`` as a child of ``syndicate serve``: the one scheduler of a
    deployment whose web tier is granian's worker processes (which must never run one).

    Started before granian, so that no scheduler thread exists in the process that forks
    the web workers. ``wait_ready()`` waits for its ready signal; ``stop()`` asks it to
    shut down gracefully (SIGTERM), and kills it only if it does not within ``grace``.
    """

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        grace: float,
        ready_fd: int,
        command: Sequence[str] = (),
        env: dict[str, str] | None = None,
        pass_fds: Sequence[int] = (),
    ) -> None:
        self.process = process
        self.grace = grace
        self.restarts = 0
        self._ready_fd: int | None = ready_fd  # our end of the ready pipe
        self._command = list(command)  # how to start it again; supervise() needs it
        self._env = env  # for a restart: no ready pipe then
        self._pass_fds = tuple(pass_fds)  # for a restart: the lock, no ready pipe
        self._started = time.monotonic()
        self._lock = threading.Lock()  # held while self.process is replaced or stopped
        self._stopping = threading.Event()

    @classmethod
    def spawn(
        cls,
        config_path: Path,
        config: Config,
        options: Sequence[str] = (),
        lock: WorkerLock | None = None,
        wait_for: str | None = None,
    ) -> WorkerProcess:
        """Start ``syndicate [options] worker --config config_path [--wait-for URL]``,
        sharing our stdout/stderr and, if given, our ``lock`` (so that no other worker
        can take it between a worker's death and its restart)."""
        command = [sys.executable, "-m", "syndicate", *options, "worker"]
        command += ["--config", str(config_path.absolute())]
        if wait_for is not None:
            command += ["--wait-for", wait_for]
        read_end, write_end = os.pipe()
        env = {**os.environ, PARENT_ENV: str(os.getpid())}
        pass_fds: tuple[int, ...] = ()
        if lock is not None:
            env[LOCK_FD_ENV] = str(lock.fd)
            pass_fds = (lock.fd,)
        try:
            process = subprocess.Popen(
                command,
                pass_fds=(write_end, *pass_fds),
                env={**env, READY_FD_ENV: str(write_end)},
            )
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)  # the child has its copy; EOF on ours means it is gone
        # Grace: a publish and a delivery attempt in flight (a ping may take two requests).
        grace = max(10.0, 2 * config.notify.timeout + 5)
        worker = cls(process, grace, read_end, command, env, pass_fds)
        log.info("worker started (pid %d)", process.pid)
        return worker

    def wait_ready(self, timeout: float = 60.0) -> bool:
        """Wait until the worker says its live tree is current (True), or ``timeout``
        has passed (False: the web workers build in memory meanwhile).

        Raises ``SyndicateError`` if the worker exits first.
        """
        fd = self._ready_fd
        if fd is None:
            return True
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.warning("worker: no live tree after %g s; serving without it for now", timeout)
                return False
            readable, _, _ = select.select([fd], [], [], remaining)
            if not readable:
                continue
            signalled = os.read(fd, 1)
            os.close(fd)
            self._ready_fd = None
            if signalled:
                return True
            # End of file without a byte: the worker exited (or closed the pipe) first.
            status = self.process.wait()
            raise SyndicateError(f"syndicate worker exited with status {status} before publishing")

    def supervise(self, delay: float = 1.0, max_delay: float = 60.0, stable: float = 60.0) -> None:
        """Restart the worker, in a background thread, whenever it exits without being
        asked to: without it nothing is published and nobody is notified.

        The first restart comes ``delay`` seconds after the exit; the wait doubles (up to
        ``max_delay``) while each new worker dies within ``stable`` seconds of its start,
        so a worker that cannot start (a broken state folder) does not spin.
        """
        if not self._command:
            raise ValueError("supervise() needs the command that started the worker")
        watcher = threading.Thread(
            target=self._restart_on_exit,
            args=(delay, max_delay, stable),
            name="worker-supervisor",
            daemon=True,
        )
        watcher.start()

    def _restart_on_exit(self, delay: float, max_delay: float, stable: float) -> None:
        wait = delay
        while True:
            process = self.process
            status = process.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - self._started >= stable:
                wait = delay
            log.error(
                "worker (pid %d) exited with status %s; restarting it in %g s",
                process.pid,
                status,
                wait,
            )
            if self._stopping.wait(wait):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                try:
                    self.process = subprocess.Popen(
                        self._command, env=self._env, pass_fds=self._pass_fds
                    )
                except OSError as exc:
                    log.error("cannot restart the worker: %s", exc)
                    self._started = time.monotonic()
                    wait = min(2 * wait, max_delay)
                    continue
                self._started = time.monotonic()
                self.restarts += 1
            log.info("worker restarted (pid %d)", self.process.pid)
            wait = min(2 * wait, max_delay)

    def stop(self) -> int | None:
        """SIGTERM, wait up to ``grace`` seconds, then SIGKILL; the exit status."""
        self._stopping.set()
        if self._ready_fd is not None:
            os.close(self._ready_fd)
            self._ready_fd = None
        with self._lock:
            process = self.process
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=self.grace)
            except subprocess.TimeoutExpired:
                log.error("worker did not stop within %g s: killed", self.grace)
                process.kill()
                process.wait()
        status = process.returncode
        log.info("worker stopped (status %s)", status)
        return status
