"""Operator commands: the seed's monitoring SQL and manual fixes, as safe commands.

jobs, entries, trigger, retry, watch and resolve read and write through the services, in
one transaction each, against PAYOUTS_DATABASE_URL. Exit codes: 0 done; 1 the job failed
(watch) or its state refuses the operation (trigger, retry, resolve of a resolved challenge),
or the database cannot be read; 2 an unknown job or bad arguments (a bad results file);
130 watch interrupted (the job goes on).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text
from sqlalchemy import RowMapping

from payouts.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    database,
    fail,
    print_json,
)
from payouts.cli.common import console as new_console
from payouts.domain.timing import JobTiming, Sample, with_samples
from payouts.domain.vocabulary import SETTLED_JOB_STATUSES
from payouts.services import jobs as job_service
from payouts.services.monitoring import (
    JobReport,
    entries_with_users,
    find_job,
    job_reports,
    short_id,
    timings_of,
    unpayable_failed_entries,
)
from payouts.storage.clock import as_utc, utcnow
from payouts.storage.database import Database
from payouts.web.schemas import EntryOut, JobOut, JobStatusOut

STATUS_STYLE = {
    "queued": "yellow",
    "running": "cyan",
    "completed": "green",
    "failed": "bold red",
    "pending": "yellow",
}

JobArg = Annotated[
    str, typer.Argument(metavar="JOB", help="Payout job id, or the start of it (4+ digits)")
]
_SAMPLES_KEPT = 30  # progress samples behind `watch`'s smoothed rate
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON for scripts instead of a table")]


def register(app: typer.Typer) -> None:
    for command in (jobs, entries, trigger, retry, watch):
        app.command()(command)


# --- formatting -----------------------------------------------------------------------


def _count(n: int) -> str:
    return f"{n:,}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _rate(per_second: float | None) -> str:
    return "—" if per_second is None else f"{per_second:,.0f}/s"


def _when(moment: datetime | None) -> str:
    return "—" if moment is None else as_utc(moment).strftime("%Y-%m-%d %H:%M:%S")


def _status(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


def _phase(status: str, phase: str) -> Text:
    """The status, or for an active job its phase (planning, paying, paused)."""
    return Text(
        phase if phase in ("planning", "paying", "paused") else status,
        style=STATUS_STYLE.get(status, ""),
    )


def _took_or_eta(timing: JobTiming) -> str:
    """domain.timing's words: "took 2m 31s" once completed, the ETA while paying."""
    if timing.phase == "completed":
        return f"took {_duration(timing.duration_seconds)}"
    if timing.phase == "paying" and timing.eta_seconds is not None:
        return f"eta {_duration(timing.eta_seconds)}"
    return {"queued": "not started", "planning": "planning", "paused": "paused"}.get(
        timing.phase, "—"
    )


def _progress(job: RowMapping) -> str:
    percent = JobStatusOut.of(job).progress_percent
    return f"{_count(job['processed_winners'])}/{_count(job['total_winners'])}, {percent}%"


# --- jobs -----------------------------------------------------------------------------


def jobs(
    active: Annotated[bool, typer.Option("--active", help="Queued and running jobs")] = False,
    completed: Annotated[
        bool, typer.Option("--completed", help="Completed jobs, last completed first")
    ] = False,
    failed: Annotated[
        bool,
        typer.Option(
            "--failed", help="Failed jobs (their entries: `payouts entries JOB --failed`)"
        ),
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many jobs")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """List payout jobs, newest first, with progress, duration and throughput."""
    chosen = [name for name, on in (("active", active), ("completed", completed)) if on]
    chosen += ["failed"] if failed else []
    if len(chosen) > 1:
        fail("choose one of --active, --completed, --failed", EXIT_USAGE)
    view = chosen[0] if chosen else "all"
    with database() as db, db.read() as conn:
        reports = job_reports(conn, view, limit)
    if as_json:
        print_json([_job_json(r) for r in reports])
        return
    if not reports:
        typer.echo(f"no {'' if view == 'all' else view + ' '}payout jobs")
        return
    console = new_console()
    console.print(_jobs_table(reports, view))
    for r in reports:  # under the table: an error is a sentence, too long for a column
        if r.job["error"]:
            console.print(f"{short_id(r.job['id'])}: [red]{r.job['error']}[/]")


def _job_json(r: JobReport) -> dict[str, Any]:
    return {
        **JobOut.of(r.job, r.timing).model_dump(by_alias=True),
        "durationSeconds": None if r.duration_seconds is None else round(r.duration_seconds, 3),
        "winnersPerSecond": None
        if r.winners_per_second is None
        else round(r.winners_per_second, 1),
    }


def _table(title: str) -> Table:
    """Compact: one space between columns, so a job row fits in 80 columns."""
    return Table(title=title, box=box.SIMPLE_HEAD, padding=0, show_edge=False)


def _jobs_table(reports: list[JobReport], view: str) -> Table:
    title = {"all": "Payout jobs", "active": "Active jobs", "completed": "Completed jobs"}
    table = _table(title.get(view, "Failed jobs"))
    for name in ("Job", "Challenge", "Kind", "Status", "Paid", "%", "Failed", "Took/ETA", "Rate"):
        left = name in ("Job", "Kind", "Status")
        table.add_column(name, justify="left" if left else "right", no_wrap=True)
    for r in reports:
        job = r.job
        row = [
            short_id(job["id"]),
            str(job["challenge_id"]),
            job["kind"],
            _phase(job["status"], r.timing.phase),
            f"{_count(job['processed_winners'])}/{_count(job['total_winners'])}",
            str(JobStatusOut.of(job).progress_percent),
            _count(job["failed_winners"]),
            _took_or_eta(r.timing),
            _rate(r.winners_per_second),
        ]
        table.add_row(*row)
    return table


# --- entries --------------------------------------------------------------------------


def entries(
    job: JobArg,
    failed: Annotated[bool, typer.Option("--failed", help="Only failed entries")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """A job's entries (by entry id) with user, amount, attempts and error."""
    with database() as db, db.read() as conn:
        job_row = find_job(conn, job)
        job_id = job_row["id"]
        rows = entries_with_users(conn, job_id, "failed" if failed else None, limit)
    if as_json:
        print_json(
            [
                {**EntryOut.of(row).model_dump(by_alias=True), "username": row["username"]}
                for row in rows
            ]
        )
        return
    what = "failed entries" if failed else "entries"
    if not rows:
        typer.echo(f"job {job_id} has no {what}")
        return
    table = _table(f"Job {job_id}: {what}")
    for name, justify in (
        ("Entry", "right"),
        ("User", "right"),
        ("Username", "left"),
        ("Amount", "right"),
        ("Status", "left"),
        ("Attempts", "right"),
        ("Error", "left"),
        ("Processed (UTC)", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(
            str(row["id"]),
            str(row["user_id"]),
            row["username"] or "(no such user)",
            _count(row["amount"]),
            _status(row["status"]),
            str(row["attempts"]),
            row["error"] or "",
            _when(row["processed_at"]),
        )
    console = new_console()
    console.print(table)
    total = job_row["failed_winners"] if failed else job_row["total_winners"]
    if len(rows) < total:
        console.print(f"{len(rows)} of {_count(total)} {what} shown (--limit to see more)")
    if failed:
        console.print(f"Fix the users (unfreeze them), then: payouts retry {job_id}")


# --- trigger and retry ----------------------------------------------------------------


def trigger(job: JobArg, as_json: JsonOpt = False) -> None:
    """Process a queued or running job now, ahead of the others.

    The seed's triggerImmediate: running workers are woken at once."""
    with database() as db, db.write() as conn:
        job_row = job_service.trigger(conn, find_job(conn, job)["id"])
    if as_json:
        print_json(JobStatusOut.of(job_row).model_dump(by_alias=True))
        return
    typer.echo(
        f"job {job_row['id']} ({job_row['status']}, {_progress(job_row)} paid)"
        " goes first now; running workers have been woken."
    )
    typer.echo("No worker running? Start one: payouts worker (or payouts serve)")


def retry(job: JobArg, as_json: JsonOpt = False) -> None:
    """Put a job's failed entries back to pending and queue the job again.

    Completed entries are never touched, so nobody is paid twice (unlike the seed's reset)."""
    with database() as db, db.write() as conn:
        before = find_job(conn, job)
        job_id = before["id"]
        doomed = unpayable_failed_entries(conn, job_id)
        job_row = job_service.retry(conn, job_id)
    if as_json:
        print_json(JobStatusOut.of(job_row).model_dump(by_alias=True))
        return
    reset = before["failed_winners"] - job_row["failed_winners"]
    typer.echo(
        f"job {job_id}: {_count(reset)} failed entries back to pending, job {job_row['status']};"
        f" {_count(job_row['processed_winners'])} paid entries untouched."
    )
    if doomed:
        typer.echo(
            f"warning: {_count(doomed)} of them belong to users still frozen or gone;"
            " they will fail again (unfreeze the users, then retry)",
            err=True,
        )
    typer.echo(f"Follow it: payouts watch {job_id}")


# --- watch ----------------------------------------------------------------------------


class _TimingColumn(ProgressColumn):
    """domain.timing's rate and ETA (or phase), as the task's `timing` field holds them."""

    def render(self, task: Task) -> Text:
        return Text(str(task.fields.get("timing", "")), style="progress.data.speed")


def _timing_text(timing: JobTiming) -> str:
    rate = _rate(timing.recent_per_second or timing.paid_per_second)
    if timing.phase == "paying":
        eta = "—" if timing.eta_seconds is None else _duration(timing.eta_seconds)
        return f"{rate}  ETA {eta}"
    if timing.phase == "completed":
        return f"{rate}  took {_duration(timing.duration_seconds)}"
    return {"queued": "queued", "planning": "planning…", "paused": "paused"}.get(
        timing.phase, "stopped"
    )


def _describe(job: RowMapping) -> str:
    failed = job["failed_winners"]
    extra = f", [red]{_count(failed)} failed[/]" if failed else ""
    style = STATUS_STYLE.get(job["status"], "")
    return f"job {short_id(job['id'])} [{style}]{job['status']}[/]{extra}"


def _settled(job: RowMapping) -> int:
    return int(job["processed_winners"] + job["failed_winners"])


def watch(
    job: JobArg,
    interval: Annotated[
        float, typer.Option(min=0.05, max=60, help="Seconds between reads of the job")
    ] = 0.5,
) -> None:
    """Follow a job with a live progress bar (rate, ETA) until it completes or fails.

    Exits 0 when it completes, 1 when it fails."""
    with database() as db:
        with db.read() as conn:
            row = find_job(conn, job)
        job_id = row["id"]
        read = _job_reader(db, job_id)
        console = new_console()
        try:
            row, summary = _follow(console, row, read, interval)
        except KeyboardInterrupt:
            console.print(f"stopped watching; job {job_id} goes on ({row['status']})")
            raise typer.Exit(EXIT_INTERRUPTED) from None
    if row["status"] == "completed":
        console.print(
            f"job {job_id} [green]completed[/]: {_count(row['processed_winners'])} of"
            f" {_count(row['total_winners'])} winners paid; took"
            f" {_duration(summary.duration_seconds)}, {_rate(summary.paid_per_second)}"
            " while paying"
        )
        return
    console.print(
        f"job {job_id} [bold red]failed[/]: {_count(row['processed_winners'])} paid,"
        f" {_count(row['failed_winners'])} failed of {_count(row['total_winners'])}."
        f" {row['error'] or ''}"
    )
    console.print(f"See them: payouts entries {job_id} --failed; then: payouts retry {job_id}")
    raise typer.Exit(EXIT_FAILED)


def _job_reader(db: Database, job_id: uuid.UUID) -> Callable[[], tuple[RowMapping, JobTiming]]:
    """Reads the job and its timing; the ETA from this command's own progress samples."""
    samples: list[Sample] = []

    def read() -> tuple[RowMapping, JobTiming]:
        with db.read() as conn:
            row = job_service.get_job(conn, job_id)
            timing = timings_of(conn, [row], utcnow())[job_id]
        samples.append(Sample(time.monotonic(), _settled(row), timing.phase == "paying"))
        del samples[:-_SAMPLES_KEPT]
        return row, with_samples(timing, samples, row["total_winners"] - _settled(row))

    return read


def _follow(
    console: Console,
    row: RowMapping,
    read: Callable[[], tuple[RowMapping, JobTiming]],
    interval: float,
) -> tuple[RowMapping, JobTiming]:
    """Show the bar until the job settles; return its last state and timing."""
    row, timing = read()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        _TimingColumn(),
        console=console,
        refresh_per_second=4,
    ) as progress:
        task = progress.add_task(
            _describe(row),
            total=row["total_winners"],
            completed=_settled(row),
            timing=_timing_text(timing),
        )
        while row["status"] not in SETTLED_JOB_STATUSES:
            time.sleep(interval)
            row, timing = read()
            progress.update(
                task,
                completed=_settled(row),
                description=_describe(row),
                timing=_timing_text(timing),
            )
    return row, timing
