"""What operators watch: job summaries with duration and throughput, failed entries with
their users, and the cheap aggregates behind the metrics. Reads only."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, RowMapping, String, cast, func, or_, select

from payouts.domain.errors import InvalidInput, NotFound
from payouts.domain.timing import JobTiming, Sample, Transition, job_timing
from payouts.domain.vocabulary import ACTIVE_JOB_STATUSES, JOB_STATUSES
from payouts.services.jobs import get_job
from payouts.storage.clock import as_utc, utcnow
from payouts.storage.tables import (
    job_transitions,
    payout_entries,
    payout_jobs,
    processing_pauses,
    users,
)

# The seed's monitoring queries, by name: which statuses each one shows.
JOB_VIEWS: dict[str, tuple[str, ...]] = {
    "all": JOB_STATUSES,
    "active": ACTIVE_JOB_STATUSES,
    "completed": ("completed",),
    "failed": ("failed",),
}
SHORT_ID_LENGTH = 8  # how tables show a job id; any unique prefix of 4+ digits finds it
_MIN_PREFIX = 4


@dataclass(frozen=True, slots=True)
class JobReport:
    job: RowMapping
    # created -> completed (or now, while active): how long the admin has been waiting
    duration_seconds: float | None
    # winners paid per second of paying time (domain.timing)
    winners_per_second: float | None
    timing: JobTiming


@dataclass(frozen=True, slots=True)
class QueueTotals:
    jobs_by_status: dict[str, int]
    failed_entries: int  # entries failed and not retried, across all jobs
    pending_winners: int  # winners of active jobs not yet paid or failed
    oldest_active_created_at: datetime | None


def short_id(job_id: uuid.UUID) -> str:
    return str(job_id)[:SHORT_ID_LENGTH]


def find_job(conn: Connection, ref: str) -> RowMapping:
    """A job by its full id or, like git, by a unique prefix of it."""
    try:
        return get_job(conn, uuid.UUID(ref))
    except ValueError:
        pass
    digits = ref.lower().replace("-", "")
    if not re.fullmatch(rf"[0-9a-f]{{{_MIN_PREFIX},31}}", digits):
        raise NotFound(f"payout job {ref!r} not found (give its id or the start of it)")
    # The id as text is hex with dashes on PostgreSQL and without them on SQLite.
    dashed = "-".join(digits[a:b] for a, b in ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32)))
    as_text = cast(payout_jobs.c.id, String)
    matches = (
        conn.execute(
            select(payout_jobs)
            .where(or_(as_text.like(f"{digits}%"), as_text.like(f"{dashed.rstrip('-')}%")))
            .limit(5)
        )
        .mappings()
        .all()
    )
    if not matches:
        raise NotFound(f"no payout job id starts with {ref!r}")
    if len(matches) > 1:
        some = ", ".join(str(m["id"]) for m in matches)
        raise InvalidInput(f"{ref!r} is the start of several job ids ({some}); give more of it")
    return matches[0]


def report(job: RowMapping, timing: JobTiming) -> JobReport:
    return JobReport(job, timing.duration_seconds, timing.paid_per_second, timing)


def job_timing_of(
    job: RowMapping,
    now: datetime,
    transitions: Sequence[Transition] | None = None,
    *,
    paused: bool = False,
    samples: Sequence[Sample] = (),
) -> JobTiming:
    """domain.timing for a payout_jobs row (SQLite's naive datetimes read as UTC)."""
    return job_timing(
        status=job["status"],
        planned=bool(job["planned"]),
        paused=paused,
        created_at=as_utc(job["created_at"]),
        started_at=job["started_at"] and as_utc(job["started_at"]),
        completed_at=job["completed_at"] and as_utc(job["completed_at"]),
        processed=job["processed_winners"],
        failed=job["failed_winners"],
        total=job["total_winners"],
        now=now,
        transitions=transitions,
        samples=samples,
    )


def transitions_of(
    conn: Connection, job_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Transition]]:
    """Each job's transitions in the order they happened (one query for all)."""
    found: dict[uuid.UUID, list[Transition]] = {job_id: [] for job_id in job_ids}
    if not job_ids:
        return found
    t = job_transitions.c
    rows = conn.execute(
        select(t.job_id, t.status, t.planned, t.at)
        .where(t.job_id.in_(list(found)))
        .order_by(t.job_id, t.id)
    )
    for row in rows:
        found[row.job_id].append(Transition(as_utc(row.at), row.status, bool(row.planned)))
    return found


def paused_jobs(conn: Connection) -> tuple[bool, set[uuid.UUID]]:
    """(everything is paused, the jobs paused one by one)."""
    p = processing_pauses.c
    rows = conn.execute(select(p.job_id)).scalars().all()
    return None in rows, {job_id for job_id in rows if job_id is not None}


def timings_of(
    conn: Connection,
    rows: Sequence[RowMapping],
    now: datetime,
    samples: dict[uuid.UUID, Sequence[Sample]] | None = None,
) -> dict[uuid.UUID, JobTiming]:
    """domain.timing for each job row: its transitions and pause read in two queries, and
    the progress samples the caller took (if any) for the recent rate."""
    transitions = transitions_of(conn, [row["id"] for row in rows])
    everything, paused = paused_jobs(conn)
    return {
        row["id"]: job_timing_of(
            row,
            now,
            transitions[row["id"]],
            paused=everything or row["id"] in paused,
            samples=(samples or {}).get(row["id"], ()),
        )
        for row in rows
    }


def job_reports(conn: Connection, view: str = "all", limit: int = 20) -> list[JobReport]:
    """Newest first; completed jobs in the order they completed, like the seed's query."""
    j = payout_jobs.c
    order = j.completed_at.desc() if view == "completed" else j.created_at.desc()
    rows = (
        conn.execute(
            select(payout_jobs)
            .where(j.status.in_(JOB_VIEWS[view]))
            .order_by(order, j.id)
            .limit(limit)
        )
        .mappings()
        .all()
    )
    timings = timings_of(conn, rows, utcnow())
    return [report(row, timings[row["id"]]) for row in rows]


def entries_with_users(
    conn: Connection, job_id: uuid.UUID, status: str | None, limit: int = 100
) -> Sequence[RowMapping]:
    """A job's entries with each user's name (None if the user is gone), by entry id."""
    get_job(conn, job_id)
    e = payout_entries.c
    query = (
        select(payout_entries, users.c.username)
        .outerjoin(users, users.c.id == e.user_id)
        .where(e.job_id == job_id)
    )
    if status:
        query = query.where(e.status == status)
    return conn.execute(query.order_by(e.id).limit(limit)).mappings().all()


def unpayable_failed_entries(conn: Connection, job_id: uuid.UUID) -> int:
    """Failed entries whose user is still frozen or gone: a retry would fail them again."""
    e = payout_entries.c
    return int(
        conn.execute(
            select(func.count())
            .select_from(payout_entries.outerjoin(users, users.c.id == e.user_id))
            .where(
                e.job_id == job_id,
                e.status == "failed",
                or_(users.c.id.is_(None), users.c.status != "active"),
            )
        ).scalar_one()
    )


def queue_totals(conn: Connection) -> QueueTotals:
    """Two aggregate queries over payout_jobs (one row per challenge), none over entries."""
    j = payout_jobs.c
    rows = conn.execute(
        select(
            j.status,
            func.count(),
            func.coalesce(func.sum(j.failed_winners), 0),
            func.coalesce(func.sum(j.total_winners - j.processed_winners - j.failed_winners), 0),
        ).group_by(j.status)
    ).all()
    by_status: dict[str, int] = dict.fromkeys(JOB_STATUSES, 0)
    failed = pending = 0
    for status, count, failed_winners, unsettled in rows:
        by_status[status] = count
        failed += int(failed_winners)
        if status in ACTIVE_JOB_STATUSES:
            pending += int(unsettled)
    # Work waits from the moment its job is queued, so the oldest active job's age is the
    # age of the oldest unpaid entry (entries are materialised from it later).
    oldest = conn.execute(
        select(func.min(j.created_at)).where(j.status.in_(ACTIVE_JOB_STATUSES))
    ).scalar_one()
    return QueueTotals(by_status, failed, pending, oldest)
