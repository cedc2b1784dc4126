"""Discovery from a feed's HTML page (issue 18, case 5).

A browser asking for a feed URL gets an HTML page (``preview``); that response must
carry the feed's WebSub discovery (W3C WebSub section 4) as the feed does: a Link header
per hub and ``rel="self"`` naming the feed's URL (not the page's), and the same as
``<link rel="hub">`` / ``<link rel="self">`` in its head. The real app through the Flask
test client, with a browser's Accept header; the HTML parsed with lxml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from lxml import etree

from syndicate.web import create_app

from .conftest import ConfigFactory
from .test_site_url import IRI, POST, URI, links

CHROME = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)


HUBS = ["https://hub.example/", "https://pubsubhubbub.example.com/hub?x=1&y=2"]


@pytest.fixture
def page_client(make_config: ConfigFactory, posts_dir: Path) -> FlaskClient:
    (posts_dir / "2024-04-01-bonjour.md").write_text(POST, encoding="utf-8")
    config = make_config(site={"url": IRI}, websub={"hubs": HUBS})
    return create_app(config, reload_interval=None).test_client()


@pytest.mark.parametrize("path", ["/feed.atom", "/feed.rss", "/category/cafe.atom"])
def test_the_html_page_of_a_feed_carries_its_discovery(page_client: FlaskClient, path: str) -> None:
    feed = page_client.get(path, headers={"Accept": "application/atom+xml"})
    page = page_client.get(path, headers={"Accept": CHROME})
    assert feed.headers["Content-Type"].startswith("application/")
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    topic = URI + path.lstrip("/")
    # The same Link headers as the feed: its hubs, and self = the feed's URL.
    assert page.headers.getlist("Link") == feed.headers.getlist("Link")
    assert links(page) == {"hub": HUBS, "self": [topic]}
    # And in the head, for discovery from the HTML (WebSub section 4).
    head: Any = etree.fromstring(page.data, etree.HTMLParser()).find("head")
    assert head.xpath("link[@rel='hub']/@href") == HUBS
    assert head.xpath("link[@rel='self']/@href") == [topic]
    # A revalidation (304) carries them too, as a feed's does.
    again = page_client.get(path, headers={"Accept": CHROME, "If-None-Match": page.headers["ETag"]})
    assert again.status_code == 304
    assert again.headers.getlist("Link") == feed.headers.getlist("Link")


def test_a_page_without_hubs_still_names_its_feed(
    make_config: ConfigFactory, posts_dir: Path
) -> None:
    (posts_dir / "2024-04-01-bonjour.md").write_text(POST, encoding="utf-8")
    client = create_app(make_config(), reload_interval=None).test_client()
    page = client.get("/feed.atom", headers={"Accept": CHROME})
    assert links(page) == {"self": ["https://example.org/feed.atom"]}
    head: Any = etree.fromstring(page.data, etree.HTMLParser()).find("head")
    assert head.xpath("link[@rel='hub']") == []
    assert head.xpath("link[@rel='self']/@href") == ["https://example.org/feed.atom"]
