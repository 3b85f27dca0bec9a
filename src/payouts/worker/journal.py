"""The worker's log lines: one per batch, one per job transition, each with the job id and
counts. Every record carries `fields`, which PAYOUTS_LOG_FORMAT=json writes as JSON keys."""

from __future__ import annotations

import logging
import uuid
from typing import Protocol

from payouts.domain.timing import seconds_between
from payouts.storage.clock import as_utc, utcnow
from payouts.storage.progress import JobBatch

log = logging.getLogger("payouts.worker")


def _emit(message: str, **fields: object) -> None:
    log.info(message, extra={"fields": fields})


class StartedJob(Protocol):
    @property
    def job_id(self) -> uuid.UUID: ...
    @property
    def challenge_id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def total_winners(self) -> int: ...


def job_started(worker: str, job: StartedJob) -> None:
    _emit(
        f"job {job.job_id} queued→running: {job.kind} of {job.total_winners} winners ({worker})",
        event="job_transition",
        job_id=str(job.job_id),
        challenge_id=job.challenge_id,
        kind=job.kind,
        from_status="queued",
        to_status="running",
        total_winners=job.total_winners,
        worker=worker,
    )


def batch_paid(worker: str, batch: JobBatch, seconds: float) -> None:
    _emit(
        f"job {batch.job_id} batch: {batch.paid} paid, {batch.failed} failed,"
        f" {batch.coins} coins in {seconds:.3f}s; job {batch.status} ({worker})",
        event="batch",
        job_id=str(batch.job_id),
        kind=batch.kind,
        paid=batch.paid,
        failed=batch.failed,
        coins=batch.coins,
        seconds=round(seconds, 6),
        job_status=batch.status,
        worker=worker,
    )


def job_settled(worker: str, job: JobBatch) -> None:
    took = seconds_between(
        job.started_at and as_utc(job.started_at), as_utc(job.completed_at or utcnow())
    )
    message = (
        f"job {job.job_id} {job.status}: {job.processed_winners} paid,"
        f" {job.failed_winners} failed of {job.total_winners} winners"
    )
    if took is not None:
        message += f" in {took:.1f}s"
    if job.error:
        message += f"; {job.error}"
    _emit(
        f"{message} ({worker})",
        event="job_transition",
        job_id=str(job.job_id),
        challenge_id=job.challenge_id,
        kind=job.kind,
        to_status=job.status,
        processed_winners=job.processed_winners,
        failed_winners=job.failed_winners,
        total_winners=job.total_winners,
        seconds=None if took is None else round(took, 3),
        error=job.error,
        worker=worker,
    )


def transaction_committed(worker: str, batches: list[JobBatch], seconds: float) -> None:
    """The lines of one committed transaction: per job, its start (small jobs go from
    queued to settled in it), its batch and its end."""
    for batch in batches:
        if batch.started_now:
            job_started(worker, batch)
        if batch.paid or batch.failed:
            batch_paid(worker, batch, seconds)
        if batch.settled:
            job_settled(worker, batch)
