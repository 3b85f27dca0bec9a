"""`payouts verify`: check the books; print each violation, exit 1 if there is any."""

from __future__ import annotations

import typer

from payouts.cli.common import database
from payouts.services.verify import find_violations


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)


def verify() -> None:
    """Check the books; print each violation and exit 1 if there is any."""
    with database() as db, db.read() as conn:
        violations = find_violations(conn)
    for violation in violations:
        typer.echo(str(violation))
    if violations:
        typer.echo(f"{len(violations)} violation(s): the books do not balance", err=True)
        raise typer.Exit(1)
    typer.echo("ok: the books balance")
