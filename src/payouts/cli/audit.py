"""`payouts audit-log`: the audit log as lines or JSON lines, newest first, or a time range
oldest first (an export: `--since 2026-12-01 --until 2026-12-02 --json > audit.jsonl`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from payouts.cli.common import EXIT_USAGE, database, fail
from payouts.domain.durations import parse_duration
from payouts.domain.errors import InvalidInput
from payouts.services import audit
from payouts.storage.clock import iso_utc, utcnow

DEFAULT_LIMIT = 50


def register(app: typer.Typer) -> None:
    app.command("audit-log")(audit_log)


def moment(text: str) -> datetime:
    """An ISO-8601 time (UTC unless it names a zone; a date is its midnight), or a duration
    back from now ("24h": a day ago)."""
    try:
        return utcnow() - parse_duration(text)
    except InvalidInput:
        pass
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        fail(
            f"{text!r} is neither a time (2026-12-01, 2026-12-01T08:00:00Z) nor a duration"
            " back from now (90m, 24h, 7d)",
            EXIT_USAGE,
        )
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def audit_log(
    limit: Annotated[
        int | None,
        typer.Option(
            min=1, help="At most this many rows (default 50; no limit with --since/--until)"
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="From this time on, oldest first: 2026-12-01T08:00:00Z, or 24h (ago)"),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Before this time (same forms as --since)")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line (JSON Lines), streamed")
    ] = False,
) -> None:
    """The audit log, newest first; with --since/--until, that range oldest first."""
    start = moment(since) if since else None
    end = moment(until) if until else None
    ranged = start is not None or end is not None
    if not ranged and limit is None:
        limit = DEFAULT_LIMIT
    with database() as db, db.read() as conn:
        rows = audit.export(conn, since=start, until=end, newest_first=not ranged, limit=limit)
        for row in rows:
            entry = _entry(row)
            if as_json:
                typer.echo(json.dumps(entry, ensure_ascii=False))
            else:
                typer.echo(
                    f"{entry['at']}  {entry['actor']}  {entry['action']}  {entry['target'] or '-'}"
                    f"  {entry['client'] or '-'}  {entry['statusCode']}  {entry['outcome']}"
                )


def _entry(row: Any) -> dict[str, object]:
    return {
        "id": row["id"],
        "at": iso_utc(row["created_at"]),
        "actor": row["actor"],
        "action": row["action"],
        "target": row["target"],
        "client": row["client"],
        "statusCode": row["status_code"],
        "outcome": row["outcome"],
    }
