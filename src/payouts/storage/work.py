"""What work is waiting, and how its arrival is announced.

The work itself lives in three places, each with its own claim:
- queued jobs not planned yet (settled at once when small, planned into slices otherwise);
- payout_slices: ranges of planned jobs' winners still to pay;
- pending payout_entries: failed entries put back by a retry.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

WORK_CHANNEL = "payouts_work"


def announce_work(conn: Connection) -> None:
    """Wake the workers when this transaction commits (PostgreSQL NOTIFY is transactional).
    SQLite workers in other processes notice the commit through PRAGMA data_version."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"NOTIFY {WORK_CHANNEL}"))


@dataclass(frozen=True, slots=True)
class WaitingWork:
    unplanned_jobs: bool  # queued (or mid-planning) jobs without slices or entries
    slices: bool  # ranges of planned jobs still to pay
    pending_entries: bool  # entries a retry put back to pending
    active_jobs: bool  # any job queued or running (work may be held by other workers)
    everything_paused: bool = False  # processing is paused: claim nothing
    some_paused: bool = False  # some job (or everything) is paused

    def __bool__(self) -> bool:
        if self.everything_paused:
            return False
        return self.unplanned_jobs or self.slices or self.pending_entries


# Index probes in one round trip; each stops at its first row. Pending entries have a
# partial index of their own, so that probe never reads settled ones. Work of a paused job
# is not waiting work (the claims skip it); processing_pauses has a handful of rows.
_NOT_PAUSED = """NOT EXISTS (SELECT 1 FROM processing_pauses p
                           WHERE p.job_id IS NULL OR p.job_id = {job})"""
_WAITING_WORK = text(f"""
SELECT
    EXISTS (SELECT 1 FROM payout_jobs
            WHERE status IN ('queued', 'running') AND NOT planned
              AND {_NOT_PAUSED.format(job="payout_jobs.id")}) AS unplanned_jobs,
    EXISTS (SELECT 1 FROM payout_slices s
            WHERE {_NOT_PAUSED.format(job="s.job_id")}) AS slices,
    EXISTS (SELECT 1 FROM payout_entries e WHERE status = 'pending'
              AND {_NOT_PAUSED.format(job="e.job_id")}) AS pending_entries,
    EXISTS (SELECT 1 FROM payout_jobs WHERE status IN ('queued', 'running')) AS active_jobs,
    EXISTS (SELECT 1 FROM processing_pauses WHERE job_id IS NULL) AS everything_paused,
    EXISTS (SELECT 1 FROM processing_pauses) AS some_paused
""")


def waiting_work(conn: Connection) -> WaitingWork:
    row = conn.execute(_WAITING_WORK).one()
    return WaitingWork(
        bool(row.unplanned_jobs),
        bool(row.slices),
        bool(row.pending_entries),
        bool(row.active_jobs),
        bool(row.everything_paused),
        bool(row.some_paused),
    )
