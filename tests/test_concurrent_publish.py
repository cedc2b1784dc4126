"""Two publishers on one state: ``syndicate republish`` while the service runs.

Real parts: a running Service (real watchdog, APScheduler, SQLite store) and the
``republish`` command through CliRunner on the same config.yaml, with the web app
following the live tree; posts are real files moved away and back.
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
from lxml import etree

from syndicate.cli import main
from syndicate.config import Config, load_config
from syndicate.publisher import Publisher, open_publisher
from syndicate.service.scheduler import Service
from syndicate.web import create_app

from .test_publish import write_post

WAIT = 10.0


def wait_for(predicate: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {WAIT:g} s: {what}")
        time.sleep(0.05)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    (tmp_path / "posts").mkdir()
    path = tmp_path / "config.yaml"
    path.write_text(
        "site:\n  title: Example News\n  url: https://example.org/\n"
        # Long enough for a post to be moved away and back, with `republish` run in
        # between, before the service publishes.
        "watch:\n  debounce: 2\n  scan_interval: 3600\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def service(config_file: Path) -> Iterator[Service]:
    config = load_config(config_file)
    write_post(config.posts_dir, "2024-04-01-one.md", title="One", category="News", tags="belarus")
    write_post(config.posts_dir, "2024-04-02-two.md", title="Two", category="World", tags="europe")
    running = Service(config, open_publisher(config), poll_interval=0.5)
    running.start()
    yield running
    running.shutdown()
    assert running.publisher.store is not None
    running.publisher.store.close()


def republish(config_file: Path) -> None:
    result = CliRunner().invoke(main, ["republish", "--config", str(config_file)])
    assert result.exit_code == 0, result.output


def publishes(publisher: Publisher) -> Callable[[], int]:
    """A counter of the publishes ``publisher`` finished."""
    count = 0
    last = publisher.last

    def seen() -> int:
        nonlocal count, last
        if publisher.last is not last:
            count, last = count + 1, publisher.last
        return count

    return seen


def test_republish_while_the_service_runs_fails_no_publish_and_no_feed(
    config_file: Path, service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    """A post moved away and back, with `republish` run in between: the service reads the
    tree the other process wrote instead of failing, and every feed that exists answers."""
    config: Config = service.config
    caplog.set_level(logging.INFO, logger="syndicate")
    client = create_app(config).test_client()
    post = config.posts_dir / "2024-04-02-two.md"
    aside = config_file.parent / "two.md.aside"

    seen = publishes(service.publisher)
    shutil.move(post, aside)
    republish(config_file)  # writes the live tree without the post's feeds
    shutil.move(aside, post)
    # The service publishes both moves at once: the post is where it was, but the tree is
    # the one `republish` wrote.
    wait_for(
        lambda: seen() >= 1 or "publish failed" in caplog.text, "the service published the moves"
    )
    assert "publish failed" not in caplog.text

    def served(path: str) -> Callable[[], bool]:
        return lambda: bool(client.get(path).status_code == 200)

    for path in ("/feed.rss", "/feed.atom", "/tag/europe.rss", "/category/world.atom"):
        wait_for(served(path), f"{path} served")  # web workers reload every 20 ms
        body = client.get(path).data
        etree.fromstring(body)
        feed = feedparser.parse(body)
        assert not feed.bozo, feed.get("bozo_exception")
        assert "Two" in [entry.title for entry in feed.entries], path

    # And the other way: the service published last, `republish` finds nothing new.
    republish(config_file)
    assert "publish failed" not in caplog.text
