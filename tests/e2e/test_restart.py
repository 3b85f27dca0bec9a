"""kill -9 of a real server mid-job, then a restart: nothing lost, nobody paid twice."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select, text

from payouts.domain.payout_math import allocate, split_pool
from payouts.storage.database import Database
from payouts.storage.tables import payout_jobs, stakes
from tests.support.books import assert_books_balance
from tests.support.cli import demo, payouts_env
from tests.support.reads import entry_count, fee_rows, job_of, ledger_credits
from tests.support.server import ServerProcess

WINNERS, LOSERS = 30_000, 1_000
FINISH_DEADLINE_SECONDS = 600.0
ATTEMPTS = 3  # a fresh demo challenge if a job finished before it could be caught part-way
KILL_FROM = WINNERS // 4  # far enough in that resuming has real progress to keep


def status_of(client: httpx.Client, job_id: str) -> dict[str, Any]:
    response = client.get(f"/api/admin/payout-jobs/{job_id}/status")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def resolve_and_catch_part_way(
    client: httpx.Client, challenge_id: int, seen: list[int]
) -> tuple[str, bool]:
    """Resolve, then poll until the job is part-way, at least KILL_FROM winners paid (True),
    or finished first (False)."""
    response = client.post(
        f"/api/admin/challenges/{challenge_id}/result", json={"result": "challenger_won"}
    )
    assert response.status_code == 200, response.text
    job_id = response.json()["payoutJobId"]
    deadline = time.monotonic() + FINISH_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        status = status_of(client, job_id)
        seen.append(int(status["processedWinners"]))
        if status["status"] == "completed":
            return job_id, False
        if KILL_FROM <= seen[-1] < WINNERS:
            return job_id, True
        time.sleep(0.01)
    raise AssertionError("the job made no progress before the deadline")


class TestRestartMidJob:
    def test_sigkill_mid_job_then_restart_pays_everyone_exactly_once(
        self, database_url: str, tmp_path: Path
    ) -> None:
        env = payouts_env(database_url, batch_size=200)
        server = ServerProcess(env, tmp_path / "serve.log", cwd=tmp_path)
        seen: list[int] = []
        try:
            server.start()
            for _ in range(ATTEMPTS):
                challenge_id = demo(env, WINNERS, LOSERS, cwd=tmp_path)["challengeId"]
                with server.client() as client:
                    job_id, part_way = resolve_and_catch_part_way(client, challenge_id, seen)
                if part_way:
                    break
                seen.clear()
            assert part_way, f"every job finished before a poll saw it part-way:\n{server.log()}"
            server.kill()

            db = Database(database_url)
            try:
                with db.read() as conn:
                    processed = conn.execute(
                        select(payout_jobs.c.processed_winners).where(
                            payout_jobs.c.id == uuid.UUID(job_id)
                        )
                    ).scalar_one()
                    assert processed == entry_count(conn, uuid.UUID(job_id), "completed")
                    assert seen[-1] <= processed < WINNERS
                    assert_books_balance(conn)
            finally:
                db.dispose()

            server.start()
            with server.client() as client:
                deadline = time.monotonic() + FINISH_DEADLINE_SECONDS
                while True:
                    status = status_of(client, job_id)
                    seen.append(int(status["processedWinners"]))
                    if status["status"] not in ("queued", "running"):
                        break
                    assert time.monotonic() < deadline, f"not finished:\n{server.log()}"
                    time.sleep(0.2)
            assert status["status"] == "completed", status
            assert status["progressPercent"] == 100
        finally:
            server.kill()

        assert seen == sorted(seen), "processedWinners went backwards across the polls"
        assert seen[-1] == WINNERS
        check_books(database_url, challenge_id)


def check_books(database_url: str, challenge_id: int) -> None:
    db = Database(database_url)
    try:
        with db.read() as conn:
            assert_books_balance(conn)
            job_id = job_of(conn, challenge_id)
            entries_without_one_row = conn.execute(
                text(
                    "SELECT count(*) FROM payout_entries e WHERE e.job_id = :job AND"
                    " (SELECT count(*) FROM transactions t WHERE t.payout_entry_id = e.id) <> 1"
                ),
                {"job": job_id.hex if db.is_sqlite else job_id},
            ).scalar_one()
            assert entries_without_one_row == 0
            assert entry_count(conn, job_id, "completed") == WINNERS
            rows = conn.execute(
                select(stakes.c.user_id, stakes.c.side, stakes.c.amount).where(
                    stakes.c.challenge_id == challenge_id
                )
            ).all()
            split = split_pool(sum(r.amount for r in rows), 500)
            winners = {r.user_id: r.amount for r in rows if r.side == "challenger"}
            assert ledger_credits(conn, challenge_id, "challenge_payout") == allocate(
                split.winner_pool, winners
            )
            assert fee_rows(conn, challenge_id) == [split.platform_fee]
    finally:
        db.dispose()
