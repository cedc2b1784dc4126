"""Rendering posts: CommonMark with tables, absolute URLs, and HTML a feed validator accepts."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import lxml.html
import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml.html import HtmlElement

from syndicate.config import Config
from syndicate.posts import ALLOWED_TAGS, Post, Rendered, load_post, render_post, sanitize_html

DATA = Path(__file__).parent / "data" / "posts"

# feedvalidator/validators.py, HTMLValidator.acceptable_elements: anything else in
# content:encoded, description, summary or content is reported as a security risk.
VALIDATOR_ACCEPTABLE_ELEMENTS = frozenset(
    ['a', 'abbr', 'acronym', 'address', 'area', 'article',
    'aside', 'audio', 'b', 'bdi', 'big', 'blockquote', 'br', 'button', 'canvas',
    'caption', 'center', 'cite', 'code', 'col', 'colgroup', 'command',
    'data', 'datagrid', 'datalist', 'dd', 'del', 'details', 'dfn', 'dialog', 'dir',
    'div', 'dl', 'dt', 'em', 'eventsource', 'fieldset', "figcaption", 'figure',
    'footer', 'font', 'form', 'header', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6',
    'hgroup', 'hr', 'i', 'img', 'input', 'ins', 'keygen', 'kbd', 'label', 'legend', 'li',
    'm', 'main', 'map', 'mark', 'menu', 'meter', 'multicol', 'nav', 'nextid', 'ol', 'output',
    'optgroup', 'option', 'p', 'picture', 'pre', 'progress', 'q', 'rp', 'rt', 'ruby', 's',
    'samp', 'section',
    'select', 'small', 'sound', 'source', 'spacer', 'span', 'strike', 'strong',
    'sub', 'summary', 'sup', 'table', 'tbody', 'td', 'template', 'textarea', 'time', 'tfoot', 'th',
    'thead', 'tr', 'track', 'tt', 'u', 'ul', 'var', 'video', 'noscript', 'wbr']
)  # fmt: skip
# feedvalidator/validators.py, absUrlMixin: these references are reported when relative.
VALIDATOR_ANCHOR_RE = re.compile("<a\\s+href=(?:\"(.*?)\"|'(.*?)'|([\\w-]+))[\\s>]", re.IGNORECASE)
VALIDATOR_IMG_RE = re.compile(
    "<img\\s+[^>]*src=(?:\"(.*?)\"|'(.*?)'|([\\w-]+))[\\s>]", re.IGNORECASE
)
# feedvalidator/validators.py, checkStyle: the first test a style attribute must pass.
VALIDATOR_STYLE_RE = re.compile(
    r"""^([:,;#%.\sa-zA-Z0-9!]|\w-\w|'[\s\w]+'|"[\s\w]+"|\([\d,\s]+\))*$"""
)
URL_ATTRIBUTES = ("href", "src", "poster", "cite")
SAFE_SCHEMES = ("https://", "http://", "mailto:")


def elements(fragment: str) -> list[HtmlElement]:
    """Every element of an HTML fragment, parsed the way a reader would."""
    if not fragment.strip():
        return []
    root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    return [el for el in root.iter() if isinstance(el.tag, str)][1:]


def urls(fragment: str) -> list[str]:
    found = []
    for el in elements(fragment):
        for attr in URL_ATTRIBUTES:
            if attr in el.attrib:
                found.append(el.attrib[attr])
        for candidate in el.attrib.get("srcset", "").split(","):
            if candidate.strip():
                found.append(candidate.split()[0])
    return found


def assert_validator_clean(fragment: str) -> None:
    """What feedvalidator's HTMLValidator and absUrlMixin would warn about, asserted absent."""
    for el in elements(fragment):
        assert el.tag in VALIDATOR_ACCEPTABLE_ELEMENTS, el.tag
        for name, value in el.attrib.items():
            assert not name.lower().startswith("on"), name
            if name == "style":
                assert VALIDATOR_STYLE_RE.match(value), value
    for match in [*VALIDATOR_ANCHOR_RE.findall(fragment), *VALIDATOR_IMG_RE.findall(fragment)]:
        ref = next(part for part in match if part)
        assert re.match(r"\w+:", ref), ref


def load_case(posts_dir: Path, config: Config, name: str) -> tuple[Post, Rendered]:
    shutil.copyfile(DATA / name, posts_dir / name)
    post, problems = load_post(posts_dir / name, config)
    assert post is not None, problems
    return post, render_post(post, config)


@pytest.fixture
def features(posts_dir: Path, config: Config) -> tuple[Post, Rendered]:
    return load_case(posts_dir, config, "markdown_features.md")


def test_allowed_tags_are_all_acceptable_to_the_feed_validator() -> None:
    assert ALLOWED_TAGS <= VALIDATOR_ACCEPTABLE_ELEMENTS
    assert not ALLOWED_TAGS & {"script", "style", "iframe", "object", "embed", "form", "input"}


def test_markdown_structure_is_kept(features: tuple[Post, Rendered]) -> None:
    _, rendered = features
    tree = lxml.html.fragment_fromstring(rendered.content_html, create_parent="div")

    assert [th.text_content() for th in tree.iter("th")] == ["Left", "Right"]
    assert [td.get("style") for td in tree.iter("td")] == ["text-align:left", "text-align:right"]
    assert [c.get("class") for c in tree.iter("code")] == [None, "language-python"]
    assert tree.find(".//pre/code").text == 'print("hello")\n'
    # GFM spec, strikethrough extension: ~~text~~ is <del>.
    assert [s.text for s in tree.iter("del")] == ["struck"]
    assert tree.find(".//figure/figcaption").text == "A chart"
    img = tree.find(".//figure/img")
    assert (img.get("alt"), img.get("width"), img.get("height")) == ("Chart", "640", "480")
    assert tree.find(".//blockquote/p").text == "Quoted"
    assert tree.find(".//video").get("controls") is not None


def test_every_url_is_absolute_against_the_post_url(features: tuple[Post, Rendered]) -> None:
    post, rendered = features
    assert post.url == "https://example.org/notes/features/"

    found = urls(rendered.content_html)

    assert found == [
        "https://example.org/notes/other/page.html",
        "https://example.org/about/",
        "https://example.org/notes/features/#table",
        "mailto:me@example.org",
        "https://example.org/notes/features/img/pic.png",
        "https://example.org/notes/features/figs/chart.svg",
        "https://example.org/notes/features/figs/chart-2x.png",
        "https://cdn.example.net/c.png",
        "https://example.org/notes/features/sources/quote.html",
        "https://example.org/notes/features/media/clip.mp4",
        "https://example.org/notes/features/media/poster.jpg",
        "https://example.org/notes/features/x.png",
    ]
    assert urls(rendered.summary_html)[:2] == found[:2]


def test_security_risks_are_removed(features: tuple[Post, Rendered]) -> None:
    _, rendered = features
    html = rendered.content_html
    tags = {el.tag for el in elements(html)}

    assert not tags & {"script", "style", "iframe", "object", "embed", "form", "input", "button"}
    assert not tags & {"svg", "noscript", "textarea", "select"}
    for text in ("document.write", "display: none", "evil()", "alert(", "javascript", "position"):
        assert text not in html.lower()
    assert all(not el.get("id") and not el.get("class", "").startswith("language-evil")
               for el in elements(html))  # fmt: skip
    # The text of the removed button is harmless and stays readable.
    assert "Send" in html
    assert_validator_clean(html)
    assert_validator_clean(features[1].summary_html)


def test_html_post_is_kept_as_html_and_cleaned(posts_dir: Path, config: Config) -> None:
    post, rendered = load_case(posts_dir, config, "html_post.html")

    assert post.is_html
    assert post.body is not None
    assert post.body.startswith('<p>First <a href="other.html">paragraph</a>.</p>')
    assert rendered.content_html == (
        '<p>First <a href="https://example.org/2025/02/01/other.html">paragraph</a>.</p>\n'
        '<p>Second <img src="https://example.org/img/b.png" alt="b"></p>'
    )
    assert rendered.summary_html == (
        '<p>First <a href="https://example.org/2025/02/01/other.html">paragraph</a>.</p>'
    )


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("<kbd>Ctrl</kbd> + <mark>C</mark>", "<p><kbd>Ctrl</kbd> + <mark>C</mark></p>"),
        (
            "<details><summary>More</summary>\n\nHidden *text*\n\n</details>",
            "<details><summary>More</summary>\n<p>Hidden <em>text</em></p>\n</details>",
        ),
        ("H~2~O and x<sup>2</sup>", "<p>H~2~O and x<sup>2</sup></p>"),
        (
            "<p title='t' lang='de' dir='rtl'>Hallo</p>",
            '<p title="t" lang="de" dir="rtl">Hallo</p>',
        ),
        ("Line<br>break", "<p>Line<br>break</p>"),
    ],
)
def test_raw_html_in_markdown_is_kept(
    posts_dir: Path, config: Config, markdown: str, expected: str
) -> None:
    path = posts_dir / "p.md"
    path.write_text(f"---\ntitle: T\ndate: 2025-01-01\n---\n{markdown}\n", encoding="utf-8")
    post, _ = load_post(path, config)
    assert post is not None

    assert render_post(post, config).content_html == expected


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ('<a href="  JaVaScRiPt:alert(1)">x</a>', "<a>x</a>"),
        ('<a href="data:text/html,hi">x</a>', "<a>x</a>"),
        ('<img src="x.png" srcset="javascript:alert(1) 1x, y.png 2x">',
         '<img src="https://example.org/p/x.png" srcset="https://example.org/p/y.png 2x">'),
        ('<blockquote cite="javascript:alert(1)">q</blockquote>', "<blockquote>q</blockquote>"),
        ('<p style="color: red; text-align: center">x</p>', "<p>x</p>"),
        ('<table><tr><td style="behavior:url(x); text-align:Center">x</td></tr></table>',
         '<td style="text-align:center">x</td>'),
        ('<a href="https://example.net/" target="_blank" rel="nofollow">x</a>',
         '<a href="https://example.net/">x</a>'),
        ('<pre class="language-rust x"><code class="lang-rust evil">x</code></pre>',
         '<pre class="language-rust"><code class="lang-rust">x</code></pre>'),
        ("<svg onload=alert(1)><script>alert(2)</script></svg>after", "after"),
        # A removed <object> must not leave <a> inside <a>, nor a list inside <p>: html5lib
        # (the validator's parser) would report "Invalid HTML".
        ('<a href="x">out<object><a href="y">in</a></object></a>',
         '<a href="https://example.org/p/x">out</a><a href="https://example.org/p/y">in</a>'),
        ("<p>a<button><ul><li>b</li></ul></button></p>", "<p>a</p><ul><li>b</li></ul><p></p>"),
        # References to NUL and C1 controls; &#x85; is remapped to "…" by HTML itself.
        ("<p>nul&#0;and&#x81;c1&#x85;</p>", "<p>nulandc1\u2026</p>"),
        # ammonia drops MathML with its content; the validator would flag it as not HTML.
        ("<math><mi>x</mi></math>y", "y"),
    ],
)  # fmt: skip
def test_sanitize_html_cases(html: str, expected: str) -> None:
    cleaned = sanitize_html(html, "https://example.org/p/")

    assert expected in cleaned
    assert_validator_clean(cleaned)


FRAGMENTS = st.sampled_from(
    [
        "<script>", "</script>", "<a href='", "javascript:", "' onclick='x'>", "<p>", "</p>",
        "<img src=x onerror=y>", "text", "<iframe src=//e>", "<svg><script>", "&lt;", "<!--",
        "-->", "<style>", '"', "'", ">", "<", "<table><tr><td>", "<div style='x:expression(1)'>",
        "<a href=rel/path>", "<img src='../up.png'>", "<noscript><img src=x onerror=z>",
        "<object data=o>", "<embed src=e>", "<form><input>", "\n", " ",
    ]
)  # fmt: skip


@given(st.lists(FRAGMENTS, max_size=30).map("".join))
def test_sanitized_output_never_has_validator_warnings(html: str) -> None:
    cleaned = sanitize_html(html, "https://example.org/p/")

    assert "<script" not in cleaned.lower()
    assert_validator_clean(cleaned)
    assert all(u.startswith(SAFE_SCHEMES) for u in urls(cleaned))
