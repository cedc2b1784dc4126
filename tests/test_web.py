"""HTTP tests through the real app (``test_client()`` takes the hot path), and a real server."""

from __future__ import annotations

import gzip
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from syndicate.config import Config
from syndicate.feeds import Document, Site
from syndicate.publisher import BuildResult, Publisher
from syndicate.web import FeedResponder, Services, accepts_gzip, create_app

from .conftest import ConfigFactory

LAST_MODIFIED = datetime(2024, 5, 1, 12, 30, 15, 500000, tzinfo=UTC)
LAST_MODIFIED_HTTP = "Wed, 01 May 2024 12:30:15 GMT"
RSS_TYPE = "application/rss+xml; charset=utf-8"
RSS_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>Example</title>'
    + b"<item><title>Entry</title><description>Some text, repeated. </description></item>" * 40
    + b"</channel></rss>\n"
)
ETAG = '"rss-v1"'


def make_site(documents: Mapping[str, Document]) -> Site:
    """A Site made by hand, so web tests do not depend on posts and feeds."""
    return Site(documents=dict(documents), feeds=())


def sample_site(body: bytes = RSS_BODY, etag: str = ETAG) -> Site:
    return make_site(
        {
            "/feed.rss": Document(RSS_TYPE, body, etag, LAST_MODIFIED),
            "/tag/python.atom": Document(
                "application/atom+xml; charset=utf-8", b"<feed/>", '"atom-1"', LAST_MODIFIED
            ),
            "/": Document(
                "text/html; charset=utf-8", b"<!doctype html><p>feeds", '"i"', LAST_MODIFIED
            ),
        }
    )


class SitePublisher(Publisher):
    """A Publisher whose build returns a fixed Site."""

    def __init__(self, config: Config, site: Site) -> None:
        super().__init__(config)
        self.site = site

    def build(
        self,
        keep: Callable[[str, Document], Document] | None = None,
        planned: Callable[[list[str]], None] | None = None,
    ) -> BuildResult:
        return BuildResult(site=self.site, problems=(), post_count=0)


@pytest.fixture
def app(make_config: ConfigFactory) -> Flask:
    config = make_config(serve={"cache_max_age": 123})
    return create_app(config, SitePublisher(config, sample_site()))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def get(client: FlaskClient, path: str = "/feed.rss", **headers: str) -> TestResponse:
    return client.get(path, headers={k.replace("_", "-"): v for k, v in headers.items()})


# --- plain GET -------------------------------------------------------------------------


def test_get_feed(client: FlaskClient) -> None:
    response = get(client)
    assert response.status_code == 200
    assert response.data == RSS_BODY
    assert response.headers["Content-Type"] == RSS_TYPE
    assert response.headers["ETag"] == ETAG
    assert response.headers["Last-Modified"] == LAST_MODIFIED_HTTP
    assert response.headers["Cache-Control"] == "public, max-age=123"
    assert response.headers["Vary"] == "Accept, Accept-Encoding"  # feeds have an HTML page too
    assert response.headers["Content-Length"] == str(len(RSS_BODY))
    assert "Content-Encoding" not in response.headers


def test_index_page_and_other_documents(client: FlaskClient) -> None:
    index = get(client, "/")
    assert index.status_code == 200
    assert index.headers["Content-Type"] == "text/html; charset=utf-8"
    assert index.data.startswith(b"<!doctype html>")
    atom = get(client, "/tag/python.atom")
    assert atom.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    assert atom.data == b"<feed/>"


def test_query_string_is_ignored(client: FlaskClient) -> None:
    assert get(client, "/feed.rss?utm_source=x").data == RSS_BODY


def test_default_cache_max_age(config: Config) -> None:
    client = create_app(config, SitePublisher(config, sample_site())).test_client()
    assert get(client).headers["Cache-Control"] == "public, max-age=300"


def test_charset_added_when_document_lacks_one(config: Config) -> None:
    site = make_site(
        {"/feed.rss": Document("application/rss+xml", b"<rss/>", '"x"', LAST_MODIFIED)}
    )
    client = create_app(config, SitePublisher(config, site)).test_client()
    assert get(client).headers["Content-Type"] == "application/rss+xml; charset=utf-8"


# --- conditional GET -------------------------------------------------------------------


def assert_not_modified(response: TestResponse, etag: str = ETAG) -> None:
    assert response.status_code == 304
    assert response.data == b""
    assert response.headers["ETag"] == etag
    assert response.headers["Cache-Control"] == "public, max-age=123"
    assert response.headers["Last-Modified"] == LAST_MODIFIED_HTTP
    assert response.headers["Vary"] == "Accept, Accept-Encoding"  # feeds have an HTML page too
    assert "Content-Encoding" not in response.headers


@pytest.mark.parametrize(
    "if_none_match",
    [
        ETAG,
        f'"other", {ETAG}',
        f'"other",{ETAG} , "third"',
        f"W/{ETAG}",  # weak comparison (RFC 9110 13.1.2)
        '"rss-v1-gzip"',  # the gzip variant names the same content
        "*",
        ' "a,b", "rss-v1"',  # a comma inside a quoted tag does not split it
    ],
)
def test_if_none_match_matches(client: FlaskClient, if_none_match: str) -> None:
    assert_not_modified(get(client, If_None_Match=if_none_match))


@pytest.mark.parametrize(
    "if_none_match", ['"other"', '"rss-v2", "rss"', "rss-v1", 'W/"rss-v1x"', '"a,"rss-v1"']
)
def test_if_none_match_mismatch(client: FlaskClient, if_none_match: str) -> None:
    response = get(client, If_None_Match=if_none_match)
    assert response.status_code == 200
    assert response.data == RSS_BODY


@pytest.mark.parametrize(
    ("if_modified_since", "status"),
    [
        ("Wed, 01 May 2024 12:30:14 GMT", 200),  # older
        (LAST_MODIFIED_HTTP, 304),  # equal
        ("Wednesday, 01-May-24 12:30:15 GMT", 304),  # equal, obsolete RFC 850 form
        ("Thu, 02 May 2024 00:00:00 GMT", 304),  # newer
        ("not a date", 200),  # invalid: ignored
        ("", 200),
    ],
)
def test_if_modified_since(client: FlaskClient, if_modified_since: str, status: int) -> None:
    response = get(client, If_Modified_Since=if_modified_since)
    assert response.status_code == status
    if status == 304:
        assert_not_modified(response)
    else:
        assert response.data == RSS_BODY


def test_if_none_match_mismatch_overrides_if_modified_since(client: FlaskClient) -> None:
    # RFC 9110 13.2.2: If-Modified-Since is ignored when If-None-Match is present.
    response = get(
        client, If_None_Match='"stale"', If_Modified_Since="Thu, 02 May 2024 00:00:00 GMT"
    )
    assert response.status_code == 200
    assert response.data == RSS_BODY


def test_if_none_match_match_with_old_if_modified_since(client: FlaskClient) -> None:
    response = get(client, If_None_Match=ETAG, If_Modified_Since="Mon, 01 Jan 2001 00:00:00 GMT")
    assert_not_modified(response)


def test_not_modified_with_gzip_names_gzip_variant(client: FlaskClient) -> None:
    response = get(client, If_None_Match=ETAG, Accept_Encoding="gzip")
    assert_not_modified(response, etag='"rss-v1-gzip"')


# --- HEAD ------------------------------------------------------------------------------


@pytest.mark.parametrize("accept_encoding", ["", "gzip"])
def test_head_has_get_headers_and_no_body(client: FlaskClient, accept_encoding: str) -> None:
    got = get(client, Accept_Encoding=accept_encoding)
    head = client.head("/feed.rss", headers={"Accept-Encoding": accept_encoding})
    assert head.status_code == 200
    assert head.data == b""
    assert dict(head.headers) == dict(got.headers)
    assert head.headers["Content-Length"] == str(len(got.data))


def test_head_conditional(client: FlaskClient) -> None:
    head = client.head("/feed.rss", headers={"If-None-Match": ETAG})
    assert_not_modified(head)


# --- gzip ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "accept_encoding",
    [
        "gzip",
        "gzip, deflate, br",
        "br;q=1.0, gzip;q=0.5",
        "*",
        "x-gzip",
        "GZIP;Q=0.1",
        "deflate, *;q=0.3",
    ],
)
def test_gzip_when_accepted(client: FlaskClient, accept_encoding: str) -> None:
    response = get(client, Accept_Encoding=accept_encoding)
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Vary"] == "Accept, Accept-Encoding"  # feeds have an HTML page too
    assert response.headers["Content-Length"] == str(len(response.data))
    assert len(response.data) < len(RSS_BODY)
    assert gzip.decompress(response.data) == RSS_BODY
    # A different representation, so a different entity-tag (RFC 9110 8.8.3.3).
    assert response.headers["ETag"] == '"rss-v1-gzip"'


@pytest.mark.parametrize(
    "accept_encoding",
    ["", "identity", "gzip;q=0", "gzip; q=0.0, deflate", "*;q=0", "br", "*, gzip;q=0", "gzip;q=x"],
)
def test_no_gzip_when_not_accepted(client: FlaskClient, accept_encoding: str) -> None:
    response = get(client, Accept_Encoding=accept_encoding)
    assert "Content-Encoding" not in response.headers
    assert response.data == RSS_BODY
    assert response.headers["ETag"] == ETAG


def test_no_accept_encoding_header(client: FlaskClient) -> None:
    response = client.get("/feed.rss")
    assert "Content-Encoding" not in response.headers
    assert response.data == RSS_BODY


def test_accepts_gzip_parses_q_values() -> None:
    assert accepts_gzip("gzip;q=0.001")
    assert not accepts_gzip("gzip;q=0, x-gzip;q=0")
    assert accepts_gzip("gzip;q=0, x-gzip")


# --- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/tag/nope.rss", "/feed.json", "/category/", "/feed.rss/x"])
def test_unknown_feed_is_plain_404(client: FlaskClient, path: str) -> None:
    response = get(client, path)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.get_data(as_text=True) == f"No such feed: {path}\n"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_on_a_feed_are_405(client: FlaskClient, method: str) -> None:
    response = client.open("/feed.rss", method=method)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_other_methods_on_unknown_path_are_404(client: FlaskClient) -> None:
    response = client.post("/tag/nope.rss")
    assert response.status_code == 404
    assert response.get_data(as_text=True) == "No such feed: /tag/nope.rss\n"


# --- WebSub discovery: Link headers -----------------------------------------------------

HUBS = ["https://hub.example.com/", "https://websub.example.net/hub?a=1&b=2"]
OPML = Document("text/x-opml; charset=utf-8", b"<opml/>", '"opml-1"', LAST_MODIFIED)


def hub_links(*hubs: str) -> list[str]:
    return [f'<{hub}>; rel="hub"' for hub in hubs]


@pytest.fixture
def hub_client(make_config: ConfigFactory) -> FlaskClient:
    """The sample site plus an OPML document, with two hubs configured."""
    config = make_config(websub={"hubs": HUBS})
    site = make_site({**sample_site().documents, "/feeds.opml": OPML})
    return create_app(config, SitePublisher(config, site)).test_client()


@pytest.mark.parametrize(("path", "etag"), [("/feed.rss", ETAG), ("/tag/python.atom", '"atom-1"')])
@pytest.mark.parametrize("accept_encoding", ["", "gzip"])
@pytest.mark.parametrize("conditional", [False, True])
def test_feed_responses_link_their_hubs_and_themselves(
    hub_client: FlaskClient, path: str, etag: str, accept_encoding: str, conditional: bool
) -> None:
    headers = {"If-None-Match": etag} if conditional else {}
    response = get(hub_client, path, Accept_Encoding=accept_encoding, **headers)
    assert response.status_code == (304 if conditional else 200)
    # The representation asked for: the gzip variant has its own entity-tag, 304 or not.
    assert response.headers["ETag"] == (etag[:-1] + '-gzip"' if accept_encoding else etag)
    # WebSub section 4: a Link rel="hub" per hub and a Link rel="self" with the topic URL.
    assert response.headers.getlist("Link") == [
        *hub_links(*HUBS),
        f'<https://example.org{path}>; rel="self"',
    ]


@pytest.mark.parametrize("path", ["/feed.rss", "/tag/python.atom"])
def test_head_on_a_feed_has_the_link_headers_too(hub_client: FlaskClient, path: str) -> None:
    head = hub_client.head(path)
    assert head.status_code == 200
    assert head.headers.getlist("Link") == get(hub_client, path).headers.getlist("Link")
    assert len(head.headers.getlist("Link")) == 3


@pytest.mark.parametrize("path", ["/", "/feeds.opml"])
def test_documents_that_are_not_feeds_have_no_hub_links(hub_client: FlaskClient, path: str) -> None:
    for accept_encoding in ("", "gzip"):
        response = get(hub_client, path, Accept_Encoding=accept_encoding)
        assert response.status_code == 200
        assert response.headers.getlist("Link") == []


def test_without_hubs_a_feed_links_only_itself(client: FlaskClient) -> None:
    for path in ("/feed.rss", "/tag/python.atom"):
        assert get(client, path).headers.getlist("Link") == [
            f'<https://example.org{path}>; rel="self"'
        ]
    assert get(client, "/").headers.getlist("Link") == []


def test_self_link_follows_a_site_url_with_a_path(make_config: ConfigFactory) -> None:
    config = make_config(site={"url": "https://example.org/news"}, websub={"hubs": HUBS[:1]})
    client = create_app(config, SitePublisher(config, sample_site())).test_client()
    assert get(client, "/tag/python.atom").headers.getlist("Link") == [
        *hub_links(HUBS[0]),
        '<https://example.org/news/tag/python.atom>; rel="self"',
    ]


def test_link_targets_are_escaped_for_a_header() -> None:
    from syndicate.web import SiteHolder

    holder = SiteHolder(
        sample_site(),
        cache_max_age=60,
        site_url="https://example.org/",
        hubs=["https://hub.example.com/p?q=<a b>&é"],
    )
    prepared = holder.current.documents["/feed.rss"]
    links = [value for name, value in prepared.headers if name == "Link"]
    assert links[0] == '<https://hub.example.com/p?q=%3Ca%20b%3E&%C3%A9>; rel="hub"'


def test_link_headers_survive_a_swap(hub_client: FlaskClient) -> None:
    app = hub_client.application
    assert isinstance(app, Flask)
    app.extensions["syndicate"].holder.swap(sample_site(body=b"<rss/>", etag='"rss-v2"'))
    response = get(hub_client, Accept_Encoding="gzip")
    assert response.headers["ETag"] == '"rss-v2-gzip"'
    assert response.headers.getlist("Link") == [
        *hub_links(*HUBS),
        '<https://example.org/feed.rss>; rel="self"',
    ]


# --- the hot path and swapping ---------------------------------------------------------


def test_hot_path_answers_without_flask() -> None:
    from syndicate.web import SiteHolder

    def fallback(environ: Any, start_response: Any) -> Iterable[bytes]:
        raise AssertionError("a known feed must not reach the fallback app")

    holder = SiteHolder(sample_site(), cache_max_age=60, site_url="https://example.org/")
    responder = FeedResponder(holder, fallback)
    seen: list[Any] = []
    body = responder(
        {"REQUEST_METHOD": "GET", "PATH_INFO": "/feed.rss"},
        lambda status, headers, exc_info=None: seen.append((status, headers)),  # type: ignore[arg-type]
    )
    assert b"".join(body) == RSS_BODY
    assert seen[0][0] == "200 OK"


def test_app_services_and_swap(app: Flask) -> None:
    services = app.extensions["syndicate"]
    assert isinstance(services, Services)
    client = app.test_client()
    first_gzip = get(client, Accept_Encoding="gzip").data

    new_body = RSS_BODY.replace(b"Entry", b"Newer")
    services.holder.swap(sample_site(body=new_body, etag='"rss-v2"'))
    response = get(client, If_None_Match=ETAG)
    assert response.status_code == 200
    assert response.data == new_body
    assert response.headers["ETag"] == '"rss-v2"'
    assert gzip.decompress(get(client, Accept_Encoding="gzip").data) == new_body
    assert first_gzip != get(client, Accept_Encoding="gzip").data

    # Swapping back: the old validators work again.
    services.holder.swap(sample_site())
    assert_not_modified(get(client, If_None_Match=ETAG))
    assert get(client, Accept_Encoding="gzip").data == first_gzip


# --- a real server ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """`syndicate serve` in a subprocess on a free port; yields its base URL."""
    posts = tmp_path / "posts"
    posts.mkdir()
    (posts / "2024-05-01-hello.md").write_text(
        "---\ntitle: Hello\ndate: 2024-05-01 10:00:00\ncategories: [news]\ntags: python\n---\n"
        "Hello, *world*.\n",
        encoding="utf-8",
    )
    (tmp_path / "config.yaml").write_text(
        "site:\n  title: Served\n  url: https://example.org/\nserve:\n  cache_max_age: 77\n",
        encoding="utf-8",
    )
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "syndicate",
            "serve",
            "--config",
            "config.yaml",
            "--port",
            str(port),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its workers are in the same group, so they stop with it
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                output = process.communicate()[0].decode(errors="replace")
                pytest.fail(f"serve exited with {process.returncode}:\n{output}")
            try:
                with urllib.request.urlopen(base + "/feeds.opml", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                # A timeout too: serve holds its port from the start, so a request made
                # while its worker publishes waits instead of being refused.
                if time.monotonic() > deadline:
                    pytest.fail("serve did not answer within 30 s")
                time.sleep(0.1)
        yield base
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
        else:
            process.communicate()


def test_serve_runs_a_real_server(served: str) -> None:
    import requests

    with requests.Session() as session:
        response = session.get(served + "/feed.rss", timeout=5)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("application/rss+xml")
        assert "charset=" in response.headers["Content-Type"]
        assert response.headers["Content-Encoding"] == "gzip"  # requests asks for gzip
        assert response.headers["Cache-Control"] == "public, max-age=77"
        assert b"<title>Hello</title>" in response.content
        etag = response.headers["ETag"]

        again = session.get(served + "/feed.rss", headers={"If-None-Match": etag}, timeout=5)
        assert again.status_code == 304
        assert again.content == b""

        head = session.head(served + "/feed.atom", timeout=5)
        assert head.status_code == 200
        assert head.content == b""
        assert int(head.headers["Content-Length"]) > 0

        missing = session.get(served + "/tag/nope.rss", timeout=5)
        assert missing.status_code == 404
        assert missing.text == "No such feed: /tag/nope.rss\n"
        # Granian, not the Flask development server (which names itself Werkzeug).
        assert "werkzeug" not in response.headers.get("Server", "").lower()


# --- hardening (issue 17, case 10) ----------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("GET", "/feed.rss", {}, 200),
        ("GET", "/feed.rss", {"Accept-Encoding": "gzip"}, 200),
        ("GET", "/feed.rss", {"If-None-Match": ETAG}, 304),
        ("HEAD", "/feed.rss", {}, 200),
        ("GET", "/", {}, 200),
        ("GET", "/tag/python.atom", {}, 200),
        ("GET", "/nope", {}, 404),
        ("POST", "/feed.rss", {}, 405),
        ("GET", "/api/status", {}, 404),  # the API is off: Flask's 404
        ("GET", "/admin/", {}, 404),
    ],
)
def test_every_response_says_nosniff(
    client: FlaskClient, method: str, path: str, headers: dict[str, str], status: int
) -> None:
    response = client.open(path, method=method, headers=headers)
    assert response.status_code == status
    assert response.headers.getlist("X-Content-Type-Options") == ["nosniff"]


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        ("/x%00y", "/x%00y"),
        ("/a%0d%0aSet-Cookie:%20x", "/a%0D%0ASet-Cookie: x"),
        ("/b%1b[31m", "/b%1B[31m"),
        ("/c%e2%80%a8", "/c%E2%80%A8"),
        ("/api/x%00", None),
    ],
)
def test_a_404_does_not_echo_control_characters(
    client: FlaskClient, path: str, shown: str | None
) -> None:
    response = client.get(path)
    assert response.status_code == 404
    body = response.get_data(as_text=True)
    assert not any(ord(c) < 0x20 and c != "\n" for c in body), body
    assert "\u2028" not in body
    if shown is not None:
        assert body == f"No such feed: {shown}\n"
