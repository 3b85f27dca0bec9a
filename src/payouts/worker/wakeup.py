"""How an idle worker learns that work has arrived, without busy polling the jobs table.

- In the same process as the API: a threading.Event the API sets after each commit.
- SQLite, another process: PRAGMA data_version changes when any other connection commits.
- PostgreSQL: LISTEN on the channel that resolve, trigger and retry NOTIFY on commit.
The interval sweep (`worker_interval_seconds`) stays as the fallback in every case.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from typing import TYPE_CHECKING

from payouts.storage.database import Database
from payouts.storage.work import WORK_CHANNEL

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.1


class LocalWakeup:
    """Woken by `notify()` from this process (the API, a trigger, or a stop)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def wait(self, timeout: float) -> None:
        self._event.wait(timeout)
        self._event.clear()

    def notify(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def close(self) -> None:
        self.notify()


class SqliteCommitWakeup(LocalWakeup):
    """Also woken by a commit from another process to the same SQLite file."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self._conn = sqlite3.connect(path, check_same_thread=False)
        self._seen = self._data_version()

    def _data_version(self) -> int:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.is_set() and self._data_version() == self._seen:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._event.wait(min(_POLL_SECONDS, remaining))
        self._seen = self._data_version()
        self._event.clear()

    def close(self) -> None:
        super().close()
        self._conn.close()


class PostgresListenWakeup(LocalWakeup):
    """Also woken by NOTIFY payouts_work, on a connection of its own (reconnected if lost)."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = url
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        import psycopg

        conn = psycopg.connect(self._url, autocommit=True)
        conn.execute(f"LISTEN {WORK_CHANNEL}")
        return conn

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                if self._conn is None:
                    self._conn = self._connect()
                for _ in self._conn.notifies(
                    timeout=min(_POLL_SECONDS * 5, remaining), stop_after=1
                ):
                    return
            except Exception as exc:  # lost connection: sweep instead, reconnect next time
                log.warning("LISTEN connection lost (%s); reconnecting", exc)
                self._drop()
                self._event.wait(min(1.0, remaining))
        self._event.clear()

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def close(self) -> None:
        super().close()
        self._drop()


def wakeup_for(db: Database) -> LocalWakeup:
    if db.is_postgres:
        url = db.url.set(drivername="postgresql").render_as_string(hide_password=False)
        return PostgresListenWakeup(url)
    if db.url.database and db.url.database != ":memory:":
        return SqliteCommitWakeup(db.url.database)
    return LocalWakeup()
