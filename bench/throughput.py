"""Section 1: winners paid per second, resolve to job completed, three ways on the same data:
payouts' real worker, the seed's per-winner transactions, and the hand-written floor."""

from __future__ import annotations

import logging
import time
from functools import partial

from bench.backends import Backend
from bench.config import BenchConfig
from bench.data import DataSets, check_paid, job_state, opened, resolve
from bench.floor import pay_at_the_floor
from bench.restarts import surviving_restarts
from bench.results import Row, SectionResult, at_least, row
from bench.seed_algorithm import pay_like_the_seed
from payouts.config import Settings
from payouts.worker.loop import PayoutWorker, materialise_chunk_size
from payouts.worker.wakeup import LocalWakeup

SECTION = "1. Payout throughput"
log = logging.getLogger("bench")
METHODS = ("payouts", "floor", "seed")


def worker_settings(url: str, batch_size: int) -> Settings:
    return Settings(database_url=url, batch_size=batch_size, embedded_worker=False)


def pay_with_payouts(url: str, challenge_id: int, batch_size: int) -> float:
    """Seconds from resolve to completed, PayoutWorker.run_until_idle in this process
    (what `payouts worker --once` runs), with its plan, materialise and pay steps."""
    with opened(url) as db:
        resolved = resolve(db, challenge_id)
        PayoutWorker(db, worker_settings(url, batch_size), LocalWakeup()).run_until_idle()
        seconds = time.perf_counter() - resolved.started
        check_paid(db, resolved.job_id)
    return seconds


def pay_with_floor(url: str, challenge_id: int, batch_size: int) -> float:
    with opened(url) as db:
        resolved = resolve(db, challenge_id)
        pay_at_the_floor(db, resolved.job_id, batch_size)
        seconds = time.perf_counter() - resolved.started
        check_paid(db, resolved.job_id)
    return seconds


def pay_with_seed(url: str, challenge_id: int, batch_size: int, sample: int) -> float:
    """Seconds for the whole job: resolve + materialise (payouts' code) measured, paying
    measured on the first `sample` winners and extrapolated to all of them."""
    with opened(url) as db:
        resolved = resolve(db, challenge_id)
        chunk = materialise_chunk_size(db, worker_settings(url, batch_size))
        timing = pay_like_the_seed(db, resolved.job_id, batch_size, sample, chunk)
        _, _, winners = job_state(db, resolved.job_id)
        if timing.paid == winners:
            check_paid(db, resolved.job_id)
    return resolved.seconds + timing.job_seconds(winners)


def run(data: DataSets, config: BenchConfig) -> SectionResult:
    backend = data.backend
    result = SectionResult()
    for winners in config.throughput_winners:
        data_url, challenge_id = data.demo(winners)
        sample = min(winners, config.seed_sample)
        for batch in config.batch_sizes:
            rates: dict[str, list[float]] = {method: [] for method in METHODS}
            for run_index in range(config.runs):
                # Rotate the order so drifting machine load hits every method alike.
                order = METHODS[run_index % 3 :] + METHODS[: run_index % 3]
                for method in order:
                    seconds = surviving_restarts(
                        backend,
                        f"{method} paying {winners} winners",
                        partial(
                            _pay_a_copy, backend, data_url, method, challenge_id, batch, sample
                        ),
                    )
                    rates[method].append(winners / seconds)
                    log.info(
                        "%s %s %d winners batch %d: %s %.0f winners/s",
                        SECTION,
                        backend.name,
                        winners,
                        batch,
                        method,
                        winners / seconds,
                    )
            rows = _rows(backend.name, winners, batch, sample, rates)
            result.rows.extend(rows)
            if any(r.verdict == "MISS" for r in rows):
                smallest = min(config.throughput_winners)
                if (smallest, batch) not in result.to_profile:
                    result.to_profile.append((smallest, batch))
    return result


def _pay_a_copy(
    backend: Backend, data_url: str, method: str, challenge_id: int, batch: int, sample: int
) -> float:
    url = backend.copy(data_url)
    try:
        return _pay(method, url, challenge_id, batch, sample)
    finally:
        backend.drop(url)


def _pay(method: str, url: str, challenge_id: int, batch: int, sample: int) -> float:
    if method == "payouts":
        return pay_with_payouts(url, challenge_id, batch)
    if method == "floor":
        return pay_with_floor(url, challenge_id, batch)
    return pay_with_seed(url, challenge_id, batch, sample)


def _rows(
    backend: str, winners: int, batch: int, sample: int, rates: dict[str, list[float]]
) -> list[Row]:
    what = f"{winners:,} winners, batch {batch:,}"
    seed_note = (
        f"paid {sample:,} of {winners:,} winners one transaction each, extrapolated"
        if sample < winners
        else "every winner paid, one transaction each"
    )
    pairs = list(zip(rates["payouts"], rates["floor"], rates["seed"], strict=True))
    return [
        row(SECTION, backend, f"{what}: payouts", "winners/s", rates["payouts"]),
        row(SECTION, backend, f"{what}: floor", "winners/s", rates["floor"]),
        row(
            SECTION, backend, f"{what}: seed algorithm", "winners/s", rates["seed"], note=seed_note
        ),
        row(
            SECTION,
            backend,
            f"{what}: payouts / floor",
            "x",
            [p / f for p, f, _ in pairs],
            at_least(0.8, "≥ 0.8x"),
        ),
        row(
            SECTION,
            backend,
            f"{what}: payouts / seed",
            "x",
            [p / s for p, _, s in pairs],
            at_least(20, "≥ 20x"),
        ),
    ]
