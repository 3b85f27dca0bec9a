"""Reading a job as the worker sees it, and making its entries the way payouts does."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from payouts.storage import queue
from payouts.storage.database import Database
from payouts.storage.queue import QueuedJob
from payouts.storage.tables import payout_jobs


def load_job(db: Database, job_id: uuid.UUID) -> QueuedJob:
    with db.read() as conn:
        row = conn.execute(select(payout_jobs).where(payout_jobs.c.id == job_id)).one()
    return QueuedJob.from_row(row)


def materialise_like_payouts(db: Database, job_id: uuid.UUID, chunk: int) -> None:
    """Plan and materialise with payouts' own queue functions and transactions, so a
    baseline that only pays differently starts from the same entries."""
    job = load_job(db, job_id)
    with db.read() as conn:
        cutoff = queue.compute_cutoff(conn, job)
    with db.write() as conn:
        queue.store_plan(conn, job.id, cutoff)
    while True:
        with db.write() as conn:
            locked = queue.lock_for_materialising(conn, job.id)
            if locked is None or queue.materialise_chunk(conn, locked, chunk) == 0:
                return
