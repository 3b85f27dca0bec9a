"""The operator commands against a real database: their output and exit codes."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import insert, select
from typer.testing import Result

from payouts.services import challenges, users
from payouts.storage.clock import utcnow
from payouts.storage.tables import payout_entries, payout_jobs
from payouts.worker.loop import WorkerThread
from tests.support.books import assert_books_balance
from tests.support.cli import invoke
from tests.support.jobs import completed_job, failed_job, queued_job
from tests.support.scenario import worker


@pytest.fixture
def cli(database_url):
    def run(*args: str) -> Result:
        return invoke(database_url, *args)

    return run


def short(job_id: uuid.UUID) -> str:
    return str(job_id)[:8]


def test_jobs_lists_each_of_the_seeds_views(cli, db, settings):
    completed = completed_job(db, settings)
    failed, _ = failed_job(db, settings)
    queued = queued_job(db)  # last: the worker runs above would have paid it

    everything = cli("jobs")
    assert everything.exit_code == 0, everything.output
    for job_id in (queued, completed, failed):
        assert short(job_id) in everything.stdout
    assert "0/10" in everything.stdout and "10/10" in everything.stdout

    active = cli("jobs", "--active")
    assert active.exit_code == 0
    assert short(queued) in active.stdout
    assert short(completed) not in active.stdout and short(failed) not in active.stdout

    done = cli("jobs", "--completed")
    assert short(completed) in done.stdout and short(queued) not in done.stdout

    broken = cli("jobs", "--failed")
    assert short(failed) in broken.stdout and short(completed) not in broken.stdout
    assert "1 of 10 entries failed" in broken.stdout  # the job's error column

    assert len(json.loads(cli("jobs", "--limit", "1", "--json").stdout)) == 1


def test_jobs_json_has_duration_and_throughput(cli, db, settings):
    completed = completed_job(db, settings)
    queued = queued_job(db)
    result = cli("jobs", "--json")
    assert result.exit_code == 0
    by_id = {job["jobId"]: job for job in json.loads(result.stdout)}
    done, waiting = by_id[str(completed)], by_id[str(queued)]
    assert done["status"] == "completed" and done["processedWinners"] == 10
    assert done["durationSeconds"] >= 0
    assert "winnersPerSecond" in done
    assert waiting["status"] == "queued" and waiting["winnersPerSecond"] is None
    assert waiting["durationSeconds"] >= 0  # queued so far
    assert [job["jobId"] for job in json.loads(cli("jobs", "--active", "--json").stdout)] == [
        str(queued)
    ]


def test_jobs_on_an_empty_database(cli):
    result = cli("jobs")
    assert result.exit_code == 0
    assert "no payout jobs" in result.stdout
    assert json.loads(cli("jobs", "--completed", "--json").stdout) == []


def test_jobs_refuses_two_views(cli):
    result = cli("jobs", "--active", "--failed")
    assert result.exit_code == 2
    assert "choose one of" in result.stderr


def test_failed_entries_show_user_amount_attempts_and_error(cli, db, settings):
    job_id, frozen = failed_job(db, settings)
    with db.read() as conn:
        username = users.get_user(conn, frozen)["username"]

    table = cli("entries", str(job_id), "--failed")
    assert table.exit_code == 0, table.output
    assert username in table.stdout
    assert "user is frozen" in table.stdout
    assert f"payouts retry {job_id}" in table.stdout

    result = cli("entries", str(job_id), "--failed", "--json")
    [entry] = json.loads(result.stdout)
    assert entry["userId"] == frozen and entry["username"] == username
    assert entry["status"] == "failed" and entry["attempts"] == 1
    assert entry["error"] == "user is frozen"
    assert entry["amount"] > 0

    every = json.loads(cli("entries", short(job_id), "--json").stdout)
    assert len(every) == 10


@pytest.mark.parametrize("command", ["entries", "trigger", "retry", "watch"])
def test_unknown_job_is_a_clear_error(cli, command):
    missing = cli(command, str(uuid.uuid4()))
    assert missing.exit_code == 2
    assert "not found" in missing.stderr
    malformed = cli(command, "no-such-job")
    assert malformed.exit_code == 2
    assert "not found" in malformed.stderr
    no_prefix = cli(command, "abcdef12")
    assert no_prefix.exit_code == 2
    assert "no payout job id starts with 'abcdef12'" in no_prefix.stderr


def test_a_prefix_names_a_job_only_when_unique(cli, db):
    now = utcnow()
    with db.write() as conn:
        for n in (1, 2):
            cid = challenges.create_challenge(conn, f"prefix {n}", 500)["id"]
            conn.execute(
                insert(payout_jobs).values(
                    id=uuid.UUID(f"abcd{n:04d}-0000-4000-8000-000000000000"),
                    challenge_id=cid,
                    kind="payout",
                    status="queued",
                    total_winners=1,
                    total_pool=100,
                    platform_fee=5,
                    winner_pool=95,
                    winning_side="challenger",
                    winning_total=100,
                    created_at=now,
                )
            )
    ambiguous = cli("trigger", "abcd")
    assert ambiguous.exit_code == 2
    assert "several job ids" in ambiguous.stderr
    unique = cli("trigger", "abcd0002-00")
    assert unique.exit_code == 0, unique.output
    assert "abcd0002-0000-4000-8000-000000000000" in unique.stdout


def test_trigger_puts_an_active_job_first(cli, db, settings):
    job_id = queued_job(db)
    result = cli("trigger", str(job_id))
    assert result.exit_code == 0, result.output
    assert "goes first now" in result.stdout
    with db.read() as conn:
        triggered = conn.execute(
            select(payout_jobs.c.triggered_at).where(payout_jobs.c.id == job_id)
        ).scalar_one()
    assert triggered is not None

    done = completed_job(db, settings)
    refused = cli("trigger", str(done))
    assert refused.exit_code == 1
    assert "only queued or running" in refused.stderr


def test_retry_resets_only_failed_entries(cli, db, settings):
    job_id, frozen = failed_job(db, settings)
    too_soon = cli("retry", str(job_id))
    assert too_soon.exit_code == 0, too_soon.output
    assert "1 of them belong to users still frozen or gone" in too_soon.stderr
    worker(db, settings).run_until_idle()  # fails the frozen user's entry again
    with db.write() as conn:
        users.set_user_status(conn, frozen, "active")

    result = cli("retry", str(job_id))
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr
    assert "1 failed entries back to pending" in result.stdout
    assert "9 paid entries untouched" in result.stdout
    with db.read() as conn:
        statuses = conn.execute(
            select(payout_entries.c.status).where(payout_entries.c.job_id == job_id)
        ).scalars()
        assert sorted(statuses) == ["completed"] * 9 + ["pending"]

    worker(db, settings).run_until_idle()
    with db.read() as conn:
        assert conn.execute(
            select(payout_jobs.c.status).where(payout_jobs.c.id == job_id)
        ).scalar_one() == ("completed")
        assert_books_balance(conn)

    again = cli("retry", str(job_id), "--json")
    assert again.exit_code == 1
    assert "no failed entries to retry" in again.stderr


def test_watch_a_finished_job_exits_with_its_outcome(cli, db, settings):
    done = completed_job(db, settings)
    ok = cli("watch", str(done))
    assert ok.exit_code == 0, ok.output
    assert "completed: 10 of 10 winners paid" in ok.stdout

    failed, _ = failed_job(db, settings)
    bad = cli("watch", short(failed))
    assert bad.exit_code == 1
    assert "failed: 9 paid, 1 failed of 10" in bad.stdout
    assert f"payouts entries {failed} --failed" in bad.stdout


def test_watch_follows_a_job_until_a_worker_completes_it(cli, db, settings):
    job_id = queued_job(db, winners=300)
    thread = WorkerThread(worker(db, settings, batch_size=20))
    thread.start()
    try:
        result = cli("watch", str(job_id), "--interval", "0.05")
    finally:
        thread.stop()
    assert result.exit_code == 0, result.output
    assert "completed: 300 of 300 winners paid" in result.stdout


def test_commands_say_when_there_is_no_database(tmp_path):
    missing = invoke(f"sqlite:///{tmp_path}/nothing.db", "jobs")
    assert missing.exit_code == 1
    assert "no database at" in missing.stderr
    assert not (tmp_path / "nothing.db").exists()

    (tmp_path / "empty.db").touch()
    unmigrated = invoke(f"sqlite:///{tmp_path}/empty.db", "jobs")
    assert unmigrated.exit_code == 1
    assert "payouts migrate" in unmigrated.stderr
