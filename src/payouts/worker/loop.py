"""The worker loop: one step of every active job per round, so small jobs never starve."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field

from sqlalchemy import RowMapping
from sqlalchemy.exc import DBAPIError

from payouts.config import Settings
from payouts.metrics import PayoutMetrics
from payouts.storage import queue
from payouts.storage.database import Database, is_transient
from payouts.storage.queue import BatchOutcome, QueuedJob
from payouts.worker import journal, poison
from payouts.worker.poison import PoisonIsolator
from payouts.worker.wakeup import LocalWakeup

log = logging.getLogger("payouts.worker")

_ERROR_BACKOFF_SECONDS = 1.0
_TRANSIENT_BACKOFF_SECONDS = 0.2
_BLOCKED_POLL_SECONDS = 0.1
_SQLITE_WRITER_GAP_SECONDS = 0.0005


@dataclass
class PayoutWorker:
    db: Database
    settings: Settings
    wakeup: LocalWakeup
    name: str = "worker"
    metrics: PayoutMetrics = field(default_factory=PayoutMetrics)
    # Where this worker's last batch of each job ended: the next claim starts there instead
    # of rescanning entries already settled. Only a hint: a miss rescans from the start.
    _resume_after: dict[uuid.UUID, int] = field(default_factory=dict)
    _jobs_in_last_round: int = 0
    _progressed_last_round: bool = False

    def run(self, stop: threading.Event) -> None:
        log.info("%s started (batch size %d)", self.name, self.settings.batch_size)
        while not stop.is_set():
            self.metrics.heartbeat(self.name)
            try:
                busy = self.run_round(stop)
            except Exception as exc:
                # The failed batch rolled back: nothing of it is paid, and it is claimable
                # again. Lost connections, restarts and deadlocks are expected; retry soon.
                if is_transient(exc):
                    log.warning("%s: transient database error, retrying: %s", self.name, exc)
                    stop.wait(_TRANSIENT_BACKOFF_SECONDS)
                else:
                    log.exception("%s: round failed; retrying", self.name)
                    stop.wait(_ERROR_BACKOFF_SECONDS)
                continue
            if not busy:
                # Jobs that other workers hold right now (planning, materialising, all
                # entries claimed) free up within moments: look again soon, not at the sweep.
                self.wakeup.wait(
                    _BLOCKED_POLL_SECONDS
                    if self._jobs_in_last_round
                    else self.settings.worker_interval_seconds
                )
        log.info("%s stopped", self.name)

    def run_round(self, stop: threading.Event | None = None) -> bool:
        """Advance every active job by one step; True if anything was done."""
        with self.db.read() as conn:
            jobs = queue.active_jobs(conn)
        self._jobs_in_last_round = len(jobs)
        progressed = False
        for job in jobs:
            if stop is not None and stop.is_set():
                break
            progressed = self.advance(job) or progressed
        self._progressed_last_round = progressed
        live = {job.id for job in jobs}
        for job_id in list(self._resume_after):
            if job_id not in live:
                del self._resume_after[job_id]
        return progressed

    def run_until_idle(self) -> None:
        """Work until no job is queued or running (tests and `payouts worker --once`)."""
        while self.run_round() or self._jobs_in_last_round:
            if not self._progressed_last_round:
                time.sleep(_BLOCKED_POLL_SECONDS)

    def advance(self, job: QueuedJob) -> bool:
        if not job.planned:
            return self._plan(job)
        materialised = not job.materialised and self._materialise(job)
        if materialised:
            self._let_writers_in()
        paid = self._pay(job)
        if paid:
            self._let_writers_in()
        return paid or materialised

    def _let_writers_in(self) -> None:
        # SQLite has one write lock and no queue for it: a worker that takes it again the
        # moment it commits keeps an admin's resolve waiting. A half-millisecond pause after
        # each write lets a waiting writer in (a few % of a 500-entry batch's time).
        if self.db.is_sqlite:
            time.sleep(_SQLITE_WRITER_GAP_SECONDS)

    def _plan(self, job: QueuedJob) -> bool:
        """Plan the job; False if another worker is planning it."""
        # Show the job running at once: planning a million winners takes seconds.
        with self.db.write() as conn:
            started = queue.mark_running(conn, job.id)
        if started:
            journal.job_started(self.name, job)
        if self.db.is_postgres:
            # Lock the job so that of several workers one reads the stakes, once.
            with self.db.write() as conn:
                if queue.lock_for_planning(conn, job.id) is None:
                    return False
                queue.store_plan(conn, job.id, queue.compute_cutoff(conn, job))
        else:
            # SQLite has one writer at a time: read without holding it (a long read
            # over every winning stake), then store. A duplicate plan is identical.
            with self.db.read() as conn:
                cutoff = queue.compute_cutoff(conn, job)
            with self.db.write() as conn:
                queue.store_plan(conn, job.id, cutoff)
        return True

    @property
    def _materialise_chunk(self) -> int:
        return materialise_chunk_size(self.db, self.settings)

    def _materialise(self, job: QueuedJob) -> bool:
        with self.db.write() as conn:
            locked = queue.lock_for_materialising(conn, job.id)
            if locked is None:
                return False
            inserted = queue.materialise_chunk(conn, locked, self._materialise_chunk)
            settled = None if inserted else journal.settled_job(conn, job.id)  # the last call
        if settled is not None:
            journal.job_settled(self.name, settled)
        return True

    def _pay(self, job: QueuedJob) -> bool:
        after = self._resume_after.get(job.id, 0)
        outcome = self._pay_batch(job, after)
        if outcome.claimed == 0 and after and job.materialised:
            # Entries below the hint can be pending again (a crashed worker's batch, a
            # retry). Rescan once the job's entries all exist; before that, the empty
            # claim only means paying has caught up with materialising.
            outcome = self._pay_batch(job, 0)
        if outcome.claimed == 0:
            return False
        self._resume_after[job.id] = outcome.last_entry_id
        return True

    def _pay_batch(self, job: QueuedJob, after: int) -> BatchOutcome:
        began = time.perf_counter()
        try:
            with self.db.write() as conn:
                outcome = queue.pay_batch(conn, job, self.settings.batch_size, after)
                settled = journal.settled_by_batch(conn, job.id, outcome)
        except DBAPIError as exc:
            if not poison.is_poison(exc):
                raise
            outcome, settled = self._pay_around_poison(job, after, exc)
        if outcome.claimed:
            seconds = time.perf_counter() - began
            self.metrics.batch_committed(job, outcome, seconds)
            journal.batch_paid(self.name, job, outcome, seconds)
        if settled is not None:
            journal.job_settled(self.name, settled)
        return outcome

    def _pay_around_poison(
        self, job: QueuedJob, after: int, exc: DBAPIError
    ) -> tuple[BatchOutcome, RowMapping | None]:
        log.warning("job %s: a batch failed (%s); isolating the entry", job.id, exc.orig)
        isolator = PoisonIsolator(self.db, self.settings, job)
        outcome = isolator.pay_around(after, self.settings.batch_size)
        with self.db.read() as conn:
            return outcome, journal.settled_job(conn, job.id)


def materialise_chunk_size(db: Database, settings: Settings) -> int:
    """Winners per materialising transaction: the setting, or the backend's default."""
    return settings.materialise_chunk or (5_000 if db.is_sqlite else 20_000)


class WorkerThread:
    """A worker running in a background thread of this process (the embedded worker)."""

    def __init__(self, worker: PayoutWorker) -> None:
        self.worker = worker
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=worker.run, args=(self._stop,), name=worker.name, daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self.worker.wakeup.notify()
        self._thread.join(timeout)
