"""A batch that fails on the data (a constraint, a trigger, a value out of range) would fail
the same way forever. Pay its entries in halves instead, down to single entries, so the rest
get paid and the bad one is found; each failure of that entry counts one attempt, and at
Settings.max_attempts it is failed with the error instead of being retried without end.

Connection, lock and deadlock errors (OperationalError, storage.database.is_transient) are
not the data's fault: they are raised to the worker loop, which backs off and tries again,
and count no attempt.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import DBAPIError, OperationalError

from payouts.config import Settings
from payouts.storage import queue
from payouts.storage.database import Database, is_transient
from payouts.storage.queue import BatchOutcome, QueuedJob

log = logging.getLogger("payouts.worker")

_MAX_ERROR = 500


def is_poison(exc: BaseException) -> bool:
    """A database error that retrying the same entries will hit again."""
    return (
        isinstance(exc, DBAPIError)
        and not isinstance(exc, OperationalError)
        and not is_transient(exc)
    )


def error_text(exc: DBAPIError) -> str:
    lines = str(exc.orig).strip().splitlines() or [type(exc.orig).__name__]
    return lines[0][:_MAX_ERROR]


class PoisonIsolator:
    def __init__(self, db: Database, settings: Settings, job: QueuedJob) -> None:
        self.db = db
        self.settings = settings
        self.job = job
        self.paid = 0
        self.failed = 0
        self.paid_amount = 0

    def pay_around(self, after: int, size: int) -> BatchOutcome:
        """Settle the `size` pending entries after `after`, isolating the ones that fail."""
        with self.db.read() as conn:
            ids = queue.pending_entry_ids(conn, self.job.id, after, size)
        self._settle(ids)
        last = ids[-1] if ids else after
        return BatchOutcome(len(ids), self.paid, self.failed, self.paid_amount, last, None)

    def _settle(self, ids: list[int]) -> None:
        if not ids:
            return
        if len(ids) == 1:
            self._settle_one(ids[0])
            return
        try:
            with self.db.write() as conn:
                self._add(queue.pay_batch(conn, self.job, len(ids), ids[0] - 1))
        except DBAPIError as exc:
            if not is_poison(exc):
                raise
            middle = len(ids) // 2
            self._settle(ids[:middle])
            self._settle(ids[middle:])

    def _settle_one(self, entry_id: int) -> None:
        try:
            with self.db.write() as conn:
                if queue.lock_pending_entry(conn, self.job.id, entry_id):
                    self._add(queue.pay_batch(conn, self.job, 1, entry_id - 1))
            return
        except DBAPIError as exc:
            if not is_poison(exc):
                raise
            error = error_text(exc)
        with self.db.write() as conn:
            failed = queue.record_failed_attempt(
                conn, self.job, entry_id, error, self.settings.max_attempts
            )
        self.failed += failed
        log.warning(
            "job %s entry %d: payment failed (%s)%s",
            self.job.id,
            entry_id,
            error,
            f"; failed after {self.settings.max_attempts} attempts" if failed else "",
        )

    def _add(self, outcome: BatchOutcome) -> None:
        self.paid += outcome.paid
        self.failed += outcome.failed
        self.paid_amount += outcome.paid_amount
