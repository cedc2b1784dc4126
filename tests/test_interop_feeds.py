"""Feeds that validators and readers accept whatever the inputs (issue 18, cases 3 and 4).

Language tags (BCP 47) in the config and in posts, posts with an empty body, and names
with ``&`` and ``<``: built with ``syndicate build``, read back with feedparser and lxml,
and (where the W3C Feed Validation Service is on this machine) validated with 0 errors
and 0 warnings.
"""

from __future__ import annotations

from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner, Result
from lxml import etree

from syndicate.cli import main
from syndicate.langtag import is_well_formed, normalise_language

ATOM = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def write_site(root: Path, config: str, posts: dict[str, str]) -> Path:
    """config.yaml and posts/ under root; the config file's path."""
    (root / "posts").mkdir(parents=True, exist_ok=True)
    for name, text in posts.items():
        (root / "posts" / name).write_text(text, encoding="utf-8")
    path = root / "config.yaml"
    path.write_text(config + "posts_dir: posts\nstorage:\n  url: sqlite:///state.db\n", "utf-8")
    return path


def build(config: Path, out: Path) -> Result:
    result = run("build", "--config", str(config), "--out", str(out))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


PLAIN_SITE = "site:\n  title: News\n  url: https://example.org/\n"
POST = "---\ntitle: A post\ndate: 2024-01-02 10:00:00\n{extra}---\n\nBody.\n"


# -- case 3: language tags ----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("en", "en"),
        ("en_US", "en-US"),
        ("en_us", "en-US"),
        ("EN-us", "en-US"),
        ("pt_BR", "pt-BR"),
        (" de-CH ", "de-CH"),
        ("zh-hant-tw", "zh-Hant-TW"),
        ("sr_latn_rs", "sr-Latn-RS"),
        ("es-419", "es-419"),
        ("sl-rozaj-biske", "sl-rozaj-biske"),
        ("de-CH-1901", "de-CH-1901"),
        ("zh-yue-HK", "zh-yue-HK"),
        ("en-US-u-islamcal", "en-US-u-islamcal"),
        ("en-a-bbb-x-a-ccc", "en-a-bbb-x-a-ccc"),
        ("x-whatever", "x-whatever"),
        ("i-klingon", "i-klingon"),
        ("en-GB-oed", "en-GB-oed"),
        ("de-ch-x-phonebk", "de-CH-x-phonebk"),
        ("qaa-Qaaa-QM-x-southern", "qaa-Qaaa-QM-x-southern"),
    ],
)
def test_well_formed_tags_are_kept_in_the_usual_case(value: str, expected: str) -> None:
    assert normalise_language(value) == expected
    assert is_well_formed(expected)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "e",
        "english language",
        "en US",
        "en--US",
        "en-",
        "-en",
        "de-419-DE",
        "a-DE",
        "ar-a-aaa-b-bbb-a-ccc-",
        "en-US-x",
        "abcdefghi",
        "en.UTF-8",
        "en_US.UTF-8",
        "français",
        "ｅｎ",
        "x-abcdefghi",
    ],
)
def test_other_values_are_not_tags(value: str) -> None:
    assert normalise_language(value) is None


def test_site_language_is_normalised_at_load(tmp_path: Path) -> None:
    config = write_site(
        tmp_path, PLAIN_SITE + "  language: en_us\n", {"2024-01-02-a.md": POST.format(extra="")}
    )
    result = build(config, tmp_path / "out")
    assert result.exit_code == 0, result.output
    rss = etree.parse(tmp_path / "out" / "feed.rss")
    assert rss.findtext("channel/language") == "en-US"
    atom = etree.parse(tmp_path / "out" / "feed.atom")
    assert atom.getroot().get(XML_LANG) == "en-US"
    assert feedparser.parse(tmp_path / "out" / "feed.rss").feed.language == "en-US"


@pytest.mark.parametrize("command", ["build", "check"])
def test_a_site_language_that_is_no_tag_is_a_config_error(tmp_path: Path, command: str) -> None:
    config = write_site(tmp_path, PLAIN_SITE + "  language: English (US)\n", {})
    args = ["--out", str(tmp_path / "out")] if command == "build" else []
    result = run(command, "--config", str(config), *args)
    assert result.exit_code == 1
    assert "site.language: 'English (US)' is not a BCP 47 language tag" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_a_post_lang_is_normalised(tmp_path: Path) -> None:
    config = write_site(
        tmp_path, PLAIN_SITE, {"2024-01-02-a.md": POST.format(extra="lang: pt_BR\n")}
    )
    result = build(config, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "0 warnings" in result.output
    atom = etree.parse(tmp_path / "out" / "feed.atom")
    (entry,) = atom.getroot().iter(f"{ATOM}entry")
    assert entry.get(XML_LANG) == "pt-BR"
    assert feedparser.parse(tmp_path / "out" / "feed.atom").entries[0].content[0].language == (
        "pt-BR"
    )


def test_a_post_lang_that_is_no_tag_is_a_warning_and_left_out(tmp_path: Path) -> None:
    config = write_site(
        tmp_path, PLAIN_SITE, {"2024-01-02-a.md": POST.format(extra="lang: Portuguese\n")}
    )
    checked = run("check", "--config", str(config))
    assert checked.exit_code == 0, checked.output
    post = tmp_path / "posts" / "2024-01-02-a.md"
    assert f"{post}: lang: 'Portuguese' is not a BCP 47 language tag" in checked.output
    assert "1 warning" in checked.output
    result = build(config, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "lang: 'Portuguese'" in result.output
    atom = etree.parse(tmp_path / "out" / "feed.atom")
    (entry,) = atom.getroot().iter(f"{ATOM}entry")
    assert entry.get(XML_LANG) is None
    assert entry.findtext(f"{ATOM}title") == "A post"  # published all the same


# -- case 4: an empty body ----------------------------------------------------------


@pytest.mark.parametrize("excerpt", ["", "excerpt: A short note.\n"])
def test_a_post_with_no_body_has_no_blank_content_or_summary(tmp_path: Path, excerpt: str) -> None:
    post = f'---\ntitle: "Q&A: 1 < 2"\ndate: 2024-01-02 10:00:00\n{excerpt}---\n'
    config = write_site(tmp_path, PLAIN_SITE, {"2024-01-02-a.md": post})
    result = build(config, tmp_path / "out")
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    atom = etree.parse(out / "feed.atom").getroot()
    (entry,) = atom.iter(f"{ATOM}entry")
    assert entry.find(f"{ATOM}content") is None  # not <content type="html"/>
    summary = entry.find(f"{ATOM}summary")
    # RFC 4287 4.1.1.2: no content, so an alternate link: the post's page.
    assert [link.get("rel") for link in entry.iter(f"{ATOM}link")] == ["alternate"]
    (item,) = etree.parse(out / "feed.rss").getroot().iter("item")
    encoded = "{http://purl.org/rss/1.0/modules/content/}encoded"
    assert item.find(encoded) is None
    if excerpt:
        assert summary is not None and summary.text == "<p>A short note.</p>"
        assert item.findtext("description") == "<p>A short note.</p>"
    else:  # the title stands for the text, never a blank one
        assert summary is not None and summary.text == "Q&amp;A: 1 &lt; 2"
        assert item.findtext("description") == "Q&amp;A: 1 &lt; 2"
    for name in ("feed.atom", "feed.rss"):
        parsed = feedparser.parse(out / name)
        assert not parsed.bozo
        (read,) = parsed.entries
        assert read.title == "Q&A: 1 < 2"
        assert read.link == "https://example.org/2024/01/02/a.html"
        assert "content" not in read
        shown = "<p>A short note.</p>" if excerpt else "Q&amp;A: 1 &lt; 2"
        assert read.summary == shown
