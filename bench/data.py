"""The data every measurement starts from, and the few reads and writes around a job."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Uuid, bindparam, text

from bench.backends import Backend
from bench.restarts import surviving_restarts
from payouts.services import challenges
from payouts.services.demo import create_demo
from payouts.storage.database import Database

_JOB_ID = bindparam("j", type_=Uuid)
FEE_BPS = 500
DEMO_SEED = 1


@contextmanager
def opened(url: str, pool_size: int = 4) -> Iterator[Database]:
    db = Database(url, pool_size=pool_size)
    try:
        yield db
    finally:
        db.dispose()


def make_demo(db: Database, winners: int, losers: int) -> int:
    """An open challenge staked by `winners` + `losers` new players; its id."""
    with db.write() as conn:
        return create_demo(conn, winners, losers, FEE_BPS, DEMO_SEED).challenge_id


def analyze(db: Database) -> None:
    """Planner statistics, as a live database has them (autovacuum, or SQLite's ANALYZE).
    Without them PostgreSQL plans payouts' batch statement with nested loops."""
    with db.write() as conn:
        conn.execute(text("ANALYZE"))


def clone_challenge(db: Database, challenge_id: int) -> int:
    """Another open challenge with the same players and stakes (the ledger does not carry
    the clone's stake debits: only resolve latency is measured on clones)."""
    with db.write() as conn:
        new_id = conn.execute(
            text(
                "INSERT INTO challenges (title, status, platform_fee_bps, challenger_stake_total,"
                " challenged_stake_total, challenger_count, challenged_count, created_at)"
                " SELECT 'clone of ' || title, 'open', platform_fee_bps, challenger_stake_total,"
                " challenged_stake_total, challenger_count, challenged_count, created_at"
                " FROM challenges WHERE id = :cid RETURNING id"
            ),
            {"cid": challenge_id},
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO stakes (challenge_id, user_id, side, amount, created_at)"
                " SELECT :new_id, user_id, side, amount, created_at FROM stakes"
                " WHERE challenge_id = :cid"
            ),
            {"new_id": new_id, "cid": challenge_id},
        )
    return int(new_id)


@dataclass(frozen=True, slots=True)
class Resolved:
    job_id: uuid.UUID
    started: float  # perf_counter() just before the resolve transaction began
    seconds: float  # the resolve transaction, commit included


def resolve(db: Database, challenge_id: int) -> Resolved:
    """Resolve as the API does (one write transaction) and return the payout job."""
    started = time.perf_counter()
    with db.write() as conn:
        resolution = challenges.resolve(conn, challenge_id, "challenger_won")
    if resolution.job_id is None or resolution.job_kind != "payout":
        raise RuntimeError(f"challenge {challenge_id} made no payout job")
    return Resolved(resolution.job_id, started, time.perf_counter() - started)


def job_state(db: Database, job_id: uuid.UUID) -> tuple[str, int, int]:
    """(status, processed_winners, total_winners)."""
    with db.read() as conn:
        row = conn.execute(
            text(
                "SELECT status, processed_winners, total_winners FROM payout_jobs WHERE id = :j"
            ).bindparams(_JOB_ID),
            {"j": job_id},
        ).one()
    return str(row.status), int(row.processed_winners), int(row.total_winners)


def check_paid(db: Database, job_id: uuid.UUID) -> None:
    """A cheap proof that a method did the whole job: completed, every winner paid once,
    the paid coins add up to the winner pool, and the fee booked."""
    with db.read() as conn:
        row = conn.execute(
            text(
                "SELECT j.status, j.processed_winners, j.total_winners, j.winner_pool,"
                " j.platform_fee, j.challenge_id,"
                " (SELECT COUNT(*) FROM transactions t JOIN payout_entries e"
                "   ON e.id = t.payout_entry_id WHERE e.job_id = j.id) AS ledger_rows,"
                " (SELECT COALESCE(SUM(t.amount), 0) FROM transactions t JOIN payout_entries e"
                "   ON e.id = t.payout_entry_id WHERE e.job_id = j.id) AS paid,"
                " (SELECT COALESCE(SUM(amount), 0) FROM transactions"
                "   WHERE challenge_id = j.challenge_id AND type = 'platform_fee') AS fee"
                " FROM payout_jobs j WHERE j.id = :j"
            ).bindparams(_JOB_ID),
            {"j": job_id},
        ).one()
    problems = []
    if row.status != "completed":
        problems.append(f"status {row.status}")
    if not row.processed_winners == row.ledger_rows == row.total_winners:
        problems.append(
            f"{row.processed_winners} processed, {row.ledger_rows} ledger rows,"
            f" {row.total_winners} winners"
        )
    if int(row.paid) != row.winner_pool:
        problems.append(f"paid {row.paid} coins of a {row.winner_pool} winner pool")
    if int(row.fee) != row.platform_fee:
        problems.append(f"fee booked {row.fee}, expected {row.platform_fee}")
    if problems:
        raise AssertionError(f"job {job_id} not paid right: {'; '.join(problems)}")


class DataSets:
    """One database per demo size, built on first use and kept for the backend's run, so
    every section that pays N winners copies the same rows."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._built: dict[int, tuple[str, int]] = {}

    def demo(self, winners: int) -> tuple[str, int]:
        """(URL of a database holding one open demo challenge, its id); copy, don't use."""
        if winners not in self._built:
            self._built[winners] = surviving_restarts(
                self.backend, f"building {winners} winners", lambda: self._build(winners)
            )
        return self._built[winners]

    def _build(self, winners: int) -> tuple[str, int]:
        url = self.backend.create()
        with opened(url) as db:
            challenge_id = make_demo(db, winners, max(1, winners // 10))
            analyze(db)
        return url, challenge_id

    def close(self) -> None:
        for url, _ in self._built.values():
            self.backend.drop(url)
        self._built.clear()
