"""The dashboard and the feed pages in a real browser: headless Chromium via Playwright.

Runs ``syndicate serve`` in a subprocess on a free 127.0.0.1 port (two web workers and
the scheduler, as deployed), with a local hub (``tests/servers.py``) that answers every
publish with 500, so notifications fail after their two attempts (a 4xx would be the hub
refusing them, which is not a failure: issue 18, case 6). Drives Debian's
``/usr/bin/chromium`` (never a downloaded browser) with background networking off, and
saves a screenshot of every page under ``test-artifacts/browser/``. Skipped, with the
reason, where Chromium or the ``playwright`` package is missing; ``.ci/run`` installs both.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .servers import HubServer

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        f"browser tests need Chromium at {CHROMIUM} (Debian: apt-get install chromium)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="browser tests need the playwright package (pip install playwright)",
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "browser"
TOKEN = "browser-test-token"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT = 60.0  # seconds for `serve` to answer
WAIT_MS = 15_000  # milliseconds for anything on a page

GOOD = """---
title: Hello, readers
date: 2024-04-01T10:00:00Z
categories: [News]
tags: [welcome]
---
This is the **first** post of the site. It says hello to every reader, and explains
what the site is about: news, notes and the occasional long read.
"""
SECOND = """---
title: Cats sleep a lot
date: 2024-04-02T09:30:00Z
categories: [Life]
tags: [cats, welcome]
---
Cats sleep between twelve and sixteen hours a day.
"""
BROKEN = """---
title: [unclosed
date: 2024-04-03
---
Body.
"""
LATER = """---
title: Coming soon
date: 2099-01-01T09:00:00Z
categories: [News]
---
Not yet.
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def hub() -> Iterator[HubServer]:
    with HubServer(default=500) as server:
        yield server


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, hub: HubServer) -> Iterator[str]:
    """`syndicate serve` in a subprocess on a free port; yields its base URL."""
    root = tmp_path_factory.mktemp("browser")
    posts = root / "posts"
    posts.mkdir()
    for name, text in [
        ("2024-04-01-hello.md", GOOD),
        ("2024-04-02-cats.md", SECOND),
        ("2024-04-03-broken.md", BROKEN),
        ("2099-01-01-soon.md", LATER),
    ]:
        (posts / name).write_text(text, encoding="utf-8")
    (root / "config.yaml").write_text(
        "site:\n  title: Browser News\n  url: https://example.org/\n  language: en\n"
        "  description: News, notes and the occasional long read\n"
        f"websub:\n  hubs: [{hub.url}]\nnotify:\n  timeout: 5\n  max_attempts: 2\n"
        "serve:\n  workers: 2\n",
        encoding="utf-8",
    )
    port = _free_port()
    env = {**os.environ, "SYNDICATE_EDITOR_TOKEN": TOKEN}
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
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its worker and web workers are in the same group
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
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
                    pytest.fail(f"serve did not answer within {START_TIMEOUT:g} s")
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


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser, served: str) -> Iterator[Page]:
    context = browser.new_context(base_url=served, viewport={"width": 1100, "height": 800})
    context.set_default_timeout(WAIT_MS)
    opened = context.new_page()
    try:
        yield opened
    finally:
        context.close()


@pytest.fixture
def phone(browser: Browser, served: str) -> Iterator[Page]:
    context = browser.new_context(
        base_url=served,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    context.set_default_timeout(WAIT_MS)
    opened = context.new_page()
    try:
        yield opened
    finally:
        context.close()


def shot(page: Page, name: str) -> None:
    """Save a full-page screenshot as a test artefact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page: Page) -> None:
    page.goto("/admin/")
    assert page.url.endswith("/admin/login?next=/admin/")
    page.get_by_label("Editor token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin/")


def test_the_dashboard_in_a_browser(page: Page, hub: HubServer) -> None:
    expect = sync_api.expect
    page.goto("/admin/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shot(page, "01-sign-in")

    # A wrong token is refused, with a message.
    page.get_by_label("Editor token").fill("not-the-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not the editor token")

    page.get_by_label("Editor token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin/")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator(".stat.bad").first).to_have_text("1 post error")
    shot(page, "02-overview")

    # The broken post, reported with its file name and the problem.
    page.get_by_role("link", name="Posts", exact=True).click()
    broken = page.locator("tr.error")
    expect(broken).to_contain_text("posts/2024-04-03-broken.md")
    expect(broken).to_contain_text("invalid YAML front matter")
    expect(page.locator("tr.scheduled")).to_contain_text("2099-01-01 09:00 UTC")
    expect(page.locator("tr.published").first).to_contain_text("Category: Life")
    shot(page, "03-posts")
    page.get_by_role("link", name="Error 1").click()
    expect(page.locator("table.posts tbody tr")).to_have_count(1)

    # Republish now: the result on the page.
    page.get_by_role("link", name="Overview").click()
    page.get_by_role("button", name="Republish now").click()
    expect(page.get_by_role("heading", name="Republished")).to_be_visible()
    result = page.locator("#result")
    expect(result).to_contain_text("feeds changed")
    expect(result).to_contain_text("posts/2024-04-03-broken.md")
    shot(page, "04-republished")

    # The scheduler delivered the first publish's notifications: the hub said 500, twice.
    page.get_by_role("link", name="Notifications").click()
    retry = page.get_by_role("button", name="Retry")
    deadline = time.monotonic() + WAIT_MS / 1000
    while retry.count() == 0 and time.monotonic() < deadline:
        page.wait_for_timeout(300)
        page.reload()
    expect(retry.first).to_be_visible()
    failed_row = page.locator("tr.error").first
    expect(failed_row).to_contain_text("500")
    expect(page.locator("section.target").first).to_contain_text("HTTP 500")
    shot(page, "05-notifications-failed")
    before = len(hub.requests)
    retry.first.click()
    expect(page.get_by_role("status")).to_contain_text("is queued again")
    shot(page, "06-notification-retried")
    # The scheduler tries it again within seconds (it looks at the outbox every 5 s).
    deadline = time.monotonic() + WAIT_MS / 1000
    while len(hub.requests) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(hub.requests) > before

    page.get_by_role("link", name="Feeds").click()
    expect(page.locator("tbody tr").first).to_contain_text("Site")
    shot(page, "07-feeds")

    # Sign out: back to the sign-in page, and the dashboard is closed again.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("You are signed out.")
    shot(page, "08-signed-out")
    page.goto("/admin/posts")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_feed_pages_in_a_browser(page: Page) -> None:
    expect = sync_api.expect
    page.goto("/")
    expect(page.get_by_role("heading", name="Browser News")).to_be_visible()
    expect(page.locator("tbody tr").first).to_contain_text("Cats sleep a lot")
    shot(page, "09-home")

    # A feed URL opened in the browser: a readable page, not XML.
    response = page.goto("/feed.atom")
    assert response is not None
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "accept" in response.headers["vary"].lower()
    expect(page.get_by_role("heading", name="How to subscribe")).to_be_visible()
    expect(page.locator("input").first).to_have_value("https://example.org/feed.atom")
    expect(page.locator("ul.entries li")).to_have_count(2)
    expect(page.locator("ul.entries li").first).to_contain_text("Cats sleep between twelve")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy").first.click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == "https://example.org/feed.atom"
    shot(page, "10-feed-preview")

    # What a feed reader gets from the same URL: the feed itself.
    feed = page.request.get("/feed.atom", headers={"Accept": "application/atom+xml"})
    assert feed.headers["content-type"].startswith("application/atom+xml")
    assert feed.body().startswith(b"<?xml")


def test_pages_on_a_phone(phone: Page) -> None:
    expect = sync_api.expect
    sign_in(phone)
    phone.goto("/admin/posts")
    expect(phone.locator("tr.error")).to_contain_text("posts/2024-04-03-broken.md")
    # Rows become cards: nothing wider than the screen.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    shot(phone, "11-posts-phone")
    phone.goto("/admin/notifications")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    shot(phone, "12-notifications-phone")
    phone.goto("/tag/welcome.rss")
    expect(phone.get_by_role("heading", name="How to subscribe")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    shot(phone, "13-feed-preview-phone")
    phone.goto("/")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    shot(phone, "14-home-phone")
