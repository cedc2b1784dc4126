"""syndicate's benchmark against Hugo, Pelican, a hand-written script, the floor and nginx.

    python bench/run.py --posts 10000 [--write-results]     # the full run
    python bench/run.py --quick                             # 1k posts, short load runs
    python bench/run.py --sections build,serve               # some sections only

Creates what it needs under the cache folder (``bench/.cache`` by default): two virtual
environments (syndicate from this repository; hugo, pelican and the script's packages
from the registries), the corpora from ``../shared/bench/gen_corpus.py`` (fixed seed),
and the sites. Every figure is measured in this run next to its comparison, as a ratio,
with min / median / max of ``--rounds`` runs (at least 3), interleaving the contenders so
that the machine's noise falls on all of them (syndicate and Hugo, whose ratio is a
target, one right after the other, and ``--pair-rounds`` more times alone). Prints
Markdown tables; ``--write-results`` also puts them in ``bench/RESULTS.md`` between its
markers, keeping the rest of the file.

Sections: ``build`` (cold builds and their peak memory at 1k and at --posts), ``warm``
(republish and worker start with nothing changed), ``live`` (serve restart; one post
edited, added, deleted; the service's memory), ``serve`` (wrk against syndicate serve and
nginx on the same files). Needs nginx and wrk (Debian ``nginx-light``, ``wrk``); as root
it installs them with apt-get when missing. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import envs
import live
import loadgen
import sites
from measure import (
    BenchError,
    Run,
    Stats,
    free_port,
    run_measured,
    stats,
    stop_process,
    tree_peaks_kb,
)

BENCH = Path(__file__).resolve().parent
SECTIONS = ("build", "warm", "live", "serve")
BUILDERS = ("syndicate", "hugo", "pelican", "script", "floor")
BUILDER_LABELS = {
    "syndicate": "syndicate build (RSS+Atom, full content)",
    "hugo": "Hugo (RSS only, summaries)",
    "pelican": "Pelican (Atom+RSS, feeds only)",
    "script": "script: frontmatter+markdown-it+feedgen",
    "floor": "floor: read+libyaml+markdown-it, 1 core",
}
TARGET_FEED_BYTES = 90_000  # the "one ~90 KB feed"
MARK_BEGIN = "<!-- bench:begin (written by bench/run.py --write-results) -->"
MARK_END = "<!-- bench:end -->"


# --------------------------------------------------------------------------- formatting


def fmt_s(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s"


def fmt_stats(st: Stats, fmt: Any = fmt_s) -> str:
    return f"{fmt(st.min)} / {fmt(st.median)} / {fmt(st.max)}"


def fmt_ratio(num: float, den: float) -> str:
    return f"{num / den:.2f}x" if den else "n/a"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


# --------------------------------------------------------------------------- context


class Bench:
    """Options, environments and the results gathered so far."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.cache: Path = args.cache.resolve()
        self.work: Path = self.cache / "work"
        self.logs: Path = self.cache / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.envs = envs.ensure_envs(self.cache)
        self.syndicate = self.envs.syndicate_bin / "syndicate"
        self.results: dict[str, Any] = {}
        self.set_aside = SetAside(self.work / "set-aside")
        self.notes: list[str] = []
        self.env = envs.env_without_venv()

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    @property
    def largest(self) -> int:
        return int(max(self.args.sizes))

    def syndicate_flags(self) -> list[str]:
        """``--no-cache`` for a cold build, when this syndicate has it."""
        help_text = subprocess.run(
            [str(self.syndicate), "build", "--help"], capture_output=True, text=True, env=self.env
        ).stdout
        return ["--no-cache"] if "--no-cache" in help_text else []


def say(text: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {text}", flush=True)


def reset(*paths: Path) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


class SetAside:
    """Where the build rounds' outputs go until the section ends, to be removed then.

    Removing a tree just before a build makes that build's file creations dearer on
    ext4 without a journal (these machines' file system): the inode allocator steps
    over every inode freed recently (``recently_deleted()`` in ext4's ialloc.c) on each
    creation, a scan as long as the trees removed. Measured here: 1,400 files created
    in 0.05 s in a fresh folder, in 0.36 to 0.67 s within 40 s of removing 1,400 others
    there. A tree moved aside frees no inode, so no contender's time carries the
    bench's own clean-up, nor grows with the rounds before it.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._count = 0

    def __call__(self, *paths: Path) -> None:
        for path in paths:
            if path.exists():
                self._count += 1
                target = self.folder / f"{os.getpid()}-{self._count}-{path.name}"
                target.parent.mkdir(parents=True, exist_ok=True)
                path.rename(target)

    def empty(self) -> None:
        """Remove what was set aside (by this run and any before it), once nothing is timed."""
        reset(self.folder)


# --------------------------------------------------------------------------- build


def section_build(bench: Bench, posts: int) -> dict[str, Any]:
    corpus = envs.ensure_corpus(bench.cache, posts)
    work = bench.work / f"build-{posts}"
    say(f"build {posts}: setting up the Hugo, Pelican and syndicate sites")
    sites.setup_hugo(corpus, work / "hugo")
    sites.setup_pelican(corpus, work / "pelican")
    config = sites.setup_syndicate(corpus, work / "syndicate")
    flags = bench.syndicate_flags()
    outs = {
        "syndicate": work / "syndicate" / "out",
        "hugo": work / "hugo-public",
        "pelican": work / "pelican-out",
        "script": work / "script-out",
    }
    state = work / "syndicate" / "state"
    hugo_cache = work / "hugo-cache"
    commands: dict[str, list[str | os.PathLike[str]]] = {
        "syndicate": [
            bench.syndicate,
            "-q",
            "build",
            "--config",
            config,
            "--out",
            outs["syndicate"],
            *flags,
        ],
        "hugo": [
            bench.envs.hugo,
            "--source",
            work / "hugo",
            "--destination",
            outs["hugo"],
            "--quiet",
            "--cacheDir",
            hugo_cache,
        ],
        "pelican": [
            bench.envs.tools_bin / "pelican",
            work / "pelican" / "content",
            "-s",
            work / "pelican" / "pelicanconf.py",
            "-o",
            outs["pelican"],
            "-q",
        ],
        "script": [bench.envs.tools_python, BENCH / "feeds_script.py", corpus, outs["script"]],
        "floor": [bench.envs.tools_python, BENCH / "floor.py", corpus],
    }
    # A cold build: no output, no state, no cache of any kind.
    prepare = {
        "syndicate": [outs["syndicate"], state, work / "syndicate" / "cache"],
        "hugo": [outs["hugo"], hugo_cache],
        "pelican": [outs["pelican"]],
        "script": [outs["script"]],
        "floor": [],
    }
    runs: dict[str, list[Run]] = {name: [] for name in BUILDERS}
    builders = [b for b in BUILDERS if b in bench.args.builders]
    counts: dict[str, dict[str, int]] = {}
    set_aside = bench.set_aside
    # After the rounds of every contender, more of syndicate and Hugo alone: the target's
    # ratio, taken round by round, needs more rounds than this machine's noise allows
    # five to settle, and these two take seconds where Pelican takes a minute.
    paired = [b for b in builders if b in ("syndicate", "hugo")]
    extra = bench.args.pair_rounds if len(paired) == 2 else 0
    rounds = [builders] * bench.args.rounds + [paired] * extra
    for round_no, contenders in enumerate(rounds):
        order = build_order(contenders, round_no)
        for name in order:
            set_aside(*prepare[name])
            run = run_measured(
                commands[name],
                cwd=work,
                env=bench.env,
                log=bench.log(f"build-{posts}-{name}"),
                timeout=bench.args.build_timeout,
            )
            runs[name].append(run)
            say(
                f"build {posts} round {round_no + 1}: {name} {run.seconds:.2f} s, "
                f"{run.max_rss_mb:.0f} MB (tree {run.tree_rss_mb:.0f} MB)"
            )
            if round_no == 0:
                counts[name] = count_outputs(name, outs.get(name))
    phases = floor_phases(bench, corpus) if "floor" in builders else {}
    cats, tags = envs.corpus_terms(corpus)
    return {
        "posts": posts,
        "categories": len(cats),
        "tags": len(tags),
        "syndicate_flags": flags,
        "pair_rounds": extra,
        "runs": {k: [vars(r) for r in v] for k, v in runs.items() if v},
        "counts": counts,
        "floor_phases": phases,
    }


def build_order(builders: list[str], round_no: int) -> list[str]:
    """The order of one round: syndicate and Hugo one right after the other (the ratio
    the target is about is taken round by round, so both see the machine as it is then),
    which of them first alternating; the others after them, rotated, so that no
    contender always runs right after the same one."""
    pair = [name for name in ("syndicate", "hugo") if name in builders]
    if round_no % 2:
        pair.reverse()
    rest = [name for name in builders if name not in pair]
    shift = round_no % len(rest) if rest else 0
    return pair + rest[shift:] + rest[:shift]


def round_ratios(num: list[float], den: list[float]) -> Stats:
    """min / median / max of num / den round by round: the runs of the first rounds,
    where both ran (syndicate and Hugo run in the extra rounds too)."""
    return stats(n / d for n, d in zip(num, den, strict=False) if d)


def count_outputs(name: str, out: Path | None) -> dict[str, int]:
    if out is None:
        return {}
    if name == "hugo":
        return sites.count_hugo(out)
    if name == "pelican":
        return sites.count_pelican(out)
    return sites.count_feed_files(out)


def floor_phases(bench: Bench, corpus: Path) -> dict[str, float]:
    """One more (untimed) floor run that reports where its time goes."""
    command = [str(bench.envs.tools_python), str(BENCH / "floor.py"), str(corpus), "--phases"]
    out = subprocess.run(command, capture_output=True, text=True, check=True, env=bench.env)
    phases: dict[str, float] = json.loads(out.stdout)
    return phases


# --------------------------------------------------------------------------- warm


def section_warm(bench: Bench) -> dict[str, Any]:
    posts = bench.largest
    corpus = envs.ensure_corpus(bench.cache, posts)
    site = bench.work / f"warm-{posts}"
    reset(site)
    config = sites.setup_syndicate(corpus, site)
    log = bench.log(f"warm-{posts}")
    republish: list[str | os.PathLike[str]] = [
        bench.syndicate,
        "-q",
        "republish",
        "--config",
        config,
    ]
    say(f"warm {posts}: first publish (empty state)")
    first = run_measured(republish, env=bench.env, log=log, timeout=bench.args.build_timeout)
    warm: list[Run] = []
    for round_no in range(bench.args.rounds):
        warm.append(run_measured(republish, env=bench.env, log=log))
        say(f"warm {posts} round {round_no + 1}: republish {warm[-1].seconds:.2f} s")
    worker: list[float] = []
    worker_full: list[float] = []
    worker_mb: list[float] = []
    for round_no in range(bench.args.rounds):
        ready, started, peak = time_worker_start(bench, config, log)
        worker.append(ready)
        worker_full.append(started)
        worker_mb.append(peak)
        say(
            f"warm {posts} round {round_no + 1}: worker start to ready {ready:.2f} s, "
            f"to service started {started:.2f} s"
        )
    return {
        "posts": posts,
        "first_publish": vars(first),
        "republish": [vars(r) for r in warm],
        "worker_start": worker,
        "worker_full_start": worker_full,
        "worker_peak_mb": worker_mb,
    }


# The worker's log line when its publish stamp confirms the live tree (it is ready: serve
# starts its web tier then), and the one after its first publish (every post in memory).
WORKER_READY = b"is current: "
WORKER_STARTED = b"service started"


def time_worker_start(bench: Bench, config: Path, log: Path) -> tuple[float, float, float]:
    """Seconds from starting ``syndicate worker`` to ready (the live tree confirmed
    current, or else the first publish done) and to ``service started``; peak MB."""
    offset = log.stat().st_size if log.exists() else 0
    out = open(log, "ab")  # noqa: SIM115 - the process keeps it
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(bench.syndicate), "worker", "--config", str(config)],
        stdout=out,
        stderr=out,
        stdin=subprocess.DEVNULL,
        env=bench.env,
        start_new_session=True,
    )
    out.close()
    ready: float | None = None
    try:
        deadline = started + bench.args.build_timeout
        while time.perf_counter() < deadline:
            with open(log, "rb") as handle:
                handle.seek(offset)
                text = handle.read()
            now = time.perf_counter() - started
            if ready is None and WORKER_READY in text:
                ready = now
            if WORKER_STARTED in text:
                seconds = now
                break
            if proc.poll() is not None:
                raise BenchError(f"syndicate worker exited; see {log}")
            time.sleep(0.005)
        else:
            raise BenchError("syndicate worker did not start in time")
        peak = sum(tree_peaks_kb(proc.pid).values()) / 1024
    finally:
        stop_process(proc, grace=30)
    return (seconds if ready is None else ready), seconds, peak


# --------------------------------------------------------------------------- live + serve


def section_live(bench: Bench, do_live: bool, do_serve: bool) -> dict[str, Any]:
    posts = bench.largest
    corpus = envs.ensure_corpus(bench.cache, posts)
    site = bench.work / f"live-{posts}"
    reset(site)
    posts_dir = site / "posts"
    shutil.copytree(corpus, posts_dir)
    port = free_port()
    debounce = bench.args.debounce
    config = sites.setup_syndicate(
        posts_dir,
        site,
        serve={"host": "127.0.0.1", "port": port, "workers": bench.args.workers},
        watch={"debounce": debounce, "scan_interval": 3600},
    )
    out_dir = site / "_site"
    log = bench.log(f"live-{posts}")
    reset(log)
    service = live.Service(bench.syndicate, config, port, log)
    result: dict[str, Any] = {"posts": posts, "debounce": debounce, "workers": bench.args.workers}
    try:
        say(f"live {posts}: first start of serve (empty state)")
        result["first_start"] = service.start()
        time.sleep(3)
        service.stop()
        if do_live:
            restarts = []
            for round_no in range(bench.args.rounds):
                restarts.append(service.start())
                # Let every web worker finish starting: granian handles a SIGTERM that
                # arrives while a worker is still starting slowly.
                time.sleep(3)
                service.wait_started()
                service.stop()
                say(f"live {posts} round {round_no + 1}: restart {restarts[-1]:.2f} s")
            result["restart"] = restarts
        service.start()
        service.wait_started()
        if do_live:
            result["ops"] = run_ops(bench, service, posts_dir, out_dir)
        if do_serve:
            result["serve"] = run_serving(bench, service, out_dir)
        result["service_peaks_mb"] = service.peaks_mb()
        result["service_pss_mb"] = service.pss_mb()
    finally:
        service.stop()
    return result


def run_ops(
    bench: Bench, service: live.Service, posts_dir: Path, out_dir: Path
) -> dict[str, list[dict[str, Any]]]:
    meta = envs.newest_post(posts_dir)
    manifest = live.read_manifest(out_dir)
    if manifest is None:
        raise BenchError("serve is running but there is no live tree")
    expected = live.affected_feeds(manifest, meta)
    settle = bench.args.debounce + 0.7
    ops: dict[str, list[dict[str, Any]]] = {"edit": [], "add": [], "delete": []}
    time.sleep(settle)
    for round_no in range(1, bench.args.rounds + 1):
        res = live.timed_change(
            service, out_dir, expected, lambda k=round_no: live.edit_post(meta, k)
        )
        ops["edit"].append(vars(res))
        say(f"live edit {round_no}: {res}")
        time.sleep(settle)
        path = live.added_path(posts_dir, round_no)
        text = live.new_post_text(meta, round_no)
        res = live.timed_change(
            service, out_dir, expected, lambda p=path, t=text: p.write_text(t, encoding="utf-8")
        )
        ops["add"].append(vars(res))
        say(f"live add {round_no}: {res}")
        time.sleep(settle)
        res = live.timed_change(service, out_dir, expected, lambda p=path: p.unlink())
        ops["delete"].append(vars(res))
        say(f"live delete {round_no}: {res}")
        time.sleep(settle)
    return ops


def choose_feed(out_dir: Path) -> tuple[str, int, int]:
    """The RSS feed whose size is closest to ~90 KB: (URL path, bytes, gzip bytes)."""
    manifest = live.read_manifest(out_dir)
    if manifest is None:
        raise BenchError(f"{out_dir}: no live tree")
    best = None
    for url_path, entry in manifest["documents"].items():
        if not url_path.endswith(".rss"):
            continue
        size = (out_dir / entry["file"]).stat().st_size
        if best is None or abs(size - TARGET_FEED_BYTES) < abs(best[1] - TARGET_FEED_BYTES):
            best = (url_path, size, entry["file"])
    if best is None:
        raise BenchError("no RSS feed in the live tree")
    gz = (out_dir / (best[2] + ".gz")).stat().st_size
    return best[0], best[1], gz


def run_serving(bench: Bench, service: live.Service, out_dir: Path) -> dict[str, Any]:
    path, size, gz_size = choose_feed(out_dir)
    nginx, nginx_port = loadgen.start_nginx(out_dir, bench.work / "nginx", bench.args.workers)
    try:
        ports = {"nginx": nginx_port, "syndicate": service.port}
        scenarios: dict[str, dict[str, dict[str, str]]] = {}
        checks: dict[str, dict[str, str]] = {}
        for server, port in ports.items():
            first = loadgen.get(port, path)
            etag = first.headers.get("etag", "")
            if first.status != 200 or len(first.body) != size or not etag:
                raise BenchError(f"{server}: GET {path}: {first.status}, {len(first.body)} bytes")
            gz = loadgen.get(port, path, {"Accept-Encoding": "gzip"})
            if gz.status != 200 or gz.headers.get("content-encoding") != "gzip":
                raise BenchError(f"{server}: GET {path} with gzip: {gz.status}, {gz.headers}")
            nm = loadgen.get(port, path, {"If-None-Match": etag})
            if nm.status != 304:
                raise BenchError(f"{server}: If-None-Match {etag}: {nm.status}")
            scenarios[server] = {
                "200": {},
                "200 gzip": {"Accept-Encoding": "gzip"},
                "304": {"If-None-Match": etag},
            }
            checks[server] = {
                "200": f"{len(first.body)} B",
                "200 gzip": f"{len(gz.body)} B gzip",
                "304": "304",
            }
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {
            s: {k: [] for k in ("200", "200 gzip", "304")} for s in ports
        }
        for round_no in range(bench.args.rounds):
            for kind in ("200", "200 gzip", "304"):
                order = list(ports) if round_no % 2 == 0 else list(reversed(list(ports)))
                for server in order:
                    res = loadgen.run_wrk(
                        ports[server],
                        path,
                        scenarios[server][kind],
                        seconds=bench.args.wrk_seconds,
                        connections=bench.args.connections,
                        threads=bench.args.wrk_threads,
                    )
                    runs[server][kind].append(vars(res))
                    say(
                        f"serve round {round_no + 1} {kind} {server}: "
                        f"{res.requests_per_s:.0f} req/s, p50 {res.p50_ms:.2f} ms, "
                        f"p99 {res.p99_ms:.2f} ms, bad {res.bad}"
                    )
    finally:
        stop_process(nginx)
    return {"path": path, "bytes": size, "gzip_bytes": gz_size, "checks": checks, "runs": runs}


# --------------------------------------------------------------------------- report


def report(bench: Bench) -> tuple[str, list[str]]:
    """The Markdown tables and the list of targets (met or missed)."""
    res = bench.results
    parts: list[str] = []
    targets: list[str] = []
    builds = res.get("build", {})
    hugo_cold: dict[int, float] = {}
    syn_cold: dict[int, float] = {}
    cold_ratio: dict[int, Stats] = {}
    for posts, data in sorted(builds.items()):
        runs = {k: [Run(**r) for r in v] for k, v in data["runs"].items()}
        syn = stats(r.seconds for r in runs["syndicate"]) if "syndicate" in runs else None
        syn_times = [r.seconds for r in runs.get("syndicate", [])]
        extra_rounds = data.get("pair_rounds", 0)
        rows = []
        for name in BUILDERS:
            if name not in runs:
                continue
            st = stats(r.seconds for r in runs[name])
            peak = max(r.max_rss_mb for r in runs[name])
            tree = max(r.tree_rss_mb for r in runs[name])
            pss = max(r.tree_pss_mb for r in runs[name])
            count = data["counts"].get(name, {})
            written = ", ".join(f"{v} {k}" for k, v in count.items()) or "-"
            ratio = "1"
            if syn is not None and name != "syndicate":
                by_round = round_ratios(syn_times, [r.seconds for r in runs[name]])
                ratio = (
                    f"{by_round.median:.2f}x ({by_round.min:.2f} to {by_round.max:.2f}; "
                    f"of medians {fmt_ratio(syn.median, st.median)})"
                )
                if name == "hugo":
                    cold_ratio[int(posts)] = by_round
            rows.append(
                [
                    BUILDER_LABELS[name],
                    fmt_stats(st),
                    f"{peak:.0f} / {tree:.0f} / {pss:.0f}",
                    written,
                    ratio,
                ]
            )
            if name == "hugo":
                hugo_cold[int(posts)] = st.median
        if syn is not None:
            syn_cold[int(posts)] = syn.median
        flags = " ".join(data["syndicate_flags"]) or "(no --no-cache flag: state removed)"
        phases = data.get("floor_phases") or {}
        phase_text = (
            f" Floor split (one extra run): read {phases['read']:.2f} s, YAML "
            f"{phases['yaml']:.2f} s, Markdown {phases['markdown']:.2f} s."
            if phases
            else ""
        )
        parts.append(
            f"### Cold full build, {posts} posts ({data['categories']} categories, "
            f"{data['tags']} tags)\n\n"
            + table(
                [
                    "build",
                    "min / median / max",
                    "peak MB (largest process RSS / tree RSS sum / tree PSS sum)",
                    "files written",
                    "syndicate ÷ this, round by round: median (min to max; of medians)",
                ],
                rows,
            )
            + f"\n\nsyndicate: `syndicate build {flags}`. Before each run of every build, "
            "its output (and syndicate's state and cache, Hugo's cache) is moved aside, "
            "to be removed once every build has run (see `SetAside` in bench/run.py). "
            "A ratio under 1 means syndicate took less time. Each round runs syndicate "
            "and Hugo one right after the other (which first alternates), then the others, "
            f"and {extra_rounds} more rounds run syndicate and Hugo alone; each ratio is "
            "taken round by round, and its median is the verdict's (the ratio of the "
            f"medians is shown too).{phase_text}"
        )
    for posts in sorted(set(hugo_cold) & set(syn_cold) & set(cold_ratio)):
        by_round = cold_ratio[posts]
        ok = by_round.median <= 1
        figures = (
            f"{by_round.median:.2f}x, the median of {len(by_round.values)} rounds' ratios, "
            f"{by_round.min:.2f}x to {by_round.max:.2f}x; medians: syndicate "
            f"{fmt_s(syn_cold[posts])}, Hugo {fmt_s(hugo_cold[posts])}"
        )
        if posts == max(cold_ratio):
            targets.append(
                f"Cold full build at {posts} posts no slower than Hugo: {verdict(ok)} ({figures})."
            )
        else:
            # The targets are at its largest corpus; a smaller one is measured
            # and shown beside them, with no verdict.
            targets.append(
                f"Cold full build at {posts} posts against Hugo (measured for reference; "
                f"the targets are at {max(cold_ratio)} posts): "
                f"{'no slower' if ok else 'slower'} ({figures})."
            )
    largest = max(builds) if builds else None
    if largest is not None and "syndicate" in builds[largest]["runs"]:
        syn_runs = [Run(**r) for r in builds[largest]["runs"]["syndicate"]]
        # The tree's RSS sum counts each page a forked reader shares with the build's
        # main process once per process; its PSS sum counts it once. Without a PSS
        # sample (an old result), the RSS sum stands in.
        peak = max(max(r.max_rss_mb, r.tree_pss_mb or r.tree_rss_mb) for r in syn_runs)
        tree_rss = max(r.tree_rss_mb for r in syn_runs)
        targets.append(
            f"Peak memory of a build at {largest} posts under 150 MB: {verdict(peak < 150)} "
            f"({peak:.0f} MB, the larger of the largest process's peak RSS and the process "
            f"tree's peak PSS; the tree's RSS summed over processes peaked at "
            f"{tree_rss:.0f} MB)."
        )

    rows = []
    warm = res.get("warm")
    cold = syn_cold.get(warm["posts"]) if warm else None
    if warm:
        rep = stats(r["seconds"] for r in warm["republish"])
        worker = stats(warm["worker_start"])
        first = warm["first_publish"]["seconds"]
        for label, st in (
            ("warm `syndicate republish` (second run, nothing changed)", rep),
            ("warm `syndicate worker` start to ready (live tree confirmed current)", worker),
        ):
            ratio = f"{st.median / cold * 100:.0f} % of cold build" if cold else "n/a"
            ok = st.median < 0.5 and (cold is None or st.median < 0.1 * cold)
            rows.append([label, fmt_stats(st), ratio, "< 0.5 s and < 10 % of cold", verdict(ok)])
            targets.append(
                f"Warm start ({label}) under 0.5 s and 10 % of the cold build: {verdict(ok)} "
                f"({fmt_s(st.median)}, {ratio})."
            )
        if "worker_full_start" in warm:
            full = stats(warm["worker_full_start"])
            ratio = f"{full.median / cold * 100:.0f} % of cold build" if cold else "n/a"
            label = "warm `syndicate worker` start to `service started` (every post in memory)"
            rows.append([label, fmt_stats(full), ratio, "", "(reference)"])
        rows.append(
            ["first `syndicate republish` (empty state)", fmt_s(first), "", "", "(reference)"]
        )
    lv = res.get("live")
    if lv:
        posts = lv["posts"]
        debounce = lv["debounce"]
        if "restart" in lv:
            st = stats(lv["restart"])
            ratio = f"{st.median / cold * 100:.0f} % of cold build" if cold else "n/a"
            rows.append(
                ["`syndicate serve` restart to first 200", fmt_stats(st), ratio, "", "(reference)"]
            )
        for op, items in lv.get("ops", {}).items():
            if not items:
                continue
            pub = [i["publish_s"] for i in items if i["publish_s"] is not None]
            disk = stats(i["on_disk_s"] for i in items)
            served = stats(i["served_s"] for i in items)
            touched = sorted({(i["feeds_touched"], i["feeds_expected"]) for i in items})
            touched_text = ", ".join(f"{t} of {e} expected" for t, e in touched)
            others = max(i["other_touched"] for i in items)
            limit = debounce + 0.2
            if pub:
                pst = stats(pub)
                ok = pst.median < 0.1
                rows.append(
                    [
                        f"{op}: publish in the service (worker log)",
                        fmt_stats(pst),
                        f"feeds touched: {touched_text} (+{others} other documents)",
                        "< 100 ms",
                        verdict(ok),
                    ]
                )
                targets.append(
                    f"One post {op}: affected feeds updated in the service in under 100 ms: "
                    f"{verdict(ok)} ({fmt_s(pst.median)} publish, worker log; "
                    f"{touched_text} feeds touched)."
                )
            written_s = [i["written_s"] for i in items if i.get("written_s") is not None]
            if written_s:
                rows.append(
                    [f"{op}: publish until the live tree is written (worker log)"]
                    + [fmt_stats(stats(written_s)), "what web workers wait for", "", ""]
                )
            rows.append([f"{op}: file written to all affected feeds on disk", fmt_stats(disk)])
            rows[-1] += ["", "", ""]
            gap = stats(i["served_s"] - i["on_disk_s"] for i in items)
            rows.append([f"{op}: feeds on disk to new ETag served", fmt_stats(gap)])
            rows[-1] += ["web workers: manifest seen, read, swapped in", "", ""]
            ok = served.median < limit
            rows.append(
                [
                    f"{op}: file written to new ETag served",
                    fmt_stats(served),
                    f"debounce {debounce:g} s included",
                    f"< debounce + 200 ms = {fmt_s(limit)}",
                    verdict(ok),
                ]
            )
            targets.append(
                f"One post {op}: file written to new ETag served under debounce + 200 ms "
                f"({fmt_s(limit)}): {verdict(ok)} ({fmt_s(served.median)})."
            )
        peaks = lv.get("service_peaks_mb", {})
        if peaks:
            total = sum(peaks.values())
            detail = ", ".join(f"{k} {v:.0f}" for k, v in sorted(peaks.items()))
            targets.append(
                f"Peak memory of the running service at {posts} posts under 250 MB: "
                f"{verdict(total < 250)} ({total:.0f} MB summed over its processes: {detail})."
            )
            rows.append(
                [
                    f"running service peak RSS ({lv['workers']} web workers)",
                    f"{total:.0f} MB total",
                    detail + " (MB)",
                    "< 250 MB",
                    verdict(total < 250),
                ]
            )
        pss = lv.get("service_pss_mb", {})
        if pss:
            # Peak RSS counts a page shared by forked processes once in each of them; PSS
            # splits it, so its sum is what the service holds (at the end, not the peak).
            rows.append(
                [
                    "running service PSS at the end (shared pages counted once)",
                    f"{sum(pss.values()):.0f} MB total",
                    ", ".join(f"{k} {v:.0f}" for k, v in sorted(pss.items())) + " (MB)",
                    "",
                    "",
                ]
            )
    if rows:
        posts = (lv or warm or {}).get("posts")
        parts.append(
            f"### Warm start and incremental updates, {posts} posts\n\n"
            + table(["figure", "min / median / max", "compared with", "target", "verdict"], rows)
        )

    serve = (lv or {}).get("serve")
    if serve:
        rows = []
        for kind in ("200", "200 gzip", "304"):
            ng = serve["runs"]["nginx"][kind]
            sy = serve["runs"]["syndicate"][kind]
            ng_rps = stats(r["requests_per_s"] for r in ng)
            sy_rps = stats(r["requests_per_s"] for r in sy)
            share = sy_rps.median / ng_rps.median
            need = 0.5 if kind == "304" else 0.35
            p99 = stats(r["p99_ms"] for r in sy)
            bad = sum(r["bad"] for r in ng + sy)
            ok = share >= need and p99.median < 20
            rows.append(
                [
                    kind,
                    fmt_stats(ng_rps, lambda v: f"{v:,.0f}"),
                    fmt_stats(sy_rps, lambda v: f"{v:,.0f}"),
                    f"{share * 100:.0f} %",
                    f"{stats(r['p50_ms'] for r in ng).median:.2f} / "
                    f"{stats(r['p99_ms'] for r in ng).median:.2f}",
                    f"{stats(r['p50_ms'] for r in sy).median:.2f} / {p99.median:.2f}",
                    f">= {need * 100:.0f} %, p99 < 20 ms",
                    verdict(ok) + (f" ({bad} bad answers)" if bad else ""),
                ]
            )
            targets.append(
                f"Serving a {kind} at >= {need * 100:.0f} % of nginx's requests/s with p99 under "
                f"20 ms: {verdict(ok)} ({share * 100:.0f} %: {sy_rps.median:,.0f} vs "
                f"{ng_rps.median:,.0f} req/s; p99 {p99.median:.2f} ms)."
            )
        a = bench.args
        assert lv is not None  # serve came from it
        parts.append(
            f"### Serving `{serve['path']}` ({serve['bytes'] / 1000:.1f} KB, "
            f"{serve['gzip_bytes'] / 1000:.1f} KB gzipped), {lv['posts']} posts\n\n"
            + table(
                [
                    "answer",
                    "nginx req/s (min / median / max)",
                    "syndicate req/s",
                    "syndicate ÷ nginx",
                    "nginx p50 / p99 ms",
                    "syndicate p50 / p99 ms",
                    "target",
                    "verdict",
                ],
                rows,
            )
            + f"\n\n`wrk -t{a.wrk_threads} -c{a.connections} -d{a.wrk_seconds}s --latency` on "
            f"127.0.0.1, the two servers alternating, {a.rounds} runs each; both with "
            f"{a.workers} worker processes; nginx `gzip_static on` over the live tree of "
            "the same `syndicate serve` (the same bytes); 304 via `If-None-Match`."
        )
    return "\n\n".join(parts), targets


def machine(bench: Bench) -> list[str]:
    syn = envs.package_versions(bench.envs.syndicate_python, envs.VERSIONED["syndicate"])
    tools = envs.package_versions(bench.envs.tools_python, envs.VERSIONED["tools"])
    hugo = envs.tool_version([str(bench.envs.hugo), "version"])
    return [
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Command: `{' '.join(['python', *sys.argv])}`",
        f"- Machine: `{envs.tool_version(['uname', '-a'])}`, {os.cpu_count()} CPUs",
        f"- Python {platform.python_version()}",
        "- syndicate environment: " + ", ".join(f"{k} {v}" for k, v in syn.items()),
        "- tools environment: " + ", ".join(f"{k} {v}" for k, v in tools.items()),
        f"- Hugo: `{hugo.split(' BuildDate')[0]}`",
        f"- nginx: `{envs.tool_version(['nginx', '-v'])}`",
        f"- wrk: `{envs.tool_version(['wrk', '-v']).split(' Copyright')[0]}`",
        f"- Rounds per figure: {bench.args.rounds} (cold builds: {bench.args.pair_rounds} "
        "more of syndicate and Hugo alone)",
    ]


def write_results(text: str) -> None:
    path = BENCH / "RESULTS.md"
    block = f"{MARK_BEGIN}\n{text}\n{MARK_END}"
    if path.exists():
        old = path.read_text()
        if MARK_BEGIN in old and MARK_END in old:
            head, rest = old.split(MARK_BEGIN, 1)
            tail = rest.split(MARK_END, 1)[1]
            path.write_text(head + block + tail)
            return
    path.write_text(
        "# Benchmark results\n\nWritten by `python bench/run.py --write-results` between the "
        "markers; text outside them (the reasons for what is missed) is kept.\n\n"
        + block
        + "\n\n## Why (what stops us)\n\nTo be written by whoever reads the figures.\n"
    )


# --------------------------------------------------------------------------- main


def ensure_system_tools() -> None:
    """nginx and wrk from Debian, installed with apt-get when missing and we are root."""
    missing = [pkg for cmd, pkg in (("nginx", "nginx-light"), ("wrk", "wrk")) if not _have(cmd)]
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise BenchError(f"missing {', '.join(missing)}: install them (Debian: apt-get install)")
    say(f"installing {' '.join(missing)} with apt-get")
    subprocess.run(["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", *missing],
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


def _have(command: str) -> bool:
    return shutil.which(command) is not None or Path("/usr/sbin", command).exists()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=10_000, help="largest corpus (default 10000)")
    parser.add_argument("--quick", action="store_true", help="1k posts, 3 s load runs")
    parser.add_argument("--rounds", type=int, default=3, help="runs per figure (>= 3)")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=",".join(SECTIONS))
    parser.add_argument("--builders", default=",".join(BUILDERS), help=",".join(BUILDERS))
    parser.add_argument("--cache", type=Path, default=BENCH / ".cache")
    parser.add_argument("--debounce", type=float, default=0.2, help="watch.debounce (s)")
    parser.add_argument("--workers", type=int, default=2, help="web workers (both servers)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--wrk-seconds", type=int, default=10)
    parser.add_argument(
        "--pair-rounds",
        type=int,
        default=10,
        help="extra cold-build rounds of syndicate and Hugo alone, for their ratio (default 10)",
    )
    parser.add_argument("--build-timeout", type=float, default=1800.0)
    parser.add_argument("--write-results", action="store_true", help="update bench/RESULTS.md")
    args = parser.parse_args(argv)
    if args.rounds < 3:
        parser.error("--rounds: at least 3 (the machines are noisy)")
    if args.quick:
        args.posts = 1000
        args.wrk_seconds = min(args.wrk_seconds, 3)
    args.sizes = sorted({min(1000, args.posts), args.posts})
    args.sections = [s for s in args.sections.split(",") if s]
    args.builders = [b for b in args.builders.split(",") if b]
    unknown = set(args.sections) - set(SECTIONS) | set(args.builders) - set(BUILDERS)
    if unknown:
        parser.error(f"unknown: {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if "serve" in args.sections:
        ensure_system_tools()
    bench = Bench(args)
    failures: list[str] = []
    started = time.perf_counter()

    def attempt(name: str, func: Any, *fargs: Any) -> Any:
        try:
            return func(*fargs)
        except (BenchError, OSError, subprocess.SubprocessError) as exc:
            traceback.print_exc()
            failures.append(f"{name}: {exc}".splitlines()[0])
            return None

    if "build" in args.sections:
        bench.results["build"] = {}
        for posts in args.sizes:
            data = attempt(f"build {posts}", section_build, bench, posts)
            if data:
                bench.results["build"][posts] = data
    if "warm" in args.sections:
        bench.results["warm"] = attempt("warm", section_warm, bench)
    if "live" in args.sections or "serve" in args.sections:
        bench.results["live"] = attempt(
            "live", section_live, bench, "live" in args.sections, "serve" in args.sections
        )
    say("removing the build rounds' outputs")
    bench.set_aside.empty()
    bench.results = {k: v for k, v in bench.results.items() if v}
    (bench.cache / "results.json").write_text(json.dumps(bench.results, indent=1, default=str))
    tables, targets = report(bench)
    lines = ["## Run", "", *machine(bench), ""]
    lines += [f"Took {time.perf_counter() - started:.0f} s.", "", tables, ""]
    if targets:
        lines += ["## Targets (issue 5) at a glance", ""] + [f"- {t}" for t in targets] + [""]
    if failures:
        lines += ["## Not measured in this run", ""] + [f"- {f}" for f in failures] + [""]
    text = "\n".join(lines)
    print("\n" + text)
    if args.write_results:
        write_results(text)
        say(f"wrote {BENCH / 'RESULTS.md'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
