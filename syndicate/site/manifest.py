"""Live tree: what a web worker needs of the tree the publisher keeps in ``output_dir``.
Reads files; no other I/O.

A live tree is every document of a Site as a file, each with a reproducible ``.gz``
beside it, and a manifest (``config.MANIFEST``), written last, naming every document's
file, media type, entity-tag and date, every feed and the signatures the next build
starts from. ``publisher.write_live`` writes it; ``read_manifest`` and
``site_from_manifest`` read it back, and ``gzip_bytes`` is how every ``.gz`` (and every
page a web worker compresses) is made.

Light on purpose (the standard library and libdeflate): web workers import this, not
the publishing stack (posts, feedgen, lxml, SQLAlchemy, requests) that writes the tree.
"""

from __future__ import annotations

import gzip
import json
import typing
import zlib
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import deflate

from ..config import MANIFEST
from ..documents import Document, FeedInfo, Site

# libdeflate's level 6: as small as zlib's best (level 9) on our feeds, within 0.02 %,
# for a third of its CPU. Files are written once and served many times, but an edit
# compresses a dozen feeds on its way out, and a cold build every one of them.
GZIP_LEVEL = 6


def gzip_bytes(body: bytes) -> bytes:
    """``body`` as one gzip member without a name and with mtime 0: same body, same bytes."""
    return bytes(deflate.gzip_compress(body, GZIP_LEVEL))


def read_manifest(out_dir: Path) -> dict[str, typing.Any] | None:
    """The manifest of a live tree, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads((out_dir / MANIFEST).read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def site_from_manifest(
    out_dir: Path,
    manifest: Mapping[str, typing.Any],
    reuse: Mapping[str, Document] | None = None,
    with_gzip: bool = False,
) -> Site:
    """The Site a manifest describes; a document in ``reuse`` with the same entity-tag,
    media type and date is kept as it is instead of being read again. ``with_gzip``
    also takes each document's .gz (for web workers, which serve it)."""
    reuse = reuse or {}
    documents: dict[str, Document] = {}
    for url_path, entry in manifest["documents"].items():
        last_modified = datetime.fromisoformat(entry["last_modified"])
        known = reuse.get(url_path)
        if (
            known is not None
            and known.etag == entry["etag"]
            and known.media_type == entry["media_type"]
            and known.last_modified == last_modified
        ):
            documents[url_path] = known
            continue
        body = (out_dir / entry["file"]).read_bytes()
        documents[url_path] = Document(
            media_type=entry["media_type"],
            body=body,
            etag=entry["etag"],
            last_modified=last_modified,
            gzip_body=_read_gzip(out_dir / (entry["file"] + ".gz"), body) if with_gzip else None,
        )
    infos = []
    for data in manifest.get("feeds", []):
        data = dict(data)
        data["updated"] = datetime.fromisoformat(data["updated"]) if data["updated"] else None
        data["entry_ids"] = tuple(data["entry_ids"])
        infos.append(FeedInfo(**data))
    signatures = manifest.get("signatures", {})
    return Site(documents=documents, feeds=tuple(infos), signatures=dict(signatures))


def _read_gzip(path: Path, body: bytes) -> bytes | None:
    """The .gz written beside a document, if it holds exactly ``body``; decompressing is
    some ten times cheaper than compressing again at level 9."""
    try:
        packed = path.read_bytes()
        if gzip.decompress(packed) == body:
            return packed
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile):
        pass
    return None
