"""Pausing a real worker process mid-job: progress stops, stays still, and the job finishes
after `payouts resume` with the books balanced. Both databases."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from payouts.services import challenges
from payouts.services.demo import create_demo
from payouts.storage.clock import as_utc, utcnow
from payouts.storage.database import Database
from payouts.storage.tables import payout_entries, payout_jobs, processing_pauses
from tests.support.books import assert_books_balance
from tests.support.cli import payouts_env, run_payouts, start_payouts, wait_for

WINNERS = 50_000
BATCH = 100
CONCURRENCY = 2
STILL_SECONDS = 3  # how long a paused job is watched for a move


def _progress(db: Database, job_id: object) -> tuple[str, int]:
    with db.read() as conn:
        row = conn.execute(
            select(payout_jobs.c.status, payout_jobs.c.processed_winners).where(
                payout_jobs.c.id == job_id
            )
        ).one()
    return row.status, row.processed_winners


def test_pause_mid_job_stops_progress_and_resume_finishes_it(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    with db.write() as conn:
        made = create_demo(conn, WINNERS, 1_000, fee_bps=500, seed=14)
        job_id = challenges.resolve(conn, made.challenge_id, "challenger_won").job_id
    env = payouts_env(database_url, batch_size=BATCH, worker_interval_seconds=30)
    log = tmp_path / "worker.log"
    worker = start_payouts(["worker", "--concurrency", str(CONCURRENCY)], env, log)
    try:
        wait_for(lambda: _progress(db, job_id)[1] >= WINNERS // 20, 120, "5% paid")
        paused = run_payouts(env, "pause", "--json")
        assert paused.returncode == 0, paused.stderr
        committed_by = utcnow()  # the pause is committed by now
        at_pause = _progress(db, job_id)[1]
        assert at_pause < WINNERS, "the job finished before the pause; make it bigger"
        time.sleep(1)  # the spec: no new batch within one second
        after_a_second = _progress(db, job_id)
        time.sleep(STILL_SECONDS)
        later = _progress(db, job_id)
        with db.read() as conn:
            paused_at = as_utc(conn.execute(select(processing_pauses.c.paused_at)).scalar_one())
            e = payout_entries.c
            paid_after = conn.execute(
                select(func.count()).where(e.job_id == job_id, e.processed_at > paused_at)
            ).scalar_one()
            # processed_at is when the batch's transaction began: none began after the commit
            begun_after_commit = conn.execute(
                select(func.count()).where(e.job_id == job_id, e.processed_at > committed_by)
            ).scalar_one()
            paid_a_second_after = conn.execute(
                select(func.count()).where(
                    e.job_id == job_id, e.processed_at > paused_at + timedelta(seconds=1)
                )
            ).scalar_one()
        # Still: nothing moved between one second after the pause and seconds later.
        assert after_a_second == later
        assert later[0] == "running"
        # At most the batches in flight (one per worker loop) committed after the pause.
        assert later[1] - at_pause <= CONCURRENCY * BATCH
        assert begun_after_commit == 0
        assert paid_a_second_after == 0
        resumed = run_payouts(env, "resume")
        assert resumed.returncode == 0, resumed.stderr
        wait_for(lambda: _progress(db, job_id)[0] == "completed", 180, "the job to complete")
    finally:
        worker.terminate()
        worker.wait(30)
    assert worker.returncode == 0, log.read_text()[-2000:]
    with db.read() as conn:
        assert_books_balance(conn)
    print(
        json.dumps(
            {
                "atPause": at_pause,
                "movedAfterPause": later[1] - at_pause,
                "entriesAfterPauseTimestamp": paid_after,
            }
        )
    )
