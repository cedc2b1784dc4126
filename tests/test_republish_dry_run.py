"""``syndicate republish --dry-run`` and the dashboard's "Preview" (issue 21): for each
feed that would change, the entries added, changed (with what changed) and removed, and
the notifications that would be queued; nothing written (live tree, store, cache file,
stamp), nothing queued; exit 0, or 1 with ``--strict`` if the publish would fail its
checks (post errors, the removal guard, the publish gate).

Real parts: the command line through CliRunner on a config file in tmp_path, a real
SQLite store, the real dashboard through the Flask test client. Feeds are parsed with
feedparser and lxml.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import feedparser
import pytest
from click.testing import CliRunner, Result
from flask import Flask
from lxml import etree

from syndicate.cli import main
from syndicate.config import Config
from syndicate.publisher import Publisher, open_publisher
from syndicate.store.sql import SqlStore
from syndicate.web import create_app
from syndicate.web.api import TOKEN_ENV

from .conftest import ConfigFactory
from .test_admin import TOKEN, csrf_of, html, sign_in
from .test_api import close_api
from .test_publish_gate import broken_site_atom

SITE = "https://example.org/"
HUB = "http://127.0.0.1:9/hub"
PING = "http://127.0.0.1:9/RPC2"

CONFIG = f"""\
site:
  title: Example News
  url: {SITE}
posts_dir: posts
websub:
  hubs: [{HUB}]
pings: [{PING}]
{{extra}}"""

POST = """---
title: {title}
date: {date}
categories: [{category}]
---

{body}
"""


def write_post(
    posts: Path,
    name: str,
    title: str,
    date: str = "2024-04-01 10:00:00",
    category: str = "News",
    body: str = "Some text.",
) -> Path:
    path = posts / name
    path.write_text(
        POST.format(title=title, date=date, category=category, body=body), encoding="utf-8"
    )
    return path


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "posts").mkdir()
    (tmp_path / "config.yaml").write_text(CONFIG.format(extra=""), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def everything(project: Path) -> dict[str, bytes]:
    """Every file under the project but the posts: the live tree, the store, the cache,
    the stamp; a dry run must leave each byte as it was."""
    return {
        p.relative_to(project).as_posix(): p.read_bytes()
        for p in sorted(project.rglob("*"))
        if p.is_file()
        and "posts" not in p.relative_to(project).parts
        # SQLite's shared-memory index and log may change when the file is only read
        # (``store_rows`` compares what the store holds).
        and not p.name.endswith(("-shm", "-wal"))
    }


def store_rows(project: Path) -> tuple[Any, ...]:
    with SqlStore(f"sqlite:///{project / 'syndicate.db'}") as store:
        return (
            store.posts(),
            store.feeds(),
            store.slugs(),
            store.tombstones(),
            store.last_build(),
            store.last_refusal(),
            [(n.kind, n.target, n.feed_url, n.revision) for n in store.pending()],
        )


def published_site(project: Path) -> None:
    posts = project / "posts"
    write_post(posts, "2024-04-01-one.md", "One", "2024-04-01 10:00:00")
    write_post(posts, "2024-04-02-two.md", "Two", "2024-04-02 10:00:00", body="Before.")
    write_post(
        posts, "2024-04-03-three.md", "Three", "2024-04-03 10:00:00", category="Life", body="3."
    )
    result = run("republish")
    assert result.exit_code == 0, result.output


def edit_site(project: Path) -> None:
    """One post added, one retitled and rewritten, one deleted."""
    posts = project / "posts"
    write_post(posts, "2024-04-04-four.md", "Four", "2024-04-04 10:00:00", body="Fourth.")
    write_post(posts, "2024-04-02-two.md", "Two, again", "2024-04-02 10:00:00", body="After.")
    (posts / "2024-04-03-three.md").unlink()


def entries(feed: dict[str, Any], key: str) -> list[str]:
    return [entry["title"] for entry in feed[key]]


def test_a_dry_run_shows_each_feed_entry_by_entry_and_changes_nothing(project: Path) -> None:
    published_site(project)
    edit_site(project)
    before, rows = everything(project), store_rows(project)

    result = run("republish", "--dry-run")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"site feed: {SITE}feed.rss: 1 entry added, 1 entry changed, 1 entry removed" in out
    assert f"  added    'Four' {SITE}news/2024/04/04/four.html" in out
    assert f"  changed  'Two, again' {SITE}news/2024/04/02/two.html (title, content, date)" in out
    assert f"  removed  'Three' {SITE}life/2024/04/03/three.html" in out
    assert f"category feed 'Life' (removed): {SITE}category/life.rss" in out
    assert f"would notify WebSub hub {HUB} of {SITE}feed.atom" in out
    assert f"would notify ping server {PING} of {SITE}feed.rss" in out
    assert out.rstrip().endswith("nothing written, nothing queued.")
    assert everything(project) == before
    assert store_rows(project) == rows

    data = json.loads(run("republish", "--dry-run", "--json").stdout)
    assert data["dry_run"] is True and data["refused"] is None
    feeds = {feed["url"]: feed for feed in data["feeds"]}
    site = feeds[SITE + "feed.rss"]
    assert (entries(site, "added"), entries(site, "changed"), entries(site, "removed")) == (
        ["Four"],
        ["Two, again"],
        ["Three"],
    )
    assert site["changed"][0]["changed"] == ["title", "content", "date"]
    news = feeds[SITE + "category/news.rss"]
    assert (entries(news, "added"), entries(news, "changed"), entries(news, "removed")) == (
        ["Four"],
        ["Two, again"],
        [],
    )
    assert [f["url"] for f in data["removed_feeds"]] == [SITE + "category/life.rss"]
    assert everything(project) == before

    # The dry run said whom the publish tells; the publish tells exactly them.
    said = {n["feed"] for n in data["notifications"] if n["kind"] == "websub"}
    assert {n["target"] for n in data["notifications"] if n["kind"] == "websub"} == {HUB}
    assert [n for n in data["notifications"] if n["kind"] == "ping"] == [
        {"kind": "ping", "target": PING, "feed": SITE + "feed.rss"}
    ]
    real = run("republish")
    assert real.exit_code == 0, real.output
    done = {line.split()[1] for line in real.stdout.splitlines() if line.startswith("changed ")}
    assert said == done
    with SqlStore(f"sqlite:///{project / 'syndicate.db'}") as store:
        queued = {n.feed_url for n in store.pending() if n.kind == "websub"}
    assert said <= queued
    # And the live feed now holds what the dry run said it would.
    parsed = feedparser.parse((project / "_site" / "feed.atom").read_bytes())
    assert not parsed.bozo
    assert [e.title for e in parsed.entries] == ["Four", "Two, again", "One"]


def test_a_dry_run_with_nothing_changed_shows_nothing_to_do(project: Path) -> None:
    published_site(project)
    result = run("republish", "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Dry run: 0 feeds would change, 0 removed, 0 held; 0 WebSub notifications and 0 pings "
        "would be queued; 0 errors, 0 warnings; nothing written, nothing queued."
    ]
    forced = json.loads(run("republish", "--dry-run", "--json", "--force").stdout)
    assert forced["force"] is True
    # Every feed document is notified with --force, as the publish would.
    assert len([n for n in forced["notifications"] if n["kind"] == "websub"]) == 9


def test_a_dry_run_before_any_publish_writes_no_store_and_no_tree(project: Path) -> None:
    write_post(project / "posts", "2024-04-01-one.md", "One")
    result = run("republish", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {f["state"] for f in data["feeds"]} == {"new"}
    assert entries(data["feeds"][0], "added") == ["One"]
    assert not (project / "_site").exists()
    assert not (project / "syndicate.db").exists()


def test_strict_fails_a_dry_run_the_removal_guard_would_refuse(project: Path) -> None:
    posts = project / "posts"
    for i in range(10):
        write_post(posts, f"2024-04-{i + 1:02d}-p{i}.md", f"Post {i}", f"2024-04-{i + 1:02d} 10:00")
    assert run("republish").exit_code == 0
    for path in sorted(posts.iterdir())[:6]:
        path.unlink()
    before, rows = everything(project), store_rows(project)
    result = run("republish", "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Would be refused: ")
    assert "publish.max_removed_share" in result.stdout
    strict = run("republish", "--dry-run", "--strict")
    assert strict.exit_code == 1
    assert "Error: the publish would fail --strict: " in strict.stderr
    assert "Traceback" not in strict.output
    # Not recorded as a refusal either: a dry run is no publish.
    assert everything(project) == before and store_rows(project) == rows


def test_strict_fails_a_dry_run_with_a_post_error(project: Path) -> None:
    published_site(project)
    (project / "posts" / "2024-04-05-broken.md").write_text("---\ntitle: [\n---\nx\n")
    result = run("republish", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "posts/2024-04-05-broken.md: " in result.stderr
    strict = run("republish", "--dry-run", "--strict")
    assert strict.exit_code == 1
    assert "Error: the publish would fail --strict: 1 error in posts" in strict.stderr


def test_strict_fails_a_dry_run_the_publish_gate_would_hold(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    published_site(project)
    write_post(project / "posts", "2024-04-04-four.md", "Four", "2024-04-04 10:00:00")
    before = everything(project)
    broken_site_atom(monkeypatch)
    result = run("republish", "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"held {SITE}feed.atom: not well-formed XML" in result.stdout
    assert f"of {SITE}feed.atom\n" not in result.stdout  # not notified
    assert f"would notify WebSub hub {HUB} of {SITE}feed.rss" in result.stdout
    # The gate's own log line is for real publishes: a dry run held nothing back.
    assert "publish gate" not in result.stderr
    strict = run("republish", "--dry-run", "--strict")
    assert strict.exit_code == 1
    assert "1 document held back by the publish gate" in strict.stderr
    assert everything(project) == before


def test_json_goes_with_dry_run(project: Path) -> None:
    result = run("republish", "--json")
    assert result.exit_code == 2
    assert "--json goes with --dry-run" in result.stderr


# --------------------------------------------------------------------------- dashboard


@pytest.fixture
def dash_config(make_config: ConfigFactory, posts_dir: Path) -> Config:
    write_post(posts_dir, "2024-04-01-one.md", "One")
    write_post(posts_dir, "2024-04-02-two.md", "Two", "2024-04-02 10:00:00")
    return make_config(websub={"hubs": [HUB]})


@pytest.fixture
def dash_publisher(dash_config: Config, clock: Any) -> Iterator[Publisher]:
    opened = open_publisher(dash_config, clock)
    opened.publish()
    yield opened
    assert opened.store is not None
    opened.store.close()


@pytest.fixture
def dash(
    monkeypatch: pytest.MonkeyPatch, dash_config: Config, dash_publisher: Publisher
) -> Iterator[Flask]:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    app = create_app(dash_config, dash_publisher, reload_interval=None)
    yield app
    close_api(app)


def tree_of(config: Config) -> dict[str, bytes]:
    out = config.output_dir
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def test_the_dashboard_preview_shows_the_dry_run(
    dash: Flask, dash_config: Config, dash_publisher: Publisher, posts_dir: Path
) -> None:
    client = dash.test_client()
    sign_in(client)
    overview = client.get("/admin/")
    buttons = html(overview).xpath("//form[@action='/admin/preview']//button/text()")
    assert buttons == ["Preview"]
    write_post(posts_dir, "2024-04-03-three.md", "Three", "2024-04-03 10:00:00", body="New.")
    (posts_dir / "2024-04-01-one.md").unlink()
    assert dash_publisher.store is not None
    pending = dash_publisher.store.pending()
    before = tree_of(dash_config)

    page = client.post("/admin/preview", data={"csrf_token": csrf_of(overview)})
    assert page.status_code == 200, page.get_data(as_text=True)
    tree = html(page)
    summary = " ".join(tree.xpath("string(//section[@id='preview']/p[2])").split())
    assert summary.startswith("2 feeds would change, 0 removed, 0 documents held back, 6 notif")
    site_feed = tree.xpath("//section[h2[contains(., '(site feed')]]")[0]
    lines = [" ".join(li.xpath("string()").split()) for li in site_feed.iterfind(".//li")]
    assert lines == [
        f"added Three {SITE}news/2024/04/03/three.html",
        f"removed One {SITE}news/2024/04/01/one.html",
    ]
    assert "nothing was written and nothing was queued" in page.get_data(as_text=True)
    assert tree_of(dash_config) == before
    assert dash_publisher.store.pending() == pending
    etree.fromstring((dash_config.output_dir / "feed.atom").read_bytes())


def test_the_dashboard_preview_follows_the_csrf_and_origin_rules(dash: Flask) -> None:
    client = dash.test_client()
    sign_in(client)
    token = csrf_of(client.get("/admin/"))
    assert client.post("/admin/preview", data={}).status_code == 400
    # Only a form post runs one (as for /admin/republish, a GET finds no page).
    assert client.get("/admin/preview").status_code == client.get("/admin/republish").status_code
    assert client.get("/admin/preview").status_code in (404, 405)
    foreign = client.post(
        "/admin/preview", data={"csrf_token": token}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    stranger = dash.test_client()
    assert stranger.post("/admin/preview", data={"csrf_token": token}).status_code in (302, 400)


def test_a_site_without_hubs_tells_no_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no `websub.hubs` (the shipped config), the dry run names no hub for a feed."""
    (tmp_path / "posts").mkdir()
    config = CONFIG.format(extra="").replace(f"hubs: [{HUB}]", "hubs: []")
    (tmp_path / "config.yaml").write_text(config, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    published_site(tmp_path)
    write_post(tmp_path / "posts", "2024-04-04-four.md", "Four", "2024-04-04 10:00:00")
    result = run("republish", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "added    'Four'" in result.stdout
    assert "hubs told of" not in result.stdout
    assert "0 WebSub notifications and 1 ping would be queued" in result.stdout
    data = json.loads(run("republish", "--dry-run", "--json").stdout)
    assert [feed["notified"] for feed in data["feeds"]] == [[], []]
