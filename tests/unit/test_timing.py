"""domain.timing: rate per second of paying time (not planning, failed or paused time),
phases from the job's transitions, and an ETA from a smoothed recent rate that stays
within 2x of the truth from 10% on for a steady job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from payouts.domain.timing import (
    PAUSED,
    RESUMED,
    Sample,
    Transition,
    job_timing,
    phase_seconds,
    smoothed_rate,
    with_samples,
)

T0 = datetime(2026, 1, 20, 10, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def big_job(*changes: tuple[float, str, bool]) -> list[Transition]:
    return [Transition(at(s), status, planned) for s, status, planned in changes]


class TestPhases:
    def test_planning_is_not_paying_time(self):
        # The 3M job of issue 14: 30 s planning at 0 paid, then 2 min of paying.
        transitions = big_job(
            (1, "running", False), (31, "running", True), (151, "completed", True)
        )
        t = job_timing(
            status="completed",
            created_at=T0,
            started_at=at(1),
            completed_at=at(151),
            processed=3_000_000,
            failed=0,
            total=3_000_000,
            now=at(500),
            transitions=transitions,
        )
        assert t.phase == "completed"
        assert t.planning_seconds == 30
        assert t.paying_seconds == 120
        assert t.paid_per_second == 25_000  # not 3M / 150 s
        assert t.duration_seconds == 151  # "Took 2 min 31 s"
        assert t.eta_seconds is None

    def test_a_running_unplanned_job_is_planning_and_has_no_rate(self):
        t = job_timing(
            status="running",
            planned=False,
            created_at=T0,
            started_at=at(1),
            completed_at=None,
            processed=0,
            failed=0,
            total=3_000_000,
            now=at(20),
            transitions=big_job((1, "running", False)),
        )
        assert t.phase == "planning"
        assert t.paid_per_second is None and t.eta_seconds is None
        assert t.planning_seconds == 19

    def test_hours_spent_failed_do_not_count(self):
        # Paid 900 in 10 s, failed on a frozen user, retried 3 hours later, done in 1 s.
        transitions = big_job(
            (0, "running", False),
            (0, "running", True),
            (10, "failed", True),
            (10_810, "queued", True),
            (10_810, "running", True),
            (10_811, "completed", True),
        )
        t = job_timing(
            status="completed",
            created_at=T0,
            started_at=at(0),
            completed_at=at(10_811),
            processed=1_000,
            failed=0,
            total=1_000,
            now=at(20_000),
            transitions=transitions,
        )
        assert t.paying_seconds == 11
        assert round(t.paid_per_second or 0) == 91  # 1,000 / 11 s, not 0.1/s

    def test_a_failed_job_is_measured_to_its_failure(self):
        transitions = big_job((0, "running", True), (8, "failed", True))
        t = job_timing(
            status="failed",
            created_at=T0,
            started_at=at(0),
            completed_at=None,
            processed=800,
            failed=1,
            total=1_000,
            now=at(9_000),
            transitions=transitions,
        )
        assert t.phase == "failed"
        assert t.duration_seconds == 8
        assert t.paid_per_second == 100

    def test_paused_time_does_not_count_and_shows_as_paused(self):
        transitions = big_job(
            (0, "running", True), (10, PAUSED, True), (70, RESUMED, True), (75, PAUSED, True)
        )
        t = job_timing(
            status="running",
            paused=True,
            created_at=T0,
            started_at=at(0),
            completed_at=None,
            processed=1_500,
            failed=0,
            total=10_000,
            now=at(100),
            transitions=transitions,
        )
        assert t.phase == "paused"
        assert t.paying_seconds == 15
        assert t.paid_per_second == 100

    def test_seconds_add_up_to_the_life_of_the_job(self):
        transitions = big_job((2, "running", False), (5, "running", True), (9, "failed", True))
        spent = phase_seconds(T0, transitions, at(12))
        assert spent["queued"] == 2 and spent["planning"] == 3 and spent["paying"] == 4
        assert spent["failed"] == 3
        assert sum(spent.values()) == 12


class TestSmoothedRate:
    def test_samples_outside_paying_are_left_out(self):
        samples = [Sample(0, 0, False), Sample(30, 0, False), Sample(31, 0, True)]
        samples += [Sample(32, 1_000, True), Sample(33, 2_000, True)]
        assert smoothed_rate(samples) == 1_000

    def test_none_without_two_paying_samples(self):
        assert smoothed_rate([Sample(0, 0, True)]) is None
        assert smoothed_rate([]) is None

    def test_it_follows_a_change_of_pace(self):
        samples = [Sample(s, 100 * s, True) for s in range(0, 60)]
        samples += [Sample(60 + s, 6_000 + 1_000 * s, True) for s in range(1, 60)]
        rate = smoothed_rate(samples)
        assert rate is not None and 950 < rate <= 1_000


# A steady job: a rate r, each stretch between samples at r times a factor in
# [0.75, 1.33] (batches, other jobs, the database), planning first. Sampled as a reader
# would: the job's settled count (an integer) every `every` seconds.
steady_jobs = st.fixed_dictionaries(
    {
        "rate": st.floats(min_value=20, max_value=60_000),
        "seconds": st.floats(min_value=5, max_value=300),  # how long paying takes
        "planning": st.floats(min_value=0, max_value=60),
        "every": st.floats(min_value=0.25, max_value=5),
        "factors": st.lists(st.floats(min_value=0.75, max_value=1.33), min_size=1, max_size=50),
    }
)


def _total(job: dict[str, object]) -> int:
    return max(1_000, int(float(job["rate"]) * float(job["seconds"])))  # type: ignore[arg-type]


def _simulate(job: dict[str, object]) -> list[tuple[float, float]]:
    """(seconds since paying began, settled) at each sample until done; the last sample
    is the exact moment the last winner was paid."""
    rate, total, every = float(job["rate"]), _total(job), float(job["every"])  # type: ignore[arg-type]
    factors: list[float] = job["factors"]  # type: ignore[assignment]
    points, t, settled, n = [(0.0, 0.0)], 0.0, 0.0, 0
    while settled < total:
        pace = rate * factors[n % len(factors)]
        step = min(every, (total - settled) / pace)
        t, settled, n = t + step, min(total, settled + pace * step), n + 1
        points.append((t, settled))
    return points


@settings(max_examples=150, deadline=None)
@given(steady_jobs)
def test_the_eta_of_a_steady_job_is_within_2x_from_10_percent_on(job):
    total, planning = _total(job), float(job["planning"])
    points = _simulate(job)
    finished_at = points[-1][0]
    transitions = [Transition(at(0), "running", False), Transition(at(planning), "running", True)]
    samples: list[Sample] = [Sample(0, 0, False)]
    for seconds, settled in points[:-1]:
        samples.append(Sample(planning + seconds, int(settled), True))
        if settled < total / 10 or total - settled < 100:
            continue  # before 10%; or the last few winners, less than a batch, a blink
        now = at(planning + seconds)
        base = job_timing(
            status="running",
            created_at=T0,
            started_at=T0,
            completed_at=None,
            processed=int(settled),
            failed=0,
            total=total,
            now=now,
            transitions=transitions,
        )
        for timing in (base, with_samples(base, samples[-30:], total - int(settled))):
            assert timing.eta_seconds is not None
            truth = finished_at - seconds
            assert truth / 2 <= timing.eta_seconds <= truth * 2, (timing, truth)
