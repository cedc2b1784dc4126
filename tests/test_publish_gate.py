"""The publish gate (issue 21): each changed document is checked before the live tree is
replaced; one that fails keeps its last good version, is shown by ``status`` (CLI and
``/api/status``) and the log, and its feed is not notified.

The writers are correct, so a broken document is made on purpose: the real publish path
with one renderer monkeypatched (fault injection), checked end to end with a real SQLite
store, the real outbox and a real WebSub hub on 127.0.0.1; and each check at its own
level, on hand-made documents. One real case needs no injection: a post too large for
``feeds.max_bytes`` even as its summary.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest
from click.testing import CliRunner, Result
from lxml import etree

from syndicate.cli import main
from syndicate.config import MANIFEST, Config
from syndicate.feeds import Tombstones, _build, _formats, build_site
from syndicate.posts import load_posts
from syndicate.publisher import Publisher, open_publisher
from syndicate.publisher.gate import (
    PARALLEL_FROM,
    check_document,
    check_site,
    quick_atom_pass,
    quick_rss_pass,
)
from syndicate.publisher.report import status_json
from syndicate.site.manifest import read_manifest
from syndicate.web import create_app
from syndicate.web.api import TOKEN_ENV

from .conftest import ConfigFactory
from .servers import FakeClock, HubServer
from .test_admin import TOKEN, html, sign_in
from .test_api import close_api

SITE = "https://example.org/"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
RSS = "application/rss+xml; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
JSON_TYPE = "application/feed+json; charset=utf-8"
OPML = "text/x-opml; charset=utf-8"

POST = """---
title: {title}
date: {date}
tags: [alpha]
---

{body}
"""


def write_post(
    posts_dir: Path, name: str, title: str, date: str = "2024-04-01 10:00:00", body: str = "Text."
) -> Path:
    path = posts_dir / name
    path.write_text(POST.format(title=title, date=date, body=body), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- each check

GOOD_RSS = """<?xml version='1.0' encoding='UTF-8'?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>
<title>T</title><link>https://example.org/</link><description>D</description>
<atom:link href="https://example.org/feed.rss" rel="self" type="application/rss+xml"/>
<lastBuildDate>Mon, 01 Apr 2024 10:00:00 +0000</lastBuildDate>
<item><title>A</title><link>https://example.org/a</link><guid isPermaLink="false">a</guid>
<pubDate>Mon, 01 Apr 2024 10:00:00 +0000</pubDate></item>
<item><title>B</title><link>https://example.org/b</link><guid isPermaLink="false">b</guid>
<pubDate>Mon, 01 Apr 2024 09:00:00 +0000</pubDate></item>
</channel></rss>"""

GOOD_ATOM = """<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns="http://www.w3.org/2005/Atom"><id>https://example.org/feed.atom</id>
<title>T</title><updated>2024-04-01T10:00:00+00:00</updated>
<link href="https://example.org/feed.atom" rel="self"/>
<entry><id>a</id><title>A</title><updated>2024-04-01T10:00:00+00:00</updated>
<link href="https://example.org/a" rel="alternate"/>
<published>2024-04-01T10:00:00+00:00</published></entry>
<entry><id>b</id><title>B</title><updated>2024-04-01T09:00:00Z</updated></entry>
</feed>"""

GOOD_JSON = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "T",
    "home_page_url": "https://example.org/",
    "feed_url": "https://example.org/feed.json",
    "items": [
        {"id": "a", "url": "https://example.org/a", "date_published": "2024-04-01T10:00:00Z"},
        {"id": "b", "date_modified": "2024-04-01T09:00:00+00:00"},
    ],
}

GOOD_OPML = """<?xml version='1.0' encoding='UTF-8'?>
<opml version="2.0"><head><title>T</title></head><body>
<outline text="T" type="rss" xmlUrl="https://example.org/feed.rss"/></body></opml>"""


def json_feed(change: Callable[[dict[str, Any]], None]) -> bytes:
    data = json.loads(json.dumps(GOOD_JSON))
    change(data)
    return json.dumps(data).encode()


def test_the_hand_made_documents_pass() -> None:
    assert check_document(RSS, GOOD_RSS.encode(), NOW) is None
    assert check_document(ATOM_TYPE, GOOD_ATOM.encode(), NOW) is None
    assert check_document(JSON_TYPE, json.dumps(GOOD_JSON).encode(), NOW) is None
    assert check_document(OPML, GOOD_OPML.encode(), NOW) is None


BAD = [
    # well-formed
    (RSS, GOOD_RSS.replace("</channel>", ""), "not well-formed XML"),
    (ATOM_TYPE, GOOD_ATOM.replace("<title>A</title>", "<title>A & B</title>"), "not well-formed"),
    (OPML, GOOD_OPML.replace("</body>", ""), "not well-formed XML"),
    # required elements
    (RSS, GOOD_RSS.replace("<title>T</title>", ""), "channel has no title"),
    (RSS, GOOD_RSS.replace("<link>https://example.org/</link>", ""), "channel has no link"),
    (RSS, GOOD_RSS.replace("<description>D</description>", ""), "no description"),
    (RSS, GOOD_RSS.replace('<guid isPermaLink="false">b</guid>', ""), "'B' has no guid"),
    (ATOM_TYPE, GOOD_ATOM.replace("<id>https://example.org/feed.atom</id>", ""), "no id"),
    (ATOM_TYPE, GOOD_ATOM.replace("<title>T</title>", ""), "feed has no title"),
    (
        ATOM_TYPE,
        GOOD_ATOM.replace("<updated>2024-04-01T10:00:00+00:00</updated>\n<link", "<link"),
        "feed has no updated",
    ),  # noqa: E501
    (ATOM_TYPE, GOOD_ATOM.replace("<id>b</id>", ""), "entry 'B' has no id"),
    (ATOM_TYPE, GOOD_ATOM.replace("<title>B</title>", ""), "entry 'b' has no title"),
    (
        ATOM_TYPE,
        GOOD_ATOM.replace("<updated>2024-04-01T09:00:00Z</updated>", ""),
        "entry 'b' has no updated",
    ),  # noqa: E501
    (RSS, GOOD_RSS.replace("<rss", "<rdf").replace("</rss>", "</rdf>"), "not rss"),
    # absolute URLs
    (
        RSS,
        GOOD_RSS.replace("<link>https://example.org/</link>", "<link>/</link>"),
        "channel link is not an absolute URL",
    ),  # noqa: E501
    (
        RSS,
        GOOD_RSS.replace('href="https://example.org/feed.rss"', 'href="feed.rss"'),
        "rel='self' is not an absolute URL",
    ),  # noqa: E501
    (RSS, GOOD_RSS.replace("https://example.org/b<", "/b<"), "link of item 'b'"),
    (
        ATOM_TYPE,
        GOOD_ATOM.replace('href="https://example.org/feed.atom"', 'href="/feed.atom"'),
        "feed link rel='self' is not an absolute URL",
    ),  # noqa: E501
    (
        ATOM_TYPE,
        GOOD_ATOM.replace('href="https://example.org/a"', 'href="a.html"'),
        "entry 'a' link rel='alternate'",
    ),  # noqa: E501
    (
        OPML,
        GOOD_OPML.replace('xmlUrl="https://example.org/feed.rss"', 'xmlUrl="/feed.rss"'),
        "xmlUrl",
    ),  # noqa: E501
    # unique ids
    (RSS, GOOD_RSS.replace(">b</guid>", ">a</guid>"), "guid 'a' appears twice"),
    (ATOM_TYPE, GOOD_ATOM.replace("<id>b</id>", "<id>a</id>"), "entry id 'a' appears twice"),
    # dates
    (
        RSS,
        GOOD_RSS.replace("Mon, 01 Apr 2024 09:00:00", "Wed, 01 Apr 2026 09:00:00"),
        "pubDate of item 'b' Wed, 01 Apr 2026 09:00:00 +0000 is in the future",
    ),  # noqa: E501
    (
        RSS,
        GOOD_RSS.replace("<lastBuildDate>Mon, 01 Apr 2024", "<lastBuildDate>Fri, 03 May 2024"),
        "channel lastBuildDate",
    ),  # noqa: E501
    (RSS, GOOD_RSS.replace("Mon, 01 Apr 2024 09:00:00 +0000", "someday"), "is not a date"),
    (
        ATOM_TYPE,
        GOOD_ATOM.replace("2024-04-01T09:00:00Z", "2024-05-03T12:00:00Z"),
        "entry 'b' updated 2024-05-03T12:00:00Z is in the future",
    ),  # noqa: E501
    (ATOM_TYPE, GOOD_ATOM.replace("<published>2024", "<published>2025"), "entry 'a' published"),  # noqa: E501
]


@pytest.mark.parametrize(("media_type", "body", "problem"), BAD)
def test_each_check_finds_its_problem(media_type: str, body: str, problem: str) -> None:
    found = check_document(media_type, body.encode(), NOW)
    assert found is not None and problem in found, found


# The bad documents the fast paths see: well-formed RSS and Atom (OPML has none).
QUICK_BAD = [case for case in BAD if case[0] in (RSS, ATOM_TYPE) and "well-formed" not in case[2]]


@pytest.mark.parametrize(("media_type", "body", "problem"), QUICK_BAD)
def test_oracle_gate_quick_checks_never_pass_what_the_walk_fails(
    media_type: str, body: str, problem: str
) -> None:
    """The fast path (compiled XPath over the whole document) may only say "passes" of a
    document the plain walk passes: each bad document makes it look closer."""
    quick = quick_rss_pass if media_type == RSS else quick_atom_pass
    assert quick(etree.fromstring(body.encode()), NOW) is False


def test_oracle_gate_quick_checks_pass_what_the_walk_passes(
    make_config: ConfigFactory, posts_dir: Path
) -> None:
    assert quick_rss_pass(etree.fromstring(GOOD_RSS.encode()), NOW)
    assert quick_atom_pass(etree.fromstring(GOOD_ATOM.encode()), NOW)
    for i in range(4):
        write_post(posts_dir, f"2024-04-0{i + 1}-p{i}.md", f"Post {i}", f"2024-04-0{i + 1} 10:00")
    config = make_config(feeds={"archive_page_size": 2})
    posts, _ = load_posts(config)
    for path, doc in build_site(posts, config, NOW).site.documents.items():
        if "xml" in doc.media_type and "opml" not in doc.media_type:
            quick = quick_rss_pass if "rss" in doc.media_type else quick_atom_pass
            assert quick(etree.fromstring(doc.body), NOW), path


def test_a_date_within_a_day_passes() -> None:
    """Clocks drift and zones are written wrongly: less than a day ahead is no problem."""
    body = GOOD_ATOM.replace("2024-04-01T09:00:00Z", "2024-05-02T11:00:00Z")
    assert check_document(ATOM_TYPE, body.encode(), NOW) is None


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d.pop("version"), "version is None"),
        (lambda d: d.update(version="1.1"), "version is '1.1'"),
        (lambda d: d.pop("title"), "no title"),
        (lambda d: d.pop("items"), "no items list"),
        (lambda d: d["items"][1].pop("id"), "item without an id"),
        (lambda d: d["items"][1].update(id="a"), "item id 'a' appears twice"),
        (lambda d: d.update(feed_url="feed.json"), "feed_url is not an absolute URL"),
        (lambda d: d["items"][0].update(url="/a"), "url of item 'a'"),
        (lambda d: d["items"][0].update(date_published="2030-01-01T00:00:00Z"), "in the future"),
        (lambda d: d["items"][1].update(date_modified="soon"), "is not a date"),
    ],
)
def test_each_json_feed_check(change: Callable[[dict[str, Any]], None], problem: str) -> None:
    found = check_document(JSON_TYPE, json_feed(change), NOW)
    assert found is not None and problem in found, found


def test_json_that_is_not_json() -> None:
    found = check_document(JSON_TYPE, b'{"version": ', NOW)
    assert found is not None and found.startswith("not valid JSON"), found


def test_size_is_checked_when_a_limit_is_given() -> None:
    body = GOOD_ATOM.encode()
    assert check_document(ATOM_TYPE, body, NOW, max_bytes=len(body)) is None
    found = check_document(ATOM_TYPE, body, NOW, max_bytes=len(body) - 1)
    assert found == f"{len(body)} bytes, over feeds.max_bytes ({len(body) - 1})"


def test_every_document_syndicate_writes_passes(
    make_config: ConfigFactory, posts_dir: Path
) -> None:
    """The gate must never hold back what the writers make: every kind of document of a
    real site (archive pages, tombstones, the OPML and the index page) passes."""
    for i in range(6):
        day = f"2024-0{i % 3 + 1}-0{i + 1}"
        write_post(posts_dir, f"{day}-p{i}.md", f"Post {i} <&>", f"{day} 10:00:00")
    config = make_config(feeds={"archive_page_size": 2, "limit": 2})
    posts, _ = load_posts(config)
    first = build_site(posts, config, NOW, tombstones=Tombstones(()))
    newest = max(posts, key=lambda p: p.date)
    rest = [p for p in posts if p is not newest]
    site = build_site(rest, config, NOW, previous=first, tombstones=Tombstones(())).site
    assert any("/archive/" in path for path in site.documents)
    assert b"deleted-entry" in site.documents["/feed.atom"].body
    for path, doc in site.documents.items():
        assert check_document(doc.media_type, doc.body, NOW) is None, path


# --------------------------------------------------------------------------- end to end


@pytest.fixture
def gate_config(make_config: ConfigFactory, hub: HubServer, tmp_path: Path) -> Config:
    config = make_config(
        websub={"hubs": [hub.url]},
        storage={"url": "sqlite:///state/syndicate.db"},
        notify={"timeout": 2, "max_attempts": 1},
    )
    (tmp_path / "config.yaml").write_text(
        f"site:\n  title: Example News\n  url: {SITE}\n  description: News from Example\n"
        f"posts_dir: posts\nwebsub:\n  hubs: [{hub.url}]\n"
        "storage:\n  url: sqlite:///state/syndicate.db\n",
        encoding="utf-8",
    )
    return config


def publisher_of(config: Config, clock: FakeClock) -> Publisher:
    return open_publisher(config, clock)


def deliver(pub: Publisher) -> None:
    assert pub.outbox is not None
    pub.outbox.deliver_due()


def broken_site_atom(monkeypatch: pytest.MonkeyPatch, url: str = SITE + "feed.atom") -> None:
    """Fault injection: the Atom document of the feed at ``url`` comes out not
    well-formed (an unclosed element), as a bug in a writer would make it."""
    real = _formats.render_feed

    def render(meta, entries, config, fmt, deleted=()):  # type: ignore[no-untyped-def]
        body = real(meta, entries, config, fmt, deleted)
        return body.replace(b"<entry>", b"<entry><oops>", 1) if meta.atom_url == url else body

    monkeypatch.setattr(_build, "render_feed", render)


def atom_titles(body: bytes) -> list[str]:
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    etree.fromstring(body)
    return [entry.title for entry in parsed.entries]


def cli(tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--config", str(tmp_path / "config.yaml")])


@pytest.mark.parametrize("restart", [False, True], ids=["same-process", "after-a-restart"])
def test_a_broken_document_keeps_its_last_good_version_and_its_feed_is_not_notified(
    gate_config: Config,
    clock: FakeClock,
    hub: HubServer,
    posts_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    restart: bool,
) -> None:
    out = gate_config.output_dir
    write_post(posts_dir, "2024-04-01-one.md", "One")
    pub = publisher_of(gate_config, clock)
    first = pub.publish()
    assert first.held == ()
    deliver(pub)
    good_atom = (out / "feed.atom").read_bytes()
    good_entry = read_manifest(out)["documents"]["/feed.atom"]  # type: ignore[index]
    told = len(hub.publishes)

    broken_site_atom(monkeypatch)
    clock.advance(60)
    write_post(posts_dir, "2024-04-02-two.md", "Two", "2024-04-02 10:00:00")
    with caplog.at_level(logging.ERROR, logger="syndicate"):
        result = pub.publish()
    # The live tree keeps the old file and manifest entry; the rest of the publish went out.
    assert (out / "feed.atom").read_bytes() == good_atom
    assert atom_titles(good_atom) == ["One"]
    manifest = read_manifest(out)
    assert manifest is not None and manifest["documents"]["/feed.atom"] == good_entry
    assert "Two" in [e.title for e in feedparser.parse((out / "feed.rss").read_bytes()).entries]
    assert [path for path, _ in result.held] == ["/feed.atom"]
    assert "not well-formed XML" in result.held[0][1]
    assert "/feed.atom" not in result.changed_feeds and "/feed.rss" in result.changed_feeds
    # One line in the log naming the document and the problem.
    lines = [r.getMessage() for r in caplog.records if "publish gate" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("/feed.atom: held back by the publish gate")
    assert "not well-formed XML" in lines[0]
    # No hub hears of the site's Atom feed; the other changed feeds are notified.
    deliver(pub)
    new = hub.publishes[told:]
    assert SITE + "feed.atom" not in new
    assert SITE + "feed.rss" in new and SITE + "tag/alpha.atom" in new
    # status: the API's JSON, the CLI's lines and its --json.
    held = status_json(pub)["held"]
    assert [(h["path"], h["url"]) for h in held] == [("/feed.atom", SITE + "feed.atom")]
    assert "not well-formed XML" in held[0]["problem"]
    plain = cli(tmp_path, "status")
    assert plain.exit_code == 0, plain.output
    assert "Held back by the publish gate: 1 document" in plain.stdout
    assert f"  {SITE}feed.atom: not well-formed XML" in plain.stdout
    as_json = json.loads(cli(tmp_path, "status", "--json").stdout)
    assert as_json["held"] == held

    # The writer fixed: the next publish makes the feed again (its old bytes were never
    # taken for its new inputs), publishes it and notifies its hub.
    monkeypatch.undo()
    if restart:
        assert pub.store is not None
        pub.close()
        pub = publisher_of(gate_config, clock)
    clock.advance(60)
    told = len(hub.publishes)
    result = pub.publish()
    assert result.held == ()
    assert atom_titles((out / "feed.atom").read_bytes()) == ["Two", "One"]
    assert "/feed.atom" in result.changed_feeds
    deliver(pub)
    assert SITE + "feed.atom" in hub.publishes[told:]
    assert status_json(pub)["held"] == []
    manifest = read_manifest(out)
    assert manifest is not None and "held" not in manifest
    assert pub.store is not None
    pub.close()


def test_a_new_document_that_fails_is_not_published_at_all(
    gate_config: Config,
    clock: FakeClock,
    hub: HubServer,
    posts_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_post(posts_dir, "2024-04-01-one.md", "One")
    broken_site_atom(monkeypatch, SITE + "tag/alpha.atom")
    pub = publisher_of(gate_config, clock)
    result = pub.publish()
    out = gate_config.output_dir
    assert [path for path, _ in result.held] == ["/tag/alpha.atom"]
    assert not (out / "tag" / "alpha.atom").exists()
    assert (out / "tag" / "alpha.rss").exists() and (out / "feed.atom").exists()
    manifest = read_manifest(out)
    assert manifest is not None and "/tag/alpha.atom" not in manifest["documents"]
    assert list(manifest["held"]) == ["/tag/alpha.atom"]
    deliver(pub)
    assert SITE + "tag/alpha.atom" not in hub.publishes
    assert SITE + "tag/alpha.rss" in hub.publishes
    assert pub.store is not None
    pub.close()


def test_a_feed_over_max_bytes_keeps_its_last_good_version(
    make_config: ConfigFactory,
    clock: FakeClock,
    hub: HubServer,
    posts_dir: Path,
    tmp_path: Path,
) -> None:
    """No injection: a post too large for feeds.max_bytes even as its summary was sent
    anyway; now the gate keeps the last version that fit, and the hub hears nothing."""
    config = make_config(
        websub={"hubs": [hub.url]},
        storage={"url": "sqlite:///state/syndicate.db"},
        feeds={"max_bytes": 6000},
    )
    write_post(posts_dir, "2024-04-01-one.md", "One")
    pub = publisher_of(config, clock)
    assert pub.publish().held == ()
    deliver(pub)
    out = config.output_dir
    before = {name: (out / name).read_bytes() for name in ("feed.rss", "feed.atom", "feed.json")}
    told = len(hub.publishes)
    huge = " ".join(f"word{i}" for i in range(3000))
    (posts_dir / "2024-04-02-huge.md").write_text(
        f"---\ntitle: Huge\ndate: 2024-04-02 10:00:00\n---\n\n{huge}\n",
        encoding="utf-8",
    )
    clock.advance(60)
    result = pub.publish()
    held = dict(result.held)
    assert set(held) >= {"/feed.rss", "/feed.atom", "/feed.json"}
    assert all("over feeds.max_bytes (6000)" in problem for problem in held.values())
    for name, body in before.items():
        assert (out / name).read_bytes() == body
    deliver(pub)
    assert not {SITE + p.lstrip("/") for p in held} & set(hub.publishes[told:])
    assert pub.store is not None
    pub.close()


def test_republish_prints_what_was_held_and_strict_fails_on_it(
    gate_config: Config, posts_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_post(posts_dir, "2024-04-01-one.md", "One")
    monkeypatch.chdir(tmp_path)
    assert cli(tmp_path, "republish").exit_code == 0
    broken_site_atom(monkeypatch)
    write_post(posts_dir, "2024-04-02-two.md", "Two", "2024-04-02 10:00:00")
    result = cli(tmp_path, "republish", "--strict")
    assert result.exit_code == 1, result.output
    assert f"held {SITE}feed.atom: not well-formed XML" in result.stdout
    assert "Error: 1 document held back by the publish gate" in result.stderr
    assert "Traceback" not in result.output
    assert (tmp_path / "_site" / MANIFEST).exists()


def test_the_api_and_the_dashboard_show_what_was_held(
    gate_config: Config,
    clock: FakeClock,
    posts_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_post(posts_dir, "2024-04-01-one.md", "One")
    pub = publisher_of(gate_config, clock)
    pub.publish()
    broken_site_atom(monkeypatch)
    write_post(posts_dir, "2024-04-02-two.md", "Two", "2024-04-02 10:00:00")
    pub.publish()
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    app = create_app(gate_config, pub, reload_interval=None)
    try:
        client = app.test_client()
        answer = client.get("/api/status", headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 200
        held = answer.get_json()["held"]
        assert [(h["path"], h["url"]) for h in held] == [("/feed.atom", SITE + "feed.atom")]
        assert held[0]["problem"].startswith("not well-formed XML")
        sign_in(client)
        card = html(client.get("/admin/")).find(".//section[@id='held']")
        assert card is not None
        assert card.findtext(".//li/code") == "/feed.atom"
        assert card.findtext(".//li/span").startswith("not well-formed XML: ")
    finally:
        close_api(app)
        pub.close()


@pytest.mark.parametrize("tags", [1, 8], ids=["one-by-one", "on-every-core"])
def test_check_site_checks_the_changed_documents_only(
    make_config: ConfigFactory, posts_dir: Path, tags: int
) -> None:
    for i in range(tags):
        path = write_post(posts_dir, f"2024-04-0{i + 1}-p{i}.md", f"Post {i}")
        path.write_text(path.read_text().replace("[alpha]", f"[t{i}]"), encoding="utf-8")
    config = make_config()
    posts, _ = load_posts(config)
    site = build_site(posts, config, NOW).site
    assert (len(site.documents) >= PARALLEL_FROM) == (tags > 1)
    bad = dataclasses.replace(site.documents["/feed.atom"], body=b"<feed>", etag='"bad"')
    broken = dataclasses.replace(site, documents={**site.documents, "/feed.atom": bad})
    found = check_site(broken, None, config, NOW)
    assert list(found) == ["/feed.atom"]
    assert found["/feed.atom"].startswith("not well-formed XML: ")
    # Against a live tree that has it already, the same document is no change to check.
    assert check_site(broken, broken, config, NOW) == {}
    assert check_site(broken, site, config, NOW).keys() == {"/feed.atom"}
