"""Duration and throughput of a job, from its timestamps and counters (domain.timing: the
one definition the UI, the CLI and the API share)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from payouts.domain.timing import JobTiming, job_timing

QUEUED_AT = datetime(2024, 1, 20, 10, 0, 0, tzinfo=UTC)
NOW = datetime(2024, 1, 20, 10, 1, 0, tzinfo=UTC)


def timing(
    status: str, processed: int, started: int | None, completed: int | None, total: int = 20_000
) -> JobTiming:
    return job_timing(
        status=status,
        created_at=QUEUED_AT,
        started_at=None if started is None else QUEUED_AT + timedelta(seconds=started),
        completed_at=None if completed is None else QUEUED_AT + timedelta(seconds=completed),
        processed=processed,
        failed=0,
        total=total,
        now=NOW,
    )


def test_a_queued_job_has_waited_but_has_no_rate():
    t = timing("queued", 0, None, None)
    assert t.duration_seconds == 60
    assert t.paid_per_second is None
    assert t.eta_seconds is None


def test_a_running_job_is_measured_to_now():
    t = timing("running", 5_000, 10, None)
    assert t.duration_seconds == 60
    assert t.paid_per_second == 100  # 5,000 winners in the 50 s since it started
    assert t.eta_seconds == 150  # 15,000 left at 100/s
    assert t.waited_seconds == 10


def test_a_completed_job_is_measured_to_its_completion():
    t = timing("completed", 20_000, 2, 12)
    assert t.duration_seconds == 12  # queued to completed, as the reference document measured it
    assert t.paid_per_second == 2_000
    assert t.eta_seconds is None


def test_a_failed_job_has_no_end_so_no_duration():
    t = timing("failed", 9, 1, None)
    assert t.duration_seconds is None
    assert t.paid_per_second is None
