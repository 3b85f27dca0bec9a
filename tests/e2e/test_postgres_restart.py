"""A REAL PostgreSQL restart while a worker process pays a big job: the worker reconnects
and finishes it, nobody is paid twice, nothing is marked failed, the books balance.

This restarts the machine's shared PostgreSQL server, so other sessions (other test runs
on this machine) see connection errors for a few seconds. It is the only test that does;
it is marked `pg_restart`, and holds a lock file so two runs never restart it at once.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from payouts.services import challenges
from payouts.services.demo import create_demo
from tests.support.books import assert_books_balance

WINNERS = 60_000
LOSERS = 1_000
RESTART_LOCK = Path("/tmp/payouts-pg-restart.lock")

pytestmark = [
    pytest.mark.pg_restart,
    pytest.mark.timeout(600),
    pytest.mark.parametrize("backend", ["postgres"]),
]


def _cluster_version() -> str:
    versions = sorted(os.listdir("/etc/postgresql"))
    assert versions, "no PostgreSQL cluster under /etc/postgresql"
    return versions[-1]


def restart_postgres() -> None:
    """Restart the cluster and wait until it accepts connections again."""
    with RESTART_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run(
            [
                "pg_ctlcluster",
                "--skip-systemctl-redirect",
                _cluster_version(),
                "main",
                "restart",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        deadline = time.monotonic() + 120
        while subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"]).returncode != 0:
            assert time.monotonic() < deadline, "PostgreSQL did not come back within 120 s"
            time.sleep(0.2)


def _job(db, job_id):
    with db.read() as conn:
        return conn.execute(
            text(
                "SELECT status, total_winners, processed_winners, failed_winners"
                " FROM payout_jobs WHERE id = :j"
            ),
            {"j": job_id},
        ).one()


def _wait_for(db, job_id, done, what, seconds):
    deadline = time.monotonic() + seconds
    while True:
        try:
            job = _job(db, job_id)
            if done(job):
                return job
        except Exception:  # the server is restarting under us too
            pass
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_worker_survives_a_postgres_restart_mid_job(db, settings, tmp_path):
    with db.write() as conn:
        made = create_demo(conn, WINNERS, LOSERS, 500, seed=6)
    with db.write() as conn:
        job_id = challenges.resolve(conn, made.challenge_id, "challenger_won").job_id
    log_path = tmp_path / "worker.log"
    env = {
        **os.environ,
        "PAYOUTS_DATABASE_URL": settings.database_url,
        "PAYOUTS_BATCH_SIZE": "10",
        "PAYOUTS_WORKER_INTERVAL_SECONDS": "0.5",
        "PAYOUTS_MATERIALISE_CHUNK": "5000",
    }
    with log_path.open("w") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "payouts", "worker", "--concurrency", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        before = _wait_for(db, job_id, lambda j: j.processed_winners > 0, "first payouts", 120)
        assert before.processed_winners < WINNERS
        restart_postgres()
        back_at = datetime.now(UTC)
        assert worker.poll() is None, "the worker died with the database"
        job = _wait_for(db, job_id, lambda j: j.status != "running" and j.status != "queued",
                        "the job to finish", 420)  # fmt: skip
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)

    assert (job.status, job.processed_winners, job.failed_winners) == ("completed", WINNERS, 0)
    with db.read() as conn:
        paid_after_restart = conn.execute(
            text("SELECT count(*) FROM payout_entries WHERE job_id = :j AND processed_at > :t"),
            {"j": job_id, "t": back_at},
        ).scalar_one()
        ledger_rows = conn.execute(
            text("SELECT count(*) FROM transactions WHERE type = 'challenge_payout'")
        ).scalar_one()
        assert_books_balance(conn)
    assert paid_after_restart > 0, "the job finished before the restart; make it bigger"
    assert ledger_rows == WINNERS
    worker_log = log_path.read_text()
    assert "round failed; retrying" in worker_log or "connection" in worker_log.lower(), worker_log[
        -3000:
    ]
    assert worker.returncode == 0
