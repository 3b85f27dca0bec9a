"""How long a job took and how fast it paid: one definition for the UI, the CLI and the API.

A job's life is cut into phases by its transitions (job_transitions: each change of status
or plan, and each pause and resume of an active job):
- queued: waiting for a worker (also after a retry, until a worker takes it again);
- planning: running, not planned yet (a big job's cutoff and slices; nothing is paid);
- paying: running and planned, not paused;
- paused: an operator paused it (or everything);
- failed / completed: it ended (a failed job may be retried: queued again).

- rate (`paid_per_second`): winners paid per second of PAYING time only, so neither
  planning nor the hours a job sat failed or paused lower it. For a finished job it is its
  final rate.
- recent rate: an exponentially weighted moving average of the rates between recent progress
  samples taken while paying (half-life `HALF_LIFE_SECONDS`); the ETA uses it, or the rate
  above when there are no samples yet.
- duration: from queued to completed (or to failed, or to now while active): "Took ...".
A job with no recorded transitions (paid before they were recorded) is measured from its
started_at, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import pairwise
from typing import Literal

from payouts.domain.vocabulary import ACTIVE_JOB_STATUSES

Phase = Literal["queued", "planning", "paying", "paused", "completed", "failed"]
PHASES: tuple[Phase, ...] = ("queued", "planning", "paying", "paused", "completed", "failed")
# Not job statuses: marks the pause service writes into job_transitions for active jobs.
PAUSED = "paused"
RESUMED = "resumed"
HALF_LIFE_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Transition:
    at: datetime
    status: str  # the job's status from then on, or PAUSED / RESUMED
    planned: bool


@dataclass(frozen=True, slots=True)
class Sample:
    """The job's settled winners at a moment (seconds on any one monotonic clock)."""

    seconds: float
    settled: int
    paying: bool  # the job was in its paying phase then


@dataclass(frozen=True, slots=True)
class JobTiming:
    phase: Phase
    waited_seconds: float | None  # queued -> started
    planning_seconds: float  # running before its plan was stored
    paying_seconds: float  # the time the rate is measured over
    duration_seconds: float | None  # queued -> completed / failed (or now while active)
    paid_per_second: float | None  # winners paid per second of paying time
    recent_per_second: float | None  # the smoothed recent rate (None without samples)
    eta_seconds: float | None  # the winners left at the recent rate (or the rate)

    @property
    def finished(self) -> bool:
        return self.phase in ("completed", "failed")


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    """end - start in seconds, never negative; None if either is unknown. Both aware."""
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def phase_of(status: str, planned: bool, paused: bool = False) -> Phase:
    if status == "completed":
        return "completed"
    if status == "failed":
        return "failed"
    if paused:
        return "paused"
    if status == "running":
        return "paying" if planned else "planning"
    return "queued"


def phase_seconds(
    created_at: datetime, transitions: Sequence[Transition], end: datetime
) -> dict[Phase, float]:
    """Seconds spent in each phase from created_at to end, walking the transitions."""
    totals: dict[Phase, float] = dict.fromkeys(PHASES, 0.0)
    status, planned, paused = "queued", False, False
    since = created_at
    for t in transitions:
        at = min(max(t.at, since), end)
        totals[phase_of(status, planned, paused)] += (at - since).total_seconds()
        since = at
        if t.status == PAUSED:
            paused = True
        elif t.status == RESUMED:
            paused = False
        else:
            status, planned = t.status, t.planned
    totals[phase_of(status, planned, paused)] += max(0.0, (end - since).total_seconds())
    return totals


def smoothed_rate(
    samples: Sequence[Sample], half_life_seconds: float = HALF_LIFE_SECONDS
) -> float | None:
    """EWMA of the rates between consecutive samples taken while paying, each weighted by
    the time it spans; None without two such samples."""
    rate: float | None = None
    for a, b in pairwise(samples):
        span = b.seconds - a.seconds
        if span <= 0 or not (a.paying and b.paying):
            continue
        instant = max(0, b.settled - a.settled) / span
        if rate is None:
            rate = instant
        else:
            rate += (1 - 0.5 ** (span / half_life_seconds)) * (instant - rate)
    return rate


def job_timing(
    *,
    status: str,
    planned: bool = True,
    paused: bool = False,
    created_at: datetime,
    started_at: datetime | None,
    completed_at: datetime | None,
    processed: int,
    failed: int,
    total: int,
    now: datetime,
    transitions: Sequence[Transition] | None = None,
    samples: Sequence[Sample] = (),
) -> JobTiming:
    """The timing of a job whose datetimes are all timezone-aware. `transitions` in the
    order they happened; None when unknown (then paying time runs from started_at)."""
    active = status in ACTIVE_JOB_STATUSES
    phase = phase_of(status, planned, paused and active)
    if active:
        end: datetime | None = now
    elif status == "completed":
        end = completed_at
    else:  # failed: when it failed, if the transitions say
        failed_at = [t.at for t in transitions or () if t.status == "failed"]
        end = failed_at[-1] if failed_at else None
    if end is None:  # failed, and when is unknown: nothing to measure over
        planning, paying = 0.0, 0.0
    elif transitions:
        spent = phase_seconds(created_at, transitions, end)
        planning, paying = spent["planning"], spent["paying"]
    else:
        planning, paying = 0.0, seconds_between(started_at, end) or 0.0
    rate = processed / paying if paying > 0 and processed else None
    recent = smoothed_rate(samples) if active else None
    best = recent if recent else rate
    eta = (total - processed - failed) / best if active and best else None
    return JobTiming(
        phase=phase,
        waited_seconds=seconds_between(created_at, started_at),
        planning_seconds=planning,
        paying_seconds=paying,
        duration_seconds=seconds_between(created_at, end),
        paid_per_second=rate,
        recent_per_second=recent,
        eta_seconds=eta,
    )


def with_samples(timing: JobTiming, samples: Sequence[Sample], remaining: int) -> JobTiming:
    """The same timing, its recent rate and ETA taken from `samples` (an active job's)."""
    if timing.finished:
        return timing
    recent = smoothed_rate(samples)
    best = recent if recent else timing.paid_per_second
    eta = remaining / best if best else None
    return replace(timing, recent_per_second=recent, eta_seconds=eta)
