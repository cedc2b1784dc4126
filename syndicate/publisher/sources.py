"""What the publisher hands ``feeds.build_site``: the entries, rendered through the post
cache (``CachedEntries``, a ``feeds.EntrySource``), and where the documents go as they are
made (``HandedOn``, a ``feeds.DocumentSink``). No I/O of its own: the cache's worker
processes do the rendering.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence

from .. import feeds, posts
from ..config import Config
from ..documents import Document
from ..posts import Post
from .cache import PostCache


class CachedEntries:
    """``feeds.EntrySource`` from the post cache: the posts rendered (and their entries
    serialised) in its worker processes, which are stopped after the build's last use of
    them, so that they do not outlive the rendering while the feeds are made."""

    def __init__(self, cache: PostCache) -> None:
        self._cache = cache

    def prepare(
        self, batch: Sequence[Post], config: Config, no_json: Collection[str] = frozenset()
    ) -> Iterator[feeds.Made]:
        try:
            yield from self._cache.prepare_many(batch, config, no_json)
        finally:
            self._cache.close()  # once the last entry came, or the build failed

    def render(self, post: Post, config: Config) -> posts.Rendered:
        try:
            return self._cache.render_many([post], config)[0]
        finally:
            self._cache.close()


class HandedOn:
    """``feeds.DocumentSink`` from ``Publisher.build``'s ``keep`` and ``planned``."""

    def __init__(
        self,
        keep: Callable[[str, Document], Document] | None,
        planned: Callable[[list[str]], None] | None,
    ) -> None:
        self._keep = keep
        self._planned = planned

    def planned(self, url_paths: list[str]) -> None:
        if self._planned is not None:
            self._planned(url_paths)

    def keep(self, url_path: str, document: Document) -> Document:
        return self._keep(url_path, document) if self._keep is not None else document
