"""`payouts tokens`, `payouts audit-log` and `payouts verify`: registered on the main app."""

from __future__ import annotations

import getpass
import json
import re
import socket
from enum import StrEnum
from typing import Annotated

import typer
from sqlalchemy import Connection

from payouts.config import Settings
from payouts.domain.errors import PayoutsError
from payouts.services import audit, tokens
from payouts.services.verify import find_violations
from payouts.storage import migrate
from payouts.storage.clock import iso_utc
from payouts.storage.database import Database

TOKEN_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
# What a CLI action writes to the audit log as its status: the HTTP status the API would
# answer for the same outcome.
_CLI_STATUS = {"created": 201, "done": 200}

tokens_app = typer.Typer(help="Admin API tokens: create, list, revoke.", no_args_is_help=True)


class Role(StrEnum):
    admin = "admin"
    viewer = "viewer"


def register(app: typer.Typer) -> None:
    app.add_typer(tokens_app, name="tokens")
    app.command("audit-log")(audit_log)
    app.command("verify")(verify)


def _database() -> Database:
    db = Database(Settings().database_url)
    migrate.upgrade(db)
    return db


def cli_actor() -> str:
    """Who a CLI action is in the audit log: the operating-system user."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry for this uid
        return "cli"


def cli_client() -> str:
    """Where a CLI action came from, in the audit log."""
    return f"cli@{socket.gethostname()}"


def _record(conn: Connection, action: str, target: str, status: int, outcome: str) -> None:
    audit.record(
        conn,
        actor=cli_actor(),
        action=action,
        target=target,
        client=cli_client(),
        status_code=status,
        outcome=outcome,
    )


def _record_refusal(db: Database, action: str, target: str, status: int, message: str) -> None:
    """A refused CLI action, in a transaction of its own (the action's rolled back)."""
    with db.write() as conn:
        _record(conn, action, target, status, message)


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@tokens_app.command("create")
def create_token(
    name: Annotated[str, typer.Option(help="A unique name; the audit log shows it")],
    role: Annotated[Role, typer.Option(help="admin: everything; viewer: read only")],
) -> None:
    """Create a token. It is printed once, alone on the last line; only its hash is kept."""
    if not TOKEN_NAME.match(name):
        _fail("a token name is 1 to 64 letters, digits, '_', '.' or '-'")
    db = _database()
    target = f"name={name}"
    try:
        with db.write() as conn:
            token = tokens.create_token(conn, name, role.value)
            _record(conn, "tokens_create", target, _CLI_STATUS["created"], f"ok ({role.value})")
    except PayoutsError as exc:
        _record_refusal(db, "tokens_create", target, 409, exc.message)
        _fail(exc.message)
    typer.echo(f"Created {role.value} token {name!r}. It is shown once; store it now:")
    typer.echo(token)


@tokens_app.command("list")
def list_tokens() -> None:
    """Every token: name, role, created, revoked (never the token itself)."""
    db = _database()
    with db.read() as conn:
        rows = tokens.list_tokens(conn)
    typer.echo(f"{'NAME':<24} {'ROLE':<7} {'CREATED':<25} REVOKED")
    for row in rows:
        revoked = iso_utc(row["revoked_at"]) or "-"
        created = iso_utc(row["created_at"])
        typer.echo(f"{row['name']:<24} {row['role']:<7} {created:<25} {revoked}")


@tokens_app.command("revoke")
def revoke_token(name: Annotated[str, typer.Argument(help="The token's name")]) -> None:
    """Revoke a token: it stops working at once."""
    db = _database()
    target = f"name={name[:64]}"
    try:
        with db.write() as conn:
            tokens.revoke_token(conn, name)
            _record(conn, "tokens_revoke", target, _CLI_STATUS["done"], audit.OK)
    except PayoutsError as exc:
        _record_refusal(db, "tokens_revoke", target, 404, exc.message)
        _fail(exc.message)
    typer.echo(f"Revoked token {name!r}.")


def audit_log(
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="How many rows")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array")] = False,
) -> None:
    """The audit log, newest first."""
    db = _database()
    with db.read() as conn:
        rows = audit.recent(conn, limit=limit)
    entries = [
        {
            "id": row["id"],
            "at": iso_utc(row["created_at"]),
            "actor": row["actor"],
            "action": row["action"],
            "target": row["target"],
            "client": row["client"],
            "statusCode": row["status_code"],
            "outcome": row["outcome"],
        }
        for row in rows
    ]
    if as_json:
        typer.echo(json.dumps(entries, indent=2))
        return
    for e in entries:
        typer.echo(
            f"{e['at']}  {e['actor']}  {e['action']}  {e['target'] or '-'}  {e['client'] or '-'}"
            f"  {e['statusCode']}  {e['outcome']}"
        )


def verify() -> None:
    """Check the books; print each violation and exit 1 if there is any."""
    db = _database()
    with db.read() as conn:
        violations = find_violations(conn)
    for violation in violations:
        typer.echo(str(violation))
    if violations:
        typer.echo(f"{len(violations)} violation(s): the books do not balance", err=True)
        raise typer.Exit(1)
    typer.echo("ok: the books balance")
