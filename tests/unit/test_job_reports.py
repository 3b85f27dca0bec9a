"""Duration and throughput of a job, from its timestamps and counters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from payouts.services.monitoring import report

QUEUED_AT = datetime(2024, 1, 20, 10, 0, 0)  # naive, as SQLite returns it: UTC
NOW = datetime(2024, 1, 20, 10, 1, 0, tzinfo=UTC)


def job(status: str, processed: int, started: int | None, completed: int | None) -> dict:
    return {
        "status": status,
        "processed_winners": processed,
        "created_at": QUEUED_AT,
        "started_at": None if started is None else QUEUED_AT + timedelta(seconds=started),
        "completed_at": None if completed is None else QUEUED_AT + timedelta(seconds=completed),
    }


def test_a_queued_job_has_waited_but_has_no_rate():
    r = report(job("queued", 0, None, None), NOW)
    assert r.duration_seconds == 60
    assert r.winners_per_second is None


def test_a_running_job_is_measured_to_now():
    r = report(job("running", 5_000, 10, None), NOW)
    assert r.duration_seconds == 60
    assert r.winners_per_second == 100  # 5,000 winners in the 50 s since it started


def test_a_completed_job_is_measured_to_its_completion():
    r = report(job("completed", 20_000, 2, 12), NOW)
    assert r.duration_seconds == 12  # queued to completed, as the seed measured it
    assert r.winners_per_second == 2_000


def test_a_failed_job_has_no_end_so_no_duration():
    r = report(job("failed", 9, 1, None), NOW)
    assert r.duration_seconds is None
    assert r.winners_per_second is None
