"""The publish gate: each document a publish changed is checked before the live tree is
replaced, and one that fails keeps its last good version. No I/O of its own but reading
a document's bytes (a spooled one's from its file); the time is a parameter.

The writers (``feeds``) are correct by construction and tested against the W3C validator;
the gate is the last line behind them, for what no test foresaw (a post whose bytes trip
a writer, a future bug, a limit no entry can meet). What a reader's parser rejects, or a
feed reader takes for a different feed, must never reach subscribers or a hub:

- well-formed XML (RSS 2.0, Atom 1.0, OPML) or JSON (JSON Feed 1.1);
- the elements readers need: RSS ``channel`` title, link and description, an item's
  ``guid``; Atom ``id``, ``title`` and ``updated`` of the feed and of each entry (RFC 4287
  4.1.1, 4.1.2); JSON Feed ``version``, ``title`` and ``items``, each with an ``id``;
- absolute links, the self link among them (a relative one resolves against whatever
  URL a reader or a hub fetched the feed from);
- entry ids unique in a document (a reader keeps one of two entries with one id);
- no date more than ``FUTURE_SLACK`` after now (a reader keeps such an entry on top for
  good, and a scheduled post must never show early);
- a live feed document within ``feeds.max_bytes`` when set (archive pages are exempt,
  as ``feeds`` never cuts them).

``check_document`` gives a document's first problem; ``hold_back`` puts the last good
version of every failing document back into the Site (or leaves a new one out) and
takes them out of what is notified and recorded. Checks run on changed documents only:
an unchanged one passed when it was made.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from lxml import etree

from ..config import Config
from ..documents import Document, Site
from .changes import FeedChanges

# Its own name: a dry run (``preview``) silences it in its thread, as it has held nothing.
log = logging.getLogger(__name__)

# Dates later than now by more than this fail: clocks drift, and time zones written
# wrongly put an honest date hours ahead; a day is neither.
FUTURE_SLACK = timedelta(days=1)

ATOM = "{http://www.w3.org/2005/Atom}"

# Changed documents from which the checks run on every core (a first publish checks all).
PARALLEL_FROM = 16

_ABSOLUTE = re.compile(r"\s*[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s]")

Failed = dict[str, str]
"""The documents that failed the gate: URL path -> the problem, in one line."""


def changed_documents(site: Site, before: Site | None) -> Iterator[tuple[str, Document]]:
    """The documents of ``site`` that are not those of ``before`` (the live tree): made
    anew, with other bytes (by entity-tag, which is a digest of them)."""
    old = before.documents if before is not None else {}
    for path, doc in site.documents.items():
        last = old.get(path)
        if last is doc or (last is not None and last.etag == doc.etag):
            continue
        yield path, doc


def check_site(site: Site, before: Site | None, config: Config, now: datetime) -> Failed:
    """URL path -> problem, for every changed document of ``site`` that fails a check."""
    feed_paths = {p for info in site.feeds for p in info.paths}

    def check(job: tuple[str, Document]) -> tuple[str, str | None]:
        path, doc = job
        # Only the live feeds are bounded: archive pages, the OPML and the index page
        # are not feeds.max_bytes's (README "Archived feeds").
        limit = config.feeds.max_bytes if path in feed_paths else 0
        return path, check_document(doc.media_type, doc.body, now, limit)

    jobs = list(changed_documents(site, before))
    found: Iterable[tuple[str, str | None]]
    if len(jobs) < PARALLEL_FROM:
        found = map(check, jobs)
    else:
        # A first publish checks every document: on every core, since reading a spooled
        # one back (and its digest) and lxml's parsing release the GIL.
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            found = list(pool.map(check, jobs))
    return {path: problem for path, problem in found if problem is not None}


def check_document(media_type: str, body: bytes, now: datetime, max_bytes: int = 0) -> str | None:
    """The first problem of a document (by its media type), or None if it passes."""
    if max_bytes and len(body) > max_bytes:
        return f"{len(body)} bytes, over feeds.max_bytes ({max_bytes})"
    kind = media_type.partition(";")[0].strip()
    try:
        if kind == "application/rss+xml":
            root = _xml(body)
            if not quick_rss_pass(root, now):
                _check_rss(root, now)  # which names the problem
        elif kind == "application/atom+xml":
            root = _xml(body)
            if not quick_atom_pass(root, now):
                _check_atom(root, now)
        elif kind == "application/feed+json":
            _check_json_feed(body, now)
        elif kind == "text/x-opml":
            _check_opml(_xml(body))
        # The index page (HTML) is for people, and browsers forgive it: not checked.
    except _Problem as exc:
        return str(exc)
    return None


class _Problem(Exception):
    """What is wrong with a document, as one line."""


def _xml(body: bytes) -> etree._Element:
    # No network, no entities expanded, no limit on size (archive pages are large). A
    # parser of its own each time: lxml's parsers are not to be shared between threads.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    try:
        return etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise _Problem(f"not well-formed XML: {exc.msg}") from None


def _absolute(url: str | None, what: str) -> None:
    # A scheme and an authority (RFC 3986 4.3), what ``urlsplit`` would find, at a
    # fraction of its cost: a feed has a link or two per entry.
    if url is None or _ABSOLUTE.match(url) is None:
        raise _Problem(f"{what} is not an absolute URL: {url!r}")


def _unique(ids: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for value in ids:
        if value in seen:
            raise _Problem(f"{what} {value!r} appears twice")
        seen.add(value)


def _not_future(when: datetime | None, text: str, what: str, now: datetime) -> None:
    if when is None:
        raise _Problem(f"{what} is not a date: {text!r}")
    if when.tzinfo is None or when > now + FUTURE_SLACK:
        raise _Problem(f"{what} {text} is in the future (now {now:%Y-%m-%d %H:%M} UTC)")


def _rfc822(text: str) -> datetime | None:
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None


def _rfc3339(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _required(parent: etree._Element, tag: str, what: str) -> etree._Element:
    found = parent.find(tag)
    if found is None:
        raise _Problem(f"{what} has no {tag.rpartition('}')[2]}")
    return found


# The fast path: the same checks as ``_check_rss`` and ``_check_atom``, each over the
# whole document at once (compiled XPath, in C), that can only say "passes" or "look
# closer". Walking every entry element by element took most of a first publish's gate
# (bench/RESULTS.md); the plain walk runs only on a document that may fail, and names
# its problem. ``test_oracle_gate_quick_checks`` holds them to the same verdicts.
_NS = {"a": "http://www.w3.org/2005/Atom"}
_RSS_MISSING = etree.XPath(
    "boolean(self::*[not(self::rss)] or not(channel) or channel[not(title) or not(link)"
    " or not(description)] or channel/item[not(guid) or normalize-space(guid) = ''])"
)
# An element with no text, or text split by a child, yields another count of texts than
# of elements: the plain walk decides then.
_RSS_LINKS = etree.XPath(
    "channel/link/text() | channel/item/link/text() | channel/a:link/@href", namespaces=_NS
)
_RSS_LINK_COUNT = etree.XPath(
    "count(channel/link | channel/item/link | channel/a:link)", namespaces=_NS
)
_RSS_GUIDS = etree.XPath("channel/item/guid/text()")
_RSS_GUID_COUNT = etree.XPath("count(channel/item/guid)")
_RSS_DATES = etree.XPath(
    "channel/lastBuildDate/text() | channel/pubDate/text() | channel/item/pubDate/text()"
)
_RSS_DATE_COUNT = etree.XPath(
    "count(channel/lastBuildDate | channel/pubDate | channel/item/pubDate)"
)
_ATOM_MISSING = etree.XPath(
    "boolean(self::*[not(self::a:feed)] or not(a:id) or not(a:title) or not(a:updated)"
    " or a:entry[not(a:id) or normalize-space(a:id) = '' or not(a:title) or not(a:updated)])",
    namespaces=_NS,
)
_ATOM_HREFS = etree.XPath("a:link/@href | a:entry/a:link/@href", namespaces=_NS)
_ATOM_LINK_COUNT = etree.XPath("count(a:link | a:entry/a:link)", namespaces=_NS)
_ATOM_IDS = etree.XPath("a:entry/a:id/text()", namespaces=_NS)
_ATOM_ID_COUNT = etree.XPath("count(a:entry/a:id)", namespaces=_NS)
_ATOM_DATES = etree.XPath(
    "a:updated/text() | a:published/text() | a:entry/a:updated/text() | a:entry/a:published/text()",
    namespaces=_NS,
)
_ATOM_DATE_COUNT = etree.XPath(
    "count(a:updated | a:published | a:entry/a:updated | a:entry/a:published)", namespaces=_NS
)


def _texts(xpath: etree.XPath, root: etree._Element) -> list[str]:
    """What a text or attribute XPath finds: strings (lxml's ``str`` subclasses)."""
    return typing.cast(list[str], xpath(root))


def _count(xpath: etree.XPath, root: etree._Element) -> float:
    return typing.cast(float, xpath(root))


def _all_absolute(urls: list[str], count: float) -> bool:
    return len(urls) == count and all(_ABSOLUTE.match(url) for url in urls)


def _all_unique(ids: list[str], count: float) -> bool:
    return len(ids) == count and len({i.strip() for i in ids}) == len(ids)


def _all_before(
    texts: list[str], count: float, parse: Callable[[str], datetime | None], latest: datetime
) -> bool:
    if len(texts) != count:
        return False  # an empty date element: the plain walk says so
    for text in texts:
        when = parse(text.strip())
        if when is None or when.tzinfo is None or when > latest:
            return False
    return True


def quick_rss_pass(root: etree._Element, now: datetime) -> bool:
    """True if ``_check_rss`` finds nothing wrong with ``root``; False: it may."""
    return (
        not _RSS_MISSING(root)
        and _all_absolute(_texts(_RSS_LINKS, root), _count(_RSS_LINK_COUNT, root))
        and _all_unique(_texts(_RSS_GUIDS, root), _count(_RSS_GUID_COUNT, root))
        and _all_before(
            _texts(_RSS_DATES, root), _count(_RSS_DATE_COUNT, root), _rfc822, now + FUTURE_SLACK
        )
    )


def quick_atom_pass(root: etree._Element, now: datetime) -> bool:
    """True if ``_check_atom`` finds nothing wrong with ``root``; False: it may."""
    return (
        not _ATOM_MISSING(root)
        and _all_absolute(_texts(_ATOM_HREFS, root), _count(_ATOM_LINK_COUNT, root))
        and _all_unique(_texts(_ATOM_IDS, root), _count(_ATOM_ID_COUNT, root))
        and _all_before(
            _texts(_ATOM_DATES, root), _count(_ATOM_DATE_COUNT, root), _rfc3339, now + FUTURE_SLACK
        )
    )


def _check_rss(root: etree._Element, now: datetime) -> None:
    if root.tag != "rss":
        raise _Problem(f"RSS document whose root is {root.tag!r}, not rss")
    channel = _required(root, "channel", "rss")
    for tag in ("title", "link", "description"):
        _required(channel, tag, "channel")
    _absolute(channel.findtext("link"), "channel link")
    for link in channel.iterfind(f"{ATOM}link"):
        _absolute(link.get("href"), f"atom:link rel={link.get('rel')!r}")
    for tag in ("lastBuildDate", "pubDate"):
        text = channel.findtext(tag)
        if text is not None:
            _not_future(_rfc822(text), text, f"channel {tag}", now)
    guids = []
    for item in channel.iterfind("item"):
        guid = (item.findtext("guid") or "").strip()
        if not guid:
            raise _Problem(f"item {item.findtext('title')!r} has no guid")
        guids.append(guid)
        item_link = item.findtext("link")
        if item_link is not None:
            _absolute(item_link, f"link of item {guid!r}")
        date = item.findtext("pubDate")
        if date is not None:
            _not_future(_rfc822(date), date, f"pubDate of item {guid!r}", now)
    _unique(guids, "guid")


def _check_atom(root: etree._Element, now: datetime) -> None:
    if root.tag != f"{ATOM}feed":
        raise _Problem(f"Atom document whose root is {root.tag!r}, not feed")
    _atom_common(root, "feed", now)
    ids = []
    for entry in root.iterfind(f"{ATOM}entry"):
        entry_id = (entry.findtext(f"{ATOM}id") or "").strip()
        if not entry_id:
            raise _Problem(f"entry {entry.findtext(f'{ATOM}title')!r} has no id")
        ids.append(entry_id)
        _atom_common(entry, f"entry {entry_id!r}", now)
    _unique(ids, "entry id")


def _atom_common(element: etree._Element, what: str, now: datetime) -> None:
    """What RFC 4287 requires of a feed and of an entry alike: id, title, updated; and
    the gate's absolute links and dates."""
    for tag in ("id", "title", "updated"):
        _required(element, f"{ATOM}{tag}", what)
    for link in element.iterfind(f"{ATOM}link"):
        _absolute(link.get("href"), f"{what} link rel={link.get('rel', 'alternate')!r}")
    for tag in ("updated", "published"):
        text = element.findtext(f"{ATOM}{tag}")
        if text is not None:
            _not_future(_rfc3339(text.strip()), text, f"{what} {tag}", now)


def _check_json_feed(body: bytes, now: datetime) -> None:
    try:
        feed = json.loads(body)
    except ValueError as exc:
        raise _Problem(f"not valid JSON: {exc}") from None
    if not isinstance(feed, dict):
        raise _Problem("JSON Feed that is not an object")
    version = feed.get("version")
    if not isinstance(version, str) or not version.startswith("https://jsonfeed.org/version/"):
        raise _Problem(f"JSON Feed version is {version!r}")
    if not isinstance(feed.get("title"), str):
        raise _Problem("JSON Feed has no title")
    for key in ("home_page_url", "feed_url"):
        if key in feed:
            _absolute(feed[key], key)
    items = feed.get("items")
    if not isinstance(items, list):
        raise _Problem("JSON Feed has no items list")
    ids = []
    for item in items:
        item_id = item.get("id") if isinstance(item, dict) else None
        if not isinstance(item_id, str) or not item_id:
            raise _Problem("JSON Feed item without an id")
        ids.append(item_id)
        for key in ("url", "external_url"):
            if key in item:
                _absolute(item[key], f"{key} of item {item_id!r}")
        for key in ("date_published", "date_modified"):
            text = item.get(key)
            if text is not None:
                when = _rfc3339(text) if isinstance(text, str) else None
                _not_future(when, str(text), f"{key} of item {item_id!r}", now)
    _unique(ids, "item id")


def _check_opml(root: etree._Element) -> None:
    if root.tag != "opml":
        raise _Problem(f"OPML document whose root is {root.tag!r}, not opml")
    body = _required(root, "body", "opml")
    for outline in body.iter("outline"):
        url = outline.get("xmlUrl")
        if url is not None:
            _absolute(url, f"xmlUrl of outline {outline.get('text')!r}")


def hold_back(
    site: Site, before: Site | None, found: FeedChanges, failed: Mapping[str, str]
) -> tuple[Site, FeedChanges]:
    """``site`` with the last good version (``before``'s) of each failing document, or
    without it when it has none, and ``found`` without them (not notified, not
    recorded); each held document is logged in one line.

    A feed with a document held loses its signature, so that the next publish makes it
    again (and checks it again) rather than taking the old bytes for its new inputs."""
    if not failed:
        return site, found
    old = before.documents if before is not None else {}
    documents = dict(site.documents)
    for path, problem in failed.items():
        last = old.get(path)
        if last is not None:
            documents[path] = last
            kept = "its last good version stays"
        else:
            del documents[path]
            kept = "not published (it has no earlier version)"
        log.error("%s: held back by the publish gate, %s: %s", path, kept, problem)
    owners = {p: info.rss_path for info in site.feeds for p in info.paths}
    signatures = dict(site.signatures)
    for path in failed:
        # A feed is signed under its RSS path; an archive page is a plan of its own,
        # signed under its own (the RSS twin of its Atom path).
        signatures.pop(owners.get(path) or path.rpartition(".")[0] + ".rss", None)
    site = dataclasses.replace(site, documents=documents, signatures=signatures)
    found = FeedChanges(
        paths=[p for p in found.paths if p not in failed],
        changed=[p for p in found.changed if p not in failed],
        upserts=[r for r in found.upserts if r.path not in failed],
        removed=found.removed,
        digested={p: d for p, d in found.digested.items() if p not in failed},
    )
    return site, found
