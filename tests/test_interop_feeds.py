"""Feeds that validators and readers accept whatever the inputs (issue 18, cases 3 and 4).

Language tags (BCP 47) in the config and in posts, posts with an empty body, and names
with ``&`` and ``<``: built with ``syndicate build``, read back with feedparser and lxml,
and (where the W3C Feed Validation Service is on this machine) validated with 0 errors
and 0 warnings.
"""

from __future__ import annotations

import html
import re
import typing
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from syndicate.cli import main
from syndicate.langtag import is_well_formed, normalise_language

from .validator import validate

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


# RFC 4287 appendix B (the RELAX NG schema): atomLanguageTag, which xml:lang must match.
ATOM_LANGUAGE_TAG = re.compile(r"([A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*)?")


@given(st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzEHNSUX0123456789-_ é"), max_size=20))
def test_a_normalised_tag_is_well_formed_stable_and_valid_for_the_atom_schema(text: str) -> None:
    tag = normalise_language(text)
    if tag is not None:
        assert is_well_formed(tag)
        assert normalise_language(tag) == tag
        assert ATOM_LANGUAGE_TAG.fullmatch(tag)
        assert "_" not in tag and tag == tag.strip()


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


@pytest.mark.parametrize("value", ["English", "english", "German-DE", "latn", "Deutsch_CH"])
def test_names_where_a_language_subtag_goes_are_refused(value: str) -> None:
    """Well-formed by the grammar, but 4 letters are reserved and no language of 5 to 8 is
    registered (RFC 5646 2.2.1): a name, which validators and readers do not know."""
    assert is_well_formed(value.replace("_", "-"))
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
    # And so in a publish to the live tree (what serve and worker run).
    published = run("republish", "--config", str(config))
    assert published.exit_code == 0, published.output
    assert f"{post}: lang: 'Portuguese' is not a BCP 47 language tag" in published.output
    live = etree.parse(tmp_path / "_site" / "feed.atom").getroot()
    assert [entry.get(XML_LANG) for entry in live.iter(f"{ATOM}entry")] == [None]


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


# -- "Done means": a site from awkward inputs, through the W3C validator --------------

# Every name holds & and < as plain text, as a writer types them ("1 < 2" stays: only
# real tags are markup in a title). Language tags with "_", and a post with no body.
AWKWARD_CONFIG = """\
site:
  title: "Tom & Jerry <News> & Q&A"
  url: {url}
  description: "Cats & mice, 1 < 2, AT&T"
  language: en_us
  author: {{name: "Desk & Co <desk", email: desk@example.org}}
authors:
  ann: {{name: "Ann & Bo <3"}}
"""
AWKWARD_POSTS = {
    "2024-01-02-awkward.md": (
        '---\ntitle: "R&D: 1 < 2 & AT&T"\ndate: 2024-01-02 10:00:00\nlang: pt_BR\n'
        "author: ann\n"
        'categories: ["Q&A", "a<b", "Tom & Jerry"]\ntags: ["R&D", "x < y", "<3"]\n'
        "---\n\nBody & more: 1 < 2, <em>said</em> AT&T.\n"
    ),
    "2024-01-03-empty.md": (
        '---\ntitle: "Empty & <void"\ndate: 2024-01-03 10:00:00\n'
        'author: "Solo & Co <a"\ncategories: ["Q&A"]\n---\n'
    ),
}
NAMES: dict[str, typing.Any] = {
    "site": "Tom & Jerry <News> & Q&A",
    "description": "Cats & mice, 1 < 2, AT&T",
    "titles": ["Empty & <void", "R&D: 1 < 2 & AT&T"],
    "categories": ["Q&A", "a<b", "Tom & Jerry"],
    "tags": ["R&D", "x < y", "<3"],
    "authors": ["Solo & Co <a", "Ann & Bo <3"],
}


def _read_back(out: Path, site_url: str) -> None:
    """What a reader sees: every name as written, in RSS and Atom (feedparser and lxml),
    and in the OPML (its texts are HTML)."""
    rss = feedparser.parse(out / "feed.rss")
    atom = feedparser.parse(out / "feed.atom")
    for parsed in (rss, atom):
        assert not parsed.bozo, parsed.get("bozo_exception")
        assert parsed.feed.title == NAMES["site"]
        assert parsed.feed.language == "en-US"
        assert [entry.title for entry in parsed.entries] == NAMES["titles"]
        assert [entry.author for entry in parsed.entries][1:] == NAMES["authors"][1:]
        terms = [tag.term for tag in parsed.entries[1].tags]
        assert terms == NAMES["categories"] + NAMES["tags"]
    assert atom.feed.subtitle == NAMES["description"]
    assert atom.entries[0].summary == "Empty &amp; &lt;void"  # no body: the title
    assert "content" not in atom.entries[0]
    assert "Body &amp; more: 1 &lt; 2" in atom.entries[1].content[0].value
    # lxml: the same names from the bytes.
    channel = etree.parse(out / "feed.rss").getroot().find("channel")
    assert channel is not None
    assert channel.findtext("title") == NAMES["site"]
    assert channel.findtext("description") == NAMES["description"]
    assert channel.findtext("language") == "en-US"
    items = channel.findall("item")
    assert [item.findtext("title") for item in items] == NAMES["titles"]
    creator = "{http://purl.org/dc/elements/1.1/}creator"
    assert [item.findtext(creator) for item in items] == NAMES["authors"]
    assert [c.text for c in items[1].iter("category")] == NAMES["categories"] + NAMES["tags"]
    raw = (out / "feed.rss").read_bytes()
    assert b"&#x26;" in raw and b"&#x3C;" in raw  # plain text's & and < (RSS profile)
    feed = etree.parse(out / "feed.atom").getroot()
    entries = feed.findall(f"{ATOM}entry")
    assert [entry.get(XML_LANG) for entry in entries] == [None, "pt-BR"]
    assert feed.get(XML_LANG) == "en-US"
    labels = [c.get("label") for c in entries[1].iter(f"{ATOM}category")]
    assert labels == NAMES["categories"] + NAMES["tags"]
    opml = etree.parse(out / "feeds.opml").getroot()
    texts = [html.unescape(str(o.get("title"))) for o in opml.iter("outline") if o.get("title")]
    site = NAMES["site"]
    assert texts[:2] == [site, site]
    assert f"{site} — Category: a<b" in texts and f"{site} — Tag: x < y" in texts
    assert html.unescape(str(opml.findtext("head/ownerName"))) == "Desk & Co <desk"


@pytest.mark.parametrize(
    ("url", "base_url"),
    [
        ("http://example.org/news/", "http://example.org/news/"),
        ("http://example.org/café news/", "http://example.org/caf%C3%A9%20news/"),
    ],
)
def test_a_site_from_awkward_inputs_passes_the_w3c_validator(
    tmp_path: Path, url: str, base_url: str
) -> None:
    config = write_site(tmp_path, AWKWARD_CONFIG.format(url=url), AWKWARD_POSTS)
    checked = run("check", "--config", str(config))
    assert checked.exit_code == 0, checked.output
    assert "0 errors, 0 warnings" in checked.output  # nothing here looks like HTML
    out = tmp_path / "out"
    result = build(config, out)
    assert result.exit_code == 0, result.output
    _read_back(out, base_url)
    results = validate(out, base_url)
    complaints = [(result["feed"], message) for result in results for message in result["messages"]]
    assert complaints == []
    # the OPML; site, 3 categories, 3 tags, 1 author (ann, of `authors:`)
    assert len(results) == 1 + 2 * (1 + 3 + 3 + 1)


def test_check_warns_of_names_that_look_like_html(tmp_path: Path) -> None:
    """What no escaping can fix: a name that is markup to a validator or a reader."""
    post = (
        '---\ntitle: "Fine & dandy, 1 < 2"\ndate: 2024-01-02 10:00:00\n'
        'categories: ["<i>x</i>", "Q&A"]\ntags: ["&copy", "AT&T"]\n'
        'author: "Tom &amp;amp; Jerry"\n---\n\nBody.\n'
    )
    config = write_site(tmp_path, PLAIN_SITE, {"2024-01-02-a.md": post})
    checked = run("check", "--config", str(config))
    assert checked.exit_code == 0, checked.output  # warnings: published all the same
    path = tmp_path / "posts" / "2024-01-02-a.md"
    warned = [line for line in checked.output.splitlines() if line.startswith(f"{path}: ")]
    assert warned == [
        f"{path}: author: 'Tom &amp; Jerry' looks like HTML ('&amp'): validators and some "
        'readers take it for markup; write the character itself ("&" and "<" alone are fine)',
        f"{path}: categories: '<i>x</i>' looks like HTML ('</i>'): validators and some "
        'readers take it for markup; write the character itself ("&" and "<" alone are fine)',
        f"{path}: tags: '&copy' looks like HTML ('&copy'): validators and some "
        'readers take it for markup; write the character itself ("&" and "<" alone are fine)',
    ]
    assert "3 warnings" in checked.output


# The W3C validator checks RSS <language> and xml:lang against its own ISO 639 list (the
# primary subtag only: ISO 639-1, or 639-2's three letters; "x" for private use). Every
# usual form of a tag passes once "_" is read as "-"; a 639-3-only code (yue) or a
# grandfathered i- tag would not, and is still written (it is a tag: readers take it).
@pytest.mark.parametrize(
    ("written", "tag"),
    [
        ("en_US", "en-US"),
        ("pt_br", "pt-BR"),
        ("zh_Hant_TW", "zh-Hant-TW"),
        ("es-419", "es-419"),
        ("sr_latn_rs", "sr-Latn-RS"),
        ("de-ch-1901", "de-CH-1901"),
        ("fil", "fil"),
        ("haw", "haw"),
        ("x-klingon", "x-klingon"),
    ],
)
def test_language_tags_pass_the_w3c_validator(tmp_path: Path, written: str, tag: str) -> None:
    posts = {"2024-01-02-a.md": POST.format(extra=f"lang: {written}\n")}
    config = write_site(tmp_path, PLAIN_SITE + f"  language: {written}\n", posts)
    out = tmp_path / "out"
    assert build(config, out).exit_code == 0
    assert etree.parse(out / "feed.rss").findtext("channel/language") == tag
    atom = etree.parse(out / "feed.atom").getroot()
    assert atom.get(XML_LANG) == tag
    assert [entry.get(XML_LANG) for entry in atom.iter(f"{ATOM}entry")] == [tag]
    results = validate(out, "https://example.org/")
    assert [(r["feed"], r["messages"]) for r in results if r["messages"]] == []


def test_check_warns_of_site_names_that_look_like_html(tmp_path: Path) -> None:
    site = (
        'site:\n  title: "News &amp; views"\n  url: https://example.org/\n'
        '  description: "The <b>best</b> & the rest"\n  author: "Desk & Co <3"\n'
    )
    config = write_site(tmp_path, site, {"2024-01-02-a.md": POST.format(extra="")})
    checked = run("check", "--config", str(config))
    assert checked.exit_code == 0, checked.output
    warned = [line for line in checked.output.splitlines() if line.startswith(f"{config}: ")]
    assert warned == [
        f"{config}: site.title: 'News &amp; views' looks like HTML ('&amp'): validators and "
        'some readers take it for markup; write the character itself ("&" and "<" alone are '
        "fine)",
        f"{config}: site.description: 'The <b>best</b> & the rest' looks like HTML ('</b>'): "
        "validators and some readers take it for markup; write the character itself "
        '("&" and "<" alone are fine)',
    ]
    assert "0 errors, 2 warnings" in checked.output
    strict = run("check", "--config", str(config), "--strict-warnings")
    assert strict.exit_code == 1
