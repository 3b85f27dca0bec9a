"""Pause and resume payouts: GET /api/admin/processing, POST .../pause and .../resume.

Without a body (or with `{}`) they act on every job; with `{"jobId": "..."}` on one job.
Both are idempotent: pausing what is paused, or resuming what is not, answers 200 with
`changed: false` and a message saying who paused it and when. Admin only, audited."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter
from pydantic import Field

from payouts.services import processing
from payouts.services.processing import PauseChange, ProcessingState
from payouts.storage.clock import iso_utc
from payouts.storage.pauses import Pause
from payouts.web.actions import AdminWrite, AuditAs
from payouts.web.deps import Db, Reader, parse_uuid
from payouts.web.schemas import ERROR_RESPONSES, Body, Out

router = APIRouter(prefix="/api/admin/processing", responses=ERROR_RESPONSES)


class PauseIn(Body):
    job_id: Annotated[str, Field(max_length=64)] | None = None


class PausedJobOut(Out):
    job_id: str
    paused_by: str
    paused_at: str

    @classmethod
    def of(cls, pause: Pause) -> PausedJobOut:
        return cls(
            job_id=str(pause.job_id),
            paused_by=pause.paused_by,
            paused_at=iso_utc(pause.paused_at) or "",
        )


class ProcessingOut(Out):
    """`paused`: every job is paused (by `pausedBy` at `pausedAt`); `pausedJobs`: jobs
    paused one by one."""

    paused: bool
    paused_by: str | None
    paused_at: str | None
    paused_jobs: list[PausedJobOut]

    @classmethod
    def of(cls, state: ProcessingState) -> ProcessingOut:
        everything = state.everything
        return cls(
            paused=state.paused,
            paused_by=everything.paused_by if everything else None,
            paused_at=iso_utc(everything.paused_at) if everything else None,
            paused_jobs=[PausedJobOut.of(p) for p in state.jobs],
        )


class PauseChangeOut(ProcessingOut):
    """The state after the request; `changed` is false when it already was so."""

    changed: bool
    message: str

    @classmethod
    def of_change(cls, change: PauseChange) -> PauseChangeOut:
        return cls(
            **ProcessingOut.of(change.state).model_dump(),
            changed=change.changed,
            message=change.message,
        )


@router.get("")
def processing_state(db: Db, _: Reader) -> ProcessingOut:
    with db.read() as conn:
        return ProcessingOut.of(processing.state(conn))


@router.post("/pause", name="pause_processing")
def pause(action: AdminWrite, body: PauseIn | None = None) -> PauseChangeOut:
    job_id = _job(body)
    each = AuditAs("pause_processing", [_target(body)])
    with action.write(audit_as=each) as conn:
        change = processing.pause(conn, job_id, action.principal.name)
    return PauseChangeOut.of_change(change)


@router.post("/resume", name="resume_processing")
def resume(action: AdminWrite, body: PauseIn | None = None) -> PauseChangeOut:
    job_id = _job(body)
    each = AuditAs("resume_processing", [_target(body)])
    with action.write(audit_as=each) as conn:
        change = processing.resume(conn, job_id)
    action.wake.notify()
    return PauseChangeOut.of_change(change)


def _job(body: PauseIn | None) -> uuid.UUID | None:
    return None if body is None or body.job_id is None else parse_uuid(body.job_id, "payout job")


def _target(body: PauseIn | None) -> str:
    return processing.audit_target(None if body is None else body.job_id)
