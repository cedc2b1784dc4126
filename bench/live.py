"""The running service: restart time, one post edited / added / deleted, and its memory.

Stdlib only. I/O: starts ``syndicate serve`` (which runs its ``worker`` child) on
127.0.0.1, writes and deletes posts in a copy of the corpus, polls the live tree's
manifest and the served ETag. Every wait is bounded; the caller stops the service.

An operation's clock starts just before the post file is written (in place, as an
editor saves). It stops (a) when the live tree's manifest, which the worker writes after
the feed files, shows a new entity-tag for every feed the post is in (``on disk``), and
(b) when ``serve`` answers the site feed with a new ETag (``served``). The worker's own
log line gives the publish time inside the service.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from envs import PostMeta
from measure import BenchError, process_name, stop_process, tree_peaks_kb, tree_pss_kb

HOST = "127.0.0.1"
MANIFEST = ".syndicate-manifest.json"
OP_TIMEOUT = 60.0  # seconds an operation may take before the benchmark gives up
# How often an operation's watcher looks at the live tree and asks serve for the feed: the
# resolution of "on disk" and "served". Every 0.5 ms, the watcher (a Python loop) and the
# 2,000 requests a second it made to the web workers took most of a core from the publish
# being timed on 2 cores; an aggregator polls far less.
POLL_INTERVAL = 0.002


class Service:
    """``syndicate serve`` for one config; ``start()`` returns seconds to the first 200."""

    def __init__(self, syndicate: Path, config: Path, port: int, log: Path) -> None:
        self.syndicate = syndicate
        self.config = config
        self.port = port
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.offset = 0  # the log's size when the last start began

    def start(self, timeout: float = 900.0) -> float:
        self.offset = self.log.stat().st_size if self.log.exists() else 0
        out = open(self.log, "ab")  # noqa: SIM115 - the process keeps it
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(self.syndicate), "serve", "--config", str(self.config)],
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        out.close()
        deadline = started + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"syndicate serve exited; see {self.log}")
            try:
                if self.get("/feed.rss").status == 200:
                    return time.perf_counter() - started
            except OSError:
                pass
            time.sleep(0.01)
        raise BenchError(f"syndicate serve did not answer within {timeout} s")

    def wait_started(self, timeout: float = 900.0) -> None:
        """Wait for the worker's ``service started`` line: serve answers as soon as the
        worker confirms the live tree, and the worker loads every post after that."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            with open(self.log, "rb") as handle:
                handle.seek(self.offset)
                if b"service started" in handle.read():
                    return
            if self.proc is not None and self.proc.poll() is not None:
                raise BenchError(f"syndicate serve exited; see {self.log}")
            time.sleep(0.05)
        raise BenchError(f"the worker did not start within {timeout} s; see {self.log}")

    def get(self, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
        try:
            conn.request("GET", path, headers=headers or {})
            resp = conn.getresponse()
            resp.read()
            return resp
        finally:
            conn.close()

    def peaks_mb(self) -> dict[str, float]:
        """Peak RSS (VmHWM) of each process of the service, by role, in MB."""
        return self._by_role(tree_peaks_kb)

    def pss_mb(self) -> dict[str, float]:
        """Memory in use now by each process, shared pages split among them (PSS), in MB."""
        return self._by_role(tree_pss_kb)

    def _by_role(self, measure: Callable[[int], dict[int, int]]) -> dict[str, float]:
        if self.proc is None:
            return {}
        peaks: dict[str, float] = {}
        web = 0
        for pid, kb in sorted(measure(self.proc.pid).items()):
            name = process_name(pid)
            if pid == self.proc.pid:
                role = "serve (main)"
            elif " worker" in name:
                role = "worker (scheduler)"
            else:
                web += 1
                role = f"web process {web}"
            peaks[role] = kb / 1024
        return peaks

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            # serve itself stops granian, then its worker; the group is killed if it hangs.
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                pass
        stop_process(self.proc, grace=5)
        self.proc = None


@dataclasses.dataclass(frozen=True)
class OpResult:
    on_disk_s: float
    served_s: float
    publish_s: float | None  # from the worker's log line
    written_s: float | None  # the same publish, until its live tree was written (log line)
    feeds_touched: int  # feed documents whose entity-tag changed
    feeds_expected: int
    other_touched: int  # other documents (index page, OPML) that changed


def read_manifest(out_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((out_dir / MANIFEST).read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _stamp(out_dir: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(out_dir / MANIFEST)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns)


def affected_feeds(manifest: dict[str, Any], meta: PostMeta) -> set[str]:
    """The RSS and Atom paths of the site feed and of the post's categories and tags."""
    paths: set[str] = set()
    for info in manifest.get("feeds", []):
        kind, name = info.get("kind"), info.get("name")
        if (
            kind == "site"
            or (kind == "category" and name in meta.categories)
            or (kind == "tag" and name in meta.tags)
        ):
            paths.update((info["rss_path"], info["atom_path"]))
    return paths


_PUBLISHED = re.compile(
    r"published \d+ feeds from \d+ posts: .* in ([\d.]+) s"
    r"(?: \(live tree written after ([\d.]+) s\))?"
)


def _last_publish(log: Path, offset: int) -> tuple[float, float | None] | None:
    """The last publish's duration and when it had written the live tree (if it says)."""
    with open(log, "rb") as handle:
        handle.seek(offset)
        text = handle.read().decode(errors="replace")
    found = _PUBLISHED.findall(text)
    if not found:
        return None
    duration, written = found[-1]
    return float(duration), float(written) if written else None


def timed_change(
    service: Service,
    out_dir: Path,
    expected: set[str],
    change: Any,
    feed_path: str = "/feed.rss",
) -> OpResult:
    """Apply change() (a file write or delete) and time it through to disk and HTTP."""
    before = read_manifest(out_dir)
    if before is None:
        raise BenchError(f"{out_dir}: no live tree")
    docs_before = before["documents"]
    missing = expected - set(docs_before)
    if missing:
        raise BenchError(f"expected feeds not in the live tree: {sorted(missing)[:5]}")
    old_etag = service.get(feed_path).getheader("ETag") or ""
    stamp = _stamp(out_dir)
    log_offset = service.log.stat().st_size
    conn = http.client.HTTPConnection(HOST, service.port, timeout=5)
    disk_at = served_at = None
    after: dict[str, Any] | None = None
    started = time.perf_counter()
    change()
    deadline = started + OP_TIMEOUT
    try:
        while (disk_at is None or served_at is None) and time.perf_counter() < deadline:
            if disk_at is None:
                now_stamp = _stamp(out_dir)
                if now_stamp != stamp:
                    stamp = now_stamp
                    current = read_manifest(out_dir)
                    docs = current["documents"] if current else {}
                    if current and all(
                        p in docs and docs[p]["etag"] != docs_before[p]["etag"] for p in expected
                    ):
                        disk_at = time.perf_counter() - started
                        after = current
            if served_at is None:
                conn.request("GET", feed_path, headers={"If-None-Match": old_etag})
                resp = conn.getresponse()
                resp.read()
                if resp.status == 200 and resp.getheader("ETag") != old_etag:
                    served_at = time.perf_counter() - started
            time.sleep(POLL_INTERVAL)
    finally:
        conn.close()
    if disk_at is None or served_at is None or after is None:
        raise BenchError(
            f"change not seen within {OP_TIMEOUT} s (disk: {disk_at}, served: {served_at})"
        )
    # The worker logs its publish after the store is saved, which is after the live tree
    # is written: wait for that line (bounded), then count what changed.
    published = None
    while published is None and time.perf_counter() < deadline:
        published = _last_publish(service.log, log_offset)
        time.sleep(0.01)
    publish_s, written_s = published if published is not None else (None, None)
    time.sleep(0.2)
    after = read_manifest(out_dir) or after
    docs_after = after["documents"]
    feed_paths = {
        p for info in after.get("feeds", []) for p in (info["rss_path"], info["atom_path"])
    }
    changed = {
        p
        for p in set(docs_before) | set(docs_after)
        if docs_before.get(p, {}).get("etag") != docs_after.get(p, {}).get("etag")
    }
    return OpResult(
        on_disk_s=disk_at,
        served_s=served_at,
        publish_s=publish_s,
        written_s=written_s,
        feeds_touched=len(changed & feed_paths),
        feeds_expected=len(expected),
        other_touched=len(changed - feed_paths),
    )


def edit_post(meta: PostMeta, round_no: int) -> None:
    """Save the post with a changed title (in every feed it is in) and one more line."""
    text = meta.path.read_text(encoding="utf-8")
    new_title = json.dumps(f"{meta.title} (edit {round_no})", ensure_ascii=False)
    text = re.sub(r"^title: .*$", f"title: {new_title}", text, count=1, flags=re.MULTILINE)
    text += f"\nEdited by the benchmark, round {round_no}.\n"
    meta.path.write_text(text, encoding="utf-8")


def new_post_text(meta: PostMeta, round_no: int) -> str:
    """A post dated a minute ago, in the categories and tags of meta (existing feeds)."""
    when = datetime.now(UTC) - timedelta(minutes=1)
    return "\n".join(
        [
            "---",
            f'title: "Benchmark post {round_no}"',
            f"date: {when:%Y-%m-%d %H:%M:%S} +0000",
            'author: "Bench Mark"',
            "categories: " + json.dumps(list(meta.categories), ensure_ascii=False),
            "tags: " + json.dumps(list(meta.tags), ensure_ascii=False),
            'excerpt: "Added by the benchmark."',
            "---",
            "",
            f"Added by the benchmark, round {round_no}. " * 40,
            "",
            "## Details",
            "",
            "- one\n- two\n- three",
            "",
        ]
    )


def added_path(posts_dir: Path, round_no: int) -> Path:
    return posts_dir / f"{datetime.now(UTC):%Y-%m-%d}-benchmark-post-{round_no}.md"
