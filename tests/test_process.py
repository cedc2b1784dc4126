"""What a syndicate process does to itself: ends without teardown, stops on a signal."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30
    )


_EXIT_AT_ONCE = """
import atexit, sys
from syndicate.service.process import exit_at_once
atexit.register(lambda: print("teardown ran", flush=True))
sys.stdout.write("written, not flushed")
sys.stderr.write("to stderr, not flushed")
exit_at_once({code})
"""


@pytest.mark.parametrize(("code", "status"), [("3", 3), ("0", 0), ("None", 0)])
def test_a_one_shot_command_ends_with_its_output_flushed_and_no_teardown(
    code: str, status: int
) -> None:
    done = _run(_EXIT_AT_ONCE.format(code=code))
    assert done.returncode == status
    assert done.stdout == "written, not flushed"  # flushed, and atexit never ran
    assert done.stderr == "to stderr, not flushed"


def test_a_message_as_the_exit_code_is_printed_and_exits_1() -> None:
    done = _run(_EXIT_AT_ONCE.format(code="'Error: no such thing'"))
    assert done.returncode == 1
    assert done.stdout == "written, not flushed"
    assert done.stderr == "to stderr, not flushedError: no such thing\n"


def test_a_one_shot_build_does_no_cyclic_collection() -> None:
    script = (
        "import gc\n"
        "from syndicate.service.process import skip_cyclic_collection\n"
        "assert gc.isenabled()\n"
        "skip_cyclic_collection()\n"
        "print(gc.isenabled())\n"
    )
    done = _run(script)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "False\n"


_SIGNAL_WHILE_WAITING = """
import logging, os, signal, sys
from syndicate.service.process import stop_on_signals
logging.basicConfig(level=logging.INFO, format="%(message)s")
stop = stop_on_signals()
# The signal comes while the main thread holds the event's lock, as stop.wait() does
# between its checks; Python runs the handler there, at the next bytecode.
with stop._cond:
    os.kill(os.getpid(), signal.SIGTERM)
    for _ in range(100_000):
        pass
print("stopped" if stop.wait(10) else "not stopped", flush=True)
"""


def test_the_worker_stops_on_a_signal_that_comes_while_it_holds_the_stop_events_lock() -> None:
    """The worker once hung on SIGTERM (killed after its grace period): the handler set
    the stop event from inside the main thread's own wait on it."""
    done = subprocess.run(
        [sys.executable, "-c", _SIGNAL_WHILE_WAITING], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "stopped\n"
    assert done.stderr.splitlines() == ["SIGTERM: shutting down gracefully"]
