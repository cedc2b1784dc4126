"""The face of syndicate.posts: every name it exports is the one its module defines, and
importing the package (or its walk) loads none of the Markdown, YAML and XML stack."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

import syndicate.posts as posts


@pytest.mark.parametrize("name", posts.__all__)
def test_each_name_of_the_face_is_its_module_s(name: str) -> None:
    home = importlib.import_module(f"syndicate.posts.{posts._HOMES[name]}")
    assert getattr(posts, name) is getattr(home, name)


def test_the_face_exports_exactly_its_homes() -> None:
    assert sorted(posts._HOMES) == posts.__all__
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        _ = posts.no_such_name  # type: ignore[attr-defined]


HEAVY = ("yaml", "dateutil", "frontmatter", "slugify", "cmarkgfm", "nh3", "lxml", "ftfy")

SCRIPT = """
import json, sys
import syndicate.posts
from syndicate.posts import walk
from syndicate.posts.walk import POST_SUFFIXES
light = [m for m in {heavy!r} if m in sys.modules]
from syndicate.posts import load_posts
print(json.dumps([light, [m for m in {heavy!r} if m in sys.modules]]))
"""


def test_the_walk_comes_without_the_stack_that_reads_posts() -> None:
    # syndicate.config imports yaml itself: what the posts package adds is measured
    # against a process that has imported the config first.
    script = "import syndicate.config\n" + SCRIPT.format(heavy=HEAVY[1:])
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    light, loaded = json.loads(done.stdout)
    assert light == []
    assert {"dateutil", "frontmatter", "slugify"} <= set(loaded)
