"""The seed's design as a baseline: every 5 minutes take the next 500 pending entries, then
pay each winner in its own database transaction (read the balance, write it back, insert the
ledger row, mark the entry, bump the job's progress).

Written against payouts' tables and transactions (`Database.write()`: BEGIN IMMEDIATE on
SQLite, READ COMMITTED plus a row lock on PostgreSQL) so only the paying differs. The
5-minute sweep is left out: batches follow each other at once.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from bench.jobs import load_job, materialise_like_payouts
from payouts.clock import utcnow
from payouts.storage.database import Database
from payouts.storage.queue import LEDGER_TYPE, book_platform_fee
from payouts.storage.tables import payout_entries, payout_jobs, transactions, users


@dataclass(frozen=True, slots=True)
class SeedTiming:
    materialise_seconds: float
    paid: int  # winners paid in the sample
    paying_seconds: float  # wall time of the sample, batch reads included

    def job_seconds(self, winners: int) -> float:
        """Materialising plus every winner at the sample's rate."""
        return self.materialise_seconds + winners * self.paying_seconds / self.paid


def pay_like_the_seed(
    db: Database, job_id: uuid.UUID, batch_size: int, sample: int, chunk: int
) -> SeedTiming:
    """Materialise as payouts does, then pay up to `sample` winners the seed's way; the job
    is completed (and its fee booked) only when the sample covers every winner."""
    started = time.perf_counter()
    materialise_like_payouts(db, job_id, chunk)
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
    now = utcnow()
    conn.execute(update(users).where(users.c.id == user_id).values(balance=balance + amount))
    conn.execute(
        insert(transactions).values(
            user_id=user_id,
            type=ledger_type,
            amount=amount,
            challenge_id=challenge_id,
            payout_entry_id=entry_id,
            created_at=now,
        )
    )
    conn.execute(
        update(payout_entries)
        .where(payout_entries.c.id == entry_id)
        .values(status="completed", processed_at=now, attempts=payout_entries.c.attempts + 1)
    )
    j = payout_jobs.c
    conn.execute(
        update(payout_jobs)
        .where(j.id == job_id)
        .values(processed_winners=j.processed_winners + 1, status="running")
    )


def _complete(conn: Connection, job_id: uuid.UUID, challenge_id: int) -> None:
    now = utcnow()
    j = payout_jobs.c
    fee = conn.execute(
        update(payout_jobs)
        .where(j.id == job_id)
        .values(status="completed", completed_at=now)
        .returning(j.platform_fee)
    ).scalar_one()
    if fee:
        book_platform_fee(conn, challenge_id, int(fee), now)
