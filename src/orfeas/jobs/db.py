"""A tiny connection abstraction so the job store is plain SQL over any DB-API driver.

:class:`SQLiteDatabase` is the embedded default. A PostgreSQL backend implements the same three
methods (``query``, ``execute``, ``transaction``) over psycopg, translating the ``?`` placeholders
to ``%s``; the SQL in :mod:`orfeas.jobs.store` sticks to what both understand (no SQLite-only
functions, ``REAL``/``INTEGER``/``TEXT`` columns, JSON kept as text).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

Row = tuple[Any, ...]


class Database(Protocol):
    """What the job store needs from a database."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int: ...

    def transaction(self) -> Any: ...

    def close(self) -> None: ...


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

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns, self._all = self._all, []
        for conn in conns:
            # closing a connection another thread still uses raises; harmless at shutdown
            with contextlib.suppress(sqlite3.ProgrammingError):
                conn.close()
        self._local = threading.local()
