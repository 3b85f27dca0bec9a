"""SQLite backups: a consistent copy of a live database, opened read-only to check it, and
a restore that rewrites a database in place through SQLite itself.

Never a file copy: a live database in WAL mode is the main file plus its -wal file, and a
copy of the two taken at slightly different moments is not a database anyone wrote.
`VACUUM INTO` reads the database in one read transaction (one snapshot; in WAL mode it
does not block the writers) and writes a new, compact file.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, create_engine
from sqlalchemy.pool import NullPool

BUSY_TIMEOUT_SECONDS = 30.0


def copy_online(source: Path, target: Path) -> None:
    """A consistent copy of `source` (in use or not) as the new file `target`."""
    conn = sqlite3.connect(source, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    try:
        conn.execute("VACUUM INTO ?", (str(target),))
    finally:
        conn.close()
    fsync(target)


def restore_into(backup: Path, target: Path) -> None:
    """Rewrite `target` (created if missing) with the content of `backup`, through SQLite's
    backup API: one transaction on the target, so a crash leaves the old or the new
    database, never a mix. The caller makes sure no service uses `target`."""
    source = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    try:
        destination = sqlite3.connect(target, timeout=BUSY_TIMEOUT_SECONDS)
        try:
            source.backup(destination)
            destination.execute("PRAGMA journal_mode=WAL")  # as the service runs it
        finally:
            destination.close()
    finally:
        source.close()


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


@contextmanager
def read_only(path: Path) -> Iterator[Connection]:
    """A SQLAlchemy connection to the file, read-only (the checks cannot change it; no
    -wal or -shm file is made for it), inside one transaction."""
    engine = create_engine(
        "sqlite://",
        creator=lambda: sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False),
        poolclass=NullPool,
    )
    try:
        with engine.connect() as conn, conn.begin():
            yield conn
    finally:
        engine.dispose()


def integrity_problems(conn: Connection, limit: int = 20) -> list[str]:
    """SQLite's own check of every page and index; [] when sound."""
    rows = conn.exec_driver_sql(f"PRAGMA integrity_check({int(limit)})").scalars().all()
    return [] if rows == ["ok"] else [str(row) for row in rows]
