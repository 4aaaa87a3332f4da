"""A tiny connection abstraction so the job store is plain SQL over any DB-API driver.

:class:`SQLiteDatabase` is the embedded default. A PostgreSQL backend implements the same three
methods (``query``, ``execute``, ``transaction``) over psycopg, translating the ``?`` placeholders
to ``%s``; the SQL in :mod:`orfeas.jobs.store` sticks to what both understand (no SQLite-only
functions, ``REAL``/``INTEGER``/``TEXT`` columns, JSON kept as text).
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

Row = tuple[Any, ...]


class Database(Protocol):
    """What the job store needs from a database."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int: ...

    def transaction(self) -> Any: ...

    def make_room(self) -> bool:
        """Give disk space the database holds but does not need back to the disk; whether any was."""
        ...

    def close(self) -> None: ...


#: One schema step: an SQL statement or a function of the database (a data conversion).
Step = str | Callable[[Database], None]
#: One schema version: a step, or a sequence of steps applied in order.
Migration = Step | Sequence[Step]


class SQLiteDatabase:
    """SQLite in WAL mode, one connection per thread (sqlite3 connections are not thread-safe).

    WAL lets the API read while a worker writes; ``synchronous=NORMAL`` keeps commits off the disk's
    fsync path but is still durable across a process crash (kill -9), which is what matters here.
    """

    def __init__(self, path: Path, *, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[sqlite3.Connection] = []
        self._closed = False
        with self._connect() as first:  # switch to WAL once; it is a property of the file
            first.execute("PRAGMA journal_mode=WAL")

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=self._busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA synchronous=NORMAL")
        # A checkpoint every 1 MiB of log (SQLite's default is 4 MiB): the log is reused from its
        # start after each, so it stays small and a nearly full disk still has room for writes.
        conn.execute("PRAGMA wal_autocheckpoint=256")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise sqlite3.ProgrammingError("the job database is closed")
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._conn().execute(sql, tuple(params)).fetchall()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._conn().execute(sql, tuple(params)).rowcount

    @contextmanager
    def transaction(self) -> Iterator[SQLiteDatabase]:
        """A write transaction; ``BEGIN IMMEDIATE`` takes the write lock up front (no upgrade deadlock)."""
        conn = self._conn()
        if conn.in_transaction:  # nested: join the outer transaction
            yield self
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def make_room(self) -> bool:
        """Copy the write-ahead log into the database and start it again from its beginning, so the
        next writes reuse the log's space on the disk instead of growing it (a full disk has none)."""
        try:
            busy, _, _ = self._conn().execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        except sqlite3.Error:
            return False
        return not busy

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns, self._all = self._all, []
        for conn in conns:
            # closing a connection another thread still uses raises; harmless at shutdown
            with contextlib.suppress(sqlite3.ProgrammingError):
                conn.close()
        self._local = threading.local()


def _pg_sql(sql: str) -> str:
    """The store's portable SQL for PostgreSQL: ``?`` → ``%s``; in DDL, ``REAL`` (float4 there, too coarse
    for a Unix time) → ``DOUBLE PRECISION``, ``INTEGER`` → ``BIGINT``, plus an explicit ``rowid`` column.
    The store never puts a literal ``?`` or ``%`` in its SQL."""
    if re.match(r"\s*(CREATE|ALTER)\b", sql, re.IGNORECASE):
        sql = re.sub(r"\bREAL\b", "DOUBLE PRECISION", sql)
        sql = re.sub(r"\bINTEGER\b", "BIGINT", sql)
        # every table gets SQLite's implicit ``rowid`` (insertion order; the store orders artifacts by it)
        sql = re.sub(r"^(\s*CREATE TABLE IF NOT EXISTS \w+ \()", r"\1 rowid BIGSERIAL,", sql, flags=re.I)
    return sql.replace("?", "%s")


class PostgresDatabase:
    """PostgreSQL over psycopg 3, one autocommit connection per thread (like :class:`SQLiteDatabase`).

    ``transaction()`` opens a real transaction on the thread's connection; nested calls join it. Rows come
    back as tuples, ``execute`` returns the row count, so :class:`orfeas.jobs.store.JobStore` runs unchanged.
    """

    dialect = "postgresql"

    def __init__(self, url: str, *, connect_timeout_s: float = 10.0) -> None:
        import psycopg  # the `scale` extra; imported here so SQLite users never need it

        self._psycopg = psycopg
        self.url = url
        self._timeout = max(1, int(connect_timeout_s))
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[Any] = []
        self._closed = False
        self._conn().execute("SELECT 1")  # fail at start, with the driver's message, when unreachable

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is not None and conn.closed:
            conn = None
        if conn is None:
            if self._closed:
                raise RuntimeError("the job database is closed")
            conn = self._psycopg.connect(self.url, autocommit=True, connect_timeout=self._timeout)
            self._local.conn = conn
            self._local.depth = 0
            with self._lock:
                self._all.append(conn)
        return conn

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._conn().cursor() as cur:
            cur.execute(_pg_sql(sql), tuple(params))
            return [tuple(r) for r in cur.fetchall()]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._conn().cursor() as cur:
            cur.execute(_pg_sql(sql), tuple(params))
            return cur.rowcount

    @contextmanager
    def transaction(self) -> Iterator[PostgresDatabase]:
        conn = self._conn()
        if self._local.depth:  # nested: join the outer transaction
            yield self
            return
        self._local.depth = 1
        try:
            with conn.transaction():
                yield self
        finally:
            self._local.depth = 0

    def make_room(self) -> bool:
        """Nothing: the PostgreSQL server manages its own disk."""
        return False

    def lock_for_migration(self) -> None:
        """Serialise schema migration between processes starting together (held to the commit)."""
        self.execute("SELECT pg_advisory_xact_lock(7264001)")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()
        self._local = threading.local()


def open_database(database_url: str, data_dir: Path) -> Database:
    """SQLite in ``data_dir`` for an empty URL, else PostgreSQL (``postgresql://…``)."""
    url = database_url.strip()
    if not url:
        return SQLiteDatabase(Path(data_dir) / "orfeas.db")
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(url)
    raise ValueError("database_url must be empty (SQLite) or a postgresql:// URL")


def schema_version(db: Database) -> int:
    rows = db.query("SELECT MAX(version) FROM schema_version")
    return int(rows[0][0] or 0)


def migrate(db: Database, migrations: Sequence[Migration]) -> int:
    """Bring the schema up to ``len(migrations)`` in one transaction; returns the version reached.

    Migration *n* (1-based) is ``migrations[n-1]``: one SQL statement, a function of the database (a
    data conversion), or a sequence of these. Migrations
    are append-only — adding a column is one new entry such as ``"ALTER TABLE jobs ADD COLUMN x TEXT"``.
    The applied versions are rows of ``schema_version``; a database newer than this code is refused.
    """
    with db.transaction():
        lock = getattr(db, "lock_for_migration", None)
        if lock is not None:
            lock()
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at REAL)")
        current = schema_version(db)
        if current > len(migrations):
            raise RuntimeError(
                f"the job database is at schema version {current}, newer than this ORFEAS "
                f"({len(migrations)}); upgrade ORFEAS"
            )
        for version in range(current + 1, len(migrations) + 1):
            step = migrations[version - 1]
            for statement in (step,) if isinstance(step, str) or callable(step) else step:
                if callable(statement):
                    statement(db)
                else:
                    db.execute(statement)
            db.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (version, time.time())
            )
        return len(migrations)
