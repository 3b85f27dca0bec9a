"""Recent progress of the jobs this process was asked about: the samples behind the
smoothed recent rate (domain.timing.smoothed_rate) that the ETA in the status API, the
live events and the admin pages uses.

Each read of a job's status adds a sample (at most one per MIN_GAP_SECONDS per job, the
last KEEP of them), timed by this process's monotonic clock. Another process keeps its
own; a job nobody has looked at for a while has none, and the ETA falls back to the rate
over its whole paying time."""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence

from fastapi import FastAPI
from sqlalchemy import Connection, RowMapping

from payouts.domain.timing import JobTiming, Sample, with_samples
from payouts.domain.vocabulary import ACTIVE_JOB_STATUSES
from payouts.services.monitoring import timings_of
from payouts.storage.clock import utcnow

KEEP = 30
MIN_GAP_SECONDS = 0.5
FORGET_AFTER_SECONDS = 600.0
MAX_JOBS = 2_000


class ProgressSamples:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[uuid.UUID, deque[Sample]] = {}

    def observe(
        self, job_id: uuid.UUID, settled: int, paying: bool, now: float | None = None
    ) -> Sequence[Sample]:
        """Add this reading (unless one was taken moments ago); the job's samples."""
        now = time.monotonic() if now is None else now
        with self._lock:
            samples = self._jobs.get(job_id)
            if samples is None:
                if len(self._jobs) >= MAX_JOBS:
                    self._forget_old(now)
                samples = self._jobs[job_id] = deque(maxlen=KEEP)
            if not samples or now - samples[-1].seconds >= MIN_GAP_SECONDS:
                samples.append(Sample(now, settled, paying))
            return tuple(samples)

    def forget(self, job_id: uuid.UUID) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)

    def _forget_old(self, now: float) -> None:
        stale = [j for j, s in self._jobs.items() if now - s[-1].seconds > FORGET_AFTER_SECONDS]
        for job_id in stale or list(self._jobs)[: MAX_JOBS // 2]:
            del self._jobs[job_id]


def samples_of(app: FastAPI) -> ProgressSamples:
    """The app's store (made on first use)."""
    store: ProgressSamples | None = getattr(app.state, "progress_samples", None)
    if store is None:
        store = app.state.progress_samples = ProgressSamples()
    return store


def timed(app: FastAPI, conn: Connection, rows: Sequence[RowMapping]) -> dict[uuid.UUID, JobTiming]:
    """domain.timing for each job row, active ones with this process's recent samples
    (this reading added)."""
    store = samples_of(app)
    timings = timings_of(conn, rows, utcnow())
    for row in rows:
        job_id = row["id"]
        if row["status"] not in ACTIVE_JOB_STATUSES:
            store.forget(job_id)
            continue
        settled = row["processed_winners"] + row["failed_winners"]
        timing = timings[job_id]
        samples = store.observe(job_id, settled, timing.phase == "paying")
        timings[job_id] = with_samples(timing, samples, row["total_winners"] - settled)
    return timings
