"""Section 7 (PostgreSQL): throughput with 1, 2 and 4 `payouts worker` processes on one job,
and a check of what several `payouts worker --once` processes do together. (Issue 10's
rate targets for 1 and 2 processes are in section 1, measured through the HTTP API.)"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from bench.config import BenchConfig
from bench.data import DataSets, check_paid, job_state, opened, resolve
from bench.processes import stop_all, wait_idle, workers
from bench.restarts import surviving_restarts
from bench.results import SectionResult, row

log = logging.getLogger("bench")
SECTION = "7. Scale-out"


def pay_with_processes(url: str, challenge_id: int, count: int, batch: int, log_dir: Path) -> float:
    """Seconds from resolve to completed with `count` worker processes started and idle."""
    started = workers(url, log_dir, count, batch_size=batch)
    try:
        wait_idle(started)
        with opened(url) as db:
            resolved = resolve(db, challenge_id)
            while job_state(db, resolved.job_id)[0] != "completed":
                time.sleep(0.02)
            seconds = time.perf_counter() - resolved.started
            check_paid(db, resolved.job_id)
    finally:
        stop_all(started)
    return seconds


def check_once_together(url: str, challenge_id: int, count: int, batch: int, log_dir: Path) -> str:
    """Start `count` `payouts worker --once` right after resolve; say how it went."""
    with opened(url) as db:
        job_id = resolve(db, challenge_id).job_id
        started = time.perf_counter()
        processes = workers(url, log_dir, count, once=True, batch_size=batch)
        exits: dict[int, tuple[float, str]] = {}  # process index -> (seconds, job status)
        try:
            while len(exits) < count and time.perf_counter() - started < 600:
                for index, process in enumerate(processes):
                    if index not in exits and process.process.poll() is not None:
                        exits[index] = (time.perf_counter() - started, job_state(db, job_id)[0])
                time.sleep(0.05)
        finally:
            stop_all(processes)
        status, processed, total = job_state(db, job_id)
    early = sum(1 for _, job_status in exits.values() if job_status != "completed")
    codes = sorted({p.process.returncode for p in processes})
    seconds = ", ".join(f"{s:.1f}" for s, _ in sorted(exits.values()))
    return (
        f"{count} x `payouts worker --once` started together on a fresh {total:,}-winner job"
        f" exited after {seconds} s (exit codes {codes}); {early} of them exited while the"
        f" job was not yet done, and the job ended `{status}` with {processed:,} of"
        f" {total:,} paid."
    )


def run(data: DataSets, config: BenchConfig, log_dir: Path) -> SectionResult:
    backend = data.backend
    winners = config.scale_out_winners
    batch = config.scale_out_batch
    data_url, challenge_id = data.demo(winners)
    rates: dict[int, list[float]] = {count: [] for count in config.scale_out_workers}
    for _ in range(config.runs):
        for count in config.scale_out_workers:

            def measure(count: int = count) -> float:
                url = backend.copy(data_url)
                try:
                    return pay_with_processes(url, challenge_id, count, batch, log_dir)
                finally:
                    backend.drop(url)

            seconds = surviving_restarts(backend, f"{count} worker processes", measure)
            rates[count].append(winners / seconds)
            log.info(
                "%s %s %d workers: %.0f winners/s", SECTION, backend.name, count, rates[count][-1]
            )
    result = SectionResult()
    for count, values in rates.items():
        result.rows.append(
            row(
                SECTION,
                backend.name,
                f"{winners:,} winners, {count} worker process(es), batch {batch:,}",
                "winners/s",
                values,
            )
        )

    def check_once() -> str:
        url = backend.copy(data_url)
        try:
            count = max(config.scale_out_workers)
            return check_once_together(url, challenge_id, count, batch, log_dir)
        finally:
            backend.drop(url)

    result.notes.append(surviving_restarts(backend, "the --once check", check_once))
    return result
