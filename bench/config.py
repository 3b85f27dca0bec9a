"""How big each measurement is, per mode. `full` is the issues'; `quick` fits in 10-15
minutes on 2 cores; `tiny` is for the smoke test (it proves the code runs, not how fast)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BenchConfig:
    mode: str
    runs: int  # repetitions of every measurement; figures are medians over these
    # 1. Big jobs
    big_winners: tuple[int, ...]
    big_batch: int  # PAYOUTS_BATCH_SIZE for payouts, and the baselines' batch
    worker_processes: tuple[int, ...]  # `payouts worker` processes on PostgreSQL
    seed_sample: int  # winners the seed's algorithm pays before its rate is extrapolated
    # 2. Match day
    matchday_jobs: int  # small jobs queued at once and settled by the workers
    matchday_players: int  # the shared pool the small challenges' players come from
    burst_resolves: int  # resolves sent by the burst's clients
    burst_clients: int  # concurrent resolving clients (a further one places stakes)
    bulk_items: int  # results in one bulk-resolve request
    # 3.-5. Latency
    # (winners per challenge, challenges resolved per run)
    resolve_sizes: tuple[tuple[int, int], ...]
    background_winners: int  # the job a worker is paying during the latency measurements
    time_to_paid_challenges: int
    pollers: int
    poll_seconds: float
    paced_poll_interval: float  # the seed's admin UI polls every 2 seconds
    # 6. Memory, 7. Scale-out
    memory_winners: tuple[int, int]  # (small, large)
    scale_out_winners: int
    scale_out_workers: tuple[int, ...]
    scale_out_batch: int

    @staticmethod
    def losers(winners: int) -> int:
        """Losers only feed the pool; a tenth of the winners keeps set-up short."""
        return max(1, winners // 10)


FULL = BenchConfig(
    mode="full",
    runs=3,
    big_winners=(100_000, 1_000_000),
    big_batch=500,
    worker_processes=(1, 2),
    seed_sample=2_000,
    matchday_jobs=2_000,
    matchday_players=4_000,
    burst_resolves=3_000,
    burst_clients=6,
    bulk_items=1_000,
    resolve_sizes=((10, 100), (10_000, 30), (1_000_000, 5)),
    background_winners=1_000_000,
    time_to_paid_challenges=20,
    pollers=100,
    poll_seconds=5.0,
    paced_poll_interval=2.0,
    memory_winners=(10_000, 1_000_000),
    scale_out_winners=1_000_000,
    scale_out_workers=(1, 2, 4),
    scale_out_batch=500,
)

QUICK = BenchConfig(
    mode="quick",
    runs=3,
    big_winners=(200_000,),
    big_batch=500,
    worker_processes=(1, 2),
    seed_sample=500,
    # the issue's own sizes: they take seconds, and rates at start-up sizes would flatter
    matchday_jobs=2_000,
    matchday_players=4_000,
    burst_resolves=1_200,
    burst_clients=6,
    bulk_items=1_000,
    resolve_sizes=((10, 50), (10_000, 10), (100_000, 3)),
    # big enough to still be running after ~10 s of polling on a fast SQLite
    background_winners=600_000,
    time_to_paid_challenges=10,
    pollers=100,
    poll_seconds=3.0,
    paced_poll_interval=2.0,
    memory_winners=(10_000, 100_000),
    scale_out_winners=100_000,
    scale_out_workers=(1, 2, 4),
    scale_out_batch=500,
)

TINY = BenchConfig(
    mode="tiny",
    runs=1,
    big_winners=(300,),
    big_batch=100,
    worker_processes=(1,),  # one deployment proves it runs; quick and full measure 1 and 2
    seed_sample=50,
    matchday_jobs=40,
    matchday_players=120,
    burst_resolves=30,
    burst_clients=6,
    bulk_items=20,
    resolve_sizes=((10, 3), (200, 2)),
    background_winners=2_000,
    time_to_paid_challenges=2,
    pollers=5,
    poll_seconds=0.5,
    paced_poll_interval=0.1,
    memory_winners=(100, 300),
    scale_out_winners=1_000,
    scale_out_workers=(2,),
    scale_out_batch=100,
)

MODES = {config.mode: config for config in (FULL, QUICK, TINY)}
