"""Feed previews: a feed document -> a readable HTML page for people. No I/O.

A reader who opens a feed URL in a browser gets this page instead of a wall of XML
(``web.FeedResponder`` chooses it when the request's ``Accept`` prefers ``text/html``).
No XSL stylesheet: Chromium is removing XSLT (WHATWG issue #11523). The page is made
from the very bytes served as the feed (RSS 2.0 or Atom 1.0, parsed with lxml), so the
page and the feed never disagree; entry summaries are reduced to plain-text excerpts,
so no markup from a feed reaches the page. The template is package data
(``templates/feed.html``), read once through jinja2's loader like code.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import jinja2
from lxml import etree
from lxml import html as lxml_html

from .. import __version__
from ..config import Config
from ..documents import Site, absolute_url

ATOM_NS = "http://www.w3.org/2005/Atom"
_A = "{" + ATOM_NS + "}"

#: Characters of an entry's excerpt on the page (cut at a word boundary).
EXCERPT_CHARS = 280

_SPACE = re.compile(r"\s+")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclasses.dataclass(frozen=True)
class PreviewEntry:
    """One entry as a person reads it on the preview page."""

    title: str
    url: str | None
    date: datetime | None  # published, else updated; aware UTC
    excerpt: str  # plain text


@dataclasses.dataclass(frozen=True)
class PreviewFeed:
    """What the preview page shows of one feed document."""

    format: str  # "RSS 2.0" or "Atom 1.0"
    title: str
    subtitle: str
    link: str | None  # the site the feed is about
    updated: datetime | None
    entries: tuple[PreviewEntry, ...]


def _text(value: str | None) -> str:
    return _SPACE.sub(" ", value or "").strip()


def _html_text(fragment: str) -> str:
    """The text of an HTML fragment (a feed's summary), whitespace collapsed."""
    if not fragment.strip():
        return ""
    try:
        root = lxml_html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return _text(fragment)
    return _text(root.text_content())


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(" ,.;:—-")
    return cut + "…"


def _date(value: str | None, rfc822: bool) -> datetime | None:
    value = _text(value)
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value) if rfc822 else datetime.fromisoformat(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _atom_text(element: etree._Element | None) -> str:
    """An Atom text construct (RFC 4287 3.1) as plain text, whatever its type."""
    if element is None:
        return ""
    kind = element.get("type", "text")
    if kind == "html":
        return _html_text(element.text or "")
    # "text", and "xhtml" (a div whose descendants' text is the content).
    return _text("".join(t for t in element.itertext() if isinstance(t, str)))


def _atom(root: etree._Element) -> PreviewFeed:
    entries = []
    for entry in root.iterfind(_A + "entry"):
        link = entry.find(_A + "link[@rel='alternate']")
        if link is None:
            link = entry.find(_A + "link")
        summary = entry.find(_A + "summary")
        if summary is None:
            summary = entry.find(_A + "content")
        entries.append(
            PreviewEntry(
                title=_atom_text(entry.find(_A + "title")) or "(untitled)",
                url=link.get("href") if link is not None else None,
                date=_date(entry.findtext(_A + "published"), rfc822=False)
                or _date(entry.findtext(_A + "updated"), rfc822=False),
                excerpt=excerpt(_atom_text(summary)),
            )
        )
    home = root.find(_A + "link[@rel='alternate']")
    return PreviewFeed(
        format="Atom 1.0",
        title=_atom_text(root.find(_A + "title")),
        subtitle=_atom_text(root.find(_A + "subtitle")),
        link=home.get("href") if home is not None else None,
        updated=_date(root.findtext(_A + "updated"), rfc822=False),
        entries=tuple(entries),
    )


def _rss(root: etree._Element) -> PreviewFeed:
    channel = root.find("channel")
    if channel is None:
        return PreviewFeed("RSS 2.0", "", "", None, None, ())
    entries = [
        PreviewEntry(
            title=_text(item.findtext("title")) or "(untitled)",
            url=_text(item.findtext("link")) or None,
            date=_date(item.findtext("pubDate"), rfc822=True),
            # RSS 2.0: description is entity-encoded HTML.
            excerpt=excerpt(_html_text(item.findtext("description") or "")),
        )
        for item in channel.iterfind("item")
    ]
    return PreviewFeed(
        format="RSS 2.0",
        title=_text(channel.findtext("title")),
        subtitle=_text(channel.findtext("description")),
        link=_text(channel.findtext("link")) or None,
        updated=_date(channel.findtext("lastBuildDate"), rfc822=True),
        entries=tuple(entries),
    )


def read_feed(body: bytes) -> PreviewFeed:
    """Parse an RSS 2.0 or Atom 1.0 document; anything unreadable gives an empty feed."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError:
        return PreviewFeed("feed", "", "", None, None, ())
    if root.tag == _A + "feed":
        return _atom(root)
    if root.tag == "rss":
        return _rss(root)
    return PreviewFeed("feed", "", "", None, None, ())


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("syndicate", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        auto_reload=False,  # the templates ship with the package
    )
    env.filters["short_date"] = short_date
    env.filters["iso_date"] = iso_date
    return env


@functools.cache
def copy_script() -> str:
    """The copy-to-clipboard script the public pages inline (``templates/_copy.js``)."""
    return _environment().get_template("_copy.js").render()


@functools.cache
def content_security_policy() -> str:
    """CSP for the preview page: its own inline style and script, nothing else."""
    digest = hashlib.sha256(copy_script().encode("utf-8")).digest()
    script = "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"
    return (
        f"default-src 'none'; style-src 'unsafe-inline'; script-src {script}; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def _alternates(site: Site, path: str) -> list[tuple[str, str]]:
    """(label, URL path) of each format of the feed at ``path``, that one first."""
    for info in site.feeds:
        if path in info.aliases:
            path = info.atom_path  # the Atom feed's bytes, under a jekyll-feed URL
        if path in info.paths:
            formats = [
                ("RSS", info.rss_path),
                ("Atom", info.atom_path),
                ("JSON Feed", info.json_path),
            ]
            return sorted(formats, key=lambda item: item[1] != path)
    label = "Atom" if path.endswith(".atom") else "RSS"
    return [(label, path)]


_FORMAT_TYPES = {
    "RSS": "application/rss+xml",
    "Atom": "application/atom+xml",
    "JSON Feed": "application/feed+json",
}


def render_preview(site: Site, path: str, config: Config) -> bytes:
    """The HTML page of the feed document at ``path`` in ``site``, for a browser."""
    doc = site.documents[path]
    feed = read_feed(doc.body)
    base = config.site.url
    formats = [
        {
            "label": label,
            "type": _FORMAT_TYPES[label],
            "url": absolute_url(base, p),
            "current": p == path,
        }
        for label, p in _alternates(site, path)
        if p in site.documents
    ]
    html = (
        _environment()
        .get_template("feed.html")
        .render(
            site=config.site,
            feed=feed,
            title=feed.title or config.site.title,
            feed_url=absolute_url(base, path),
            hubs=config.websub.hubs,
            media_type=doc.media_type.partition(";")[0].strip(),
            formats=formats,
            index_url=base,
            copy_script=copy_script(),
            generator=f"syndicate {__version__}",
        )
    )
    return html.encode("utf-8")


def short_date(moment: datetime | None) -> str:
    """``1 May 2024`` (in UTC), or an empty string."""
    if moment is None:
        return ""
    moment = moment.astimezone(UTC)
    # Not strftime("%b"): that follows the process's locale.
    return f"{moment.day} {_MONTHS[moment.month - 1]} {moment.year}"


def iso_date(moment: datetime) -> str:
    """A ``datetime`` attribute value: ``2024-05-01T12:00:00Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
