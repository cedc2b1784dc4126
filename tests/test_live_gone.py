"""A live tree removed while serving (``rm -rf`` of the output folder): the generation
never goes back, the web process says the tree is gone and picks up the next one, and
every feed answers 200 with the new bytes once a publish has written the tree again.

Real parts: a running Service (watchdog, APScheduler, a SQLite store) writing the live
tree, the web app with its reloader thread, the Flask test client, and ``republish``
through CliRunner.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner
from flask import Flask
from lxml import etree

from syndicate.cli import main
from syndicate.config import Config, load_config
from syndicate.publisher import open_publisher
from syndicate.service.scheduler import Service
from syndicate.site.manifest import read_manifest
from syndicate.web import Services, create_app

WAIT = 10.0

POST = """---
title: {title}
date: {date}
tags: [{tags}]
---

{body}
"""


def write_post(posts_dir: Path, name: str, title: str, date: str, tags: str) -> Path:
    path = posts_dir / name
    text = POST.format(title=title, date=date, tags=tags, body=f"About {title}.")
    path.write_text(text, encoding="utf-8")
    return path


def wait_for(predicate: Callable[[], object], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:g} s: {what}")
        time.sleep(0.02)


def manifest_of(config: Config) -> dict[str, object]:
    manifest = read_manifest(config.output_dir)
    assert manifest is not None
    return manifest


def generation(config: Config) -> int:
    manifest = read_manifest(config.output_dir)
    return int(manifest["generation"]) if manifest else 0


CONFIG = """\
site:
  title: Example News
  url: https://example.org/
  description: News from Example
posts_dir: posts
watch:
  debounce: 0.2
  scan_interval: 3600
"""


@pytest.fixture
def live_config(tmp_path: Path, posts_dir: Path) -> Config:
    """A config file, so that ``republish`` reads the same one as the service."""
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    return load_config(tmp_path / "config.yaml")


@pytest.fixture
def service(live_config: Config, posts_dir: Path) -> Iterator[Service]:
    write_post(posts_dir, "2024-04-01-one.md", "One", "2024-04-01 10:00:00", "alpha, beta")
    write_post(posts_dir, "2024-04-02-two.md", "Two", "2024-04-02 10:00:00", "beta, gamma")
    running = Service(live_config, open_publisher(live_config), poll_interval=0.5)
    running.start()  # publishes the first generation before returning
    yield running
    running.shutdown()
    assert running.publisher.store is not None
    running.publisher.store.close()


@pytest.fixture
def app(live_config: Config, service: Service) -> Iterator[Flask]:
    made = create_app(live_config, reload_interval=0.02)
    yield made
    services: Services = made.extensions["syndicate"]
    assert services.reloader is not None
    services.reloader.stop()


def feed_paths(config: Config) -> list[str]:
    manifest = manifest_of(config)
    documents = manifest["documents"]
    assert isinstance(documents, dict)
    return sorted(p for p, e in documents.items() if "xml" in e["media_type"])


def serve_everything(app: Flask, config: Config) -> dict[str, str]:
    """GET every feed (so the web process holds their bytes); their ETags."""
    client = app.test_client()
    etags = {}
    for path in feed_paths(config):
        response = client.get(path)
        assert response.status_code == 200, path
        etags[path] = response.headers["ETag"]
    return etags


def assert_every_feed_is_the_new_tree(app: Flask, config: Config, least: int = 8) -> None:
    """Every feed the manifest names answers 200 with its file's bytes and entity-tag."""
    manifest = manifest_of(config)
    documents = manifest["documents"]
    assert isinstance(documents, dict)
    client = app.test_client()
    paths = feed_paths(config)
    assert len(paths) >= least  # the front page and three tags, in both formats
    for path in paths:
        entry = documents[path]
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["ETag"] == entry["etag"], path
        assert response.data == (config.output_dir / entry["file"]).read_bytes(), path
        parsed = feedparser.parse(response.data)
        assert not parsed.bozo, path
        assert etree.fromstring(response.data) is not None


def test_a_removed_tree_republished_by_an_edit_is_served_whole(
    live_config: Config, posts_dir: Path, app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="syndicate")
    services: Services = app.extensions["syndicate"]
    reloader = services.reloader
    assert reloader is not None
    before = generation(live_config)
    assert reloader.generation == before
    old = serve_everything(app, live_config)

    shutil.rmtree(live_config.output_dir)
    wait_for(
        lambda: any("gone" in r.getMessage() and r.name == "syndicate.web" for r in caplog.records),
        "the web process saying the live tree is gone",
    )

    write_post(posts_dir, "2024-04-02-two.md", "Two again", "2024-04-02 10:00:00", "beta, gamma")
    wait_for(lambda: read_manifest(live_config.output_dir) is not None, "a new live tree")
    wait_for(
        lambda: b"Two again" in (live_config.output_dir / "feed.atom").read_bytes(),
        "the edit in the new live tree",
    )
    wait_for(lambda: reloader.generation == generation(live_config), "the new tree picked up")
    assert_every_feed_is_the_new_tree(app, live_config)
    assert generation(live_config) > before
    client = app.test_client()
    assert b"Two again" in client.get("/feed.atom").data
    assert client.get("/feed.rss").headers["ETag"] != old["/feed.rss"]
    gone = [r for r in caplog.records if r.name == "syndicate.web" and "gone" in r.getMessage()]
    assert len(gone) == 1  # one line, not one a poll
    assert str(live_config.output_dir) in gone[0].getMessage()


def test_a_removed_tree_republished_from_the_command_line_is_served_whole(
    live_config: Config, posts_dir: Path, app: Flask, service: Service
) -> None:
    services: Services = app.extensions["syndicate"]
    reloader = services.reloader
    assert reloader is not None
    before = generation(live_config)
    serve_everything(app, live_config)

    shutil.rmtree(live_config.output_dir)
    wait_for(lambda: reloader.generation is None, "the web process seeing the tree gone")
    config_file = str(live_config.root / "config.yaml")
    result = CliRunner().invoke(main, ["republish", "--config", config_file])
    assert result.exit_code == 0, result.output
    republished = generation(live_config)
    assert republished > before
    wait_for(lambda: reloader.generation == republished, "the republished tree picked up")
    assert_every_feed_is_the_new_tree(app, live_config)

    # The worker, whose tree was replaced behind its back, publishes after it: later still.
    write_post(posts_dir, "2024-04-01-one.md", "One again", "2024-04-01 10:00:00", "alpha, beta")
    wait_for(lambda: generation(live_config) > republished, "the worker's next publish")
    wait_for(lambda: reloader.generation == generation(live_config), "that one picked up")
    assert_every_feed_is_the_new_tree(app, live_config)
    assert b"One again" in app.test_client().get("/tag/alpha.atom").data


def test_while_the_tree_is_gone_what_is_in_memory_is_served_and_the_rest_is_503(
    live_config: Config, posts_dir: Path, app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="syndicate")
    services: Services = app.extensions["syndicate"]
    reloader = services.reloader
    assert reloader is not None
    client = app.test_client()
    held = client.get("/feed.atom")
    assert held.status_code == 200
    assert "/tag/gamma.rss" in feed_paths(live_config)  # listed, never read so far

    shutil.rmtree(live_config.output_dir)
    wait_for(lambda: services.holder.tree_gone, "the web process seeing the tree gone")
    # The bytes in memory are the generation last published, under its own validators.
    again = client.get("/feed.atom")
    assert again.status_code == 200
    assert (again.data, again.headers["ETag"]) == (held.data, held.headers["ETag"])
    assert (
        client.get("/feed.atom", headers={"If-None-Match": held.headers["ETag"]}).status_code == 304
    )
    # A file that is gone is not waited for, request after request.
    for _ in range(3):
        missing = client.get("/tag/gamma.rss")
        assert missing.status_code == 503
        assert missing.headers["Retry-After"] == "1"
        assert missing.headers["Cache-Control"] == "no-store"
    assert not [r for r in caplog.records if "kept changing" in r.getMessage()]

    write_post(posts_dir, "2024-04-02-two.md", "Two again", "2024-04-02 10:00:00", "beta, gamma")
    wait_for(lambda: not services.holder.tree_gone, "the new tree picked up")
    assert_every_feed_is_the_new_tree(app, live_config)
    assert b"Two again" in client.get("/tag/gamma.rss").data


def test_the_worker_writes_a_removed_tree_again_at_its_next_full_scan(
    tmp_path: Path, posts_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No edit needed: the full scan (``watch.scan_interval``) finds the tree gone and
    writes it whole, and the web process serves every feed of it."""
    caplog.set_level(logging.INFO, logger="syndicate")
    text = CONFIG.replace("scan_interval: 3600", "scan_interval: 0.5")
    (tmp_path / "config.yaml").write_text(text, encoding="utf-8")
    config = load_config(tmp_path / "config.yaml")
    write_post(posts_dir, "2024-04-01-one.md", "One", "2024-04-01 10:00:00", "alpha, beta")
    running = Service(config, open_publisher(config), poll_interval=0.5)
    running.start()
    app = create_app(config, reload_interval=0.02)
    services: Services = app.extensions["syndicate"]
    try:
        before = generation(config)
        serve_everything(app, config)
        shutil.rmtree(config.output_dir)
        wait_for(lambda: generation(config) > before, "the tree written again by a full scan")
        wait_for(lambda: not services.holder.tree_gone, "the new tree picked up")
        wait_for(
            lambda: (
                services.reloader is not None and services.reloader.generation == generation(config)
            ),
            "the newest generation picked up",
        )
        assert_every_feed_is_the_new_tree(app, config, least=4)
        assert any(
            r.name == "syndicate.publisher" and "gone" in r.getMessage() for r in caplog.records
        )
    finally:
        assert services.reloader is not None
        services.reloader.stop()
        running.shutdown()
        assert running.publisher.store is not None
        running.publisher.store.close()
