"""The hot path's precomputed answers: not documents, but what is sent for one. A
``Document`` (``documents``; a ``StoredDocument`` for a file of the live tree) is
prepared for serving once: its validators and every header computed up front
(``PreparedDocument``), and the bytes of its 200 answers, both encodings, once they are in
memory (``Payload``). Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING

from ..documents import Document, Site

if TYPE_CHECKING:
    pass


Headers = list[tuple[str, str]]
#: On every response: browsers must not guess a type other than the one sent (a feed or
#: a 404 read as HTML). A constant in each document's precomputed headers, so the hot
#: path pays nothing for it.
NOSNIFF = ("X-Content-Type-Options", "nosniff")

# Ticks for the body cache's LRU order: a count's next is atomic, and cheaper than a clock.
_tick = itertools.count(1).__next__
# Responses that depend on Accept as well as Accept-Encoding (RFC 9110 12.5.5).
VARY_NEGOTIATED = "Accept, Accept-Encoding"
VARY_ENCODING = "Accept-Encoding"


@dataclasses.dataclass(frozen=True, slots=True)
class Payload:
    """The 200 answers to a document, ready to send: its bytes in both encodings, with the
    headers that describe them. A served answer, not a document: ``document`` is that."""

    document: Document  # with the body
    body: bytes
    gzip_body: bytes
    headers: Headers  # 200, identity
    gzip_headers: Headers  # 200, Content-Encoding: gzip

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzip_body)


@dataclasses.dataclass(slots=True, eq=False)
class PreparedDocument:
    """The answers to one document, computed up front: its validators and every header
    (a 304 needs nothing more), and its 200 answers (``payload``) once its bytes are in
    memory. A served answer, not a document: ``origin`` is the document it answers for.

    A 304 needs the validators only. ``payload`` is there from the start for a document
    built in memory; for a file of the live tree it is set on first need (``BodyCache``)
    and may be dropped again, so read it once into a local. ``used`` orders the cache's
    evictions: the tick of the last 200 served from the payload (0: none yet).
    """

    # What it was prepared from: a Document built in memory, a ``StoredDocument`` (a file
    # of the live tree), or None for an HTML page (made again by ``SiteHolder`` when its
    # bytes were dropped).
    origin: Document | None
    content_type: str
    common: Headers  # every response: Last-Modified, Cache-Control, Vary, Link
    not_modified_headers: Headers  # 304 for an identity request
    gzip_not_modified_headers: Headers  # 304 for a gzip request
    etag: str  # the Document's, identity variant
    etags: frozenset[str]  # opaque-tags of both variants, for If-None-Match
    last_modified: str  # HTTP-date, as sent
    last_modified_ts: int  # whole seconds: HTTP-dates have no finer resolution
    negotiable: bool = False  # a feed that also has an HTML page for browsers
    payload: Payload | None = None
    used: int = 0

    # The payload's parts, for callers that know the bytes are in memory (a Site built
    # in memory); LookupError otherwise.

    def _loaded(self) -> Payload:
        payload = self.payload
        if payload is None:
            raise LookupError(f"document {self.etag}: its bytes are not in memory")
        return payload

    @property
    def body(self) -> bytes:
        return self._loaded().body

    @property
    def gzip_body(self) -> bytes:
        return self._loaded().gzip_body

    @property
    def headers(self) -> Headers:
        return self._loaded().headers

    @property
    def gzip_headers(self) -> Headers:
        return self._loaded().gzip_headers


@dataclasses.dataclass(frozen=True, slots=True)
class PreparedSite:
    """A Site and its documents prepared for serving, keyed by URL path."""

    site: Site
    documents: Mapping[str, PreparedDocument]


def _gzip_etag(etag: str) -> str:
    # A gzip response is a different representation and needs its own entity-tag
    # (RFC 9110 8.8.3.3), else a cache could hand gzip bytes to a client that can't read them.
    return etag[:-1] + '-gzip"' if etag.endswith('"') else etag + "-gzip"


def _opaque(etag: str) -> str:
    return etag[2:] if etag.startswith("W/") else etag


def _media_type(media_type: str) -> str:
    # Feeds are XML in UTF-8; say so, so clients don't guess (RFC 7303 section 3).
    lowered = media_type.lower()
    textual = lowered.startswith("text/") or "xml" in lowered or "json" in lowered
    if textual and "charset=" not in lowered:
        return media_type + "; charset=utf-8"
    return media_type


def _prepare(
    origin: Document | None,
    media_type: str,
    etag: str,
    last_modified: datetime,
    cache_control: str,
    links: Sequence[tuple[str, str]],
    vary: str = VARY_ENCODING,
    negotiable: bool = False,
) -> PreparedDocument:
    """Validators and headers of a document; its bytes come later (``_payload``)."""
    gz_etag = _gzip_etag(etag)
    http_date = format_datetime(last_modified.astimezone(UTC), usegmt=True)
    # Vary: the body depends on Accept-Encoding (and, for a feed that has an HTML page,
    # on Accept), so shared caches must key on them (RFC 9110 12.5.5).
    # Link: WebSub discovery travels on every response, 304 included, since a subscriber
    # may revalidate a feed it already holds (WebSub section 4).
    common = [
        ("Last-Modified", http_date),
        ("Cache-Control", cache_control),
        ("Vary", vary),
        NOSNIFF,
        *links,
    ]
    return PreparedDocument(
        origin=origin,
        content_type=_media_type(media_type),
        common=common,
        # A 304 carries what a 200 to the same request would have: ETag, Cache-Control,
        # Vary (RFC 9110 15.4.5), and Last-Modified so caches can refresh it (RFC 9111 4.3.4).
        not_modified_headers=[("ETag", etag), *common],
        gzip_not_modified_headers=[("ETag", gz_etag), *common],
        etag=etag,
        etags=frozenset({_opaque(etag), _opaque(gz_etag)}),
        last_modified=http_date,
        last_modified_ts=int(last_modified.timestamp()),
        negotiable=negotiable,
    )


def _payload(prepared: PreparedDocument, document: Document, gzip_body: bytes) -> Payload:
    """The bytes of a prepared document, with the 200 headers (Content-Length) they need."""
    return Payload(
        document=document,
        body=document.body,
        gzip_body=gzip_body,
        headers=[
            ("Content-Type", prepared.content_type),
            ("Content-Length", str(len(document.body))),
            ("ETag", prepared.etag),
            *prepared.common,
        ],
        gzip_headers=[
            ("Content-Type", prepared.content_type),
            ("Content-Length", str(len(gzip_body))),
            ("Content-Encoding", "gzip"),
            ("ETag", _gzip_etag(prepared.etag)),
            *prepared.common,
        ],
    )
