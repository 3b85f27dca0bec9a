"""The seed's design as a baseline: at resolve time, one pending entry per winner with its
final amount; then every 5 minutes take the next 500 pending entries and pay each winner in
its own database transaction (read the balance, write it back, insert the ledger row, mark
the entry, bump the job's progress).

Self-contained SQL against payouts' tables (nothing of payouts' engine): the entries are
made by one INSERT ... SELECT from the stakes after the plan (bench/shares.py, the same
shares the floor pays), and the transactions are payouts' `Database.write()` (BEGIN
IMMEDIATE on SQLite, READ COMMITTED plus a row lock on PostgreSQL) so only the paying
differs. The 5-minute sweep is left out: batches follow each other at once.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, Uuid, bindparam, insert, select, text, update

from bench.jobs import LEDGER_TYPE, book_fee, load_job, now
from bench.shares import cutoff_params, find_cutoff, share_params, shares_select
from payouts.storage.database import Database
from payouts.storage.tables import payout_entries, payout_jobs, transactions, users


@dataclass(frozen=True, slots=True)
class SeedTiming:
    materialise_seconds: float
    paid: int  # winners paid in the sample
    paying_seconds: float  # wall time of the sample, batch reads included

    def job_seconds(self, winners: int) -> float:
        """Materialising plus every winner at the sample's rate."""
        return self.materialise_seconds + winners * self.paying_seconds / self.paid


def materialise_pending(db: Database, job_id: uuid.UUID) -> None:
    """The seed's resolve-time step: every winner's pending entry, with its amount."""
    job = load_job(db, job_id)
    with db.read() as conn:
        cutoff = find_cutoff(conn, job)
    with db.write() as conn:
        shares = shares_select(conn.dialect.name, cutoff, after_user=False, limit=False)
        conn.execute(
            text(
                "INSERT INTO payout_entries (job_id, user_id, amount, status, attempts, created_at)"
                f" SELECT :job_id, user_id, amount, 'pending', 0, :now FROM ({shares}) AS shares"
            ).bindparams(
                bindparam("job_id", type_=Uuid),
                bindparam("now", type_=payout_jobs.c.created_at.type),
            ),
            {**share_params(job), **cutoff_params(cutoff), "job_id": job.id, "now": now()},
        )


def pay_like_the_seed(db: Database, job_id: uuid.UUID, batch_size: int, sample: int) -> SeedTiming:
    """Materialise, then pay up to `sample` winners the seed's way; the job is completed
    (and its fee booked) only when the sample covers every winner."""
    started = time.perf_counter()
    materialise_pending(db, job_id)
    materialised = time.perf_counter()
    job = load_job(db, job_id)
    ledger_type = LEDGER_TYPE[job.kind]
    e = payout_entries.c
    paid = 0
    while paid < sample:
        with db.read() as conn:
            batch = conn.execute(
                select(e.id, e.user_id, e.amount)
                .where(e.job_id == job_id, e.status == "pending")
                .order_by(e.id)
                .limit(min(batch_size, sample - paid))
            ).all()
        if not batch:
            break
        for entry_id, user_id, amount in batch:
            with db.write() as conn:
                _pay_one(conn, job_id, job.challenge_id, ledger_type, (entry_id, user_id, amount))
            paid += 1
    paying = time.perf_counter() - materialised
    if paid == job.total_winners:
        with db.write() as conn:
            _complete(conn, job_id, job.challenge_id)
    return SeedTiming(materialised - started, paid, paying)


def _pay_one(
    conn: Connection,
    job_id: uuid.UUID,
    challenge_id: int,
    ledger_type: str,
    entry: tuple[int, int, int],
) -> None:
    entry_id, user_id, amount = entry
    balance = conn.execute(
        select(users.c.balance).where(users.c.id == user_id).with_for_update()
    ).scalar_one()
    at = now()
    conn.execute(update(users).where(users.c.id == user_id).values(balance=balance + amount))
    conn.execute(
        insert(transactions).values(
            user_id=user_id,
            type=ledger_type,
            amount=amount,
            challenge_id=challenge_id,
            payout_entry_id=entry_id,
            created_at=at,
        )
    )
    conn.execute(
        update(payout_entries)
        .where(payout_entries.c.id == entry_id)
        .values(status="completed", processed_at=at, attempts=payout_entries.c.attempts + 1)
    )
    j = payout_jobs.c
    conn.execute(
        update(payout_jobs)
        .where(j.id == job_id)
        .values(processed_winners=j.processed_winners + 1, status="running")
    )


def _complete(conn: Connection, job_id: uuid.UUID, challenge_id: int) -> None:
    at = now()
    j = payout_jobs.c
    fee = conn.execute(
        update(payout_jobs)
        .where(j.id == job_id)
        .values(status="completed", completed_at=at)
        .returning(j.platform_fee)
    ).scalar_one()
    book_fee(conn, challenge_id, int(fee), at)
