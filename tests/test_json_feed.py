"""JSON Feed 1.1 (issue 20): a ``.json`` twin beside every Atom feed, written by ``build``,
published in the live tree, served as ``application/feed+json`` on the hot path, listed
in the OPML and the index page, advertised where the XML feeds are, and rebuilt (and
notified) only when its entries change.

Every JSON Feed is checked against the JSON Feed 1.1 JSON Schema of the npm package
``jsonfeed-schema`` 0.5.0 (``tests/data/jsonfeed/schema-v1.1.json``, fetched with
``npm pack jsonfeed-schema@0.5.0``; ISC license, ``tests/data/jsonfeed/LICENSE``), and
read with feedparser as a reader would.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
import jsonschema
import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from lxml import etree

from syndicate.cli import main
from syndicate.config import Config
from syndicate.feeds import Site, build_site
from syndicate.publisher import Publisher, open_publisher
from syndicate.site.manifest import load_live, read_manifest
from syndicate.web import create_app
from syndicate.web.api import EXTENSION as API_EXTENSION
from tests.conftest import ConfigFactory
from tests.servers import FakeClock, HubServer

SCHEMA = json.loads(
    (Path(__file__).parent / "data" / "jsonfeed" / "schema-v1.1.json").read_text("utf-8")
)
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

POST = """---
title: {title_json}
date: {date}
{extra}categories: [{category}]
tags: [{tags}]
---
{body}
"""


def write_post(
    posts_dir: Path,
    name: str,
    title: str,
    date: str,
    category: str = "News",
    tags: str = "belarus",
    body: str = "Some *text* & more.",
    extra: str = "",
) -> Path:
    path = posts_dir / name
    path.write_text(
        POST.format(
            title_json=json.dumps(title),
            date=date,
            category=category,
            tags=tags,
            body=body,
            extra=extra,
        ),
        encoding="utf-8",
    )
    return path


def write_sample(posts_dir: Path, assets: Path | None = None) -> None:
    write_post(
        posts_dir,
        "2024-04-01-one.md",
        "One: Ünïcode “quotes”",
        "2024-04-01 10:00:00",
        tags="belarus, europe",
        extra="author: badely\nexcerpt: A short <em>summary</em> of one.\n",
    )
    write_post(
        posts_dir,
        "2024-04-02-two.md",
        "Two & two",
        "2024-04-02 10:00:00",
        category="Culture",
        tags="europe",
        extra="image: /img/cat.png\nlang: be\n",
    )
    write_post(posts_dir, "2024-04-03-three.md", "Three", "2024-04-03 10:00:00", tags="minsk")


@pytest.fixture
def sample_config(make_config: ConfigFactory, posts_dir: Path) -> Config:
    write_sample(posts_dir)
    return make_config(
        site={"author": {"name": "Site Owner", "uri": "https://example.org/me"}},
        websub={"hubs": ["https://hub.example.net/"]},
    )


def built(config: Config) -> Site:
    return Publisher(config).build().site


def read_json(body: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(body.decode("utf-8"))
    jsonschema.validate(data, SCHEMA, format_checker=jsonschema.FormatChecker())
    return data


def read_with_reader(root: Path, files: list[Path]) -> dict[str, list[tuple[str, str, str]]]:
    """What the ``reader`` library (its JSON Feed parser) sees in each file: (id, title,
    link) of every entry, in the feed's order. feedparser 6.0 does not read JSON Feed."""
    from reader import make_reader

    seen: dict[str, list[tuple[str, str, str]]] = {}
    with make_reader(":memory:", feed_root=str(root)) as reader:
        for rel in files:
            reader.add_feed("file:" + rel.as_posix())
        reader.update_feeds()
        for rel in files:
            feed = reader.get_feed("file:" + rel.as_posix())
            assert feed.last_exception is None, (rel, feed.last_exception)
            assert feed.version == "json11"
            entries = {e.id: e for e in reader.get_entries(feed=feed)}
            data = json.loads((root / rel).read_bytes())
            seen[rel.as_posix()] = [
                (e.id, e.title or "", e.link or "")
                for e in (entries[item["id"]] for item in data["items"])
            ]
            assert len(entries) == len(data["items"])
    return seen


def parse(body: bytes) -> Any:
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


# -- the documents ------------------------------------------------------------------------


def test_build_writes_a_valid_json_feed_beside_every_atom_feed(
    sample_config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        "site:\n  title: Example News\n  url: https://example.org/\n  language: en\n"
        "  author: {name: Site Owner, uri: 'https://example.org/me'}\n"
        "posts_dir: posts\nwebsub:\n  hubs: ['https://hub.example.net/']\n"
        "authors:\n  badely: {name: Badely, email: badely@example.org}\n",
        encoding="utf-8",
    )
    outs = []
    for name in ("public", "again"):
        result = CliRunner().invoke(main, ["build", "--config", str(config_file), "--out", name])
        assert result.exit_code == 0, result.output
        outs.append(tmp_path / name)
    atoms = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*.atom"))
    jsons = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*.json"))
    assert len(atoms) == 7  # site, 2 categories, 3 tags, 1 author
    assert jsons == [p.with_suffix(".json") for p in atoms]
    for rel in jsons:
        body = (outs[0] / rel).read_bytes()
        assert body == (outs[1] / rel).read_bytes()  # built twice: the same bytes
        data = read_json(body)
        assert data["version"] == "https://jsonfeed.org/version/1.1"
        assert data["feed_url"] == "https://example.org/" + rel.as_posix()
        assert data["home_page_url"] == "https://example.org/"
        assert data["hubs"] == [{"type": "WebSub", "url": "https://hub.example.net/"}]
        assert data["language"] == "en"
        owner = {"name": "Site Owner", "url": "https://example.org/me"}
        if rel.parts[0] == "author":  # an author's feed names its author
            owner = {"name": "Badely", "url": "mailto:badely@example.org"}
        assert data["authors"] == [owner]
        assert data["items"]
    site_feed = (outs[0] / "feed.json").read_bytes()
    assert "One: Ünïcode “quotes”".encode() in site_feed  # UTF-8, not \u escapes
    seen = read_with_reader(outs[0], jsons)
    for rel in jsons:
        data = read_json((outs[0] / rel).read_bytes())
        assert seen[rel.as_posix()] == [
            (item["id"], item["title"], item["url"]) for item in data["items"]
        ]


def test_json_feed_says_what_its_atom_twin_says(sample_config: Config) -> None:
    site = built(sample_config)
    for info in site.feeds:
        atom = parse(site.documents[info.atom_path].body)
        data = read_json(site.documents[info.json_path].body)
        assert data["title"] == atom.feed.title
        assert data["description"] == atom.feed.subtitle
        assert [i["id"] for i in data["items"]] == [e.id for e in atom.entries]
        assert [i["title"] for i in data["items"]] == [e.title for e in atom.entries]
        assert [i["url"] for i in data["items"]] == [e.link for e in atom.entries]
        for item, entry in zip(data["items"], atom.entries, strict=True):
            assert item["id"] == entry.id
            published = datetime.fromisoformat(item["date_published"])
            modified = datetime.fromisoformat(item["date_modified"])
            assert published.utctimetuple()[:6] == tuple(entry.published_parsed[:6])
            assert modified.utctimetuple()[:6] == tuple(entry.updated_parsed[:6])
            assert item["content_html"] == entry.content[0].value
            assert [a["name"] for a in item["authors"]] == [entry.author_detail.name]
            assert item["tags"] == list(dict.fromkeys(t.term for t in entry.tags))
            enclosures = [link.href for link in entry.links if link.rel == "enclosure"]
            assert [a["url"] for a in item.get("attachments", [])] == enclosures
            if enclosures:
                assert item["image"] == enclosures[0]
    two = next(
        item
        for item in read_json(site.documents["/feed.json"].body)["items"]
        if item["title"] == "Two & two"
    )
    assert two["image"] == "https://example.org/img/cat.png"
    assert two["attachments"] == [{"url": two["image"], "mime_type": "image/png"}]
    assert two["language"] == "be"
    assert two["authors"] == [{"name": "Site Owner", "url": "https://example.org/me"}]
    one = next(
        item
        for item in read_json(site.documents["/feed.json"].body)["items"]
        if item["title"].startswith("One")
    )
    assert one["summary"] == "A short summary of one."  # JSON Feed's summary is plain text
    assert one["authors"] == [{"name": "Badely", "url": "https://example.org/about"}]
    assert one["tags"] == ["News", "belarus", "europe"]


def test_rss_atom_and_json_of_a_feed_agree_on_ids_and_order(sample_config: Config) -> None:
    site = built(sample_config)
    for info in site.feeds:
        rss, atom, json_feed = (site.documents[path].body for path in info.paths)
        ids = [
            [e.id for e in parse(rss).entries],
            [e.id for e in parse(atom).entries],
            [item["id"] for item in read_json(json_feed)["items"]],
        ]
        assert ids[0] == ids[1] == ids[2] == list(info.entry_ids)
        assert ids[0]


def test_a_site_without_posts_has_a_valid_empty_json_feed(config: Config) -> None:
    site = build_site([], config, NOW).site
    data = read_json(site.documents["/feed.json"].body)
    assert data["items"] == []
    assert site.documents["/feed.json"].media_type == "application/feed+json; charset=utf-8"


def test_listings_and_pages_name_every_json_feed(sample_config: Config) -> None:
    site = built(sample_config)
    opml = etree.fromstring(site.documents["/feeds.opml"].body)
    listed = {o.get("xmlUrl") for o in opml.iter("outline") if o.get("xmlUrl")}
    index = etree.fromstring(site.documents["/"].body, etree.HTMLParser())
    alternates = {
        link.get("href")
        for link in index.iter("link")
        if link.get("rel") == "alternate" and link.get("type") == "application/feed+json"
    }
    anchors = {a.get("href") for a in index.iter("a")}
    for info in site.feeds:
        url = "https://example.org/" + info.json_path.lstrip("/")
        assert url in listed
        assert url in alternates
        assert url in anchors
    # The OPML still lists RSS and Atom as before: three outlines per feed now.
    assert len(listed) == 3 * len(site.feeds)


# -- the live tree and the incremental path ------------------------------------------------


@pytest.fixture
def publisher(make_config: ConfigFactory, posts_dir: Path) -> Iterator[tuple[Publisher, HubServer]]:
    write_sample(posts_dir)
    with HubServer() as hub:
        config = make_config(
            websub={"hubs": [hub.url]}, storage={"url": "sqlite:///state/syndicate.db"}
        )
        pub = open_publisher(config, clock=FakeClock(NOW))
        yield pub, hub
        assert pub.store is not None
        pub.store.close()


def test_an_edit_changes_and_notifies_only_the_json_feeds_it_changes(
    publisher: tuple[Publisher, HubServer], posts_dir: Path
) -> None:
    pub, hub = publisher
    first = pub.publish()
    assert {"/feed.json", "/tag/minsk.json", "/category/culture.json"} <= set(first.changed_feeds)
    manifest = read_manifest(pub.config.output_dir)
    assert manifest is not None
    assert manifest["documents"]["/tag/europe.json"]["media_type"].startswith(
        "application/feed+json"
    )
    live = load_live(pub.config.output_dir)
    assert live is not None
    before = {p: live.documents[p].etag for p in live.documents}
    assert pub.outbox is not None
    pub.outbox.deliver_due()
    hub.requests.clear()

    write_post(
        posts_dir, "2024-04-03-three.md", "Three, edited", "2024-04-03 10:00:00", tags="minsk"
    )
    result = pub.publish()
    expected = {
        f"{path}.{ext}"
        for path in ("/feed", "/category/news", "/tag/minsk")
        for ext in ("rss", "atom", "json")
    }
    assert set(result.changed_feeds) == expected
    pub.outbox.deliver_due()
    assert sorted(hub.publishes) == sorted("https://example.org/" + p[1:] for p in expected)
    live = load_live(pub.config.output_dir)
    assert live is not None
    for path in ("/tag/europe.json", "/tag/belarus.json", "/category/culture.json"):
        assert live.documents[path].etag == before[path]
    titles = [i["title"] for i in read_json(live.documents["/tag/minsk.json"].body)["items"]]
    assert titles == ["Three, edited"]


def test_incremental_json_feeds_equal_a_full_build(sample_config: Config, posts_dir: Path) -> None:
    pub = Publisher(sample_config)
    first = pub.build()
    write_post(posts_dir, "2024-04-04-four.md", "Four", "2024-04-04 10:00:00", tags="europe")
    again = pub.build()
    full = Publisher(sample_config).build()
    assert again.site.documents.keys() == full.site.documents.keys()
    for path, doc in full.site.documents.items():
        assert again.site.documents[path].body == doc.body, path
    assert (
        again.site.documents["/tag/minsk.json"].body == first.site.documents["/tag/minsk.json"].body
    )


# -- serving ---------------------------------------------------------------------------------


@pytest.fixture
def json_client(sample_config: Config) -> Iterator[FlaskClient]:
    app = create_app(sample_config, reload_interval=None)
    yield app.test_client()
    app.extensions[API_EXTENSION].close()


def test_json_feed_is_served_with_conditional_get_and_gzip(json_client: FlaskClient) -> None:
    first = json_client.get("/tag/europe.json")
    assert first.status_code == 200
    assert first.headers["Content-Type"] == "application/feed+json; charset=utf-8"
    etag = first.headers["ETag"]
    assert first.headers["Last-Modified"] and first.headers["Cache-Control"]
    links = first.headers.getlist("Link")
    assert '<https://example.org/tag/europe.json>; rel="self"' in links
    assert '<https://hub.example.net/>; rel="hub"' in links
    read_json(first.data)
    again = json_client.get("/tag/europe.json", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    zipped = json_client.get("/tag/europe.json", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == first.data
    head = json_client.head("/feed.json")
    assert head.status_code == 200 and head.data == b""


def test_a_browser_gets_the_json_feed_itself_and_finds_it_on_the_feed_page(
    json_client: FlaskClient,
) -> None:
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    got = json_client.get("/feed.json", headers=browser)
    assert got.headers["Content-Type"] == "application/feed+json; charset=utf-8"
    page = json_client.get("/feed.atom", headers=browser)
    assert page.headers["Content-Type"].startswith("text/html")
    html = etree.fromstring(page.data, etree.HTMLParser())
    types = {
        link.get("type"): link.get("href")
        for link in html.iter("link")
        if link.get("rel") == "alternate"
    }
    assert types["application/feed+json"] == "https://example.org/feed.json"
