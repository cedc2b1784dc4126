"""The shared sanitiser (no base URL) answers exactly as a post's own one, where it is used."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from syndicate.posts import sanitize_html
from syndicate.posts.render import _NEEDS_BASE, _cleaner

BASE = "https://example.org/2025/06/19/post.html"


@pytest.mark.parametrize(
    ("fragment", "needs_base"),
    [
        ('<p><a href="https://example.com/x">x</a> <img src="http://e.org/i.png"></p>', False),
        ("<p><a href=mailto:me@example.org>me</a></p>", False),
        ("<p>no URLs at all</p>", False),
        ('<p><a href="x.html">x</a></p>', True),
        ('<p><a href="/x">x</a></p>', True),
        ('<p><a href="#note">x</a></p>', True),
        ('<p><a href="//example.com/x">x</a></p>', True),
        ('<p><a HREF = " https://example.com/x">x</a></p>', True),
        ('<p><a href="&#104;ttps://example.com/">x</a></p>', True),
        ('<video poster="p.jpg" src="https://e.org/v.mp4"></video>', True),
        ('<img srcset="https://e.org/a.jpg 2x">', True),
        ('<blockquote cite="https://e.org/">q</blockquote>', True),
    ],
)
def test_which_fragments_need_the_post_url(fragment: str, needs_base: bool) -> None:
    assert (_NEEDS_BASE.search(fragment) is not None) is needs_base


@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        ('<a href="https://example.com/x">x</a>', '<a href="https://example.com/x">x</a>'),
        ('<a href="x.html">x</a>', '<a href="https://example.org/2025/06/19/x.html">x</a>'),
        ('<img src="/i.png" alt="">', '<img src="https://example.org/i.png" alt="">'),
        ('<img srcset="a.jpg 2x">', '<img srcset="https://example.org/2025/06/19/a.jpg 2x">'),
    ],
)
def test_both_sanitisers_in_use(fragment: str, expected: str) -> None:
    assert sanitize_html(fragment, BASE) == expected


def test_the_shared_sanitiser_drops_what_only_a_base_could_resolve() -> None:
    # Never reached through sanitize_html (_NEEDS_BASE), but a relative URL must not leak.
    assert _cleaner(None).clean('<a href="x.html">x</a><img srcset="a.jpg 2x">') == "<a>x</a><img>"


tags = st.sampled_from(["a", "img", "video", "audio", "source", "blockquote", "q", "p", "object"])
attributes = st.sampled_from(
    ["href", "src", "poster", "srcset", "cite", "data", "HREF", "Src", "data-src", "title"]
)
values = st.sampled_from(
    [
        "https://example.com/a b", "http://e.org/x?y=1&amp;z=2", "HTTPS://E.ORG/", "mailto:x@e.org",
        "javascript:alert(1)", "ftp://e.org/f", "x.jpg", "/root", "#frag", "?q", "//host/x", "",
        " https://e.org/", "&#104;ttps://e.org/", "http&#58;//e.org/", "ht\ttp://e.org/",
        "data:text/html,x", "a:b", "1x:y", "https://e.org/a.jpg 1x, b.jpg 2x",
    ]
)  # fmt: skip
attribute = st.builds(
    lambda name, eq, quote, value: f" {name}{eq}{quote}{value}{quote}",
    attributes,
    st.sampled_from(["=", " = ", "=\n"]),
    st.sampled_from(['"', "'", ""]),
    values,
)
element = st.builds(
    lambda tag, attrs, text: f"<{tag}{''.join(attrs)}>{text}</{tag}>",
    tags,
    st.lists(attribute, max_size=3),
    st.sampled_from(["", "text", "see https://e.org/", "href=x.html"]),
)


@given(st.lists(element, min_size=1, max_size=4).map("".join))
@example('<a href="https://example.com/x">x</a>')
@example("<a href=https://example.com/x>x</a>")
@example('<img src="HTTP://E.ORG/i.png">')
def test_shared_sanitiser_gives_the_per_post_result(fragment: str) -> None:
    if _NEEDS_BASE.search(fragment) is None:
        assert _cleaner(None).clean(fragment) == _cleaner(BASE).clean(fragment)
