"""A payment that fails on the data (a constraint, a trigger, a value out of range) would fail
the same way forever. The worker pays around it instead: it narrows the failing batch down
to the one winner that fails, pays the others, and counts that winner's failed attempts; at
Settings.max_attempts the winner's entry is failed with the error, instead of being retried
without end. An operator fixes the cause and retries the job.

- A slice is split in halves (persisted: the halves are slices of their own, in its place
  in line), down to one winner.
- Pending entries (after a retry) are paid in halves, down to one entry.

Connection, lock and deadlock errors (OperationalError, storage.database.is_transient) are
not the data's fault: they are raised to the worker loop, which backs off and tries again,
and count no attempt.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from payouts.config import Settings
from payouts.domain.payout_math import ExtraCoinCutoff, payout_amount
from payouts.storage import entries, slices
from payouts.storage.database import Database, is_transient
from payouts.storage.entries import RetriedJob
from payouts.storage.progress import JobBatch
from payouts.storage.slices import ClaimedSlice

log = logging.getLogger("payouts.worker")

_MAX_ERROR = 500
_POISON_SQLSTATE_CLASSES = ("22", "23", "P0")


def is_poison(exc: BaseException) -> bool:
    """A database error caused by the data being paid (a constraint, a trigger, a value out
    of range): retrying the same winners hits it again. A ProgrammingError (bad SQL, a
    missing table or column: a broken deploy) is not the data's fault: failing every
    winner for it would be wrong, so it is raised to the loop like any other error."""
    if not isinstance(exc, DBAPIError) or is_transient(exc):
        return False
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate:  # PostgreSQL: data exception, integrity violation, a trigger's RAISE
        return str(sqlstate)[:2] in _POISON_SQLSTATE_CLASSES
    return isinstance(exc, IntegrityError | DataError)  # SQLite: RAISE(ABORT) is one too


def error_text(exc: DBAPIError) -> str:
    lines = str(exc.orig).strip().splitlines() or [type(exc.orig).__name__]
    return lines[0][:_MAX_ERROR]


def narrow_slice(
    conn: Connection, claimed: ClaimedSlice, error: str, max_attempts: int
) -> JobBatch | None:
    """The claimed slice failed with `error`: split it, or count its one winner's attempt
    (failing that winner at `max_attempts`: then the job after it)."""
    stakes = slices.winning_stakes(conn, claimed)
    if len(stakes) > 1:
        middle_user_id = stakes[len(stakes) // 2 - 1][0]
        slices.split_slice(conn, claimed, middle_user_id)
        log.warning(
            "job %s: users %d-%d failed to pay (%s); splitting after user %d",
            claimed.job_id,
            claimed.first_user_id,
            claimed.last_user_id,
            error,
            middle_user_id,
        )
        return None
    attempts = slices.count_failed_attempt(conn, claimed, error)
    if not stakes:
        return None  # nobody left in the range: nothing to pay
    if attempts < max_attempts:
        log.warning("job %s: paying user %d failed (%s)", claimed.job_id, stakes[0][0], error)
        return None
    user_id, stake = stakes[0]
    cutoff = (
        None
        if claimed.cutoff_remainder is None or claimed.cutoff_user_id is None
        else ExtraCoinCutoff(claimed.cutoff_remainder, claimed.cutoff_user_id)
    )
    amount = payout_amount(claimed.winner_pool, stake, claimed.winning_total, user_id, cutoff)
    log.warning(
        "job %s: paying user %d failed (%s); failed after %d attempts",
        claimed.job_id,
        user_id,
        error,
        attempts,
    )
    return slices.fail_winner(conn, claimed, user_id, amount, attempts, error)


class PendingEntriesIsolator:
    """Settles a batch of pending entries in halves, down to the entry that fails."""

    def __init__(self, db: Database, settings: Settings, job: RetriedJob) -> None:
        self.db = db
        self.settings = settings
        self.job = job
        self.batches: list[JobBatch] = []

    def pay_around(self, size: int) -> list[JobBatch]:
        """Settle the job's first `size` pending entries, isolating the ones that fail."""
        with self.db.read() as conn:
            ids = entries.pending_entry_ids(conn, self.job.job_id, 0, size)
        self._settle(ids)
        return self.batches

    def _settle(self, ids: list[int]) -> None:
        if not ids:
            return
        if len(ids) == 1:
            self._settle_one(ids[0])
            return
        try:
            with self.db.write() as conn:
                self._add(entries.pay_pending_entries(conn, self.job, len(ids), ids[0] - 1))
        except DBAPIError as exc:
            if not is_poison(exc):
                raise
            middle = len(ids) // 2
            self._settle(ids[:middle])
            self._settle(ids[middle:])

    def _settle_one(self, entry_id: int) -> None:
        try:
            with self.db.write() as conn:
                if entries.lock_pending_entry(conn, self.job.job_id, entry_id):
                    self._add(entries.pay_pending_entries(conn, self.job, 1, entry_id - 1))
            return
        except DBAPIError as exc:
            if not is_poison(exc):
                raise
            error = error_text(exc)
        with self.db.write() as conn:
            failed = entries.record_failed_attempt(
                conn, self.job.job_id, entry_id, error, self.settings.max_attempts
            )
        self._add(failed)
        log.warning(
            "job %s entry %d: payment failed (%s)%s",
            self.job.job_id,
            entry_id,
            error,
            f"; failed after {self.settings.max_attempts} attempts" if failed else "",
        )

    def _add(self, batch: JobBatch | None) -> None:
        if batch is not None:
            self.batches.append(batch)
