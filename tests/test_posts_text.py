"""Text hygiene while reading posts: encodings, BOM, CRLF, mojibake, XML-illegal characters."""

from __future__ import annotations

import codecs
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syndicate.config import Author, Config
from syndicate.posts import Image, load_post, load_posts, render_post, strip_forbidden_chars

from .conftest import ConfigFactory

DATA = Path(__file__).parent / "data" / "posts"


def write_bytes(posts_dir: Path, name: str, data: bytes) -> Path:
    path = posts_dir / name
    path.write_bytes(data)
    return path


def test_sample_post_loads_repaired_and_complete(
    tmp_path: Path, posts_dir: Path, make_config: ConfigFactory
) -> None:
    shutil.copyfile(DATA / "sample_mojibake.txt", posts_dir / "sample_mojibake.txt")
    image = tmp_path / "assets" / "images" / "1c35908ec1c4c7f07d780aaf16ffb672.jpg"
    image.parent.mkdir(parents=True)
    image.write_bytes(b"\xff\xd8" + b"j" * 2046)
    config = make_config(site={"timezone": "Europe/Minsk"}, assets_dir="assets")

    [post], problems = load_posts(config)

    assert [(p.severity, p.message) for p in problems] == [
        ("warning", "repaired mojibake on line 34")
    ]
    assert str(problems[0]) == f"{posts_dir / 'sample_mojibake.txt'}: repaired mojibake on line 34"
    assert post.body is not None
    assert "\u00c2" not in post.body
    assert "veiled threats -\u00a0or promises" in post.body
    assert post.title == (
        "Latest: How Belarus dissidents in exile abroad are pursued and threatened"
    )
    # 23:21:18 naive, in Minsk (UTC+3).
    assert post.date == datetime(2025, 6, 19, 20, 21, 18, tzinfo=UTC)
    assert post.author == Author("Badely", "badely@example.org", "https://example.org/about")
    assert (post.categories, post.tags) == (("News",), ())
    assert post.image == Image(
        url="https://example.org/assets/images/1c35908ec1c4c7f07d780aaf16ffb672.jpg",
        media_type="image/jpeg",
        length=2048,
    )
    assert post.url == "https://example.org/news/2025/06/19/sample_mojibake.html"
    assert post.entry_id == "tag:example.org,2025-06-19:sample_mojibake"
    assert post.excerpt is not None and post.excerpt.startswith("Some receive threatening")
    assert post.published and not post.is_html

    rendered = render_post(post, config)
    assert "\u00c2" not in rendered.content_html
    assert rendered.content_html.count("<p>") == 36  # one per paragraph of the source
    assert rendered.summary_html == f"<p>{post.excerpt}</p>"


def test_utf8_bom_and_crlf_are_accepted(posts_dir: Path, config: Config) -> None:
    shutil.copyfile(DATA / "bom_crlf.md", posts_dir / "bom_crlf.md")
    raw = (posts_dir / "bom_crlf.md").read_bytes()
    assert raw.startswith(codecs.BOM_UTF8) and b"\r\n" in raw  # the case file is intact

    [post], problems = load_posts(config)

    assert problems == []
    assert post.title == "BOM and CRLF"
    assert post.body is not None
    assert "\r" not in post.body and "\ufeff" not in post.body
    assert render_post(post, config).content_html == (
        "<p>Line one\nline two.</p>\n<p>Second paragraph.</p>"
    )


@pytest.mark.parametrize(
    "raw",
    [
        b"---\rtitle: Old Mac\rdate: 2025-01-01\r---\rBody.\r",
        codecs.BOM_UTF16_LE
        + "---\ntitle: Old Mac\ndate: 2025-01-01\n---\nBody.\n".encode("utf-16-le"),
    ],
)
def test_lone_cr_and_utf16_with_bom_are_read(posts_dir: Path, config: Config, raw: bytes) -> None:
    path = write_bytes(posts_dir, "p.md", raw)

    post, problems = load_post(path, config)

    assert list(problems) == []
    assert post is not None and (post.title, post.body) == ("Old Mac", "Body.")


def test_invalid_utf8_is_decoded_as_windows_1252_with_a_warning(
    posts_dir: Path, config: Config
) -> None:
    shutil.copyfile(DATA / "windows_1252.md", posts_dir / "windows_1252.md")

    [post], problems = load_posts(config)

    assert [(p.severity, p.message) for p in problems] == [
        ("warning", "not valid UTF-8 (byte 0xe9 on line 2); decoded as Windows-1252"),
        ("warning", "removed 1 control or non-character code point(s) that feeds cannot carry"),
    ]
    assert post.title == "Caf\u00e9 \u201cquoted\u201d"
    # 0x80 is the euro sign; 0x81 is undefined in Windows-1252, so it is dropped.
    assert post.body == "Na\u00efve \u20ac 5  price."


@pytest.mark.parametrize(
    ("broken", "fixed"),
    [
        ("caf\u00c3\u00a9 cr\u00c3\u00a8me", "caf\u00e9 cr\u00e8me"),
        ("\u00e2\u20ac\u0153quoted\u00e2\u20ac\u009d", "\u201cquoted\u201d"),
        ("it\u00e2\u20ac\u2122s", "it\u2019s"),
        ("10\u00c2\u00a0kg", "10\u00a0kg"),
        # Windows-1252 read as Latin-1 leaves C1 controls where the quotes were.
        ("\u0093quoted\u0094 \u0096 dash", "\u201cquoted\u201d \u2013 dash"),
        ("Привет".encode().decode("windows-1252"), "Привет"),
    ],
)  # fmt: skip
def test_mojibake_is_repaired_with_a_warning(
    posts_dir: Path, config: Config, broken: str, fixed: str
) -> None:
    path = posts_dir / "p.md"
    path.write_text(f"---\ntitle: T\ndate: 2025-01-01\n---\nOne.\n\n{broken}\n", encoding="utf-8")

    post, problems = load_post(path, config)

    assert post is not None and post.body == f"One.\n\n{fixed}"
    assert [(p.severity, p.message) for p in problems] == [
        ("warning", "repaired mojibake on line 7")
    ]


@pytest.mark.parametrize(
    "clean",
    [
        "\u201cCurly\u201d quotes \u2014 it\u2019s fine\u2026",
        "Cr\u00e8me br\u00fbl\u00e9e, na\u00efve, \u00abcaf\u00e9\u00bb, \u00e9t\u00e9",
        "ROM\u00c2NIA, \u00c2ge, \u00c3O PAULO",
        "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0456\u0440! \u65e5\u672c\u8a9e",
        "&amp; &lt;b&gt; stay as written in Markdown",
        "\ufb01 ligature and \uff21 full width stay",
    ],
)
def test_clean_text_is_left_alone(posts_dir: Path, config: Config, clean: str) -> None:
    path = posts_dir / "p.md"
    path.write_text(f"---\ntitle: '{clean}'\ndate: 2025-01-01\n---\n{clean}\n", encoding="utf-8")

    post, problems = load_post(path, config)

    assert list(problems) == []
    assert post is not None and post.body == clean


def test_characters_xml_forbids_are_removed_everywhere(posts_dir: Path, config: Config) -> None:
    path = posts_dir / "p.md"
    path.write_text(
        '---\ntitle: "Bell\\a and \\x01nul"\ndate: 2025-01-01\n'
        'tags: ["a\\x02b"]\nauthor: {name: "Ann\\x0b"}\nexcerpt: "Ex\\x1fcerpt"\n---\n'
        "Body\x00 with\x08 controls\ufffe and\x0c more.\n",
        encoding="utf-8",
    )

    post, problems = load_post(path, config)

    assert post is not None
    assert (post.title, post.tags, post.author) == ("Bell and nul", ("ab",), Author("Ann"))
    assert post.excerpt == "Excerpt"
    assert post.body == "Body with controls and more."
    assert [(p.severity, p.message) for p in problems] == [
        ("warning", "removed 4 control or non-character code point(s) that feeds cannot carry")
    ]


def is_feed_char(c: str) -> bool:
    """XML 1.0 section 2.2 Char, minus what it discourages and feedvalidator reports."""
    code = ord(c)
    return (
        (
            c in "\t\n\r"
            or 0x20 <= code <= 0x7E
            or 0xA0 <= code <= 0xD7FF
            or 0xE000 <= code <= 0xFFFC
        )
        and not (0xFDD0 <= code <= 0xFDEF)
        or (code >= 0x10000 and code & 0xFFFE != 0xFFFE)
    )


@given(st.text(alphabet=st.characters(codec=None, exclude_categories=())))
def test_strip_forbidden_chars_keeps_exactly_the_feed_characters(text: str) -> None:
    assert strip_forbidden_chars(text) == "".join(c for c in text if is_feed_char(c))


@pytest.mark.parametrize(
    "char",
    ["\x00", "\x0b", "\x7f", "\x85", "\x9f", "\ud800", "\ufdd0", "\ufffd", "\ufffe", "\U0010ffff"],
)
def test_forbidden_chars(char: str) -> None:
    assert strip_forbidden_chars(f"a{char}b") == "ab"


def test_a_non_post_in_another_encoding_is_one_warning(posts_dir: Path, config: Config) -> None:
    """Not a post (no front matter, reported), so its encoding is none of our business."""
    write_bytes(posts_dir, "README.txt", b"Caf\xe9 notes, no front matter.\n")

    posts, problems = load_posts(config)

    assert posts == []
    assert [(p.path.name, p.message, p.severity) for p in problems] == [
        ("README.txt", "no front matter (a post starts with a '---' line); skipped", "warning")
    ]


def test_a_bom_before_invalid_utf8_still_reads_the_post(posts_dir: Path, config: Config) -> None:
    # The fallback decoder used to keep the BOM as "ï»¿", so the front matter was not found
    # and the post vanished without a word; and the byte named was three bytes off.
    raw = b"---\ntitle: Caf\xe9\ndate: 2025-01-01\n---\nna\xefve\n"
    write_bytes(posts_dir, "bom.md", codecs.BOM_UTF8 + raw)

    [post], problems = load_posts(config)

    assert post.title == "Caf\u00e9" and post.body == "na\u00efve"
    assert [p.message for p in problems] == [
        "not valid UTF-8 (byte 0xe9 on line 2); decoded as Windows-1252"
    ]


_LOAD_IN_A_FRESH_PROCESS = """
import sys
from pathlib import Path
from syndicate.config import load_config
from syndicate.posts import load_post
config = load_config(Path(sys.argv[1]))
post, problems = load_post(Path(sys.argv[2]), config)
print("ftfy" in sys.modules, [problem.message for problem in problems], post.title)
"""


@pytest.mark.parametrize(
    ("title", "loaded"),
    [("Caf\u00e9 \u00ab clean \u00bb \u2014 no repair", False), ("Caf\u00c3\u00a9 repaired", True)],
)
def test_ftfy_is_loaded_only_for_a_post_that_needs_a_repair(
    tmp_path: Path, title: str, loaded: bool
) -> None:
    (tmp_path / "config.yaml").write_text(
        "site:\n  title: T\n  url: https://example.org/\n", encoding="utf-8"
    )
    post = tmp_path / "2024-01-01-post.md"
    post.write_text(f"---\ntitle: {title}\n---\nBody.\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", _LOAD_IN_A_FRESH_PROCESS, str(tmp_path / "config.yaml"), str(post)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    shown = "Caf\u00e9 repaired" if loaded else title
    warnings = ["repaired mojibake on line 2"] if loaded else []
    assert done.stdout.strip() == f"{loaded} {warnings} {shown}"
