"""Is a database copy sound? SQLite's integrity check, the schema revision, and the same
checks as `payouts verify`; and what the copy holds (jobs part-way, and how far)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, func, select

from payouts.domain.vocabulary import ACTIVE_JOB_STATUSES
from payouts.services.verify import find_violations
from payouts.storage import migrate
from payouts.storage.backup import integrity_problems
from payouts.storage.tables import payout_jobs, transactions, users


@dataclass(frozen=True, slots=True)
class JobProgress:
    job_id: str
    status: str
    processed: int
    failed: int
    total: int


@dataclass
class CopyReport:
    problems: list[str] = field(default_factory=list)
    users: int = 0
    ledger_rows: int = 0
    unfinished: list[JobProgress] = field(default_factory=list)

    @property
    def sound(self) -> bool:
        return not self.problems


def check_copy(conn: Connection) -> CopyReport:
    """Everything wrong with the database on `conn` (nothing: sound), and what it holds."""
    report = CopyReport()
    report.problems += [f"integrity: {p}" for p in integrity_problems(conn)]
    if report.problems:
        return report  # a damaged file: the other checks would only add noise
    behind = migrate.schema_behind_on(conn)
    if behind:
        report.problems.append(f"schema: {behind}")
        return report
    report.problems += [str(v) for v in find_violations(conn)]
    report.users = conn.execute(select(func.count()).select_from(users)).scalar_one()
    report.ledger_rows = conn.execute(select(func.count()).select_from(transactions)).scalar_one()
    j = payout_jobs.c
    rows = conn.execute(
        select(j.id, j.status, j.processed_winners, j.failed_winners, j.total_winners)
        .where(j.status.in_(ACTIVE_JOB_STATUSES))
        .order_by(j.created_at)
    )
    report.unfinished = [
        JobProgress(str(r.id), r.status, r.processed_winners, r.failed_winners, r.total_winners)
        for r in rows
    ]
    return report
