"""serve's web tier: the options it gives granian's allocator."""

from __future__ import annotations

import os
import subprocess
import sys

from syndicate.service.server import JEMALLOC_CONF_ENV, WEB_JEMALLOC_CONF

# jemalloc prints its options at exit with stats_print; our options are set first, then
# stats_print is added, as a user could, and granian imported.
_SHOW_OPTIONS = f"""
import os
from syndicate.service.server import configure_allocator
configure_allocator()
print(os.environ[{JEMALLOC_CONF_ENV!r}], flush=True)
os.environ[{JEMALLOC_CONF_ENV!r}] += ",stats_print:true"
import granian._granian
"""


def _options(environ: dict[str, str]) -> tuple[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", _SHOW_OPTIONS],
        env=environ,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip(), done.stderr


def _environ_without_options() -> dict[str, str]:
    environ = dict(os.environ)
    environ.pop(JEMALLOC_CONF_ENV, None)
    return environ


def test_granians_allocator_gets_one_arena() -> None:
    conf, stats = _options(_environ_without_options())
    assert conf == WEB_JEMALLOC_CONF == "narenas:1"
    # Read by the jemalloc inside granian: a dead variable would leave the default (4 per core).
    assert "opt.narenas: 1\n" in stats


def test_options_from_the_environment_are_kept() -> None:
    environ = {**_environ_without_options(), JEMALLOC_CONF_ENV: "narenas:3"}
    conf, stats = _options(environ)
    assert conf == "narenas:3"
    assert "opt.narenas: 3\n" in stats
