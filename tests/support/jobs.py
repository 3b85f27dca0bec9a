"""Payout jobs in each state an operator meets: queued, completed, failed."""

from __future__ import annotations

import uuid

from payouts.config import Settings
from payouts.services import challenges, users
from payouts.storage.database import Database
from tests.support.scenario import staked_challenge, worker


def queued_job(db: Database, winners: int = 10, losers: int = 5) -> uuid.UUID:
    cid, _, _ = staked_challenge(db, [100] * winners, [50] * losers)
    with db.write() as conn:
        job_id = challenges.resolve(conn, cid, "challenger_won").job_id
    assert job_id is not None
    return job_id


def completed_job(db: Database, settings: Settings, winners: int = 10) -> uuid.UUID:
    job_id = queued_job(db, winners)
    worker(db, settings).run_until_idle()
    return job_id


def failed_job(db: Database, settings: Settings, winners: int = 10) -> tuple[uuid.UUID, int]:
    """A job whose first winner was frozen before the payout; returns (job, that user)."""
    cid, stakes, _ = staked_challenge(db, [100] * winners, [50] * 5)
    frozen = min(stakes)
    with db.write() as conn:
        users.set_user_status(conn, frozen, "frozen")
        job_id = challenges.resolve(conn, cid, "challenger_won").job_id
    assert job_id is not None
    worker(db, settings).run_until_idle()
    return job_id, frozen
