"""Paying a big job, one slice at a time, straight from the stakes.

A slice is a range of a planned job's winners by user id (payout_slices). Paying it claims
the slice, computes each winner's amount from the stakes and the job's stored cutoff,
credits the active users, writes each entry once, already settled (completed, or failed
for a frozen or missing user), with its ledger row and its event (payout.paid or
refund.paid: the outbox, docs/events.md), deletes the slice and adds the batch
to the job's counters (closing the job and booking its fee with the last slice): one
transaction, and on PostgreSQL one statement.

Exactly once: a slice is deleted in the transaction that pays it, so a committed payment
has no slice left to claim, and a rolled-back one (crash, kill -9, lost connection) leaves
the slice and nothing else. On top of that the database refuses a second entry per job and
user (UNIQUE) and a second ledger row per entry (UNIQUE).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, insert

from payouts.storage.clock import utcnow
from payouts.storage.events import PAID_EVENTS_POSTGRES, events_from_ledger, ledger_mark
from payouts.storage.progress import (
    LEDGER_TYPE,
    JobBatch,
    explain_failures,
    record_progress,
)
from payouts.storage.sql import sql
from payouts.storage.tables import payout_entries

INT64_MAX = 2**63 - 1


def pay_next_slice(conn: Connection) -> JobBatch | None:
    """Claim and pay the first free slice in line, in the caller's transaction; None when
    none is free. PostgreSQL: one statement claims and pays."""
    if conn.dialect.name == "postgresql":
        return _pay_slice_postgres(conn, None)
    claimed = claim_slice(conn)
    return None if claimed is None else _pay_slice_sqlite(conn, claimed)


def pay_slice(conn: Connection, claimed: ClaimedSlice) -> JobBatch:
    """Pay a slice this transaction has already claimed (to retry it alone)."""
    if conn.dialect.name == "postgresql":
        batch = _pay_slice_postgres(conn, claimed.id)
        assert batch is not None, "a claimed slice is this transaction's to pay"
        return batch
    return _pay_slice_sqlite(conn, claimed)


def _pay_slice_postgres(conn: Connection, slice_id: int | None) -> JobBatch | None:
    row = conn.execute(PAY_SLICE_POSTGRES, {"slice_id": slice_id}).first()
    return None if row is None else explain_failures(conn, [JobBatch.from_row(row)])[0]


# --- Claiming a slice --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClaimedSlice:
    id: int
    job_id: uuid.UUID
    challenge_id: int
    kind: str
    winning_side: str | None
    winner_pool: int
    winning_total: int
    cutoff_remainder: int | None
    cutoff_user_id: int | None
    first_user_id: int
    last_user_id: int
    attempts: int


# SKIP LOCKED: workers take different slices and never wait for each other. Slices are
# taken in `seq` order, which interleaves the big jobs planned at the same time.
_CLAIM_POSTGRES = sql("""
SELECT s.id, s.job_id, j.challenge_id, j.kind, j.winning_side, j.winner_pool,
       j.winning_total, j.cutoff_remainder, j.cutoff_user_id,
       s.first_user_id, s.last_user_id, s.attempts
FROM payout_slices s
JOIN payout_jobs j ON j.id = s.job_id
WHERE NOT EXISTS (SELECT 1 FROM processing_pauses p WHERE p.job_id IS NULL OR p.job_id = s.job_id)
ORDER BY s.seq, s.id
LIMIT 1
FOR UPDATE OF s SKIP LOCKED
""")

# Inside BEGIN IMMEDIATE: nobody else can claim anything until this transaction ends.
_CLAIM_SQLITE = sql("""
SELECT s.id, s.job_id, j.challenge_id, j.kind, j.winning_side, j.winner_pool,
       j.winning_total, j.cutoff_remainder, j.cutoff_user_id,
       s.first_user_id, s.last_user_id, s.attempts
FROM payout_slices s
JOIN payout_jobs j ON j.id = s.job_id
WHERE NOT EXISTS (SELECT 1 FROM processing_pauses p WHERE p.job_id IS NULL OR p.job_id = s.job_id)
ORDER BY s.seq, s.id
LIMIT 1
""")


def claim_slice(conn: Connection) -> ClaimedSlice | None:
    """The first slice in line, locked for this transaction."""
    claim = _CLAIM_POSTGRES if conn.dialect.name == "postgresql" else _CLAIM_SQLITE
    row = conn.execute(claim).first()
    return None if row is None else ClaimedSlice(**row._mapping)


# --- PostgreSQL: one statement ------------------------------------------------------------
#
# Safe under concurrency: the slice is claimed FOR UPDATE SKIP LOCKED (or was claimed by
# this transaction already: :slice_id), so no other worker pays it and none waits for it;
# slices of one job are disjoint user ranges, and `locked` takes the users' row locks in id
# order before any balance changes, so batches of different jobs that share users wait for
# each other instead of deadlocking. The UPDATE
# re-checks `status = 'active'` under the lock: a user frozen meanwhile is not credited.
# The job's counters are updated last, under its row lock, so concurrent slices of one job
# add up exactly.
PAY_SLICE_POSTGRES = sql(f"""
WITH slice AS (
    SELECT id, job_id, first_user_id, last_user_id FROM payout_slices
    WHERE id = COALESCE(CAST(:slice_id AS bigint),
                        (SELECT id FROM payout_slices
                         WHERE NOT EXISTS (SELECT 1 FROM processing_pauses p
                                           WHERE p.job_id IS NULL
                                              OR p.job_id = payout_slices.job_id)
                         ORDER BY seq, id LIMIT 1
                         FOR UPDATE SKIP LOCKED))
), job AS (
    SELECT j.id, j.challenge_id, j.kind, j.winning_side, j.winner_pool, j.winning_total,
           j.cutoff_remainder, j.cutoff_user_id,
           s.id AS slice_id, s.first_user_id, s.last_user_id
    FROM slice s
    JOIN payout_jobs j ON j.id = s.job_id
), shares AS (
    SELECT st.user_id,
           CASE WHEN st.amount <= 9223372036854775807 / NULLIF(j.winner_pool, 0)
                THEN j.winner_pool * st.amount / j.winning_total
                ELSE CAST(div(CAST(j.winner_pool AS numeric) * st.amount, j.winning_total)
                          AS bigint)
           END AS floor,
           CASE WHEN st.amount <= 9223372036854775807 / NULLIF(j.winner_pool, 0)
                THEN j.winner_pool * st.amount % j.winning_total
                ELSE CAST(mod(CAST(j.winner_pool AS numeric) * st.amount, j.winning_total)
                          AS bigint)
           END AS remainder
    FROM job j
    JOIN stakes st ON st.challenge_id = j.challenge_id
                  AND st.user_id BETWEEN j.first_user_id AND j.last_user_id
    WHERE j.winning_side IS NULL OR st.side = j.winning_side
), winners AS (
    SELECT s.user_id,
           s.floor + CASE WHEN s.remainder > j.cutoff_remainder
                            OR (s.remainder = j.cutoff_remainder
                                AND s.user_id <= j.cutoff_user_id)
                          THEN 1 ELSE 0 END AS amount
    FROM shares s
    CROSS JOIN job j
), locked AS (
    SELECT id FROM users
    WHERE id IN (SELECT user_id FROM winners)
    ORDER BY id
    FOR NO KEY UPDATE
), credited AS (
    UPDATE users u SET balance = u.balance + w.amount
    FROM winners w
    WHERE u.id = w.user_id AND u.status = 'active' AND u.id IN (SELECT id FROM locked)
    RETURNING u.id
), entries AS (
    INSERT INTO payout_entries
        (job_id, user_id, amount, status, attempts, error, created_at, processed_at)
    SELECT j.id, w.user_id, w.amount,
           CASE WHEN w.user_id IN (SELECT id FROM credited) THEN 'completed' ELSE 'failed' END,
           1,
           CASE WHEN w.user_id IN (SELECT id FROM credited) THEN NULL
                WHEN w.user_id IN (SELECT id FROM locked) THEN 'user is frozen'
                ELSE 'user not found' END,
           now(), now()
    FROM winners w
    CROSS JOIN job j
    ORDER BY w.user_id
    RETURNING id, user_id, amount, status
), ledger AS (
    INSERT INTO transactions (user_id, type, amount, challenge_id, payout_entry_id, created_at)
    SELECT e.user_id,
           CASE j.kind WHEN 'payout' THEN 'challenge_payout' ELSE 'challenge_refund' END,
           e.amount, j.challenge_id, e.id, now()
    FROM entries e
    CROSS JOIN job j
    WHERE e.status = 'completed'
    RETURNING id, type
), {PAID_EVENTS_POSTGRES}, paid_slice AS (
    DELETE FROM payout_slices WHERE id IN (SELECT slice_id FROM job)
), tally AS (
    SELECT count(*) FILTER (WHERE status = 'completed') AS paid,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           COALESCE(sum(amount) FILTER (WHERE status = 'completed'), 0) AS coins
    FROM entries
), progress AS (
    UPDATE payout_jobs j
    SET processed_winners = j.processed_winners + t.paid,
        failed_winners = j.failed_winners + t.failed,
        status = CASE WHEN j.processed_winners + t.paid + j.failed_winners + t.failed
                           < j.total_winners THEN 'running'
                      WHEN j.failed_winners + t.failed > 0 THEN 'failed'
                      ELSE 'completed' END,
        completed_at = CASE WHEN j.processed_winners + t.paid = j.total_winners
                             AND j.failed_winners + t.failed = 0 THEN now() END,
        started_at = COALESCE(j.started_at, now())
    FROM tally t
    WHERE j.id IN (SELECT id FROM job)
    RETURNING j.id AS job_id, j.challenge_id, j.kind, j.status, j.total_winners,
              j.processed_winners, j.failed_winners, j.platform_fee, j.started_at,
              j.completed_at, j.error,
              t.paid, t.failed, t.coins
), fee AS (
    INSERT INTO transactions (user_id, type, amount, challenge_id, created_at)
    SELECT NULL, 'platform_fee', platform_fee, challenge_id, now()
    FROM progress
    WHERE status = 'completed' AND kind = 'payout' AND platform_fee > 0
)
SELECT * FROM progress
""")


# --- SQLite: five statements under the one write lock ----------------------------------------
#
# BEGIN IMMEDIATE holds SQLite's only write lock for the whole transaction, so the claimed
# slice, the users' statuses and balances cannot change under it. The amounts come from
# the stakes with the job's cutoff; the job's parameters are bound from the claim.


_WRITE_ENTRIES_SQLITE = sql("""
INSERT INTO payout_entries
    (job_id, user_id, amount, status, attempts, error, created_at, processed_at)
SELECT :job_id, s.user_id,
       s.floor + CASE WHEN s.remainder > :cutoff_remainder
                        OR (s.remainder = :cutoff_remainder AND s.user_id <= :cutoff_user_id)
                      THEN 1 ELSE 0 END,
       CASE WHEN u.status = 'active' THEN 'completed' ELSE 'failed' END,
       1,
       CASE WHEN u.status = 'active' THEN NULL
            WHEN u.id IS NOT NULL THEN 'user is frozen'
            ELSE 'user not found' END,
       :now, :now
FROM (
    SELECT st.user_id,
           CASE WHEN st.amount <= :safe_stake THEN :winner_pool * st.amount / :winning_total
                ELSE payout_floor_share(:winner_pool, st.amount, :winning_total)
           END AS floor,
           CASE WHEN st.amount <= :safe_stake THEN :winner_pool * st.amount % :winning_total
                ELSE payout_remainder(:winner_pool, st.amount, :winning_total)
           END AS remainder
    FROM stakes st
    WHERE st.challenge_id = :challenge_id
      AND st.user_id BETWEEN :first_user_id AND :last_user_id
      AND (:winning_side IS NULL OR st.side = :winning_side)
) AS s
LEFT JOIN users u ON u.id = s.user_id
ORDER BY s.user_id
""")

# The slice's users only have the entries just written: a range belongs to one slice, and
# its entries are written when that slice is paid.
_CREDIT_SQLITE = sql("""
UPDATE users SET balance = users.balance + e.amount
FROM (SELECT user_id, amount FROM payout_entries
      WHERE job_id = :job_id AND user_id BETWEEN :first_user_id AND :last_user_id
        AND status = 'completed') AS e
WHERE users.id = e.user_id
""")

_LEDGER_SQLITE = sql("""
INSERT INTO transactions (user_id, type, amount, challenge_id, payout_entry_id, created_at)
SELECT user_id, :ledger_type, amount, :challenge_id, id, :now
FROM payout_entries
WHERE job_id = :job_id AND user_id BETWEEN :first_user_id AND :last_user_id
  AND status = 'completed'
""")

_COINS_SQLITE = sql("""
SELECT COALESCE(sum(amount), 0) FROM payout_entries
WHERE job_id = :job_id AND user_id BETWEEN :first_user_id AND :last_user_id
  AND status = 'completed'
""")

_DELETE_SLICE = sql("DELETE FROM payout_slices WHERE id = :slice_id")


def _pay_slice_sqlite(conn: Connection, claimed: ClaimedSlice) -> JobBatch:
    params = {
        "job_id": claimed.job_id,
        "challenge_id": claimed.challenge_id,
        "winning_side": claimed.winning_side,
        "winner_pool": claimed.winner_pool,
        "winning_total": claimed.winning_total,
        "safe_stake": safe_stake(claimed.winner_pool),
        "cutoff_remainder": claimed.cutoff_remainder,
        "cutoff_user_id": claimed.cutoff_user_id,
        "first_user_id": claimed.first_user_id,
        "last_user_id": claimed.last_user_id,
        "ledger_type": LEDGER_TYPE[claimed.kind],
        "now": utcnow(),
    }
    written = conn.execute(_WRITE_ENTRIES_SQLITE, params).rowcount
    conn.execute(_CREDIT_SQLITE, params)
    ledger_before = ledger_mark(conn)
    paid = conn.execute(_LEDGER_SQLITE, params).rowcount
    events_from_ledger(conn, ledger_before)
    coins = int(conn.execute(_COINS_SQLITE, params).scalar_one())
    conn.execute(_DELETE_SLICE, {"slice_id": claimed.id})
    return record_progress(conn, claimed.job_id, paid, written - paid, coins)


def safe_stake(winner_pool: int) -> int:
    """The largest stake whose product with winner_pool fits in a signed 64-bit integer."""
    return INT64_MAX // winner_pool if winner_pool else INT64_MAX


# --- Poison slices: a payment that fails on the data -----------------------------------------
#
# A constraint, a trigger or a value out of range would fail the same slice forever. The
# worker splits such a slice in halves, down to one winner, so the others get paid; each
# failure of a one-winner slice counts an attempt, and at max_attempts its entry is written
# failed, with the error, and the slice is gone.

_WINNERS_IN_SLICE = sql("""
SELECT user_id, amount FROM stakes
WHERE challenge_id = :challenge_id AND user_id BETWEEN :first_user_id AND :last_user_id
  AND (CAST(:winning_side AS text) IS NULL OR side = :winning_side)
ORDER BY user_id
""")


def winning_stakes(conn: Connection, claimed: ClaimedSlice) -> list[tuple[int, int]]:
    """(user id, stake) of the slice's winners, by user id."""
    rows = conn.execute(
        _WINNERS_IN_SLICE,
        {
            "challenge_id": claimed.challenge_id,
            "first_user_id": claimed.first_user_id,
            "last_user_id": claimed.last_user_id,
            "winning_side": claimed.winning_side,
        },
    )
    return [(row.user_id, row.amount) for row in rows]


_SPLIT_OFF_UPPER_HALF = sql("""
INSERT INTO payout_slices (job_id, seq, first_user_id, last_user_id, attempts)
SELECT job_id, seq, :middle_user_id + 1, last_user_id, 0 FROM payout_slices WHERE id = :slice_id
""")
_KEEP_LOWER_HALF = sql(
    "UPDATE payout_slices SET last_user_id = :middle_user_id WHERE id = :slice_id"
)


def split_slice(conn: Connection, claimed: ClaimedSlice, middle_user_id: int) -> None:
    """Cut the slice after `middle_user_id` into two, both keeping its place in line."""
    params = {"slice_id": claimed.id, "middle_user_id": middle_user_id}
    conn.execute(_SPLIT_OFF_UPPER_HALF, params)
    conn.execute(_KEEP_LOWER_HALF, params)


_COUNT_ATTEMPT = sql(
    "UPDATE payout_slices SET attempts = attempts + 1, error = :error WHERE id = :slice_id"
    " RETURNING attempts"
)


def count_failed_attempt(conn: Connection, claimed: ClaimedSlice, error: str) -> int:
    """One more failed payment of a one-winner slice; the attempts so far."""
    attempts: int = conn.execute(
        _COUNT_ATTEMPT, {"slice_id": claimed.id, "error": error}
    ).scalar_one()
    return attempts


def fail_winner(
    conn: Connection, claimed: ClaimedSlice, user_id: int, amount: int, attempts: int, error: str
) -> JobBatch:
    """Give up on the slice's one winner: a failed entry with the error, the slice gone."""
    now = utcnow()
    conn.execute(
        insert(payout_entries).values(
            job_id=claimed.job_id,
            user_id=user_id,
            amount=amount,
            status="failed",
            attempts=attempts,
            error=error,
            created_at=now,
            processed_at=now,
        )
    )
    conn.execute(_DELETE_SLICE, {"slice_id": claimed.id})
    return record_progress(conn, claimed.job_id, 0, 1, 0)
