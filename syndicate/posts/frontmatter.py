"""Front matter: the YAML between the ``---`` lines, its dates and the Jekyll keys read
from it (title, author, categories and tags, lang, published). Pure (no I/O).

Two fast paths, each beside the plain path it must equal: ``_parse_simple_yaml`` and the
``_YAML_LOADER`` shortcuts beside PyYAML's SafeLoader, ``_parse_common_date`` beside
dateutil. Their oracle tests: tests/test_oracle_posts_yaml.py and
tests/test_oracle_posts_dates.py.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from dateutil import parser as dateparser
from frontmatter.default_handlers import YAMLHandler

from ..config import Author, Config
from ..langtag import normalise_language
from .text import clean_line, markup_in, markup_message, plain_text, strip_forbidden_chars


class InvalidValue(Exception):
    """A front-matter value that makes the post unpublishable; the message names the key."""


_FM_HANDLER = YAMLHandler()
FM_BOUNDARY: re.Pattern[str] = _FM_HANDLER.FM_BOUNDARY or re.compile(r"^-{3,}\s*$", re.M)
_STR_TAG = "tag:yaml.org,2002:str"


class _FlatFrontMatter(yaml.constructor.SafeConstructor):
    """SafeConstructor with a shortcut for flat front matter: the same result, sooner.

    Front matter is nearly always a mapping of names to strings or lists of strings.
    PyYAML builds even those through several Python calls per value (look-up by tag, an
    alias check, a generator per collection): with libyaml composing the nodes, that was
    a large share of the YAML time.
    Strings are taken from their nodes as SafeConstructor takes them, every other scalar
    goes through SafeConstructor itself, and anything else (a nested mapping, a merge key,
    an alias of a list, a key that is not a string) gets the ordinary construction of the
    whole document. tests/test_oracle_posts_yaml.py checks the shortcut against plain
    PyYAML.
    """

    def construct_document(self, node: yaml.Node) -> Any:
        if not self._is_flat(node):
            return super().construct_document(node)
        assert isinstance(node, yaml.MappingNode)
        data: dict[Any, Any] = {}
        lists: list[tuple[list[Any], yaml.SequenceNode]] = []
        try:
            for key_node, value_node in node.value:
                if type(value_node) is yaml.ScalarNode:
                    value: Any = self._construct_scalar(value_node)
                else:
                    value = []
                    lists.append((value, value_node))
                data[key_node.value] = value  # a repeated key: the last one wins, as in PyYAML
            # Items after every top-level value, in PyYAML's order, so that a document
            # with two bad values reports the same one.
            for items, sequence in lists:
                items.extend(self._construct_scalar(item) for item in sequence.value)
        finally:
            self.constructed_objects = {}  # what construct_document leaves behind as well
        return data

    @staticmethod
    def _is_flat(node: yaml.Node) -> bool:
        if type(node) is not yaml.MappingNode or node.tag != "tag:yaml.org,2002:map":
            return False
        lists: set[int] = set()
        for key_node, value_node in node.value:
            if type(key_node) is not yaml.ScalarNode or key_node.tag != _STR_TAG:
                return False  # also a merge key ("<<") or a key that is not a string
            if type(value_node) is yaml.ScalarNode:
                continue
            if (
                type(value_node) is not yaml.SequenceNode
                or value_node.tag != "tag:yaml.org,2002:seq"
                or id(value_node) in lists  # an alias: PyYAML gives both keys one list
                or any(type(item) is not yaml.ScalarNode for item in value_node.value)
            ):
                return False
            lists.add(id(value_node))
        return True

    def _construct_scalar(self, node: yaml.ScalarNode) -> Any:
        # SafeConstructor.construct_yaml_str returns the node's value as it is.
        return node.value if node.tag == _STR_TAG else self.construct_object(node)


# Resolver.resolve(kind, value, implicit): the tag of a node without an explicit one.
_resolve_tag = functools.lru_cache(maxsize=1024)(yaml.resolver.Resolver().resolve)


class _ResolverHooks:
    """The resolver methods the composer calls for every node, answering as before, sooner.

    libyaml's composer (like composer.py) calls three Python methods per node, a good
    part of the time to read a typical front matter. ``descend_resolver`` and
    ``ascend_resolver`` only serve path resolvers (``yaml.add_path_resolver``), which this
    loader never has: any C function that ignores its arguments does as well ("is" and
    ``tuple()`` here). ``resolve`` depends only on its arguments once there are no path
    resolvers, and front matter repeats its keys in every post: a cache answers those in C.
    tests/test_oracle_posts_yaml.py checks the loader against plain PyYAML.
    """

    descend_resolver = staticmethod(operator.is_)
    ascend_resolver = staticmethod(tuple)
    resolve = staticmethod(_resolve_tag)


# libyaml parses front matter several times faster; 10k posts are read on every scan.
_YAML_LOADER: Any = type(
    "_FrontMatterLoader",
    (_FlatFrontMatter, _ResolverHooks, getattr(yaml, "CSafeLoader", yaml.SafeLoader)),
    {},
)


def type_name(value: object) -> str:
    """How an error names the YAML type of ``value`` ("null", "mapping", "int")."""
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "mapping"
    return type(value).__name__


def front_matter_end(text: str, start: re.Match[str]) -> re.Match[str]:
    """The closing ``---`` line of the front matter that ``start`` opens."""
    end = FM_BOUNDARY.search(text, start.end())
    if end is None:
        raise InvalidValue("front matter starts with '---' but has no closing '---' line")
    return end


# Typical front matter is lines of a key, then a double-quoted string without escapes, a
# plain scalar, or a flow list of such strings and scalars: all that most generators and
# editors write. _parse_simple_yaml reads those lines without PyYAML, and only those:
#
# - Every line is printable (str.isprintable(): no controls, tabs, line breaks, BOM,
#   surrogates or noncharacters), so libyaml would take each character as it is.
# - A plain scalar starts with a letter, a digit, a character above ASCII or one of
#   _ . / + (never with an indicator); holds none of " # $ & * ! | > [ ] { } < @ \ ` ^
#   and, in a list, no other ASCII punctuation but _ . / + - either. _simple_scalar
#   turns down a run of spaces, a trailing space and a ":" that would end the scalar.
_YAML_FIRST = r"""[^ !"#$%&'()*,:;<=>?@\[\\\]^`{|}~-]"""
_YAML_PLAIN = _YAML_FIRST + r"""[^"#$&*!|>\[\]{}<@\\`^]*"""
_YAML_FLOW_PLAIN = _YAML_FIRST + r"""[^!"#$%&'()*,:;<=>?@\[\\\]^`{|}~]*"""
_YAML_ITEM = r'"[^"\\]*"|' + _YAML_FLOW_PLAIN
_YAML_SIMPLE_LINE = re.compile(
    r"([A-Za-z_][A-Za-z0-9_-]*):(?: +(?:"  # the key, then one of:
    r'"([^"\\]*)"'  # a double-quoted string,
    rf"|\[((?:(?:{_YAML_ITEM})(?:, *(?:{_YAML_ITEM}))*)?)\]"  # a flow list's items,
    rf"|({_YAML_PLAIN})"  # a plain scalar,
    r"))?"  # or nothing (null).
)
# The items of a list that _YAML_SIMPLE_LINE matched: (quoted, plain).
_YAML_ITEMS = re.compile(r'"([^"\\]*)"|(' + _YAML_FLOW_PLAIN + ")")

# What SafeConstructor builds from a plain scalar's text alone, by the tag it resolves to.
_SAFE_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_PLAIN_CONSTRUCTORS = {
    tag: _SAFE_CONSTRUCTOR.yaml_constructors[tag]
    for tag in map("tag:yaml.org,2002:{}".format, ("bool", "int", "float", "null", "timestamp"))
}

_Scalar = tuple[str, str]  # (tag, text)


def _parse_simple_yaml(source: str) -> dict[str, Any] | None:
    """Front matter made only of _YAML_SIMPLE_LINE lines (and empty ones) as
    _YAML_LOADER reads it, or None for anything else.

    Even with libyaml, PyYAML spends most of its time on such a document in Python (a
    node, a resolver call and a constructor call per value): this stays in C regular
    expressions for all but the values.
    Plain scalars are resolved by PyYAML's resolver and built by SafeConstructor, in
    _FlatFrontMatter's order (top-level values, then list items), so that of two bad
    values (date: 2025-02-30) the same one is reported; and nothing is built before every
    line is known to be simple, as PyYAML reports a syntax error before any bad value.
    tests/test_oracle_posts_yaml.py checks this against PyYAML.
    """
    entries: list[tuple[str, _Scalar | list[_Scalar]]] = []
    try:
        for line in source.split("\n"):
            if not line:
                continue
            match = _YAML_SIMPLE_LINE.fullmatch(line) if line.isprintable() else None
            if match is None:
                return None
            key, quoted, items, plain = match.groups()
            if _resolve_tag(yaml.ScalarNode, key, (True, False)) != _STR_TAG:
                return None  # "yes", "null", ...: a key that is not a string
            value: _Scalar | list[_Scalar]
            if quoted is not None:
                value = (_STR_TAG, quoted)
            elif items is not None:
                value = [_simple_scalar(*item.groups()) for item in _YAML_ITEMS.finditer(items)]
            else:
                value = _simple_scalar(None, plain or "")  # "key:" alone: empty, so null
            entries.append((key, value))
    except _NotSimple:
        return None
    if not entries:
        return None
    data: dict[str, Any] = {}
    lists: list[tuple[list[Any], list[_Scalar]]] = []
    for key, value in entries:
        if isinstance(value, list):
            built: list[Any] = []
            lists.append((built, value))
            data[key] = built
        else:
            data[key] = _build_scalar(value)  # a repeated key: the last one wins, as in PyYAML
    for built, scalars in lists:
        built.extend([_build_scalar(scalar) for scalar in scalars])
    return data


class _NotSimple(Exception):
    """A scalar that _parse_simple_yaml leaves to PyYAML."""


def _simple_scalar(quoted: str | None, plain: str) -> _Scalar:
    """(tag, text) of a scalar on a simple line. _NotSimple if it is not one after all, or
    if SafeConstructor needs more than its text ("=" and "<<" have tags of their own)."""
    if quoted is not None:
        return _STR_TAG, quoted
    if "  " in plain or plain.endswith((" ", ":")) or ": " in plain:
        raise _NotSimple(plain)
    tag = _resolve_tag(yaml.ScalarNode, plain, (True, False))
    if tag != _STR_TAG and tag not in _PLAIN_CONSTRUCTORS:
        raise _NotSimple(plain)
    return tag, plain


def _build_scalar(scalar: _Scalar) -> Any:
    tag, text = scalar
    if tag == _STR_TAG:
        return text
    return _PLAIN_CONSTRUCTORS[tag](_SAFE_CONSTRUCTOR, yaml.ScalarNode(tag, text))


def parse_yaml(source: str, first_line: int) -> Mapping[str, Any]:
    """The front matter ``source`` (its first line is line ``first_line`` of the file) as
    a mapping; ``InvalidValue`` naming the line for YAML that cannot be read."""
    try:
        data = _parse_simple_yaml(source)
        if data is None:
            data = _FM_HANDLER.load(source, Loader=_YAML_LOADER)
    except yaml.MarkedYAMLError as exc:
        # libyaml notices some mistakes a line late ("did not find expected ']'" on the line
        # after an unclosed list), so name where the construct started as well.
        parts = []
        for text, mark in ((exc.context, exc.context_mark), (exc.problem, exc.problem_mark)):
            if text:
                where = (
                    f" (line {first_line + mark.line}, column {mark.column + 1})" if mark else ""
                )
                parts.append(f"{text}{where}")
        raise InvalidValue(f"invalid YAML front matter: {': '.join(parts) or exc}") from None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        # PyYAML raises ValueError for impossible timestamps such as 2025-02-30.
        raise InvalidValue(f"invalid YAML front matter: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidValue(f"front matter: expected a mapping, got {type_name(data)}")
    return {str(key): value for key, value in data.items()}


def read_title(value: object, name_slug: str, warn: Callable[[str], None]) -> str:
    """The ``title`` as plain text, else one made from the file name (with a warning)."""
    if value is not None and not isinstance(value, str):
        raise InvalidValue(f"title: expected a string, got {type_name(value)}")
    title = plain_text(value) if value else ""
    if not title:
        # Jekyll's Utils.titleize_slug: "my-first-post" -> "My First Post".
        title = " ".join(word.capitalize() for word in name_slug.split("-") if word)
        title = title or "Untitled"
        warn(f"title: missing; using {title!r} from the file name")
    return title


_DATE_DEFAULTS = (datetime(2000, 1, 1), datetime(2001, 2, 2))


def to_utc(value: object, key: str, tz: tzinfo) -> datetime:
    """A front-matter date as aware UTC; naive values are in the site's time zone."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, str):
        moment = _parse_date_string(value, key)
    else:
        raise InvalidValue(f"{key}: expected a date, got {type_name(value)}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=tz)
    try:
        moment.astimezone(tz)  # the permalink and the feeds show it in the site's zone
        return moment.astimezone(UTC)
    except OverflowError:
        # 9999-12-31 23:59 -1200 exists, but not in UTC.
        raise InvalidValue(f"{key}: {moment.isoformat(' ')} is out of the range of dates") from None


def _parse_date_string(value: str, key: str) -> datetime:
    text = value.strip()
    return _parse_common_date(text) or _parse_any_date(text, value, key)


# The forms Jekyll sites write, most of all the one YAML does not already turn into a
# timestamp ("2025-06-19 10:00:00 +0100": PyYAML wants a colon in the offset). dateutil
# is slow at such a string (it was a large part of the time to read a post), a regular
# expression is not. ASCII digits only, a year from 1000, hours below 24 and offsets
# below 24:00: anything else (and an impossible date such as 2025-02-30) goes to
# dateutil, so the result and the error message are dateutil's.
# tests/test_oracle_posts_dates.py checks that both paths agree.
_COMMON_DATE = re.compile(
    r"([1-9]\d{3})-(\d{2})-(\d{2})"
    r"(?:[T ]([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d)(?:\.(\d{1,6}))?)?"
    r" ?(?:(Z)|([+-])([01]\d|2[0-3])(?::?([0-5]\d))?)?)?",
    re.ASCII,
)


def _parse_common_date(text: str) -> datetime | None:
    """``YYYY-MM-DD[( |T)HH:MM[:SS[.ffffff]][ ](Z|+HH[[:]MM])]``, or None for any other form."""
    match = _COMMON_DATE.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    zone: tzinfo | None = None
    if zulu:
        zone = UTC
    elif sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m or 0))
        zone = timezone(-offset if sign == "-" else offset)
    try:
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int(fraction.ljust(6, "0")) if fraction else 0,
            tzinfo=zone,
        )
    except ValueError:
        return None  # e.g. 2025-02-30: let dateutil word the error


def _parse_any_date(text: str, value: str, key: str) -> datetime:
    """Parse ``text`` (``value`` stripped) with dateutil: ISO 8601 first, then free-form."""
    if not any(c.isdigit() for c in text):
        raise InvalidValue(f"{key}: cannot parse {value!r}")
    try:
        return dateparser.isoparse(text)
    except (ValueError, OverflowError):
        pass

    def zone(name: str | None, offset: int | None) -> tzinfo | None:
        # A callable makes dateutil ask us about every zone instead of guessing from the
        # machine's own zone names (and warning about the rest).
        if offset is not None:
            return timezone(timedelta(seconds=offset))
        if not name:
            return None
        if name.upper() in ("UTC", "GMT", "Z", "UT"):
            return UTC
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidValue(f"{key}: unknown time zone {name!r} in {value!r}") from None

    # Missing parts are filled from `default`: two defaults that differ in year, month and
    # day tell us whether the string named a full date, so "June 19" or "10:00" is an error,
    # not a guess. The second parse is needed only when the first result shows a default
    # value: a part that differs from the default must have come from the string (a weekday
    # moves a missing day forward from the 1st or the 2nd to the same date, so it cannot
    # hide one either).
    first_default, second_default = _DATE_DEFAULTS
    try:
        first = second = dateparser.parse(text, default=first_default, tzinfos=zone)
        if (
            first.year == first_default.year
            or first.month == first_default.month
            or first.day == first_default.day
        ):
            second = dateparser.parse(text, default=second_default, tzinfos=zone)
    except (ValueError, OverflowError):
        raise InvalidValue(f"{key}: cannot parse {value!r}") from None
    if first.date() != second.date():
        raise InvalidValue(f"{key}: {value!r} is not a full date (year, month and day)")
    return first


def read_author(value: object, config: Config) -> Author | None:
    """The ``author``: a name (looked up in the config's ``authors``) or a mapping."""
    if isinstance(value, list) and value:
        # jekyll-seo-tag credits the first of several authors.
        value = value[0]
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        name = plain_text(value)
        return config.authors.get(value.strip()) or Author(name=name)
    if isinstance(value, Mapping):
        fields: dict[str, str | None] = {}
        for key in ("name", "email", "uri"):
            item = value.get(key)
            if item is not None and not isinstance(item, str):
                raise InvalidValue(f"author.{key}: expected a string, got {type_name(item)}")
            fields[key] = strip_forbidden_chars(item).strip() if item else None
        if not fields["name"]:
            raise InvalidValue("author: a mapping needs a 'name'")
        return Author(name=plain_text(fields["name"]), email=fields["email"], uri=fields["uri"])
    raise InvalidValue(f"author: expected a string or a mapping, got {type_name(value)}")


def read_names(
    data: Mapping[str, Any], singular: str, plural: str, warn: Callable[[str], None]
) -> tuple[str, ...]:
    """Categories or tags with Jekyll's ``pluralized_array_from_hash`` semantics."""
    # The singular key wins and a string there is one name; a string under the plural key
    # is split on whitespace ("categories: news politics" is two categories).
    key = singular if data.get(singular) is not None else plural
    value = data.get(key)
    items: Iterable[object]
    if value is None:
        return ()
    if isinstance(value, str):
        items = [value] if key == singular else value.split()
    elif isinstance(value, list):
        items = value
    else:
        items = [value]
    names: dict[str, None] = {}
    for item in items:
        if isinstance(item, bool):
            item = "true" if item else "false"  # YAML's spelling, not Python's
        if item is None:
            continue
        if isinstance(item, Mapping | list):
            warn(f"{key}: ignored a {type_name(item)} (expected strings)")
            continue
        name = clean_line(str(item))
        if name:
            names.setdefault(name, None)  # dict keeps the first occurrence's position
    return tuple(names)


def warn_markup_names(
    title: str,
    author: Author | None,
    categories: tuple[str, ...],
    tags: tuple[str, ...],
    warn: Callable[[str], None],
) -> None:
    """Warn of names that look like HTML: nothing can write them so that every reader and
    validator takes them as the plain text they are."""
    named = [("title", title), ("author", author.name if author else "")]
    named += [("categories", name) for name in categories] + [("tags", name) for name in tags]
    for key, name in named:
        markup = markup_in(name) if name else None
        if markup is not None:
            warn(markup_message(key, name, markup))


def optional_str(
    data: Mapping[str, Any], key: str, warn: Callable[[str], None], *, strip: bool = True
) -> str | None:
    """A string-valued key (a number as its text); None if absent, blank or another type."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        warn(f"{key}: expected a string, got {type_name(value)}; ignored")
        return None
    text = strip_forbidden_chars(str(value))
    if strip:
        text = text.strip()
    return text if text.strip() else None


def read_lang(data: Mapping[str, Any], warn: Callable[[str], None]) -> str | None:
    """The post's ``lang`` as a BCP 47 tag (``pt_BR`` becomes ``pt-BR``); a value that
    is not one is left out with a warning: ``xml:lang="pt BR"`` makes the whole feed
    invalid (RFC 4287 2, XML 1.0 2.12), while a post without it has the site's."""
    value = optional_str(data, "lang", warn)
    if value is None:
        return None
    tag = normalise_language(value)
    if tag is None:
        warn(
            f"lang: {value!r} is not a BCP 47 language tag (e.g. en or pt-BR); published without it"
        )
    return tag


def read_flag(data: Mapping[str, Any], key: str, warn: Callable[[str], None]) -> bool | None:
    """A true/false key in YAML's spellings of either; None when absent or not one (with
    a warning naming the key)."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "yes", "on", "1"):
            value = True
        elif lowered in ("false", "no", "off", "0"):
            value = False
    if not isinstance(value, bool):
        warn(f"{key}: expected true or false, got {type_name(value)}; ignored")
        return None
    return value


def read_published(data: Mapping[str, Any], warn: Callable[[str], None]) -> bool:
    """False for ``published: false`` or ``draft: true`` (YAML's spellings of either)."""
    for key, hidden_when in (("published", False), ("draft", True)):
        if read_flag(data, key, warn) is hidden_when:
            return False
    return True
