"""Paused processing: rows of processing_pauses, one for everything (job_id NULL) or one
per job. The claims of every pay path skip paused jobs in their own statement (the
`NOT EXISTS (SELECT 1 FROM processing_pauses ...)` in small_jobs, planning, slices and
entries), so a pause takes effect at the next claim of any worker: the batch in flight
commits whole, and nothing new starts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, exists, insert, literal, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from payouts.domain.vocabulary import ACTIVE_JOB_STATUSES
from payouts.storage.clock import as_utc
from payouts.storage.tables import job_transitions, payout_jobs, processing_pauses


@dataclass(frozen=True, slots=True)
class Pause:
    job_id: uuid.UUID | None  # None: every job
    paused_by: str
    paused_at: datetime


def _of(row: object) -> Pause:
    return Pause(row.job_id, row.paused_by, as_utc(row.paused_at))  # type: ignore[attr-defined]


def list_pauses(conn: Connection) -> list[Pause]:
    """The pause of everything first (if any), then paused jobs, oldest first."""
    p = processing_pauses.c
    rows = conn.execute(
        select(p.job_id, p.paused_by, p.paused_at).order_by(p.everything.desc(), p.id)
    )
    return [_of(row) for row in rows]


def find_pause(conn: Connection, job_id: uuid.UUID | None) -> Pause | None:
    p = processing_pauses.c
    scope = p.job_id.is_(None) if job_id is None else p.job_id == job_id
    row = conn.execute(select(p.job_id, p.paused_by, p.paused_at).where(scope)).first()
    return None if row is None else _of(row)


def add_pause(conn: Connection, job_id: uuid.UUID | None, by: str, at: datetime) -> int | None:
    """Pause everything (None) or one job: the new pause's id; None if it was paused
    already (unchanged)."""
    values = {"job_id": job_id, "everything": job_id is None, "paused_by": by, "paused_at": at}
    upsert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = upsert(processing_pauses).values(**values).on_conflict_do_nothing()
    added = conn.execute(statement.returning(processing_pauses.c.id)).first()
    return None if added is None else int(added.id)


def remove_pause(conn: Connection, job_id: uuid.UUID | None) -> bool:
    """Lift the pause of everything (None) or of one job; False if there was none."""
    p = processing_pauses.c
    scope = p.job_id.is_(None) if job_id is None else p.job_id == job_id
    return conn.execute(delete(processing_pauses).where(scope)).rowcount == 1


def mark_transitions(
    conn: Connection,
    job_id: uuid.UUID | None,
    mark: str,
    at: datetime,
    new_pause_id: int | None = None,
) -> None:
    """Write `mark` (domain.timing's PAUSED or RESUMED) into job_transitions for the active
    jobs it applies to (one, or all) that no other pause holds: call it after adding a pause
    (`new_pause_id`) or after removing one, so the marks say when each job really stopped
    and started again."""
    j, p = payout_jobs.c, processing_pauses.c
    held = exists().where(or_(p.job_id.is_(None), p.job_id == j.id))
    if new_pause_id is not None:
        held = held.where(p.id != new_pause_id)
    chosen = select(j.id, literal(mark), j.planned, literal(at, job_transitions.c.at.type)).where(
        j.status.in_(ACTIVE_JOB_STATUSES), ~held
    )
    if job_id is not None:
        chosen = chosen.where(j.id == job_id)
    columns = ["job_id", "status", "planned", "at"]
    conn.execute(insert(job_transitions).from_select(columns, chosen))
