"""What the pages show of a job: its API object and its timing (domain.timing, as the CLI)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup
from sqlalchemy import RowMapping

from payouts.domain.timing import JobTiming
from payouts.domain.vocabulary import ACTIVE_JOB_STATUSES
from payouts.storage.clock import iso_utc
from payouts.web.schemas import JobOut


@dataclass(frozen=True, slots=True)
class JobView:
    """A job as its row on the page shows it; `job` is exactly what the JSON API returns."""

    job: JobOut
    title: str
    timing: JobTiming  # domain.timing: the same meaning as `payouts jobs` and `watch`

    @property
    def active(self) -> bool:
        return self.job.status in ACTIVE_JOB_STATUSES

    @property
    def rate(self) -> float | None:
        return self.timing.paid_per_second

    @property
    def eta_seconds(self) -> float | None:
        return self.timing.eta_seconds

    @property
    def wait_seconds(self) -> float | None:
        return self.timing.waited_seconds

    @property
    def phase(self) -> str:
        return self.timing.phase

    @property
    def total_seconds(self) -> float | None:
        return self.timing.duration_seconds


def job_view(row: RowMapping, title: str, timing: JobTiming) -> JobView:
    return JobView(JobOut.of(row, timing), title, timing)


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


def eta_text(timing: JobTiming) -> str:
    """What the ETA cell says, by phase (admin.js says the same from the status API)."""
    if timing.phase == "completed":
        return duration(timing.duration_seconds)
    if timing.phase == "paying":
        return duration(timing.eta_seconds)
    return {
        "queued": "not started yet",
        "planning": "planning…",
        "paused": "paused",
        "failed": "stopped",
    }[timing.phase]


def rate(per_second: float | None) -> str:
    if not per_second:
        return "—"
    return f"{per_second:,.0f}/s" if per_second >= 10 else f"{per_second:.1f}/s"


def when(iso: str | None) -> str:
    """'2024-01-20T10:00:00.000Z' as '2024-01-20 10:00:00 UTC'."""
    if not iso:
        return "—"
    return iso[:19].replace("T", " ") + " UTC"


def time_tag(moment: datetime | str | None, relative: bool = False) -> Markup:
    """A <time> element: UTC in the page (and on hover); local-time.js shows it in the
    browser's time zone, keeping UTC in the title (and adds "3 min ago" if `relative`)."""
    iso = moment if isinstance(moment, str) or moment is None else iso_utc(moment)
    if not iso:
        return Markup("—")
    utc = when(iso)
    extra = Markup(" data-relative") if relative else Markup("")
    return Markup('<time datetime="{}" title="{}" data-local{}>{}</time>').format(
        iso, utc, extra, utc
    )


def percent_of_bps(bps: int) -> str:
    return f"{bps / 100:g}%"


RESULT_LABELS = {
    "challenger_won": "Challenger won",
    "challenged_won": "Challenged won",
    "draw": "Draw",
}


def plural(count: int, one: str, many: str | None = None) -> str:
    """'1 failed entry', '2 failed entries'."""
    return f"{count:,} {one if count == 1 else (many or one + 's')}"
