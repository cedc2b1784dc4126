"""Old feed URLs and the feeds that replace them: the config's ``redirects:``, the URL
layouts of its presets (WordPress, Hugo, jekyll-feed), the match of a request against
them, and the nginx map ``build`` writes. Pure: no I/O, no clock.

A site that moves to syndicate keeps its subscribers only if their old URLs answer with a
permanent redirect to the feed that replaces them (RFC 9110 15.4.2: a reader then updates
the subscription). ``Redirects.target`` finds that feed for a request the Site has no
document for, from ``redirects.paths`` (a dict lookup) or a preset's layouts (a few
patterns); a URL with a query (WordPress's ``/?feed=rss2``) is matched by its path and
its whole query, even where the path alone is a document (``/``, the home page). An old
category, tag or author URL names the old slug: it finds the feed of that kind with that
slug, or else the one whose name or slug it equals loosely (``_folded``), if only one
does. ``Redirects.nginx_map`` spells the same out, one line per old URL of each feed.

Light on purpose (the standard library, ``config`` and ``documents``): web workers import
it, and the hot path calls it only for a request no document answers.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Literal
from urllib.parse import parse_qsl, quote, unquote

from .config import RedirectsConfig
from .documents import FeedInfo, FeedKind, absolute_url

#: Seconds a cache may keep a redirect. A 301 is cacheable, and browsers keep one for
#: good unless told otherwise (RFC 9111 4.2.2): a day spares the server the old URLs'
#: traffic while a wrong ``redirects:`` entry, once fixed, is out of caches by the next.
#: Feed readers that honour a 301 move the subscription at the first one anyway.
REDIRECT_MAX_AGE = 86400
REDIRECT_CACHE_CONTROL = f"public, max-age={REDIRECT_MAX_AGE}"

#: The file ``build`` writes into its tree for nginx (see the README: "Moving feeds").
MAP_FILE = "nginx-redirects.conf"

Format = Literal["rss", "atom"]
#: Where an old URL goes: a feed path (``redirects.paths``), or the feed of a kind with
#: the old slug (None for the site's), in a format (a preset's layout).
Target = str | tuple[FeedKind, str | None, Format]
#: A query as its pairs in order (``query_key``).
Query = tuple[tuple[str, str], ...]


@dataclasses.dataclass(frozen=True)
class Layout:
    """One old URL of a preset: its ``template`` (``{slug}`` for the old slug of a
    category, tag or author; a ``?`` query as it was written), and the feed kind and
    format that answer it. ``named``: the old software put the name as written there,
    not a slug (the nginx map lists that form too)."""

    kind: FeedKind
    format: Format
    template: str
    named: bool = False


def _wordpress() -> tuple[Layout, ...]:
    # WordPress's feed URLs (developer.wordpress.org, "WordPress Feeds"): /feed/ and
    # /feed/rss2/ are RSS 2.0, /feed/rss/ (0.92) and /feed/rdf/ (1.0) older RSS, whose
    # readers all read RSS 2.0; /feed/atom/ is Atom. The same after the URL of a
    # category, a tag or an author; /?feed=... where pretty permalinks are off.
    # /comments/feed/ has no counterpart here, so it stays a 404.
    suffixes: tuple[tuple[str, Format], ...] = (
        ("feed/", "rss"),
        ("feed/rss2/", "rss"),
        ("feed/rss/", "rss"),
        ("feed/rdf/", "rss"),
        ("feed/atom/", "atom"),
    )
    kinds: tuple[FeedKind, ...] = ("category", "tag", "author")
    queries: tuple[tuple[str, Format], ...] = (
        ("rss2", "rss"),
        ("rss", "rss"),
        ("rdf", "rss"),
        ("atom", "atom"),
    )
    layouts = []
    for suffix, form in suffixes:
        layouts.append(Layout("site", form, f"/{suffix}"))
        layouts.extend(Layout(kind, form, f"/{kind}/{{slug}}/{suffix}") for kind in kinds)
    layouts.extend(Layout("site", form, f"/?feed={value}") for value, form in queries)
    return tuple(layouts)


#: The URL layouts people leave (``redirects.preset``, ``config.REDIRECT_PRESETS``).
PRESETS: Mapping[str, tuple[Layout, ...]] = {
    "wordpress": _wordpress(),
    # Hugo's RSS (gohugo.io, "RSS templates"): index.xml of the home page and of each
    # term of the categories and tags taxonomies.
    "hugo": (
        Layout("site", "rss", "/index.xml"),
        Layout("category", "rss", "/categories/{slug}/index.xml"),
        Layout("tag", "rss", "/tags/{slug}/index.xml"),
    ),
    # jekyll-feed's Atom feeds (its README): /feed.xml, /feed/<category>.xml for the
    # categories of feed.categories (named as written) and /feed/by_tag/<tag>.xml.
    "jekyll-feed": (
        Layout("site", "atom", "/feed.xml"),
        Layout("category", "atom", "/feed/{slug}.xml", named=True),
        Layout("tag", "atom", "/feed/by_tag/{slug}.xml", named=True),
    ),
}


def query_key(query: str) -> Query:
    """A query as its pairs in order, so that ``tag=x&feed=rss2`` is ``feed=rss2&tag=x``."""
    return tuple(sorted(parse_qsl(query, keep_blank_values=True)))


def old_url(key: str) -> tuple[str, Query | None]:
    """An old URL of ``redirects.paths`` as requests are matched: its path %-decoded (as
    a server hands ``PATH_INFO`` over), and its query, if it has one (``query_key``)."""
    path, question, query = key.partition("?")
    return unquote(path, errors="replace"), query_key(query) if question else None


# What no line of an nginx config (nor a path in it) can hold.
_UNWRITABLE = re.compile(r"[\x00-\x1f\x7f]")
# Left as they are in a Location: RFC 3986 reserved and unreserved characters, and "%".
_URI_SAFE = ":/?#[]@!$&'()*+,;=~%"


_SEPARATORS = re.compile(r"[\s_]+")


def _folded(name: str) -> str:
    """A name or an old slug compared loosely: case folded, spaces and underscores as
    "-", as WordPress and Hugo make the slug of a plain name (and jekyll-feed keeps the
    category's name as it is written)."""
    return _SEPARATORS.sub("-", name.strip().casefold())


def _forms(path: str) -> tuple[str, ...]:
    """An old path and the same without its final "/" (WordPress answers both)."""
    return (path, path[:-1]) if len(path) > 1 and path.endswith("/") else (path,)


def _pattern(template: str) -> re.Pattern[str]:
    prefix, _, suffix = template.partition("{slug}")
    slash = "/?" if suffix.endswith("/") else ""
    return re.compile(re.escape(prefix) + "(?P<slug>[^/]+)" + re.escape(suffix.rstrip("/")) + slash)


class FeedIndex:
    """The feeds of one Site by kind and slug, and by kind and the folded slug or name
    (``_folded``); a folded key two feeds share finds neither."""

    def __init__(self, feeds: Sequence[FeedInfo]) -> None:
        self.feeds = feeds
        self.site: FeedInfo | None = None
        self.exact: dict[tuple[str, str], FeedInfo] = {}
        self.loose: dict[tuple[str, str], FeedInfo | None] = {}
        for info in feeds:
            if info.kind == "site":
                self.site = self.site or info
            elif info.slug is not None:
                self.exact[(info.kind, info.slug)] = info
                for name in {_folded(info.slug), _folded(info.name or info.slug)}:
                    key = (info.kind, name)
                    self.loose[key] = info if self.loose.get(key, info) is info else None

    def find(self, kind: FeedKind, old_slug: str | None) -> FeedInfo | None:
        """The feed an old URL of this kind and slug names; None if none (or two) do."""
        if kind == "site":
            return self.site
        if not old_slug:
            return None
        return self.exact.get((kind, old_slug)) or self.loose.get((kind, _folded(old_slug)))

    def old_slugs(self, info: FeedInfo, named: bool) -> Iterator[str]:
        """The old slugs that find ``info`` and may stand in a URL, for the nginx map: its
        slug, its name folded (WordPress and Hugo keep a name's letters in its slug), and
        with ``named`` its name as written."""
        seen: set[str] = set()
        for slug in (info.slug, _folded(info.name or ""), info.name if named else None):
            if not slug or slug in seen or "/" in slug or _UNWRITABLE.search(slug):
                continue
            seen.add(slug)
            if self.find(info.kind, slug) is info:
                yield slug


class Redirects:
    """The old URLs of ``redirects:``: matched against a request (``target``) and
    spelled out for nginx (``nginx_map``). ``paths`` wins over the presets, and a
    document of the Site over both (``queries_only``)."""

    def __init__(self, config: RedirectsConfig, site_url: str) -> None:
        self.config = config
        self.site_url = site_url
        # Old path (decoded) -> where it goes: redirects.paths, then the presets' own.
        self.paths: dict[str, Target] = {}
        # Old path -> its query -> where it goes, for the old URLs with a query.
        self.queries: dict[str, dict[Query, Target]] = {}
        self.patterns: list[tuple[re.Pattern[str], Layout]] = []
        self.layouts: list[Layout] = []
        for old, target in config.paths.items():
            path, wanted = old_url(old)
            if wanted is None:
                self.paths[path] = target
            else:
                self.queries.setdefault(path, {})[wanted] = target
        for preset in dict.fromkeys(config.preset):
            for layout in PRESETS[preset]:
                self.layouts.append(layout)
                path, question, query = layout.template.partition("?")
                found: Target = (layout.kind, None, layout.format)
                if question:
                    self.queries.setdefault(path, {}).setdefault(query_key(query), found)
                elif "{slug}" in path:
                    self.patterns.append((_pattern(path), layout))
                else:
                    for form in _forms(path):
                        self.paths.setdefault(form, found)
        # The paths of the old URLs with a query as PATH_INFO has them (WSGI: latin-1 of
        # the UTF-8 bytes): the hot path looks a request's path up here before its
        # documents, since such a URL may be a document's path with a query (/?feed=rss2).
        self.queried = frozenset(path.encode().decode("latin-1") for path in self.queries)
        self._index: FeedIndex | None = None
        self._locations: dict[str, str] = {}

    def target(
        self,
        path: str,
        query: str,
        documents: Collection[str],
        feeds: Sequence[FeedInfo],
        queries_only: bool = False,
    ) -> str | None:
        """The path of the feed the old URL ``path`` (decoded) ``?query`` moved to; None
        if there is none: no rule takes it, or its feed is not a document of the Site.
        ``queries_only``: ``path`` is a document, which only an old URL with a query
        (matched whole) may take."""
        if query:
            by_query = self.queries.get(path)
            if by_query is not None:
                found = by_query.get(query_key(query))
                if found is not None:
                    return self._resolve(found, documents, feeds)
        if queries_only:
            return None
        target = self.paths.get(path)
        if target is None:
            target = self._parsed(path)
            if target is None:
                return None
        return self._resolve(target, documents, feeds)

    def location(self, feed_path: str) -> str:
        """The absolute URL a redirect names for a feed path (RFC 9110 10.2.2)."""
        found = self._locations.get(feed_path)
        if found is None:
            # A URI, whatever the feed path holds, since a header carries nothing else.
            found = quote(absolute_url(self.site_url, feed_path), safe=_URI_SAFE)
            if len(self._locations) < 4096:  # the feeds of a site; never a request's text
                self._locations[feed_path] = found
        return found

    def _parsed(self, path: str) -> Target | None:
        for pattern, layout in self.patterns:
            match = pattern.fullmatch(path)
            if match is not None:
                return (layout.kind, match["slug"], layout.format)
        return None

    def _resolve(
        self, target: Target, documents: Collection[str], feeds: Sequence[FeedInfo]
    ) -> str | None:
        if isinstance(target, str):
            return target if target in documents else None
        kind, slug, form = target
        info = self._feeds(feeds).find(kind, slug)
        if info is None:
            return None
        path = info.rss_path if form == "rss" else info.atom_path
        return path if path in documents else None

    def _feeds(self, feeds: Sequence[FeedInfo]) -> FeedIndex:
        """The index of ``feeds``, made once per Site (its feeds are one tuple)."""
        index = self._index
        if index is None or index.feeds is not feeds:
            index = self._index = FeedIndex(feeds)
        return index

    # ------------------------------------------------------------------ the nginx map

    def map_entries(
        self, documents: Collection[str], feeds: Sequence[FeedInfo]
    ) -> tuple[dict[str, str], dict[str, str], list[str]]:
        """Every old URL that moved, as ``target`` answers it for this Site: old path
        (decoded, any query) -> feed path; old URL with its query (as a client sends it)
        -> feed path; and a problem for each ``redirects.paths`` entry whose feed is not
        a document of the Site (it answers 404)."""
        # Keyed as nginx compares them, ignoring ASCII case: the first to take a key keeps it.
        by_path: _NginxKeys = {}
        by_uri: _NginxKeys = {}
        problems: list[str] = []
        index = FeedIndex(feeds)
        for old, target in self.config.paths.items():
            path, query = old_url(old)
            if target not in documents:
                problems.append(
                    f"redirects.paths.{old}: {target} is not a feed of this site; {old} "
                    f"answers 404 (left out of {MAP_FILE})"
                )
                if query is None:
                    _put(by_path, path, "")  # taken all the same: no preset's, as in serve
            elif query is not None:
                _put(by_uri, _request_uri(old), target)
            elif path not in documents:
                _put(by_path, path, target)
        for layout in self.layouts:
            path, question, _ = layout.template.partition("?")
            if question:
                found = self._resolve((layout.kind, None, layout.format), documents, feeds)
                if found is not None:
                    _put(by_uri, layout.template, found)
                continue
            if "{slug}" not in path:
                found = self._resolve((layout.kind, None, layout.format), documents, feeds)
                for form in _forms(path):
                    if found is not None and form not in documents:
                        _put(by_path, form, found)
                continue
            for info in feeds:
                if info.kind != layout.kind:
                    continue
                found = info.rss_path if layout.format == "rss" else info.atom_path
                if found not in documents:
                    continue
                for slug in index.old_slugs(info, layout.named):
                    for form in _forms(path.replace("{slug}", slug)):
                        if form not in documents:
                            _put(by_path, form, found)
        paths = {old: target for old, target in by_path.values() if target}
        return paths, dict(by_uri.values()), problems

    def nginx_map(
        self, documents: Collection[str], feeds: Sequence[FeedInfo]
    ) -> tuple[str, list[str]]:
        """The text of ``MAP_FILE`` for this Site, and ``map_entries``' problems.

        ``$syndicate_redirect`` is the absolute URL an old URL moved to, else empty: the
        old URLs with a query matched on ``$request_uri`` (as sent), the others on
        ``$uri`` (decoded, so with any query). ``$syndicate_redirect_cache_control`` is
        ``REDIRECT_CACHE_CONTROL`` for a redirect, else empty (no header)."""
        by_path, by_uri, problems = self.map_entries(documents, feeds)
        lines = [
            "# Old feed URLs and the feeds that replace them: written by `syndicate build`",
            "# from the config's redirects: (see syndicate's README, \"Moving feeds without",
            "# losing subscribers\"). Include this file in nginx's http {} block and write",
            "# in the site's server {} block:",
            "#     if ($syndicate_redirect) { return 301 $syndicate_redirect; }",
            "#     add_header Cache-Control $syndicate_redirect_cache_control;",
            "map $uri $syndicate_redirect_path {",
            '    default "";',
        ]
        lines += [_map_line(old, self.location(path)) for old, path in sorted(by_path.items())]
        lines += [
            "}",
            "map $request_uri $syndicate_redirect {",
            "    default $syndicate_redirect_path;",
        ]
        lines += [_map_line(old, self.location(path)) for old, path in sorted(by_uri.items())]
        lines += [
            "}",
            "map $syndicate_redirect $syndicate_redirect_cache_control {",
            '    "" "";',
            f'    default "{REDIRECT_CACHE_CONTROL}";',
            "}",
        ]
        return "\n".join(lines) + "\n", problems


_NginxKeys = dict[str, tuple[str, str]]  # ASCII-lowered old URL -> (old URL, feed path)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _put(table: _NginxKeys, old: str, target: str) -> None:
    """``old`` -> ``target`` unless an old URL nginx takes for the same is there: it
    matches a map's strings ignoring case (ASCII), and refuses two that differ only so."""
    table.setdefault(old.translate(_ASCII_LOWER), (old, target))


def _request_uri(old: str) -> str:
    """An old URL of ``redirects.paths`` as a client sends it (nginx's ``$request_uri``):
    what is not ASCII as %XX of its UTF-8 bytes, the rest as written."""
    return quote(old, safe="".join(map(chr, range(0x21, 0x7F))))


def _map_line(old: str, url: str) -> str:
    # nginx reads \" and \\ in a quoted string, and a $ in a value as a variable: a
    # Location is a URI, in which %24 is a $ (none of syndicate's feed paths has one).
    return f"    {_quoted(old)} {_quoted(url.replace('$', '%24'))};"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
