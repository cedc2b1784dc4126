"""Shared fixtures: a posts folder and a Config in tmp_path, a store, a clock, local servers.

``store`` is an SQLite file at ``db_url`` (the file the default config's
``storage.url`` names too); ``hub`` and ``pinger`` are real servers on 127.0.0.1
(see ``servers``), shut down after the test. ``app`` is the web app of ``config`` as
served (the WSGI front first, then Flask), and ``client`` its test client: a module that
needs posts (or the editors' token) before the app is made overrides ``config``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from syndicate.config import Config, config_from_mapping
from syndicate.publisher import Publisher, PublishResult
from syndicate.store.sql import SqlStore
from syndicate.web import create_app
from syndicate.web.api import EXTENSION as API_EXTENSION

from .servers import FakeClock, HubServer, PingServer

ConfigFactory = Callable[..., Config]


class HookedPublisher(Publisher):
    """A real Publisher (same config, clock, store, outbox, cache as ``base``) that calls
    ``hook(paths)`` before each publish, so a test can gate, slow or record publishes."""

    def __init__(self, base: Publisher, hook: Callable[[list[Path] | None], None]) -> None:
        super().__init__(base.config, base.clock, base.store, base.outbox, base.cache)
        self.hook = hook

    def publish(
        self,
        force: bool = False,
        notify: bool = True,
        write: bool = True,
        paths: Iterable[Path] | None = None,
    ) -> PublishResult:
        named = sorted(paths) if paths is not None else None
        self.hook(named)
        return super().publish(force=force, notify=notify, write=write, paths=named)


CLOCK_START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """The CLI configures the `syndicate` logger (handlers, level); every test leaves it
    as it found it, so no test's log level or handler leaks into the next."""
    logger = logging.getLogger("syndicate")
    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)


@pytest.fixture
def posts_dir(tmp_path: Path) -> Path:
    """An empty posts folder; write post files into it."""
    d = tmp_path / "posts"
    d.mkdir()
    return d


@pytest.fixture
def make_config(tmp_path: Path, posts_dir: Path) -> ConfigFactory:
    """Build a Config rooted at tmp_path; keyword arguments override top-level keys."""

    def factory(**overrides: Any) -> Config:
        data: dict[str, Any] = {
            "site": {
                "title": "Example News",
                "url": "https://example.org/",
                "description": "News from Example",
                "language": "en",
                "timezone": "UTC",
            },
            "posts_dir": "posts",
            "authors": {
                "badely": {
                    "name": "Badely",
                    "email": "badely@example.org",
                    "uri": "https://example.org/about",
                },
            },
        }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return config_from_mapping(data, tmp_path)

    return factory


@pytest.fixture
def config(make_config: ConfigFactory) -> Config:
    """The default test Config (site https://example.org/, posts in tmp_path/posts)."""
    return make_config()


@pytest.fixture
def app(config: Config) -> Iterator[Flask]:
    """The web app of ``config``: its live tree if one was published, else its posts built
    in memory; no reloader thread (a test that publishes meanwhile swaps in itself). The
    store the editor API opened, if any, is closed after the test."""
    made = create_app(config, reload_interval=None)
    yield made
    made.extensions[API_EXTENSION].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of ``app``, on the real hot path (the WSGI front wraps ``wsgi_app``)."""
    return app.test_client()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """An SQLite file in tmp_path, not created until a store opens it."""
    return f"sqlite:///{tmp_path / 'syndicate.db'}"


@pytest.fixture
def store(db_url: str) -> Iterator[SqlStore]:
    """An open SqlStore on ``db_url``, closed after the test."""
    with SqlStore(db_url) as s:
        yield s


@pytest.fixture
def clock() -> FakeClock:
    """A FakeClock at CLOCK_START (2024-05-01 12:00 UTC); it moves only on ``advance()``."""
    return FakeClock(CLOCK_START)


@pytest.fixture
def hub() -> Iterator[HubServer]:
    """A WebSub hub on 127.0.0.1 that records every request; answers 204 unless told."""
    with HubServer() as server:
        yield server


@pytest.fixture
def pinger() -> Iterator[PingServer]:
    """An XML-RPC weblogUpdates server on 127.0.0.1 that records every call."""
    with PingServer() as server:
        yield server
