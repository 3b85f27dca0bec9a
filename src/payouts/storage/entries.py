"""Paying pending entries: the entries a retry put back to pending (their amounts are known).

Entries are normally written once, already settled, by the slice or small-job paths. After
an operator fixes what failed an entry (unfreezes its user) and retries the job, its failed
entries become pending again, and this path pays them: claim a batch of a job's pending
entries, credit the active users, write the ledger rows and their events, mark the entries,
add to the job's counters; one transaction, set-based.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, select, update

from payouts.storage.clock import utcnow
from payouts.storage.events import PAID_EVENTS_POSTGRES, events_from_ledger, ledger_mark
from payouts.storage.progress import LEDGER_TYPE, JobBatch, record_progress
from payouts.storage.sql import sql
from payouts.storage.tables import payout_entries


@dataclass(frozen=True, slots=True)
class RetriedJob:
    job_id: uuid.UUID
    challenge_id: int
    kind: str


_JOB_WITH_PENDING_ENTRIES = sql("""
SELECT j.id AS job_id, j.challenge_id, j.kind FROM payout_jobs j
WHERE j.id = (SELECT job_id FROM payout_entries
              WHERE status = 'pending'
                AND NOT EXISTS (SELECT 1 FROM processing_pauses p
                                WHERE p.job_id IS NULL OR p.job_id = payout_entries.job_id)
              LIMIT 1)
""")


def job_with_pending_entries(conn: Connection) -> RetriedJob | None:
    row = conn.execute(_JOB_WITH_PENDING_ENTRIES).first()
    return None if row is None else RetriedJob(row.job_id, row.challenge_id, row.kind)


def pay_pending_entries(
    conn: Connection, job: RetriedJob, batch_size: int, after_id: int = 0
) -> JobBatch | None:
    """Claim up to `batch_size` of the job's pending entries with id > after_id and settle
    them, in the caller's transaction; None when none is free."""
    if conn.dialect.name == "postgresql":
        row = conn.execute(
            _PAY_PENDING_POSTGRES,
            {
                "job_id": job.job_id,
                "after_id": after_id,
                "batch_size": batch_size,
                "ledger_type": LEDGER_TYPE[job.kind],
                "challenge_id": job.challenge_id,
            },
        ).one()
        claimed, paid, coins = row.claimed, row.paid, int(row.coins)
    else:
        claimed, paid, coins = _pay_pending_sqlite(conn, job, batch_size, after_id)
    if not claimed:
        return None
    return record_progress(conn, job.job_id, paid, claimed - paid, coins)


# SKIP LOCKED: workers share a job's pending entries without waiting on each other. Users
# are locked in id order before any balance changes (no deadlock with other batches), and
# `status = 'active'` is checked under that lock: a frozen user fails the entry again.
_PAY_PENDING_POSTGRES = sql(f"""
WITH claimed AS (
    SELECT id, user_id, amount FROM payout_entries
    WHERE job_id = :job_id AND status = 'pending' AND id > :after_id
      AND NOT EXISTS (SELECT 1 FROM processing_pauses p
                      WHERE p.job_id IS NULL OR p.job_id = :job_id)
    ORDER BY id
    LIMIT :batch_size
    FOR UPDATE SKIP LOCKED
), locked AS (
    SELECT id FROM users
    WHERE id IN (SELECT user_id FROM claimed)
    ORDER BY id
    FOR NO KEY UPDATE
), credited AS (
    UPDATE users u SET balance = u.balance + c.amount
    FROM claimed c
    WHERE u.id = c.user_id AND u.status = 'active' AND u.id IN (SELECT id FROM locked)
    RETURNING c.id AS entry_id, c.user_id, c.amount
), ledger AS (
    INSERT INTO transactions (user_id, type, amount, challenge_id, payout_entry_id, created_at)
    SELECT user_id, :ledger_type, amount, :challenge_id, entry_id, now() FROM credited
    RETURNING id, type
), {PAID_EVENTS_POSTGRES}, marked AS (
    UPDATE payout_entries e
    SET status = CASE WHEN e.id IN (SELECT entry_id FROM credited)
                      THEN 'completed' ELSE 'failed' END,
        error = CASE WHEN e.id IN (SELECT entry_id FROM credited) THEN NULL
                     WHEN e.user_id IN (SELECT id FROM locked) THEN 'user is frozen'
                     ELSE 'user not found' END,
        attempts = e.attempts + 1,
        processed_at = now()
    FROM claimed c
    WHERE e.id = c.id
    RETURNING e.status, e.amount
)
SELECT count(*) AS claimed,
       count(*) FILTER (WHERE status = 'completed') AS paid,
       COALESCE(sum(amount) FILTER (WHERE status = 'completed'), 0) AS coins
FROM marked
""")


# BEGIN IMMEDIATE holds SQLite's one write lock, so the pending entries in the claimed id
# range are exactly the claimed ones: no other writer can touch them until commit.


_CLAIM_SQLITE = sql("""
SELECT min(id) AS low, max(id) AS high, count(*) AS claimed FROM (
    SELECT id FROM payout_entries
    WHERE job_id = :job_id AND status = 'pending' AND id > :after_id
      AND NOT EXISTS (SELECT 1 FROM processing_pauses p
                      WHERE p.job_id IS NULL OR p.job_id = :job_id)
    ORDER BY id
    LIMIT :batch_size
)
""")
_FAIL_UNPAYABLE_SQLITE = sql("""
UPDATE payout_entries
SET status = 'failed', attempts = attempts + 1, processed_at = :now,
    error = CASE WHEN EXISTS (SELECT 1 FROM users u WHERE u.id = payout_entries.user_id)
                 THEN 'user is frozen' ELSE 'user not found' END
WHERE job_id = :job_id AND status = 'pending' AND id BETWEEN :low AND :high
  AND NOT EXISTS (SELECT 1 FROM users u
                  WHERE u.id = payout_entries.user_id AND u.status = 'active')
""")
_CREDIT_SQLITE = sql("""
UPDATE users SET balance = users.balance + e.amount
FROM (SELECT user_id, amount FROM payout_entries
      WHERE job_id = :job_id AND status = 'pending' AND id BETWEEN :low AND :high) AS e
WHERE users.id = e.user_id
""")
_LEDGER_SQLITE = sql("""
INSERT INTO transactions (user_id, type, amount, challenge_id, payout_entry_id, created_at)
SELECT user_id, :ledger_type, amount, :challenge_id, id, :now FROM payout_entries
WHERE job_id = :job_id AND status = 'pending' AND id BETWEEN :low AND :high
""")
_MARK_SQLITE = sql("""
UPDATE payout_entries SET status = 'completed', processed_at = :now, attempts = attempts + 1
WHERE job_id = :job_id AND status = 'pending' AND id BETWEEN :low AND :high
RETURNING amount
""")


def _pay_pending_sqlite(
    conn: Connection, job: RetriedJob, batch_size: int, after_id: int
) -> tuple[int, int, int]:
    params: dict[str, object] = {
        "job_id": job.job_id,
        "after_id": after_id,
        "batch_size": batch_size,
    }
    claim = conn.execute(_CLAIM_SQLITE, params).one()
    if not claim.claimed:
        return 0, 0, 0
    params.update(
        low=claim.low,
        high=claim.high,
        now=utcnow(),
        ledger_type=LEDGER_TYPE[job.kind],
        challenge_id=job.challenge_id,
    )
    conn.execute(_FAIL_UNPAYABLE_SQLITE, params)
    conn.execute(_CREDIT_SQLITE, params)
    ledger_before = ledger_mark(conn)
    conn.execute(_LEDGER_SQLITE, params)
    events_from_ledger(conn, ledger_before)
    amounts = conn.execute(_MARK_SQLITE, params).scalars().all()
    return claim.claimed, len(amounts), sum(amounts)


# --- Poison entries: isolating an entry whose payment keeps failing ------------------------


def pending_entry_ids(conn: Connection, job_id: uuid.UUID, after_id: int, limit: int) -> list[int]:
    e = payout_entries.c
    return list(
        conn.execute(
            select(e.id)
            .where(e.job_id == job_id, e.status == "pending", e.id > after_id)
            .order_by(e.id)
            .limit(limit)
        ).scalars()
    )


def lock_pending_entry(conn: Connection, job_id: uuid.UUID, entry_id: int) -> bool:
    """Lock one pending entry, so that paying a batch of one claims exactly it."""
    e = payout_entries.c
    found = conn.execute(
        select(e.id)
        .where(e.id == entry_id, e.job_id == job_id, e.status == "pending")
        .with_for_update()
    ).first()
    return found is not None


def record_failed_attempt(
    conn: Connection, job_id: uuid.UUID, entry_id: int, error: str, max_attempts: int
) -> JobBatch | None:
    """Count a failed attempt to pay the entry; at `max_attempts` the entry is failed (and
    the job's counters say so): then the job after it, else None."""
    e = payout_entries.c
    attempts = conn.execute(
        update(payout_entries)
        .where(e.id == entry_id, e.status == "pending")
        .values(attempts=e.attempts + 1, error=error)
        .returning(e.attempts)
    ).scalar_one_or_none()
    if attempts is None or attempts < max_attempts:
        return None
    conn.execute(
        update(payout_entries)
        .where(e.id == entry_id)
        .values(status="failed", processed_at=utcnow())
    )
    return record_progress(conn, job_id, 0, 1, 0)
