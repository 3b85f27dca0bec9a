"""A payout job as the baselines read it, from the job's stable columns only, and the two
ledger writes every baseline makes the same way payouts does."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, insert, select

from payouts.storage.database import Database
from payouts.storage.tables import payout_jobs, transactions

LEDGER_TYPE = {"payout": "challenge_payout", "refund": "challenge_refund"}


@dataclass(frozen=True, slots=True)
class JobRow:
    id: uuid.UUID
    challenge_id: int
    kind: str
    status: str
    winning_side: str | None
    total_pool: int
    platform_fee: int
    winner_pool: int
    winning_total: int
    total_winners: int


def load_job(db: Database, job_id: uuid.UUID) -> JobRow:
    j = payout_jobs.c
    with db.read() as conn:
        row = conn.execute(
            select(
                j.id, j.challenge_id, j.kind, j.status, j.winning_side, j.total_pool,
                j.platform_fee, j.winner_pool, j.winning_total, j.total_winners,
            ).where(j.id == job_id)
        ).one()  # fmt: skip
    return JobRow(**row._asdict())


def now() -> datetime:
    return datetime.now(UTC)


def book_fee(conn: Connection, challenge_id: int, fee: int, at: datetime) -> None:
    """The platform's fee: one ledger row on the platform's account (user_id NULL)."""
    if fee:
        conn.execute(
            insert(transactions).values(
                user_id=None, type="platform_fee", amount=fee, challenge_id=challenge_id,
                created_at=at,
            )
        )  # fmt: skip
