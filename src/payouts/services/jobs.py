"""Payout jobs as an admin sees them: status, lists, entries, trigger, retry."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Connection, RowMapping, select, update

from payouts.domain.errors import Conflict, NotFound
from payouts.domain.vocabulary import ACTIVE_JOB_STATUSES
from payouts.storage.clock import utcnow
from payouts.storage.planning import put_slices_first
from payouts.storage.tables import payout_entries, payout_jobs
from payouts.storage.work import announce_work


def get_job(conn: Connection, job_id: uuid.UUID) -> RowMapping:
    job = conn.execute(select(payout_jobs).where(payout_jobs.c.id == job_id)).mappings().first()
    if job is None:
        raise NotFound(f"payout job {job_id} not found")
    return job


def list_jobs(
    conn: Connection, statuses: Sequence[str] | None = None, limit: int = 100
) -> Sequence[RowMapping]:
    query = select(payout_jobs).order_by(payout_jobs.c.created_at.desc()).limit(limit)
    if statuses:
        query = query.where(payout_jobs.c.status.in_(statuses))
    return conn.execute(query).mappings().all()


def list_entries(
    conn: Connection,
    job_id: uuid.UUID,
    status: str | None,
    *,
    after_id: int = 0,
    limit: int = 100,
) -> Sequence[RowMapping]:
    get_job(conn, job_id)
    e = payout_entries.c
    query = select(payout_entries).where(e.job_id == job_id, e.id > after_id)
    if status:
        query = query.where(e.status == status)
    return conn.execute(query.order_by(e.id).limit(limit)).mappings().all()


def trigger(conn: Connection, job_id: uuid.UUID) -> RowMapping:
    """The seed's triggerImmediate: wake the workers now and put this job first."""
    job = get_job(conn, job_id)
    if job["status"] not in ACTIVE_JOB_STATUSES:
        raise Conflict(
            f"payout job {job_id} is {job['status']}; only queued or running"
            " jobs can be processed now"
        )
    conn.execute(
        update(payout_jobs).where(payout_jobs.c.id == job_id).values(triggered_at=utcnow())
    )
    put_slices_first(conn, job_id)
    announce_work(conn)
    return get_job(conn, job_id)


def retry(conn: Connection, job_id: uuid.UUID) -> RowMapping:
    """Put failed entries back to pending and the job back in the queue. Completed entries
    are never touched, so nobody is paid twice; the fee is booked when the job completes."""
    job = get_job(conn, job_id)
    e = payout_entries.c
    reset = conn.execute(
        update(payout_entries)
        .where(e.job_id == job_id, e.status == "failed")
        .values(status="pending", error=None, processed_at=None)
    ).rowcount
    if not reset:
        raise Conflict(
            f"payout job {job_id} has no failed entries to retry (it is {job['status']})"
        )
    j = payout_jobs.c
    conn.execute(
        update(payout_jobs)
        .where(j.id == job_id)
        .values(
            status="queued",
            failed_winners=j.failed_winners - reset,
            error=None,
            completed_at=None,
        )
    )
    announce_work(conn)
    return get_job(conn, job_id)
