"""What every command shares: settings, opening the database, failing with an exit code,
and the audit rows of CLI actions.

Only `payouts migrate` and `payouts serve` change the schema. Every other command opens the
database as it is and stops, saying so, when the schema is missing or behind.

Exit codes: 0 done; 1 the state refuses the operation, or the database cannot be used;
2 bad arguments or an unknown object; 130 interrupted.
"""

from __future__ import annotations

import getpass
import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from payouts.config import Settings
from payouts.domain.errors import Conflict, InvalidInput, NotFound
from payouts.services import audit
from payouts.storage import migrate
from payouts.storage.database import Database
from payouts.telemetry import logs

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def settings(**overrides: object) -> Settings:
    """The settings from the environment, with the command line's options on top."""
    values = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**values)  # type: ignore[arg-type]


def migrated_database(config: Settings, *, pre_ping: bool = True) -> Database:
    """The configured database, migrated to this release (`serve` and `migrate` only)."""
    logs.configure(config.log_format, config.log_level)
    db = Database(config.database_url, pool_size=config.db_pool_size, pre_ping=pre_ping)
    migrate.upgrade(db)
    return db


def existing_database(
    config: Settings | None = None, *, pool_size: int = 2, pre_ping: bool = True
) -> Database:
    """The configured database as it is: never created, never migrated."""
    config = config or Settings()
    logs.configure(config.log_format, config.log_level)
    db = Database(config.database_url, pool_size=pool_size, pre_ping=pre_ping)
    path = db.url.database
    if db.is_sqlite and path and path != ":memory:" and not Path(path).exists():
        db.dispose()  # connecting would create an empty file; say where we looked instead
        fail(
            f"no database at {path}: run `payouts migrate` (or `payouts serve`) first,"
            " or set PAYOUTS_DATABASE_URL",
            EXIT_FAILED,
        )
    try:
        behind = migrate.schema_behind(db)
    except SQLAlchemyError as exc:
        db.dispose()
        fail(f"cannot use the database at {_where(db)}: {_reason(exc)}", EXIT_FAILED)
    if behind:
        db.dispose()
        fail(f"{behind}: run `payouts migrate` first ({_where(db)})", EXIT_FAILED)
    return db


@contextmanager
def database(config: Settings | None = None) -> Iterator[Database]:
    """existing_database() for one command, with the services' errors as exit codes."""
    db = existing_database(config)
    try:
        yield db
    except (NotFound, InvalidInput) as exc:
        fail(exc.message, EXIT_USAGE)
    except Conflict as exc:
        fail(exc.message, EXIT_FAILED)
    except SQLAlchemyError as exc:
        fail(f"cannot use the database at {_where(db)}: {_reason(exc)}", EXIT_FAILED)
    finally:
        db.dispose()


def _where(db: Database) -> str:
    return db.url.render_as_string(hide_password=True)


def _reason(exc: SQLAlchemyError) -> str:
    return str(getattr(exc, "orig", None) or exc).splitlines()[0]


def fail(message: str, code: int) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def console() -> Console:
    # soft_wrap: long lines (ids in hints) wrap in the terminal, not as inserted newlines
    return Console(highlight=False, soft_wrap=True)


def print_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2))


# --- the audit log --------------------------------------------------------------------------


def cli_actor() -> str:
    """Who a CLI action is in the audit log: the operating-system user."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry for this uid
        return "cli"


def cli_client() -> str:
    """Where a CLI action came from, in the audit log."""
    return f"cli@{socket.gethostname()}"


def audit_row(action: str, target: str, status: int, outcome: str) -> dict[str, object]:
    """An audit row for a CLI action, with the HTTP status the API would answer."""
    return audit.row(
        actor=cli_actor(),
        action=action,
        target=target,
        client=cli_client(),
        status_code=status,
        outcome=outcome,
    )


def record(conn: Connection, action: str, target: str, status: int, outcome: str) -> None:
    audit.record_many(conn, [audit_row(action, target, status, outcome)])


def record_refusal(db: Database, action: str, target: str, status: int, message: str) -> None:
    """A refused CLI action, in a transaction of its own (the action's rolled back)."""
    with db.write() as conn:
        record(conn, action, target, status, message)
