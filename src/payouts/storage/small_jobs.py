"""Small jobs, settled many at a time: a job whose winners fit in one batch is planned, paid
and closed in one transaction together with the other small jobs queued beside it.

On a match day most challenges are small and resolve together; paying them one job per
transaction (or several transactions per job) made the cost per job, not per winner, the
limit. Here one transaction claims up to `max_jobs` queued small jobs, up to `batch_size`
winners in all, and settles every one of them:
- each winner's amount comes from the stakes: floor(winner_pool * stake / winning_total),
  plus one coin for the winners ranked first by remainder (remainder desc, user id asc)
  while the job's leftover coins last (a window per job: no separate plan step);
- each user is credited once with the sum of what the claimed jobs owe them (a user who
  won several of them appears once in the UPDATE), if their account is active;
- each entry is written once, already completed (or failed: frozen or missing user), with
  its ledger row and its event (the outbox, docs/events.md); each job's counters, status
  and platform fee are set.

Money arithmetic: the product winner_pool * stake fits in a BIGINT when
stake <= 9223372036854775807 / winner_pool; only larger stakes take the exact path
(NUMERIC on PostgreSQL, the Python-int functions on SQLite), so the common case never
leaves 64-bit integers.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Connection

from payouts.storage.clock import utcnow
from payouts.storage.events import PAID_EVENTS_POSTGRES, events_from_ledger, ledger_mark
from payouts.storage.planning import UnplannedJob
from payouts.storage.progress import JobBatch, explain_failures
from payouts.storage.sql import sql


def max_jobs_per_batch(batch_size: int) -> int:
    """Most small jobs have 2 winners: claiming batch_size // 2 of them fills a batch."""
    return max(1, batch_size // 2)


def settle_small_jobs(conn: Connection, batch_size: int) -> list[JobBatch]:
    """Claim queued small jobs (at most `batch_size` winners in all) and settle them all, in
    the caller's transaction; [] when none is waiting."""
    if conn.dialect.name == "postgresql":
        rows = conn.execute(
            _SETTLE_POSTGRES,
            {"batch_size": batch_size, "max_jobs": max_jobs_per_batch(batch_size)},
        ).all()
        batches = [JobBatch.from_row(row, started_now=True) for row in rows]
    else:
        batches = _settle_sqlite(conn, batch_size)
    return explain_failures(conn, batches)


def claim_small_jobs(conn: Connection, batch_size: int) -> list[UnplannedJob]:
    """The jobs `settle_small_jobs` would take now, locked (to plan them one by one instead,
    when settling them together failed on a poison entry)."""
    rows = conn.execute(
        _CLAIM_POSTGRES if conn.dialect.name == "postgresql" else _CLAIM_SQLITE,
        {"batch_size": batch_size, "max_jobs": max_jobs_per_batch(batch_size)},
    )
    picked, winners = [], 0
    for row in rows:
        winners += row.total_winners
        if winners > batch_size:
            break
        picked.append(UnplannedJob(**row._mapping))
    return picked


# --- PostgreSQL: one statement ------------------------------------------------------------
#
# Safe under concurrency: `claimed` locks the job rows (SKIP LOCKED: workers take disjoint
# sets and never wait for each other); `locked` takes the users' row locks in user id
# order before any balance changes, so two workers crediting overlapping users wait for
# each other instead of deadlocking; the UPDATE re-checks `status = 'active'` on the locked
# row, so a user frozen meanwhile is never credited. Claimed jobs beyond the winner budget
# stay queued (their locks end with the transaction). The UNIQUE constraints on
# payout_entries (job_id, user_id) and transactions (payout_entry_id) refuse a second
# payment whatever happens.
_CLAIM_POSTGRES = sql("""
SELECT id AS job_id, challenge_id, kind, status, winning_side, winner_pool, winning_total,
       total_winners
FROM payout_jobs
WHERE status = 'queued' AND NOT planned AND total_winners <= :batch_size
  AND NOT EXISTS (SELECT 1 FROM processing_pauses p
                  WHERE p.job_id IS NULL OR p.job_id = payout_jobs.id)
ORDER BY triggered_at DESC NULLS LAST, created_at, id
LIMIT :max_jobs
FOR UPDATE SKIP LOCKED
""")

_SETTLE_POSTGRES = sql(f"""
WITH claimed AS (
    SELECT id, challenge_id, kind, winning_side, winner_pool, winning_total, total_winners,
           triggered_at, created_at
    FROM payout_jobs
    WHERE status = 'queued' AND NOT planned AND total_winners <= :batch_size
      AND NOT EXISTS (SELECT 1 FROM processing_pauses p
                      WHERE p.job_id IS NULL OR p.job_id = payout_jobs.id)
    ORDER BY triggered_at DESC NULLS LAST, created_at, id
    LIMIT :max_jobs
    FOR UPDATE SKIP LOCKED
), picked AS (
    SELECT * FROM (
        SELECT claimed.*,
               sum(total_winners) OVER (ORDER BY triggered_at DESC NULLS LAST, created_at, id)
                   AS winners_so_far
        FROM claimed
    ) AS budgeted
    WHERE winners_so_far <= :batch_size
), shares AS (
    SELECT p.id AS job_id, st.user_id,
           CASE WHEN st.amount <= 9223372036854775807 / NULLIF(p.winner_pool, 0)
                THEN p.winner_pool * st.amount / p.winning_total
                ELSE CAST(div(CAST(p.winner_pool AS numeric) * st.amount, p.winning_total)
                          AS bigint)
           END AS floor,
           CASE WHEN st.amount <= 9223372036854775807 / NULLIF(p.winner_pool, 0)
                THEN p.winner_pool * st.amount % p.winning_total
                ELSE CAST(mod(CAST(p.winner_pool AS numeric) * st.amount, p.winning_total)
                          AS bigint)
           END AS remainder
    FROM picked p
    JOIN stakes st ON st.challenge_id = p.challenge_id
    WHERE p.winning_side IS NULL OR st.side = p.winning_side
), winners AS (
    SELECT s.job_id, s.user_id,
           s.floor + CASE WHEN row_number() OVER by_remainder
                               <= p.winner_pool - sum(s.floor) OVER by_job
                          THEN 1 ELSE 0 END AS amount
    FROM shares s
    JOIN picked p ON p.id = s.job_id
    WINDOW by_job AS (PARTITION BY s.job_id),
           by_remainder AS (PARTITION BY s.job_id ORDER BY s.remainder DESC, s.user_id)
), locked AS (
    SELECT id FROM users
    WHERE id IN (SELECT user_id FROM winners)
    ORDER BY id
    FOR NO KEY UPDATE
), credited AS (
    UPDATE users u SET balance = u.balance + owed.total
    FROM (SELECT user_id, sum(amount) AS total FROM winners GROUP BY user_id) AS owed
    WHERE u.id = owed.user_id AND u.status = 'active' AND u.id IN (SELECT id FROM locked)
    RETURNING u.id
), entries AS (
    INSERT INTO payout_entries
        (job_id, user_id, amount, status, attempts, error, created_at, processed_at)
    SELECT w.job_id, w.user_id, w.amount,
           CASE WHEN w.user_id IN (SELECT id FROM credited) THEN 'completed' ELSE 'failed' END,
           1,
           CASE WHEN w.user_id IN (SELECT id FROM credited) THEN NULL
                WHEN w.user_id IN (SELECT id FROM locked) THEN 'user is frozen'
                ELSE 'user not found' END,
           now(), now()
    FROM winners w
    ORDER BY w.job_id, w.user_id
    RETURNING id, job_id, user_id, amount, status
), ledger AS (
    INSERT INTO transactions (user_id, type, amount, challenge_id, payout_entry_id, created_at)
    SELECT e.user_id,
           CASE p.kind WHEN 'payout' THEN 'challenge_payout' ELSE 'challenge_refund' END,
           e.amount, p.challenge_id, e.id, now()
    FROM entries e
    JOIN picked p ON p.id = e.job_id
    WHERE e.status = 'completed'
    RETURNING id, type
), {PAID_EVENTS_POSTGRES}, tally AS (
    SELECT job_id,
           count(*) FILTER (WHERE status = 'completed') AS paid,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           COALESCE(sum(amount) FILTER (WHERE status = 'completed'), 0) AS coins
    FROM entries
    GROUP BY job_id
), settled AS (
    UPDATE payout_jobs j
    SET planned = true,
        processed_winners = COALESCE(t.paid, 0),
        failed_winners = COALESCE(t.failed, 0),
        status = CASE WHEN COALESCE(t.paid, 0) = j.total_winners THEN 'completed'
                      ELSE 'failed' END,
        started_at = COALESCE(j.started_at, now()),
        completed_at = CASE WHEN COALESCE(t.paid, 0) = j.total_winners THEN now() END
    FROM picked p
    LEFT JOIN tally t ON t.job_id = p.id
    WHERE j.id = p.id
    RETURNING j.id AS job_id, j.challenge_id, j.kind, j.status, j.total_winners,
              j.processed_winners, j.failed_winners, j.platform_fee, j.started_at,
              j.completed_at, j.error,
              COALESCE(t.paid, 0) AS paid, COALESCE(t.failed, 0) AS failed,
              COALESCE(t.coins, 0) AS coins
), fees AS (
    INSERT INTO transactions (user_id, type, amount, challenge_id, created_at)
    SELECT NULL, 'platform_fee', platform_fee, challenge_id, now()
    FROM settled
    WHERE status = 'completed' AND kind = 'payout' AND platform_fee > 0
)
SELECT * FROM settled ORDER BY challenge_id
""")


# --- SQLite: seven statements under the one write lock ---------------------------------------
#
# BEGIN IMMEDIATE holds SQLite's only write lock for the whole transaction: the claimed
# jobs, the users' statuses and the balances cannot change under it, so plain statements
# are enough. Each statement is written out for the claimed job ids (`:job_ids`).


_CLAIM_SQLITE = sql("""
SELECT id AS job_id, challenge_id, kind, status, winning_side, winner_pool, winning_total,
       total_winners
FROM payout_jobs
WHERE status = 'queued' AND NOT planned AND total_winners <= :batch_size
  AND NOT EXISTS (SELECT 1 FROM processing_pauses p
                  WHERE p.job_id IS NULL OR p.job_id = payout_jobs.id)
ORDER BY triggered_at DESC NULLS LAST, created_at, id
LIMIT :max_jobs
""")

_WRITE_ENTRIES_SQLITE = sql("""
INSERT INTO payout_entries
    (job_id, user_id, amount, status, attempts, error, created_at, processed_at)
SELECT w.job_id, w.user_id, w.amount,
       CASE WHEN u.status = 'active' THEN 'completed' ELSE 'failed' END,
       1,
       CASE WHEN u.status = 'active' THEN NULL
            WHEN u.id IS NOT NULL THEN 'user is frozen'
            ELSE 'user not found' END,
       :now, :now
FROM (
    SELECT s.job_id, s.user_id,
           s.floor + CASE WHEN row_number() OVER by_remainder
                               <= s.winner_pool - sum(s.floor) OVER by_job
                          THEN 1 ELSE 0 END AS amount
    FROM (
        SELECT j.id AS job_id, j.winner_pool, st.user_id,
               CASE WHEN st.amount <= 9223372036854775807 / j.winner_pool
                    THEN j.winner_pool * st.amount / j.winning_total
                    ELSE payout_floor_share(j.winner_pool, st.amount, j.winning_total)
               END AS floor,
               CASE WHEN st.amount <= 9223372036854775807 / j.winner_pool
                    THEN j.winner_pool * st.amount % j.winning_total
                    ELSE payout_remainder(j.winner_pool, st.amount, j.winning_total)
               END AS remainder
        FROM payout_jobs j
        JOIN stakes st ON st.challenge_id = j.challenge_id
        WHERE j.id IN :job_ids AND (j.winning_side IS NULL OR st.side = j.winning_side)
    ) AS s
    WINDOW by_job AS (PARTITION BY s.job_id),
           by_remainder AS (PARTITION BY s.job_id ORDER BY s.remainder DESC, s.user_id)
) AS w
LEFT JOIN users u ON u.id = w.user_id
ORDER BY w.job_id, w.user_id
""")

# A user who won several of the claimed jobs is credited once, with the sum.
_CREDIT_SQLITE = sql("""
UPDATE users SET balance = users.balance + owed.total
FROM (SELECT user_id, sum(amount) AS total FROM payout_entries
      WHERE job_id IN :job_ids AND status = 'completed'
      GROUP BY user_id) AS owed
WHERE users.id = owed.user_id
""")

_LEDGER_SQLITE = sql("""
INSERT INTO transactions (user_id, type, amount, challenge_id, payout_entry_id, created_at)
SELECT e.user_id,
       CASE j.kind WHEN 'payout' THEN 'challenge_payout' ELSE 'challenge_refund' END,
       e.amount, j.challenge_id, e.id, :now
FROM payout_entries e
JOIN payout_jobs j ON j.id = e.job_id
WHERE e.job_id IN :job_ids AND e.status = 'completed'
RETURNING challenge_id, amount
""")

_CLOSE_JOBS_SQLITE = sql("""
UPDATE payout_jobs
SET planned = 1,
    processed_winners = t.paid,
    failed_winners = t.failed,
    status = CASE WHEN t.paid = payout_jobs.total_winners THEN 'completed' ELSE 'failed' END,
    started_at = COALESCE(payout_jobs.started_at, :now),
    completed_at = CASE WHEN t.paid = payout_jobs.total_winners THEN :now END
FROM (SELECT j.id AS job_id,
             count(e.id) FILTER (WHERE e.status = 'completed') AS paid,
             count(e.id) FILTER (WHERE e.status = 'failed') AS failed
      FROM payout_jobs j
      LEFT JOIN payout_entries e ON e.job_id = j.id
      WHERE j.id IN :job_ids
      GROUP BY j.id) AS t
WHERE payout_jobs.id = t.job_id
RETURNING id AS job_id, challenge_id, kind, status, total_winners, processed_winners,
          failed_winners, started_at, completed_at, error
""")

_FEES_SQLITE = sql("""
INSERT INTO transactions (user_id, type, amount, challenge_id, created_at)
SELECT NULL, 'platform_fee', platform_fee, challenge_id, :now FROM payout_jobs
WHERE id IN :job_ids AND status = 'completed' AND kind = 'payout' AND platform_fee > 0
""")


def _settle_sqlite(conn: Connection, batch_size: int) -> list[JobBatch]:
    job_ids = [job.job_id for job in claim_small_jobs(conn, batch_size)]
    if not job_ids:
        return []
    params = {"job_ids": job_ids, "now": utcnow()}
    conn.execute(_WRITE_ENTRIES_SQLITE, params)
    conn.execute(_CREDIT_SQLITE, params)
    coins: dict[int, int] = defaultdict(int)
    ledger_before = ledger_mark(conn)
    for challenge_id, amount in conn.execute(_LEDGER_SQLITE, params):
        coins[challenge_id] += amount
    events_from_ledger(conn, ledger_before)
    closed = conn.execute(_CLOSE_JOBS_SQLITE, params).all()
    conn.execute(_FEES_SQLITE, params)
    return [
        JobBatch(
            job_id=row.job_id,
            challenge_id=row.challenge_id,
            kind=row.kind,
            paid=row.processed_winners,
            failed=row.failed_winners,
            coins=coins[row.challenge_id],
            status=row.status,
            total_winners=row.total_winners,
            processed_winners=row.processed_winners,
            failed_winners=row.failed_winners,
            started_at=row.started_at,
            completed_at=row.completed_at,
            error=row.error,
            started_now=True,
        )
        for row in sorted(closed, key=lambda row: row.challenge_id)
    ]
