"""`payouts events [--after C] [--follow] [--json]`: the event feed on the command line."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer

from payouts.cli.common import EXIT_INTERRUPTED, EXIT_USAGE, database, fail, settings
from payouts.domain.errors import Gone
from payouts.services import events

FOLLOW_POLL_SECONDS = 1.0


def register(app: typer.Typer) -> None:
    app.command("events")(read_events)


def read_events(
    after: Annotated[
        str | None, typer.Option(help="A cursor printed by an earlier run (`next: ...`)")
    ] = None,
    follow: Annotated[bool, typer.Option(help="Keep printing new events until Ctrl-C")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="One event per line as JSON (JSON Lines)")
    ] = False,
    types: Annotated[
        str | None, typer.Option(help="Only these types, comma-separated (default all)")
    ] = None,
    limit: Annotated[int, typer.Option(help="Events per read", min=1, max=events.MAX_LIMIT)] = 500,
) -> None:
    """Committed events, oldest first (from the oldest kept, or after --after). The cursor to
    resume from is printed last, on stderr: `next: CURSOR`."""
    config = settings()
    cursor = after
    try:
        with database(config) as db:
            wanted = events.parse_types(types)
            while True:
                with db.read() as conn:
                    page = events.read_page(conn, cursor, limit, wanted, config.event_retention)
                for event in page.events:
                    body = event.as_json()
                    if as_json:
                        typer.echo(json.dumps(body, separators=(",", ":")))
                    else:
                        typer.echo(
                            f"{body['id']:<14} {body['timestamp']} {body['type']:<19}"
                            f" {json.dumps(body['data'], separators=(',', ':'))}"
                        )
                cursor = page.next.encode()
                if len(page.events) == limit:
                    continue
                if not follow:
                    break
                time.sleep(FOLLOW_POLL_SECONDS)
    except Gone as exc:
        fail(exc.message, EXIT_USAGE)
    except KeyboardInterrupt:
        typer.echo(f"next: {cursor}", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    typer.echo(f"next: {cursor}", err=True)
