"""`payouts backup` while a real worker process pays a 200,000-winner job, `payouts restore`
into a new file, `payouts verify` on it, and a worker on the restored copy that finishes
the job with everyone paid exactly once. Restore refuses a database a service holds, and a
backup that is not sound; PostgreSQL is pointed at pg_dump."""

from __future__ import annotations

import shutil
import signal
import uuid
from pathlib import Path

import pytest
from bench.data import check_paid
from sqlalchemy import text

from payouts.storage.database import Database
from tests.support.books import assert_books_balance
from tests.support.cli import demo, payouts_env, run_payouts, start_payouts, wait_for

WINNERS, LOSERS = 200_000, 1_000
BACKUP_FROM = 10_000  # winners paid before the backup: the job is well under way
BATCH = 20  # small batches: the job takes long enough to be caught part-way


def _job(url: str) -> tuple[uuid.UUID, str, int]:
    db = Database(url, pool_size=1)
    try:
        with db.read() as conn:
            row = conn.execute(text("SELECT id, status, processed_winners FROM payout_jobs")).one()
    finally:
        db.dispose()
    return uuid.UUID(str(row.id)), str(row.status), int(row.processed_winners)


def _books(url: str) -> None:
    db = Database(url, pool_size=1)
    try:
        with db.read() as conn:
            assert_books_balance(conn)
    finally:
        db.dispose()


@pytest.fixture
def live_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "live.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def test_backup_while_paying_restores_and_finishes_exactly_once(live_url, tmp_path):
    env = payouts_env(live_url, batch_size=BATCH)
    challenge_id = demo(env, WINNERS, LOSERS, cwd=tmp_path)["challengeId"]
    (tmp_path / "results.csv").write_text(f"challengeId,result\n{challenge_id},challenger_won\n")
    resolved = run_payouts(env, "resolve", "--file", str(tmp_path / "results.csv"))
    assert resolved.returncode == 0, resolved.stderr
    worker = start_payouts(["worker"], env, tmp_path / "worker.log")
    try:
        wait_for(lambda: _job(live_url)[2] >= BACKUP_FROM, 600, "the worker to pay")
        backup = tmp_path / "backup.db"
        made = run_payouts(env, "backup", str(backup))
        assert made.returncode == 0, made.stderr
        assert "the copy is sound" in made.stdout
        # The worker held its lock and kept paying through the backup.
        refused = run_payouts(env, "restore", str(backup), "--replace")
        assert refused.returncode == 1
        assert "a running payouts service (serve or worker) holds" in refused.stderr
        after_backup = _job(live_url)[2]
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=120)
    assert not (tmp_path / "backup.db.partial").exists()

    restored_url = f"sqlite:///{tmp_path / 'restored.db'}"
    restored_env = payouts_env(restored_url, batch_size=500)
    restored = run_payouts(restored_env, "restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    verified = run_payouts(restored_env, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    job_id, status, paid = _job(restored_url)
    assert status == "running" and BACKUP_FROM <= paid < WINNERS  # part-way, honestly
    assert f"{paid:,} of {WINNERS:,} winners paid" in restored.stdout
    assert paid <= after_backup  # the copy is a moment of the live database, not later
    _books(restored_url)

    finished = run_payouts(restored_env, "worker", "--once", timeout=900)
    assert finished.returncode == 0, finished.stderr
    db = Database(restored_url, pool_size=1)
    try:
        check_paid(db, job_id)  # completed; every winner paid once; pool and fee add up
        with db.read() as conn:
            assert_books_balance(conn)
            paid_users = conn.execute(
                text(
                    "SELECT count(DISTINCT user_id), count(*) FROM payout_entries"
                    " WHERE job_id = :j AND status = 'completed'"
                ),
                {"j": job_id.hex},
            ).one()
    finally:
        db.dispose()
    assert tuple(paid_users) == (WINNERS, WINNERS)


def test_an_unsound_backup_is_refused_and_an_existing_database_kept(live_url, tmp_path):
    env = payouts_env(live_url)
    demo(env, 20, 20, cwd=tmp_path)
    backup = tmp_path / "b.db"
    assert run_payouts(env, "backup", str(backup)).returncode == 0
    again = run_payouts(env, "backup", str(backup))
    assert again.returncode == 2 and "exists" in again.stderr

    target_env = payouts_env(f"sqlite:///{tmp_path / 'target.db'}")
    assert run_payouts(target_env, "restore", str(backup)).returncode == 0
    kept = run_payouts(target_env, "restore", str(backup))
    assert kept.returncode == 1 and "pass --replace" in kept.stderr

    broken = Database(f"sqlite:///{backup}", pool_size=1)  # someone edits the backup
    with broken.write() as conn:
        conn.execute(text("UPDATE users SET balance = balance + 1 WHERE id = 1"))
    broken.dispose()
    refused = run_payouts(target_env, "restore", str(backup), "--replace")
    assert refused.returncode == 1
    assert "is not sound" in refused.stderr and "balance" in refused.stderr

    live = Database(live_url, pool_size=1)  # the live books are off: no backup of them
    with live.write() as conn:
        conn.execute(text("UPDATE users SET balance = balance + 1 WHERE id = 2"))
    live.dispose()
    unsound = run_payouts(env, "backup", str(tmp_path / "c.db"))
    assert unsound.returncode == 1 and "is not sound" in unsound.stderr
    assert not (tmp_path / "c.db").exists() and (tmp_path / "c.db.unsound").exists()


def test_postgresql_is_pointed_at_pg_dump(tmp_path):
    env = payouts_env("postgresql://postgres@127.0.0.1:5432/postgres")
    for command in ("backup", "restore"):
        said = run_payouts(env, command, str(tmp_path / "x.db"))
        assert said.returncode == 1
        assert "does not reinvent pg_dump" in said.stderr
        assert "docs/operations.md#backups" in said.stderr
