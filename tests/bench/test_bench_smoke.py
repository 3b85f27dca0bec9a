"""The benchmark suite at tiny sizes, so it keeps working. It checks that every section
runs and reports, never how fast anything is (machines are noisy)."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.__main__ import parse_args
from bench.backends import Backend, PostgresBackend, PostgresUnavailable, SqliteBackend
from bench.config import TINY
from bench.data import DataSets, opened
from bench.restarts import surviving_restarts
from bench.stats import Spread, percentile
from bench.suite import run_suite
from bench.throughput import pay_with_floor, pay_with_payouts, pay_with_seed
from sqlalchemy import text

from tests.conftest import PG_ADMIN_URL, unavailable

SECTIONS = [
    "1. Payout throughput",
    "2. Resolve latency",
    "3. Time to paid",
    "4. Status endpoint",
    "5. Memory",
]


def test_the_whole_suite_runs_at_tiny_sizes(backend: str, tmp_path: Path) -> None:
    if backend == "postgres":
        try:
            PostgresBackend(PG_ADMIN_URL).close()
        except PostgresUnavailable as exc:
            unavailable(str(exc))
    output = tmp_path / "RESULTS.md"

    report = run_suite(TINY, backends=[backend], postgres_url=PG_ADMIN_URL, output=output)

    expected = SECTIONS + (["6. Scale-out"] if backend == "postgres" else [])
    assert sorted({row.section for row in report.rows}) == expected
    assert all(row.backend == backend and row.spread.runs == TINY.runs for row in report.rows)
    throughput = {row.what.split(": ")[-1] for row in report.rows if row.section == SECTIONS[0]}
    assert throughput == {"payouts", "floor", "seed algorithm", "payouts / floor", "payouts / seed"}
    assert all(row.spread.median > 0 for row in report.rows)
    text = output.read_text()
    assert "(mode **tiny**)" in text
    for section in expected:
        assert f"## {section}" in text
    assert report.backends[backend] in text


def test_postgres_is_skipped_with_a_note_when_unreachable(tmp_path: Path) -> None:
    output = tmp_path / "RESULTS.md"
    unreachable = "postgresql://postgres@127.0.0.1:1/postgres"

    report = run_suite(
        TINY, backends=["postgres"], postgres_url=unreachable, sections={1}, output=output
    )

    assert report.rows == []
    assert "PostgreSQL skipped" in output.read_text()


def test_spread_and_percentile_are_observed_values() -> None:
    assert Spread.of([3.0, 1.0, 2.0]) == Spread(2.0, 1.0, 3.0, 3)
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        Spread.of([])


class _RestartingServer:
    """Only the part of a Backend that surviving_restarts reads: the server's epoch."""

    name = "postgres"

    def __init__(self, epochs: list[str]) -> None:
        self._epochs = iter(epochs)

    def server_epoch(self) -> str:
        return next(self._epochs)


def test_a_measurement_is_taken_again_only_when_the_server_restarted() -> None:
    attempts: list[int] = []

    def fails_once() -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("server closed the connection")
        return 42

    restarted = _RestartingServer(["a", "b", "b"])
    assert surviving_restarts(restarted, "a test", fails_once) == 42  # type: ignore[arg-type]
    assert len(attempts) == 2

    attempts.clear()
    steady = _RestartingServer(["a", "a"])
    with pytest.raises(ConnectionError):
        surviving_restarts(steady, "a test", fails_once)  # type: ignore[arg-type]


def _payouts_by_user(url: str) -> dict[int, int]:
    with opened(url) as db, db.read() as conn:
        rows = conn.execute(
            text("SELECT user_id, amount FROM transactions WHERE type = 'challenge_payout'")
        ).all()
    return {row.user_id: row.amount for row in rows}


def test_the_baselines_pay_every_winner_what_payouts_pays(backend: str) -> None:
    """The floor and the seed's algorithm do payouts' work, to the coin, or comparing
    their speed would mean nothing."""
    if backend == "postgres":
        try:
            bench_backend: Backend = PostgresBackend(PG_ADMIN_URL)
        except PostgresUnavailable as exc:
            unavailable(str(exc))
    else:
        bench_backend = SqliteBackend()
    data = DataSets(bench_backend)
    try:
        data_url, challenge_id = data.demo(997)
        paid = {}
        for method in ("payouts", "floor", "seed"):
            url = bench_backend.copy(data_url)
            try:
                if method == "payouts":
                    pay_with_payouts(url, challenge_id, 100)
                elif method == "floor":
                    pay_with_floor(url, challenge_id, 100)
                else:
                    pay_with_seed(url, challenge_id, 100, sample=997)
                paid[method] = _payouts_by_user(url)
            finally:
                bench_backend.drop(url)
    finally:
        data.close()
        bench_backend.close()
    assert len(paid["payouts"]) == 997
    assert paid["floor"] == paid["payouts"]
    assert paid["seed"] == paid["payouts"]


def test_the_command_line_picks_the_mode() -> None:
    assert parse_args([]).mode == "full"  # what `make bench` runs
    assert parse_args(["--quick"]).mode == "quick"
    assert parse_args(["--mode", "tiny"]).mode == "tiny"
