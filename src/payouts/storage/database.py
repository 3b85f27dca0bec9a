"""The engine and the two kinds of transaction the rest of the code opens at its edges."""

from __future__ import annotations

import itertools
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy import Connection, Engine, RootTransaction, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from payouts.domain.payout_math import floor_share, share_remainder

SQLITE_BUSY_TIMEOUT_MS = 10_000
# After SQLite's own busy wait, a transaction that still finds the database locked is
# retried this many times with a growing pause (0.05 s doubling up to 1 s) before it fails.
SQLITE_BUSY_RETRIES = 5
_BACKOFF_BASE_SECONDS = 0.05
_BACKOFF_CAP_SECONDS = 1.0


class Database:
    """Owns the engine. `write()` and `read()` each yield a connection inside one transaction
    that commits when the block ends and rolls back if it raises."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        pre_ping: bool = True,
        busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
        busy_retries: int = SQLITE_BUSY_RETRIES,
    ) -> None:
        self.url = make_url(url)
        self.busy_retries = busy_retries
        self.busy_waits = 0  # SQLite transactions that found the database busy and waited
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.is_postgres = self.url.get_backend_name() == "postgresql"
        self._writer = _WriterTurn(busy_timeout_ms) if self.is_sqlite else None
        if self.is_sqlite:
            self.engine = _sqlite_engine(url, busy_timeout_ms)
        else:
            self.engine = create_engine(
                url,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=pre_ping,
                # The hot statements are CTEs whose row estimates can be far off; a JIT
                # compile triggered by such an estimate once took 900 ms for 500 winners.
                connect_args={"options": "-c jit=off"},
            )

    @contextmanager
    def write(self) -> Iterator[Connection]:
        # On SQLite, take the write lock up front (BEGIN IMMEDIATE): a deferred transaction
        # that upgrades to writing can fail with SQLITE_BUSY instead of waiting its turn.
        # Writers of this process wait for their turn on a lock of their own first: only one
        # of them at a time polls for SQLite's lock, the others sleep instead of spinning.
        with self._writer or nullcontext():
            conn, transaction = self._begin("IMMEDIATE")
            with conn, transaction:
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        conn, transaction = self._begin("DEFERRED")
        with conn, transaction:
            yield conn

    def _begin(self, sqlite_begin: str) -> tuple[Connection, RootTransaction]:
        """A connection inside a new transaction. On SQLite, a busy or locked database is
        retried with a bounded backoff, before any of the caller's statements has run."""
        for attempt in itertools.count():
            conn = None
            try:
                conn = self.engine.connect()
                if not self.is_sqlite:
                    return conn, conn.begin()
                conn = conn.execution_options(sqlite_begin=sqlite_begin)
                transaction = conn.begin()
                if sqlite_begin != "IMMEDIATE":
                    # The first read takes the snapshot the whole transaction then uses, so
                    # a busy database shows up here, where retrying is safe. (BEGIN
                    # IMMEDIATE has already taken the write lock and the snapshot.)
                    conn.exec_driver_sql("SELECT 1 FROM sqlite_master LIMIT 1")
                return conn, transaction
            except (OperationalError, sqlite3.OperationalError) as exc:
                if conn is not None:
                    conn.close()
                if not (self.is_sqlite and is_sqlite_busy(exc)) or attempt >= self.busy_retries:
                    raise
                self.busy_waits += 1
                time.sleep(_backoff_seconds(attempt))
        raise AssertionError("unreachable")

    @property
    def writers_waiting(self) -> int:
        """SQLite: threads of this process waiting to write (0 on PostgreSQL)."""
        return self._writer.waiting if self._writer else 0

    def dispose(self) -> None:
        self.engine.dispose()


class _WriterTurn:
    """The SQLite writers of one process, one at a time (SQLite lets one write anyway).
    Waiting here costs nothing; polling SQLite's lock from many threads at once costs the
    holder of the lock the CPU (and the GIL) it needs to finish and let the next one in."""

    def __init__(self, busy_timeout_ms: int) -> None:
        self._lock = threading.Lock()
        self._timeout = busy_timeout_ms / 1000
        self.waiting = 0  # threads blocked on the lock right now (read without locking)

    def __enter__(self) -> None:
        if self._lock.acquire(blocking=False):
            return
        self.waiting += 1  # under the GIL; an approximate count is all readers need
        try:
            acquired = self._lock.acquire(timeout=self._timeout)
        finally:
            self.waiting -= 1
        if not acquired:
            busy = sqlite3.OperationalError("database is locked (by this process's writers)")
            raise OperationalError("BEGIN IMMEDIATE", None, busy)

    def __exit__(self, *_: object) -> None:
        self._lock.release()


# Deadlock, serialization failure, server shutting down, connection failures (class 08).
_TRANSIENT_PG_CODES = ("40P01", "40001", "57P01", "57P02", "57P03")


def is_transient(exc: BaseException) -> bool:
    """Errors that a retry of the whole transaction can fix."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    code = getattr(exc.orig, "sqlstate", None) or ""
    if code in _TRANSIENT_PG_CODES or code.startswith("08"):
        return True
    return "database is locked" in str(exc.orig)


# SQLite: SQLITE_FULL, SQLITE_READONLY (and its variants), SQLITE_IOERR; PostgreSQL: disk
# full (53100), out of memory or files (53xxx), a read-only transaction (25006).
_UNWRITABLE_SQLITE = ("database or disk is full", "readonly database", "disk i/o error")
_UNWRITABLE_PG = ("53", "25006")


def is_unwritable(exc: BaseException) -> bool:
    """The database cannot take writes right now (disk full, read-only): the transaction
    rolled back whole, and the same work succeeds once space (or write access) returns."""
    original = getattr(exc, "orig", exc)
    code = str(getattr(original, "sqlstate", None) or "")
    if code and code.startswith(_UNWRITABLE_PG):
        return True
    message = str(original).lower()
    return isinstance(original, sqlite3.Error) and any(m in message for m in _UNWRITABLE_SQLITE)


def is_sqlite_busy(exc: BaseException) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED: another connection holds a lock we need."""
    original = getattr(exc, "orig", exc)
    message = str(original).lower()
    return isinstance(original, sqlite3.OperationalError) and (
        "locked" in message or "busy" in message
    )


def _backoff_seconds(attempt: int) -> float:
    # Exponential with jitter, so waiting connections don't retry in lockstep.
    return min(_BACKOFF_CAP_SECONDS, _BACKOFF_BASE_SECONDS * (1 << attempt)) * random.uniform(
        0.5, 1
    )


def _begin_immediate(dbapi_conn: sqlite3.Connection, busy_timeout_ms: int) -> None:
    """Take SQLite's write lock, polling every half millisecond until the busy timeout.
    SQLite's own busy handler sleeps in growing steps (up to 100 ms) and misses the short
    gaps between a worker's batches: a resolve could wait a tenth of a second or more
    behind a lock that is free for a moment every few milliseconds."""
    deadline = time.monotonic() + busy_timeout_ms / 1000
    dbapi_conn.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                dbapi_conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not is_sqlite_busy(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(random.uniform(0.0002, 0.0006))
    finally:
        dbapi_conn.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")


def _sqlite_engine(url: str, busy_timeout_ms: int) -> Engine:
    # No connect-time transaction magic from pysqlite: we emit BEGIN ourselves.
    # 20 connections kept open, and up to 20 more under load: 40 in all, as many as the
    # API's thread pool has threads. A connection beyond the pool is opened, set up (PRAGMAs,
    # functions) and closed again for each use, which a busy API would pay per request.
    # (PAYOUTS_DB_POOL_SIZE is PostgreSQL's pool.)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
        pool_size=20,
        max_overflow=20,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        dbapi_conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed payout survives a power cut, not only a process crash.
        dbapi_conn.execute("PRAGMA synchronous=FULL")
        dbapi_conn.execute("PRAGMA foreign_keys=ON")
        dbapi_conn.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        # SQLite turns an overflowing integer product into a float; these compute the
        # payout shares in Python ints instead, called from set-based SQL.
        dbapi_conn.create_function("payout_floor_share", 3, floor_share, deterministic=True)
        dbapi_conn.create_function("payout_remainder", 3, share_remainder, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        if mode == "IMMEDIATE":
            _begin_immediate(conn.connection.dbapi_connection, busy_timeout_ms)  # type: ignore[arg-type]
        else:
            conn.exec_driver_sql(f"BEGIN {mode}")

    return engine
