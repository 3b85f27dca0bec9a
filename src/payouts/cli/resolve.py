"""`payouts resolve --file results.csv`: a settlement feed's results, all in one transaction.

The same service as POST /api/admin/challenges/results, and the same audit rows (one per
challenge). Exit 1: a challenge is already resolved; 2: a bad file, result or challenge.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated

import typer

from payouts.cli.common import EXIT_USAGE, audit_row, database, fail, print_json
from payouts.domain.errors import PayoutsError
from payouts.services import audit
from payouts.services import challenges as challenge_service
from payouts.web.schemas import ResolutionsOut
from payouts.web.statuses import status_of


def register(app: typer.Typer) -> None:
    app.command()(resolve)


JsonOpt = Annotated[bool, typer.Option("--json", help="JSON for scripts instead of lines")]

RESULTS_HEADER = ["challengeId", "result"]


def resolve(
    file: Annotated[
        Path, typer.Option("--file", help="CSV with a header line: challengeId,result")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Resolve every challenge a results file lists, in one transaction, or none of them.

    One line per challenge with its job. Exit 1: a challenge is already resolved; 2: bad file.
    """
    items, lines = _read_results(file)

    def line_of(index: int) -> str:
        return f"line {lines[index]}"

    with database() as db:
        try:
            with db.write() as conn:
                resolutions = challenge_service.resolve_many(conn, items, line_of)
                audit.record_many(  # as the API records each challenge of a bulk resolve
                    conn,
                    [
                        audit_row("resolve_challenge", f"challenge_id={cid}", 200, audit.OK)
                        for cid, _ in items
                    ],
                )
        except PayoutsError as exc:  # refused: recorded on its own, as the API does
            status = status_of(exc)
            with db.write() as conn:
                audit.record_many(
                    conn,
                    [audit_row("resolve_challenges", f"file={file.name}", status, exc.message)],
                )
            raise
    if as_json:
        print_json(ResolutionsOut.of(resolutions).model_dump(mode="json", by_alias=True))
        return
    for resolution in resolutions:
        challenge = resolution.challenge
        job = (
            f"{resolution.job_kind} job {resolution.job_id}"
            if resolution.job_id
            else "no job (nobody staked)"
        )
        typer.echo(f"challenge {challenge['id']}: {challenge['result']}, {job}")
    queued = sum(1 for r in resolutions if r.job_id)
    typer.echo(
        f"resolved {len(resolutions)} challenges in one transaction; {queued} jobs queued",
        err=True,
    )


def _read_results(path: Path) -> tuple[list[tuple[int, str]], list[int]]:
    """(challenge id, result) per data row, and each row's line number. Blank lines are
    skipped; a bad file exits 2 naming the line (the results themselves are checked by the
    service)."""
    rows: list[tuple[int, list[str]]] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            line = 1
            for row in reader:
                rows.append((line, [cell.strip() for cell in row]))
                line = reader.line_num + 1
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        fail(f"cannot read {path}: {exc}", EXIT_USAGE)
    rows = [(line, row) for line, row in rows if any(row)]
    if not rows or rows[0][1] != RESULTS_HEADER:
        where, got = rows[0] if rows else (1, [])
        fail(
            f"{path}, line {where}: the first line must be the header"
            f" {','.join(RESULTS_HEADER)} (got {','.join(got)[:100]!r})",
            EXIT_USAGE,
        )
    items, lines = [], []
    for line, row in rows[1:]:
        if len(row) != len(RESULTS_HEADER):
            fail(f"line {line}: expected 2 columns (challengeId,result), got {len(row)}", 2)
        raw_id, result = row
        if not (raw_id.isascii() and raw_id.isdigit()):
            fail(f"line {line}: challengeId must be a challenge id (got {raw_id[:40]!r})", 2)
        items.append((int(raw_id), result))
        lines.append(line)
    if not items:
        fail(f"{path}: no results under the header", EXIT_USAGE)
    return items, lines
