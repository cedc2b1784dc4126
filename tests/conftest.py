"""Shared fixtures: a posts folder in tmp_path and a Config pointing at it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from syndicate.config import Config, config_from_mapping

ConfigFactory = Callable[..., Config]


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
