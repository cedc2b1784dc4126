"""SqlStore on a real PostgreSQL: the store contract of ``test_store`` and sharing between stores.

A throwaway cluster is started once per test run (``pg_server``): ``initdb`` and
``postgres`` from the system's PostgreSQL server binaries, in a temporary folder, on
127.0.0.1 and a free port, run as an unprivileged user (``postgres``, else ``nobody``)
through ``runuser`` when the tests run as root, since PostgreSQL refuses to run as root.
It is stopped (``pg_ctl stop -m immediate``, then SIGKILL to its process group) and
removed after the run. Each test gets a fresh schema of one database
(``db_url`` sets ``search_path``: much quicker than a database per test).
Without the binaries, an unprivileged user, ``runuser`` or psycopg, or when the server
does not start, these tests are skipped, naming what is missing.

Every test function of ``test_store`` not tied to SQLite runs here too, against
PostgreSQL: this module's ``db_url`` overrides the SQLite one of ``conftest``, so the
``store`` fixture opens a PostgreSQL database for them.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from syndicate.publisher import open_publisher
from syndicate.store import NewNotification, Notification
from syndicate.store.schema import SCHEMA_VERSION
from syndicate.store.sql import SqlStore

from . import test_store as contract
from .conftest import ConfigFactory
from .servers import FakeClock, HubServer

START_TIMEOUT = 20.0  # seconds for the server to accept connections
SERVER_USERS = ("postgres", "nobody")
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
HUB = "http://127.0.0.1:9/hub"

# --------------------------------------------------------------------------- contract tests

#: Tests of ``test_store`` about SQLite itself (its files, WAL, ``sqlite://``) or about
#: URLs that never reach a database; every other test there runs here as well.
SQLITE_ONLY = frozenset(
    {
        "test_an_unusable_database_is_a_store_error_naming_the_url",
        "test_a_bad_url_is_a_store_error",
        "test_sqlite_runs_in_wal_mode_with_a_busy_timeout",
        "test_in_memory_store_is_shared_between_threads",
        "test_peeking_reads_the_mark_of_a_sqlite_store",
        "test_another_store_has_another_mark",
        "test_peeking_at_what_is_no_store_gives_no_mark_and_creates_nothing",
    }
)
CONTRACT_TESTS = sorted(
    name
    for name, value in vars(contract).items()
    if name.startswith("test_") and callable(value) and name not in SQLITE_ONLY
)
globals().update({name: getattr(contract, name) for name in CONTRACT_TESTS})


def test_the_contract_tests_are_collected_here() -> None:
    # A guard against renaming the module or the tests out from under this one.
    assert len(CONTRACT_TESTS) >= 25
    assert "test_two_stores_on_one_file_from_many_threads" in CONTRACT_TESTS


# --------------------------------------------------------------------------- the server


@dataclass(frozen=True)
class PgServer:
    """A running throwaway PostgreSQL cluster; connect as ``user`` without a password."""

    host: str
    port: int
    user: str
    database: str = "syndicate"

    def url(self, schema: str | None = None) -> str:
        url = f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{self.database}"
        return f"{url}?options=-csearch_path%3D{schema}" if schema else url

    def execute(self, sql: str, database: str | None = None) -> None:
        import psycopg

        with psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            dbname=database or self.database,
            autocommit=True,
        ) as conn:
            conn.execute(sql.encode())

    def create_schema(self, name: str) -> str:
        """A new empty schema; the URL of the database with it as the search path."""
        self.execute(f"CREATE SCHEMA {name}")
        return self.url(name)


def _bin_dir() -> Path | None:
    """A folder with initdb, pg_ctl and postgres: the newest /usr/lib/postgresql/N/bin,
    else wherever ``initdb`` on PATH really lives."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda d: int(Path(d).parent.name) if Path(d).parent.name.isdigit() else 0,
        reverse=True,
    )
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    for candidate in candidates:
        d = Path(candidate)
        if all(os.access(d / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return d
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL cluster for the whole run, stopped and removed afterwards."""
    if importlib.util.find_spec("psycopg") is None:
        pytest.skip("PostgreSQL tests need psycopg (pip install -e '.[test]')")
    import psycopg

    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL tests need the server binaries (initdb, pg_ctl, postgres) in "
            "/usr/lib/postgresql/*/bin or on PATH"
        )
    prefix: list[str] = []
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:
        # initdb and postgres refuse to run as root.
        runuser = shutil.which("runuser") or next(
            (p for p in ("/usr/sbin/runuser", "/sbin/runuser") if os.access(p, os.X_OK)), None
        )
        if runuser is None:
            pytest.skip("PostgreSQL tests run as root need runuser to drop privileges")
        for name in SERVER_USERS:
            with contextlib.suppress(KeyError):
                owner = pwd.getpwnam(name)
                break
        if owner is None:
            pytest.skip(
                f"PostgreSQL tests run as root need an unprivileged user: none of "
                f"{', '.join(SERVER_USERS)} exists"
            )
        prefix = [runuser, "-u", owner.pw_name, "--"]

    base = Path(tempfile.mkdtemp(prefix="syndicate-pg-"))
    data = base / "data"
    if owner is not None:
        os.chown(base, owner.pw_uid, owner.pw_gid)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", LANG="C", TZ="UTC")
    user = "syndicate"
    server: subprocess.Popen[bytes] | None = None

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*prefix, *args], cwd=base, env=env, capture_output=True, text=True, timeout=60
        )

    def stop() -> None:
        """Immediate shutdown (SIGQUIT: the postmaster ends its backends and frees its
        shared memory), then SIGKILL whatever is left of the process group we started."""
        assert server is not None
        if server.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()

    try:
        init = run(
            str(bin_dir / "initdb"),
            *("-D", str(data), "-A", "trust", "-U", user, "-E", "UTF8", "--locale=C"),
            "--no-sync",
        )
        if init.returncode != 0:
            pytest.skip(f"PostgreSQL tests: initdb failed: {init.stderr.strip()[-500:]}")
        problem = ""
        for _ in range(3):  # another process may take the free port before the server does
            port = _free_port()
            logfile = base / f"server-{port}.log"
            with open(logfile, "wb") as log:
                # Started directly, in a process group of its own, so that it can always
                # be stopped; a server that pg_ctl starts detaches from us.
                server = subprocess.Popen(
                    [*prefix, str(bin_dir / "postgres"), "-D", str(data), "-k", str(base)]
                    + ["-c", "listen_addresses=127.0.0.1", "-p", str(port)]
                    # A throwaway cluster need not survive a crash.
                    + ["-c", "fsync=off", "-c", "synchronous_commit=off"]
                    + ["-c", "full_page_writes=off", "-c", "max_connections=200"],
                    cwd=base,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            deadline = time.monotonic() + START_TIMEOUT
            problem = f"no connection within {START_TIMEOUT:.0f} s"
            while time.monotonic() < deadline:
                if server.poll() is not None:
                    problem = f"postgres exited with status {server.returncode}"
                    break
                try:
                    with psycopg.connect(
                        host="127.0.0.1", port=port, user=user, dbname="postgres", connect_timeout=2
                    ):
                        pass
                except psycopg.OperationalError:
                    time.sleep(0.05)
                else:
                    problem = ""
                    break
            if not problem:
                break
            problem += "\n" + _tail(logfile)
            stop()
            server = None
        if problem:
            pytest.skip(f"PostgreSQL tests: the server did not start: {problem}")
        pg = PgServer("127.0.0.1", port, user)
        pg.execute(f"CREATE DATABASE {pg.database}", database="postgres")
        yield pg
    finally:
        if server is not None:
            stop()
        shutil.rmtree(base, ignore_errors=True)


_schema_numbers = itertools.count(1)


@pytest.fixture
def db_url(pg_server: PgServer) -> str:
    """A fresh, empty PostgreSQL schema (overrides conftest's SQLite file)."""
    return pg_server.create_schema(f"test_{next(_schema_numbers)}")


# --------------------------------------------------------------------------- PostgreSQL itself


def websub(feed: str) -> NewNotification:
    return NewNotification("websub", HUB, feed)


def run_threads(count: int, work: Callable[[int], None]) -> None:
    """Run ``work(0..count-1)`` in threads started together; re-raise the first error."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def target(k: int) -> None:
        try:
            barrier.wait(timeout=10)
            work(k)
        except BaseException as exc:  # pragma: no cover - re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(k,)) for k in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    if errors:
        raise errors[0]


def test_the_store_really_is_on_postgresql(store: SqlStore, db_url: str) -> None:
    assert store.engine.dialect.name == "postgresql"
    assert store.url == db_url
    assert store.schema_version() == SCHEMA_VERSION
    with store.engine.connect() as conn:
        types: dict[str, str] = dict(
            conn.execute(
                sa.text(
                    "SELECT column_name, data_type FROM information_schema.columns"
                    " WHERE table_schema = current_schema() AND table_name = 'outbox'"
                )
            ).all()
        )
    assert types["next_attempt_at"] == "character varying"
    assert types["id"] == "integer"


def test_stores_opening_an_empty_database_at_once_create_it_once(db_url: str) -> None:
    stores: list[SqlStore] = []
    lock = threading.Lock()

    def open_one(_: int) -> None:
        s = SqlStore(db_url)
        with lock:
            stores.append(s)

    try:
        run_threads(6, open_one)
        assert [s.schema_version() for s in stores] == [SCHEMA_VERSION] * 6
        with stores[0].engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT count(*) FROM schema_version")).scalar()
        assert rows == 1
    finally:
        for s in stores:
            s.close()


def test_two_stores_upserting_one_post_at_once_do_not_conflict(db_url: str) -> None:
    with SqlStore(db_url) as a, SqlStore(db_url) as b:

        def work(k: int) -> None:
            s = a if k % 2 else b
            for i in range(10):
                s.upsert_post(contract.post(f"{i}.md", digest=f"d{k}"))

        run_threads(8, work)
        assert sorted(a.posts()) == sorted(f"{i}.md" for i in range(10))


def test_two_stores_enqueueing_and_claiming_at_once_lose_and_duplicate_nothing(
    db_url: str,
) -> None:
    """Two processes (here two stores, eight threads) share one outbox: every change is
    coalesced into one pending row per feed, and every row is claimed by exactly one
    deliverer while its lease lasts."""
    feeds = [f"https://example.org/{i}.atom" for i in range(40)]
    lease = T0 + timedelta(hours=1)
    with SqlStore(db_url) as a, SqlStore(db_url) as b:
        # The same changes reported by every thread at once: one pending row per feed.
        def enqueue_all(k: int) -> None:
            s = a if k % 2 else b
            for i in range(len(feeds)):
                s.enqueue([websub(feeds[(i + 5 * k) % len(feeds)])], T0)

        run_threads(8, enqueue_all)
        pending = a.pending()
        assert sorted(n.feed_url for n in pending) == sorted(feeds)
        assert sum(n.revision for n in pending) == 7 * len(feeds)

        # Deliverers claim in small batches at once: each row exactly once.
        claims: list[list[Notification]] = [[] for _ in range(8)]

        def claim_all(k: int) -> None:
            s = a if k % 2 else b
            while batch := s.due(T0, 3, claim_until=lease):
                claims[k].extend(batch)

        run_threads(8, claim_all)
        claimed = [n.id for batch in claims for n in batch]
        assert sorted(claimed) == sorted(n.id for n in pending)
        assert b.due(T0) == []

        # New changes and deliveries interleaved: nothing lost, nothing sent twice.
        fresh = [f"https://example.org/new/{i}.atom" for i in range(40)]
        delivered: list[list[str]] = [[] for _ in range(8)]
        producers_done = threading.Event()
        produced = itertools.count()

        def mixed(k: int) -> None:
            s = a if k % 2 else b
            if k < 4:  # producers
                for i in range(k, len(fresh), 4):
                    s.enqueue([websub(fresh[i])], T0)
                if next(produced) == 3:
                    producers_done.set()
                return
            while True:  # deliverers
                done = producers_done.is_set()
                batch = s.due(T0, 2, claim_until=lease)
                for n in batch:
                    assert s.mark_delivered(n.id, n.revision)
                    delivered[k].append(n.feed_url)
                if not batch:
                    if done:
                        return
                    time.sleep(0.001)

        run_threads(8, mixed)
        sent = [url for urls in delivered for url in urls]
        assert sorted(sent) == sorted(fresh)
        assert sorted(n.feed_url for n in a.pending()) == sorted(feeds)  # still leased


# --------------------------------------------------------------------------- end to end

POST = """---
title: {title}
date: 2024-04-0{day} 10:00:00
author: badely
categories: [News]
tags: [{tag}]
---

Some text about {title}.
"""


def test_a_publisher_keeps_its_state_in_postgresql(
    make_config: ConfigFactory, posts_dir: Path, db_url: str, hub: HubServer
) -> None:
    config = make_config(
        storage={"url": db_url},
        websub={"hubs": [hub.url]},
        notify={"timeout": 2, "max_attempts": 3, "max_backoff": 10},
    )
    for day, (title, tag) in enumerate([("One", "belarus"), ("Two", "europe"), ("Three", "x")]):
        (posts_dir / f"2024-04-0{day + 1}-{title.lower()}.md").write_text(
            POST.format(title=title, day=day + 1, tag=tag), encoding="utf-8"
        )
    clock = FakeClock(T0)
    publisher = open_publisher(config, clock=clock)
    assert publisher.store is not None and publisher.outbox is not None
    try:
        assert isinstance(publisher.store, SqlStore)
        assert publisher.store.engine.dialect.name == "postgresql"
        result = publisher.publish()
        assert result.errors == () and result.post_count == 3
        assert "/feed.atom" in result.changed_feeds
        assert result.queued == len(result.changed_feeds)  # one per feed for the hub
        queued = publisher.store.pending()
        assert sorted(n.feed_url for n in queued) == sorted(
            "https://example.org/" + p.lstrip("/") for p in result.changed_feeds
        )
        assert all(n.next_attempt_at == T0 and n.created_at.tzinfo is UTC for n in queued)

        clock.advance(60)
        again = publisher.publish()
        assert again.changed_feeds == () and again.queued == 0

        report = publisher.outbox.deliver_due()
        assert len(report.delivered) == len(queued) and report.failed == ()
        assert sorted(hub.publishes) == sorted(n.feed_url for n in queued)
    finally:
        publisher.store.close()

    # Another process sees the same state: ids minted once, feeds, builds, attempts.
    with SqlStore(db_url) as other:
        posts = other.posts()
        assert len(posts) == 3 and all(p.first_seen == T0 for p in posts.values())
        assert "/feed.atom" in other.feeds()
        last = other.last_build()
        assert last is not None and last.post_count == 3 and last.time == T0 + timedelta(seconds=60)
        assert other.pending() == []
        assert len(other.recent_attempts()) == len(queued)
