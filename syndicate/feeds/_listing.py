"""Feeds: the listings of every feed, ``/feeds.opml`` and the ``/`` index page. No I/O.

(The index template is package data, read once through jinja2's loader like code.)
"""

from __future__ import annotations

import functools
import re
import typing
from collections.abc import Mapping, Sequence
from datetime import datetime
from email.utils import format_datetime

import jinja2
from lxml import etree
from markupsafe import Markup

from .. import __version__
from ..config import Config
from ..documents import FeedInfo, absolute_url
from ._feedgen import GENERATOR_NAME, GENERATOR_URI

_GROUPS = (("category", "Categories"), ("tag", "Tags"), ("author", "Authors"))


class _Outline(typing.NamedTuple):
    """What the OPML says of one feed."""

    kind: str
    title: str
    rss_path: str
    atom_path: str
    json_path: str


_LABELS = {"rss": "RSS", "atom": "Atom", "json": "JSON Feed"}


# Where HTML would read a character reference or a tag.
_HTML_SPECIAL = re.compile(r"&(?=[A-Za-z0-9#])|<")


def _html_text(text: str) -> str:
    """A name as the HTML that reads as it: the OPML's titles, owner name and outline
    texts are HTML (the W3C validator parses them so, and warns "Invalid HTML" for
    ``a<b`` or ``Q&A``). Only an ``&`` that would start a reference and every ``<`` are
    escaped, so "News & views", as most names, stays as it is for a reader that takes
    the text as plain."""
    return _HTML_SPECIAL.sub(lambda found: "&amp;" if found.group() == "&" else "&lt;", text)


def _outline(parent: etree._Element, site_url: str, feed: _Outline, fmt: str) -> None:
    path = {"rss": feed.rss_path, "atom": feed.atom_path, "json": feed.json_path}[fmt]
    title = _html_text(feed.title)
    attrs = {
        "text": f"{title} ({_LABELS[fmt]})",
        "title": title,
        # OPML 2.0 spec: type="rss" marks a subscription whatever the feed's format.
        "type": "rss",
        "xmlUrl": absolute_url(site_url, path),
        "htmlUrl": site_url,
    }
    if fmt == "rss":
        attrs["version"] = "RSS2"
    etree.SubElement(parent, "outline", attrs)


# Stands for the date in a rendered list, so a list whose feeds did not change is not
# rendered again when only its date did (every edit of a recent post moves it).
_DATE_MARK = "@@syndicate-opml-date@@"


def render_opml(feeds: Sequence[FeedInfo], config: Config, modified: datetime) -> bytes:
    """OPML 2.0 subscription list: site feeds at the top, then a folder per kind."""
    outlines = tuple((f.kind, f.title, f.rss_path, f.atom_path, f.json_path) for f in feeds)
    # OPML 2.0 head dates are RFC 822; the newest change, never the build time.
    date = format_datetime(modified).encode("ascii")
    site = config.site
    owner = site.author if site.author is not None and site.author.name else None
    opml = _opml(
        outlines, site.title, site.url, owner.name if owner else "", owner.email if owner else ""
    )
    return opml.replace(_DATE_MARK.encode("ascii"), date, 1)


@functools.lru_cache(maxsize=4)
def _opml(
    outlines: tuple[tuple[str, str, str, str, str], ...],
    title: str,
    site_url: str,
    owner_name: str,
    owner_email: str | None,
) -> bytes:
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = _html_text(f"{title}: feeds")
    etree.SubElement(head, "dateModified").text = _DATE_MARK
    if owner_name:
        etree.SubElement(head, "ownerName").text = _html_text(owner_name)
        if owner_email:
            etree.SubElement(head, "ownerEmail").text = owner_email
    body = etree.SubElement(root, "body")
    feeds = [_Outline(*outline) for outline in outlines]
    for feed in feeds:
        if feed.kind == "site":
            for fmt in _LABELS:
                _outline(body, site_url, feed, fmt)
    for kind, label in _GROUPS:
        members = [f for f in feeds if f.kind == kind]
        if members:
            # A folder has only "text": any other attribute calls for a "type" (OPML 2.0).
            folder = etree.SubElement(body, "outline", text=label)
            for feed in members:
                for fmt in _LABELS:
                    _outline(folder, site_url, feed, fmt)
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True, pretty_print=True)


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("syndicate", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        # The templates ship with the package: no stat of each one on every render.
        auto_reload=False,
    )


@functools.lru_cache(maxsize=8192)
def _fragment(
    template: str,
    title: str,
    rss_url: str,
    atom_url: str,
    json_url: str,
    name: str | None = None,
    entry_count: int = 0,
    updated: datetime | None = None,
    latest: tuple[str, str, datetime] | None = None,
) -> Markup:
    """One feed's part of the index page, rendered once for the same values: an edit
    renders the rows of the feeds it changed, not every row of the page again."""
    feed = {
        "title": title,
        "rss_url": rss_url,
        "atom_url": atom_url,
        "json_url": json_url,
        "name": name,
        "entry_count": entry_count,
        "updated": updated,
        "latest": latest,
    }
    html = _environment().get_template(template).render(feed=feed)
    return Markup(html.rstrip("\n"))


def _display_name(feed: FeedInfo, config: Config) -> str | None:
    """What the index page calls a feed: an author feed's author by name (its feed is
    keyed by the `authors:` key), a category or tag by itself, the site's by its title."""
    if feed.kind == "author" and feed.name is not None:
        author = config.authors.get(feed.name)
        if author is not None:
            return author.name
    return feed.name


Latest = Mapping[str, tuple[str, str, datetime]]
"""A feed's ``rss_path`` -> (title, URL, date) of its newest entry."""


def render_index(
    feeds: Sequence[FeedInfo],
    config: Config,
    modified: datetime | None,
    opml_path: str,
    latest: Latest | None = None,
) -> bytes:
    """The HTML5 page listing every feed (with its newest entry, from ``latest``), with
    autodiscovery links in its head and a button to copy each feed's URL."""
    site = config.site
    latest = latest or {}
    rows = [
        {
            "kind": feed.kind,
            "links": _fragment("_index_links.html", feed.title, rss_url, atom_url, json_url),
            "row": _fragment(
                "_index_row.html",
                feed.title,
                rss_url,
                atom_url,
                json_url,
                _display_name(feed, config),
                feed.entry_count,
                feed.updated,
                latest.get(feed.rss_path),
            ),
        }
        for feed in feeds
        for rss_url, atom_url, json_url in [
            tuple(absolute_url(site.url, path) for path in feed.paths)
        ]
    ]
    sections = [
        ("Site", [r["row"] for r in rows if r["kind"] == "site"]),
        *((label, [r["row"] for r in rows if r["kind"] == kind]) for kind, label in _GROUPS),
    ]
    # The rows are joined here, not looped over in the template: Jinja's loop over every
    # feed cost more than rendering the rows that changed.
    html = (
        _environment()
        .get_template("index.html")
        .render(
            site=site,
            links=Markup("\n".join(r["links"] for r in rows)),
            sections=[(label, Markup("\n".join(found))) for label, found in sections if found],
            opml_url=absolute_url(site.url, opml_path),
            modified=modified,
            generator=f"{GENERATOR_NAME} {__version__}",
            generator_uri=GENERATOR_URI,
        )
    )
    return html.encode("utf-8")
