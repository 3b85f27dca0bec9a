"""Section 1: big jobs. Winners paid per second, resolve to job completed, at the default
batch size, on the same data three ways: payouts as deployed (real processes, resolved
through the HTTP API), the seed's per-winner transactions, and the hand-written floor."""

from __future__ import annotations

import logging
import time
import uuid
from functools import partial
from pathlib import Path

from bench.backends import Backend
from bench.config import BenchConfig
from bench.data import DataSets, check_paid, job_state, opened, resolve
from bench.floor import pay_at_the_floor
from bench.processes import completed, resolve_http, service, wait_for_job
from bench.restarts import surviving_restarts
from bench.results import Row, SectionResult, Target, at_least, row
from bench.seed_algorithm import pay_like_the_seed

SECTION = "1. Big jobs"
log = logging.getLogger("bench")
JOB_TIMEOUT_SECONDS = 3600
# issue 10, at 1,000,000 winners and batch 500: winners/s by (backend, worker processes);
# 0 processes = `payouts serve` with its embedded worker
RATE_TARGETS = {
    ("sqlite", 0): at_least(120_000, "≥ 120,000/s"),
    ("postgres", 1): at_least(50_000, "≥ 50,000/s"),
    ("postgres", 2): at_least(100_000, "≥ 100,000/s"),
}
FLOOR_TARGET = at_least(0.8, "≥ 0.8x")
SEED_TARGET = at_least(20, "≥ 20x")


def payouts_processes(backend: str, config: BenchConfig) -> tuple[int, ...]:
    """How payouts runs on each backend: SQLite as `payouts serve` with its embedded worker
    (0 worker processes), PostgreSQL as `serve --no-worker` plus N `payouts worker`."""
    return (0,) if backend == "sqlite" else config.worker_processes


def payouts_label(processes: int) -> str:
    if processes == 0:
        return "payouts (serve, embedded worker)"
    return f"payouts ({processes} worker process{'es' if processes > 1 else ''})"


def pay_with_payouts(
    url: str, challenge_id: int, *, worker_processes: int, batch: int, log_dir: Path
) -> float:
    """Seconds from sending the resolve to the status endpoint answering `completed`, with
    payouts' processes started and idle beforehand (start-up is not counted)."""
    with service(url, log_dir, worker_processes=worker_processes, batch_size=batch) as client:
        started = time.perf_counter()
        job_id, _ = resolve_http(client, challenge_id)
        wait_for_job(client, job_id, completed, timeout=JOB_TIMEOUT_SECONDS)
        seconds = time.perf_counter() - started
    with opened(url) as db:
        check_paid(db, uuid.UUID(job_id))
    return seconds


def pay_with_floor(url: str, challenge_id: int, batch_size: int) -> float:
    with opened(url) as db:
        resolved = resolve(db, challenge_id)
        pay_at_the_floor(db, resolved.job_id, batch_size)
        seconds = time.perf_counter() - resolved.started
        check_paid(db, resolved.job_id)
    return seconds


def pay_with_seed(url: str, challenge_id: int, batch_size: int, sample: int) -> float:
    """Seconds for the whole job: resolve + the seed's materialising measured, paying
    measured on the first `sample` winners and extrapolated to all of them."""
    with opened(url) as db:
        resolved = resolve(db, challenge_id)
        timing = pay_like_the_seed(db, resolved.job_id, batch_size, sample)
        _, _, winners = job_state(db, resolved.job_id)
        if timing.paid == winners:
            check_paid(db, resolved.job_id)
    return resolved.seconds + timing.job_seconds(winners)


def run(data: DataSets, config: BenchConfig, log_dir: Path) -> SectionResult:
    backend = data.backend
    result = SectionResult()
    batch = config.big_batch
    methods = [f"payouts {n}" for n in payouts_processes(backend.name, config)]
    methods += ["floor", "seed"]
    for winners in config.big_winners:
        data_url, challenge_id = data.demo(winners)
        sample = min(winners, config.seed_sample)
        rates: dict[str, list[float]] = {method: [] for method in methods}
        for run_index in range(config.runs):
            # Rotate the order so drifting machine load hits every method alike.
            shift = run_index % len(methods)
            for method in methods[shift:] + methods[:shift]:
                seconds = surviving_restarts(
                    backend,
                    f"{method} paying {winners} winners",
                    partial(
                        _pay_a_copy, backend, data_url, method, challenge_id, batch, sample, log_dir
                    ),
                )
                rates[method].append(winners / seconds)
                log.info(
                    "%s %s %d winners batch %d: %s %.0f winners/s",
                    SECTION, backend.name, winners, batch, method, winners / seconds,
                )  # fmt: skip
        rows = _rows(backend.name, winners, batch, sample, rates, config)
        result.rows.extend(rows)
        if any(r.verdict == "MISS" and "/ floor" in r.what for r in rows):
            smallest = min(config.big_winners)
            if (smallest, batch) not in result.to_profile:
                result.to_profile.append((smallest, batch))
    return result


def _pay_a_copy(
    backend: Backend,
    data_url: str,
    method: str,
    challenge_id: int,
    batch: int,
    sample: int,
    log_dir: Path,
) -> float:
    url = backend.copy(data_url)
    try:
        if method.startswith("payouts "):
            processes = int(method.split()[1])
            return pay_with_payouts(
                url, challenge_id, worker_processes=processes, batch=batch, log_dir=log_dir
            )
        if method == "floor":
            return pay_with_floor(url, challenge_id, batch)
        return pay_with_seed(url, challenge_id, batch, sample)
    finally:
        backend.drop(url)


def _rows(
    backend: str,
    winners: int,
    batch: int,
    sample: int,
    rates: dict[str, list[float]],
    config: BenchConfig,
) -> list[Row]:
    what = f"{winners:,} winners, batch {batch:,}"
    seed_note = (
        f"paid {sample:,} of {winners:,} winners one transaction each, extrapolated"
        if sample < winners
        else "every winner paid, one transaction each"
    )
    rows = []
    processes = payouts_processes(backend, config)
    for n in processes:
        target: Target | None = RATE_TARGETS.get((backend, n))
        note = "target: issue 10's, at 1,000,000 winners" if target else ""
        rows.append(
            row(SECTION, backend, f"{what}: {payouts_label(n)}", "winners/s", rates[f"payouts {n}"],
                target, note)
        )  # fmt: skip
    rows.append(row(SECTION, backend, f"{what}: floor", "winners/s", rates["floor"]))
    rows.append(
        row(SECTION, backend, f"{what}: seed algorithm", "winners/s", rates["seed"], note=seed_note)
    )
    # The floor and the seed are one payer each: compare them with payouts' one payer.
    single = f"payouts {processes[0]}"
    label = "payouts" if len(processes) == 1 else f"payouts ({processes[0]} process)"
    pairs = list(zip(rates[single], rates["floor"], rates["seed"], strict=True))
    rows.append(
        row(SECTION, backend, f"{what}: {label} / floor", "x", [p / f for p, f, _ in pairs],
            FLOOR_TARGET)
    )  # fmt: skip
    rows.append(
        row(SECTION, backend, f"{what}: {label} / seed", "x", [p / s for p, _, s in pairs],
            SEED_TARGET)
    )  # fmt: skip
    return rows
