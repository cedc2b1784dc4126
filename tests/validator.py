"""The W3C Feed Validation Service for tests, as ``../shared/tools`` sets it up (its
README): ``validate`` runs it on the feed documents of a built tree, or skips the test
saying what is missing (CI may have no mirror of the validator). Runs a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import typing
from pathlib import Path

import pytest


def _validator() -> tuple[list[str], dict[str, str]]:
    """The command that runs the W3C validator (shared/tools/validate_feed.py, in the venv
    setup_conformance.sh makes) and its environment; or skip, saying what is missing."""
    bases = Path(__file__).resolve().parents[1].parents[:3]  # beside the repo, or its worktree
    tools = [Path(os.environ["FEEDVALIDATOR_TOOL"])] if "FEEDVALIDATOR_TOOL" in os.environ else []
    tools += [base / "shared" / "tools" / "validate_feed.py" for base in bases]
    tool = next((path for path in tools if path.is_file()), None)
    if tool is None:
        pytest.skip(f"W3C validator runner not found (looked for {', '.join(map(str, tools))})")
    python = Path(os.environ.get("FV_VENV", "/tmp/fv-venv")) / "bin" / "python"
    if not python.exists():
        pytest.skip(f"{python} missing: run shared/tools/setup_conformance.sh")
    env = dict(os.environ)
    if "FEEDVALIDATOR_MIRROR" not in env:
        mirrors = [base / ".mirror" / "w3c+feedvalidator" / "repo" for base in bases]
        mirror = next((path for path in mirrors if path.exists()), None)
        if mirror is not None:
            env["FEEDVALIDATOR_MIRROR"] = str(mirror)
        elif not list(Path("/tmp").glob("feedvalidator-*/src/feedvalidator/__init__.py")):
            pytest.skip("W3C feedvalidator mirror not found (set FEEDVALIDATOR_MIRROR)")
    return [str(python), str(tool)], env


def validate(out: Path, base_url: str) -> list[dict[str, typing.Any]]:
    """Every feed document under ``out`` through the W3C validator, as if served from
    ``base_url`` (so that rel="self" is checked): one result per file."""
    command, env = _validator()
    files = sorted(
        str(path.relative_to(out))
        for path in out.rglob("*")
        if path.suffix in (".rss", ".atom", ".opml")
    )
    done = subprocess.run(
        [*command, "--json", "--base-url", base_url, "--root", str(out), *files],
        cwd=out,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    if done.returncode == 2:
        pytest.skip(f"W3C validator not usable here: {done.stderr.strip()[-300:]}")
    results: list[dict[str, typing.Any]] = json.loads(done.stdout)
    assert sorted(str(result["feed"]) for result in results) == files
    return results
