"""How long a job took and how fast it paid, one definition for the UI, the CLI and the API.

- waited: from queued (created) to started;
- duration: from queued to completed (to now while active): how long the admin waited;
- paying rate: winners paid per second since the job started (to completed, or now);
- ETA: the unsettled winners at that rate, while the job is active.
A failed job has no completion time, so no duration and no rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from payouts.domain.vocabulary import ACTIVE_JOB_STATUSES


@dataclass(frozen=True, slots=True)
class JobTiming:
    waited_seconds: float | None  # queued -> started
    running_seconds: float | None  # started -> completed (or now)
    duration_seconds: float | None  # queued -> completed (or now)
    paid_per_second: float | None  # winners paid per second of running
    eta_seconds: float | None  # the winners left, at that rate


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    """end - start in seconds, never negative; None if either is unknown. Both aware."""
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def job_timing(
    *,
    status: str,
    created_at: datetime,
    started_at: datetime | None,
    completed_at: datetime | None,
    processed: int,
    failed: int,
    total: int,
    now: datetime,
) -> JobTiming:
    """The timing of a job whose datetimes are all timezone-aware."""
    active = status in ACTIVE_JOB_STATUSES
    end = now if active else completed_at
    running = seconds_between(started_at, end)
    rate = processed / running if running and processed else None
    eta = (total - processed - failed) / rate if rate and active else None
    return JobTiming(
        seconds_between(created_at, started_at),
        running,
        seconds_between(created_at, end),
        rate,
        eta,
    )
