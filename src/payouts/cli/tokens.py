"""`payouts tokens create | list | revoke`: the API's stored tokens, audited."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

import typer

from payouts.cli.common import (
    EXIT_FAILED,
    existing_database,
    fail,
    record,
    record_refusal,
)
from payouts.domain.errors import PayoutsError
from payouts.services import audit, tokens
from payouts.storage.clock import iso_utc
from payouts.web.errors import status_of

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


@tokens_app.command("create")
def create_token(
    name: Annotated[str, typer.Option(help="A unique name; the audit log shows it")],
    role: Annotated[Role, typer.Option(help="admin: everything; viewer: read only")],
) -> None:
    """Create a token. It is printed once, alone on the last line; only its hash is kept."""
    if not TOKEN_NAME.match(name):
        fail("a token name is 1 to 64 letters, digits, '_', '.' or '-'", EXIT_FAILED)
    db = existing_database()
    target = f"name={name}"
    try:
        with db.write() as conn:
            token = tokens.create_token(conn, name, role.value)
            record(conn, "tokens_create", target, _CLI_STATUS["created"], f"ok ({role.value})")
    except PayoutsError as exc:
        record_refusal(db, "tokens_create", target, status_of(exc), exc.message)
        fail(exc.message, EXIT_FAILED)
    typer.echo(f"Created {role.value} token {name!r}. It is shown once; store it now:")
    typer.echo(token)


@tokens_app.command("list")
def list_tokens() -> None:
    """Every token: name, role, created, revoked (never the token itself)."""
    db = existing_database()
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
    db = existing_database()
    target = f"name={name[:64]}"
    try:
        with db.write() as conn:
            tokens.revoke_token(conn, name)
            record(conn, "tokens_revoke", target, _CLI_STATUS["done"], audit.OK)
    except PayoutsError as exc:
        record_refusal(db, "tokens_revoke", target, status_of(exc), exc.message)
        fail(exc.message, EXIT_FAILED)
    typer.echo(f"Revoked token {name!r}.")
