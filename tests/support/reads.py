"""Reads of balances, entries and ledger rows that tests compare against the pure math."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import Connection, func, select

from payouts.storage.tables import payout_entries, payout_jobs, transactions, users


def balances(conn: Connection, user_ids: Iterable[int]) -> dict[int, int]:
    rows = conn.execute(select(users.c.id, users.c.balance).where(users.c.id.in_(list(user_ids))))
    return {row.id: row.balance for row in rows}


def job_of(conn: Connection, challenge_id: int) -> uuid.UUID:
    job_id: uuid.UUID = conn.execute(
        select(payout_jobs.c.id).where(payout_jobs.c.challenge_id == challenge_id)
    ).scalar_one()
    return job_id


def entries_of(conn: Connection, job_id: uuid.UUID) -> dict[int, tuple[int, str]]:
    """user id -> (amount, status) of every entry of the job."""
    e = payout_entries.c
    rows = conn.execute(select(e.user_id, e.amount, e.status).where(e.job_id == job_id))
    return {row.user_id: (row.amount, row.status) for row in rows}


def entry_count(conn: Connection, job_id: uuid.UUID, status: str) -> int:
    e = payout_entries.c
    return int(
        conn.execute(
            select(func.count()).where(e.job_id == job_id, e.status == status)
        ).scalar_one()
    )


def ledger_credits(conn: Connection, challenge_id: int, kind: str) -> dict[int, int]:
    """user id -> coins credited by the challenge's payout or refund rows."""
    t = transactions.c
    rows = conn.execute(
        select(t.user_id, func.sum(t.amount).label("coins"))
        .where(t.challenge_id == challenge_id, t.type == kind)
        .group_by(t.user_id)
    )
    return {row.user_id: int(row.coins) for row in rows}


def fee_rows(conn: Connection, challenge_id: int) -> list[int]:
    t = transactions.c
    return [
        int(amount)
        for amount in conn.execute(
            select(t.amount).where(t.challenge_id == challenge_id, t.type == "platform_fee")
        ).scalars()
    ]
