"""A Jekyll site's ``_config.yml`` as syndicate's config, and jekyll-feed's URLs (issue 21).

The expectations are written from what Jekyll and jekyll-feed document for the same
input, as literal strings: Jekyll's permalinks page (jekyllrb.com/docs/permalinks: the
built-in styles and the placeholders; ``:categories`` lower-cased as its UrlDrop does)
and jekyll-feed's README (``/feed.xml`` or ``feed.path``, ``/feed/<category>.xml`` for
``feed.categories``, ``/feed/by_tag/<tag>.xml`` for ``feed.tags``, ``posts_limit``
10 by default, ``excerpt_only``) and its template (an entry's link is the post's URL under
``url`` + ``baseurl``). No Ruby is run.
"""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner, Result
from lxml import etree

from syndicate.cli import main
from syndicate.config import load_config
from syndicate.errors import ConfigError
from syndicate.jekyll import JekyllFeeds
from syndicate.posts import load_post
from syndicate.web import create_app
from syndicate.web.api import EXTENSION as API_EXTENSION

from .validator import validate

ATOM = "{http://www.w3.org/2005/Atom}"

CONFIG = """\
title: "Ann's Notes"
description: Notes on travel and code
url: "https://example.org"
baseurl: "/blog"
permalink: date
timezone: America/New_York
lang: en_US
author:
  name: Ann Example
  email: ann@example.org
  twitter: annex
excerpt_separator: "<!--more-->"
plugins: [jekyll-feed, jekyll-seo-tag]
theme: minima
markdown: kramdown
future: true
show_drafts: false
feed:
  path: /atom.xml
  categories: [news, Travel, empty]
  tags:
    except: [draft_notes]
  posts_limit: 4
  icon: /icon.png
syndicate:
  feeds:
    archives: none
"""

POSTS = {
    # Categories as a string: two categories (Jekyll splits it on spaces).
    "_posts/2024-03-05-hello-world.md": """\
---
title: Hello World
categories: news travel
tags: [python, c++, draft_notes]
---
The first paragraph.
<!--more-->
The rest.
""",
    # In a subfolder of _posts/; categories as a list; the ordinal style written out
    # (a built-in style's name is not recognised in front matter, the docs say).
    "_posts/2024/2024-02-01-ordinal-post.md": """\
---
title: Ordinal
categories: [Travel]
permalink: /:categories/:year/:y_day/:title:output_ext
---
Body.
""",
    "_posts/2024-01-10-pretty.md": """\
---
title: Pretty
categories: [news]
tags: python
permalink: /:categories/:year/:month/:day/:title/
---
Body.
""",
    # The "none" style, and no categories: ":categories" leaves no "//" behind.
    "_posts/2023-12-25-none-style.md": """\
---
title: None style
permalink: /:categories/:title:output_ext
---
Body.
""",
    "_posts/2023-11-01-weekdate.md": """\
---
title: Week date
date: 2023-11-01 10:00:00 -0400
permalink: /:categories/:year/W:week/:short_day/:title:output_ext
---
Body.
""",
    "_posts/2099-01-01-future.md": """\
---
title: From the future
categories: news
---
Not yet.
""",
    "_drafts/a-draft.md": """\
---
title: A draft
categories: news
---
Not published.
""",
}

SITE = "https://example.org/blog/"

# Jekyll's documented URLs for the posts above, under url + baseurl.
EXPECTED_LINKS = {
    "Hello World": SITE + "news/travel/2024/03/05/hello-world.html",  # date style
    "Ordinal": SITE + "travel/2024/032/ordinal-post.html",  # 1 February: day 032
    "Pretty": SITE + "news/2024/01/10/pretty/",
    "None style": SITE + "none-style.html",
    "Week date": SITE + "2023/W44/Wed/weekdate.html",  # ISO week 44, a Wednesday
}


def _site(root: Path) -> Path:
    for name, text in POSTS.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    config = root / "_config.yml"
    config.write_text(CONFIG, encoding="utf-8")
    return config


def _cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _feed(path: Path) -> feedparser.FeedParserDict:
    body = path.read_bytes()
    etree.fromstring(body)  # well-formed
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


def test_a_jekyll_site_builds_unchanged_with_jekyll_feed_urls(tmp_path: Path) -> None:
    config = _site(tmp_path / "site")
    out = tmp_path / "out"
    result = _cli("build", "--config", str(config), "--out", str(out))
    assert result.exit_code == 0, result.output
    # One line listing the Jekyll keys syndicate ignores, not an error.
    lines = [line for line in result.output.splitlines() if "ignores" in line]
    assert lines == [
        f"WARNING syndicate.config: {config}: Jekyll keys syndicate ignores: plugins, theme, "
        "markdown, future, feed.icon"
    ]

    # jekyll-feed: the site's feed at feed.path; /feed/<category>.xml for the listed
    # categories that have posts; /feed/by_tag/<tag>.xml for the tags of letters, digits
    # and "_" (c++ has none), less feed.tags.except.
    written = {p.relative_to(out).as_posix() for p in out.rglob("*.xml")}
    assert written == {"atom.xml", "feed/news.xml", "feed/Travel.xml", "feed/by_tag/python.xml"}
    assert not (out / "feed.xml").exists()  # feed.path replaces it
    # Each carries the bytes of the syndicate Atom feed of the same posts.
    assert (out / "atom.xml").read_bytes() == (out / "feed.atom").read_bytes()
    assert (out / "feed/news.xml").read_bytes() == (out / "category/news.atom").read_bytes()
    # "Travel" and "travel" are two categories: the plain lower-case one has the bare slug.
    (travel_atom,) = out.glob("category/travel-*.atom")
    assert (out / "feed/Travel.xml").read_bytes() == travel_atom.read_bytes()
    assert (out / "feed/by_tag/python.xml").read_bytes() == (out / "tag/python.atom").read_bytes()
    assert gzip.decompress((out / "atom.xml.gz").read_bytes()) == (out / "atom.xml").read_bytes()

    site = _feed(out / "atom.xml")
    assert site.feed.title == "Ann's Notes"
    assert site.feed.language == "en-US"
    assert site.feed.author_detail.name == "Ann Example"
    # posts_limit: 4 entries, newest first; no draft, no post dated in the future.
    links = [(e.title, e.link) for e in site.entries]
    assert links == [(title, EXPECTED_LINKS[title]) for title in list(EXPECTED_LINKS)[:4]]
    # The self link and the WebSub topic stay the Atom feed's (see the README).
    self_links = [link.href for link in site.feed.links if link.rel == "self"]
    assert self_links == [SITE + "feed.atom"]
    # Ids are syndicate's tag: URIs, not jekyll-feed's post URLs (see the README).
    assert all(e.id.startswith("tag:example.org,") for e in site.entries)
    hello = site.entries[0]
    assert hello.summary == "<p>The first paragraph.</p>"  # excerpt_separator

    # Category feeds hold the posts of that very name (jekyll-feed's `where`).
    news = _feed(out / "feed/news.xml")
    assert [e.link for e in news.entries] == [
        EXPECTED_LINKS["Hello World"],
        EXPECTED_LINKS["Pretty"],
    ]
    travel = _feed(out / "feed/Travel.xml")
    assert [e.link for e in travel.entries] == [EXPECTED_LINKS["Ordinal"]]
    tagged = _feed(out / "feed/by_tag/python.xml")
    assert [e.link for e in tagged.entries] == [
        EXPECTED_LINKS["Hello World"],
        EXPECTED_LINKS["Pretty"],
    ]

    # The week-date post is the fifth: in the RSS feed of syndicate (limit 4 too), not
    # shown; its link is checked from the post itself.
    loaded = load_config(config)
    post, problems = load_post(config.parent / "_posts/2023-11-01-weekdate.md", loaded)
    assert post is not None and not problems
    assert post.url == EXPECTED_LINKS["Week date"]
    # syndicate's own state is beside the file, under .syndicate/, never in _site/.
    assert loaded.output_dir == (config.parent / ".syndicate/site").resolve()
    assert loaded.posts_dir == (config.parent / "_posts").resolve()
    assert (
        loaded.storage.url == f"sqlite:///{(config.parent / '.syndicate/syndicate.db').resolve()}"
    )


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("date", "news/travel/2024/03/05/hello-world.html"),
        ("pretty", "news/travel/2024/03/05/hello-world/"),
        ("ordinal", "news/travel/2024/065/hello-world.html"),
        ("weekdate", "news/travel/2024/W10/Tue/hello-world.html"),
        ("none", "news/travel/hello-world.html"),
        ("/:year/:month/:title/", "2024/03/hello-world/"),
        ("/:categories/:i_month/:i_day/:slug:output_ext", "news/travel/3/5/hello-world.html"),
    ],
)
def test_permalink_styles_of_the_config(tmp_path: Path, style: str, expected: str) -> None:
    config = _site(tmp_path)
    text = CONFIG.replace("permalink: date", f"permalink: {style!r}")
    config.write_text(text, encoding="utf-8")
    post, _ = load_post(tmp_path / "_posts/2024-03-05-hello-world.md", load_config(config))
    assert post is not None
    assert post.url == SITE + expected


def test_jekyll_categories_in_a_permalink_are_lower_cased_names(tmp_path: Path) -> None:
    """Jekyll's ``:categories`` is the names lower-cased (its pages are there), where a
    syndicate config's are slugs; ``:slugified_categories`` is the slugs in both."""
    config = _site(tmp_path)
    post_file = tmp_path / "_posts/2024-05-01-spaced.md"
    post_file.write_text(
        "---\ntitle: Spaced\ncategories: [Big News, Big News]\n---\nx\n", encoding="utf-8"
    )
    post, _ = load_post(post_file, load_config(config))
    assert post is not None and post.url == SITE + "big%20news/2024/05/01/spaced.html"
    config.write_text(
        CONFIG.replace("permalink: date", "permalink: /:slugified_categories/:title/")
    )
    post, _ = load_post(post_file, load_config(config))
    assert post is not None and post.url == SITE + "big-news/spaced/"


def test_jekyll_feed_urls_are_served_as_atom(tmp_path: Path) -> None:
    """serve: each jekyll-feed URL answers on the hot path with the Atom feed's bytes,
    conditional GET and gzip, and names the Atom feed as its WebSub self link; after a
    publish, from the live tree (its manifest keeps the URLs)."""
    config_path = _site(tmp_path)
    text = CONFIG.replace(
        "syndicate:\n", "syndicate:\n  websub:\n    hubs: [https://hub.example/]\n"
    )
    config_path.write_text(text, encoding="utf-8")
    assert _cli("republish", "--config", str(config_path)).exit_code == 0
    config = load_config(config_path)
    assert (config.output_dir / "atom.xml").exists()
    app = create_app(config, reload_interval=None)
    try:
        client = app.test_client()
        for path, atom in [
            ("/atom.xml", "/feed.atom"),
            ("/feed/news.xml", "/category/news.atom"),
            ("/feed/by_tag/python.xml", "/tag/python.atom"),
        ]:
            response = client.get(path)
            assert response.status_code == 200
            assert response.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
            assert response.data == client.get(atom).data
            links = response.headers.getlist("Link")
            assert links == ['<https://hub.example/>; rel="hub"', f'<{SITE}{atom[1:]}>; rel="self"']
            etag = response.headers["ETag"]
            again = client.get(path, headers={"If-None-Match": etag})
            assert again.status_code == 304
            packed = client.get(path, headers={"Accept-Encoding": "gzip"})
            assert packed.headers["Content-Encoding"] == "gzip"
            assert gzip.decompress(packed.data) == response.data
        assert client.get("/feed.xml").status_code == 404  # feed.path replaced it
        assert client.get("/feed/empty.xml").status_code == 404  # no post in it
        # A browser gets the feed's readable page there too.
        page = client.get("/atom.xml", headers={"Accept": "text/html,*/*;q=0.8"})
        assert page.status_code == 200
        assert page.headers["Content-Type"].startswith("text/html")
        assert page.headers.getlist("Link")[-1] == f'<{SITE}feed.atom>; rel="self"'
    finally:
        app.extensions[API_EXTENSION].close()


def test_the_default_jekyll_feed_path_and_limit(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "_posts").mkdir(parents=True)
    for day in range(1, 13):
        (site / f"_posts/2024-01-{day:02d}-post-{day}.md").write_text(
            f"---\ntitle: Post {day}\n---\nBody {day}.\n", encoding="utf-8"
        )
    config = site / "_config.yml"
    config.write_text("title: Blog\nurl: https://example.org/\n", encoding="utf-8")
    # Before anything is published (no .syndicate/ yet), status answers.
    status = _cli("status", "--config", str(config))
    assert status.exit_code == 0, status.output
    assert "Last build: none yet" in status.output
    out = tmp_path / "out"
    result = _cli("build", "--config", str(config), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "ignores" not in result.output  # nothing ignored, nothing said
    parsed = _feed(out / "feed.xml")
    # jekyll-feed's default: the 10 newest; the default permalink style is "date".
    assert len(parsed.entries) == 10
    assert parsed.entries[0].link == "https://example.org/2024/01/12/post-12.html"
    # No categories or tags asked for: no other jekyll-feed URL.
    assert [p.relative_to(out).as_posix() for p in out.rglob("*.xml")] == ["feed.xml"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "syndicate:\n  feeds:\n    limti: 3\n",
            "syndicate.feeds.limti: unknown key",
        ),
        ("syndicate:\n  feeds:\n    limit: many\n", "syndicate.feeds.limit: expected int"),
        ("syndicate:\n  site:\n    colour: red\n", "syndicate.site.colour: unknown key"),
        ("syndicate:\n  output_dir: _site\n", "is Jekyll's destination"),
        (
            "feed:\n  collections: [posts, changes]\n",
            "feed.collections: feeds of collections (changes) are not supported",
        ),
        ("feed:\n  path: /feed.rss\n", "feed.path: /feed.rss would take a URL of syndicate's"),
        ("feed:\n  posts_limit: 0\n", "feed.posts_limit: expected a positive int"),
        ("lang: English\n", "lang: 'English' is not a BCP 47 language tag"),
        ("timezone: Mars/Olympus\n", "timezone: unknown time zone"),
    ],
)
def test_config_errors_name_the_key_as_written(tmp_path: Path, extra: str, message: str) -> None:
    config = tmp_path / "_config.yml"
    config.write_text("title: Blog\nurl: https://example.org/\n" + extra, encoding="utf-8")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(config)
    result = _cli("check", "--config", str(config))
    assert result.exit_code == 1
    assert "Traceback" not in result.output


def test_a_url_is_required(tmp_path: Path) -> None:
    config = tmp_path / "_config.yml"
    config.write_text("title: Blog\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="url: required"):
        load_config(config)


def test_a_config_with_jekyll_keys_and_no_site_is_jekyll(tmp_path: Path) -> None:
    """Any file name: Jekyll's keys at the top level and no ``site:`` make it Jekyll's."""
    (tmp_path / "_posts").mkdir()
    config = tmp_path / "jekyll-prod.yml"
    config.write_text("title: Blog\nurl: https://example.org\nbaseurl: /b\n", encoding="utf-8")
    loaded = load_config(config)
    assert loaded.jekyll is not None
    assert loaded.site.url == "https://example.org/b/"
    assert loaded.feeds.limit == 10


def test_the_ignored_keys_line_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = _site(tmp_path)
    with caplog.at_level(logging.WARNING, logger="syndicate"):
        result = _cli("check", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert result.output.count("Jekyll keys syndicate ignores") == 1


def test_jekyll_feed_urls_follow_edits_between_publishes(tmp_path: Path) -> None:
    """A publish that remakes some feeds and reuses the others (read back from the live
    tree, as after a restart) keeps every jekyll-feed URL on its feed's Atom bytes."""
    config_path = _site(tmp_path)
    assert _cli("republish", "--config", str(config_path)).exit_code == 0
    live = load_config(config_path).output_dir
    pairs = {
        "atom.xml": "feed.atom",
        "feed/news.xml": "category/news.atom",
        "feed/by_tag/python.xml": "tag/python.atom",
    }
    before = {alias: (live / alias).read_bytes() for alias in pairs}
    ordinal = tmp_path / "_posts/2024/2024-02-01-ordinal-post.md"
    ordinal.write_text(ordinal.read_text().replace("Body.", "Edited body."), encoding="utf-8")
    result = _cli("republish", "--config", str(config_path))
    assert result.exit_code == 0, result.output
    for alias, atom in pairs.items():
        assert (live / alias).read_bytes() == (live / atom).read_bytes()
    assert (live / "atom.xml").read_bytes() != before["atom.xml"]  # the edit is in it
    # Not in the news or python feeds: reused as they were.
    assert (live / "feed/news.xml").read_bytes() == before["feed/news.xml"]
    assert b"Edited body." in (live / "feed/Travel.xml").read_bytes()


def test_jekyll_feed_paths_for_tags_only_and_a_path() -> None:
    feeds = JekyllFeeds(tags=True, tags_only=("python", "c_lang"), tags_path="/alt/tags/")
    assert feeds.path_of("tag", "python") == "/alt/tags/python.xml"
    assert feeds.path_of("tag", "c_lang") == "/alt/tags/c_lang.xml"
    assert feeds.path_of("tag", "rust") is None  # not in only
    assert feeds.path_of("category", "news") is None  # not in feed.categories
    assert feeds.path_of("site", None) == "/feed.xml"
    # Two feeds on one path: the first keeps it (the site's, then categories, then tags).
    clash = JekyllFeeds(site_path="/feed/news.xml", categories=("news",))
    found = clash.feed_aliases(
        [
            ("/feed.rss", "site", None, "/feed.atom"),
            ("/category/news.rss", "category", "news", "/category/news.atom"),
        ]
    )
    assert found == {"/feed.rss": ("/feed/news.xml",)}


def test_the_feeds_of_a_jekyll_site_validate(tmp_path: Path) -> None:
    """The W3C validator finds nothing in the Jekyll site's feeds (skipped where it is not
    set up). jekyll-feed's URLs carry the Atom feeds' bytes, whose self link names the
    Atom feed: there it warns SelfDoesntMatchLocation, as the README says."""
    config = _site(tmp_path / "site")
    out = tmp_path / "out"
    assert _cli("build", "--config", str(config), "--out", str(out)).exit_code == 0
    results = validate(out, SITE)
    complaints = [(result["feed"], message) for result in results for message in result["messages"]]
    assert complaints == []
    assert any(result["feed"] == "feed.atom" for result in results)
