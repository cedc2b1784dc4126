"""Rendering: a post's Markdown (CommonMark through cmark-gfm, called with ctypes) to HTML,
sanitised for feed readers with nh3, every URL absolute, and its excerpt. Pure: a post kept
without its body is rendered from the body handed in (see ``post``).
"""

from __future__ import annotations

import ctypes
import functools
import html
import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import nh3
from cmarkgfm import _cmark
from cmarkgfm.cmark import Options as CmarkOptions
from lxml import etree
from lxml import html as lxml_html

from ..config import Config
from .post import Post, Rendered, the_body
from .text import is_printable, strip_forbidden_chars

# CommonMark through cmark-gfm, the reference C implementation of the spec (GitHub's
# fork, as PyPI renders READMEs with): many times faster than markdown-it-py on our
# posts and the same HTML. Raw HTML passes ("unsafe") because nh3 sanitises after; of
# GitHub's extensions only tables and strikethrough (~~two tildes~~: "H~2~O" stays as
# written), no autolinks or tag filter.
_CMARK_OPTIONS = CmarkOptions.CMARK_OPT_UNSAFE | CmarkOptions.CMARK_OPT_STRIKETHROUGH_DOUBLE_TILDE
_CMARK_EXTENSIONS = ("table", "strikethrough")
# cmark-gfm aligns table cells with the align attribute, obsolete in HTML5; readers and
# validators expect the CSS form markdown-it wrote before.
_CELL_ALIGN = re.compile(r'<(t[hd]) align="(left|center|right)">')


def markdown_to_html(source: str) -> str:
    """CommonMark (plus tables and strikethrough) to HTML, not yet sanitised."""
    # cmarkgfm.markdown_to_html_with_extensions, step by step, freeing what it leaks:
    # the document tree and the HTML of every post rendered.
    lib, ffi = _cmark.lib, _cmark.ffi
    parser = lib.cmark_parser_new(_CMARK_OPTIONS)
    try:
        for extension in _cmark_extensions():
            lib.cmark_parser_attach_syntax_extension(parser, extension)
        data = source.encode("utf-8")
        lib.cmark_parser_feed(parser, data, len(data))
        root = lib.cmark_parser_finish(parser)
        try:
            if lib.cmark_node_get_type(root) == lib.CMARK_NODE_NONE:
                raise ValueError("Error parsing markdown!")
            extensions = lib.cmark_parser_get_syntax_extensions(parser)
            raw = lib.cmark_render_html(root, _CMARK_OPTIONS, extensions)
            try:
                html = bytes(ffi.string(raw)).decode("utf-8")
            finally:
                _CMARK_FREE(int(ffi.cast("uintptr_t", raw)))
        finally:
            _CMARK_LIB.cmark_node_free(int(ffi.cast("uintptr_t", root)))
    finally:
        lib.cmark_parser_free(parser)
    return _CELL_ALIGN.sub(r'<\1 style="text-align:\2">', html)


class _CmarkMem(ctypes.Structure):
    """cmark's ``cmark_mem``: the allocator whose ``free`` releases what it returns."""

    _fields_ = [
        ("calloc", ctypes.c_void_p),
        ("realloc", ctypes.c_void_p),
        ("free", ctypes.CFUNCTYPE(None, ctypes.c_void_p)),
    ]


# What cmarkgfm's bindings leave out (cmark_node_free, the allocator), from the very
# library they loaded: dlopen gives the same one, with the same extension registry.
_CMARK_LIB = ctypes.CDLL(_cmark.__file__)
_CMARK_LIB.cmark_node_free.argtypes = [ctypes.c_void_p]
_CMARK_LIB.cmark_node_free.restype = None
_CMARK_LIB.cmark_get_default_mem_allocator.restype = ctypes.POINTER(_CmarkMem)
_CMARK_FREE = _CMARK_LIB.cmark_get_default_mem_allocator().contents.free


@functools.cache
def _cmark_extensions() -> tuple[Any, ...]:
    _cmark.lib.cmark_gfm_core_extensions_ensure_registered()
    found = tuple(_cmark.lib.cmark_find_syntax_extension(n.encode()) for n in _CMARK_EXTENSIONS)
    if any(extension == _cmark.ffi.NULL for extension in found):
        raise ValueError(f"cmark-gfm lacks one of the extensions {_CMARK_EXTENSIONS}")
    return found


# What feed readers get. Every tag here is in the W3C feed validator's
# HTMLValidator.acceptable_elements (feedvalidator/validators.py), so nothing left by the
# sanitiser is reported as a security risk; form controls are dropped even though the
# validator tolerates them, because a reader cannot submit them anyway.
ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "acronym", "address", "article", "aside", "audio", "b", "bdi",
        "blockquote", "br", "caption", "center", "cite", "code", "col", "colgroup", "data",
        "dd", "del", "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure",
        "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "i", "img",
        "ins", "kbd", "li", "main", "mark", "nav", "ol", "p", "picture", "pre", "q", "rp",
        "rt", "ruby", "s", "samp", "section", "small", "source", "span", "strike", "strong",
        "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "time",
        "tr", "track", "tt", "u", "ul", "var", "video", "wbr",
    }
)  # fmt: skip
# Dropped together with their content: code, styles, and text that only makes sense
# inside a control or a script-less fallback the sanitiser cannot see into.
_DROP_WITH_CONTENT = frozenset(
    {"script", "style", "template", "noscript", "iframe", "textarea", "select", "svg", "xmp",
     "noembed", "noframes", "title"}
)  # fmt: skip
_TABLE_CELL = {"colspan", "rowspan", "headers", "scope", "align", "style"}
ALLOWED_ATTRIBUTES: Mapping[str, frozenset[str]] = {
    "*": frozenset({"title", "lang", "dir"}),
    "a": frozenset({"href", "hreflang"}),
    "img": frozenset({"src", "srcset", "sizes", "alt", "width", "height"}),
    "source": frozenset({"src", "srcset", "sizes", "type", "media"}),
    "video": frozenset(
        {"src", "poster", "controls", "width", "height", "loop", "muted", "preload"}
    ),
    "audio": frozenset({"src", "controls", "loop", "muted", "preload"}),
    "track": frozenset({"src", "kind", "srclang", "label", "default"}),
    "blockquote": frozenset({"cite"}),
    "q": frozenset({"cite"}),
    "del": frozenset({"cite", "datetime"}),
    "ins": frozenset({"cite", "datetime"}),
    "time": frozenset({"datetime"}),
    "data": frozenset({"value"}),
    "ol": frozenset({"start", "reversed", "type"}),
    "li": frozenset({"value"}),
    "details": frozenset({"open"}),
    "col": frozenset({"span"}),
    "colgroup": frozenset({"span"}),
    "th": frozenset(_TABLE_CELL),
    "td": frozenset(_TABLE_CELL),
    "code": frozenset({"class"}),
    "pre": frozenset({"class"}),
}
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel", "ftp"})

_TAG_NAME = re.compile(r"<([A-Za-z][A-Za-z0-9-]*)")


def _has_other_tag(fragment: str) -> bool:
    """Whether a start tag's name (any case) is not in ALLOWED_TAGS. The names looked
    up by ``issuperset`` in C: a generator over them cost a tenth of cleaning the
    fragment, and one search with every allowed name in a lookahead even more."""
    return not ALLOWED_TAGS.issuperset(map(str.lower, _TAG_NAME.findall(fragment)))


_LANGUAGE_CLASS = re.compile(r"^lang(?:uage)?-[\w+#.-]+$")
_TEXT_ALIGN = re.compile(r"text-align\s*:\s*(left|right|center|justify)\b", re.I)


# A fragment needs the post's URL only if an attribute in it is resolved against that URL:
# srcset and cite always (_filter_attribute), href, src and poster (ammonia's url_relative)
# unless the value starts with a URL scheme. Loose on purpose: "data-src=", "x = 1" in a
# code block (HTML allows spaces around "=", so any "=" after a space counts) or prose that
# reads "href=x" match too, which only costs building a sanitiser for that post. The
# pattern starts with the literal "=" so that `re` can skip to each one: written as
# "(href|src|...)=" it tried every position, and was far slower.
_NEEDS_BASE = re.compile(
    r"=(?:(?<=\s=)|(?<=srcset=)|(?<=cite=)"
    r"|(?:(?<=href=)|(?<=src=)|(?<=poster=))\s*+(?![\"']?[a-z][a-z0-9+.-]*:))",
    re.I,
)


def sanitize_html(fragment: str, base_url: str) -> str:
    """Clean an HTML fragment for feed readers and make every URL in it absolute."""
    # Building an nh3 sanitiser costs as much as cleaning a whole post with it, so most
    # fragments (every URL already absolute) share one that never sees a relative URL.
    cleaner = _cleaner(base_url if _NEEDS_BASE.search(fragment) else None)
    cleaned = cleaner.clean(fragment)
    if _has_other_tag(fragment):
        # Unwrapping a removed element (object, button, ...) can leave nesting that an HTML
        # parser would not build ("<a><a>", "<p><ul>"); the validator reports that as
        # "Invalid HTML". Parsing the output again settles it, usually in one more pass.
        for _ in range(3):
            again = cleaner.clean(cleaned)
            if again == cleaned:
                break
            cleaned = again
    # Character references such as "&#0;" or "&#x81;" decode to characters feeds cannot carry.
    return strip_forbidden_chars(cleaned)


@functools.lru_cache(maxsize=16)
def _cleaner(base_url: str | None) -> nh3.Cleaner:
    """The sanitiser for one post's URL, or (None) for fragments without relative URLs."""
    return nh3.Cleaner(
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(_DROP_WITH_CONTENT),
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=functools.partial(_filter_attribute, base_url or ""),
        strip_comments=True,
        link_rel=None,
        url_schemes=set(URL_SCHEMES),
        # Readers resolve relative URLs badly (or against the feed's URL), so resolve
        # against the post's own URL here; "#note" becomes "<post url>#note". The shared
        # sanitiser is never given a relative URL (_NEEDS_BASE); if it were, it drops it.
        url_relative=("rewrite_with_base", base_url) if base_url else "deny",
    )


def _filter_attribute(base_url: str, tag: str, attr: str, value: str) -> str | None:
    # nh3 resolves href/src/poster itself (url_relative above) and reports exceptions
    # here only through sys.unraisablehook, so this must not raise.
    try:
        if attr == "srcset":
            candidates = []
            for part in value.split(","):
                ref, _, descriptor = part.strip().partition(" ")
                url = _resolve(base_url, ref) if ref else None
                if url:
                    candidates.append(f"{url} {descriptor.strip()}".strip())
            return ", ".join(candidates) or None
        if attr == "cite":
            return _resolve(base_url, value)
        if attr == "class":
            # Keep only highlight.js/Prism language hints ("language-python").
            kept = [c for c in value.split() if _LANGUAGE_CLASS.match(c)]
            return " ".join(kept) or None
        if attr == "style":
            # Markdown table alignment; the only style worth keeping, and one the
            # validator's checkStyle accepts.
            align = _TEXT_ALIGN.search(value)
            return f"text-align:{align.group(1).lower()}" if align else None
        return value
    except Exception:  # pragma: no cover - defensive, see comment above
        return None


def _resolve(base_url: str, ref: str) -> str | None:
    url = urljoin(base_url, ref.strip())
    return url if urlsplit(url).scheme.lower() in URL_SCHEMES else None


def _to_html(source: str, is_html: bool) -> str:
    return source if is_html else markdown_to_html(source)


# An excerpt written as one line of plain words, as most front-matter excerpts are: one
# paragraph in Markdown, with nothing that Markdown or HTML would read as markup, nor that
# cmark or the sanitiser would escape (& < > " and the no-break space) or strip (spaces
# at either end). Its HTML is the text in <p>, with no need to render and sanitise it
# (a good part of rendering a post with an excerpt). Not at the start: what
# opens a heading, a quote, a list, a rule or an indented code block (also "1." / "1)").
# tests/test_oracle_posts_render.py compares it with the whole path on any text it takes.
_PLAIN_PARAGRAPH = re.compile(
    r"(?![ #>+*=-]|\d{1,9}[.)](?: |$))"  # no block starts here
    r'[^\\`*_\[\]<>&"!~|\u00a0]*'  # no inline markup, nothing escaped
    r"(?<! )"  # no space at the end
)


def _excerpt_html(excerpt: str, is_html: bool, base_url: str) -> str:
    """A front-matter excerpt's HTML, as clean and absolute as the post's."""
    if not is_html and is_printable(excerpt) and _PLAIN_PARAGRAPH.fullmatch(excerpt):
        return f"<p>{excerpt}</p>"
    return sanitize_html(_to_html(excerpt, is_html), base_url).strip()


# What lxml.html.fragments_fromstring takes for a whole document, not a fragment.
_FULL_HTML = re.compile(r"^\s*<(?:html|!doctype)", re.I)
# A "<" inside a quoted attribute value, where it starts no tag (nh3 escapes it there and
# in text, but a "</p>" in any HTML is an end tag only outside attribute values).
_LT_IN_ATTRIBUTE = re.compile(r'="[^"]*<')
_PARSERS = threading.local()  # an lxml parser serves one thread at a time


def _body_elements(content_html: str) -> list[etree._Element]:
    """The top-level elements of an HTML fragment, as ``lxml.html.fragments_fromstring``
    parses it, with a plain ``etree.HTMLParser``: lxml.html's parser looks up a Python
    class for every element it hands out, a good part of the cost of parsing a post."""
    parser = getattr(_PARSERS, "html", None)
    if parser is None:
        parser = _PARSERS.html = etree.HTMLParser()
    root = etree.fromstring(f"<html><body>{content_html}</body></html>", parser)
    if root is None:
        raise etree.ParserError("Document is empty")
    return [child for body in root if body.tag == "body" for child in body]


def _first_paragraph(content_html: str) -> str:
    """The first top-level paragraph of sanitised HTML (any paragraph, else everything)."""
    if not content_html.strip():
        return ""
    whole_document = _FULL_HTML.match(content_html) is not None
    if not whole_document:
        # Usually the post opens with that paragraph: parse only up to its end tag. A
        # paragraph top-level there is the first top-level one of the whole post, and
        # the same (its content ends before that prefix does), unless a "<" in an
        # attribute value made that "</p>" no end tag.
        end = content_html.find("</p>")
        if end != -1:
            head = content_html[: end + len("</p>")]
            if _LT_IN_ATTRIBUTE.search(head) is None:
                found = next((el for el in _body_elements(head) if el.tag == "p"), None)
                if found is not None:
                    return _html_string(found)
    try:
        if whole_document:
            elements = [
                f for f in lxml_html.fragments_fromstring(content_html) if not isinstance(f, str)
            ]
        else:
            elements = _body_elements(content_html)
    except etree.ParserError:
        return content_html
    paragraph = next((el for el in elements if el.tag == "p"), None)
    if paragraph is None:
        paragraph = next((p for el in elements for p in el.iter("p")), None)
    if paragraph is None:
        return content_html
    return _html_string(paragraph)


def _html_string(element: etree._Element) -> str:
    return str(etree.tostring(element, method="html", encoding="unicode", with_tail=False)).strip()


def render_post(post: Post, config: Config, body: str | None = None) -> Rendered:
    """Render a post's body and excerpt to clean HTML with absolute URLs. Pure.
    ``body``: the post's body, handed in for a post kept without it (``Post.body`` None)."""
    body = the_body(post, body)
    content = sanitize_html(_to_html(body, post.is_html), post.url).strip()
    separator = config.excerpt_separator
    if post.excerpt is not None and post.excerpt.strip():
        summary = _excerpt_html(post.excerpt, post.is_html, post.url)
    elif separator and separator in body:
        before = body.split(separator, 1)[0]
        summary = sanitize_html(_to_html(before, post.is_html), post.url).strip()
    else:
        summary = _first_paragraph(content)
    rendered = Rendered(content_html=content, summary_html=summary)
    if post.excerpt_only or not config.feeds.renders_content():
        # jekyll-feed's excerpt_only: readers get the summary and the link, not the post.
        # No feed of the config carries content either: dropped here, once.
        return summary_only(post, rendered)
    if not content and not summary and post.title:
        return summary_only(post, rendered)
    return rendered


def summary_only(post: Post, rendered: Rendered) -> Rendered:
    """``rendered`` without the post's content: its summary and (in the feeds) its link,
    as a feed of ``feeds.content: summary`` carries it. Pure."""
    summary = rendered.summary_html
    if not summary and post.title:
        # A post with no body is its title and link. Atom needs a text for an entry with
        # no content (the W3C validator: "Missing textual content"), and an empty one is
        # "blank": the title is what a reader would see for it anyway.
        summary = html.escape(post.title, quote=False)
    return Rendered(content_html="", summary_html=summary)
