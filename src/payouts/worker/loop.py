"""The worker loop: one step of every active job per round, so small jobs never starve."""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field

from sqlalchemy.exc import DBAPIError

from payouts.config import Settings
from payouts.storage import queue
from payouts.storage.database import Database
from payouts.storage.queue import BatchOutcome, QueuedJob
from payouts.worker import poison
from payouts.worker.poison import PoisonIsolator
from payouts.worker.wakeup import LocalWakeup

log = logging.getLogger("payouts.worker")

_ERROR_BACKOFF_SECONDS = 1.0


@dataclass
class PayoutWorker:
    db: Database
    settings: Settings
    wakeup: LocalWakeup
    name: str = "worker"
    # Where this worker's last batch of each job ended: the next claim starts there instead
    # of rescanning entries already settled. Only a hint: a miss rescans from the start.
    _resume_after: dict[uuid.UUID, int] = field(default_factory=dict)

    def run(self, stop: threading.Event) -> None:
        log.info("%s started (batch size %d)", self.name, self.settings.batch_size)
        while not stop.is_set():
            try:
                busy = self.run_round(stop)
            except Exception:
                log.exception("%s: round failed; retrying", self.name)
                stop.wait(_ERROR_BACKOFF_SECONDS)
                continue
            if not busy:
                self.wakeup.wait(self.settings.worker_interval_seconds)
        log.info("%s stopped", self.name)

    def run_round(self, stop: threading.Event | None = None) -> bool:
        """Advance every active job by one step; True if anything was done."""
        with self.db.read() as conn:
            jobs = queue.active_jobs(conn)
        progressed = False
        for job in jobs:
            if stop is not None and stop.is_set():
                break
            progressed = self.advance(job) or progressed
        live = {job.id for job in jobs}
        for job_id in list(self._resume_after):
            if job_id not in live:
                del self._resume_after[job_id]
        return progressed

    def run_until_idle(self) -> None:
        """Process everything there is now (tests and `payouts worker --once`)."""
        while self.run_round():
            pass

    def advance(self, job: QueuedJob) -> bool:
        if not job.planned:
            self._plan(job)
            return True
        materialised = not job.materialised and self._materialise(job)
        return self._pay(job) or materialised

    def _plan(self, job: QueuedJob) -> None:
        # The read can be long (every winning stake); it takes no write lock.
        with self.db.read() as conn:
            cutoff = queue.compute_cutoff(conn, job)
        with self.db.write() as conn:
            queue.store_plan(conn, job.id, cutoff)
        log.info("job %s planned: %s, %d winners", job.id, job.kind, job.total_winners)

    def _materialise(self, job: QueuedJob) -> bool:
        with self.db.write() as conn:
            locked = queue.lock_for_materialising(conn, job.id)
            if locked is None:
                return False
            queue.materialise_chunk(conn, locked, self.settings.materialise_chunk)
        return True

    def _pay(self, job: QueuedJob) -> bool:
        after = self._resume_after.get(job.id, 0)
        outcome = self._pay_batch(job, after)
        if outcome.claimed == 0 and after:
            outcome = self._pay_batch(job, 0)
        if outcome.claimed == 0:
            return False
        self._resume_after[job.id] = outcome.last_entry_id
        log.info(
            "job %s batch: %d paid, %d failed, %d coins; job %s",
            job.id,
            outcome.paid,
            outcome.failed,
            outcome.paid_amount,
            outcome.job_status,
        )
        return True

    def _pay_batch(self, job: QueuedJob, after: int) -> BatchOutcome:
        try:
            with self.db.write() as conn:
                return queue.pay_batch(conn, job, self.settings.batch_size, after)
        except DBAPIError as exc:
            if not poison.is_poison(exc):
                raise
            log.warning("job %s: a batch failed (%s); isolating the entry", job.id, exc.orig)
            return PoisonIsolator(self.db, self.settings, job).pay_around(
                after, self.settings.batch_size
            )


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
