"""Set up the comparison sites from a generated corpus (outside every timing) and check
what each one wrote. Stdlib only; I/O: writes the site folders, reads the outputs.

- Hugo: a minimal site whose only outputs are RSS for the home page and for every
  category and tag term (``services.rss.limit`` 20); pages are listed but never rendered
  (``build.render = "link"``). Posts are copied as content with their YAML front matter;
  only the date is rewritten to RFC 3339, which Hugo parses without guessing.
- Pelican: feeds only. Front matter becomes Pelican's Markdown metadata (``Title:``,
  ``Date:``, ``Category:`` (Pelican takes one: the first), ``Tags:``, ``Author:``,
  ``Summary:``); every ``*_SAVE_AS`` is empty and there are no direct templates or static
  files, so it writes nothing but Atom and RSS for all posts, each category and each tag.
  It still reads and renders every article (Python-Markdown with its default extensions,
  codehilite included) and loads its theme.
- syndicate: a config.yaml pointing at the corpus, with its state in the site folder.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime
from pathlib import Path

SITE_URL = "https://example.org/"

HUGO_CONFIG = """\
baseURL = "https://example.org/"
title = "Bench"
languageCode = "en"
# Only the feeds: no section, sitemap, robots or 404 pages. The taxonomy kind stays, as
# Hugo makes no term pages without it (it adds /categories/ and /tags/ feeds of terms).
disableKinds = ["section", "sitemap", "robotsTXT", "404"]

[taxonomies]
  category = "categories"
  tag = "tags"

[outputs]
  home = ["rss"]
  term = ["rss"]

[services.rss]
  limit = 20

# Pages are listed (so they are in the feeds, with their permalinks) but not written.
[[cascade]]
  [cascade.build]
    render = "link"
    list = "always"
  [cascade.target]
    kind = "page"
"""

PELICAN_CONFIG = """\
AUTHOR = "Bench"
SITENAME = "Bench"
SITEURL = "https://example.org"
FEED_DOMAIN = SITEURL
PATH = "content"
TIMEZONE = "UTC"
DEFAULT_LANG = "en"
FEED_MAX_ITEMS = 20
RSS_FEED_SUMMARY_ONLY = False
FEED_ALL_ATOM = "feeds/all.atom.xml"
FEED_ALL_RSS = "feeds/all.rss.xml"
CATEGORY_FEED_ATOM = "feeds/category/{slug}.atom.xml"
CATEGORY_FEED_RSS = "feeds/category/{slug}.rss.xml"
TAG_FEED_ATOM = "feeds/tag/{slug}.atom.xml"
TAG_FEED_RSS = "feeds/tag/{slug}.rss.xml"
FEED_ATOM = None
FEED_RSS = None
AUTHOR_FEED_ATOM = None
AUTHOR_FEED_RSS = None
TRANSLATION_FEED_ATOM = None
TRANSLATION_FEED_RSS = None
# Feeds only: write no pages at all.
ARTICLE_SAVE_AS = ""
ARTICLE_LANG_SAVE_AS = ""
DRAFT_SAVE_AS = ""
DRAFT_LANG_SAVE_AS = ""
PAGE_SAVE_AS = ""
PAGE_LANG_SAVE_AS = ""
DRAFT_PAGE_SAVE_AS = ""
DRAFT_PAGE_LANG_SAVE_AS = ""
CATEGORY_SAVE_AS = ""
TAG_SAVE_AS = ""
AUTHOR_SAVE_AS = ""
ARCHIVES_SAVE_AS = ""
AUTHORS_SAVE_AS = ""
CATEGORIES_SAVE_AS = ""
TAGS_SAVE_AS = ""
INDEX_SAVE_AS = ""
DIRECT_TEMPLATES = []
PAGINATED_TEMPLATES = {}
STATIC_PATHS = []
THEME_STATIC_PATHS = []
DEFAULT_PAGINATION = False
LOAD_CONTENT_CACHE = False
CACHE_CONTENT = False
DELETE_OUTPUT_DIRECTORY = False
"""

_DATE = re.compile(r"^date: (\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) ([+-]\d\d)(\d\d)$", re.MULTILINE)


def _split(text: str) -> tuple[str, str]:
    """(front matter, body) of a generated post."""
    _, head, body = text.split("---\n", 2)
    return head, body


def setup_hugo(posts_dir: Path, site: Path) -> None:
    """A Hugo site in site/ whose content is the corpus (dates as RFC 3339)."""
    if site.exists():
        shutil.rmtree(site)
    content = site / "content"
    content.mkdir(parents=True)
    (site / "hugo.toml").write_text(HUGO_CONFIG)
    for path in sorted(posts_dir.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        text = _DATE.sub(r"date: \1T\2\3:\4", text, count=1)
        (content / path.name).write_text(text, encoding="utf-8")


def setup_pelican(posts_dir: Path, site: Path) -> None:
    """A Pelican project in site/ (content/ and pelicanconf.py) from the corpus."""
    if site.exists():
        shutil.rmtree(site)
    content = site / "content"
    content.mkdir(parents=True)
    (site / "pelicanconf.py").write_text(PELICAN_CONFIG)
    for path in sorted(posts_dir.glob("*.md")):
        head, body = _split(path.read_text(encoding="utf-8"))
        fields = dict(re.findall(r"^(\w+): (.*)$", head, re.MULTILINE))
        date = datetime.strptime(fields["date"], "%Y-%m-%d %H:%M:%S %z")
        cats = json.loads(fields["categories"])
        tags = json.loads(fields["tags"])
        meta = [
            f"Title: {json.loads(fields['title'])}",
            f"Date: {date.isoformat()}",
            f"Author: {json.loads(fields['author'])}",
            f"Category: {cats[0]}",
            f"Tags: {', '.join(tags)}",
            f"Summary: {json.loads(fields['excerpt'])}",
            f"Slug: {path.stem[11:]}",
        ]
        if not tags:
            meta.remove("Tags: ")
        (content / path.name).write_text("\n".join(meta) + "\n\n" + body, encoding="utf-8")


def setup_syndicate(posts_dir: Path, site: Path, **extra: object) -> Path:
    """A folder with config.yaml for the corpus; returns the config's path."""
    site.mkdir(parents=True, exist_ok=True)
    config = {
        "site": {
            "title": "Bench",
            "url": SITE_URL,
            "description": "syndicate benchmark",
            "language": "en",
        },
        "posts_dir": str(posts_dir),
        "output_dir": str(site / "_site"),
        "storage": {"url": f"sqlite:///{site / 'state' / 'syndicate.db'}"},
        **extra,
    }
    path = site / "config.yaml"
    # JSON is YAML: no PyYAML needed here.
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    return path


# --------------------------------------------------------------------------- counting


def count_hugo(public: Path) -> dict[str, int]:
    return {
        "home": int((public / "index.xml").exists()),
        "categories": len(list((public / "categories").glob("*/index.xml"))),
        "tags": len(list((public / "tags").glob("*/index.xml"))),
        "term lists": len(list(public.glob("*/index.xml"))),
        "other files": sum(1 for p in public.rglob("*") if p.is_file() and p.name != "index.xml"),
    }


def count_pelican(out: Path) -> dict[str, int]:
    feeds = out / "feeds"
    return {
        "all": len(list(feeds.glob("all.*.xml"))),
        "categories": len(list((feeds / "category").glob("*.xml"))),
        "tags": len(list((feeds / "tag").glob("*.xml"))),
        "other files": sum(1 for p in out.rglob("*") if p.is_file() and feeds not in p.parents),
    }


def count_feed_files(out: Path) -> dict[str, int]:
    """Feeds written in syndicate's layout (also the script's): site, category/, tag/."""
    return {
        "site": len(list(out.glob("feed.*"))) - len(list(out.glob("feed.*.gz"))),
        "categories": len(list((out / "category").glob("*.rss")))
        + len(list((out / "category").glob("*.atom"))),
        "tags": len(list((out / "tag").glob("*.rss"))) + len(list((out / "tag").glob("*.atom"))),
    }
