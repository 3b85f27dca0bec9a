"""Who is using a SQLite database: `payouts serve` and `payouts worker` hold a shared lock
on a file beside it (`<database>.holders`) for as long as they run, and `payouts restore`
takes it exclusively, so it never overwrites a database a running service holds (and no
service starts in the middle of a restore). The operating system releases a dead process's
lock, so a crash leaves nothing stale. Same host only, as SQLite itself.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

SUFFIX = ".holders"


class HeldElsewhere(Exception):
    """Another process holds the lock in a way that conflicts with ours."""


def holders_file(database_path: str | Path) -> Path:
    return Path(f"{database_path}{SUFFIX}")


@contextmanager
def _locked(database_path: str | Path, mode: int) -> Iterator[None]:
    fd = os.open(holders_file(database_path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            raise HeldElsewhere(str(database_path)) from None
        yield
    finally:
        os.close(fd)  # releases the lock


def running(database_path: str | Path) -> AbstractContextManager[None]:
    """Held by a running service (any number at once). HeldElsewhere: a restore is on."""
    return _locked(database_path, fcntl.LOCK_SH)


def exclusive(database_path: str | Path) -> AbstractContextManager[None]:
    """Held by a restore. HeldElsewhere: a service (serve or worker) is running on it."""
    return _locked(database_path, fcntl.LOCK_EX)
