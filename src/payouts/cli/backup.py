"""`payouts backup PATH` and `payouts restore PATH`: SQLite copies that are proven sound.

- backup: a consistent copy of the live database (VACUUM INTO: one snapshot; workers keep
  paying meanwhile), written as PATH.partial, opened read-only and checked (SQLite's
  integrity check, the schema, every `payouts verify` check); only a sound copy becomes
  PATH. An unsound one is kept as PATH.unsound and the command exits 1 saying why.
- restore: checks the backup the same way, refuses while a `payouts serve` or `payouts
  worker` runs on the database (see storage/holds.py), rewrites it through SQLite's backup
  API, and checks the result.
- PostgreSQL: use pg_dump or base backups (docs/operations.md#backups).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from payouts.cli.common import EXIT_FAILED, EXIT_USAGE, fail, settings
from payouts.cli.common import record as audit_record
from payouts.services.backups import CopyReport, check_copy
from payouts.storage import backup as sqlite_backup
from payouts.storage import holds
from payouts.storage.database import Database

POSTGRES_ADVICE = (
    "the database is PostgreSQL: payouts does not reinvent pg_dump. Use pg_dump (or base"
    " backups with WAL archiving) and pg_restore, then `payouts verify`; see"
    " docs/operations.md#backups"
)


def register(app: typer.Typer) -> None:
    app.command("backup")(backup)
    app.command("restore")(restore)


def _sqlite_path(command: str) -> tuple[Database, Path]:
    db = Database(settings().database_url, pool_size=1)
    path = db.url.database
    if db.is_postgres:
        db.dispose()
        fail(f"`payouts {command}`: {POSTGRES_ADVICE}", EXIT_FAILED)
    if not db.is_sqlite or not path or path == ":memory:":
        db.dispose()
        fail(f"`payouts {command}` needs a SQLite file or PostgreSQL", EXIT_USAGE)
    return db, Path(path).resolve()


def _show(report: CopyReport, what: str) -> None:
    typer.echo(f"{what}: {report.users:,} users, {report.ledger_rows:,} ledger rows")
    for job in report.unfinished:
        left = job.total - job.processed - job.failed
        typer.echo(
            f"  job {job.job_id} {job.status}: {job.processed:,} of {job.total:,} winners paid,"
            f" {job.failed:,} failed, {left:,} to pay (a worker finishes it)"
        )
    if not report.unfinished:
        typer.echo("  no job part-way")


def _unsound(report: CopyReport, what: str) -> NoReturn:
    for problem in report.problems[:50]:
        typer.echo(f"  {problem}", err=True)
    fail(f"{what} is not sound: {len(report.problems)} problem(s), listed above", EXIT_FAILED)


def backup(
    path: Annotated[Path, typer.Argument(help="The new backup file (must not exist)")],
) -> None:
    """Copy the SQLite database while it runs, then prove the copy sound (as `verify`)."""
    db, source = _sqlite_path("backup")
    db.dispose()
    target = path.resolve()
    if not source.exists():
        fail(f"no database at {source}", EXIT_FAILED)
    if target.exists():
        fail(f"{target} exists: choose a new file (a backup never overwrites)", EXIT_USAGE)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    started = time.monotonic()
    try:
        sqlite_backup.copy_online(source, partial)
    except Exception as exc:
        partial.unlink(missing_ok=True)
        fail(f"the copy failed: {exc}", EXIT_FAILED)
    copied = time.monotonic() - started
    with sqlite_backup.read_only(partial) as conn:
        report = check_copy(conn)
    if not report.sound:
        unsound = target.with_name(target.name + ".unsound")
        partial.replace(unsound)
        typer.echo(f"kept the unsound copy as {unsound} for inspection", err=True)
        _unsound(report, f"the copy of {source}")
    partial.replace(target)
    sqlite_backup.fsync(target)
    size = target.stat().st_size
    typer.echo(
        f"backed up {source} to {target} ({size / 1e6:,.1f} MB, copied in {copied:.1f} s);"
        " the copy is sound: integrity ok, schema at head, the books balance"
    )
    _show(report, "the copy holds")


def restore(
    path: Annotated[Path, typer.Argument(help="A backup made by `payouts backup`")],
    replace: Annotated[
        bool, typer.Option(help="Overwrite the database if it exists (it must not be in use)")
    ] = False,
) -> None:
    """Restore a SQLite backup over the configured database, which no service may hold."""
    db, target = _sqlite_path("restore")
    db.dispose()
    source = path.resolve()
    if not source.is_file():
        fail(f"no backup at {source}", EXIT_USAGE)
    if source == target:
        fail("the backup is the database itself", EXIT_USAGE)
    with sqlite_backup.read_only(source) as conn:
        report = check_copy(conn)
    if not report.sound:
        _unsound(report, f"the backup {source}")
    try:
        with holds.exclusive(target):
            if target.exists() and not replace:
                fail(
                    f"a database exists at {target}: pass --replace to overwrite it, or set"
                    " PAYOUTS_DATABASE_URL to a new file",
                    EXIT_FAILED,
                )
            sqlite_backup.restore_into(source, target)
            with sqlite_backup.read_only(target) as conn:
                restored = check_copy(conn)
    except holds.HeldElsewhere:
        fail(
            f"refused: a running payouts service (serve or worker) holds {target}; stop every"
            " process on it first (restore never overwrites a database in use)",
            EXIT_FAILED,
        )
    if not restored.sound:
        _unsound(restored, f"the restored database {target}")
    restored_db = Database(f"sqlite:///{target}", pool_size=1)
    try:
        with restored_db.write() as conn:
            audit_record(conn, "restore", f"file={source.name}"[:200], 200, "ok")
    finally:
        restored_db.dispose()
    typer.echo(f"restored {source} into {target}; the books balance")
    _show(restored, "the database holds")


@contextmanager
def service_hold(db: Database) -> Iterator[None]:
    """What `serve` and `worker` hold while they run on a SQLite file (storage/holds.py)."""
    path = db.url.database
    if not db.is_sqlite or not path or path == ":memory:":
        yield
        return
    try:
        lock = holds.running(Path(path).resolve())
        lock.__enter__()
    except holds.HeldElsewhere:
        db.dispose()
        fail(f"a `payouts restore` is rewriting {path}; start again when it is done", EXIT_FAILED)
    try:
        yield
    finally:
        lock.__exit__(None, None, None)
