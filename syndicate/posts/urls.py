"""URLs of a post: its permalink (Jekyll's placeholders), its entry id (RFC 4151 tag:
URIs) and its lead image (an enclosure, with the length of its file in ``assets_dir``).
Pure but for one stat of an image's file in ``assets_dir``.
"""

from __future__ import annotations

import functools
import mimetypes
import os
import re
import stat
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple
from urllib.parse import quote, unquote, urljoin, urlsplit

from slugify import slugify

from ..config import Config, SiteConfig, http_uri
from ..errors import ConfigError
from .frontmatter import InvalidValue, type_name
from .post import Image, Post
from .text import strip_forbidden_chars


def _suffix(name: str) -> str:
    """A file name's suffix as ``PurePath.suffix`` gives it: "" for ".bashrc" or "a."."""
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


def without_suffix(relpath: str) -> str:
    """``str(PurePosixPath(relpath).with_suffix(""))`` for a post's relpath, which has no
    empty or "." parts for pathlib to drop; without parsing it into a path object."""
    return relpath[: len(relpath) - len(_suffix(relpath.rpartition("/")[2]))]


# Characters kept as they are when a path becomes a URL: RFC 3986 unreserved, sub-delims,
# ':', '@', '/', and '%' (an already-escaped sequence must not be escaped twice).
_URL_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# What quote() keeps as it is (ASCII letters, digits, "_.-~" and _URL_PATH_SAFE), but "%":
# a path made only of these needs neither quote() nor _LONE_PERCENT.
_URL_PATH_AS_IS = re.compile(r"[A-Za-z0-9/:@!$&'()*+,;=._~-]*")


def _quote_path(path: str) -> str:
    if _URL_PATH_AS_IS.fullmatch(path):
        return path
    return _LONE_PERCENT.sub("%25", quote(path, safe=_URL_PATH_SAFE))


_DOT_SEGMENT = re.compile(r"(?:^|/)\.\.?(?:/|$)")


def _site_url(config: Config, path: str) -> str:
    """A path relative to the site (a leading '/' too), as Jekyll's ``absolute_url`` does."""
    quoted = _quote_path(path.lstrip("/"))
    if _DOT_SEGMENT.search(quoted) is None:
        return config.site.url + quoted  # site.url always ends with "/"
    # urljoin removes "." and ".." segments (RFC 3986 5.2.4); "./" keeps a colon in the
    # first segment from being read as a URL scheme.
    return urljoin(config.site.url, "./" + quoted)


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def _url_scheme(ref: str) -> str:
    """``urlsplit(ref).scheme``, without splitting a plain path such as "assets/x.jpg"."""
    # urlsplit's cache does not help with one reference per post. A plain path is one that
    # urlsplit would not strip (leading controls or spaces) or clean (tabs, newlines), whose
    # scheme would be empty (no _SCHEME prefix), and without the "//" that makes it check a
    # host and perhaps raise; anything else goes through urlsplit itself.
    if (
        ref[:1] > " "
        and _SCHEME.match(ref) is None
        and not ref.startswith("//")
        and "\t" not in ref
        and "\n" not in ref
        and "\r" not in ref
    ):
        return ""
    return urlsplit(ref).scheme


_PLACEHOLDER = re.compile(r":([a-z_]+)")
# Month names are fixed English, as in Jekyll: strftime("%b") would follow the locale.
_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December",
)  # fmt: skip
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class _UrlParts(NamedTuple):
    local: datetime  # the post's date in the site's time zone
    categories: Sequence[str]
    title_slug: str
    stem: str


# A site has a few dozen categories shared by thousands of posts, and python-slugify is
# most of the cost of building a permalink; it is a pure function of the name.
_category_slug = functools.lru_cache(maxsize=1024)(slugify)

# Jekyll's permalink placeholders (Jekyll::Drops::UrlDrop); computed only when used.
_PLACEHOLDERS: Mapping[str, Callable[[_UrlParts], str]] = {
    "year": lambda p: f"{p.local.year:04d}",
    "short_year": lambda p: f"{p.local.year % 100:02d}",
    "month": lambda p: f"{p.local.month:02d}",
    "i_month": lambda p: str(p.local.month),
    "short_month": lambda p: _MONTHS[p.local.month - 1][:3],
    "long_month": lambda p: _MONTHS[p.local.month - 1],
    "day": lambda p: f"{p.local.day:02d}",
    "i_day": lambda p: str(p.local.day),
    "y_day": lambda p: f"{p.local.timetuple().tm_yday:03d}",
    # ISO 8601 weeks, as Jekyll's strftime %G, %V and %u (the weekdate style).
    "w_year": lambda p: f"{p.local.isocalendar()[0]:04d}",
    "week": lambda p: f"{p.local.isocalendar()[1]:02d}",
    "w_day": lambda p: str(p.local.isoweekday()),
    "short_day": lambda p: _WEEKDAYS[p.local.weekday()][:3],
    "long_day": lambda p: _WEEKDAYS[p.local.weekday()],
    "hour": lambda p: f"{p.local.hour:02d}",
    "minute": lambda p: f"{p.local.minute:02d}",
    "second": lambda p: f"{p.local.second:02d}",
    "title": lambda p: p.title_slug,
    "slug": lambda p: slugify(p.title_slug) or p.title_slug,
    "name": lambda p: p.stem,
    # Lower-case ASCII slugs joined by "/"; empty when the post has no categories.
    "categories": lambda p: "/".join(s for s in map(_category_slug, p.categories) if s),
    # Jekyll 4.1's name for the same.
    "slugified_categories": lambda p: "/".join(s for s in map(_category_slug, p.categories) if s),
    "output_ext": lambda p: ".html",
}
# A Jekyll site's own rule (Jekyll::Drops::UrlDrop#categories): the names lower-cased,
# each once, not slugs; its pages are at those URLs ("Big News" -> /big%20news/...), so
# the links to them must be too.
_JEKYLL_PLACEHOLDERS: Mapping[str, Callable[[_UrlParts], str]] = {
    **_PLACEHOLDERS,
    "categories": lambda p: "/".join(dict.fromkeys(c.lower() for c in p.categories if c)),
}

_Template = tuple[tuple[tuple[str, Callable[[_UrlParts], str]], ...], str]


@functools.lru_cache(maxsize=256)
def _permalink_template(pattern: str, jekyll: bool = False) -> _Template:
    """A permalink pattern as (text, placeholder) pairs and the text after the last one.

    Expanding it is then a join, where a regular-expression substitution called back into
    Python for every placeholder. Unknown placeholders stay as written, as in Jekyll.
    ``jekyll``: a Jekyll site's (``:categories`` as Jekyll makes it).
    """
    placeholders = _JEKYLL_PLACEHOLDERS if jekyll else _PLACEHOLDERS
    # With its group, split() gives text, name, text, name, ..., text.
    pieces = _PLACEHOLDER.split(pattern)
    pairs: list[tuple[str, Callable[[_UrlParts], str]]] = []
    text = pieces[0]
    for name, after in zip(pieces[1::2], pieces[2::2], strict=True):
        make = placeholders.get(name)
        if make is None:
            text += f":{name}{after}"
        else:
            pairs.append((text, make))
            text = after
    return tuple(pairs), text


_SLASHES = re.compile("/{2,}")


def build_permalink(
    data: Mapping[str, Any],
    config: Config,
    posted: datetime,
    categories: Sequence[str],
    title_slug: str,
    stem: str,
    warn: Callable[[str], None],
) -> str:
    """The post's absolute URL: its own ``permalink`` or the site's pattern, expanded."""
    pattern = config.site.permalink
    value = data.get("permalink")
    if isinstance(value, str):
        value = strip_forbidden_chars(value).strip()
        try:
            scheme = _url_scheme(value)
        except ValueError as exc:  # "http://[oops/": Invalid IPv6 URL
            warn(f"permalink: {value!r} is not a valid URL ({exc}); ignored")
            scheme, value = "", ""
        if scheme in ("http", "https"):
            try:
                return http_uri(value, "permalink")  # an IRI as the URI feeds must carry
            except ConfigError as exc:
                warn(f"{exc}; ignored")
                scheme, value = "", ""
        if scheme:
            warn(f"permalink: {value!r} is not an http(s) URL or a path; ignored")
        elif value:
            # Jekyll expands placeholders in a post's own permalink too ("/:year/:title/").
            pattern = value
    elif value is not None:
        warn(f"permalink: expected a string, got {type_name(value)}; ignored")
    parts = _UrlParts(posted.astimezone(config.site.tz), categories, title_slug, stem)
    pairs, tail = _permalink_template(pattern, config.jekyll is not None)
    path = "/" + "".join([text + make(parts) for text, make in pairs]) + tail
    if "//" in path:
        # An empty :categories must not leave "//" behind (Jekyll drops "/:categories").
        path = _SLASHES.sub("/", path)
    return _site_url(config, path)


def build_entry_id(
    data: Mapping[str, Any],
    config: Config,
    posted: datetime,
    relpath: str,
    warn: Callable[[str], None],
) -> str:
    """The front matter's ``id``, else a tag: URI (RFC 4151) of the path and the day."""
    value = data.get("id")
    if value is not None and value != "":
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise InvalidValue(f"id: expected a string, got {type_name(value)}")
        entry_id = strip_forbidden_chars(str(value)).strip()
        if not re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", entry_id):
            warn(f"id: {entry_id!r} is not an absolute URI, which Atom requires (RFC 4287 4.2.6)")
        return entry_id
    # RFC 4151: tag:<authority>,<date>:<specific>. Built from the file's path and the
    # post's day only, so retitling a post or changing the permalink style keeps its id.
    domain = _tag_authority(config.site)
    specific = without_suffix(relpath)
    return f"tag:{domain},{posted.date().isoformat()}:{quote(specific, safe=_URL_PATH_SAFE[:-1])}"


@functools.lru_cache(maxsize=16)
def _tag_authority(site: SiteConfig) -> str:
    """The site's domain, IDNA-encoded when it can be (the codec is slow, and one site's
    domain is the authority of every post's id)."""
    domain = site.domain
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


# Fixed table first: the system's mimetypes database differs between machines, and the
# same post must give the same enclosure everywhere.
_IMAGE_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".jpe": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".svg": "image/svg+xml",
    ".bmp": "image/bmp",
    ".ico": "image/vnd.microsoft.icon",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".heic": "image/heic",
    ".jxl": "image/jxl",
}


def _media_type(url: str) -> str:
    path = unquote(urlsplit(url).path)
    name = path.rpartition("/")[2]
    if name in ("", "."):
        name = PurePosixPath(path).name  # pathlib skips empty and "." parts
    suffix = _suffix(name).lower()
    if suffix in _IMAGE_TYPES:
        return _IMAGE_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(path, strict=False)
    # An enclosure must not claim a type we do not know (RSS 2.0 `type` is required).
    return guessed or "application/octet-stream"


def build_image(value: object, config: Config, warn: Callable[[str], None]) -> Image | None:
    """The lead image from ``image`` (a URL or path, or a mapping with ``path``)."""
    if isinstance(value, Mapping):
        # jekyll-seo-tag: image: {path: ..., height: ..., width: ..., alt: ...}
        value = value.get("path")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        warn(f"image: expected a string or a mapping with 'path', got {type_name(value)}")
        return None
    ref = strip_forbidden_chars(value).strip()
    try:
        scheme = _url_scheme(ref)
    except ValueError as exc:  # "http://[oops/a.jpg": Invalid IPv6 URL
        warn(f"image: {ref!r} is not a valid URL ({exc}); ignored")
        return None
    if scheme in ("http", "https"):
        try:
            url = http_uri(ref, "image")  # an IRI as the URI feeds must carry
        except ConfigError as exc:
            warn(f"{exc}; ignored")
            return None
    elif ref.startswith("//"):
        url = urljoin(config.site.url, ref)
    elif scheme:
        warn(f"image: {ref!r} is not an http(s) URL or a path; ignored")
        return None
    else:
        # Deliberately against the SITE url, not the post's: Jekyll front matter
        # (jekyll-seo-tag, jekyll-feed) treats `image` like `absolute_url`, so
        # "assets/x.jpg" means https://example.org/assets/x.jpg for every post.
        url = _site_url(config, ref)
        length = _asset_size(url, config)
        if (".." in ref or "%" in ref) and _climbs_out(ref):  # "%2e%2e" is ".." to a browser
            # Most likely written relative to the post's file ("../assets/x.jpg"); the URL
            # is what a browser would make of it, and a length is still only ever read
            # from inside assets_dir (_asset_size).
            warn(
                f"image: {ref!r} climbs out of the site with '..' "
                "(an image path is relative to the site's root)"
            )
        elif length is None and config.assets_dir is not None:
            shown = _shown_dir(config.assets_dir, config)
            warn(f"image: {ref!r} is not in assets_dir ({shown}); its enclosure has no length")
        return Image(url=url, media_type=_media_type(url), length=length)
    return Image(url=url, media_type=_media_type(url), length=_asset_size(url, config))


def _climbs_out(ref: str) -> bool:
    """Whether a path relative to the site's root goes above it with ``..`` segments."""
    depth = 0
    for segment in unquote(_QUERY_OR_FRAGMENT.split(ref, 1)[0]).split("/"):
        if segment == "..":
            if depth == 0:
                return True
            depth -= 1
        elif segment not in ("", "."):
            depth += 1
    return False


_QUERY_OR_FRAGMENT = re.compile(r"[?#]")


def _shown_dir(folder: Path, config: Config) -> str:
    """A folder of the config as an editor wrote it: relative to the config's folder."""
    return (
        str(folder.relative_to(config.root)) if folder.is_relative_to(config.root) else str(folder)
    )


def image_changed(post: Post, config: Config) -> bool:
    """Whether the file behind ``post``'s image in ``assets_dir`` is no longer the size
    its enclosure says (replaced, added or removed since the post was read)."""
    if post.image is None or config.assets_dir is None:
        return False
    return _asset_size(post.image.url, config) != post.image.length


def _asset_size(url: str, config: Config) -> int | None:
    """Size of the file behind ``url`` if it lies inside ``assets_dir``; never looks outside."""
    if config.assets_dir is None:
        return None
    site, target = urlsplit(config.site.url), urlsplit(url)
    if (target.scheme, target.netloc) != (site.scheme, site.netloc):
        return None
    if not target.path.startswith(site.path):
        return None
    rel = unquote(target.path[len(site.path) :]).lstrip("/")
    if not rel or "\x00" in rel:
        return None
    # Strings and one stat of each file, where pathlib made Paths and three stats (resolve,
    # is_file, stat), a noticeable part of reading a post with an image.
    assets, _ = _real_path(str(config.assets_dir))
    # "assets/images/x.jpg" usually names assets_dir itself; a bare "images/x.jpg" may too.
    for folder in (os.path.dirname(assets), assets):
        try:
            real, found = _real_path(os.path.join(folder, rel))
        except OSError:
            continue
        if found is not None and stat.S_ISREG(found.st_mode) and _is_within(real, assets):
            return found.st_size
    return None


def _real_path(path: str) -> tuple[str, os.stat_result | None]:
    """``Path(path).resolve()`` as a string, and its stat (None if that failed: a missing
    file, or a symlink loop, which is no file either)."""
    real = os.path.realpath(path)
    try:
        return real, os.stat(real)
    except OSError:
        return real, None


def _is_within(path: str, folder: str) -> bool:
    """``PurePath(path).is_relative_to(folder)`` for normalised absolute paths."""
    return path == folder or path.startswith(folder if folder.endswith("/") else folder + "/")
