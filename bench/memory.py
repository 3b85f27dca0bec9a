"""Section 6: peak RSS of a `payouts worker --once` process paying a small and a large job.
The kernel's ru_maxrss for that one child (os.wait4), so no other process is counted."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from bench.config import BenchConfig
from bench.data import DataSets, check_paid, opened, resolve
from bench.processes import payouts_env
from bench.restarts import surviving_restarts
from bench.results import SectionResult, at_most, row

log = logging.getLogger("bench")
SECTION = "6. Memory"


def peak_rss_of_worker(url: str, challenge_id: int, log_path: Path) -> float:
    """MiB at the peak of a `payouts worker --once` that pays the resolved challenge."""
    with opened(url) as db:
        job_id = resolve(db, challenge_id).job_id
    with log_path.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "payouts", "worker", "--once"],
            env=payouts_env(url),
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:  # interrupted (Ctrl-C, SIGTERM): don't leave the worker behind
            process.kill()
            process.wait()
            raise
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"payouts worker --once exited {process.returncode}; see {log_path}")
    with opened(url) as db:
        check_paid(db, job_id)
    return usage.ru_maxrss / 1024  # KiB on Linux


def run(data: DataSets, config: BenchConfig, log_dir: Path) -> SectionResult:
    backend = data.backend
    small, large = config.memory_winners
    peaks: dict[int, list[float]] = {small: [], large: []}
    for _ in range(config.runs):
        for winners in (small, large):
            data_url, challenge_id = data.demo(winners)

            def measure(data_url: str = data_url, challenge_id: int = challenge_id) -> float:
                url = backend.copy(data_url)
                try:
                    return peak_rss_of_worker(url, challenge_id, log_dir / "worker-once.log")
                finally:
                    backend.drop(url)

            peaks[winners].append(
                surviving_restarts(backend, f"a worker paying {winners} winners", measure)
            )
            log.info(
                "%s %s %d winners: %.0f MiB", SECTION, backend.name, winners, peaks[winners][-1]
            )
    ratios = [b / a for a, b in zip(peaks[small], peaks[large], strict=True)]
    name = backend.name
    return SectionResult(
        [
            row(SECTION, name, f"worker peak RSS, {small:,} winners", "MiB", peaks[small]),
            row(SECTION, name, f"worker peak RSS, {large:,} winners", "MiB", peaks[large]),
            row(
                SECTION,
                name,
                f"{large:,} / {small:,} winners",
                "x",
                ratios,
                at_most(1.2, "≤ 1.2x (flat)"),
            ),
        ]
    )
