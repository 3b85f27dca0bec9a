"""Worker processes against a real database: wake-ups, and SIGKILL chaos."""

from __future__ import annotations

import json
import random
import signal
import time
from pathlib import Path

from sqlalchemy import func, select, text

from payouts.services import challenges
from payouts.services.demo import create_demo
from payouts.storage.database import Database
from payouts.storage.tables import payout_jobs
from tests.support.books import assert_books_balance
from tests.support.cli import payouts_env, start_payouts, wait_for
from tests.support.scenario import make_users, match_day


def _job_status(db: Database, challenge_id: int) -> str | None:
    with db.read() as conn:
        return conn.execute(
            select(payout_jobs.c.status).where(payout_jobs.c.challenge_id == challenge_id)
        ).scalar_one_or_none()


def _resolved_demo(db: Database, winners: int, losers: int, result: str, seed: int) -> int:
    with db.write() as conn:
        made = create_demo(conn, winners, losers, fee_bps=500, seed=seed)
        challenges.resolve(conn, made.challenge_id, result)
    return made.challenge_id


def _unsettled_jobs(db: Database) -> int:
    with db.read() as conn:
        return int(
            conn.execute(
                select(func.count()).where(payout_jobs.c.status != "completed")
            ).scalar_one()
        )


def _kill_workers_at_random_until_settled(
    db: Database, env: dict[str, str], log: Path, seed: int, pause: tuple[float, float]
) -> int:
    """Run 4 workers, SIGKILL one at random every `pause` seconds and restart it, until
    every job is completed; the number of kills."""
    rng = random.Random(seed)
    workers = [start_payouts(["worker"], env, log) for _ in range(4)]
    kills = 0
    deadline = time.monotonic() + 300
    try:
        while _unsettled_jobs(db):
            assert time.monotonic() < deadline, "jobs did not finish under chaos"
            time.sleep(rng.uniform(*pause))
            victim = rng.randrange(len(workers))
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait()
            kills += 1
            workers[victim] = start_payouts(["worker"], env, log)
    finally:
        for worker in workers:
            worker.kill()
            worker.wait()
    assert kills >= 3, "the jobs finished before the chaos began; make them bigger"
    return kills


def _totals_processed_and_ledger_rows(db: Database) -> list[tuple[int, int, int]]:
    with db.read() as conn:
        assert_books_balance(conn)
        rows = conn.execute(
            text(
                "SELECT j.total_winners, j.processed_winners,"
                " (SELECT count(*) FROM transactions t JOIN payout_entries e"
                "  ON e.id = t.payout_entry_id WHERE e.job_id = j.id) AS ledger_rows"
                " FROM payout_jobs j"
            )
        ).all()
    return [(total, processed, ledger) for total, processed, ledger in rows]


class TestWakeUp:
    def test_an_idle_worker_wakes_for_a_new_job_long_before_its_sweep(
        self, db: Database, database_url: str, tmp_path: Path
    ) -> None:
        # With an hour between sweeps, only the wake-up (NOTIFY on PostgreSQL, a commit
        # seen through PRAGMA data_version on SQLite) can get the second job paid.
        env = payouts_env(database_url, worker_interval_seconds=3600)
        worker = start_payouts(["worker"], env, tmp_path / "worker.log")
        try:
            first = _resolved_demo(db, 20, 5, "challenger_won", seed=1)
            wait_for(lambda: _job_status(db, first) == "completed", 60, "the first job")
            time.sleep(0.5)  # the worker is idle now, waiting on its wake-up
            second = _resolved_demo(db, 20, 5, "challenged_won", seed=2)
            wait_for(lambda: _job_status(db, second) == "completed", 60, "the second job")
        finally:
            worker.terminate()
            worker.wait(30)
        assert worker.returncode == 0, (tmp_path / "worker.log").read_text()[-2000:]


class TestChaos:
    def test_workers_killed_at_random_pay_everyone_exactly_once(
        self, db: Database, database_url: str, tmp_path: Path
    ) -> None:
        sizes = [500, 1000, 2000, 3000, 4000, 5000, 6000, 7500, 9000, 12000]  # 50,000
        results = ["challenger_won"] * 8 + ["draw", "challenged_won"]
        challenge_ids = [
            _resolved_demo(db, size, size // 10, result, seed=n)
            for n, (size, result) in enumerate(zip(sizes, results, strict=True))
        ]
        env = payouts_env(database_url, batch_size=250, worker_interval_seconds=0.5)
        kills = _kill_workers_at_random_until_settled(
            db, env, tmp_path / "workers.log", seed=2024, pause=(0.1, 0.8)
        )
        rows = _totals_processed_and_ledger_rows(db)
        assert len(rows) == len(challenge_ids)
        for total, processed, ledger_rows in rows:
            assert total == processed == ledger_rows
        paid_per_job = {"challenger_won": 1.0, "draw": 1.1, "challenged_won": 0.1}
        expected = sum(round(s * paid_per_job[r]) for s, r in zip(sizes, results, strict=True))
        assert sum(total for total, _, _ in rows) == expected
        print(json.dumps({"kills": kills}))

    def test_workers_killed_while_claiming_many_small_jobs_pay_everyone_exactly_once(
        self, db: Database, database_url: str, tmp_path: Path
    ) -> None:
        # A match day: 2,000 small challenges among 300 players, resolved at once. Batches
        # of 20 winners: each transaction claims and settles up to 10 jobs together.
        players = make_users(db, [10**9] * 300, "fan")
        made = match_day(db, players, random.Random(7), 2_000)
        with db.write() as conn:
            for cid in made:
                challenges.resolve(conn, cid, "challenger_won")
        env = payouts_env(database_url, batch_size=20, worker_interval_seconds=0.5)
        kills = _kill_workers_at_random_until_settled(
            db, env, tmp_path / "workers.log", seed=2025, pause=(0.3, 0.9)
        )
        rows = _totals_processed_and_ledger_rows(db)
        assert len(rows) == 2_000
        assert all(total == processed == ledger for total, processed, ledger in rows)
        print(json.dumps({"kills": kills}))
