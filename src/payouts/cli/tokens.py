"""`payouts tokens create | list | revoke`: the API's stored tokens, audited."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

import typer

from payouts.cli.common import (
    EXIT_FAILED,
    EXIT_USAGE,
    existing_database,
    fail,
    record,
    record_refusal,
)
from payouts.domain.durations import parse_duration
from payouts.domain.errors import InvalidInput, PayoutsError
from payouts.services import audit, tokens
from payouts.storage.clock import as_utc, iso_utc, utcnow
from payouts.web.statuses import status_of

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
    expires_in: Annotated[
        str | None,
        typer.Option(help="Refuse the token after this long: 90m, 24h, 30d, 2w (default never)"),
    ] = None,
) -> None:
    """Create a token. It is printed once, alone on the last line; only its hash is kept."""
    if not TOKEN_NAME.match(name):
        fail("a token name is 1 to 64 letters, digits, '_', '.' or '-'", EXIT_FAILED)
    expires_at = None
    if expires_in is not None:
        try:
            expires_at = utcnow() + parse_duration(expires_in)
        except InvalidInput as exc:
            fail(exc.message, EXIT_USAGE)
    db = existing_database()
    target = f"name={name}"
    expiry = f", expires {iso_utc(expires_at)}" if expires_at else ""
    try:
        with db.write() as conn:
            token = tokens.create_token(conn, name, role.value, expires_at)
            outcome = f"ok ({role.value}{expiry})"
            record(conn, "tokens_create", target, _CLI_STATUS["created"], outcome)
    except PayoutsError as exc:
        record_refusal(db, "tokens_create", target, status_of(exc), exc.message)
        fail(exc.message, EXIT_FAILED)
    typer.echo(f"Created {role.value} token {name!r}{expiry}. It is shown once; store it now:")
    typer.echo(token)


@tokens_app.command("list")
def list_tokens() -> None:
    """Every token: name, role, created, revoked, expires, last used (to the minute; never
    the token itself). An expired token is refused like a revoked one."""
    db = existing_database()
    with db.read() as conn:
        rows = tokens.list_tokens(conn)
    now = utcnow()
    typer.echo(
        f"{'NAME':<24} {'ROLE':<7} {'CREATED':<25} {'REVOKED':<25} {'EXPIRES':<34} LAST USED"
    )
    for row in rows:
        revoked = iso_utc(row["revoked_at"]) or "-"
        created = iso_utc(row["created_at"])
        expires = iso_utc(row["expires_at"]) or "never"
        if row["expires_at"] is not None and as_utc(row["expires_at"]) <= now:
            expires += " (expired)"
        used = iso_utc(row["last_used_at"]) or "never"
        typer.echo(
            f"{row['name']:<24} {row['role']:<7} {created:<25} {revoked:<25} {expires:<34} {used}"
        )


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
