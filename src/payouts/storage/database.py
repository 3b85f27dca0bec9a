"""The engine and the two kinds of transaction the rest of the code opens at its edges."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from payouts.domain.payout_math import floor_share, share_remainder

SQLITE_BUSY_TIMEOUT_MS = 10_000


class Database:
    """Owns the engine. `write()` and `read()` each yield a connection inside one transaction
    that commits when the block ends and rolls back if it raises."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.is_postgres = self.url.get_backend_name() == "postgresql"
        if self.is_sqlite:
            self.engine = _sqlite_engine(url)
        else:
            self.engine = create_engine(
                url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )

    @contextmanager
    def write(self) -> Iterator[Connection]:
        # On SQLite, take the write lock up front (BEGIN IMMEDIATE): a deferred transaction
        # that upgrades to writing can fail with SQLITE_BUSY instead of waiting its turn.
        with self.engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


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


def _sqlite_engine(url: str) -> Engine:
    # No connect-time transaction magic from pysqlite: we emit BEGIN ourselves.
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        dbapi_conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed payout survives a power cut, not only a process crash.
        dbapi_conn.execute("PRAGMA synchronous=FULL")
        dbapi_conn.execute("PRAGMA foreign_keys=ON")
        dbapi_conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # SQLite turns an overflowing integer product into a float; these compute the
        # payout shares in Python ints instead, called from set-based SQL.
        dbapi_conn.create_function("payout_floor_share", 3, floor_share, deterministic=True)
        dbapi_conn.create_function("payout_remainder", 3, share_remainder, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine
