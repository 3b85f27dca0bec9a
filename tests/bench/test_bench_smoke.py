"""The benchmark suite at tiny sizes, so it keeps working. It checks that every section
runs and reports, never how fast anything is (machines are noisy)."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
from bench.__main__ import parse_args
from bench.backends import Backend, PostgresBackend, PostgresUnavailable, SqliteBackend
from bench.config import TINY
from bench.data import DataSets, opened
from bench.matchday import UNAVAILABLE, small_challenge
from bench.processes import completed, resolve_http, service, wait_for_job
from bench.report import fmt
from bench.restarts import surviving_restarts
from bench.results import not_measured, under
from bench.shares import MAX_BIGINT
from bench.stats import Spread, percentile
from bench.suite import run_suite
from bench.throughput import pay_with_floor, pay_with_seed, payouts_label, payouts_processes
from sqlalchemy import text

from payouts.domain.staking import StakeItem
from payouts.services import challenges, users
from tests.conftest import PG_ADMIN_URL, unavailable

SECTIONS = [
    "1. Big jobs",
    "2. Match day",
    "3. Resolve latency",
    "4. Time to paid",
    "5. Status endpoint",
    "6. Memory",
]


def _bench_backend(backend: str) -> Backend:
    if backend == "postgres":
        try:
            return PostgresBackend(PG_ADMIN_URL)
        except PostgresUnavailable as exc:
            unavailable(str(exc))
    return SqliteBackend()


def test_the_whole_suite_runs_at_tiny_sizes(backend: str, tmp_path: Path) -> None:
    _bench_backend(backend).close()  # skips (or fails under CI) without PostgreSQL
    output = tmp_path / "RESULTS.md"

    report = run_suite(TINY, backends=[backend], postgres_url=PG_ADMIN_URL, output=output)

    expected = SECTIONS + (["7. Scale-out"] if backend == "postgres" else [])
    assert sorted({row.section for row in report.rows}) == expected
    assert all(row.backend == backend for row in report.rows)
    measured = [row for row in report.rows if row.measured]
    assert all(row.spread.median > 0 for row in measured)
    assert all(row.spread.runs == TINY.runs for row in measured if row.unit != "load")
    big = {row.what.split(": ")[-1] for row in report.rows if row.section == SECTIONS[0]}
    payouts = {payouts_label(n) for n in payouts_processes(backend, TINY)}
    assert big == payouts | {"floor", "seed algorithm", "payouts / floor", "payouts / seed"}
    match_day = [row for row in report.rows if row.section == SECTIONS[1]]
    assert [row.what.rsplit(": ", 1)[-1] for row in match_day[:6]] == [
        "jobs/s", "winners/s", "resolves/s", "p50", "p99", "stake requests/s",
    ]  # fmt: skip
    bulk, load = match_day[6:]
    assert bulk.what.startswith("bulk resolve")
    assert load.unit == "load" and load.spread.runs == 2 * TINY.runs
    # the bulk-resolve API is not on every build: then the row says so instead of failing
    assert bulk.measured or UNAVAILABLE in bulk.note
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


def test_a_figure_this_build_cannot_give_is_shown_as_not_measured() -> None:
    missing = not_measured("2. Match day", "sqlite", "bulk", "ms", under(1000, "< 1,000 ms"), "no")

    assert not missing.measured
    assert missing.verdict == "N/A"
    assert fmt(missing.spread.median, "ms") == "n/a"


def test_match_day_challenges_are_small_mostly_two_winners_with_losers() -> None:
    rng = random.Random(1)
    drawn = [small_challenge(rng) for _ in range(5_000)]

    assert all(2 <= w <= 50 and 1 <= losers <= w for w, losers in drawn)
    most_common, count = Counter(w for w, _ in drawn).most_common(1)[0]
    assert most_common == 2 and count > len(drawn) / 2
    assert max(w for w, _ in drawn) > 20


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


def _payouts_by_user(url: str) -> dict[tuple[int, int], int]:
    with opened(url) as db, db.read() as conn:
        rows = conn.execute(
            text(
                "SELECT challenge_id, user_id, amount FROM transactions"
                " WHERE type = 'challenge_payout'"
            )
        ).all()
    return {(row.challenge_id, row.user_id): row.amount for row in rows}


def _huge_stakes(url: str, winners: int, losers: int) -> tuple[int, int]:
    """A challenge whose stakes run from 100 to 10^12 coins, so that winner_pool x stake
    fits in a BIGINT for some winners and not for others; (its id, how many winners' stakes
    do not fit)."""
    rng = random.Random(3)
    with opened(url) as db, db.write() as conn:
        cid = challenges.create_challenge(conn, "huge stakes", 500)["id"]
        items = []
        for n in range(winners + losers):
            amount = min(10**12, int(10 ** rng.uniform(2, 12)))
            user = users.create_user(conn, f"huge-{n}", amount)
            side = "challenger" if n < winners else "challenged"
            items.append(StakeItem(user["id"], side, amount))
        challenges.place_stakes(conn, cid, items)
        pool = sum(item.amount for item in items)
    winner_pool = pool - pool * 500 // 10_000
    too_big = sum(1 for item in items[:winners] if item.amount > MAX_BIGINT // winner_pool)
    return cid, too_big


def test_the_baselines_pay_every_winner_what_payouts_pays(backend: str, tmp_path: Path) -> None:
    """The floor and the seed's algorithm do payouts' work, to the coin, or comparing
    their speed would mean nothing: on demo stakes (64-bit arithmetic) and on huge ones
    (exact arithmetic where the product overflows 64 bits)."""
    bench_backend = _bench_backend(backend)
    data = DataSets(bench_backend)
    try:
        data_url, demo_id = data.demo(499)
        huge_id, too_big = _huge_stakes(data_url, 300, 30)
        assert 0 < too_big < 300  # both kinds of arithmetic are used
        paid = {}
        for method in ("payouts", "floor", "seed"):
            url = bench_backend.copy(data_url)
            try:
                for challenge_id in (demo_id, huge_id):
                    if method == "floor":
                        pay_with_floor(url, challenge_id, 100)
                    elif method == "seed":
                        pay_with_seed(url, challenge_id, 100, sample=500)
                if method == "payouts":
                    processes = 0 if backend == "sqlite" else 1
                    with service(url, tmp_path, worker_processes=processes) as client:
                        jobs = [resolve_http(client, cid)[0] for cid in (demo_id, huge_id)]
                        for job in jobs:
                            wait_for_job(client, job, completed, timeout=120)
                paid[method] = _payouts_by_user(url)
            finally:
                bench_backend.drop(url)
    finally:
        data.close()
        bench_backend.close()
    assert len(paid["payouts"]) == 499 + 300
    assert paid["floor"] == paid["payouts"]
    assert paid["seed"] == paid["payouts"]


def test_the_command_line_picks_the_mode() -> None:
    assert parse_args([]).mode == "full"  # what `make bench` runs
    assert parse_args(["--quick"]).mode == "quick"
    assert parse_args(["--mode", "tiny"]).mode == "tiny"


def test_the_soak_section_is_replaced_in_place_and_kept_by_the_suite(tmp_path):
    from bench.soak import END, START, kept_section, with_section

    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\nfigures\n")
    first = f"{START}\n## Soak\nrun 1\n{END}\n"
    results.write_text(with_section(results.read_text(), first))
    second = f"{START}\n## Soak\nrun 2\n{END}\n"
    results.write_text(with_section(results.read_text(), second))
    text_now = results.read_text()
    assert text_now.count(START) == 1 and "run 2" in text_now and "run 1" not in text_now
    assert text_now.startswith("# Benchmark results\n\nfigures\n")
    assert kept_section(results) == second
