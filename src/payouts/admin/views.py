"""What the pages show, computed from service rows: job progress, rates, durations. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import RowMapping

from payouts.web.schemas import JobOut

ACTIVE = ("queued", "running")


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; they are UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max((end - start).total_seconds(), 0.0)


@dataclass(frozen=True, slots=True)
class JobView:
    """A job as its row on the page shows it; `job` is exactly what the JSON API returns."""

    job: JobOut
    title: str
    rate: float | None  # entries settled per second since the job started
    eta_seconds: float | None
    wait_seconds: float | None  # created -> started
    run_seconds: float | None  # started -> completed (or now)
    total_seconds: float | None  # created -> completed

    @property
    def active(self) -> bool:
        return self.job.status in ACTIVE


def job_view(row: RowMapping, title: str, now: datetime) -> JobView:
    job = JobOut.of(row)
    created, started = _aware(row["created_at"]), _aware(row["started_at"])
    completed = _aware(row["completed_at"])
    end = completed if completed is not None else (now if job.status in ACTIVE else None)
    run = _seconds(started, end)
    settled = job.processed_winners + job.failed_winners
    rate = settled / run if run and settled else None
    remaining = job.total_winners - settled
    eta = remaining / rate if rate and job.status in ACTIVE else None
    return JobView(
        job, title, rate, eta, _seconds(created, started), run, _seconds(created, completed)
    )


def coins(amount: int | None) -> str:
    return "—" if amount is None else f"{amount:,}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def rate(per_second: float | None) -> str:
    if not per_second:
        return "—"
    return f"{per_second:,.0f}/s" if per_second >= 10 else f"{per_second:.1f}/s"


def when(iso: str | None) -> str:
    """'2024-01-20T10:00:00.000Z' as '2024-01-20 10:00:00 UTC'."""
    if not iso:
        return "—"
    return iso[:19].replace("T", " ") + " UTC"


def percent_of_bps(bps: int) -> str:
    return f"{bps / 100:g}%"


RESULT_LABELS = {
    "challenger_won": "Challenger won",
    "challenged_won": "Challenged won",
    "draw": "Draw",
}
