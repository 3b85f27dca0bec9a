"""The floor: the leanest correct set-based SQL known for a payout job, by hand.

1. Plan (one read transaction): the extra-coin cutoff (bench/shares.py): one pass summing
   the floors, and when coins are left over, the R-th winner by remainder desc, user id asc.
2. Pay straight from the stakes, no pending entries first: per batch of `batch_size`
   winners taken by user id from the stakes (keyset: user id > the last batch's), one
   transaction that computes each amount in SQL, credits the balances, inserts the entries
   already `completed` with their ledger rows (transactions.payout_entry_id = the entry's
   id), and adds the batch to the job's counters; the last batch also completes the job
   and books the fee. PostgreSQL: one statement (writing CTEs). SQLite (no writing CTEs):
   insert the entries, then credit and write the ledger from them (the Python share
   functions run once per winner, at most), then the counters.

Left out compared with payouts: the frozen- or missing-user check (every bench winner is
active), locks and claiming (one payer: two floors on one job would be refused by the
entries' UNIQUE (job_id, user_id), not coordinated), the job's queued -> running step
before planning, retries and poison-entry isolation, refunds (payout jobs only), and the
worker's turns between jobs and wake-ups.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Connection, TextClause, Uuid, bindparam, text

from bench.jobs import JobRow, book_fee, load_job, now
from bench.shares import Cutoff, cutoff_params, find_cutoff, share_params, shares_select
from payouts.storage.database import Database
from payouts.storage.tables import payout_jobs

_TIMESTAMP = payout_jobs.c.created_at.type


def _typed(sql: str) -> TextClause:
    """Bind :job_id as a UUID and :now as payouts' timestamp type (SQLite stores both as
    text in SQLAlchemy's own formats)."""
    binds = [bindparam("job_id", type_=Uuid)]
    if ":now" in sql:
        binds.append(bindparam("now", type_=_TIMESTAMP))
    return text(sql).bindparams(*binds)


_PROGRESS = """
UPDATE payout_jobs
SET processed_winners = processed_winners + {n},
    status = CASE WHEN processed_winners + {n} = total_winners THEN 'completed'
                  ELSE 'running' END,
    completed_at = CASE WHEN processed_winners + {n} = total_winners THEN :now END,
    started_at = COALESCE(started_at, :now)
"""


def _postgres_batch(cutoff: Cutoff | None) -> TextClause:
    shares = shares_select("postgresql", cutoff, after_user=True, limit=True)
    return _typed(f"""
WITH batch AS MATERIALIZED ({shares}),
credited AS (
    UPDATE users u SET balance = u.balance + b.amount FROM batch b WHERE u.id = b.user_id
), entries AS (
    INSERT INTO payout_entries
        (job_id, user_id, amount, status, attempts, created_at, processed_at)
    SELECT :job_id, user_id, amount, 'completed', 1, :now, :now FROM batch
    RETURNING id, user_id, amount
), ledger AS (
    INSERT INTO transactions (user_id, type, amount, challenge_id, payout_entry_id, created_at)
    SELECT user_id, 'challenge_payout', amount, :challenge_id, id, :now FROM entries
), counted AS (SELECT count(*) AS n, max(user_id) AS last_user FROM batch)
{_PROGRESS.format(n="counted.n")}
FROM counted WHERE payout_jobs.id = :job_id
RETURNING payout_jobs.status, counted.n, counted.last_user
""")


def _sqlite_entries(cutoff: Cutoff | None) -> TextClause:
    shares = shares_select("sqlite", cutoff, after_user=True, limit=True)
    return _typed(
        "INSERT INTO payout_entries"
        " (job_id, user_id, amount, status, attempts, created_at, processed_at)"
        f" SELECT :job_id, user_id, amount, 'completed', 1, :now, :now FROM ({shares})"
    )


# The job's entries of users after :after are exactly the ones this batch inserted.
_SQLITE_BATCH = "job_id = :job_id AND user_id > :after"
_SQLITE_CREDIT = _typed(
    "UPDATE users SET balance = users.balance + e.amount"
    f" FROM (SELECT user_id, amount FROM payout_entries WHERE {_SQLITE_BATCH}) AS e"
    " WHERE users.id = e.user_id"
)
_SQLITE_LEDGER = _typed(
    "INSERT INTO transactions (user_id, type, amount, challenge_id, payout_entry_id, created_at)"
    f" SELECT user_id, 'challenge_payout', amount, :challenge_id, id, :now FROM payout_entries"
    f" WHERE {_SQLITE_BATCH}"
)
_SQLITE_LAST_USER = _typed("SELECT max(user_id) FROM payout_entries WHERE job_id = :job_id")
_SQLITE_PROGRESS = _typed(_PROGRESS.format(n=":paid") + "WHERE id = :job_id RETURNING status")


def pay_at_the_floor(db: Database, job_id: uuid.UUID, batch_size: int) -> None:
    job = load_job(db, job_id)
    with db.read() as conn:
        cutoff = find_cutoff(conn, job)
    after, paid = 0, 0
    while paid < job.total_winners:
        with db.write() as conn:
            n, after = _pay_batch(conn, job, cutoff, after, batch_size)
        if n == 0:
            raise AssertionError(f"job {job.id}: {paid} winners paid of {job.total_winners}")
        paid += n


def _pay_batch(
    conn: Connection, job: JobRow, cutoff: Cutoff | None, after: int, batch_size: int
) -> tuple[int, int]:
    """Pay the next `batch_size` winners after user `after`; (how many, the last user)."""
    at = now()
    params = {
        **share_params(job),
        **cutoff_params(cutoff),
        "job_id": job.id,
        "after": after,
        "batch_size": batch_size,
        "now": at,
    }
    if conn.dialect.name == "postgresql":
        status, n, last_user = conn.execute(_postgres_batch(cutoff), params).one()
    else:
        n = conn.execute(_sqlite_entries(cutoff), params).rowcount
        if n == 0:
            return 0, after
        conn.execute(_SQLITE_CREDIT, params)
        conn.execute(_SQLITE_LEDGER, params)
        last_user = conn.execute(_SQLITE_LAST_USER, params).scalar_one()
        status = conn.execute(_SQLITE_PROGRESS, {**params, "paid": n}).scalar_one()
    if status == "completed":
        book_fee(conn, job.challenge_id, job.platform_fee, at)
    return int(n), int(last_user or after)
