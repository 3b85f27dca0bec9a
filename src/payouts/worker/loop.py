"""The worker loop. Each round looks at what is waiting (one query) and does one step of
each kind of work, so no kind waits behind another:
1. settle a batch of small queued jobs, many jobs in one transaction;
2. plan the next big job (its extra-coin cutoff and its slices);
3. pay the next slice of a big job (slices of jobs planned together take turns);
4. pay a batch of entries a retry put back to pending.
Every step is one transaction (planning: a short one to show the job running, then the
plan), begun and ended here; a step that fails rolls back whole and is tried again.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy.exc import DBAPIError

from payouts.config import Settings
from payouts.storage import entries, planning, progress, slices, small_jobs
from payouts.storage.database import Database, is_transient, is_unwritable
from payouts.storage.planning import UnplannedJob
from payouts.storage.progress import JobBatch
from payouts.storage.work import WaitingWork, waiting_work
from payouts.telemetry.metrics import PayoutMetrics
from payouts.worker import journal
from payouts.worker.housekeeping import Housekeeping, chores_for
from payouts.worker.poison import PendingEntriesIsolator, error_text, is_poison, narrow_slice
from payouts.worker.wakeup import LocalWakeup

log = logging.getLogger("payouts.worker")

_ERROR_BACKOFF_SECONDS = 1.0
_TRANSIENT_BACKOFF_SECONDS = 0.2
_BLOCKED_POLL_SECONDS = 0.1
# While something is paused, an idle worker looks again this often (a resume wakes it at
# once anyway): not 10 times a second for work that nobody may take.
_PAUSED_POLL_SECONDS = 1.0
_WRITER_TURN_SECONDS = 0.005
_WRITER_TURN_POLL_SECONDS = 0.0001
# While a worker pays slices it looks for other work this often, not before every slice:
# a small job resolved meanwhile waits at most this long, plus one slice.
_LOOK_AGAIN_SECONDS = 0.02
_ONLY_SLICES = WaitingWork(
    unplanned_jobs=False, slices=True, pending_entries=False, active_jobs=True
)


@dataclass
class PayoutWorker:
    db: Database
    settings: Settings
    wakeup: LocalWakeup
    name: str = "worker"
    metrics: PayoutMetrics = field(default_factory=PayoutMetrics)
    housekeeping: Housekeeping = field(init=False)
    _jobs_active: bool = False  # at the last look: some job queued or running
    _paying_slices: bool = False  # the last round paid a slice: more are likely
    _looked_at: float = -1.0  # time.monotonic() of the last look at the waiting work
    _last_look: WaitingWork | None = None

    def __post_init__(self) -> None:
        self.housekeeping = Housekeeping(self.db, chores_for(self.settings))

    def run(self, stop: threading.Event) -> None:
        log.info("%s started (batch size %d)", self.name, self.settings.batch_size)
        while not stop.is_set():
            self.metrics.heartbeat(self.name)
            try:
                busy = self.run_round(stop)
            except Exception as exc:
                # The failed step rolled back: nothing of it is paid, and it is claimable
                # again. Lost connections, restarts and deadlocks are expected; retry soon.
                if is_transient(exc):
                    log.warning("%s: transient database error, retrying: %s", self.name, exc)
                    stop.wait(_TRANSIENT_BACKOFF_SECONDS)
                elif is_unwritable(exc):  # disk full, read-only: until an operator fixes it
                    log.warning("%s: database cannot be written, retrying: %s", self.name, exc)
                    stop.wait(_ERROR_BACKOFF_SECONDS)
                else:
                    log.exception("%s: round failed; retrying", self.name)
                    stop.wait(_ERROR_BACKOFF_SECONDS)
                continue
            self._do_housekeeping(stop)
            if not busy:
                # Work that other workers hold right now (planning, the last slices) frees
                # up within moments: look again soon, not at the sweep.
                self.wakeup.wait(self._idle_seconds())
        log.info("%s stopped", self.name)

    def _idle_seconds(self) -> float:
        if self._last_look is not None and self._last_look.some_paused:
            return min(_PAUSED_POLL_SECONDS, self.settings.worker_interval_seconds)
        if self._jobs_active:
            return _BLOCKED_POLL_SECONDS
        return self.settings.worker_interval_seconds

    def _do_housekeeping(self, stop: threading.Event) -> None:
        if stop.is_set() or not self.housekeeping.due():
            return
        try:
            self.housekeeping.run_due()
        except Exception:  # a chore that fails is tried again at its next turn
            log.exception("%s: housekeeping failed", self.name)

    def run_round(self, stop: threading.Event | None = None) -> bool:
        """One step of each kind of waiting work; True if anything was done. Work of paused
        jobs is not waiting work, and the claims skip it too (storage/pauses.py)."""
        work = self._waiting_work()
        progressed = False
        if work.everything_paused:
            self._paying_slices = False
            return False
        if work.unplanned_jobs:
            progressed = self._settle_small_jobs()
            if not self._stopping(stop):
                progressed = self._plan_next_job() or progressed
        # a job planned just now has slices too
        self._paying_slices = (
            (work.slices or progressed) and not self._stopping(stop) and self._pay_next_slice()
        )
        progressed = progressed or self._paying_slices
        if work.pending_entries and not self._stopping(stop):
            progressed = self._pay_pending_entries() or progressed
        return progressed

    @staticmethod
    def _stopping(stop: threading.Event | None) -> bool:
        return stop is not None and stop.is_set()

    def _waiting_work(self) -> WaitingWork:
        """What is waiting; while only slices were, and the last round paid one, the same
        answer for _LOOK_AGAIN_SECONDS without asking the database before every slice."""
        now = time.monotonic()
        if (
            self._last_look == _ONLY_SLICES
            and self._paying_slices
            and now - self._looked_at < _LOOK_AGAIN_SECONDS
        ):
            return _ONLY_SLICES
        with self.db.read() as conn:
            work = waiting_work(conn)
        self._looked_at, self._last_look = now, work
        self._jobs_active = work.active_jobs
        return work

    def run_until_idle(self) -> None:
        """Work until no job is queued or running, or what is left is paused (tests and
        `payouts worker --once`)."""
        while True:
            if self.run_round():
                continue
            if not self._jobs_active or (
                self._last_look is not None and self._last_look.some_paused
            ):
                return
            time.sleep(_BLOCKED_POLL_SECONDS)  # the rest is held by other workers

    # --- 1. small jobs ------------------------------------------------------------------

    def _settle_small_jobs(self) -> bool:
        began = time.perf_counter()
        try:
            with self.db.write() as conn:
                batches = small_jobs.settle_small_jobs(conn, self.settings.batch_size)
        except DBAPIError as exc:
            if not is_poison(exc):
                raise
            return self._plan_small_jobs_instead(exc)
        self._committed(batches, began)
        return bool(batches)

    def _plan_small_jobs_instead(self, exc: DBAPIError) -> bool:
        """Settling small jobs together failed on the data: plan each of them as a slice of
        its own, where a failing winner can be isolated without holding up the others."""
        log.warning("%s: settling small jobs failed (%s); planning them", self.name, exc.orig)
        with self.db.write() as conn:
            jobs = small_jobs.claim_small_jobs(conn, self.settings.batch_size)
            started = [job for job in jobs if progress.mark_running(conn, job.job_id)]
            for job in jobs:
                plan = planning.read_plan(conn, job, self.settings.batch_size)
                planning.store_plan(conn, job, plan)
        for job in started:
            journal.job_started(self.name, job)
        return bool(jobs)

    # --- 2. planning --------------------------------------------------------------------

    def _plan_next_job(self) -> bool:
        """Plan the first big job waiting for a plan; False if there is none free."""
        if self.db.is_postgres:
            return self._plan_next_job_postgres()
        with self.db.read() as conn:
            job = planning.next_to_plan(conn, self.settings.batch_size)
        if job is None:
            return False
        self._show_running(job)
        # SQLite has one writer: read the plan without holding the write lock (a read over
        # every winning stake), then store it. Two workers may read the same plan; the
        # first to store it wins, and the other's store changes nothing.
        with self.db.read() as conn:
            plan = planning.read_plan(conn, job, self.settings.batch_size)
        with self.db.write() as conn:
            stored = planning.store_plan(conn, job, plan)
        if stored:
            self._planned(job, plan)
        return True

    def _plan_next_job_postgres(self) -> bool:
        with self.db.write() as conn:
            job = planning.next_to_plan(conn, self.settings.batch_size)
            started = job is not None and progress.mark_running(conn, job.job_id)
        if job is None:
            return False
        if started:
            journal.job_started(self.name, job)
        # The job's row lock, held while planning, makes one worker read the stakes, once;
        # no batch of it can be waiting on that lock, since it has no slices yet.
        with self.db.write() as conn:
            if not planning.lock_for_planning(conn, job.job_id):
                return True  # planned meanwhile, or another worker is planning it
            plan = planning.read_plan(conn, job, self.settings.batch_size)
            planning.store_plan(conn, job, plan)
        self._planned(job, plan)
        return True

    def _show_running(self, job: UnplannedJob) -> None:
        # Planning a million winners takes a moment: show the job running meanwhile.
        if job.status != "queued":
            return
        with self.db.write() as conn:
            started = progress.mark_running(conn, job.job_id)
        if started:
            journal.job_started(self.name, job)

    def _planned(self, job: UnplannedJob, plan: planning.Plan) -> None:
        if plan.winners != job.total_winners:
            with self.db.read() as conn:
                failed = progress.job_batch(conn, job.job_id)
            journal.job_settled(self.name, failed)
        else:
            log.info(
                "job %s planned: %d winners in %d slices (%s)",
                job.job_id,
                plan.winners,
                len(plan.slices),
                self.name,
            )

    # --- 3. slices ----------------------------------------------------------------------

    def _pay_next_slice(self) -> bool:
        began = time.perf_counter()
        try:
            with self.db.write() as conn:
                batch = slices.pay_next_slice(conn)
        except DBAPIError as exc:
            if not is_poison(exc):
                raise
            return self._pay_slice_around_poison()
        if batch is None:
            return False
        self._committed([batch], began)
        return True

    def _pay_slice_around_poison(self) -> bool:
        """Claim the first slice again and try it alone: if it fails on the data again,
        split it (or count its one winner's attempt) in the same transaction."""
        began = time.perf_counter()
        with self.db.write() as conn:
            claimed = slices.claim_slice(conn)
            if claimed is None:
                return False
            batch: JobBatch | None
            try:
                with conn.begin_nested():
                    batch = slices.pay_slice(conn, claimed)
            except DBAPIError as exc:
                if not is_poison(exc):
                    raise
                batch = narrow_slice(conn, claimed, error_text(exc), self.settings.max_attempts)
        if batch is not None:
            self._committed([batch], began)
        return True

    # --- 4. pending entries (retries) ---------------------------------------------------

    def _pay_pending_entries(self) -> bool:
        with self.db.read() as conn:
            job = entries.job_with_pending_entries(conn)
        if job is None:
            return False
        began = time.perf_counter()
        try:
            with self.db.write() as conn:
                batch = entries.pay_pending_entries(conn, job, self.settings.batch_size)
        except DBAPIError as exc:
            if not is_poison(exc):
                raise
            log.warning("job %s: a batch failed (%s); isolating the entry", job.job_id, exc.orig)
            isolated = PendingEntriesIsolator(self.db, self.settings, job)
            self._committed(isolated.pay_around(self.settings.batch_size), began)
            return True
        if batch is None:
            return False
        self._committed([batch], began)
        return True

    # --- after each commit ----------------------------------------------------------------

    def _committed(self, batches: list[JobBatch], began: float) -> None:
        if not batches:
            return
        seconds = time.perf_counter() - began
        self.metrics.batch_committed(batches, seconds)
        journal.transaction_committed(self.name, batches, seconds)
        self._let_writers_in()

    def _let_writers_in(self) -> None:
        # SQLite has one writer at a time, and a worker that writes again the moment it
        # commits could keep an admin's resolve waiting: when another thread of this process
        # waits to write, step aside until it has its turn (a few milliseconds at most).
        deadline = time.monotonic() + _WRITER_TURN_SECONDS
        while self.db.writers_waiting and time.monotonic() < deadline:
            time.sleep(_WRITER_TURN_POLL_SECONDS)


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
