"""`payouts audit-log`: the audit log, newest first, as lines or JSON."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from payouts.cli.common import database
from payouts.services import audit
from payouts.storage.clock import iso_utc


def register(app: typer.Typer) -> None:
    app.command("audit-log")(audit_log)


def audit_log(
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="How many rows")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array")] = False,
) -> None:
    """The audit log, newest first."""
    with database() as db, db.read() as conn:
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
