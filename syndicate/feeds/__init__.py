"""Feeds: PURE. Posts + config + now -> ``Site``, every document the site serves.

No I/O and no clock: ``now`` is a parameter. The same inputs give the same bytes.
``Site.documents`` maps URL paths (``/feed.rss``, ``/tag/python.atom``, ``/feeds.opml``,
``/``) to ``Document``s; ``web`` serves them and ``publisher.write_static`` writes them,
so the URL layout lives here only.

The package: ``_build`` (``build_site``: the Site from the posts), ``_slugs`` (names ->
slugs), ``_plan`` (which posts go in which feed), ``_formats`` (one RSS 2.0 or Atom 1.0
feed's bytes; beneath it ``_prepared``, entries kept as bytes, ``_entry``, one post's
entry, and ``_feedgen``, feedgen set up as the reference), ``_json`` (a feed's JSON Feed 1.1
twin), ``_listing`` (OPML and the index page). Its values (``Document``,
``FeedInfo``, ``Site``) are defined in ``syndicate.documents``, which the web tier imports
without this package. This module is the package's public face only.
"""

from __future__ import annotations

from ..documents import (
    Document,
    FeedInfo,
    FeedKind,
    Site,
    absolute_url,
    entity_tag,
    feed_paths,
)
from ._build import (
    EMPTY_FEED_DATE,
    INDEX_PATH,
    MEDIA_TYPES,
    OPML_PATH,
    Built,
    DocumentSink,
    EntrySource,
    Made,
    Rendering,
    Tombstones,
    build_site,
    config_fingerprint,
)
from ._plan import PlanState, SlugRecords
from ._prepared import Serialised, serialise_entries
from ._slugs import SLUG_GRACE, make_slugs, mint_slugs

__all__ = [
    "Document",
    "FeedInfo",
    "FeedKind",
    "Site",
    "build_site",
    "Built",
    "DocumentSink",
    "EntrySource",
    "Made",
    "PlanState",
    "Rendering",
    "Tombstones",
    "config_fingerprint",
    "absolute_url",
    "entity_tag",
    "feed_paths",
    "make_slugs",
    "mint_slugs",
    "SLUG_GRACE",
    "SlugRecords",
    "INDEX_PATH",
    "OPML_PATH",
    "MEDIA_TYPES",
    "EMPTY_FEED_DATE",
    "Serialised",
    "serialise_entries",
]
