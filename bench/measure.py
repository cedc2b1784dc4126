"""Measuring helpers for the benchmark: timed child processes, peak memory, statistics.

Stdlib only (run.py runs under any Python 3.11+). I/O: starts processes and reads /proc.
A run's wall time is from just before the fork to the child's exit (interpreter start
included: that is what a user waits for). Peak memory is reported two ways: the largest
resident set of any one process of the run (``ru_maxrss`` from ``wait4``, which covers
the child and the descendants it reaped), and the largest sum over the whole process
tree, sampled every 20 ms from /proc (what several worker processes cost together).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

SAMPLE_INTERVAL = 0.02


class BenchError(Exception):
    """A step of the benchmark failed (a command exited non-zero, a check did not hold)."""


@dataclasses.dataclass(frozen=True)
class Run:
    """One timed run of a command."""

    seconds: float
    max_rss_mb: float  # largest single process (wait4 ru_maxrss)
    tree_rss_mb: float  # largest sampled sum over the process tree
    # Largest sampled sum of PSS over the tree: forked processes share pages with their
    # parent, which the RSS sum counts once in each; PSS counts them once. 0: not sampled.
    tree_pss_mb: float = 0.0


@dataclasses.dataclass(frozen=True)
class Stats:
    """min / median / max of at least one value."""

    values: tuple[float, ...]

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def max(self) -> float:
        return max(self.values)

    def __len__(self) -> int:
        return len(self.values)


def stats(values: Iterable[float]) -> Stats:
    found = tuple(values)
    if not found:
        raise BenchError("no measurement")
    return Stats(found)


def tree_pids(pid: int) -> list[int]:
    """pid and all its descendants (Linux /proc/PID/task/TID/children), best effort."""
    found = [pid]
    i = 0
    while i < len(found) and len(found) < 1000:
        current = found[i]
        i += 1
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                text = Path(f"/proc/{current}/task/{tid}/children").read_text()
            except OSError:
                continue
            found.extend(int(child) for child in text.split())
    return found


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def tree_rss_kb(pid: int) -> int:
    """Current resident set of pid and its descendants, summed, in KiB."""
    return sum(_status_kb(p, "VmRSS") for p in tree_pids(pid))


def tree_peaks_kb(pid: int) -> dict[int, int]:
    """Peak resident set (VmHWM) of each live process of the tree, in KiB."""
    return {p: _status_kb(p, "VmHWM") for p in tree_pids(pid)}


def tree_pss_kb(pid: int) -> dict[int, int]:
    """Proportional set size (Pss in smaps_rollup) of each live process of the tree, in
    KiB: a page shared by n processes counts 1/n in each, so the sum counts it once."""
    sizes: dict[int, int] = {}
    for p in tree_pids(pid):
        try:
            text = Path(f"/proc/{p}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("Pss:"):
                sizes[p] = int(line.split()[1])
                break
    return sizes


def process_name(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)[:120]


class _TreeSampler:
    """Samples the tree's summed RSS (and, less often, PSS) from a thread until stopped."""

    PSS_EVERY = 5  # samples: reading smaps_rollup walks the page tables

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = 0
        self.peak_pss_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        count = 0
        while not self._stop.wait(SAMPLE_INTERVAL):
            self.peak_kb = max(self.peak_kb, tree_rss_kb(self.pid))
            count += 1
            if count % self.PSS_EVERY == 0:
                pss = sum(tree_pss_kb(self.pid).values())
                self.peak_pss_kb = max(self.peak_pss_kb, pss)

    def __enter__(self) -> _TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_measured(
    command: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 1800.0,
    log: Path | None = None,
) -> Run:
    """Run command to completion; its time and memory. Output goes to log (or nowhere).

    Raises BenchError if it fails or takes longer than timeout (it is killed then).
    """
    out = open(log, "ab") if log is not None else subprocess.DEVNULL
    try:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [os.fspath(part) for part in command],
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    finally:
        if log is not None:
            out.close()  # type: ignore[union-attr]
    killer = threading.Timer(timeout, _kill_group, args=(proc.pid,))
    killer.start()
    try:
        with _TreeSampler(proc.pid) as sampler:
            _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
    except BaseException:
        _kill_group(proc.pid)
        proc.wait()
        raise
    finally:
        killer.cancel()
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code
    if code != 0:
        tail = log.read_text(errors="replace")[-2000:] if log is not None else ""
        raise BenchError(f"{' '.join(map(str, command))}: exit status {code}\n{tail}")
    return Run(seconds, usage.ru_maxrss / 1024, sampler.peak_kb / 1024, sampler.peak_pss_kb / 1024)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def stop_process(proc: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    """SIGTERM the process (and its group), wait up to grace seconds, then SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except OSError:
        proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        proc.wait(timeout=10)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: object, timeout: float, interval: float = 0.05) -> bool:
    """Call predicate until it is true or timeout passes; whether it became true."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
