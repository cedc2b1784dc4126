"""Per-author feeds (issue 20): ``/author/<slug>.rss|.atom|.json`` for every author of
``authors:`` named by a post, with that author's posts only and the author's name, uri
and email on the feed; listed in the OPML and on the home page; slugs kept in the store.
Built through the CLI and the publisher on real files and a real SQLite store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import feedparser
from click.testing import CliRunner
from lxml import etree

from syndicate.cli import main
from syndicate.publisher import Publisher, open_publisher
from tests.conftest import ConfigFactory
from tests.servers import FakeClock
from tests.test_json_feed import read_json
from tests.validator import validate

ATOM = "{http://www.w3.org/2005/Atom}"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

CONFIG = """site:
  title: Example News
  url: https://example.org/
  language: en
  author: {{name: Site Desk, email: desk@example.org}}
posts_dir: posts
authors:
  alice: {{name: {alice}, email: alice@example.org, uri: 'https://example.org/alice'}}
  bob: {{name: Bob Jones, email: bob@example.org, uri: 'https://example.org/bob'}}
"""

POST = """---
title: {title}
date: {date}
{author}categories: [News]
---
Text of {title}.
"""


def write_site(root: Path, alice: str = "Alice Smith") -> Path:
    posts = root / "posts"
    posts.mkdir(exist_ok=True)
    for name, title, date, author in (
        ("2024-04-01-a1.md", "Alice one", "2024-04-01 10:00:00", "author: alice\n"),
        ("2024-04-02-b1.md", "Bob one", "2024-04-02 10:00:00", "author: bob\n"),
        ("2024-04-03-a2.md", "Alice two", "2024-04-03 10:00:00", "author: alice\n"),
        ("2024-04-04-none.md", "Nobody", "2024-04-04 10:00:00", ""),
    ):
        (posts / name).write_text(
            POST.format(title=title, date=date, author=author), encoding="utf-8"
        )
    config = root / "config.yaml"
    config.write_text(CONFIG.format(alice=alice), encoding="utf-8")
    return config


def build(config: Path, out: Path) -> None:
    result = CliRunner().invoke(main, ["build", "--config", str(config), "--out", str(out)])
    assert result.exit_code == 0, result.output


def parse(body: bytes) -> feedparser.FeedParserDict:
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


def test_each_named_author_has_a_feed_with_their_posts_and_their_name(tmp_path: Path) -> None:
    config = write_site(tmp_path)
    out = tmp_path / "out"
    build(config, out)
    assert sorted(p.name for p in (out / "author").iterdir() if p.suffix != ".gz") == [
        "alice.atom",
        "alice.json",
        "alice.rss",
        "bob.atom",
        "bob.json",
        "bob.rss",
    ]
    expected = {
        "alice": ("Alice Smith", "alice@example.org", "https://example.org/alice"),
        "bob": ("Bob Jones", "bob@example.org", "https://example.org/bob"),
    }
    titles = {"alice": ["Alice two", "Alice one"], "bob": ["Bob one"]}
    for slug, (name, email, uri) in expected.items():
        rss = parse((out / "author" / f"{slug}.rss").read_bytes())
        atom = parse((out / "author" / f"{slug}.atom").read_bytes())
        assert [e.title for e in rss.entries] == titles[slug]
        assert [e.title for e in atom.entries] == titles[slug]
        assert atom.feed.title == f"Example News — Author: {name}"
        assert atom.feed.author_detail == {"name": name, "email": email, "href": uri}
        # lxml: the channel's own author element, not the entries'.
        root = etree.parse(out / "author" / f"{slug}.atom").getroot()
        author = root.find(f"{ATOM}author")
        assert author is not None
        assert [author.findtext(f"{ATOM}{k}") for k in ("name", "email", "uri")] == [
            name,
            email,
            uri,
        ]
        # RSS 2.0 has no channel author beyond managingEditor (a contact for editorial
        # content, which the site feed does not write either): the channel names the
        # author in its title, and every item credits them.
        channel = etree.parse(out / "author" / f"{slug}.rss").getroot().find("channel")
        assert channel is not None
        assert channel.findtext("title") == f"Example News — Author: {name}"
        assert [i.findtext("author") for i in channel.iter("item")] == [f"{email} ({name})"] * len(
            titles[slug]
        )
        assert rss.feed.title == f"Example News — Author: {name}"
        data = read_json((out / "author" / f"{slug}.json").read_bytes())
        assert data["authors"] == [{"name": name, "url": uri}]
        assert [i["title"] for i in data["items"]] == titles[slug]
        assert data["feed_url"] == f"https://example.org/author/{slug}.json"
    # The site feed keeps the site's author and every post.
    site = parse((out / "feed.atom").read_bytes())
    assert site.feed.author_detail == {"name": "Site Desk", "email": "desk@example.org"}
    assert len(site.entries) == 4

    opml = etree.parse(out / "feeds.opml").getroot()
    folder = opml.find("body/outline[@text='Authors']")
    assert folder is not None
    urls = [o.get("xmlUrl") for o in folder.iter("outline") if o.get("xmlUrl")]
    assert urls == [
        f"https://example.org/author/{slug}.{ext}"
        for slug in ("alice", "bob")
        for ext in ("rss", "atom", "json")
    ]
    index = (out / "index.html").read_text("utf-8")
    assert "Authors" in index and "Alice Smith" in index and "Bob Jones" in index
    for slug in ("alice", "bob"):
        assert f'href="https://example.org/author/{slug}.atom"' in index

    results = validate(out, "https://example.org/")
    author_results = [r for r in results if str(r["feed"]).startswith("author/")]
    assert len(author_results) == 4
    assert [(r["feed"], r["messages"]) for r in results if r["messages"]] == []


def test_author_feed_slug_stays_when_the_display_name_changes(
    tmp_path: Path, make_config: ConfigFactory
) -> None:
    write_site(tmp_path)
    people = {
        "alice": {"name": "Alice Smith", "email": "alice@example.org"},
        "bob": {"name": "Bob Jones"},
    }
    storage = {"url": "sqlite:///state/syndicate.db"}
    first = make_config(authors=people, storage=storage)
    pub = open_publisher(first, clock=FakeClock(NOW))
    site = pub.publish().site
    assert pub.store is not None
    slugs = {(r.kind, r.name): r.slug for r in pub.store.slugs().values() if r.kind == "author"}
    pub.store.close()
    assert slugs == {("author", "alice"): "alice", ("author", "bob"): "bob"}
    assert {f.name: f.rss_path for f in site.feeds if f.kind == "author"} == {
        "alice": "/author/alice.rss",
        "bob": "/author/bob.rss",
    }
    renamed = {**people, "alice": {"name": "Alice Brown", "email": "alice@example.org"}}
    second = make_config(authors=renamed, storage=storage)
    pub = open_publisher(second, clock=FakeClock(NOW))
    site = pub.publish().site
    assert pub.store is not None
    pub.store.close()
    feeds = {f.name: f for f in site.feeds if f.kind == "author"}
    assert feeds["alice"].rss_path == "/author/alice.rss"
    atom = parse(site.documents[feeds["alice"].atom_path].body)
    assert atom.feed.author_detail["name"] == "Alice Brown"
    assert atom.feed.title == "Example News — Author: Alice Brown"
    assert [e.title for e in atom.entries] == ["Alice two", "Alice one"]
    assert all(e.author_detail.name == "Alice Brown" for e in atom.entries)


def test_posts_without_a_named_author_make_no_author_feed(
    tmp_path: Path, make_config: ConfigFactory
) -> None:
    posts = tmp_path / "posts"
    (posts / "2024-01-01-x.md").write_text(
        POST.format(title="Free", date="2024-01-01", author="author: Someone Else\n"),
        encoding="utf-8",
    )
    (posts / "2024-01-02-y.md").write_text(
        POST.format(title="Default", date="2024-01-02", author=""), encoding="utf-8"
    )
    site = Publisher(make_config(site={"author": "Desk"})).build().site
    assert [f for f in site.feeds if f.kind == "author"] == []
