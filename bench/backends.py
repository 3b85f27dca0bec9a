"""Fresh databases for every measurement: SQLite files in a temporary folder, or PostgreSQL
databases named payouts_bench_<run>_<n>, created and dropped by the bench.

Each data set is built once per backend (the `payouts demo` logic) and then copied for each
measurement, so every method pays the same rows from the same starting state.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path
from typing import Protocol

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from payouts.config import Settings
from payouts.storage import migrate
from payouts.storage.database import Database

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
RESTART_GRACE_SECONDS = 120


class Backend(Protocol):
    name: str

    def create(self) -> str:
        """A new migrated, empty database; returns its URL."""
        ...

    def copy(self, url: str) -> str:
        """A new database holding what `url` holds (nobody may be connected to it)."""
        ...

    def drop(self, url: str) -> None: ...

    def version(self) -> str: ...

    def server_epoch(self) -> str:
        """Changes when the database server restarts ("" for SQLite, which has none)."""
        ...

    def close(self) -> None:
        """Drop everything this backend created."""
        ...


class SqliteBackend:
    name = "sqlite"

    def __init__(self, workdir: Path | None = None) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="payouts-bench-", dir=workdir))
        self._count = 0
        self._template: Path | None = None

    def _new_path(self) -> Path:
        self._count += 1
        return self._dir / f"bench-{self._count}.db"

    def create(self) -> str:
        if self._template is None:
            self._template = self._new_path()
            db = Database(f"sqlite:///{self._template}")
            migrate.upgrade(db)
            db.dispose()
        return self.copy(f"sqlite:///{self._template}")

    def copy(self, url: str) -> str:
        source = _sqlite_path(url)
        # Fold the WAL into the main file so one file copy holds every committed row.
        with contextlib.closing(sqlite3.connect(source)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        target = self._new_path()
        shutil.copyfile(source, target)
        return f"sqlite:///{target}"

    def drop(self, url: str) -> None:
        path = _sqlite_path(url)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)

    def version(self) -> str:
        return f"SQLite {sqlite3.sqlite_version}"

    def server_epoch(self) -> str:
        return ""

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)


def _sqlite_path(url: str) -> str:
    database = make_url(url).database
    if not database:
        raise ValueError(f"not a SQLite file URL: {url}")
    return database


class PostgresUnavailable(Exception):
    pass


class PostgresBackend:
    name = "postgres"

    def __init__(self, admin_url: str) -> None:
        # Settings maps a plain postgresql:// URL to psycopg 3, as the service does.
        self._admin_url = Settings(database_url=admin_url).database_url
        self._admin = create_engine(self._admin_url, isolation_level="AUTOCOMMIT")
        try:
            with self._admin.connect() as conn:
                self._version = str(conn.execute(text("SHOW server_version")).scalar_one())
        except Exception as exc:
            self._admin.dispose()
            raise PostgresUnavailable(
                f"PostgreSQL unreachable at {make_url(self._admin_url)!r}: {exc}"
            ) from exc
        self._prefix = f"payouts_bench_{uuid.uuid4().hex[:8]}"
        self._count = 0
        self._created: list[str] = []
        self._template: str | None = None

    def _execute(self, statement: str, *, returns_row: bool = False) -> object:
        """Run one statement, waiting out a restart of the server (other users of a shared
        server restart it); CREATE and DROP ... IF EXISTS are the statements run here."""
        deadline = time.monotonic() + RESTART_GRACE_SECONDS
        while True:
            try:
                with self._admin.connect() as conn:
                    result = conn.execute(text(statement))
                    return result.scalar() if returns_row else None
            except OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)

    def server_epoch(self) -> str:
        return str(self._execute("SELECT pg_postmaster_start_time()", returns_row=True))

    def _new_name(self) -> str:
        self._count += 1
        return f"{self._prefix}_{self._count}"

    def _url(self, name: str) -> str:
        return make_url(self._admin_url).set(database=name).render_as_string(hide_password=False)

    def create(self) -> str:
        if self._template is None:
            name = self._new_name()
            self._execute(f"CREATE DATABASE {name}")
            self._created.append(name)
            db = Database(self._url(name))
            migrate.upgrade(db)
            db.dispose()
            self._template = name
        return self.copy(self._url(self._template))

    def copy(self, url: str) -> str:
        source = make_url(url).database
        name = self._new_name()
        # FILE_COPY: a checkpoint and a file copy, instead of writing the whole database
        # through the WAL, which the next measurement would then pay for.
        self._execute(f"CREATE DATABASE {name} TEMPLATE {source} STRATEGY FILE_COPY")
        self._created.append(name)
        return self._url(name)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        self._execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if name in self._created:
            self._created.remove(name)

    def version(self) -> str:
        return f"PostgreSQL {self._version}"

    def close(self) -> None:
        for name in reversed(self._created):
            with contextlib.suppress(Exception):
                self._execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self._created.clear()
        self._admin.dispose()
