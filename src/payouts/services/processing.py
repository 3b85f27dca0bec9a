"""Pausing and resuming payouts: everything, or one job.

A pause is a row that every claim of work checks (storage/pauses.py): workers finish the
batch in flight and take no new one. Resolving still queues jobs while paused; they wait.
Both actions are idempotent: pausing what is paused, or resuming what is not, changes
nothing and says so (`changed` is False). A completed job has nothing left to pause (409).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Connection

from payouts.domain.errors import Conflict
from payouts.domain.timing import PAUSED, RESUMED
from payouts.services.jobs import get_job
from payouts.storage import pauses
from payouts.storage.clock import iso_utc, utcnow
from payouts.storage.pauses import Pause
from payouts.storage.work import announce_work


@dataclass(frozen=True, slots=True)
class ProcessingState:
    everything: Pause | None  # processing of every job is paused
    jobs: list[Pause]  # jobs paused one by one

    @property
    def paused(self) -> bool:
        return self.everything is not None

    def job_pause(self, job_id: uuid.UUID) -> Pause | None:
        return next((p for p in self.jobs if p.job_id == job_id), None)


@dataclass(frozen=True, slots=True)
class PauseChange:
    changed: bool  # False: it already was so
    message: str
    state: ProcessingState


def state(conn: Connection) -> ProcessingState:
    found = pauses.list_pauses(conn)
    everything = next((p for p in found if p.job_id is None), None)
    return ProcessingState(everything, [p for p in found if p.job_id is not None])


def audit_target(job: object | None) -> str:
    """The audit log's target of a pause or resume: one job (its id as given) or everything."""
    return "everything" if job is None else f"job_id={job}"


def _what(job_id: uuid.UUID | None) -> str:
    return "processing of every payout job" if job_id is None else f"payout job {job_id}"


def pause(conn: Connection, job_id: uuid.UUID | None, by: str) -> PauseChange:
    """Pause everything (None) or one job. Workers take no new batch of it from now."""
    if job_id is not None:
        job = get_job(conn, job_id)  # NotFound: 404
        if job["status"] == "completed":
            raise Conflict(f"payout job {job_id} is completed; there is nothing left to pause")
    now = utcnow()
    added = pauses.add_pause(conn, job_id, by, now)
    if added is not None:
        pauses.mark_transitions(conn, job_id, PAUSED, now, new_pause_id=added)
        return PauseChange(True, f"Paused {_what(job_id)}.", state(conn))
    existing = pauses.find_pause(conn, job_id)
    assert existing is not None, "add_pause found a pause in the way"
    return PauseChange(
        False,
        f"{_what(job_id).capitalize()} was already paused"
        f" (by {existing.paused_by} at {iso_utc(existing.paused_at)}); nothing changed.",
        state(conn),
    )


def resume(conn: Connection, job_id: uuid.UUID | None) -> PauseChange:
    """Lift the pause of everything (None) or of one job, and wake the workers."""
    if job_id is not None:
        get_job(conn, job_id)  # NotFound: 404
    if not pauses.remove_pause(conn, job_id):
        return PauseChange(
            False, f"{_what(job_id).capitalize()} was not paused; nothing changed.", state(conn)
        )
    pauses.mark_transitions(conn, job_id, RESUMED, utcnow())
    announce_work(conn)
    now = state(conn)
    still = ""
    if job_id is not None and now.paused:
        still = " Every job is still paused, though: resume everything to pay it."
    return PauseChange(True, f"Resumed {_what(job_id)}.{still}", now)
