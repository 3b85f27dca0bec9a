"""Planning a big job: the extra-coin cutoff, and its winners cut into payout_slices.

A job with more winners than one batch is planned once, by one worker:
1. count the winning stakes (they must be the job's total_winners: stakes cannot change after
   the resolve, so a difference is corruption and fails the job) and sum their floors;
2. the leftover coins, winner_pool - sum(floors), go one each to the winners ranked first by
   (remainder desc, user id asc): store the last of them (the cutoff), so that any batch
   can decide a winner's extra coin by comparing with it;
3. cut the winners, in user id order, into slices of `batch_size` and queue them.
Small jobs (one batch or less) skip this: they are settled whole (storage/small_jobs.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Connection

from payouts.domain.payout_math import ExtraCoinCutoff
from payouts.storage.events import record_job_transitions
from payouts.storage.progress import failure_message
from payouts.storage.sql import sql


@dataclass(frozen=True, slots=True)
class UnplannedJob:
    job_id: uuid.UUID
    challenge_id: int
    kind: str
    status: str
    winning_side: str | None
    winner_pool: int
    winning_total: int
    total_winners: int


@dataclass(frozen=True, slots=True)
class Plan:
    winners: int  # winning stakes found
    cutoff: ExtraCoinCutoff | None
    slices: list[tuple[int, int]]  # (first user id, last user id), in user id order


# A job left running without a plan was being planned by a worker that stopped: any worker
# takes it over. PostgreSQL: the row lock is held while planning, so one worker plans it.
_UNPLANNED = """
SELECT id AS job_id, challenge_id, kind, status, winning_side, winner_pool, winning_total,
       total_winners
FROM payout_jobs
WHERE NOT planned AND (status = 'running' OR (status = 'queued' AND total_winners > :batch_size))
  AND NOT EXISTS (SELECT 1 FROM processing_pauses p
                  WHERE p.job_id IS NULL OR p.job_id = payout_jobs.id)
ORDER BY triggered_at DESC NULLS LAST, created_at, id
LIMIT 1
"""
_CLAIM_FOR_PLANNING_POSTGRES = sql(_UNPLANNED + "FOR UPDATE SKIP LOCKED")
_NEXT_TO_PLAN_SQLITE = sql(_UNPLANNED)


def next_to_plan(conn: Connection, batch_size: int) -> UnplannedJob | None:
    """The first big job waiting for its plan (locked, on PostgreSQL), if any."""
    query = (
        _CLAIM_FOR_PLANNING_POSTGRES if conn.dialect.name == "postgresql" else _NEXT_TO_PLAN_SQLITE
    )
    row = conn.execute(query, {"batch_size": batch_size}).first()
    return None if row is None else UnplannedJob(**row._mapping)


_LOCK_FOR_PLANNING_POSTGRES = sql(
    "SELECT id FROM payout_jobs WHERE id = :job_id AND NOT planned FOR UPDATE SKIP LOCKED"
)


def lock_for_planning(conn: Connection, job_id: uuid.UUID) -> bool:
    """PostgreSQL: hold the job while planning it; False if planned or another worker has it."""
    return conn.execute(_LOCK_FOR_PLANNING_POSTGRES, {"job_id": job_id}).first() is not None


# --- Reading the plan from the stakes ----------------------------------------------------
#
# Reads only: planning writes nothing until the plan is stored, so on SQLite it runs
# outside the write lock. Floors and remainders are 64-bit integers when
# winner_pool * stake fits in one, exact otherwise (NUMERIC on PostgreSQL, the Python-int
# functions on SQLite).

_FLOORS_POSTGRES = sql("""
SELECT count(*) AS winners,
       COALESCE(sum(
           CASE WHEN st.amount <= CAST(:safe_stake AS bigint)
                THEN CAST(:winner_pool AS bigint) * st.amount / CAST(:winning_total AS bigint)
                ELSE CAST(div(CAST(:winner_pool AS numeric) * st.amount, :winning_total)
                          AS bigint)
           END), 0) AS floors
FROM stakes st
WHERE st.challenge_id = :challenge_id
  AND (CAST(:winning_side AS text) IS NULL OR st.side = :winning_side)
""")

_CUTOFF_POSTGRES = sql("""
SELECT remainder, user_id FROM (
    SELECT st.user_id,
           CASE WHEN st.amount <= CAST(:safe_stake AS bigint)
                THEN CAST(:winner_pool AS bigint) * st.amount % CAST(:winning_total AS bigint)
                ELSE CAST(mod(CAST(:winner_pool AS numeric) * st.amount, :winning_total)
                          AS bigint)
           END AS remainder
    FROM stakes st
    WHERE st.challenge_id = :challenge_id
      AND (CAST(:winning_side AS text) IS NULL OR st.side = :winning_side)
) AS shares
ORDER BY remainder DESC, user_id
LIMIT 1 OFFSET :rank
""")

_FLOORS_SQLITE = sql("""
SELECT count(*) AS winners,
       COALESCE(sum(
           CASE WHEN st.amount <= :safe_stake THEN :winner_pool * st.amount / :winning_total
                ELSE payout_floor_share(:winner_pool, st.amount, :winning_total)
           END), 0) AS floors
FROM stakes st
WHERE st.challenge_id = :challenge_id AND (:winning_side IS NULL OR st.side = :winning_side)
""")

_CUTOFF_SQLITE = sql("""
SELECT remainder, user_id FROM (
    SELECT st.user_id,
           CASE WHEN st.amount <= :safe_stake THEN :winner_pool * st.amount % :winning_total
                ELSE payout_remainder(:winner_pool, st.amount, :winning_total)
           END AS remainder
    FROM stakes st
    WHERE st.challenge_id = :challenge_id AND (:winning_side IS NULL OR st.side = :winning_side)
) AS shares
ORDER BY remainder DESC, user_id
LIMIT 1 OFFSET :rank
""")

# Every batch_size-th winner in user id order starts a slice; a slice ends where the next
# one starts (the users between winners are not winners: nothing is paid for them).
_SLICE_STARTS = sql("""
SELECT user_id FROM (
    SELECT st.user_id, row_number() OVER (ORDER BY st.user_id) AS place
    FROM stakes st
    WHERE st.challenge_id = :challenge_id
      AND (CAST(:winning_side AS text) IS NULL OR st.side = :winning_side)
) AS numbered
WHERE place % :batch_size = 1 % :batch_size
ORDER BY user_id
""")
LAST_USER_ID = 2**31 - 1  # users.id is an INTEGER


def read_plan(conn: Connection, job: UnplannedJob, batch_size: int) -> Plan:
    postgres = conn.dialect.name == "postgresql"
    params = {
        "challenge_id": job.challenge_id,
        "winning_side": job.winning_side,
        "winner_pool": job.winner_pool,
        "winning_total": job.winning_total,
        "safe_stake": INT64_MAX // job.winner_pool if job.winner_pool else INT64_MAX,
    }
    totals = conn.execute(_FLOORS_POSTGRES if postgres else _FLOORS_SQLITE, params).one()
    leftover = job.winner_pool - int(totals.floors)
    cutoff = None
    if leftover > 0 and totals.winners == job.total_winners:
        ranked = conn.execute(
            _CUTOFF_POSTGRES if postgres else _CUTOFF_SQLITE, {**params, "rank": leftover - 1}
        ).one()
        cutoff = ExtraCoinCutoff(int(ranked.remainder), ranked.user_id)
    starts = list(conn.execute(_SLICE_STARTS, {**params, "batch_size": batch_size}).scalars())
    ends = [start - 1 for start in starts[1:]] + [LAST_USER_ID]
    return Plan(totals.winners, cutoff, list(zip(starts, ends, strict=True)))


# --- Storing it -------------------------------------------------------------------------

_STORE_PLAN = sql("""
UPDATE payout_jobs
SET planned = true, cutoff_remainder = :cutoff_remainder, cutoff_user_id = :cutoff_user_id
WHERE id = :job_id AND NOT planned
""")

_FAIL_PLAN = sql("""
UPDATE payout_jobs SET planned = true, status = 'failed', error = :error
WHERE id = :job_id AND NOT planned
""")

# New slices start where the line is now, so the jobs planned meanwhile take turns.
_HEAD_OF_LINE = sql("SELECT COALESCE(min(seq), 0) FROM payout_slices")

_QUEUE_SLICE = sql("""
INSERT INTO payout_slices (job_id, seq, first_user_id, last_user_id, attempts)
VALUES (:job_id, :seq, :first_user_id, :last_user_id, 0)
""")


def store_plan(conn: Connection, job: UnplannedJob, plan: Plan) -> bool:
    """Queue the plan's slices; False if the job was planned meanwhile (SQLite: by another
    worker that read the same plan), which leaves everything as it was."""
    if plan.winners != job.total_winners:
        error = failure_message(plan.winners, 0, job.total_winners)
        failed = conn.execute(_FAIL_PLAN, {"job_id": job.job_id, "error": error}).rowcount == 1
        if failed:
            record_job_transitions(conn, [job.job_id])
        return failed
    cutoff = plan.cutoff
    stored = conn.execute(
        _STORE_PLAN,
        {
            "job_id": job.job_id,
            "cutoff_remainder": cutoff.remainder if cutoff else None,
            "cutoff_user_id": cutoff.user_id if cutoff else None,
        },
    )
    if stored.rowcount != 1:
        return False
    head = conn.execute(_HEAD_OF_LINE).scalar_one()
    conn.execute(
        _QUEUE_SLICE,
        [
            {"job_id": job.job_id, "seq": head + n, "first_user_id": first, "last_user_id": last}
            for n, (first, last) in enumerate(plan.slices)
        ],
    )
    return True


# --- Moving a job's slices to the front ---------------------------------------------------

_PUT_FIRST = sql("""
UPDATE payout_slices
SET seq = seq - (SELECT max(seq) FROM payout_slices WHERE job_id = :job_id)
              + (SELECT min(seq) FROM payout_slices) - 1
WHERE job_id = :job_id
""")


def put_slices_first(conn: Connection, job_id: uuid.UUID) -> None:
    """ "Process now": the job's slices go before every other slice, in their order."""
    conn.execute(_PUT_FIRST, {"job_id": job_id})


INT64_MAX = 2**63 - 1
