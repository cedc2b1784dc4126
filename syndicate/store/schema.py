"""Schema: the store's tables on SQLAlchemy Core, and how a datetime is stored. No I/O.

One table per kind of record (``posts``, ``feeds``, ``slugs``, ``tombstones``, ``outbox``,
``attempts``, ``builds``), ``refusals`` and ``live_tree`` (one row each at most) and
``schema_version``.
The tables use portable types only, so any SQLAlchemy backend can hold them; datetimes are
fixed-width ISO 8601 UTC strings (``UTCDateTime``), which sort like the instants they name.
``sql.SqlStore`` creates them and reads and writes them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

import sqlalchemy as sa

#: Bumped whenever the tables change; a database with a newer version is refused.
#: 2: the ``slugs`` table (an older syndicate would mint slugs afresh and re-point URLs).
SCHEMA_VERSION: Final = 2


# --------------------------------------------------------------------------- schema


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """An aware datetime stored as a fixed-width ISO 8601 UTC string.

    ``2024-05-01T12:00:00.000000Z`` always has 27 characters, so string order is
    time order on every backend, and SQLite tools show readable values.
    """

    impl = sa.String(32)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> str | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime given to the store: {value!r}")
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return datetime.fromisoformat(value.removesuffix("Z")).replace(tzinfo=UTC)


metadata = sa.MetaData()

schema_version_table = sa.Table(
    "schema_version",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.Integer, nullable=False),
)

posts_table = sa.Table(
    "posts",
    metadata,
    sa.Column("path", sa.String(512), primary_key=True),
    sa.Column("digest", sa.String(128), nullable=False),
    sa.Column("body_digest", sa.String(128), nullable=True),
    sa.Column("entry_id", sa.String(2048), nullable=False),
    sa.Column("front_id", sa.String(2048), nullable=True),
    sa.Column("first_seen", UTCDateTime, nullable=False),
    sa.Column("last_changed", UTCDateTime, nullable=False),
    # Not unique: two posts claiming one id is reported by the publisher, naming both
    # files, rather than surfacing here as an integrity error.
    sa.Index("ix_posts_entry_id", "entry_id"),
)

feeds_table = sa.Table(
    "feeds",
    metadata,
    sa.Column("path", sa.String(512), primary_key=True),
    sa.Column("digest", sa.String(128), nullable=False),
    sa.Column("last_changed", UTCDateTime, nullable=False),
    sa.Column("entry_count", sa.Integer, nullable=False),
)

slugs_table = sa.Table(
    "slugs",
    metadata,
    sa.Column("kind", sa.String(16), primary_key=True),
    # The name's digest is the key: names are free text of any length, which a key
    # column (PostgreSQL's index entries, VARCHAR limits) would refuse past a size.
    sa.Column("name_key", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("slug", sa.String(256), nullable=False),
    sa.Column("released_at", UTCDateTime, nullable=True),
    # One URL, one name: the database refuses what the planner must never produce.
    sa.UniqueConstraint("kind", "slug", name="uq_slugs_kind_slug"),
)

outbox_table = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("target", sa.String(2048), nullable=False),
    sa.Column("feed_url", sa.String(2048), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("not_before", UTCDateTime, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("revision", sa.Integer, nullable=False, default=0),
    sa.Index("ix_outbox_status_next", "status", "next_attempt_at"),
)

attempts_table = sa.Table(
    "attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("time", UTCDateTime, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("target", sa.String(2048), nullable=False),
    sa.Column("feed_url", sa.String(2048), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("http_status", sa.Integer, nullable=True),
    sa.Column("latency_ms", sa.Integer, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Index("ix_attempts_time", "time"),
)

builds_table = sa.Table(
    "builds",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("time", UTCDateTime, nullable=False),
    sa.Column("duration", sa.Float, nullable=False),
    sa.Column("post_count", sa.Integer, nullable=False),
    sa.Column("feed_count", sa.Integer, nullable=False),
    sa.Column("errors", sa.Text, nullable=False),  # JSON list of strings
    sa.Column("changed_feeds", sa.Text, nullable=False),  # JSON list of strings
)

# At most one row: the publish refused since the last build. A table of its own, which
# ``create_all`` adds to a database made before it (no migration, the same version).
refusals_table = sa.Table(
    "refusals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("time", UTCDateTime, nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
)

# One row per hub or ping server that refused a notification: its latest refusal. A
# table of its own, added by ``create_all`` as ``refusals`` (an older syndicate ignores
# it). No unique index on the target: a 2048-character key is past what some backends
# index; writes are serialised, so the select-then-write upsert holds.
target_refusals_table = sa.Table(
    "target_refusals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("target", sa.String(2048), nullable=False),
    sa.Column("feed_url", sa.String(2048), nullable=False),
    sa.Column("time", UTCDateTime, nullable=False),
    sa.Column("first_time", UTCDateTime, nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("http_status", sa.Integer, nullable=True),
    sa.Column("message", sa.Text, nullable=False),
)

# One row per deleted post and feed that listed it (RFC 6721 tombstones), for
# ``feeds.tombstone_days``. A table of its own, added by ``create_all`` as ``refusals``
# (an older syndicate ignores it). Keyed by a digest of (kind, name, entry id): names and
# ids are free text of any length, which a key column would refuse past a size.
tombstones_table = sa.Table(
    "tombstones",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("entry_id", sa.Text, nullable=False),
    sa.Column("deleted_at", UTCDateTime, nullable=False),
)

# One row: the last generation number given to the live tree (``next_generation``). Kept
# here and not only in the tree's manifest, so that a tree removed while serving is
# written again with a later generation, never one a web process has seen. A table of
# its own, added by ``create_all`` as ``refusals`` (an older syndicate ignores it).
live_tree_table = sa.Table(
    "live_tree",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("generation", sa.Integer, nullable=False),
)
