"""The obvious hand-written feed script: python-frontmatter + markdown-it-py + feedgen.

    python bench/feeds_script.py POSTS_DIR OUT_DIR

What a user would write instead of syndicate: load every post with python-frontmatter,
render every body with markdown-it-py, then for the site, each category and each tag
build RSS 2.0 and Atom with feedgen from the newest 20 posts, full content included, in
syndicate's layout (``feed.rss``, ``category/<slug>.atom``, ...). Runs in the tools
environment. I/O: reads the posts, writes OUT_DIR.
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import frontmatter
from feedgen.feed import FeedGenerator
from markdown_it import MarkdownIt

SITE_URL = "https://example.org/"
LIMIT = 20


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "x"


def as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S %z")


def load(posts_dir: Path) -> list[dict[str, Any]]:
    md = MarkdownIt("commonmark").enable("table")
    posts = []
    for path in sorted(posts_dir.glob("*.md")):
        post = frontmatter.load(path)
        stem = path.stem
        posts.append(
            {
                "title": str(post["title"]),
                "date": as_datetime(post["date"]),
                "author": post.get("author"),
                "categories": list(cast(list[str], post.get("categories") or [])),
                "tags": list(cast(list[str], post.get("tags") or [])),
                "excerpt": post.get("excerpt"),
                "url": f"{SITE_URL}{stem[:4]}/{stem[5:7]}/{stem[8:10]}/{stem[11:]}.html",
                "html": md.render(post.content),
            }
        )
    posts.sort(key=lambda p: p["date"], reverse=True)
    return posts


def write_feed(title: str, path: str, posts: list[dict[str, Any]], out: Path) -> None:
    fg = FeedGenerator()
    fg.load_extension("dc")
    fg.id(SITE_URL + path)
    fg.title(title)
    fg.link(href=f"{SITE_URL}{path}.atom", rel="self")
    fg.link(href=SITE_URL, rel="alternate")
    fg.description(title)
    fg.language("en")
    newest = posts[:LIMIT]
    fg.updated(newest[0]["date"])
    fg.lastBuildDate(newest[0]["date"])
    for post in newest:
        entry = fg.add_entry(order="append")
        entry.id(post["url"])
        entry.title(post["title"])
        entry.link(href=post["url"])
        entry.published(post["date"])
        entry.updated(post["date"])
        if post["author"]:
            entry.author(name=post["author"])
        if post["excerpt"]:
            entry.summary(post["excerpt"])
        entry.content(post["html"], type="CDATA")
        for name in post["categories"] + post["tags"]:
            entry.category(term=name)
    target = out / path
    target.parent.mkdir(parents=True, exist_ok=True)
    fg.rss_file(str(target) + ".rss")
    fg.atom_file(str(target) + ".atom")


def main() -> None:
    posts_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
    posts = load(posts_dir)
    by_category: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_tag: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for post in posts:
        for name in post["categories"]:
            by_category[name].append(post)
        for name in post["tags"]:
            by_tag[name].append(post)
    write_feed("Bench", "feed", posts, out)
    for name, members in by_category.items():
        write_feed(f"Bench: {name}", f"category/{slugify(name)}", members, out)
    for name, members in by_tag.items():
        write_feed(f"Bench: #{name}", f"tag/{slugify(name)}", members, out)


if __name__ == "__main__":
    main()
