"""One URL string everywhere (issue 18, case 2): site.url made a URI at load.

Case 2: ``site.url`` with non-ASCII characters or a space is an IRI; the Link header
must carry a URI, so the feed's self link, its id, the OPML, the home page and the
``hub.topic`` sent to hubs must carry that same URI, or a subscriber that discovers
through the header subscribes to a topic that is never published (WebSub section 4:
the hub matches topics as strings). Real parts: the Flask test client, a real
Publisher with a SQLite store delivering to a local hub and ping server on 127.0.0.1.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import feedparser
import pytest
import requests
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree
from requests.utils import parse_header_links
from werkzeug.serving import make_server

from syndicate.cli import main
from syndicate.config import Config, config_from_mapping, site_uri
from syndicate.errors import ConfigError
from syndicate.posts import load_posts
from syndicate.publisher import Publisher, open_publisher
from syndicate.web import create_app

from .conftest import ConfigFactory
from .servers import EXTENDED, FakeClock, HubServer, PingServer
from .validator import validate

ATOM = "{http://www.w3.org/2005/Atom}"
OPML_OUTLINE = "//outline[@xmlUrl]"
CHROME = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)

IRI = "http://127.0.0.1:8080/café news/"
URI = "http://127.0.0.1:8080/caf%C3%A9%20news/"

POST = """---
title: Bonjour
date: 2024-04-01T10:00:00Z
categories: [Café]
tags: [crème brûlée]
---
Un café.
"""


def links(response: Any) -> dict[str, list[str]]:
    """The targets of a response's Link headers, by rel (RFC 8288)."""
    found: dict[str, list[str]] = {}
    for value in response.headers.getlist("Link"):
        for link in parse_header_links(value):
            found.setdefault(link["rel"], []).append(link["url"])
    return found


# --------------------------------------------------------------------------- case 2: load


@pytest.mark.parametrize(
    ("written", "loaded"),
    [
        ("https://example.org/", "https://example.org/"),
        ("https://example.org", "https://example.org/"),
        # An ASCII URI stays byte for byte what it was: links and ids keep their strings.
        ("HTTPS://Example.ORG/Blog/News/", "HTTPS://Example.ORG/Blog/News/"),
        ("https://example.org:8443/~me/a+b;c=d/@x/", "https://example.org:8443/~me/a+b;c=d/@x/"),
        ("http://[::1]:8080/x/", "http://[::1]:8080/x/"),
        ("  https://example.org/news/  ", "https://example.org/news/"),
        # RFC 3987 3.1: non-ASCII and spaces become %XX of their UTF-8 bytes ...
        (IRI, URI),
        ("https://example.org/日本/", "https://example.org/%E6%97%A5%E6%9C%AC/"),
        ("https://example.org/a b", "https://example.org/a%20b/"),
        # ... an escape already there is kept, not escaped again; a lone "%" is escaped.
        ("https://example.org/caf%C3%A9%20news/", "https://example.org/caf%C3%A9%20news/"),
        ("https://example.org/caf%c3%a9/", "https://example.org/caf%c3%a9/"),
        ("https://example.org/café%20news/", "https://example.org/caf%C3%A9%20news/"),
        ("https://example.org/100%/", "https://example.org/100%25/"),
        # the host by IDNA (punycode); the port and user stay
        ("https://bücher.example/", "https://xn--bcher-kva.example/"),
        ("https://BÜCHER.example:8080/ü/", "https://xn--bcher-kva.example:8080/%C3%BC/"),
        ("https://ü@bücher.example/", "https://%C3%BC@xn--bcher-kva.example/"),
    ],
)
def test_site_url_is_made_a_uri_at_load(
    make_config: ConfigFactory, written: str, loaded: str
) -> None:
    config = make_config(site={"url": written})
    assert config.site.url == loaded
    # Once is enough: loading the loaded URL changes nothing (no double encoding).
    assert make_config(site={"url": loaded}).site.url == loaded
    assert config.site.url.isascii()


@given(st.text(st.characters(exclude_categories=["Cs"], exclude_characters="?#"), max_size=30))
def test_any_path_becomes_a_uri_that_reads_back_as_written(path: str) -> None:
    """Whatever the path, site_uri gives an ASCII URI whose path decodes to what was
    written (a "%" that starts an escape decodes as that escape), and is a fixed point."""
    written = "https://example.org/" + path
    uri = site_uri(written)
    assert uri.isascii()
    assert uri.startswith("https://example.org/") and uri.endswith("/")
    assert site_uri(uri) == uri
    assert not re.search(r"[^A-Za-z0-9/:@!$&'()*+,;=._~%-]", uri[len("https://") :])
    assert not re.search(r"%(?![0-9A-Fa-f]{2})", uri)
    kept = written.strip()[len("https://example.org/") :]
    expected = unquote(kept) if "%" in kept else kept
    assert unquote(urlsplit(uri).path).rstrip("/") == ("/" + expected).rstrip("/")


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("example.org/news/", "expected an absolute http(s) URL"),
        ("ftp://example.org/", "expected an absolute http(s) URL"),
        ("mailto:news@example.org", "expected an absolute http(s) URL"),
        ("http:///news/", "expected an absolute http(s) URL"),
        ("https://example.org/news/?lang=fr", "no query or fragment"),
        ("https://example.org/news/#top", "no query or fragment"),
        ("https://example.org/news?", "no query or fragment"),
        ("https://exa mple.org/", "is not a host name"),
        ("https://exa<mple.org/", "is not a host name"),
        ("https://xn--.example/", "is not a host name"),
        ("https://example.org:99999/", "Port out of range"),
    ],
)
def test_a_site_url_that_cannot_be_a_uri_is_refused(
    make_config: ConfigFactory, written: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=r"^site\.url: ") as caught:
        make_config(site={"url": written})
    assert message in str(caught.value)


def test_the_cli_refuses_it_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "posts").mkdir()
    (tmp_path / "config.yaml").write_text(
        "site:\n  title: T\n  url: https://example.org/news/?lang=fr\n", encoding="utf-8"
    )
    result = CliRunner().invoke(main, ["check", "--config", str(tmp_path / "config.yaml")])
    assert result.exit_code == 1
    assert "site.url: " in result.output
    assert "Traceback" not in result.output


def test_entry_ids_keep_their_strings(make_config: ConfigFactory, posts_dir: Path) -> None:
    """Ids are minted from the host (IDNA) and the file, never from the path: making
    site.url a URI changes no id, for an ASCII site or an internationalised one."""
    (posts_dir / "2024-04-01-bonjour.md").write_text(POST, encoding="utf-8")
    for url, authority in [
        ("https://Example.org/blog/", "example.org"),
        ("https://bücher.example/café news/", "xn--bcher-kva.example"),
    ]:
        config = make_config(site={"url": url})
        (post,) = _posts(config)
        assert post.entry_id == f"tag:{authority},2024-04-01:2024-04-01-bonjour"


def _posts(config: Config) -> list[Any]:
    from syndicate.posts import load_posts

    posts, problems = load_posts(config)
    assert not problems
    return list(posts)


# --------------------------------------------------------------------------- case 2: one string


@pytest.fixture
def servers() -> Iterator[tuple[HubServer, PingServer]]:
    with HubServer() as hub, PingServer() as pinger:
        yield hub, pinger


@pytest.fixture
def iri_site(
    make_config: ConfigFactory, posts_dir: Path, servers: tuple[HubServer, PingServer]
) -> Iterator[Publisher]:
    hub, pinger = servers
    (posts_dir / "2024-04-01-bonjour.md").write_text(POST, encoding="utf-8")
    config = make_config(
        site={"url": IRI},
        websub={"hubs": [hub.url]},
        pings=[pinger.url],
        storage={"url": "sqlite:///state/syndicate.db"},
        notify={"timeout": 2, "max_attempts": 1, "max_backoff": 1},
    )
    publisher = open_publisher(config, clock=FakeClock())
    yield publisher
    assert publisher.store is not None
    publisher.store.close()


def check_xml_feed(body: bytes, topic: str, path: str) -> None:
    """An RSS or Atom feed names ``topic`` as itself and the site as its alternate."""
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert [x.href for x in parsed.feed.links if x.rel == "self"] == [topic]
    root: Any = etree.fromstring(body)
    assert root.xpath("//a:link[@rel='self']/@href", namespaces={"a": ATOM[1:-1]}) == [topic]
    if path.endswith(".atom"):
        assert root.findtext(ATOM + "id") == topic
        assert root.find(ATOM + "link[@rel='alternate']").get("href") == URI
        (entry,) = root.iter(ATOM + "entry")
        assert entry.find(ATOM + "link").get("href").startswith(URI)
    else:
        assert root.findtext("channel/link") == URI
        assert root.findtext("channel/item/link").startswith(URI)


def test_one_string_in_headers_feeds_opml_and_hub_topic(
    iri_site: Publisher, servers: tuple[HubServer, PingServer]
) -> None:
    hub, pinger = servers
    result = iri_site.publish()
    assert iri_site.outbox is not None
    iri_site.outbox.deliver_due()
    client = create_app(iri_site.config, reload_interval=None).test_client()

    opml: Any = etree.fromstring(client.get("/feeds.opml").data)
    opml_urls = set(opml.xpath(OPML_OUTLINE + "/@xmlUrl"))
    assert set(opml.xpath(OPML_OUTLINE + "/@htmlUrl")) == {URI}
    home: Any = etree.fromstring(client.get("/").data, etree.HTMLParser())
    home_feeds = set(home.xpath("//head/link[@rel='alternate']/@href"))

    assert set(result.changed_feeds) >= {"/feed.atom", "/feed.rss", "/category/cafe.atom"}
    for path in result.changed_feeds:
        topic = URI + path.lstrip("/")
        response = client.get(path)
        assert response.status_code == 200
        # What a subscriber discovers through the header ...
        found = links(response)
        assert found["hub"] == [hub.url]
        assert found["self"] == [topic]
        # ... is what the feed says of itself (feedparser and lxml) ...
        if path.endswith(".json"):  # a JSON Feed names itself in feed_url
            assert json.loads(response.data)["feed_url"] == topic
        else:
            check_xml_feed(response.data, topic, path)
        # ... what the OPML and the home page list ...
        assert topic in opml_urls
        assert topic in home_feeds
        # ... and the topic the hub hears of: the subscription matches the publish.
        assert topic in hub.publishes
        assert [r.form["hub.topic"] for r in hub.requests if r.form["hub.url"] == [topic]] == [
            [topic]
        ]
    assert set(hub.publishes) == {URI + p.lstrip("/") for p in result.changed_feeds}
    (ping,) = pinger.calls
    assert ping.method == EXTENDED
    assert ping.params[1:] == (URI, URI, URI + "feed.rss")


class Mounted:
    """A WSGI app behind a path prefix, as a reverse proxy mounts syndicate under
    site.url's path; ``app`` is set once the site exists (its URL needs the port)."""

    def __init__(self, prefix: str) -> None:
        # WSGI hands PATH_INFO over decoded, as latin-1 of its UTF-8 bytes (PEP 3333).
        self.prefix = prefix.encode("utf-8").decode("latin-1")
        self.app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path: str = environ["PATH_INFO"]
        if self.app is None or not path.startswith(self.prefix + "/"):
            start_response("404 Not Found", [("Content-Length", "0")])
            return [b""]
        environ = {**environ, "PATH_INFO": path[len(self.prefix) :]}
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + self.prefix
        return self.app(environ, start_response)


@contextmanager
def serving(app: Mounted) -> Iterator[str]:
    """``app`` on 127.0.0.1 (a free port); yields its origin."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_hub_fetches_the_topic_a_subscriber_discovered(
    make_config: ConfigFactory, posts_dir: Path
) -> None:
    """Over real HTTP: the hub fetches each topic it is told of, and a subscriber that
    discovers a feed (the feed's Link header, or its HTML page's) finds that same topic,
    and the feed names it as its self."""
    (posts_dir / "2024-04-01-bonjour.md").write_text(POST, encoding="utf-8")
    mounted = Mounted("/café news")
    with HubServer(fetch_topics=True) as hub, serving(mounted) as origin:
        config = make_config(
            site={"url": origin + "/café news/"},
            websub={"hubs": [hub.url]},
            storage={"url": "sqlite:///state/syndicate.db"},
            notify={"timeout": 5, "max_attempts": 1, "max_backoff": 1},
        )
        site = origin + "/caf%C3%A9%20news/"
        assert config.site.url == site
        publisher = open_publisher(config, clock=FakeClock())
        assert publisher.store is not None and publisher.outbox is not None
        try:
            result = publisher.publish()
            mounted.app = create_app(config, reload_interval=None)
            publisher.outbox.deliver_due()
        finally:
            publisher.store.close()
        topics = {site + p.lstrip("/") for p in result.changed_feeds}
        assert sorted(hub.fetches) == sorted((topic, 200) for topic in topics)
        for topic in topics:
            for accept in ("application/atom+xml, application/rss+xml", CHROME):
                response = requests.get(topic, headers={"Accept": accept}, timeout=5)
                assert response.status_code == 200
                found = {link["rel"]: link["url"] for link in response.links.values()}
                assert found == {"hub": hub.url, "self": topic}
            body = requests.get(topic, timeout=5).content
            if topic.endswith(".json"):  # a JSON Feed names itself in feed_url
                assert json.loads(body)["feed_url"] == topic
                continue
            parsed = feedparser.parse(body)
            assert not parsed.bozo, parsed.get("bozo_exception")
            assert [x.href for x in parsed.feed.links if x.rel == "self"] == [topic]


def test_the_static_build_writes_the_same_uri(
    make_config: ConfigFactory, posts_dir: Path, tmp_path: Path
) -> None:
    (posts_dir / "2024-04-01-bonjour.md").write_text(POST, encoding="utf-8")
    (tmp_path / "config.yaml").write_text(
        f"site:\n  title: T\n  url: {IRI}\nposts_dir: posts\n", encoding="utf-8"
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["build", "--config", str(tmp_path / "config.yaml"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    written = [f for f in out.rglob("*") if f.suffix in (".atom", ".rss", ".opml", ".html")]
    assert written
    for file in written:
        text = file.read_text(encoding="utf-8")
        assert "café news" not in text and "caf%C3%A9 news" not in text, file
        assert URI in text, file
    atom: Any = feedparser.parse((out / "feed.atom").read_bytes())
    assert atom.feed.id == URI + "feed.atom"
    assert atom.entries[0].link.startswith(URI)


def test_the_w3c_validator_accepts_every_feed_of_an_iri_site(
    make_config: ConfigFactory, posts_dir: Path, tmp_path: Path
) -> None:
    """0 errors and 0 warnings, rel="self" checked against where the file is served."""
    (posts_dir / "2024-04-01-bonjour.md").write_text(POST, encoding="utf-8")
    site = "http://bücher.example/café news/"
    (tmp_path / "config.yaml").write_text(
        f"site:\n  title: T\n  url: {site}\n  language: en\nposts_dir: posts\n"
        "websub:\n  hubs: ['https://hub.example/']\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    built = CliRunner().invoke(
        main, ["build", "--config", str(tmp_path / "config.yaml"), "--out", str(out)]
    )
    assert built.exit_code == 0, built.output
    base = "http://xn--bcher-kva.example/caf%C3%A9%20news/"
    results = validate(out, base)
    assert len(results) == 7
    assert [(r["feed"], r["messages"]) for r in results if r["messages"]] == []


def test_config_from_mapping_is_the_one_place(tmp_path: Path) -> None:
    config = config_from_mapping({"site": {"title": "T", "url": IRI}}, tmp_path)
    assert config.site.url == URI
    assert config.site.domain == "127.0.0.1"


def test_absolute_urls_in_front_matter_are_made_uris(
    make_config: ConfigFactory, posts_dir: Path
) -> None:
    """A post's own permalink and image, given as IRIs, reach the feeds as URIs (the W3C
    validator's InvalidUriChar otherwise), and one that cannot be a URL is left out with a
    warning naming the key."""
    (posts_dir / "2024-04-01-iri.md").write_text(
        "---\ntitle: IRI\ndate: 2024-04-01 10:00:00\n"
        "permalink: https://bücher.example/straße/ö ü.html\n"
        "image: http://bücher.example/bilder/schön bild.jpg\n---\nText.\n",
        encoding="utf-8",
    )
    (posts_dir / "2024-04-02-bad.md").write_text(
        "---\ntitle: Bad\ndate: 2024-04-02 10:00:00\n"
        "permalink: http://exa mple.org/x.html\nimage: https://exa mple.org/x.jpg\n---\nText.\n",
        encoding="utf-8",
    )
    config = make_config()
    posts, problems = load_posts(config)
    by_title = {post.title: post for post in posts}
    good = by_title["IRI"]
    assert good.url == "https://xn--bcher-kva.example/stra%C3%9Fe/%C3%B6%20%C3%BC.html"
    assert good.image is not None
    assert good.image.url == "http://xn--bcher-kva.example/bilder/sch%C3%B6n%20bild.jpg"
    bad = by_title["Bad"]
    assert bad.url.startswith(config.site.url)  # the site's own pattern instead
    assert bad.image is None
    messages = [str(problem) for problem in problems]
    assert any("2024-04-02-bad.md" in m and "permalink" in m and "host name" in m for m in messages)
    assert any("2024-04-02-bad.md" in m and "image" in m and "host name" in m for m in messages)


def test_hub_and_ping_urls_are_made_uris(tmp_path: Path) -> None:
    config = config_from_mapping(
        {
            "site": {"title": "T", "url": "https://example.org/"},
            "websub": {"hubs": ["https://hüb.example/pub sub"]},
            "pings": ["http://ping.example/RPC2?ä=1"],
        },
        tmp_path,
    )
    assert config.websub.hubs == ("https://xn--hb-xka.example/pub%20sub",)
    assert config.pings == ("http://ping.example/RPC2?%C3%A4=1",)
    with pytest.raises(ConfigError, match=r"websub\.hubs\[0\]: .* is not a host name"):
        config_from_mapping(
            {"site": {"title": "T", "url": "https://e.org/"}, "websub": {"hubs": ["http://a b/"]}},
            tmp_path,
        )
