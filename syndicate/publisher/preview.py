"""A dry run of a publish (``republish --dry-run``, the dashboard's "Preview"): what the
next publish would change, feed by feed and entry by entry, and whom it would notify,
with nothing written and nothing queued. Reads the posts, the store, the post cache and
the live tree; writes nothing (the publish lock's file aside).

It runs the publish itself (``Publisher.publish(notify=False, write=False)``, the same
code path, the publish gate included) on a Publisher of its own: the Site is built but
never written, the store is only read, the cache is read and never saved, and the stamp
is left as it is. Each changed feed's Atom document is then compared with the live
tree's, entries by id (lxml): added, changed (which of title, content, date and link)
and removed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from lxml import etree

from .. import counted, feeds
from ..config import Config, state_dir
from ..documents import Document, FeedInfo, Site, absolute_url
from ..errors import RemovalRefused, SyndicateError
from ..site.manifest import load_live
from ..store import Store
from .cache import PostCache
from .orchestrator import Clock, Publisher
from .report import Json, PublishResult, iso, quiet_posts

ATOM = "{http://www.w3.org/2005/Atom}"

# What an entry shows a reader, compared between the live feed and the new one.
FIELDS = ("title", "content", "date", "link")


@dataclasses.dataclass(frozen=True)
class Entry:
    """An Atom entry as a reader sees it: (field -> value) for each of ``FIELDS``."""

    entry_id: str
    title: str
    content: str
    date: str
    link: str


@dataclasses.dataclass(frozen=True)
class Preview:
    """A dry run's outcome: the publish's result (None if it was refused) and the live
    tree it is compared with."""

    config: Config
    force: bool
    started: datetime
    result: PublishResult | None
    live: Site | None
    refused: RemovalRefused | None = None


def read_only_cache(config: Config) -> PostCache:
    """The post cache as the last publish saved it, never saved again: a dry run renders
    what changed only, and leaves the cache file as it was."""
    cache = PostCache(state_dir(config) / "cache", config)
    cache.path = None  # ``save`` writes nothing without a path
    return cache


def preview_publish(
    config: Config,
    clock: Clock,
    store: Store,
    cache: PostCache | None = None,
    force: bool = False,
) -> Preview:
    """What ``Publisher.publish(force)`` would do now, without doing it.

    ``store`` is only read. A publish the removal guard would refuse is a Preview with
    ``refused``; a posts folder that cannot be read raises ``PostsFolderError`` as a
    publish does."""
    started = clock()
    live = load_live(config.output_dir, lazy=True)
    publisher = Publisher(config, clock, store, None, cache)
    try:
        with quiet_posts():  # the posts' and the gate's lines: nothing happened
            result = publisher.publish(force=force, notify=False, write=False)
    except RemovalRefused as exc:
        return Preview(config, force, started, None, live, refused=exc)
    return Preview(config, force, started, result, live)


def _body(doc: Document | None) -> bytes | None:
    if doc is None:
        return None
    try:
        return doc.body
    except (OSError, SyndicateError):
        return None  # a live file gone or replaced since: nothing to compare with


def atom_entries(body: bytes | None) -> dict[str, Entry]:
    """The entries of an Atom document by id (none for no document, or a broken one)."""
    if body is None:
        return {}
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError:
        return {}
    found: dict[str, Entry] = {}
    for node in root.iterfind(f"{ATOM}entry"):
        entry_id = (node.findtext(f"{ATOM}id") or "").strip()
        link = ""
        for candidate in node.iterfind(f"{ATOM}link"):
            if candidate.get("rel", "alternate") == "alternate":
                link = candidate.get("href", "")
                break
        content = (node.findtext(f"{ATOM}content") or "") + "\0"
        content += node.findtext(f"{ATOM}summary") or ""
        # A reader shows the published date and, when there is one, the updated one.
        date = f"{node.findtext(f'{ATOM}published') or ''} {node.findtext(f'{ATOM}updated')}"
        found[entry_id] = Entry(entry_id, node.findtext(f"{ATOM}title") or "", content, date, link)
    return found


def _entry_json(entry: Entry, fields: tuple[str, ...] = ()) -> Json:
    data: Json = {"id": entry.entry_id, "title": entry.title, "link": entry.link or None}
    if fields:
        data["changed"] = list(fields)
    return data


def _entry_changes(old: Mapping[str, Entry], new: Mapping[str, Entry]) -> Json:
    """Entries added, changed (with which fields) and removed, newest first as listed."""
    changed = []
    for entry_id, entry in new.items():
        before = old.get(entry_id)
        if before is None:
            continue
        fields = tuple(f for f in FIELDS if getattr(before, f) != getattr(entry, f))
        if fields:
            changed.append(_entry_json(entry, fields))
    return {
        "added": [_entry_json(e) for i, e in new.items() if i not in old],
        "changed": changed,
        "removed": [_entry_json(e) for i, e in old.items() if i not in new],
    }


def _label(info: FeedInfo) -> str:
    return "site feed" if info.kind == "site" else f"{info.kind} feed {info.name!r}"


def preview_json(preview: Preview) -> Json:
    """The dry run as JSON (``republish --dry-run --json``, the dashboard's page)."""
    config = preview.config
    base = config.site.url
    data: Json = {
        "dry_run": True,
        "force": preview.force,
        "started": iso(preview.started),
        "refused": None,
        "feeds": [],
        "removed_feeds": [],
        "other_documents": [],
        "held": [],
        "notifications": [],
        "errors": [],
        "warnings": [],
        "post_count": 0,
        "feed_count": 0,
    }
    if preview.refused is not None:
        refused = preview.refused
        data["refused"] = {"reason": refused.reason, "message": str(refused)}
        return data
    result = preview.result
    assert result is not None
    site = result.site
    live_docs = preview.live.documents if preview.live is not None else {}
    held = dict(result.held)

    def changed(path: str) -> bool:
        doc = site.documents.get(path)
        old = live_docs.get(path)
        return doc is not None and (old is None or old.etag != doc.etag)

    # Whom the publish would tell: the feeds it finds changed (every feed with force),
    # none the gate held; WebSub per feed URL, a ping once per server (``Outbox``).
    if preview.force:
        targets = [p for info in site.feeds for p in info.paths if p in site.documents]
        targets = [p for p in targets if p not in held]
    else:
        targets = list(result.changed_feeds)
    # The feed URLs the hubs would hear of: none without a hub (pings name the site feed).
    notified = {absolute_url(base, p) for p in targets} if config.websub.hubs else set()
    for url in dict.fromkeys(absolute_url(base, p) for p in targets):
        for hub in config.websub.hubs:
            data["notifications"].append({"kind": "websub", "target": hub, "feed": url})
    if targets:
        site_feed = absolute_url(base, feeds.feed_paths("site", None)[0])
        for server in config.pings:
            data["notifications"].append({"kind": "ping", "target": server, "feed": site_feed})
    feed_paths: set[str] = set()
    for info in site.feeds:
        feed_paths.update(info.paths)
        documents = [p for p in info.paths if changed(p)]
        urls = [absolute_url(base, p) for p in info.paths if absolute_url(base, p) in notified]
        if not documents and not urls:
            continue
        old = atom_entries(_body(live_docs.get(info.atom_path)))
        new = atom_entries(_body(site.documents.get(info.atom_path)))
        data["feeds"].append(
            {
                "kind": info.kind,
                "name": info.name,
                "title": info.title,
                "label": _label(info),
                "state": "new" if not any(p in live_docs for p in info.paths) else "changed",
                "url": absolute_url(base, info.rss_path),
                "documents": [{"path": p, "url": absolute_url(base, p)} for p in documents],
                **_entry_changes(old, new),
                "notified": urls,
            }
        )
    kept = {info.rss_path for info in site.feeds}
    for info in preview.live.feeds if preview.live is not None else ():
        if info.rss_path in kept:
            continue
        feed_paths.update(info.paths)
        old = atom_entries(_body(live_docs.get(info.atom_path)))
        data["removed_feeds"].append(
            {
                "kind": info.kind,
                "name": info.name,
                "title": info.title,
                "label": _label(info),
                "url": absolute_url(base, info.rss_path),
                "documents": [{"path": p, "url": absolute_url(base, p)} for p in info.paths],
                "removed": [_entry_json(e) for e in old.values()],
            }
        )
    for path in site.documents:
        if path not in feed_paths and changed(path):
            data["other_documents"].append({"path": path, "state": "changed"})
    for path in live_docs:
        if path not in feed_paths and path not in site.documents:
            data["other_documents"].append({"path": path, "state": "removed"})
    data["held"] = [
        {"path": p, "url": absolute_url(base, p), "problem": problem} for p, problem in held.items()
    ]
    data["errors"] = [_problem(p, config) for p in result.problems if p.severity == "error"]
    data["warnings"] = [_problem(p, config) for p in result.problems if p.severity != "error"]
    data["post_count"] = result.post_count
    data["feed_count"] = len(site.feeds)
    return data


def _problem(problem: Any, config: Config) -> Json:
    path = Path(problem.path)
    try:
        shown = path.relative_to(config.root).as_posix()
    except ValueError:
        shown = path.as_posix()
    return {"file": shown, "message": problem.message}


def failures(data: Json, warnings: bool = False) -> list[str]:
    """Why the publish would fail its checks (``--strict``): a refusal, post errors,
    documents the gate would hold (and warnings, with ``warnings``)."""
    found = [data["refused"]["message"]] if data["refused"] else []
    if data["errors"]:
        found.append(f"{counted(len(data['errors']), 'error')} in posts")
    if data["held"]:
        found.append(f"{counted(len(data['held']), 'document')} held back by the publish gate")
    if warnings and data["warnings"]:
        found.append(counted(len(data["warnings"]), "warning"))
    return found


def preview_lines(data: Json) -> Iterator[str]:
    """The dry run as an editor reads it: one block per feed that would change."""
    if data["refused"]:
        yield f"Would be refused: {data['refused']['message']}"
        yield "Dry run: nothing written, nothing queued."
        return
    for feed in data["feeds"]:
        counts = ", ".join(
            counted(len(feed[key]), "entry", "entries") + f" {key}"
            for key in ("added", "changed", "removed")
        )
        state = " (new)" if feed["state"] == "new" else ""
        yield f"{feed['label']}{state}: {feed['url']}: {counts}"
        for entry in feed["added"]:
            yield f"  added    {entry['title']!r} {entry['link'] or entry['id']}"
        for entry in feed["changed"]:
            what = ", ".join(entry["changed"])
            yield f"  changed  {entry['title']!r} {entry['link'] or entry['id']} ({what})"
        for entry in feed["removed"]:
            yield f"  removed  {entry['title']!r} {entry['link'] or entry['id']}"
        documents = ", ".join(d["path"] for d in feed["documents"]) or "none"
        yield f"  documents changed: {documents}"
        if feed["notified"]:
            yield f"  hubs told of: {', '.join(feed['notified'])}"
    for feed in data["removed_feeds"]:
        yield f"{feed['label']} (removed): {feed['url']}: no published posts left"
        for entry in feed["removed"]:
            yield f"  removed  {entry['title']!r} {entry['link'] or entry['id']}"
    for doc in data["other_documents"]:
        yield f"other document {doc['state']}: {doc['path']}"
    for held in data["held"]:
        yield f"held {held['url']}: {held['problem']} (its last good version stays; not notified)"
    for note in data["notifications"]:
        kind = "WebSub hub" if note["kind"] == "websub" else "ping server"
        yield f"would notify {kind} {note['target']} of {note['feed']}"
    websub = sum(1 for n in data["notifications"] if n["kind"] == "websub")
    pings = len(data["notifications"]) - websub
    yield (
        f"Dry run: {counted(len(data['feeds']), 'feed')} would change, "
        f"{len(data['removed_feeds'])} removed, {len(data['held'])} held; "
        f"{counted(websub, 'WebSub notification')} and {counted(pings, 'ping')} would be "
        f"queued; {counted(len(data['errors']), 'error')}, "
        f"{counted(len(data['warnings']), 'warning')}; nothing written, nothing queued."
    )
