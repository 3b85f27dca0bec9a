"""The floor: the same work as a payout job in the fewest set-based statements, by hand.

1. Materialise: ONE `INSERT ... SELECT` computes every winner's exact share, gives the
   left-over coins to the largest remainders (a window function), and writes the entries.
2. Pay, a transaction per batch of `batch_size` entries taken by id range: credit the
   balances, insert the ledger rows, mark the entries completed, add to the job's progress
   (one statement on PostgreSQL, four on SQLite, which has no writing CTEs).
3. The last batch completes the job and books the fee.

Left out compared with payouts: the frozen-user check (every bench winner is active), job
flags the worker keeps for crash recovery, and claiming under concurrency (one payer).
The share arithmetic is the same exact arithmetic payouts uses: NUMERIC on PostgreSQL, the
Python-int SQL functions payouts registers on SQLite (64-bit products can overflow).
"""

from __future__ import annotations

import uuid

from sqlalchemy import Connection, TextClause, Uuid, bindparam, text

from bench.jobs import load_job
from payouts.clock import utcnow
from payouts.storage.database import Database
from payouts.storage.queue import QueuedJob, book_platform_fee
from payouts.storage.tables import payout_jobs

_TIMESTAMP = payout_jobs.c.created_at.type


def _typed(sql: str) -> TextClause:
    """Bind :job_id as a UUID and :now as payouts' timestamp type (SQLite stores both as
    text in SQLAlchemy's own formats)."""
    return text(sql).bindparams(bindparam("job_id", type_=Uuid), bindparam("now", type_=_TIMESTAMP))


_SHARES = {
    "postgresql": (
        "div(CAST(:winner_pool AS numeric) * s.amount, :winning_total)",
        "mod(CAST(:winner_pool AS numeric) * s.amount, :winning_total)",
    ),
    "sqlite": (
        "payout_floor_share(:winner_pool, s.amount, :winning_total)",
        "payout_remainder(:winner_pool, s.amount, :winning_total)",
    ),
}


def _materialise_sql(dialect: str) -> TextClause:
    share, remainder = _SHARES[dialect]
    return _typed(f"""
INSERT INTO payout_entries (job_id, user_id, amount, status, attempts, created_at)
SELECT :job_id, user_id,
       share + CASE WHEN place <= :winner_pool - shares_total THEN 1 ELSE 0 END,
       'pending', 0, :now
FROM (
    SELECT user_id, share,
           row_number() OVER (ORDER BY remainder DESC, user_id) AS place,
           sum(share) OVER () AS shares_total
    FROM (
        SELECT s.user_id, {share} AS share, {remainder} AS remainder
        FROM stakes s WHERE s.challenge_id = :challenge_id AND s.side = :side
    ) AS raw
) AS ranked
ORDER BY user_id
""")


_PAY_POSTGRES = _typed("""
WITH batch AS (
    SELECT id, user_id, amount FROM payout_entries
    WHERE job_id = :job_id AND status = 'pending' AND id BETWEEN :low AND :high
), credited AS (
    UPDATE users u SET balance = u.balance + b.amount FROM batch b WHERE u.id = b.user_id
), ledger AS (
    INSERT INTO transactions (user_id, type, amount, challenge_id, payout_entry_id, created_at)
    SELECT user_id, 'challenge_payout', amount, :challenge_id, id, :now FROM batch
), marked AS (
    UPDATE payout_entries e SET status = 'completed', processed_at = :now,
                                attempts = e.attempts + 1
    FROM batch b WHERE e.id = b.id RETURNING 1
), paid AS (SELECT count(*) AS n FROM marked)
UPDATE payout_jobs j
SET processed_winners = j.processed_winners + paid.n,
    status = CASE WHEN j.processed_winners + paid.n = j.total_winners
                  THEN 'completed' ELSE 'running' END,
    completed_at = CASE WHEN j.processed_winners + paid.n = j.total_winners THEN :now END,
    started_at = COALESCE(j.started_at, :now)
FROM paid WHERE j.id = :job_id
RETURNING j.status, j.platform_fee
""")

_ENTRY_RANGE = text(
    "SELECT MIN(id), MAX(id) FROM payout_entries WHERE job_id = :job_id"
).bindparams(bindparam("job_id", type_=Uuid))

_IN_BATCH = "job_id = :job_id AND status = 'pending' AND id BETWEEN :low AND :high"
_CREDIT_SQLITE = text(
    "UPDATE users SET balance = users.balance + e.amount FROM payout_entries e"
    " WHERE users.id = e.user_id AND e.job_id = :job_id AND e.status = 'pending'"
    " AND e.id BETWEEN :low AND :high"
).bindparams(bindparam("job_id", type_=Uuid))
_LEDGER_SQLITE = _typed(
    "INSERT INTO transactions"
    " (user_id, type, amount, challenge_id, payout_entry_id, created_at)"
    " SELECT user_id, 'challenge_payout', amount, :challenge_id, id, :now"
    f" FROM payout_entries WHERE {_IN_BATCH}"
)
_MARK_SQLITE = _typed(
    "UPDATE payout_entries SET status = 'completed', processed_at = :now,"
    f" attempts = attempts + 1 WHERE {_IN_BATCH}"
)
_PROGRESS_SQLITE = _typed("""
UPDATE payout_jobs
SET processed_winners = processed_winners + :paid,
    status = CASE WHEN processed_winners + :paid = total_winners
                  THEN 'completed' ELSE 'running' END,
    completed_at = CASE WHEN processed_winners + :paid = total_winners THEN :now END,
    started_at = COALESCE(started_at, :now)
WHERE id = :job_id
RETURNING status, platform_fee
""")


def pay_at_the_floor(db: Database, job_id: uuid.UUID, batch_size: int) -> None:
    job = load_job(db, job_id)
    if job.kind != "payout" or job.winning_side is None:
        raise ValueError("the floor pays payout jobs only")
    with db.write() as conn:
        conn.execute(
            _materialise_sql(conn.dialect.name),
            {
                "job_id": job.id,
                "now": utcnow(),
                "winner_pool": job.winner_pool,
                "winning_total": job.winning_total,
                "challenge_id": job.challenge_id,
                "side": job.winning_side,
            },
        )
        low, high = conn.execute(_ENTRY_RANGE, {"job_id": job.id}).one()
    for start in range(low, high + 1, batch_size):
        with db.write() as conn:
            _pay_range(conn, job, start, start + batch_size - 1)


def _pay_range(conn: Connection, job: QueuedJob, low: int, high: int) -> None:
    now = utcnow()
    params = {
        "job_id": job.id,
        "low": low,
        "high": high,
        "challenge_id": job.challenge_id,
        "now": now,
    }
    if conn.dialect.name == "postgresql":
        status, fee = conn.execute(_PAY_POSTGRES, params).one()
    else:
        conn.execute(_CREDIT_SQLITE, params)
        conn.execute(_LEDGER_SQLITE, params)
        paid = conn.execute(_MARK_SQLITE, params).rowcount
        status, fee = conn.execute(_PROGRESS_SQLITE, {**params, "paid": paid}).one()
    if status == "completed" and fee:
        book_platform_fee(conn, job.challenge_id, int(fee), now)
