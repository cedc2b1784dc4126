"""Configuration: frozen dataclasses that are the schema of config.yaml. Reads one file,
and resolves the paths it names (links followed).

``load_config(path)`` validates the whole file: an unknown key or a value of the
wrong type is a ``ConfigError`` naming the dotted key (``feeds.limit: expected int``).
Relative paths are resolved against the folder that holds the config file. Where a tree
of feeds may go (``place_problem``) is a rule between the config's own folders, kept here:
``output_dir`` is checked at load, ``build --out`` by ``outdir``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar, Union
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from . import __version__
from .errors import ConfigError
from .jekyll import JekyllFeeds, from_jekyll, is_jekyll_config
from .langtag import normalise_language

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Author:
    """A person credited on posts: Atom ``author``, RSS ``author`` / ``dc:creator``."""

    name: str
    email: str | None = None
    uri: str | None = None


@dataclasses.dataclass(frozen=True)
class SiteConfig:
    """The site the feeds describe; ``url`` is the base of every link and id."""

    title: str
    url: str
    description: str = ""
    language: str | None = None
    timezone: str = "UTC"
    # Credited on entries whose post names no author (Atom requires one, RFC 4287 4.1.1).
    author: Author | None = None
    # Jekyll's default ("date") permalink style; a post's `permalink` overrides it.
    permalink: str = "/:categories/:year/:month/:day/:title.html"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def domain(self) -> str:
        return urlsplit(self.url).hostname or ""


@dataclasses.dataclass(frozen=True)
class FeedsConfig:
    """What goes in each feed."""

    limit: int = 20
    # Minutes a reader may cache a feed before polling again (RSS <ttl>, and the
    # syndication module's period and frequency); None: serve.cache_max_age in minutes.
    ttl: int | None = None
    # "full": entries carry the post's content; "summary": its summary only (a post can
    # ask for that alone with `excerpt_only: true`).
    content: str = "full"
    # RFC 5005 archived feeds: for the site feed ("site"), every feed ("all") or none.
    archives: str = "site"
    # Entries in an archive page: a month's posts, in pages of at most this many.
    archive_page_size: int = 50
    # The same, for the category, tag and author feeds; None: as `content`.
    category_content: str | None = None
    tag_content: str | None = None
    author_content: str | None = None
    # Largest size in bytes of a live feed document (each format on its own); 0: none.
    max_bytes: int = 0
    # Days a deleted or unpublished post stays in the Atom feeds it was in, as an RFC 6721
    # tombstone (``at:deleted-entry``); 0: no tombstones.
    tombstone_days: int = 30

    def content_of(self, kind: str) -> str:
        """``full`` or ``summary``: what the entries of a feed of this kind carry."""
        own = {
            "category": self.category_content,
            "tag": self.tag_content,
            "author": self.author_content,
        }.get(kind)
        return own if own is not None else self.content

    def renders_content(self) -> bool:
        """Whether any kind of feed carries the posts' content (else the rendering drops
        it at once, and no feed needs a summary-only variant of an entry)."""
        # The site feed has no key of its own: ``content`` is its (a test per post).
        own = (self.category_content, self.tag_content, self.author_content)
        return self.content == "full" or "full" in own


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    """``syndicate serve``: HTTP settings."""

    host: str = "127.0.0.1"
    port: int = 8080
    cache_max_age: int = 300
    # An archive page but the newest (RFC 5005): its entries no longer change.
    archive_max_age: int = 604800
    workers: int = 1


@dataclasses.dataclass(frozen=True)
class StorageConfig:
    """Where state lives: any SQLAlchemy URL; a relative SQLite path is relative to the config."""

    url: str = "sqlite:///syndicate.db"


@dataclasses.dataclass(frozen=True)
class WebSubConfig:
    """WebSub hubs, advertised in every feed and notified when a feed changes."""

    hubs: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class WatchConfig:
    """Change detection: filesystem events, with a periodic full scan as a safety net."""

    scan_interval: float = 60.0  # seconds between full scans
    debounce: float = 1.0  # seconds of quiet before a burst of saves is rebuilt


@dataclasses.dataclass(frozen=True)
class NotifyConfig:
    """Delivery of notifications to hubs and ping servers."""

    timeout: float = 10.0  # seconds, per request
    max_attempts: int = 8
    max_backoff: float = 3600.0  # seconds


@dataclasses.dataclass(frozen=True)
class PublishConfig:
    """What a publish may do to the live feeds without ``republish --force``."""

    # The largest share of the posts the store knows that one publish may remove (files
    # gone) on a site of at least ``publisher.ids.REMOVAL_CHECK_MIN_POSTS`` posts; removing
    # every post of a non-empty site is refused whatever this says.
    max_removed_share: float = 0.5


@dataclasses.dataclass(frozen=True)
class PostsConfig:
    """How post files are read."""

    # A file larger than this is a problem and is not read: one file in posts_dir must not
    # decide how much memory a publish takes (a post is a few KB; a 200 MB one took a
    # worker to gigabytes).
    max_bytes: int = 5 * 1024 * 1024


#: The URL layouts ``redirects.preset`` knows (``redirects.PRESETS`` spells them out).
REDIRECT_PRESETS = ("wordpress", "hugo", "jekyll-feed")


@dataclasses.dataclass(frozen=True)
class RedirectsConfig:
    """Old feed URLs answered with a permanent redirect to a feed of this site: ``paths``
    (old path, with a query if it had one, -> feed path) and the layouts of ``preset``."""

    paths: Mapping[str, str] = dataclasses.field(default_factory=dict)
    preset: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Config:
    """The whole of config.yaml. ``root`` is the folder the file is in."""

    site: SiteConfig
    posts_dir: Path = Path("posts")
    posts: PostsConfig = dataclasses.field(default_factory=PostsConfig)
    assets_dir: Path | None = None
    # The live static tree the service keeps up to date (and serves from); `build --out`
    # writes the same tree anywhere.
    output_dir: Path = Path("_site")
    excerpt_separator: str = "<!--more-->"
    authors: Mapping[str, Author] = dataclasses.field(default_factory=dict)
    feeds: FeedsConfig = dataclasses.field(default_factory=FeedsConfig)
    serve: ServeConfig = dataclasses.field(default_factory=ServeConfig)
    storage: StorageConfig = dataclasses.field(default_factory=StorageConfig)
    websub: WebSubConfig = dataclasses.field(default_factory=WebSubConfig)
    pings: tuple[str, ...] = ()  # XML-RPC weblogUpdates endpoints
    watch: WatchConfig = dataclasses.field(default_factory=WatchConfig)
    notify: NotifyConfig = dataclasses.field(default_factory=NotifyConfig)
    publish: PublishConfig = dataclasses.field(default_factory=PublishConfig)
    redirects: RedirectsConfig = dataclasses.field(default_factory=RedirectsConfig)
    root: Path = dataclasses.field(default=Path("."), metadata={"internal": True})
    # A Jekyll _config.yml's jekyll-feed URLs (and the keys ignored); None: syndicate's own.
    jekyll: JekyllFeeds | None = dataclasses.field(default=None, metadata={"internal": True})


# The live tree's manifest (in output_dir): the documents, their entity-tags and the
# feeds; written last by every publish.
MANIFEST = ".syndicate-manifest.json"


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite storage URL; None for an in-memory or server database."""
    if not url.startswith("sqlite") or ":memory:" in url:
        return None
    path = url.split(":///", 1)[-1].split("?", 1)[0]
    return Path(path) if path and ":///" in url else None


def fingerprint(config: Config) -> str:
    """Digest of the configuration and syndicate's version: anything that shapes a feed."""
    return hashlib.sha256(f"{__version__}\x1e{config!r}".encode()).hexdigest()


def state_dir(config: Config) -> Path:
    """The folder for state beside the store: the SQLite file's folder, else the config's."""
    url = config.storage.url
    for prefix in ("sqlite:///", "sqlite+pysqlite:///"):
        if url.startswith(prefix) and url[len(prefix) :].startswith("/"):
            return Path(url[len(prefix) :].split("?", 1)[0]).parent
    return config.root


def load_config(path: Path | str) -> Config:
    """Read and validate config.yaml; relative paths become relative to its folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if data is None:
        data = {}
    root = path.resolve().parent
    try:
        if is_jekyll_config(path.name, data):
            return _jekyll_config(data, root)
        return config_from_mapping(data, root)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _jekyll_config(data: Any, root: Path) -> Config:
    """A Jekyll site's ``_config.yml`` (``jekyll.from_jekyll``), its ``syndicate:`` section
    merged over what Jekyll's keys say; that section is checked first, so an error in it
    names its key there (``syndicate.feeds.limit: expected int``)."""
    translated = from_jekyll(data)
    _check_partial(Config, translated.section, "syndicate.")
    try:
        config = config_from_mapping(_merged(translated.mapping, translated.section), root)
    except ConfigError as exc:
        raise ConfigError(_jekyll_named(str(exc), translated.section)) from None
    # Jekyll empties its destination (_site/) at every build: never syndicate's tree.
    destination = (root / translated.destination).resolve()
    if config.output_dir == destination or destination in config.output_dir.parents:
        raise ConfigError(
            f"syndicate.output_dir: {config.output_dir} is Jekyll's destination, which "
            f"every jekyll build empties; use a folder of its own (the default is "
            f"{root / '.syndicate' / 'site'})"
        )
    return dataclasses.replace(config, jekyll=translated.feeds)


# syndicate's keys that a Jekyll key sets, for an error about a value the editor wrote
# under Jekyll's name.
_JEKYLL_NAMES = {
    "site.url": "url (with baseurl)",
    "site.language": "lang",
    "site.timezone": "timezone",
    "site.author": "author",
    "feeds.limit": "feed.posts_limit",
    "excerpt_separator": "excerpt_separator",
}


def _jekyll_named(message: str, section: Mapping[str, Any]) -> str:
    """``message`` naming the key as the Jekyll config has it: Jekyll's name for a value
    from Jekyll's keys, ``syndicate.<key>`` for one from the ``syndicate:`` section."""
    key, sep, rest = message.partition(": ")
    if not sep:
        return message
    top, _, sub = key.partition(".")
    given = section.get(top)
    if top in section and (not sub or not isinstance(given, Mapping) or sub.split(".")[0] in given):
        return f"syndicate.{key}: {rest}"
    return f"{_JEKYLL_NAMES.get(key.split('[')[0], key)}: {rest}"


def _merged(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``over``'s keys, mappings merged key by key."""
    merged = dict(base)
    for key, value in over.items():
        below = merged.get(key)
        if isinstance(below, Mapping) and isinstance(value, Mapping):
            merged[key] = _merged(below, value)
        else:
            merged[key] = value
    return merged


def _check_partial(cls: type[Any], data: Mapping[Any, Any], prefix: str) -> None:
    """Check the keys and values ``data`` gives for ``cls``, none of them required."""
    fields = {f.name: f for f in _public_fields(cls)}
    hints = typing.get_type_hints(cls)
    for key, value in data.items():
        if key not in fields:
            raise ConfigError(f"{prefix}{key}: unknown key (expected one of: {', '.join(fields)})")
        tp = hints[key]
        if dataclasses.is_dataclass(tp) and isinstance(value, Mapping):
            _check_partial(typing.cast(type[Any], tp), value, f"{prefix}{key}.")
        else:
            _coerce(value, tp, f"{prefix}{key}")


def config_from_mapping(data: Any, root: Path) -> Config:
    """Validate an already-parsed mapping (as from YAML) into a ``Config``."""
    if not isinstance(data, Mapping):
        raise ConfigError("expected a mapping at the top level")
    config = _build(Config, _one_preset_as_list(data), "")
    site = dataclasses.replace(config.site, url=site_uri(config.site.url))
    # Hubs and ping servers as URIs too: the Link header can carry nothing else, and the
    # feed's <link rel="hub"> must be the same string.
    hubs = tuple(http_uri(hub, f"websub.hubs[{i}]") for i, hub in enumerate(config.websub.hubs))
    pings = tuple(http_uri(ping, f"pings[{i}]") for i, ping in enumerate(config.pings))
    if site.language is not None:
        site = dataclasses.replace(site, language=_language(site.language))
    config = dataclasses.replace(
        config,
        site=site,
        websub=dataclasses.replace(config.websub, hubs=hubs),
        pings=pings,
        storage=StorageConfig(url=_resolve_sqlite_url(config.storage.url, root)),
        root=root,
        posts_dir=_resolve(root / config.posts_dir, "posts_dir"),
        output_dir=_resolve(root / config.output_dir, "output_dir"),
        assets_dir=_resolve(root / config.assets_dir, "assets_dir") if config.assets_dir else None,
    )
    _check(config)
    return config


def _resolve(path: Path, key: str) -> Path:
    """``path.resolve()``; a symbolic link loop is an error naming the key, not a traceback."""
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a loop, before Python 3.13
        raise ConfigError(f"{key}: {path}: cannot resolve the path: {exc}") from None


def _resolve_sqlite_url(url: str, root: Path) -> str:
    """Make a relative SQLite database path relative to the config file's folder."""
    for prefix in ("sqlite:///", "sqlite+pysqlite:///"):
        if url.startswith(prefix):
            rest = url[len(prefix) :]
            if rest and not rest.startswith("/") and not rest.startswith(":memory:"):
                return prefix + str((root / rest).resolve())
    return url


# RFC 3986 pchar and "/": what a path keeps as it is; "%" too, so an escape already in
# the URL is not escaped again (a "%" that starts no escape is, by _LONE_PERCENT).
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# A host as RFC 3986 3.2.2 allows it once IDNA has made it ASCII: a reg-name, an IPv4
# address, or an IP literal in brackets.
_HOST = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=%-]+|\[[0-9A-Fa-f:.]+\]")


def site_uri(url: str) -> str:
    """``site.url`` as the one URI every link, id, header and hub topic is built from.

    ``http_uri`` makes it a URI; it must have no query or fragment, and it ends with "/",
    since every URL is site.url + a path. ConfigError if it cannot be one.
    """
    uri = http_uri(url, "site.url")
    if "?" in uri or "#" in uri:
        raise ConfigError(
            f"site.url: expected no query or fragment, got {url.strip()!r} "
            "(every link is site.url followed by a path)"
        )
    return uri if uri.endswith("/") else uri + "/"


# What the query and the fragment keep as they are (RFC 3986 3.4, 3.5): pchar, "/", "?".
_QUERY_SAFE = _PATH_SAFE + "?"


def http_uri(url: str, key: str) -> str:
    """An absolute http(s) URL as a URI: ``site.url``, a hub, a ping server, a post's own
    permalink or image. ``key`` names it in the ConfigError raised if it cannot be one.

    An IRI becomes a URI (RFC 3987 3.1): the host by IDNA (punycode), non-ASCII, spaces
    and other characters a URI cannot carry as %XX of their UTF-8 bytes, escapes already
    there kept as they are. A URI stays byte for byte as written (its case too), so the
    links and ids of an existing site keep their strings. WebSub needs this: a hub
    matches topics as strings, and a Link header can only carry a URI.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise ConfigError(f"{key}: {url!r} is not a URL ({exc})") from None
    scheme, sep, rest = url.partition("://")
    if parts.scheme not in ("http", "https") or not sep or not parts.hostname:
        raise ConfigError(f"{key}: expected an absolute http(s) URL, got {url!r}")
    rest, hash_, fragment = rest.partition("#")
    rest, question, query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    userinfo, at, host_port = authority.rpartition("@")
    host, port = host_port, ""
    if not host_port.endswith("]") and ":" in host_port:
        host, _, port = host_port.rpartition(":")
        port = ":" + port
    if not host.isascii():
        try:
            # The stdlib codec, as the ids' tag authority always used (posts._tag_authority):
            # an internationalised site keeps its entry ids.
            host = host.lower().encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ConfigError(f"{key}: {host!r} is not a host name ({exc})") from None
    if not _HOST.fullmatch(host) or any(
        label.startswith("xn--") and not _punycode_ok(label) for label in host.lower().split(".")
    ):
        raise ConfigError(f"{key}: {host!r} is not a host name")
    userinfo = _escaped(userinfo, "!$&'()*+,;=:-._~%")
    path = _escaped(slash + path, _PATH_SAFE)
    query = _escaped(query, _QUERY_SAFE)
    fragment = _escaped(fragment, _QUERY_SAFE)
    return f"{scheme}://{userinfo}{at}{host}{port}{path}{question}{query}{hash_}{fragment}"


def _escaped(text: str, safe: str) -> str:
    """``text`` with what a URI cannot carry as %XX of UTF-8, and a "%" that starts no
    escape as %25; escapes already there kept."""
    return _LONE_PERCENT.sub("%25", quote(text, safe=safe))


def _punycode_ok(label: str) -> bool:
    """Whether an ``xn--`` label decodes (IDNA), as a browser must do to show it."""
    try:
        label.encode("ascii").decode("idna")
    except UnicodeError:
        return False
    return True


def _language(value: str) -> str | None:
    """``site.language`` as a BCP 47 tag (``en_US`` becomes ``en-US``); empty is none."""
    if not value.strip():
        return None
    tag = normalise_language(value)
    if tag is None:
        raise ConfigError(
            f"site.language: {value!r} is not a BCP 47 language tag (RFC 5646); "
            "use one such as en, en-US or pt-BR"
        )
    return tag


def _check_http_url(url: str, key: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{key}: expected an absolute http(s) URL, got {url!r}")


def _check(config: Config) -> None:
    _check_http_url(config.site.url, "site.url")
    if config.watch.scan_interval <= 0:
        raise ConfigError("watch.scan_interval: expected a positive number")
    if config.watch.debounce < 0:
        raise ConfigError("watch.debounce: expected a number >= 0")
    if config.notify.timeout <= 0:
        raise ConfigError("notify.timeout: expected a positive number")
    if config.notify.max_attempts < 1:
        raise ConfigError("notify.max_attempts: expected a positive int")
    if config.notify.max_backoff < 0:
        raise ConfigError("notify.max_backoff: expected a number >= 0")
    try:
        ZoneInfo(config.site.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"site.timezone: unknown time zone {config.site.timezone!r} (expected an IANA name)"
        ) from None
    if config.feeds.limit < 1:
        raise ConfigError("feeds.limit: expected a positive int")
    for key in ("content", "category_content", "tag_content", "author_content"):
        value = getattr(config.feeds, key)
        if value is not None and value not in ("full", "summary"):
            raise ConfigError(f"feeds.{key}: expected full or summary, got {value!r}")
    if config.feeds.max_bytes < 0:
        raise ConfigError("feeds.max_bytes: expected an int >= 0 (0: no limit)")
    if config.feeds.ttl is not None and config.feeds.ttl < 1:
        raise ConfigError("feeds.ttl: expected a positive number of minutes")
    if config.feeds.archives not in ("site", "all", "none"):
        raise ConfigError(
            f"feeds.archives: expected site, all or none, got {config.feeds.archives!r}"
        )
    if config.feeds.archive_page_size < 1:
        raise ConfigError("feeds.archive_page_size: expected a positive int")
    if config.feeds.tombstone_days < 0:
        raise ConfigError("feeds.tombstone_days: expected an int >= 0 (0: no tombstones)")
    if config.serve.cache_max_age < 0:
        raise ConfigError("serve.cache_max_age: expected an int >= 0")
    if config.serve.archive_max_age < 0:
        raise ConfigError("serve.archive_max_age: expected an int >= 0")
    if not 1 <= config.serve.port <= 65535:
        raise ConfigError("serve.port: expected an int between 1 and 65535")
    if config.serve.workers < 1:
        raise ConfigError("serve.workers: expected a positive int")
    if config.posts.max_bytes < 1:
        raise ConfigError("posts.max_bytes: expected a positive int")
    if not 0 <= config.publish.max_removed_share <= 1:
        raise ConfigError("publish.max_removed_share: expected a number from 0 to 1")
    _check_redirects(config.redirects)
    # Where the live tree may go: the rule `build --out` follows too (outdir).
    problem = output_dir_problem(config)
    if problem is not None:
        raise ConfigError(f"output_dir: {problem}")


def _one_preset_as_list(data: Mapping[Any, Any]) -> Mapping[Any, Any]:
    """``redirects.preset: wordpress`` as the list of one it means."""
    redirects = data.get("redirects")
    if isinstance(redirects, Mapping) and isinstance(redirects.get("preset"), str):
        return {**data, "redirects": {**redirects, "preset": [redirects["preset"]]}}
    return data


# An old path's query is matched as a whole; a fragment never reaches a server.
_OLD_PATH_FORBIDDEN = re.compile(r"[\x00-\x20\x7f#]")
# What a feed of a site can be at: a path with no query, ending in a feed's extension.
_FEED_PATH = re.compile(r"/(?!/)[^?#\x00-\x20\x7f]*\.(?:rss|atom|json|xml|opml)")
_EDITOR_PATHS = re.compile(r"/(?:api|admin)(?:[/?]|$)")


def _check_redirects(redirects: RedirectsConfig) -> None:
    """Each old path is a path of this site that is not the editors' and each target a
    feed's path; the error names the key (``redirects.paths./rss.xml: ...``)."""
    for preset in redirects.preset:
        if preset not in REDIRECT_PRESETS:
            raise ConfigError(
                f"redirects.preset: unknown preset {preset!r} (expected "
                f"{', '.join(REDIRECT_PRESETS)}, or a list of them)"
            )
    for old, target in redirects.paths.items():
        key = f"redirects.paths.{old}"
        if not old.startswith("/") or old.startswith("//"):
            raise ConfigError(f"{key}: an old path starts with one / (such as /rss.xml)")
        if _OLD_PATH_FORBIDDEN.search(old):
            raise ConfigError(
                f"{key}: write the path as its URL has it, with %20 for a space and no #fragment"
            )
        if old == "/":
            raise ConfigError(
                f"{key}: / is the home page; a redirect may take it only with the old URL's"
                " query (such as /?feed=rss2)"
            )
        if _EDITOR_PATHS.match(old):
            raise ConfigError(f"{key}: /api and /admin are the editors'; no redirect may take them")
        if not _FEED_PATH.fullmatch(target) or "/../" in target or "/./" in target:
            raise ConfigError(
                f"{key}: {target!r} is not the path of a feed (such as /feed.rss, "
                "/category/news.atom or /tag/python.json: no query, no host)"
            )
        if target == old or target in redirects.paths:
            raise ConfigError(
                f"{key}: {target} is an old path itself; redirect to the feed that replaces it"
            )


def place_problem(out: Path, config: Config) -> str | None:
    """Why no tree of feeds may be written at ``out`` (``"is the posts folder
    (posts_dir)"``), or None if one may: ``output_dir`` (checked at load) and ``build
    --out`` (``outdir.static_target``) share this rule. A tree never goes into, or into a
    folder holding, what syndicate reads or keeps, since replacing the tree would delete
    them; nor inside the posts or assets folder, whose files syndicate reads. ``out``
    and the config's folders are compared resolved (links and ``..`` followed)."""
    out = out.resolve()
    # Replaced whole (a static tree) or written into (the live tree): it must neither
    # be nor hold any of these.
    kept = [
        ("the config's folder", None, config.root),
        ("the posts folder", "posts_dir", config.posts_dir),
        ("the assets folder", "assets_dir", config.assets_dir),
        ("the state folder", None, state_dir(config)),
    ]
    for name, key, folder in kept:
        if folder is None:
            continue
        folder = folder.resolve()
        if out == folder:
            return f"is {name} ({key})" if key else f"is {name}"
        if out in folder.parents:
            return f"holds {name} ({key}: {folder})" if key else f"holds {name} ({folder})"
    # Every file under these is read as a post or an asset.
    for name, key, folder in kept[1:3]:
        if folder is not None and folder.resolve() in out.parents:
            return f"is inside {name} ({key}: {folder.resolve()}), whose files syndicate reads"
    return None


def output_dir_problem(config: Config) -> str | None:
    """What is wrong with where ``output_dir`` is, as a message after ``output_dir: ``;
    None if the live tree may go there (the config is refused at load otherwise)."""
    problem = place_problem(config.output_dir, config)
    if problem is None:
        return None
    return (
        f"{config.output_dir} {problem}; syndicate never writes there: set output_dir to a "
        "folder of its own"
    )


def _public_fields(cls: type[Any]) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(cls) if not f.metadata.get("internal")]


def _build(cls: type[T], data: Mapping[Any, Any], prefix: str) -> T:
    fields = {f.name: f for f in _public_fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields:
            dotted = f"{prefix}{key}"
            raise ConfigError(f"{dotted}: unknown key (expected one of: {', '.join(fields)})")
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        dotted = f"{prefix}{name}"
        if name in data:
            kwargs[name] = _coerce(data[name], hints[name], dotted)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{dotted}: required key is missing")
    return cls(**kwargs)


def _type_name(tp: Any) -> str:
    names = {str: "str", int: "int", float: "number", bool: "bool", Path: "path"}
    if tp in names:
        return names[tp]
    if dataclasses.is_dataclass(tp):
        return "mapping"
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None))
    return "mapping" if origin in (Mapping, dict) else str(tp)


def _coerce(value: Any, tp: Any, dotted: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(value, inner, dotted)
    if dataclasses.is_dataclass(tp):
        if tp is Author and isinstance(value, str):
            return Author(name=value)
        if not isinstance(value, Mapping):
            raise ConfigError(f"{dotted}: expected {_type_name(tp)}")
        return _build(typing.cast(type[Any], tp), value, dotted + ".")
    if origin in (Mapping, dict):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{dotted}: expected mapping")
        _, vtype = typing.get_args(tp)
        return {str(k): _coerce(v, vtype, f"{dotted}.{k}") for k, v in value.items()}
    if origin is list or origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{dotted}: expected list")
        (itype, *_) = typing.get_args(tp)
        return tuple(_coerce(v, itype, f"{dotted}[{i}]") for i, v in enumerate(value))
    return _coerce_scalar(value, tp, dotted)


def _coerce_scalar(value: Any, tp: Any, dotted: str) -> Any:
    """``_coerce`` for a bool, int, number, str or path (no containers, no unions)."""
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{dotted}: expected bool")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{dotted}: expected int")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{dotted}: expected number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{dotted}: expected str")
        return value
    if tp is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{dotted}: expected path")
        return Path(value)
    raise ConfigError(f"{dotted}: unsupported type {tp!r}")  # pragma: no cover
