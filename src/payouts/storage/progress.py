"""What a committed batch did to a job, and the job's counters and closing.

Every pay path adds its batch to the job's counters in the batch's own transaction, under
the job's row lock, so concurrent batches add up exactly and the counters always equal the
settled entries. A job closes when every winner is settled: completed (and the platform fee
booked, once) or failed (with an error that says how many entries failed).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Row, func, insert, update

from payouts.domain.vocabulary import LEDGER_TYPE_OF_JOB
from payouts.storage.clock import utcnow
from payouts.storage.events import record_job_transitions
from payouts.storage.sql import sql
from payouts.storage.tables import payout_jobs, transactions

LEDGER_TYPE = LEDGER_TYPE_OF_JOB


@dataclass(frozen=True, slots=True)
class JobBatch:
    """One job's part of a committed transaction: what was paid, and the job after it."""

    job_id: uuid.UUID
    challenge_id: int
    kind: str
    paid: int
    failed: int
    coins: int  # paid, in coins
    status: str  # the job's status after the batch
    total_winners: int
    processed_winners: int
    failed_winners: int
    started_at: datetime | None
    completed_at: datetime | None
    error: str | None = None
    started_now: bool = False  # this transaction took the job from queued

    @property
    def settled(self) -> bool:
        return self.status in ("completed", "failed")

    @classmethod
    def from_row(cls, row: Row, *, started_now: bool = False) -> JobBatch:  # type: ignore[type-arg]
        return cls(
            job_id=row.job_id,
            challenge_id=row.challenge_id,
            kind=row.kind,
            paid=int(row.paid),
            failed=int(row.failed),
            coins=int(row.coins),
            status=row.status,
            total_winners=row.total_winners,
            processed_winners=row.processed_winners,
            failed_winners=row.failed_winners,
            started_at=row.started_at,
            completed_at=row.completed_at,
            error=row.error,
            started_now=started_now,
        )


def failure_message(processed: int, failed: int, total: int) -> str:
    """The error of a failed job, in the words operators see in the UI and the CLI."""
    if failed:
        return f"{failed:,} of {total:,} entries failed; fix them and retry the job"
    return f"found {processed + failed:,} winning stakes, expected {total:,}"


_SET_ERROR = sql("UPDATE payout_jobs SET error = :error WHERE id = :job_id")


def explain_failures(conn: Connection, batches: list[JobBatch]) -> list[JobBatch]:
    """Write the error of each job the batch failed (rare: a frozen or missing winner), and
    the job.completed / job.failed event of each job it settled (every pay path ends here,
    in its transaction)."""
    explained = []
    for batch in batches:
        if batch.status == "failed" and batch.error is None:
            error = failure_message(
                batch.processed_winners, batch.failed_winners, batch.total_winners
            )
            conn.execute(_SET_ERROR, {"job_id": batch.job_id, "error": error})
            batch = _with_error(batch, error)
        explained.append(batch)
    record_job_transitions(conn, [batch.job_id for batch in explained if batch.settled])
    return explained


def _with_error(batch: JobBatch, error: str) -> JobBatch:
    return JobBatch(
        batch.job_id,
        batch.challenge_id,
        batch.kind,
        batch.paid,
        batch.failed,
        batch.coins,
        batch.status,
        batch.total_winners,
        batch.processed_winners,
        batch.failed_winners,
        batch.started_at,
        batch.completed_at,
        error,
        batch.started_now,
    )


# Add a batch to the job's counters and close the job when every winner is settled.
# Used by the paths whose statements do not do it themselves (SQLite, pending entries).
_RECORD_PROGRESS = sql("""
UPDATE payout_jobs
SET processed_winners = processed_winners + :paid,
    failed_winners = failed_winners + :failed,
    status = CASE WHEN processed_winners + :paid + failed_winners + :failed < total_winners
                  THEN 'running'
                  WHEN failed_winners + :failed > 0 THEN 'failed'
                  ELSE 'completed' END,
    completed_at = CASE WHEN processed_winners + :paid = total_winners
                         AND failed_winners + :failed = 0 THEN :now END,
    started_at = COALESCE(started_at, :now)
WHERE id = :job_id
RETURNING id AS job_id, challenge_id, kind, status, total_winners, processed_winners,
          failed_winners,
          platform_fee, started_at, completed_at, error
""")


def record_progress(
    conn: Connection, job_id: uuid.UUID, paid: int, failed: int, coins: int
) -> JobBatch:
    now = utcnow()
    row = conn.execute(
        _RECORD_PROGRESS, {"job_id": job_id, "paid": paid, "failed": failed, "now": now}
    ).one()
    if row.status == "completed" and row.kind == "payout" and row.platform_fee > 0:
        book_platform_fee(conn, row.challenge_id, row.platform_fee, now)
    batch = JobBatch(
        job_id=row.job_id,
        challenge_id=row.challenge_id,
        kind=row.kind,
        paid=paid,
        failed=failed,
        coins=coins,
        status=row.status,
        total_winners=row.total_winners,
        processed_winners=row.processed_winners,
        failed_winners=row.failed_winners,
        started_at=row.started_at,
        completed_at=row.completed_at,
        error=row.error,
    )
    return explain_failures(conn, [batch])[0]


_JOB = sql("""
SELECT id AS job_id, challenge_id, kind, status, total_winners, processed_winners,
       failed_winners, started_at, completed_at, error, 0 AS paid, 0 AS failed, 0 AS coins
FROM payout_jobs WHERE id = :job_id
""")


def job_batch(conn: Connection, job_id: uuid.UUID) -> JobBatch:
    """The job as it is now, as an empty batch (for the log line of a transition)."""
    return JobBatch.from_row(conn.execute(_JOB, {"job_id": job_id}).one())


def book_platform_fee(conn: Connection, challenge_id: int, fee: int, now: datetime) -> None:
    """Once per challenge; a unique index on the ledger refuses a second fee row."""
    conn.execute(
        insert(transactions).values(
            user_id=None, type="platform_fee", amount=fee, challenge_id=challenge_id, created_at=now
        )
    )


def mark_running(conn: Connection, job_id: uuid.UUID) -> bool:
    """queued -> running, before a (possibly long) plan; True if this call did it."""
    j = payout_jobs.c
    started = conn.execute(
        update(payout_jobs)
        .where(j.id == job_id, j.status == "queued")
        .values(status="running", started_at=func.coalesce(j.started_at, utcnow()))
    )
    return started.rowcount == 1
