"""Paused processing: rows of processing_pauses, one for everything (job_id NULL) or one
per job. The claims of every pay path skip paused jobs in their own statement (the
`NOT EXISTS (SELECT 1 FROM processing_pauses ...)` in small_jobs, planning, slices and
entries), so a pause takes effect at the next claim of any worker: the batch in flight
commits whole, and nothing new starts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from payouts.storage.clock import as_utc
from payouts.storage.tables import processing_pauses


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


def add_pause(conn: Connection, job_id: uuid.UUID | None, by: str, at: datetime) -> bool:
    """Pause everything (None) or one job; False if it was paused already (unchanged)."""
    values = {"job_id": job_id, "everything": job_id is None, "paused_by": by, "paused_at": at}
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(processing_pauses).values(**values).on_conflict_do_nothing()
    return conn.execute(statement.returning(processing_pauses.c.id)).first() is not None


def remove_pause(conn: Connection, job_id: uuid.UUID | None) -> bool:
    """Lift the pause of everything (None) or of one job; False if there was none."""
    p = processing_pauses.c
    scope = p.job_id.is_(None) if job_id is None else p.job_id == job_id
    return conn.execute(delete(processing_pauses).where(scope)).rowcount == 1
