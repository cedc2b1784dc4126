"""Feeds: one feed as JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/), the twin of
its Atom document: the same entries, ids, titles, dates, authors, content and image. No
I/O, no clock.

Each post's item is serialised once (``json_item``, kept by ``PreparedEntry`` beside its
RSS and Atom bytes, or written ahead with them by ``serialise_entries``) and the feed is
its head, the items one per line, and its tail (``render_json_feed``), as the XML feeds
splice their entries. Keys come in a fixed order, text as UTF-8 (``ensure_ascii=False``),
so the same inputs give the same bytes. JSON Feed has no tombstone (RFC 6721 is Atom's).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from typing import Any

from ..config import Author, Config
from ..posts import Post, Rendered
from ._entry import _categories, _entry_author, entry_change
from ._feedgen import FeedMeta

VERSION = "https://jsonfeed.org/version/1.1"
USER_COMMENT = (
    "This is a JSON Feed (https://www.jsonfeed.org/): subscribe to its URL in a feed reader."
)

_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def _dumps(value: Any) -> str:
    # Keys in the order written (dicts keep it), one line: items are spliced line by line.
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _plain_summary(summary_html: str) -> str:
    """JSON Feed's ``summary`` is plain text: the summary's HTML without its tags (the
    HTML is sanitised: no script or style whose text would show)."""
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", summary_html))).strip()


def _person(author: Author) -> dict[str, str]:
    """A 1.1 ``authors`` member: name, and url where known (a mailto: when only the
    email is, as Atom's ``email`` would say)."""
    person = {"name": author.name}
    if author.uri:
        person["url"] = author.uri
    elif author.email:
        person["url"] = "mailto:" + author.email
    return person


def json_item(post: Post, rendered: Rendered, config: Config) -> bytes:
    """A post's JSON Feed item, one line of UTF-8, as ``make_entry`` makes its Atom entry."""
    item: dict[str, Any] = {
        "id": post.entry_id,
        "url": post.url,
        "title": post.title or post.url,
    }
    # An item needs content_html or content_text: without content (a summary-only entry,
    # a post with no body), the summary is what a reader is shown, as in Atom.
    item["content_html"] = rendered.content_html or rendered.summary_html
    if rendered.summary_html:
        summary = _plain_summary(rendered.summary_html)
        if summary:
            item["summary"] = summary
    image = post.image
    if image is not None and image.media_type.startswith("image/"):
        item["image"] = image.url
    item["date_published"] = post.date.isoformat()
    item["date_modified"] = entry_change(post).isoformat()
    author = _entry_author(post, config)
    if author is not None:
        item["authors"] = [_person(author)]
    tags = list(dict.fromkeys(term for term, _ in _categories(post, config)))
    if tags:
        item["tags"] = tags
    if post.lang:
        item["language"] = post.lang
    if image is not None:
        attachment: dict[str, Any] = {"url": image.url, "mime_type": image.media_type}
        if image.length is not None:
            attachment["size_in_bytes"] = image.length
        item["attachments"] = [attachment]
    return _dumps(item).encode("utf-8")


def _head_and_tail(meta: FeedMeta, json_url: str, config: Config) -> tuple[bytes, bytes]:
    site = config.site
    feed: dict[str, Any] = {
        "version": VERSION,
        "title": meta.title,
        "home_page_url": site.url,
        "feed_url": json_url,
    }
    if meta.description:
        feed["description"] = meta.description
    feed["user_comment"] = USER_COMMENT
    author = meta.author or site.author
    author = author if author is not None and author.name else None
    if author is not None:
        feed["authors"] = [_person(author)]
    if site.language:
        feed["language"] = site.language
    if config.websub.hubs:
        # WebSub section 4: the hubs a subscriber must discover, beside feed_url.
        feed["hubs"] = [{"type": "WebSub", "url": hub} for hub in config.websub.hubs]
    text = json.dumps(feed, ensure_ascii=False, indent=2)
    # Every feed's head ends with "items", the one key whose value is spliced.
    head = text[: text.rindex("\n}")] + ',\n  "items": [\n'
    return head.encode("utf-8"), b"\n  ]\n}\n"


def render_json_feed(
    meta: FeedMeta, json_url: str, items: Sequence[bytes], config: Config
) -> bytes:
    """One feed as JSON Feed 1.1 bytes: ``meta``'s feed at ``json_url`` (its own absolute
    URL), with these items (``json_item``'s), in the given order."""
    head, parts, tail = json_feed_parts(meta, json_url, items, config)
    return head + ITEM_SEPARATOR.join(parts) + tail


# Between two items of a feed's bytes (``json_feed_parts``).
ITEM_SEPARATOR = b",\n"


def json_feed_parts(
    meta: FeedMeta, json_url: str, items: Sequence[bytes], config: Config
) -> tuple[bytes, list[bytes], bytes]:
    """``render_json_feed``'s bytes as they are spliced: the head, each item as written,
    the tail; joined with ``ITEM_SEPARATOR`` between the items, they are the feed (no
    items: the whole feed is the head)."""
    head, tail = _head_and_tail(meta, json_url, config)
    if not items:
        return head.rstrip(b"\n") + b"]\n}\n", [], b""
    return head, [b"    " + item for item in items], tail
