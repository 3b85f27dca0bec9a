"""`payouts pause [JOB]` and `payouts resume [JOB]`: stop and restart the money moving.

Without JOB they act on every job. Workers finish the batch in flight and claim nothing
more; resolving still queues jobs. Both are idempotent and audited as the API's
pause_processing / resume_processing (actor cli:<user>). `payouts pause --status` shows
what is paused."""

from __future__ import annotations

from typing import Annotated

import typer

from payouts.cli.common import (
    EXIT_FAILED,
    EXIT_USAGE,
    cli_actor,
    existing_database,
    fail,
    print_json,
    record,
    record_refusal,
)
from payouts.domain.errors import NotFound, PayoutsError
from payouts.services import processing
from payouts.services.audit import OK
from payouts.services.monitoring import find_job
from payouts.services.processing import PauseChange, ProcessingState
from payouts.storage.clock import iso_utc
from payouts.web.statuses import status_of

OptionalJob = Annotated[
    str | None,
    typer.Argument(
        metavar="[JOB]", help="Only this payout job (its id or the start of it); default: all"
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON for scripts")]


def register(app: typer.Typer) -> None:
    app.command()(pause)
    app.command()(resume)


def pause(
    job: OptionalJob = None,
    status: Annotated[
        bool, typer.Option("--status", help="Only show what is paused; change nothing")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Pause payouts: every job, or one. Workers finish their batch in flight (at most one
    each) and take no new one; resolving still queues jobs. Undo with `payouts resume`."""
    if status:
        if job is not None:
            fail("--status takes no JOB", EXIT_USAGE)
        db = existing_database()
        try:
            with db.read() as conn:
                _show(processing.state(conn), as_json)
        finally:
            db.dispose()
        return
    _act("pause_processing", job, as_json)


def resume(job: OptionalJob = None, as_json: JsonOpt = False) -> None:
    """Resume payouts paused with `payouts pause` (every job, or one); workers wake now."""
    _act("resume_processing", job, as_json)


def _act(action: str, job: str | None, as_json: bool) -> None:
    db = existing_database()
    target = processing.audit_target(None if job is None else job[:64])
    try:
        try:
            with db.write() as conn:
                job_id = None if job is None else find_job(conn, job)["id"]
                target = processing.audit_target(job_id)
                if action == "pause_processing":
                    change = processing.pause(conn, job_id, cli_actor())
                else:
                    change = processing.resume(conn, job_id)
                record(conn, action, target, 200, OK)
        except PayoutsError as exc:
            record_refusal(db, action, target, status_of(exc), exc.message)
            fail(exc.message, EXIT_USAGE if isinstance(exc, NotFound) else EXIT_FAILED)
    finally:
        db.dispose()
    _report(change, as_json)


def _report(change: PauseChange, as_json: bool) -> None:
    if as_json:
        print_json({"changed": change.changed, "message": change.message, **_json(change.state)})
        return
    typer.echo(change.message)
    _show(change.state, as_json=False)


def _json(state: ProcessingState) -> dict[str, object]:
    everything = state.everything
    return {
        "paused": state.paused,
        "pausedBy": everything.paused_by if everything else None,
        "pausedAt": iso_utc(everything.paused_at) if everything else None,
        "pausedJobs": [
            {"jobId": str(p.job_id), "pausedBy": p.paused_by, "pausedAt": iso_utc(p.paused_at)}
            for p in state.jobs
        ],
    }


def _show(state: ProcessingState, as_json: bool) -> None:
    if as_json:
        print_json(_json(state))
        return
    everything = state.everything
    if everything:
        typer.echo(
            f"Payouts are PAUSED (by {everything.paused_by} at {iso_utc(everything.paused_at)})."
            " Resume: payouts resume"
        )
    else:
        typer.echo("Payouts are running.")
    for p in state.jobs:
        typer.echo(f"Job {p.job_id} is paused (by {p.paused_by} at {iso_utc(p.paused_at)}).")
