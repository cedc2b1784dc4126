"""A Jekyll site's ``_config.yml`` read as a syndicate config: Jekyll's and jekyll-feed's
keys mapped onto syndicate's schema, and jekyll-feed's feed URLs. Pure (no I/O).

``config.load_config`` calls ``is_jekyll_config`` on every file it reads, and
``from_jekyll`` on a Jekyll one: the result is a mapping in syndicate's own schema (the
``syndicate:`` section of the file is merged over it by ``config``), the jekyll-feed URLs
to serve (``JekyllFeeds``) and the Jekyll keys syndicate ignores, which the CLI lists
once at start. This module imports nothing of syndicate's but its errors, so that
``config`` can name ``JekyllFeeds`` in its schema.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import Any

from .errors import ConfigError

#: File names Jekyll reads its configuration from; such a file is always read as Jekyll's.
CONFIG_NAMES = ("_config.yml", "_config.yaml")

#: Jekyll's keys that only a Jekyll config has at its top level (a syndicate config has
#: them under ``site:``): a file with one of them and no ``site:`` is read as Jekyll's.
_TELLING_KEYS = ("title", "url", "baseurl", "permalink")

#: Jekyll's built-in permalink styles (jekyllrb.com/docs/permalinks, "Built-in formats").
PERMALINK_STYLES = {
    "date": "/:categories/:year/:month/:day/:title:output_ext",
    "pretty": "/:categories/:year/:month/:day/:title/",
    "ordinal": "/:categories/:year/:y_day/:title:output_ext",
    "weekdate": "/:categories/:year/W:week/:short_day/:title:output_ext",
    "none": "/:categories/:title:output_ext",
}

#: jekyll-feed's default number of entries per feed (its README, "Posts limit").
JEKYLL_FEED_LIMIT = 10

#: Where syndicate keeps its own things in a Jekyll site: Jekyll neither copies nor
#: deletes a folder whose name starts with "." (its ``_site/`` is emptied by every
#: ``jekyll build``, so syndicate never writes there).
STATE_FOLDER = ".syndicate"

# Keys read here (anything else at the top level is listed as ignored).
_MAPPED = frozenset(
    {
        "title",
        "name",
        "description",
        "url",
        "baseurl",
        "permalink",
        "timezone",
        "author",
        "lang",
        "excerpt_separator",
        "feed",
        "show_drafts",
        "future",
        "source",
        "collections_dir",
        "syndicate",
    }
)
_FEED_MAPPED = frozenset(
    {"path", "categories", "tags", "excerpt_only", "posts_limit", "collections"}
)
# jekyll-feed makes tag feeds only for tags of these characters, "to keep feed path simple".
_TAG_FOR_FEED = re.compile(r"[A-Za-z0-9_]+")
# What a jekyll-feed path may not end with: syndicate's own documents end so.
_OWN_SUFFIXES = (".rss", ".atom", ".json", ".opml")


@dataclasses.dataclass(frozen=True)
class JekyllFeeds:
    """jekyll-feed's URLs of a Jekyll site: each serves the Atom document of the
    syndicate feed of the same posts (``feed_aliases``)."""

    site_path: str = "/feed.xml"
    categories: tuple[str, ...] = ()  # feed.categories: /feed/<category>.xml
    tags: bool = False  # feed.tags: /feed/by_tag/<tag>.xml
    tags_only: tuple[str, ...] | None = None
    tags_except: tuple[str, ...] = ()
    tags_path: str = "/feed/by_tag/"
    # Shapes no feed: left out of the config's repr (its fingerprint).
    ignored: tuple[str, ...] = dataclasses.field(default=(), repr=False, compare=False)

    def path_of(self, kind: str, name: str | None) -> str | None:
        """jekyll-feed's URL path for a syndicate feed (kind, name), or None if it has
        none: the site's, a category of ``feed.categories``, a tag as ``feed.tags`` says."""
        if kind == "site":
            return self.site_path
        if name is None or "/" in name or name in (".", ".."):
            return None
        if kind == "category" and name in self.categories:
            return f"/feed/{name}.xml"
        if kind == "tag" and self.tags and _TAG_FOR_FEED.fullmatch(name):
            if self.tags_only is not None and name not in self.tags_only:
                return None
            if name in self.tags_except:
                return None
            return f"{self.tags_path}{name}.xml"
        return None

    def feed_aliases(
        self, feeds: Iterable[tuple[str, str, str | None, str]]
    ) -> dict[str, tuple[str, ...]]:
        """rss_path -> the jekyll-feed paths serving that feed's Atom document, for the
        feeds (rss_path, kind, name, atom_path) in order; a path two feeds would take
        goes to the first (the site's, then the categories', then the tags')."""
        taken: set[str] = set()
        found: dict[str, tuple[str, ...]] = {}
        for rss_path, kind, name, atom_path in feeds:
            path = self.path_of(kind, name)
            if path is None or path == atom_path or path in taken:
                continue
            taken.add(path)
            found[rss_path] = (path,)
        return found


@dataclasses.dataclass(frozen=True)
class FromJekyll:
    """A Jekyll config translated: syndicate's mapping (without the ``syndicate:``
    section, which is ``section``), jekyll-feed's URLs, and Jekyll's destination folder."""

    mapping: dict[str, Any]
    section: Mapping[str, Any]
    feeds: JekyllFeeds
    destination: str


def is_jekyll_config(name: str, data: Any) -> bool:
    """Whether a config file is a Jekyll site's: named ``_config.yml`` (or ``.yaml``), or a
    mapping with Jekyll's top-level keys (``title``, ``url``...) and no ``site:``."""
    if name in CONFIG_NAMES:
        return True
    return (
        isinstance(data, Mapping)
        and "site" not in data
        and any(key in data for key in _TELLING_KEYS)
    )


def from_jekyll(data: Any) -> FromJekyll:
    """Translate a Jekyll ``_config.yml`` (parsed) into syndicate's schema."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError("expected a mapping at the top level")
    ignored = [str(key) for key in data if key not in _MAPPED]
    site: dict[str, Any] = {"title": _title(data), "url": _site_url(data)}
    for key, target in (("description", "description"), ("lang", "language")):
        if data.get(key) is not None:
            site[target] = _text(data[key], key)
    if data.get("timezone") is not None:
        site["timezone"] = _text(data["timezone"], "timezone")
    author = _author(data.get("author"))
    if author is not None:
        site["author"] = author
    site["permalink"] = permalink_pattern(data.get("permalink"))
    for key in ("show_drafts", "future"):
        # Honoured as false (Jekyll's default): syndicate never publishes a draft, and
        # publishes a post dated in the future at its time, not before.
        if data.get(key):
            ignored.append(key)
    source = _folder(data.get("source"), "source")
    posts = PurePosixPath(source, _folder(data.get("collections_dir"), "collections_dir"))
    mapping: dict[str, Any] = {
        "site": site,
        "posts_dir": str(posts / "_posts"),
        "output_dir": f"{STATE_FOLDER}/site",
        "storage": {"url": f"sqlite:///{STATE_FOLDER}/syndicate.db"},
        # Jekyll's excerpt is the first paragraph unless excerpt_separator says otherwise.
        "excerpt_separator": _text(data.get("excerpt_separator", "\n\n"), "excerpt_separator"),
    }
    feed = data.get("feed")
    if feed is None:
        feed = {}
    if not isinstance(feed, Mapping):
        raise ConfigError("feed: expected a mapping (jekyll-feed's options)")
    feeds_section, jekyll_feeds = _feed(feed, ignored)
    mapping["feeds"] = feeds_section
    section = data.get("syndicate")
    if section is None:
        section = {}
    if not isinstance(section, Mapping):
        raise ConfigError("syndicate: expected a mapping (syndicate's own config keys)")
    destination = _folder(data.get("destination"), "destination") if "destination" in data else ""
    return FromJekyll(
        mapping=mapping,
        section=section,
        feeds=dataclasses.replace(jekyll_feeds, ignored=tuple(ignored)),
        destination=str(PurePosixPath(source, destination or "_site")),
    )


def permalink_pattern(value: Any) -> str:
    """``permalink`` as a pattern: a built-in style's (``pretty``...) or as written;
    absent, Jekyll's default style, ``date``."""
    if value is None:
        return PERMALINK_STYLES["date"]
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            "permalink: expected a style (date, pretty, ordinal, weekdate, none) or a pattern"
        )
    return PERMALINK_STYLES.get(value.strip(), value.strip())


def _title(data: Mapping[str, Any]) -> str:
    # jekyll-feed: "title or name - The title of the site".
    for key in ("title", "name"):
        if data.get(key) is not None:
            return _text(data[key], key)
    raise ConfigError("title: required (the site's title, which every feed carries)")


def _site_url(data: Mapping[str, Any]) -> str:
    """``url`` + ``baseurl`` + "/": what Jekyll's ``absolute_url`` puts before a path."""
    url = data.get("url")
    if url is None or (isinstance(url, str) and not url.strip()):
        raise ConfigError(
            "url: required (the site's absolute URL, such as https://example.org: every "
            "link and id in a feed is built from it)"
        )
    url = _text(url, "url").strip().rstrip("/")
    baseurl = data.get("baseurl")
    base = _text(baseurl, "baseurl").strip().strip("/") if baseurl is not None else ""
    return f"{url}/{base}/" if base else f"{url}/"


def _author(value: Any) -> Any:
    """``author`` as syndicate's site author: a name, or the name, email and uri of a
    mapping (jekyll-feed reads those three); None if it names nobody."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        keys = [key for key in ("name", "email", "uri") if value.get(key)]
        found = {key: _text(value[key], f"author.{key}") for key in keys}
        return found if "name" in found else None
    raise ConfigError("author: expected a name or a mapping with name, email, uri")


def _feed(feed: Mapping[str, Any], ignored: list[str]) -> tuple[dict[str, Any], JekyllFeeds]:
    """jekyll-feed's ``feed:`` options: syndicate's ``feeds:`` and jekyll-feed's URLs."""
    ignored += [f"feed.{key}" for key in feed if key not in _FEED_MAPPED]
    path = feed.get("path")
    categories = feed.get("categories")
    collections = feed.get("collections")
    if collections is not None:
        # jekyll-feed's normalize_posts_meta: the "posts" collection is the site's feed.
        names = list(collections) if isinstance(collections, Mapping | list) else [collections]
        others = [str(name) for name in names if name != "posts"]
        if others:
            raise ConfigError(
                f"feed.collections: feeds of collections ({', '.join(others)}) are not "
                "supported: syndicate publishes the posts of _posts/ only; remove them "
                "from feed.collections"
            )
        posts = collections.get("posts") if isinstance(collections, Mapping) else None
        if isinstance(posts, Mapping):
            path = posts.get("path") or path
            categories = posts.get("categories") or categories
    feeds: dict[str, Any] = {"limit": JEKYLL_FEED_LIMIT}
    if feed.get("posts_limit") is not None:
        feeds["limit"] = feed["posts_limit"]  # checked as feeds.limit
    excerpt_only = feed.get("excerpt_only")
    if excerpt_only is not None:
        if not isinstance(excerpt_only, bool):
            raise ConfigError("feed.excerpt_only: expected true or false")
        if excerpt_only:
            feeds["content"] = "summary"
    site_path = _feed_path(path) if path is not None else "/feed.xml"
    tags = feed.get("tags")
    tag_options: Mapping[str, Any] = tags if isinstance(tags, Mapping) else {}
    if tags is not None and not isinstance(tags, bool | Mapping):
        raise ConfigError("feed.tags: expected true, false or a mapping (only, except, path)")
    tags_path = tag_options.get("path") or "/feed/by_tag/"
    if not isinstance(tags_path, str):
        raise ConfigError("feed.tags.path: expected a string")
    only = tag_options.get("only")
    return feeds, JekyllFeeds(
        site_path=site_path,
        categories=_names(categories, "feed.categories"),
        tags=bool(tags) or isinstance(tags, Mapping),
        tags_only=_names(only, "feed.tags.only") if only is not None else None,
        tags_except=_names(tag_options.get("except"), "feed.tags.except"),
        tags_path="/" + tags_path.lstrip("/"),
    )


def _feed_path(value: Any) -> str:
    """``feed.path`` as a URL path; one that would take a URL of syndicate's own layout is
    refused (a ``.xml`` path, as jekyll-feed's are, never does)."""
    path = "/" + _text(value, "feed.path").strip().lstrip("/")
    if path == "/feed.atom":
        return path  # the site's Atom feed itself
    if path.endswith("/") or path.endswith(_OWN_SUFFIXES) or path.startswith(("/api", "/admin")):
        raise ConfigError(
            f"feed.path: {path} would take a URL of syndicate's own (its feeds end in .rss, "
            ".atom, .json; /api and /admin are the editors'); use a path ending in .xml"
        )
    return path


def _names(value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ConfigError(f"{key}: expected a list of names")
    return tuple(_text(name, key) for name in value)


def _folder(value: Any, key: str) -> str:
    """A folder of the site, relative to the config's (Jekyll's ``source``...)."""
    if value is None:
        return "."
    text = _text(value, key).strip()
    return text or "."


def _text(value: Any, key: str) -> str:
    """A string value (YAML may read ``lang: no`` as false: such a value is refused)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(f"{key}: expected a string")
    return str(value)
