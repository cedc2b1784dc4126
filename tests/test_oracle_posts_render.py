"""Oracles of rendering: the summary found by parsing up to the first "</p>" is the one a
whole parse finds, and a plain excerpt's shortcut gives what cmark and the sanitiser give."""

from __future__ import annotations

import re
from pathlib import Path

import lxml.html
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syndicate.config import Config
from syndicate.posts import load_post, render, render_post, sanitize_html
from syndicate.posts.render import _PLAIN_PARAGRAPH, _excerpt_html, _first_paragraph, _to_html


def _first_paragraph_by_whole_parse(content_html: str) -> str:
    """The summary as defined: the first top-level <p> of the whole post, else the first
    <p> anywhere, else everything (lxml.html, the whole fragment parsed)."""
    elements = [e for e in lxml.html.fragments_fromstring(content_html) if not isinstance(e, str)]
    found = next((e for e in elements if e.tag == "p"), None)
    if found is None:
        found = next((p for e in elements for p in e.iter("p")), None)
    if found is None:
        return content_html
    return str(lxml.html.tostring(found, encoding="unicode", with_tail=False)).strip()


_SUMMARY_BODIES = [
    "First para.\n\nSecond para.",
    "# Heading\n\nThe *first* paragraph&nbsp;with a non-breaking space.\n\nMore.",
    "> a quote\n>\n> in two paragraphs\n\nThe first top-level one.",
    "- a list\n\n  with a paragraph in an item\n\nAfter the list.",
    '<a title="</p><p>not a paragraph">link</a> opening text\n\nSecond.',
    'Text <img alt="x</p>y" src="https://example.org/a.png"> after.\n\nSecond.',
    "| a | b |\n|---|---|\n| 1 | 2 |\n\nAfter the table.",
    "<div><p>inside a div</p></div>\n\nOutside.",
    "Leading text\n<p>raw paragraph</p>",
    "> only a quote",
    "```\n</p> in code\n```\n\nAfter code.",
    "Just `</p>` in code, then <b>bold</b>.",
]


@pytest.mark.parametrize("body", _SUMMARY_BODIES)
def test_summary_is_the_first_top_level_paragraph(
    tmp_path: Path, config: Config, body: str
) -> None:
    # Rendering parses only up to the first "</p>" when it can; what it picks must be
    # what parsing the whole post picks, to the byte.
    path = tmp_path / "p.md"
    path.write_text(f"---\ntitle: T\ndate: 2025-01-01\n---\n{body}\n", encoding="utf-8")
    post, _ = load_post(path, config)
    assert post is not None
    rendered = render_post(post, config)
    assert rendered.summary_html == _first_paragraph_by_whole_parse(rendered.content_html)
    assert rendered.summary_html.startswith("<p>")


_BLOCKS = st.sampled_from(
    [
        "Plain paragraph.",
        "> quoted paragraph",
        "- item one\n- item two",
        "# A heading",
        '<a title="a </p> b">x</a> text',
        "<div>raw <p>html</p></div>",
        "Text with &amp; and &nbsp; and <em>emphasis</em>.",
        "```\n<p>code</p>\n```",
        "| h |\n|---|\n| c |",
        "<table><tr><td>cell</td></tr></table>",
        "***",
    ]
)


@given(st.lists(_BLOCKS, min_size=1, max_size=5))
def test_summary_matches_a_whole_parse_for_any_post(
    tmp_path_factory: pytest.TempPathFactory, blocks: list[str]
) -> None:
    from syndicate.config import load_config

    folder = tmp_path_factory.mktemp("summary")
    (folder / "posts").mkdir()
    (folder / "config.yaml").write_text(
        "site: {title: T, url: 'https://example.org/'}\nposts_dir: posts\n", encoding="utf-8"
    )
    config = load_config(folder / "config.yaml")
    path = folder / "posts" / "p.md"
    path.write_text("---\ntitle: T\ndate: 2025-01-01\n---\n" + "\n\n".join(blocks) + "\n")
    post, _ = load_post(path, config)
    assert post is not None
    rendered = render_post(post, config)
    if rendered.content_html.strip():
        assert rendered.summary_html == _first_paragraph_by_whole_parse(rendered.content_html)


@pytest.mark.parametrize(
    "content_html",
    [
        # html5ever (nh3) writes "<" in an attribute as "&lt;"; other HTML may not.
        '<p><a title="</p><p>x" href="https://e.org/">l</a> t</p><p>2</p>',
        '<p title="a </p> b">first</p><p>second</p>',
        "<blockquote><p>q</p></blockquote><p>top</p>",
        "text only",
        "<div>no paragraph</div>",
    ],
)
def test_first_paragraph_of_any_html(content_html: str) -> None:
    assert _first_paragraph(content_html) == _first_paragraph_by_whole_parse(content_html)


# Plain words and everything the plain-excerpt path must turn down: Markdown's markup and
# block starts, what cmark or the sanitiser escapes, spaces, controls, non-characters.
_PLAIN_CHARS = list("abc XYZ019.,;:?'()/%+=-@$^{}") + ["é", "ß", "中", "😀", "\u200b"]
_MARKUP_CHARS = list("#>*_`[]<>&\"!~|\\\t\n\r") + [
    "\u00a0", "\u2028", "\ufffd", "\ufdd0", "\x00", "\x85"
]  # fmt: skip
_PLAIN_TEXT = st.text(st.sampled_from(_PLAIN_CHARS), min_size=1, max_size=30)
_EXCERPTS = st.one_of(
    _PLAIN_TEXT,  # mostly taken, unless it starts a block or ends with a space
    st.builds(  # plain words around one character of markup, anywhere
        lambda a, c, b: a + c + b,
        st.text(st.sampled_from(_PLAIN_CHARS)),
        st.sampled_from(_MARKUP_CHARS),
        st.text(st.sampled_from(_PLAIN_CHARS)),
    ),
    st.text(st.sampled_from(_PLAIN_CHARS + _MARKUP_CHARS), min_size=1, max_size=30),
)


@settings(max_examples=2000, deadline=None)
@given(_EXCERPTS)
def test_a_plain_excerpt_renders_as_a_whole_render_would(text: str) -> None:
    """The plain-excerpt shortcut gives what cmark and the sanitiser give, or stands aside."""
    url = "https://example.org/2025/post/"
    whole = sanitize_html(_to_html(text, False), url).strip()
    assert _excerpt_html(text, False, url) == whole
    assert _excerpt_html(text, True, url) == sanitize_html(text, url).strip()


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("Disk fast pipeline yaml front the publish renderer.", True),
        ("It's 2025: 50% off (really) / maybe + more = done?", True),
        ("Déjà vu, 中文, 😀.", True),
        ("12345678901. Not a list: ten digits are too many.", True),
        ("1. a list", False),
        ("2024) a list too", False),
        ("- a list", False),
        ("# a heading", False),
        ("> a quote", False),
        ("a *word*", False),
        ("snake_case", False),
        ("AT&T", False),
        ('"quoted"', False),
        ("no\u00a0break", False),
        (" leading", False),
        ("trailing ", False),
    ],
)
def test_which_excerpts_take_the_plain_path(text: str, plain: bool) -> None:
    url = "https://example.org/p/"
    assert bool(_PLAIN_PARAGRAPH.fullmatch(text)) is plain
    got = _excerpt_html(text, False, url)
    assert got == sanitize_html(_to_html(text, False), url).strip()
    if plain:
        assert got == f"<p>{text}</p>"


_TAG_NAMES = st.one_of(
    st.sampled_from(sorted(render.ALLOWED_TAGS)),
    st.sampled_from(["object", "button", "script", "in", "abbrx", "h7", "p-x", "sub1", "KBD"]),
    st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,8}", fullmatch=True),
)
# What may follow a name: the long s and the Kelvin sign fold to "s" and "k" in a
# case-insensitive Unicode match, which must not make "in" + "\u017f" read as "ins".
_AFTER_NAME = ["", ">", " x>", "/>", "\u017f", "\u212a"]
_TAG_TEXT = st.lists(
    st.one_of(
        st.builds(
            lambda n, c: f"<{n}{c}",
            _TAG_NAMES,
            st.sampled_from(["", ">", " x>", "/>", "\u017f", "\u212a"]),
        ),
        st.builds(lambda n: f"</{n}>", _TAG_NAMES),
        st.text(alphabet="<>ab /\u017f\u212a", max_size=6),
    ),
    max_size=8,
).map("".join)


@settings(max_examples=1000, deadline=None)
@given(_TAG_TEXT)
def test_the_search_for_other_tags_finds_what_listing_every_name_finds(fragment: str) -> None:
    # The plain predicate: every start tag's name, looked up in ALLOWED_TAGS.
    names = re.findall(r"<([A-Za-z][A-Za-z0-9-]*)", fragment)
    listed = any(name.lower() not in render.ALLOWED_TAGS for name in names)
    assert render._has_other_tag(fragment) == listed
