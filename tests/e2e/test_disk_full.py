"""SQLite on a full disk: a real server (embedded worker) paying a job on a small tmpfs
that is then filled up. Batches that cannot commit roll back and are retried; API writes
get 503 with a message; reads still answer; nothing is half-written (the books balance
while the disk is full); when space returns the service recovers by itself and the job
finishes with everyone paid exactly once.

Needs permission to mount a tmpfs (root in a container usually has it); skips otherwise."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.data import check_paid
from sqlalchemy import text

from payouts.storage.database import Database
from tests.support.books import assert_books_balance
from tests.support.cli import demo, payouts_env, wait_for
from tests.support.server import ServerProcess

WINNERS, LOSERS = 20_000, 500
SIZE = "48m"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(directory: Path) -> Path:
    """Write a file until the filesystem is full; the file."""
    filler = directory / "filler"
    chunk = b"\0" * (1 << 20)
    with filler.open("wb", buffering=0) as out:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    out.write(chunk[:size])
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    return filler


def _progress(db: Database, job_id: str) -> tuple[str, int]:
    with db.read() as conn:
        row = conn.execute(
            text("SELECT status, processed_winners FROM payout_jobs WHERE id = :j"),
            {"j": uuid.UUID(job_id).hex},
        ).one()
    return str(row.status), int(row.processed_winners)


def test_a_full_disk_stalls_safely_and_the_service_recovers_by_itself(
    small_disk, sqlite_template, tmp_path
):
    path = small_disk / "payouts.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    env = payouts_env(url, batch_size=20)
    challenge_id = demo(env, WINNERS, LOSERS, cwd=tmp_path)["challengeId"]
    db = Database(url, pool_size=2)
    server = ServerProcess(env, tmp_path / "serve.log", cwd=tmp_path)
    filler = None
    try:
        server.start()
        with server.api() as api:
            resolved = api.post(
                f"/challenges/{challenge_id}/result", json={"result": "challenger_won"}
            )
            assert resolved.status_code == 200, resolved.text
            job_id = resolved.json()["payoutJobId"]
            wait_for(lambda: _progress(db, job_id)[1] >= 1_000, 300, "payments to start")

            filler = fill(small_disk)
            refused: list[int] = []

            def writes_refused() -> bool:  # the WAL may still have room for a few commits
                answer = api.post("/challenges", json={"title": "x" * 200})
                refused.append(answer.status_code)
                return answer.status_code == 503

            wait_for(writes_refused, 300, "a write to be refused on the full disk")
            answer = api.post("/challenges", json={"title": "while full"})
            assert answer.status_code == 503
            assert "cannot be written" in answer.json()["message"]
            assert "retry-after" in answer.headers
            assert set(refused) <= {201, 503}  # never a 500

            def worker_failures() -> int:
                return server.log_path.read_text().count("database cannot be written")

            wait_for(lambda: worker_failures() >= 1, 300, "a batch to fail on the full disk")
            stalled = _progress(db, job_id)
            assert stalled[0] == "running" and stalled[1] < WINNERS
            seen = worker_failures()
            wait_for(lambda: worker_failures() >= seen + 2, 300, "the worker to retry")
            assert _progress(db, job_id) == stalled  # retried, rolled back, nothing paid
            status = api.get(f"/payout-jobs/{job_id}/status")
            assert status.status_code == 200  # reads still answer
            with db.read() as conn:
                assert_books_balance(conn)  # whatever committed is whole

            filler.unlink()
            filler = None
            wait_for(lambda: _progress(db, job_id)[0] == "completed", 600, "the job to finish")
            assert api.post("/challenges", json={"title": "after"}).status_code == 201
        check_paid(db, uuid.UUID(job_id))
        with db.read() as conn:
            assert_books_balance(conn)
    finally:
        if filler is not None:
            os.unlink(filler)
        server.stop()
        db.dispose()
