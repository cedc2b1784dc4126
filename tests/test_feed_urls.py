"""Feed URLs are minted once: a category or tag keeps its URL while it has a feed.

What a subscriber meets (issue 16, case 4): ``republish`` and ``build`` through click's
CliRunner, the service's Publisher with a real SQLite store and a FakeClock, and a web
tier built in memory, read through the Flask test client. Feeds are parsed with
feedparser (titles, entries) and the OPML with lxml.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from lxml import etree

from syndicate.cli import main
from syndicate.config import Config, load_config
from syndicate.feeds import SLUG_GRACE
from syndicate.publisher import Publisher, open_publisher
from syndicate.store.schema import SCHEMA_VERSION
from syndicate.store.sql import SqlStore
from syndicate.web import create_app

from .servers import FakeClock

CONFIG = "site:\n  title: Example News\n  url: https://example.org/\nposts_dir: posts\n"
POST = "---\ntitle: {title}\ndate: {date}\ntags: [{tags}]\ncategories: [{category}]\n---\n\nText.\n"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with config.yaml and posts/, made the current folder."""
    (tmp_path / "posts").mkdir()
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(project: Path, name: str, tags: str = "", category: str = "News", day: int = 1) -> Path:
    path = project / "posts" / f"2024-04-{day:02d}-{name}.md"
    path.write_text(
        POST.format(title=name, date=f"2024-04-{day:02d} 10:00:00", tags=tags, category=category),
        encoding="utf-8",
    )
    return path


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result


def feed(path: Path) -> feedparser.FeedParserDict:
    parsed = feedparser.parse(path.read_bytes())
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


def titles(path: Path) -> list[str]:
    return titles_of(path.read_bytes())


def titles_of(body: bytes) -> list[str]:
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return [entry.title for entry in parsed.entries]


def opml_urls(path: Path) -> dict[str, str]:
    """Feed title -> RSS URL path, as a reader importing the OPML sees them."""
    root = etree.fromstring(path.read_bytes())
    return {
        str(o.get("title")): str(o.get("xmlUrl")).removeprefix("https://example.org")
        for o in root.iter("outline")
        if o.get("version") == "RSS2"
    }


def tag_url(tree: Path, name: str) -> str:
    return opml_urls(tree / "feeds.opml")[f"Example News — Tag: {name}"]


# --------------------------------------------------------------------------- case 4


def test_a_tag_keeps_its_url_when_a_colliding_name_arrives(project: Path) -> None:
    write(project, "first", tags="café")
    run("republish")
    site = project / "_site"
    assert feed(site / "tag/cafe.rss").feed.title == "Example News — Tag: café"

    write(project, "second", tags="cafe", day=2)
    result = run("republish")
    # The subscribed URL is still the feed of café, with café's entries only.
    assert feed(site / "tag/cafe.rss").feed.title == "Example News — Tag: café"
    assert titles(site / "tag/cafe.rss") == ["first"]
    assert tag_url(site, "café") == "/tag/cafe.rss"
    # The newcomer gets a suffixed slug, and that is the only tag feed announced.
    new = tag_url(site, "cafe")
    assert new.startswith("/tag/cafe-") and new.endswith(".rss")
    assert titles(site / new.lstrip("/")) == ["second"]
    assert f"changed https://example.org{new}" in result.output
    assert "tag/cafe.rss" not in result.output
    assert "removed http" not in result.output


def test_a_static_build_with_the_store_gives_the_published_urls(project: Path) -> None:
    write(project, "first", tags="café")
    run("republish")
    write(project, "second", tags="cafe", day=2)
    run("republish")
    published = opml_urls(project / "_site/feeds.opml")

    run("build", "--out", "public")
    public = project / "public"
    assert opml_urls(public / "feeds.opml") == published
    assert feed(public / "tag/cafe.rss").feed.title == "Example News — Tag: café"
    assert titles(public / tag_url(public, "cafe").lstrip("/")) == ["second"]
    # `build` records nothing: the store holds what republish minted, no more.
    with SqlStore(f"sqlite:///{project / 'syndicate.db'}") as store:
        assert {key: rec.slug for key, rec in store.slugs().items()} == {
            ("category", "News"): "news",
            ("tag", "café"): "cafe",
            ("tag", "cafe"): tag_url(public, "cafe").removeprefix("/tag/").removesuffix(".rss"),
        }


def test_a_first_build_without_a_store_is_unchanged(project: Path) -> None:
    # A fresh site: no store, so make_slugs decides (the plain ASCII name keeps the
    # bare slug), and nothing is created.
    write(project, "first", tags="café")
    write(project, "second", tags="cafe", day=2)
    run("build", "--out", "public")
    public = project / "public"
    assert titles(public / "tag/cafe.rss") == ["second"]
    assert tag_url(public, "café").startswith("/tag/cafe-")
    assert not (project / "syndicate.db").exists()


def test_the_web_tier_built_in_memory_serves_the_stores_urls(project: Path) -> None:
    write(project, "first", tags="café")
    run("republish")
    write(project, "second", tags="cafe", day=2)
    run("republish")
    config = load_config(project / "config.yaml")
    # A web tier started where no live tree is yet (a new server, the tree on another
    # volume): it builds in memory, and must not serve cafe at café's URL meanwhile.
    (project / "_site").rename(project / "elsewhere")
    client = create_app(config, reload_interval=None).test_client()
    response = client.get("/tag/cafe.rss")
    assert response.status_code == 200
    assert feedparser.parse(response.data).feed.title == "Example News — Tag: café"
    assert titles_of(response.data) == ["first"]


def test_a_store_from_before_slugs_keeps_the_live_trees_urls(project: Path) -> None:
    """A database of schema version 1 (no slugs table) and its live tree: the first
    publish after the upgrade takes the URLs the live tree serves."""
    write(project, "first", tags="café")
    run("republish")
    url = f"sqlite:///{project / 'syndicate.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE slugs"))
        conn.execute(sa.text("UPDATE schema_version SET version = 1"))
    engine.dispose()

    write(project, "second", tags="cafe", day=2)
    run("republish")
    site = project / "_site"
    assert feed(site / "tag/cafe.rss").feed.title == "Example News — Tag: café"
    assert tag_url(site, "cafe").startswith("/tag/cafe-")
    with SqlStore(url) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.slugs()[("tag", "café")].slug == "cafe"


# --------------------------------------------------------------------------- grace period


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def service(project: Path, clock: FakeClock) -> Iterator[Publisher]:
    """The service's Publisher: a real SQLite store, the clock injected."""
    publisher = open_publisher(load_config(project / "config.yaml"), clock=clock)
    yield publisher
    publisher.close()


def slugs_of(publisher: Publisher) -> dict[str, str]:
    """Tag name -> the slug its feed is published at."""
    result = publisher.last
    assert result is not None
    return {f.name: f.slug for f in result.site.feeds if f.kind == "tag" and f.name and f.slug}


def live(config: Config, path: str) -> Path:
    return config.output_dir / path.lstrip("/")


def test_a_freed_slug_is_kept_for_its_name_during_the_grace_period(
    project: Path, service: Publisher, clock: FakeClock
) -> None:
    cafe_post = write(project, "first", tags="café")
    service.publish()
    cafe_post.unlink()
    clock.advance(days=1)
    service.publish(force=True)  # the site's only post: a removal refused unless forced
    assert not live(service.config, "/tag/cafe.rss").exists()

    # Within the grace period, another name does not get the freed URL...
    clock.advance(SLUG_GRACE.total_seconds() - timedelta(days=2).total_seconds())
    newcomer = write(project, "second", tags="cafe", day=2)
    service.publish(paths=[newcomer])
    assert slugs_of(service)["cafe"].startswith("cafe-")
    assert not live(service.config, "/tag/cafe.rss").exists()
    # ...and the name coming back gets it back (a day later, still within the period).
    clock.advance(days=1)
    assert clock.now - (T0 + timedelta(days=1)) < SLUG_GRACE
    back = write(project, "third", tags="café", day=3)
    service.publish(paths=[back])
    assert slugs_of(service)["café"] == "cafe"
    assert titles(live(service.config, "/tag/cafe.rss")) == ["third"]
    # The newcomer kept its minted slug all along.
    assert titles(live(service.config, f"/tag/{slugs_of(service)['cafe']}.rss")) == ["second"]


def test_after_the_grace_period_a_new_name_may_take_the_slug(
    project: Path, service: Publisher, clock: FakeClock
) -> None:
    cafe_post = write(project, "first", tags="café")
    service.publish()
    cafe_post.unlink()
    clock.advance(days=1)
    service.publish(force=True)  # the site's only post: a removal refused unless forced

    clock.advance(SLUG_GRACE.total_seconds() + 60)
    write(project, "second", tags="cafe", day=2)
    service.publish()
    assert slugs_of(service) == {"cafe": "cafe"}
    assert titles(live(service.config, "/tag/cafe.rss")) == ["second"]
    # café coming back now finds its slug taken: it is a new name, suffixed.
    write(project, "third", tags="café", day=3)
    service.publish()
    assert slugs_of(service)["cafe"] == "cafe"
    assert slugs_of(service)["café"].startswith("cafe-")


def test_a_name_gone_past_the_grace_period_gets_its_slug_back_if_still_free(
    project: Path, service: Publisher, clock: FakeClock
) -> None:
    post = write(project, "first", tags="café, cafe")
    service.publish()
    before = slugs_of(service)
    assert before["cafe"] == "cafe" and before["café"].startswith("cafe-")
    post.unlink()
    service.publish(force=True)  # the site's only post: a removal refused unless forced
    clock.advance(days=400)
    write(project, "again", tags="café", day=2)
    service.publish()
    assert slugs_of(service) == {"café": before["café"]}


def test_a_web_tier_whose_store_cannot_be_read_still_serves(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(project, "first", tags="café")
    (project / "syndicate.db").write_bytes(b"not a database, " * 100)
    config = load_config(project / "config.yaml")
    with caplog.at_level(logging.WARNING, logger="syndicate"):
        client = create_app(config, reload_interval=None).test_client()
    assert titles_of(client.get("/tag/cafe.rss").data) == ["first"]
    assert any(
        "syndicate.db" in r.getMessage() and "without the store" in r.getMessage()
        for r in caplog.records
    )
