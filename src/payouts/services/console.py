"""What the operator console reads: the jobs a live page must show, counts by status, a
job's story from the audit log, a user's recent ledger, the history of ended jobs and who a
job paid. Reads only; each is one set-based query (or a few), never one per row.

A failed job has no completion time (completed_at is the moment the last winner was paid),
so the moment a job ended is its completion time, or for a failed job the moment its last
failed entry was settled (read from the failed entries' partial index: few rows)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Connection, RowMapping, and_, func, or_, select

from payouts.domain.vocabulary import ACTIVE_JOB_STATUSES, JOB_STATUSES, SETTLED_JOB_STATUSES
from payouts.storage import throughput as throughput_sql
from payouts.storage.clock import as_utc
from payouts.storage.tables import audit_log, payout_entries, payout_jobs, transactions, users

FEED_LIMIT = 500  # jobs in one feed answer; a page shows at most this many active jobs
WATCH_LIMIT = 500  # ids a page may ask about at once
LEDGER_ROWS = 20
TIMELINE_ROWS = 50

_j = payout_jobs.c
_e = payout_entries.c

# When a failed job failed: its last failed entry's settlement (partial index on failed).
_FAILED_AT = (
    select(func.max(_e.processed_at))
    .where(_e.job_id == _j.id, _e.status == "failed")
    .correlate(payout_jobs)
    .scalar_subquery()
)
ENDED_AT = func.coalesce(_j.completed_at, _FAILED_AT).label("ended_at")


def feed_jobs(
    conn: Connection, since: datetime, watched: Collection[uuid.UUID], *, only: bool = False
) -> Sequence[RowMapping]:
    """Every active job, every job created since `since` (ended or not) and the `watched`
    ones (the rows a page shows as active), newest first: what a page needs to move its rows
    between sections and add the jobs it has not seen. `only`: just the watched ones (a
    job's own page)."""
    ids: ColumnElement[bool] = _j.id.in_(sorted(watched)[:WATCH_LIMIT])
    wanted: ColumnElement[bool]
    if only:
        wanted = ids
    else:
        wanted = or_(_j.status.in_(ACTIVE_JOB_STATUSES), _j.created_at >= since)
        if watched:
            wanted = or_(wanted, ids)
    query = select(payout_jobs, ENDED_AT).where(wanted).order_by(_j.created_at.desc(), _j.id)
    return conn.execute(query.limit(FEED_LIMIT)).mappings().all()


def status_counts(conn: Connection) -> dict[str, int]:
    """Jobs by status (one GROUP BY over the status index)."""
    counts: dict[str, int] = dict.fromkeys(JOB_STATUSES, 0)
    for status, count in conn.execute(select(_j.status, func.count()).group_by(_j.status)).all():
        counts[status] = int(count)
    return counts


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    statuses: Sequence[str] = SETTLED_JOB_STATUSES
    kind: str | None = None
    ended_from: datetime | None = None  # inclusive
    ended_before: datetime | None = None  # exclusive
    challenge_id: int | None = None


def ended_jobs(
    conn: Connection, where: HistoryFilter, *, offset: int = 0, limit: int = 20
) -> tuple[Sequence[RowMapping], int]:
    """Ended jobs, the most recently ended first, one page of them, and how many match."""
    ended = select(payout_jobs, ENDED_AT).where(_j.status.in_(where.statuses))
    if where.kind:
        ended = ended.where(_j.kind == where.kind)
    if where.challenge_id is not None:
        ended = ended.where(_j.challenge_id == where.challenge_id)
    inner = ended.subquery()
    query = select(inner)
    if where.ended_from is not None:
        query = query.where(inner.c.ended_at >= where.ended_from)
    if where.ended_before is not None:
        query = query.where(inner.c.ended_at < where.ended_before)
    total = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = (
        conn.execute(
            query.order_by(inner.c.ended_at.desc(), inner.c.id).offset(offset).limit(limit)
        )
        .mappings()
        .all()
    )
    return rows, int(total)


def jobs_that_paid(conn: Connection, user_id: int, limit: int = 100) -> Sequence[RowMapping]:
    """The jobs with an entry for this user, newest first, with the entry: one nested loop
    over the jobs probing the (job_id, user_id) unique index of the entries."""
    query = (
        select(
            payout_jobs,
            ENDED_AT,
            _e.amount.label("entry_amount"),
            _e.status.label("entry_status"),
            _e.error.label("entry_error"),
        )
        .join(payout_entries, and_(_e.job_id == _j.id, _e.user_id == user_id))
        .order_by(_j.created_at.desc(), _j.id)
        .limit(limit)
    )
    return conn.execute(query).mappings().all()


def failed_entries_with_users(
    conn: Connection, job_ids: Collection[uuid.UUID], per_job: int
) -> dict[uuid.UUID, list[RowMapping]]:
    """The first `per_job` failed entries of each job, each with its user's name and status
    (None if the user is gone): one query over the failed entries' partial index."""
    if not job_ids:
        return {}
    ranked = (
        select(
            payout_entries,
            func.row_number().over(partition_by=_e.job_id, order_by=_e.id).label("n"),
        )
        .where(_e.job_id.in_(sorted(job_ids)), _e.status == "failed")
        .subquery()
    )
    rows = conn.execute(
        select(ranked, users.c.username, users.c.status.label("user_status"))
        .outerjoin(users, users.c.id == ranked.c.user_id)
        .where(ranked.c.n <= per_job)
        .order_by(ranked.c.job_id, ranked.c.id)
    ).mappings()
    found: dict[uuid.UUID, list[RowMapping]] = {jid: [] for jid in job_ids}
    for row in rows:
        found[row["job_id"]].append(row)
    return found


def frozen_failed_users(conn: Connection, job_id: uuid.UUID, limit: int = 20) -> list[RowMapping]:
    """Users of the job's failed entries who are frozen or gone: a retry fails them again."""
    query = (
        select(_e.user_id, users.c.username, users.c.status.label("user_status"))
        .select_from(payout_entries.outerjoin(users, users.c.id == _e.user_id))
        .where(
            _e.job_id == job_id,
            _e.status == "failed",
            or_(users.c.id.is_(None), users.c.status != "active"),
        )
        .order_by(_e.user_id)
        .limit(limit)
    )
    return list(conn.execute(query).mappings().all())


def timeline(conn: Connection, job: RowMapping) -> list[tuple[datetime, str, str]]:
    """(when, who, what) for a job: the audit rows naming it or its challenge's resolve,
    and the job's own transitions, oldest first."""
    target = audit_log.c.target
    job_target = f"job_id={job['id']}"
    challenge_target = f"challenge_id={job['challenge_id']}"
    rows = conn.execute(
        select(audit_log)
        .where(
            audit_log.c.status_code < 400,
            or_(
                target == job_target,
                and_(target == challenge_target, audit_log.c.action.like("%resolve%")),
            ),
        )
        .order_by(audit_log.c.id)
        .limit(TIMELINE_ROWS)
    ).mappings()
    events: list[tuple[datetime, str, str]] = [
        (row["created_at"], row["actor"], _ACTIONS.get(row["action"], row["action"]))
        for row in rows
    ]
    if not any(what.startswith("Resolved") for _, _, what in events):  # e.g. made by the CLI
        events.append((job["created_at"], "", f"{job['kind'].capitalize()} job queued"))
    if job["started_at"] is not None:
        events.append((job["started_at"], "worker", "Started"))
    if job["completed_at"] is not None:
        events.append((job["completed_at"], "worker", "Completed: every winner paid"))
    failed_at = conn.execute(
        select(_FAILED_AT.label("at")).select_from(payout_jobs).where(_j.id == job["id"])
    ).scalar()
    if failed_at is not None and job["status"] == "failed":
        events.append((failed_at, "worker", f"Failed: {job['error'] or 'entries failed'}"))
    return sorted(((as_utc(at), who, what) for at, who, what in events), key=lambda e: e[0])


_ACTIONS = {
    "resolve_challenge": "Resolved the challenge (API)",
    "ui_resolve_challenge": "Resolved the challenge",
    "resolve_challenges": "Resolved the challenge (bulk API)",
    "retry_job": "Retried the failed entries (API)",
    "ui_retry_job": "Retried the failed entries",
    "trigger_job": "Asked to process now (API)",
    "ui_trigger_job": "Asked to process now",
}


def recent_ledger(conn: Connection, user_id: int, limit: int = LEDGER_ROWS) -> Sequence[RowMapping]:
    """The user's newest ledger rows. The ledger has no user index (it is written once per
    winner on the hot path), so this walks its primary key backwards until it has `limit`
    rows: quick for a user with recent activity, a scan for one without."""
    t = transactions.c
    return (
        conn.execute(
            select(transactions).where(t.user_id == user_id).order_by(t.id.desc()).limit(limit)
        )
        .mappings()
        .all()
    )


def users_by_id(conn: Connection, user_ids: Collection[int]) -> dict[int, RowMapping]:
    """id -> user row, for labelling entries (one query per page)."""
    if not user_ids:
        return {}
    rows = conn.execute(select(users).where(users.c.id.in_(sorted(set(user_ids))))).mappings()
    return {row["id"]: row for row in rows}


def find_user(conn: Connection, ref: str) -> RowMapping | None:
    """A user by id ("7", "#7") or by exact username."""
    digits = ref.lstrip("#")
    if digits.isdigit() and len(digits) <= 10:
        found = conn.execute(select(users).where(users.c.id == int(digits))).mappings().first()
        if found is not None:
            return found
    return conn.execute(select(users).where(users.c.username == ref)).mappings().first()


@dataclass(frozen=True, slots=True)
class Throughput:
    """Winners paid in each bucket of a window that ends now, oldest bucket first."""

    bucket_seconds: int
    first_bucket_start: datetime
    counts: list[int]

    @property
    def total(self) -> int:
        return sum(self.counts)


# A bucket is final once this long has passed since its end: a batch stamps its ledger rows
# when it starts and commits them a moment later.
SETTLE_SECONDS = 120


class ThroughputCache:
    """Winners paid per bucket over a window, from the ledger (storage.throughput). Final
    buckets are kept, so each call reads only the ledger rows of the last few minutes: the
    day chart costs a day's scan once per process, then a few minutes' rows per call."""

    def __init__(self, window_seconds: int, bucket_seconds: int) -> None:
        self.window_seconds = window_seconds
        self.bucket_seconds = bucket_seconds
        self._final: dict[int, int] = {}
        self._known_before: int | None = None  # buckets below this are all in _final
        self._lock = threading.Lock()

    def read(self, conn: Connection, now: datetime) -> Throughput:
        size = self.bucket_seconds
        moment = int(as_utc(now).timestamp())
        last = moment // size
        first = last - self.window_seconds // size + 1
        settled_before = (moment - SETTLE_SECONDS) // size  # buckets below it are final
        with self._lock:
            start = max(first, self._known_before or first)
            fresh = throughput_sql.paid_per_bucket(
                conn, datetime.fromtimestamp(start * size, UTC), size
            )
            for bucket in range(start, settled_before):
                self._final[bucket] = fresh.get(bucket, 0)
            self._known_before = max(start, settled_before)
            for bucket in [b for b in self._final if b < first]:
                del self._final[bucket]
            counts = [
                self._final[b] if b in self._final else fresh.get(b, 0)
                for b in range(first, last + 1)
            ]
        return Throughput(size, datetime.fromtimestamp(first * size, UTC), counts)
