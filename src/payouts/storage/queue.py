"""The payout queue is the payout_entries table. This module holds its hot-path SQL.

A job goes through three steps, each in transactions its caller opens:
1. plan: compute the extra-coin cutoff from the winning stakes (a read), then store it;
2. materialise: insert the job's entries from the stakes, a chunk of users at a time;
3. pay: claim a batch of pending entries, credit balances, write the ledger and mark the
   entries, all in one transaction, set-based (no statement per winner).
Entries carry their final amount when inserted, so paying may start before step 2 ends.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Uuid,
    and_,
    bindparam,
    case,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.sql.elements import TextClause

from payouts.clock import utcnow
from payouts.domain.payout_math import ExtraCoinCutoff
from payouts.storage.tables import payout_entries, payout_jobs, transactions

WORK_CHANNEL = "payouts_work"
_TIMESTAMP = payout_jobs.c.created_at.type
LEDGER_TYPE = {"payout": "challenge_payout", "refund": "challenge_refund"}


@dataclass(frozen=True, slots=True)
class QueuedJob:
    """The columns of a queued or running job that the worker needs."""

    id: uuid.UUID
    challenge_id: int
    kind: str
    winning_side: str | None
    winner_pool: int
    winning_total: int
    total_winners: int
    planned: bool
    materialised: bool
    cutoff: ExtraCoinCutoff | None
    materialised_through: int

    @classmethod
    def from_row(cls, row: Row) -> QueuedJob:  # type: ignore[type-arg]
        cutoff = (
            ExtraCoinCutoff(row.cutoff_remainder, row.cutoff_user_id)
            if row.cutoff_remainder is not None
            else None
        )
        return cls(
            id=row.id,
            challenge_id=row.challenge_id,
            kind=row.kind,
            winning_side=row.winning_side,
            winner_pool=row.winner_pool,
            winning_total=row.winning_total,
            total_winners=row.total_winners,
            planned=row.planned,
            materialised=row.materialised,
            cutoff=cutoff,
            materialised_through=row.materialised_through or 0,
        )


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    claimed: int
    paid: int
    failed: int
    paid_amount: int  # coins
    last_entry_id: int
    job_status: str | None  # after the batch; None when nothing was claimed


def announce_work(conn: Connection) -> None:
    """Wake the workers when this transaction commits (PostgreSQL NOTIFY is transactional).
    SQLite workers in other processes notice the commit through PRAGMA data_version."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"NOTIFY {WORK_CHANNEL}"))


def active_jobs(conn: Connection) -> list[QueuedJob]:
    """Jobs with work left: triggered ones first, then oldest first."""
    j = payout_jobs.c
    rows = conn.execute(
        select(payout_jobs)
        .where(j.status.in_(("queued", "running")))
        .order_by(j.triggered_at.desc().nulls_last(), j.created_at)
    )
    return [QueuedJob.from_row(row) for row in rows]


# --- Step 1: plan ---------------------------------------------------------------------


def _share_sql(conn: Connection) -> tuple[str, str]:
    """SQL for floor(winner_pool * amount / winning_total) and its remainder, exactly.
    The product needs more than 64 bits: NUMERIC on PostgreSQL, Python ints on SQLite."""
    if conn.dialect.name == "postgresql":
        product = "(CAST(:winner_pool AS numeric) * s.amount)"
        return f"div({product}, :winning_total)", f"mod({product}, :winning_total)"
    args = ":winner_pool, s.amount, :winning_total"
    return f"payout_floor_share({args})", f"payout_remainder({args})"


def _winning_stakes_filter(job: QueuedJob) -> str:
    side = "" if job.winning_side is None else " AND s.side = :side"
    return f"s.challenge_id = :challenge_id{side}"


def _job_params(job: QueuedJob) -> dict[str, object]:
    return {
        "challenge_id": job.challenge_id,
        "side": job.winning_side,
        "winner_pool": job.winner_pool,
        "winning_total": job.winning_total,
    }


def compute_cutoff(conn: Connection, job: QueuedJob) -> ExtraCoinCutoff | None:
    """Which winners get the coins the floors leave over (a read; refunds have none)."""
    if job.kind == "refund":
        return None
    floor, remainder = _share_sql(conn)
    where = _winning_stakes_filter(job)
    params = _job_params(job)
    floors = conn.execute(
        text(f"SELECT COALESCE(SUM({floor}), 0) FROM stakes s WHERE {where}"), params
    ).scalar_one()
    leftover = job.winner_pool - int(floors)
    if leftover == 0:
        return None
    row = conn.execute(
        text(
            f"SELECT {remainder} AS remainder, s.user_id FROM stakes s WHERE {where}"
            " ORDER BY remainder DESC, s.user_id LIMIT 1 OFFSET :skip"
        ),
        {**params, "skip": leftover - 1},
    ).one()
    return ExtraCoinCutoff(int(row.remainder), row.user_id)


def mark_running(conn: Connection, job_id: uuid.UUID) -> bool:
    """queued -> running, before the (possibly long) plan; True if this call did it."""
    j = payout_jobs.c
    started = conn.execute(
        update(payout_jobs)
        .where(j.id == job_id, j.status == "queued")
        .values(status="running", started_at=func.coalesce(j.started_at, utcnow()))
    )
    return started.rowcount == 1


def store_plan(conn: Connection, job_id: uuid.UUID, cutoff: ExtraCoinCutoff | None) -> None:
    j = payout_jobs.c
    conn.execute(
        update(payout_jobs)
        .where(j.id == job_id, j.planned.is_(False))
        .values(
            planned=True,
            cutoff_remainder=cutoff.remainder if cutoff else None,
            cutoff_user_id=cutoff.user_id if cutoff else None,
        )
    )


# --- Step 2: materialise ----------------------------------------------------------------


def lock_for_planning(conn: Connection, job_id: uuid.UUID) -> QueuedJob | None:
    """The job, locked, if it still needs a plan; None if planned or another worker has it."""
    return _lock_job(conn, job_id, payout_jobs.c.planned.is_(False))


def lock_for_materialising(conn: Connection, job_id: uuid.UUID) -> QueuedJob | None:
    """The job, locked, if it still needs entries; None if done or another worker has it."""
    j = payout_jobs.c
    return _lock_job(conn, job_id, and_(j.planned.is_(True), j.materialised.is_(False)))


def _lock_job(
    conn: Connection, job_id: uuid.UUID, condition: ColumnElement[bool]
) -> QueuedJob | None:
    # An advisory lock, not a row lock: batches paying this job update its row at their
    # commit and must not wait for a planner or materialiser. Try-lock: a worker that
    # finds the job busy moves on to paying. SQLite's single writer needs no lock.
    if conn.dialect.name == "postgresql":
        key = int.from_bytes(job_id.bytes[:8], "big", signed=True)
        if not conn.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key}).scalar():
            return None
    row = conn.execute(select(payout_jobs).where(payout_jobs.c.id == job_id, condition)).first()
    return QueuedJob.from_row(row) if row else None


def materialise_chunk(conn: Connection, job: QueuedJob, chunk: int) -> int:
    """Insert the entries of the next `chunk` users (by user id); return how many."""
    where = _winning_stakes_filter(job) + " AND s.user_id > :after"
    params = {**_job_params(job), "after": job.materialised_through}
    upto = conn.execute(
        text(
            f"SELECT MAX(user_id) FROM (SELECT s.user_id FROM stakes s WHERE {where}"
            " ORDER BY s.user_id LIMIT :chunk) AS next_users"
        ),
        {**params, "chunk": chunk},
    ).scalar_one()
    j = payout_jobs.c
    if upto is None:
        _finish_materialising(conn, job)
        return 0
    amount = "s.amount"
    if job.kind == "payout":
        floor, remainder = _share_sql(conn)
        amount = floor
        if job.cutoff is not None:
            amount += (
                f" + CASE WHEN {remainder} > :cutoff_remainder OR ({remainder} ="
                " :cutoff_remainder AND s.user_id <= :cutoff_user) THEN 1 ELSE 0 END"
            )
            params["cutoff_remainder"] = job.cutoff.remainder
            params["cutoff_user"] = job.cutoff.user_id
    inserted = conn.execute(
        text(
            "INSERT INTO payout_entries (job_id, user_id, amount, status, attempts, created_at)"
            f" SELECT :job_id, s.user_id, {amount}, 'pending', 0, :now FROM stakes s"
            f" WHERE {where} AND s.user_id <= :upto ORDER BY s.user_id"
        ).bindparams(bindparam("job_id", type_=Uuid), bindparam("now", type_=_TIMESTAMP)),
        {**params, "job_id": job.id, "now": utcnow(), "upto": upto},
    ).rowcount
    conn.execute(update(payout_jobs).where(j.id == job.id).values(materialised_through=upto))
    return inserted


def _finish_materialising(conn: Connection, job: QueuedJob) -> None:
    j = payout_jobs.c
    entries = conn.execute(
        select(func.count()).where(payout_entries.c.job_id == job.id)
    ).scalar_one()
    if entries != job.total_winners:
        # Stakes cannot change after resolve, so this is corruption: stop, don't guess.
        conn.execute(
            update(payout_jobs)
            .where(j.id == job.id)
            .values(
                status="failed",
                error=f"found {entries} winning stakes, expected {job.total_winners}",
            )
        )
        return
    conn.execute(update(payout_jobs).where(j.id == job.id).values(materialised=True))
    _record_progress(conn, job, 0, 0)  # the last batch may already have been paid


# --- Step 3: pay --------------------------------------------------------------------------


def pay_batch(conn: Connection, job: QueuedJob, batch_size: int, after_id: int) -> BatchOutcome:
    """Claim up to `batch_size` pending entries with id > after_id and settle them."""
    if conn.dialect.name == "postgresql":
        outcome = _pay_batch_postgres(conn, job, batch_size, after_id)
    else:
        outcome = _pay_batch_sqlite(conn, job, batch_size, after_id)
    if outcome.claimed == 0:
        return outcome
    status = _record_progress(conn, job, outcome.paid, outcome.failed)
    return BatchOutcome(
        outcome.claimed,
        outcome.paid,
        outcome.failed,
        outcome.paid_amount,
        outcome.last_entry_id,
        status,
    )


# BEGIN IMMEDIATE holds SQLite's one write lock, so the pending entries in the claimed id
# range are exactly the claimed ones: no other writer can touch them until commit.
# Prebuilt text: building Core statements for every batch cost more than running them.
def _sqlite_sql(sql: str) -> TextClause:
    types = {"job_id": Uuid(), "now": _TIMESTAMP}
    return text(sql).bindparams(
        *(bindparam(name, type_=kind) for name, kind in types.items() if f":{name}" in sql)
    )


_SQLITE_IN_BATCH = "job_id = :job_id AND status = 'pending' AND id BETWEEN :low AND :high"
_SQLITE_CLAIM = _sqlite_sql("""
SELECT min(id) AS low, max(id) AS high, count(*) AS claimed FROM (
    SELECT id FROM payout_entries
    WHERE job_id = :job_id AND status = 'pending' AND id > :after_id
    ORDER BY id LIMIT :batch_size)
""")
_SQLITE_FAIL_UNPAYABLE = _sqlite_sql(f"""
UPDATE payout_entries
SET status = 'failed', attempts = attempts + 1, processed_at = :now,
    error = CASE WHEN EXISTS (SELECT 1 FROM users u WHERE u.id = payout_entries.user_id)
                 THEN 'user is frozen' ELSE 'user not found' END
WHERE {_SQLITE_IN_BATCH} AND NOT EXISTS
    (SELECT 1 FROM users u WHERE u.id = payout_entries.user_id AND u.status = 'active')
""")
_SQLITE_CREDIT = _sqlite_sql(f"""
UPDATE users SET balance = users.balance + e.amount
FROM (SELECT user_id, amount FROM payout_entries WHERE {_SQLITE_IN_BATCH}) AS e
WHERE users.id = e.user_id
""")
_SQLITE_LEDGER = _sqlite_sql(f"""
INSERT INTO transactions (user_id, type, amount, challenge_id, payout_entry_id, created_at)
SELECT user_id, :ledger_type, amount, :challenge_id, id, :now FROM payout_entries
WHERE {_SQLITE_IN_BATCH}
""")
_SQLITE_MARK = _sqlite_sql(f"""
UPDATE payout_entries SET status = 'completed', processed_at = :now, attempts = attempts + 1
WHERE {_SQLITE_IN_BATCH}
RETURNING amount
""")


def _pay_batch_sqlite(
    conn: Connection, job: QueuedJob, batch_size: int, after_id: int
) -> BatchOutcome:
    params: dict[str, object] = {"job_id": job.id, "after_id": after_id, "batch_size": batch_size}
    claim = conn.execute(_SQLITE_CLAIM, params).one()
    if not claim.claimed:
        return BatchOutcome(0, 0, 0, 0, after_id, None)
    params.update(
        low=claim.low,
        high=claim.high,
        now=utcnow(),
        ledger_type=LEDGER_TYPE[job.kind],
        challenge_id=job.challenge_id,
    )
    failed = conn.execute(_SQLITE_FAIL_UNPAYABLE, params).rowcount
    conn.execute(_SQLITE_CREDIT, params)
    conn.execute(_SQLITE_LEDGER, params)
    amounts = conn.execute(_SQLITE_MARK, params).scalars().all()
    return BatchOutcome(claim.claimed, len(amounts), failed, sum(amounts), claim.high, None)


# One statement, one round trip. SKIP LOCKED lets workers share a job without waiting on
# each other. A user frozen meanwhile is re-checked under its row lock (status = 'active'),
# so a payout never lands on a frozen account. Users are locked in entry order, which is
# user id order within a job; a deadlock across jobs is still possible and is retried.
_PAY_BATCH_POSTGRES = text("""
WITH claimed AS (
    SELECT id, user_id, amount FROM payout_entries
    WHERE job_id = :job_id AND status = 'pending' AND id > :after_id
    ORDER BY id LIMIT :batch_size
    FOR UPDATE SKIP LOCKED
), credited AS (
    UPDATE users u SET balance = u.balance + c.amount
    FROM claimed c
    WHERE u.id = c.user_id AND u.status = 'active'
    RETURNING c.id AS entry_id, c.user_id, c.amount
), ledger AS (
    INSERT INTO transactions (user_id, type, amount, challenge_id, payout_entry_id, created_at)
    SELECT user_id, :ledger_type, amount, :challenge_id, entry_id, now() FROM credited
), marked AS (
    -- IN (SELECT ...) is one hashed lookup; a join to a CTE would be planned row by row.
    UPDATE payout_entries e
    SET status = CASE WHEN e.id IN (SELECT entry_id FROM credited)
                      THEN 'completed' ELSE 'failed' END,
        error = CASE WHEN e.id IN (SELECT entry_id FROM credited) THEN NULL
                     WHEN EXISTS (SELECT 1 FROM users WHERE id = e.user_id)
                     THEN 'user is frozen' ELSE 'user not found' END,
        attempts = e.attempts + 1,
        processed_at = now()
    FROM claimed c
    WHERE e.id = c.id
    RETURNING e.id, e.status, e.amount
)
SELECT count(*) AS claimed,
       count(*) FILTER (WHERE status = 'completed') AS paid,
       COALESCE(sum(amount) FILTER (WHERE status = 'completed'), 0) AS paid_amount,
       max(id) AS last_entry_id
FROM marked
""")


def _pay_batch_postgres(
    conn: Connection, job: QueuedJob, batch_size: int, after_id: int
) -> BatchOutcome:
    row = conn.execute(
        _PAY_BATCH_POSTGRES,
        {
            "job_id": job.id,
            "after_id": after_id,
            "batch_size": batch_size,
            "ledger_type": LEDGER_TYPE[job.kind],
            "challenge_id": job.challenge_id,
        },
    ).one()
    if not row.claimed:
        return BatchOutcome(0, 0, 0, 0, after_id, None)
    return BatchOutcome(
        row.claimed,
        row.paid,
        row.claimed - row.paid,
        int(row.paid_amount),
        row.last_entry_id,
        None,
    )


def _record_progress(conn: Connection, job: QueuedJob, paid: int, failed: int) -> str:
    """Add the batch to the job's counters in the batch's transaction, and close the job
    when every entry is settled. The row lock makes concurrent batches add up exactly."""
    j = payout_jobs.c
    now = utcnow()
    processed = j.processed_winners + paid
    failures = j.failed_winners + failed
    settled = and_(j.materialised.is_(True), processed + failures == j.total_winners)
    row = conn.execute(
        update(payout_jobs)
        .where(j.id == job.id)
        .values(
            processed_winners=processed,
            failed_winners=failures,
            status=case(
                (and_(settled, failures > 0), "failed"),
                (settled, "completed"),
                else_="running",
            ),
            completed_at=case((and_(settled, failures == 0), now), else_=None),
            started_at=func.coalesce(j.started_at, now),
        )
        .returning(j.status, j.failed_winners, j.total_winners, j.platform_fee)
    ).one()
    if row.status == "failed":
        conn.execute(
            update(payout_jobs)
            .where(j.id == job.id)
            .values(
                error=f"{row.failed_winners:,} of {row.total_winners:,} entries failed;"
                " fix them and retry the job"
            )
        )
    elif row.status == "completed" and job.kind == "payout" and row.platform_fee > 0:
        book_platform_fee(conn, job.challenge_id, row.platform_fee, now)
    return str(row.status)


def book_platform_fee(conn: Connection, challenge_id: int, fee: int, now: datetime) -> None:
    """Once per challenge; a unique index on the ledger refuses a second fee row."""
    conn.execute(
        insert(transactions).values(
            user_id=None,
            type="platform_fee",
            amount=fee,
            challenge_id=challenge_id,
            created_at=now,
        )
    )


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
    conn: Connection, job: QueuedJob, entry_id: int, error: str, max_attempts: int
) -> bool:
    """Count a failed attempt to pay the entry; at `max_attempts` the entry is failed (and
    the job's counters say so). True if it was failed now."""
    e = payout_entries.c
    attempts = conn.execute(
        update(payout_entries)
        .where(e.id == entry_id, e.status == "pending")
        .values(attempts=e.attempts + 1, error=error)
        .returning(e.attempts)
    ).scalar_one_or_none()
    if attempts is None or attempts < max_attempts:
        return False
    conn.execute(
        update(payout_entries)
        .where(e.id == entry_id)
        .values(status="failed", processed_at=utcnow())
    )
    _record_progress(conn, job, 0, 1)
    return True
