"""Live tree: the tree the publisher keeps in ``output_dir`` for web workers to serve,
and its manifest; the one module that writes it and reads it back. Does file I/O.

A live tree is every document of a Site as a file, each with a reproducible ``.gz``
beside it, and a manifest (``config.MANIFEST``), written last, naming every document's
file, media type, entity-tag and date, every feed and the signatures the next build
starts from. ``write_live`` writes it (``LiveTree`` remembers what it wrote, ``Packer``
compresses and spools the documents of a publish as they are made); ``read_manifest``,
``site_from_manifest`` and ``load_live`` read it back for the publisher, ``read_live``
for web workers, and ``gzip_bytes`` is how every ``.gz`` (and every page a web worker
compresses) is made. ``file_path`` is where a document of a URL path lives in a tree,
this one or a static one (``site.files``). A document read back without its bytes is a
``StoredDocument`` (a ``Document`` whose bytes stay in its file), for the publisher, for
``build`` and for web workers alike; ``SpooledDocument`` is one a publish has written
beside its place, not yet renamed into it.

Light on purpose (the standard library and libdeflate): web workers import this, not
the publishing stack (posts, feedgen, lxml, SQLAlchemy, requests) that makes the Site.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import threading
import typing
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path, PurePosixPath

import deflate

from ..config import MANIFEST
from ..documents import Document, FeedInfo, Site, entity_tag
from ..errors import LiveTreeChanged, PublishError
from ..outdir import claim_live

# The log lines of the web workers that read the manifest keep their name.
log = logging.getLogger("syndicate.web")

Identity = tuple[int, int, int]  # (st_ino, st_mtime_ns, st_size) of a file

# libdeflate's level 4: on our feeds within 2.5 % of its level 6 (itself as small as
# zlib's best) in half its CPU, and smaller than its levels 1 to 3. Files are written
# once and served many times, but an edit compresses a dozen feeds on its way out, and
# a cold build every one of them: level 6 was an eighth of a 10k build's CPU
# (bench/RESULTS.md, "Why the fast paths").
GZIP_LEVEL = 4


# A full archive page (RFC 5005: one with a cache lifetime of its own) is written once
# and fetched seldom, by a reader paging back once: compressed fast. At 10k posts the
# pages hold every post again (bench/RESULTS.md, "Why the fast paths").
ARCHIVE_GZIP_LEVEL = 1


def gzip_bytes(body: bytes, level: int = GZIP_LEVEL) -> bytes:
    """``body`` as one gzip member without a name and with mtime 0: same body, same bytes."""
    return bytes(deflate.gzip_compress(body, level))


def gzip_level(doc: Document) -> int:
    """The compression level of ``doc``'s ``.gz``."""
    return GZIP_LEVEL if doc.max_age is None else ARCHIVE_GZIP_LEVEL


def gzip_document(doc: Document) -> bytes:
    """``doc``'s ``.gz`` bytes: its body by ``gzip_bytes``, at ``gzip_level``."""
    return gzip_bytes(doc.body, gzip_level(doc))


def read_manifest(out_dir: Path) -> dict[str, typing.Any] | None:
    """The manifest of a live tree, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads((out_dir / MANIFEST).read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def site_from_manifest(out_dir: Path, manifest: Mapping[str, typing.Any]) -> Site:
    """The Site a manifest describes, every document's bytes read from its file."""
    documents: dict[str, Document] = {}
    for url_path, entry in manifest["documents"].items():
        documents[url_path] = Document(
            media_type=entry["media_type"],
            body=(out_dir / entry["file"]).read_bytes(),
            etag=entry["etag"],
            last_modified=datetime.fromisoformat(entry["last_modified"]),
            max_age=_max_age(entry),
        )
    infos = tuple(_feed_info(data) for data in manifest.get("feeds", []))
    signatures = manifest.get("signatures", {})
    return Site(documents=documents, feeds=infos, signatures=dict(signatures))


def _feed_info(data: Mapping[str, typing.Any]) -> FeedInfo:
    """A feed as its manifest entry names it (``_feed_info_json`` wrote it)."""
    fields = dict(data)
    fields["updated"] = datetime.fromisoformat(fields["updated"]) if fields["updated"] else None
    fields["entry_ids"] = tuple(fields["entry_ids"])
    fields["aliases"] = tuple(fields.get("aliases", ()))
    return FeedInfo(**fields)


def document_digest(data: bytes) -> str:
    """The digest of a document's bytes, as the store keeps it for each feed."""
    return hashlib.sha256(data).hexdigest()


def held_documents(out_dir: Path) -> dict[str, str]:
    """The documents the last publish's gate held back (URL path -> problem), as its
    manifest names them: each is served at its last good version, or not at all."""
    try:
        data = (out_dir / MANIFEST).read_bytes()
    except OSError:
        return {}
    # A large site's manifest takes a while to parse, and is read for every status: the
    # key is looked for first (a name "held" merely makes it parse).
    if b'"held"' not in data:
        return {}
    try:
        held = json.loads(data).get("held")
    except (AttributeError, ValueError):
        return {}
    if not isinstance(held, dict):
        return {}
    return {str(path): str(problem) for path, problem in held.items()}


def manifest_identity(out_dir: Path) -> Identity | None:
    """(inode, mtime, size) of a live tree's manifest; None if there is none. It is
    replaced with rename(2), so a new one always has a new inode: a web worker that sees
    the same identity has nothing to read again."""
    return _identity(out_dir / MANIFEST)


# --------------------------------------------------------------------------- web workers' reader


@dataclasses.dataclass(frozen=True)
class LiveSite(Site):
    """One generation of a live tree, read from its manifest alone: a Site whose documents
    are ``StoredDocument``s (no document is read), and the manifest's generation."""

    generation: int | None = None


class ManifestMemo:
    """The entries of the last manifest read, as JSON values and as parsed: a publish
    changes a few of hundreds of documents and feeds, and an entry whose JSON is the same
    is taken as it was parsed then (making every ``StoredDocument`` and ``FeedInfo`` again cost
    more than parsing the JSON). The unchanged ones keep their identity, so a swap
    recognises them at once."""

    def __init__(self) -> None:
        self.documents: dict[str, tuple[dict[str, str], StoredDocument]] = {}
        self.feeds: dict[str, tuple[dict[str, object], FeedInfo]] = {}


def read_live(out_dir: Path, memo: ManifestMemo | None = None) -> LiveSite | None:
    """The newest generation of the live tree, from its manifest alone; None if there is
    none (yet). No document is read: ``BodyCache`` reads each when it is first needed.
    ``memo`` holds what the last read gave, and is updated."""
    manifest = read_manifest(out_dir)
    if manifest is None:
        return None
    memo = memo if memo is not None else ManifestMemo()
    try:
        known_documents = memo.documents
        documents_seen: dict[str, tuple[dict[str, str], StoredDocument]] = {}
        documents: dict[str, Document] = {}
        for url_path, entry in manifest["documents"].items():
            known = known_documents.get(url_path)
            if known is None or known[0] != entry:
                known = (entry, _stored(out_dir, entry))
            documents_seen[url_path] = known
            documents[url_path] = known[1]
        known_feeds = memo.feeds
        listed = manifest.get("feeds", [])
        infos: list[FeedInfo | None] = []
        changed = []
        for data in listed:
            known_feed = known_feeds.get(data["rss_path"])
            if known_feed is not None and known_feed[0] == data:
                infos.append(known_feed[1])
            else:
                infos.append(None)
                changed.append(data)
        parsed = map(_feed_info, changed)
        feeds = tuple(info if info is not None else next(parsed) for info in infos)
        feeds_seen = {
            data["rss_path"]: (data, info) for data, info in zip(listed, feeds, strict=True)
        }
        signatures = dict(manifest.get("signatures", {}))
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        log.warning("%s: cannot read the live tree's manifest: %s", out_dir, exc)
        return None
    memo.documents, memo.feeds = documents_seen, feeds_seen
    generation = manifest.get("generation")
    return LiveSite(
        documents,
        feeds,
        signatures,
        generation if isinstance(generation, int) else None,
    )


class LiveTree:
    """The manifest this process last wrote to a live tree, and the file's identity then:
    while the file is unchanged, the next write compares against it without reading and
    parsing it again, and unchanged feeds keep their manifest entries."""

    def __init__(self) -> None:
        self.manifest: dict[str, typing.Any] | None = None
        self.identity: Identity | None = None  # of the manifest written
        # rss path -> (info, its manifest entry, that entry as JSON text)
        self.feeds: dict[str, tuple[FeedInfo, dict[str, object], str]] = {}
        self.documents: dict[str, Document] = {}  # as written with ``manifest``
        # URL path -> (manifest entry, '"path": entry' as JSON text)
        self.entry_texts: dict[str, tuple[dict[str, str], str]] = {}

    def read(self, out_dir: Path) -> dict[str, typing.Any] | None:
        if self.manifest is not None and self.identity == _identity(out_dir / MANIFEST):
            return self.manifest
        return read_manifest(out_dir)

    def feed_json(self, info: FeedInfo) -> tuple[dict[str, object], str]:
        """A feed's manifest entry and its JSON text, made again only for a new info."""
        known = self.feeds.get(info.rss_path)
        if known is None or known[0] is not info:
            data = _feed_info_json(info)
            known = self.feeds[info.rss_path] = (info, data, json.dumps(data))
        return known[1], known[2]

    def encode(self, manifest: dict[str, typing.Any], feed_texts: Sequence[str]) -> bytes:
        """``json.dumps(manifest)``, byte for byte, from the JSON text of each document
        and feed entry kept since they were made: encoding the whole manifest again
        took longer than the rest of an edit's write."""
        texts: dict[str, tuple[dict[str, str], str]] = {}
        documents = []
        for url_path, entry in manifest["documents"].items():
            known = self.entry_texts.get(url_path)
            if known is None or known[0] is not entry:
                known = (entry, f"{json.dumps(url_path)}: {json.dumps(entry)}")
            texts[url_path] = known
            documents.append(known[1])
        self.entry_texts = texts
        text = (
            f'{{"generation": {json.dumps(manifest["generation"])}, '
            f'"documents": {{{", ".join(documents)}}}, '
            f'"feeds": [{", ".join(feed_texts)}], '
            f'"signatures": {json.dumps(manifest["signatures"])}'
            # Documents the publish gate held back (URL path -> problem): only when there
            # are some, so a manifest without any is the same bytes as before the gate.
            + (f', "held": {json.dumps(manifest["held"])}' if manifest.get("held") else "")
            + "}"
        )
        return text.encode()


def _identity(path: Path) -> Identity | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


# At most this many documents of a publish are compressed as they are made (Packer).
PACK_AHEAD = 64


class Packer:
    """The gzip form of the documents a publish makes, compressed on other threads as
    each is made (libdeflate releases the GIL) while the next ones are: an edit's feeds
    are then compressed by the time they are written. Only the first ``most``: a publish
    of every feed (a start) does not hold every feed compressed at once as well.

    With ``spool`` (the live tree's folder), the documents after the first ``most`` are
    written at once, with their ``.gz``, to hidden files beside their places, which
    ``write_live`` renames into place (``SpooledDocument``): a publish of every feed
    then never holds them all until the end. What is not renamed
    into place (a publish that fails) is removed by ``close()``.
    """

    def __init__(self, most: int | None = None, spool: Path | None = None) -> None:
        self._most = PACK_AHEAD if most is None else most
        self._spool = spool
        self._pool: ThreadPoolExecutor | None = None
        self._futures: dict[int, tuple[Document, Future[bytes]]] = {}
        self._spooling: deque[Future[None]] = deque()
        self._spooled: list[SpooledDocument] = []

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1)
        return self._pool

    def keep(self, url_path: str, doc: Document) -> Document:
        """``feeds.build_site``'s ``keep``: ``doc`` as it is, its compression started; or,
        past the first ``most``, spooled."""
        if len(self._futures) < self._most:
            self._futures[id(doc)] = (doc, self._executor().submit(gzip_document, doc))
            return doc
        if self._spool is None:
            return doc
        target = self._spool.joinpath(*file_path(url_path).parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        spooled = SpooledDocument(doc, target, document_digest(doc.body))
        self._spooled.append(spooled)
        # At most two a core in flight: the bodies waiting are held meanwhile.
        while len(self._spooling) >= 2 * (os.cpu_count() or 1):
            self._spooling.popleft().result()
        self._spooling.append(self._executor().submit(spooled.write, doc.body))
        return spooled

    def packed(self, doc: Document) -> bytes:
        """``gzip_document(doc)``, from the compression started for it if there is one."""
        found = self._futures.get(id(doc))
        if found is not None and found[0] is doc:
            return found[1].result()
        return gzip_document(doc)

    def spooled(self) -> None:
        """Wait until every spooled document is in its files (re-raising a failure)."""
        while self._spooling:
            self._spooling.popleft().result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
        self._futures.clear()
        self._spooling.clear()
        for spooled in self._spooled:
            spooled.discard()
        self._spooled.clear()


class SpooledDocument(Document):
    """A document a publish has written to hidden files beside its place in the live
    tree (its ``.gz`` too, both with its Last-Modified as mtime), for ``write_live`` to
    rename into place (``move_to``). ``digest`` is that of its bytes, taken as it was made."""

    __slots__ = ("target", "digest")
    target: Path
    digest: str

    def __init__(self, doc: Document, target: Path, digest: str) -> None:
        # Document is frozen; its fields are set as its own __init__ would set them.
        object.__setattr__(self, "media_type", doc.media_type)
        object.__setattr__(self, "etag", doc.etag)
        object.__setattr__(self, "last_modified", doc.last_modified)
        object.__setattr__(self, "max_age", doc.max_age)
        object.__setattr__(self, "target", target)
        object.__setattr__(self, "digest", digest)

    def _spool(self, gz: bool = False) -> Path:
        name = self.target.name + (".gz" if gz else "")
        return self.target.with_name(f".{name}.spool-{os.getpid()}-{id(self)}")

    def write(self, body: bytes) -> None:
        mtime = self.last_modified.timestamp()
        packed = gzip_bytes(body, gzip_level(self))
        for path, data in ((self._spool(), body), (self._spool(gz=True), packed)):
            with naming(path):
                path.write_bytes(data)
            os.utime(path, (mtime, mtime))

    @property
    def body(self) -> bytes:
        data = self._spool().read_bytes()
        if entity_tag(data) != self.etag:
            raise PublishError(f"{self._spool()}: changed on disk since it was written")
        return data

    def move_to(self, target: Path) -> None:
        """Rename the document's files into place at ``target`` (and ``target``.gz)."""
        os.replace(self._spool(), target)
        os.replace(self._spool(gz=True), target.with_name(target.name + ".gz"))

    def discard(self) -> None:
        for path in (self._spool(), self._spool(gz=True)):
            path.unlink(missing_ok=True)


def write_live(
    site: Site,
    out_dir: Path,
    tree: LiveTree | None = None,
    packed: Callable[[Document], bytes] | None = None,
    next_generation: Callable[[int], int] | None = None,
    held: Mapping[str, str] | None = None,
) -> None:
    """Bring a live tree up to date in place: changed files, then the manifest, last.

    Each file is replaced with rename(2), so a reader sees the old or the new file;
    web workers reload documents when the manifest changes, never from a partial set.
    ``tree`` remembers what this process wrote, to skip reading it back next time;
    ``packed`` gives a document's .gz bytes (``gzip_bytes`` of its body);
    ``next_generation`` the new manifest's generation from the old one's (0: none),
    by default the next one (``Store.next_generation`` keeps it across a removed tree);
    ``held``, the documents the publish gate kept at their last good version, with why
    (``held_documents`` reads them back for ``status``).
    """
    claim_live(out_dir)  # a new folder is marked first; someone else's is refused
    tree = tree or LiveTree()
    old = tree.read(out_dir)
    old_docs = old.get("documents", {}) if old else {}
    # Documents this process wrote into the manifest it still finds there are on disk.
    written = tree.documents if old is not None and old is tree.manifest else {}
    entries, jobs = _plan_files(site, out_dir, old_docs, written)
    _write_documents(jobs, packed or _gzip_body)
    _remove_stale(out_dir, old_docs, entries)
    before = int(old.get("generation", 0)) if old else 0
    generation = next_generation(before) if next_generation is not None else before + 1
    feeds = [tree.feed_json(info) for info in site.feeds]
    manifest = {
        "generation": generation,
        "documents": entries,
        "feeds": [data for data, _ in feeds],
        "signatures": dict(site.signatures),
    }
    if held:
        manifest["held"] = dict(held)
    _atomic_write(out_dir / MANIFEST, tree.encode(manifest, [text for _, text in feeds]))
    live = {info.rss_path for info in site.feeds}
    tree.feeds = {path: known for path, known in tree.feeds.items() if path in live}
    tree.manifest, tree.identity = manifest, manifest_identity(out_dir)
    tree.documents = dict(site.documents)


def _plan_files(
    site: Site,
    out_dir: Path,
    old_docs: Mapping[str, dict[str, str]],
    written: Mapping[str, Document],
) -> tuple[dict[str, dict[str, str]], list[tuple[Path, Document]]]:
    """The manifest entry of every document of ``site``, and the files to write: those
    of the documents not already on disk as the old manifest names them."""
    entries: dict[str, dict[str, str]] = {}
    jobs: list[tuple[Path, Document]] = []
    for url_path, doc in site.documents.items():
        if written.get(url_path) is doc and url_path in old_docs:
            entries[url_path] = old_docs[url_path]
            continue
        rel = file_path(url_path)
        entry: dict[str, typing.Any] = {
            "file": str(rel),
            "media_type": doc.media_type,
            "etag": doc.etag,
            "last_modified": doc.last_modified.isoformat(),
        }
        if doc.max_age is not None:
            entry["max_age"] = doc.max_age
        entries[url_path] = entry
        target = out_dir.joinpath(*rel.parts)
        if old_docs.get(url_path) == entry and target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        jobs.append((target, doc))
    return entries, jobs


def _remove_stale(
    out_dir: Path, old_docs: Mapping[str, object], entries: Mapping[str, object]
) -> None:
    """Remove the files (and .gz) of the documents the old manifest named and the new
    one does not."""
    for url_path in old_docs:
        if url_path not in entries:
            stale = out_dir.joinpath(*file_path(url_path).parts)
            for path in (stale, stale.with_name(stale.name + ".gz")):
                path.unlink(missing_ok=True)


def _feed_info_json(info: FeedInfo) -> dict[str, object]:
    # By hand: dataclasses.asdict deep-copies every entry id, many times slower.
    data: dict[str, object] = {field.name: getattr(info, field.name) for field in _INFO_FIELDS}
    data["updated"] = info.updated.isoformat() if info.updated else None
    data["entry_ids"] = list(info.entry_ids)
    # Only a Jekyll site's feeds have any: other manifests stay as they were.
    if info.aliases:
        data["aliases"] = list(info.aliases)
    else:
        del data["aliases"]
    return data


_INFO_FIELDS = dataclasses.fields(FeedInfo)


class StoredDocument(Document):
    """A Document of a live tree (or a static one) whose bytes stay in its file until
    asked for: its media type and validators as the manifest names them, and its file.

    A publisher keeps the whole Site between publishes, to reuse unchanged feeds as they
    are; holding their bytes as well would cost every feed's bytes in memory, and reading
    them back at every start time, when all a publish does with an unchanged document
    is leave it where it is. ``body`` reads the file and checks it against the
    entity-tag: a file replaced since (by another process) raises ``LiveTreeChanged``,
    which makes the publish start again from the live tree. A web process serves one
    from its file (``web.holder.BodyCache``, which reads the .gz too and takes a file
    replaced since as a newer generation to follow, not as an error).

    Equal (and hashed) by its file and validators: comparing never reads the bytes.
    """

    __slots__ = ("path",)
    path: Path

    def __init__(
        self,
        media_type: str,
        path: Path,
        etag: str,
        last_modified: datetime,
        max_age: int | None = None,
    ) -> None:
        # Document is frozen; its fields are set as its own __init__ would set them.
        object.__setattr__(self, "media_type", media_type)
        object.__setattr__(self, "etag", etag)
        object.__setattr__(self, "last_modified", last_modified)
        object.__setattr__(self, "max_age", max_age)
        object.__setattr__(self, "path", path)

    @property
    def body(self) -> bytes:
        data = self.path.read_bytes()
        if entity_tag(data) != self.etag:
            raise LiveTreeChanged(f"{self.path}: changed on disk since it was written")
        return data

    def _key(self) -> tuple[Path, str, str, datetime, int | None]:
        return (self.path, self.media_type, self.etag, self.last_modified, self.max_age)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, StoredDocument)
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __reduce__(
        self,
    ) -> tuple[type[StoredDocument], tuple[str, Path, str, datetime, int | None]]:
        # Copied or pickled as what it is, a file and validators: Document's own pickling
        # (of its slots) would read the bytes and drop the file.
        return (
            StoredDocument,
            (self.media_type, self.path, self.etag, self.last_modified, self.max_age),
        )

    def __repr__(self) -> str:
        return (
            f"StoredDocument(media_type={self.media_type!r}, path={self.path!r},"
            f" etag={self.etag!r}, last_modified={self.last_modified!r},"
            f" max_age={self.max_age!r})"
        )


def _stored(out_dir: Path, entry: Mapping[str, typing.Any]) -> StoredDocument:
    """The document a manifest entry names, its bytes left in its file."""
    return StoredDocument(
        entry["media_type"],
        out_dir / entry["file"],
        entry["etag"],
        datetime.fromisoformat(entry["last_modified"]),
        _max_age(entry),
    )


def _max_age(entry: Mapping[str, typing.Any]) -> int | None:
    """A manifest entry's own cache lifetime (a full archive page's), if it has one."""
    value = entry.get("max_age")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def load_live(out_dir: Path, lazy: bool = False) -> Site | None:
    """Read a live tree back into a Site (documents and feed infos); None if there is none.

    ``lazy``: documents are ``StoredDocument``s, read when their body is asked for; one
    whose file is missing is left out (its feed is then made again)."""
    manifest = read_manifest(out_dir)
    if manifest is None:
        return None
    if not lazy:
        return site_from_manifest(out_dir, manifest)
    documents: dict[str, Document] = {}
    for url_path, entry in manifest["documents"].items():
        stored = _stored(out_dir, entry)
        if stored.path.is_file():
            documents[url_path] = stored
    infos = tuple(_feed_info(data) for data in manifest.get("feeds", []))
    return Site(documents, infos, dict(manifest.get("signatures", {})))


def stored_site(site: Site, out_dir: Path) -> Site:
    """``site`` as written to the live tree ``out_dir``: every document a StoredDocument."""
    documents: dict[str, Document] = {}
    for url_path, doc in site.documents.items():
        if not isinstance(doc, StoredDocument):  # one kept from before is there already
            path = out_dir.joinpath(*file_path(url_path).parts)
            doc = StoredDocument(doc.media_type, path, doc.etag, doc.last_modified, doc.max_age)
        documents[url_path] = doc
    return dataclasses.replace(site, documents=documents)


@contextlib.contextmanager
def naming(path: Path | str) -> Iterator[None]:
    """An OSError raised by a write names the file: ``os.write`` and a file's ``write``
    raise ENOSPC or EIO without one, and "No space left on device" alone does not tell
    an operator which disk."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None:
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise


def _atomic_write(path: Path, data: bytes, mtime: float | None = None) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    with naming(tmp):
        tmp.write_bytes(data)
    if mtime is not None:
        os.utime(tmp, (mtime, mtime))
    os.replace(tmp, path)


def _gzip_body(doc: Document) -> bytes:
    return gzip_document(doc)


def _write_documents(
    jobs: list[tuple[Path, Document]], packed: Callable[[Document], bytes] = _gzip_body
) -> None:
    """Write documents on every core: libdeflate and file writes release the GIL."""
    if len(jobs) < 8:
        for target, doc in jobs:
            _write_document(target, doc, packed)
        return
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        # list() re-raises the first failure, so a failed write fails the build.
        list(pool.map(lambda job: _write_document(job[0], job[1], packed), jobs))


def _write_document(
    target: Path, doc: Document, packed: Callable[[Document], bytes] = _gzip_body
) -> None:
    """Write a document and its reproducible .gz, each with mtime = Last-Modified."""
    if isinstance(doc, SpooledDocument):
        doc.move_to(target)  # written already, beside it
        return
    # mtime=0 keeps the gzip header free of build time: same site, same bytes.
    gzipped = packed(doc)
    # Static servers derive Last-Modified from mtime (RFC 9110 8.8.2).
    mtime = doc.last_modified.timestamp()
    _atomic_write(target, doc.body, mtime)
    _atomic_write(target.with_name(target.name + ".gz"), gzipped, mtime)


def file_path(url_path: str) -> PurePosixPath:
    """Map a URL path to a file path relative to the output folder, refusing any escape."""
    return PurePosixPath(file_relpath(url_path))


def file_relpath(url_path: str) -> str:
    """``_file_path`` as a string ("tag/x.rss"): no empty, "." or ".." part."""
    if not url_path.startswith("/") or "\\" in url_path or "\0" in url_path:
        raise PublishError(f"{url_path!r}: refusing to write a path outside the output folder")
    parts = [part for part in url_path.split("/") if part]
    if any(part in (".", "..") for part in parts):
        raise PublishError(f"{url_path!r}: refusing to write a path outside the output folder")
    if url_path.endswith("/"):
        parts.append("index.html")
    return "/".join(parts)
