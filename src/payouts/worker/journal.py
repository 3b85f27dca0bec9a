"""The worker's log lines: one per batch, one per job transition, each with the job id and
counts. Every record carries `fields`, which PAYOUTS_LOG_FORMAT=json writes as JSON keys."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import Connection, RowMapping, select

from payouts.clock import utcnow
from payouts.services.monitoring import SETTLED_STATUSES, seconds_between
from payouts.storage.queue import BatchOutcome, QueuedJob
from payouts.storage.tables import payout_jobs

log = logging.getLogger("payouts.worker")


def _emit(message: str, **fields: object) -> None:
    log.info(message, extra={"fields": fields})


def job_started(worker: str, job: QueuedJob) -> None:
    _emit(
        f"job {job.id} queued→running: {job.kind} of {job.total_winners} winners ({worker})",
        event="job_transition",
        job_id=str(job.id),
        challenge_id=job.challenge_id,
        kind=job.kind,
        from_status="queued",
        to_status="running",
        total_winners=job.total_winners,
        worker=worker,
    )


def batch_paid(worker: str, job: QueuedJob, outcome: BatchOutcome, seconds: float) -> None:
    _emit(
        f"job {job.id} batch: {outcome.paid} paid, {outcome.failed} failed,"
        f" {outcome.paid_amount} coins in {seconds:.3f}s; job {outcome.job_status} ({worker})",
        event="batch",
        job_id=str(job.id),
        kind=job.kind,
        paid=outcome.paid,
        failed=outcome.failed,
        coins=outcome.paid_amount,
        seconds=round(seconds, 6),
        job_status=outcome.job_status,
        worker=worker,
    )


def settled_job(conn: Connection, job_id: uuid.UUID) -> RowMapping | None:
    """The job, if it is now completed or failed. Called in the transaction that may have
    settled it, so the answer is about that transaction and no other worker's."""
    job = conn.execute(select(payout_jobs).where(payout_jobs.c.id == job_id)).mappings().one()
    return job if job["status"] in SETTLED_STATUSES else None


def settled_by_batch(
    conn: Connection, job_id: uuid.UUID, outcome: BatchOutcome
) -> RowMapping | None:
    return settled_job(conn, job_id) if outcome.job_status in SETTLED_STATUSES else None


def job_settled(worker: str, job: RowMapping) -> None:
    status = job["status"]
    took = seconds_between(job["started_at"], job["completed_at"] or utcnow())
    message = (
        f"job {job['id']} {status}: {job['processed_winners']} paid,"
        f" {job['failed_winners']} failed of {job['total_winners']} winners"
    )
    if took is not None:
        message += f" in {took:.1f}s"
    if job["error"]:
        message += f"; {job['error']}"
    _emit(
        f"{message} ({worker})",
        event="job_transition",
        job_id=str(job["id"]),
        challenge_id=job["challenge_id"],
        kind=job["kind"],
        to_status=status,
        processed_winners=job["processed_winners"],
        failed_winners=job["failed_winners"],
        total_winners=job["total_winners"],
        seconds=None if took is None else round(took, 3),
        error=job["error"],
        worker=worker,
    )
