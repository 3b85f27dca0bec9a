"""Section 2: match day. Many small challenges, resolved in a rush, by real processes:

- settle: 2,000 small jobs queued in ONE transaction from the bench (the service's
  `challenges.resolve` for each challenge inside one `db.write()`), while `payouts worker`
  processes (2 on PostgreSQL, 1 on SQLite) are already started and idle; from that commit
  to the last job completed;
- burst: `POST /api/admin/challenges/{id}/result` from 6 concurrent clients (bench/burst.py,
  its own process) while a 7th keeps posting small stake requests on other open challenges,
  against payouts as deployed (SQLite: `payouts serve` with its embedded worker; PostgreSQL:
  `serve --no-worker` plus 2 `payouts worker`), which settle the jobs meanwhile;
- bulk: `POST /api/admin/challenges/results` with 1,000 results in one request, against
  the same deployment; "not available in this build" when the route answers 404 or 405.

Every run works on its own copy of one data set per backend, and ends with the books
checked (`payouts.services.verify.find_violations`).

The challenges (document of the distribution): each has W winners (all on the challenger
side, which wins) and L losers (challenged side). W is 2 for 60% of them, 3-5 for 20%,
6-20 for 15% and 21-50 for 5% (mean about 5.7); L is uniform in 1..W. Every player is
drawn, without repeats within a challenge, from one shared pool (4,000 players for 2,000
challenges), so a player is in about 4.5 of the settled challenges and wins about 3 of
them, as on a real match day. Stakes are log-uniform between 10 and 100,000 coins. Seeded:
every run and every backend gets the same challenges.
"""

from __future__ import annotations

import json
import logging
import os
import random
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from sqlalchemy import Connection, bindparam, func, insert, select, text, update

from bench.backends import Backend
from bench.burst import Report, Spec
from bench.config import BenchConfig
from bench.data import analyze, opened
from bench.jobs import now
from bench.processes import ADMIN_TOKEN, HOST, Client, service, stop_all, wait_idle, workers
from bench.restarts import surviving_restarts
from bench.results import Row, SectionResult, at_least, not_measured, row, under
from bench.stats import percentile
from payouts.services import challenges as challenge_service
from payouts.services.verify import find_violations
from payouts.storage.database import Database
from payouts.storage.tables import challenges, payout_jobs, stakes, transactions, users

SECTION = "2. Match day"
log = logging.getLogger("bench")
REPO_ROOT = Path(__file__).resolve().parents[1]
SEED = 10
DEPOSIT = 1_000_000_000  # coins per player: more than a player ever stakes here
STAKE_TARGETS = 20  # open, empty challenges the burst's staking client stakes on
SETTLE_TIMEOUT_SECONDS = 900
# issue 10: jobs/s settling 2,000 small jobs, by backend: (worker processes, target)
SETTLE = {
    "postgres": (2, at_least(1_000, "≥ 1,000/s")),
    "sqlite": (1, at_least(500, "≥ 500/s")),
}
BURST_RATE = at_least(300, "≥ 300/s")
BURST_P99 = under(50, "< 50 ms")
UNAVAILABLE = "not available in this build"


def deployment(backend: str) -> int:
    """`payouts worker` processes beside `payouts serve`: none on SQLite, whose `serve`
    runs the embedded worker; 2 on PostgreSQL with `serve --no-worker`."""
    return 0 if backend == "sqlite" else 2


# --- the data ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MatchDayData:
    url: str
    players: list[int]
    settle: list[int]  # resolved all at once by the settle measurement
    settle_winners: int
    warmup: list[int]  # one per burst client, resolved before the timed burst
    burst: list[int]
    stake_targets: list[int]  # open and empty: the burst's staking client stakes on them
    bulk: list[int]


def small_challenge(rng: random.Random) -> tuple[int, int]:
    """(winners, losers) of one match-day challenge."""
    draw = rng.random()
    if draw < 0.60:
        winners = 2
    elif draw < 0.80:
        winners = rng.randint(3, 5)
    elif draw < 0.95:
        winners = rng.randint(6, 20)
    else:
        winners = rng.randint(21, 50)
    return winners, rng.randint(1, winners)


def build_data_set(backend: Backend, config: BenchConfig) -> MatchDayData:
    rng = random.Random(SEED)
    url = backend.create()
    with opened(url) as db:
        with db.write() as conn:
            groups = {
                "settle": config.matchday_jobs,
                "warmup": config.burst_clients,
                "burst": config.burst_resolves,
                "bulk": config.bulk_items,
            }
            players = _create_players(conn, config.matchday_players)
            made = {name: _create_small(conn, rng, players, n) for name, n in groups.items()}
            targets = _create_challenges(conn, ["match day: open for stakes"] * STAKE_TARGETS)
        analyze(db)
    return MatchDayData(
        url=url,
        players=players,
        settle=made["settle"][0],
        settle_winners=made["settle"][1],
        warmup=made["warmup"][0],
        burst=made["burst"][0],
        stake_targets=targets,
        bulk=made["bulk"][0],
    )


def _create_players(conn: Connection, count: int) -> list[int]:
    """Players with a deposit each (a user row and its deposit ledger row)."""
    at = now()
    ids = (
        conn.execute(
            insert(users).returning(users.c.id, sort_by_parameter_order=True),
            [
                {"username": f"md-{n}", "balance": DEPOSIT, "status": "active", "created_at": at}
                for n in range(count)
            ],
        )
        .scalars()
        .all()
    )
    conn.execute(
        insert(transactions),
        [{"user_id": uid, "type": "deposit", "amount": DEPOSIT, "created_at": at} for uid in ids],
    )
    return [int(uid) for uid in ids]


def _create_challenges(conn: Connection, titles: list[str]) -> list[int]:
    at = now()
    rows = [
        {"title": title, "status": "open", "platform_fee_bps": 500, "created_at": at}
        for title in titles
    ]
    ids = conn.execute(
        insert(challenges).returning(challenges.c.id, sort_by_parameter_order=True), rows
    ).scalars()
    return [int(cid) for cid in ids]


def _create_small(
    conn: Connection, rng: random.Random, players: list[int], count: int
) -> tuple[list[int], int]:
    """`count` open challenges staked as the module says; (their ids, total winners). The
    rows the API would write: stakes, stake debits in the ledger, balances, side totals."""
    ids = _create_challenges(conn, [f"match day {n}" for n in range(count)])
    at = now()
    stake_rows: list[dict[str, object]] = []
    totals: list[dict[str, int]] = []
    amounts: list[int] = []
    debits: dict[int, int] = {}
    all_winners = 0
    for cid in ids:
        winners, losers = small_challenge(rng)
        all_winners += winners
        side_totals = {"challenger": 0, "challenged": 0}
        for n, uid in enumerate(rng.sample(players, winners + losers)):
            side = "challenger" if n < winners else "challenged"
            amount = int(10 ** rng.uniform(1, 5))
            amounts.append(amount)
            stake_rows.append(
                {"challenge_id": cid, "user_id": uid, "side": side, "amount": amount,
                 "created_at": at}
            )  # fmt: skip
            side_totals[side] += amount
            debits[uid] = debits.get(uid, 0) + amount
        totals.append(
            {"cid": cid, "a": side_totals["challenger"], "b": side_totals["challenged"],
             "na": winners, "nb": losers}
        )  # fmt: skip
    conn.execute(insert(stakes), stake_rows)
    conn.execute(
        insert(transactions),
        [
            {"user_id": s["user_id"], "type": "challenge_stake", "amount": -amount,
             "challenge_id": s["challenge_id"], "created_at": at}
            for s, amount in zip(stake_rows, amounts, strict=True)
        ],
    )  # fmt: skip
    c = challenges.c
    conn.execute(
        update(challenges)
        .where(c.id == bindparam("cid"))
        .values(
            challenger_stake_total=bindparam("a"),
            challenged_stake_total=bindparam("b"),
            challenger_count=bindparam("na"),
            challenged_count=bindparam("nb"),
        ),
        totals,
    )
    conn.execute(
        update(users)
        .where(users.c.id == bindparam("uid"))
        .values(balance=users.c.balance - bindparam("debit")),
        [{"uid": uid, "debit": debit} for uid, debit in debits.items()],
    )
    return ids, all_winners


# --- checks --------------------------------------------------------------------------------


def check_books(db: Database) -> None:
    with db.read() as conn:
        violations = find_violations(conn)
    if violations:
        shown = "; ".join(str(v) for v in violations[:5])
        raise AssertionError(f"the books do not balance ({len(violations)}): {shown}")


def _job_counts(conn: Connection) -> dict[str, int]:
    j = payout_jobs.c
    rows = conn.execute(select(j.status, func.count()).group_by(j.status)).all()
    return {str(status): int(n) for status, n in rows}


def _resolved(conn: Connection, ids: list[int]) -> int:
    c = challenges.c
    return int(
        conn.execute(select(func.count()).where(c.id.in_(ids), c.status == "resolved")).scalar_one()
    )


def _completed_jobs(conn: Connection, challenge_ids: list[int]) -> int:
    j = payout_jobs.c
    return int(
        conn.execute(
            select(func.count()).where(j.challenge_id.in_(challenge_ids), j.status == "completed")
        ).scalar_one()
    )


# --- settle: 2,000 small jobs --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Settled:
    seconds: float  # commit of the resolves to the last job's completed_at
    polled_seconds: float  # commit to the poll that saw no job left
    jobs: int
    winners: int
    load: float


def _epoch(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def settle_run(backend: Backend, data: MatchDayData, log_dir: Path) -> Settled:
    processes, _ = SETTLE[backend.name]
    url = backend.copy(data.url)
    try:
        load = os.getloadavg()[0]
        started = workers(url, log_dir, processes)
        try:
            wait_idle(started)
            with opened(url) as db:
                with db.write() as conn:
                    for cid in data.settle:
                        challenge_service.resolve(conn, cid, "challenger_won")
                committed, committed_wall = time.perf_counter(), time.time()
                polled = _wait_settled(db, committed)
                with db.read() as conn:
                    counts = _job_counts(conn)
                    j = payout_jobs.c
                    last, winners = conn.execute(
                        select(func.max(j.completed_at), func.sum(j.total_winners))
                    ).one()
        finally:
            stop_all(started)
        jobs = len(data.settle)
        if counts != {"completed": jobs}:
            raise AssertionError(f"{jobs} small jobs queued; their statuses: {counts}")
        with opened(url) as db:
            check_books(db)
    finally:
        backend.drop(url)
    seconds = _epoch(last) - committed_wall
    if not 0 < seconds <= polled + 0.05:
        log.warning(
            "%s %s: last completed_at is %.3f s after the commit, the poll says %.3f s;"
            " using the poll", SECTION, backend.name, seconds, polled,
        )  # fmt: skip
        seconds = polled
    return Settled(seconds, polled, jobs, int(winners), load)


def _wait_settled(db: Database, since: float) -> float:
    """Seconds from `since` until no job is queued or running (polled every 1% of the time
    waited, 5-100 ms)."""
    active = text("SELECT count(*) FROM payout_jobs WHERE status IN ('queued', 'running')")
    while True:
        with db.read() as conn:
            left = conn.execute(active).scalar_one()
        waited = time.perf_counter() - since
        if not left:
            return waited
        if waited > SETTLE_TIMEOUT_SECONDS:
            raise TimeoutError(f"{left} small jobs still active after {waited:.0f} s")
        time.sleep(min(0.1, max(0.005, waited / 100)))


# --- burst: concurrent resolves while stakes arrive -------------------------------------------


@dataclass(frozen=True, slots=True)
class Burst:
    resolves_per_second: float
    p50_ms: float
    p99_ms: float
    stakes_per_second: float
    retries: int
    settled: int  # of the burst's jobs, completed when the burst ended
    load: float


def burst_run(backend: Backend, data: MatchDayData, config: BenchConfig, log_dir: Path) -> Burst:
    url = backend.copy(data.url)
    try:
        load = os.getloadavg()[0]
        with service(url, log_dir, worker_processes=deployment(backend.name)) as client:
            spec = Spec(
                host=HOST,
                port=client.port,
                token=ADMIN_TOKEN,
                clients=config.burst_clients,
                warmup=data.warmup,
                resolve=data.burst,
                stake_targets=data.stake_targets,
                players=data.players,
            )
            report = _run_burst(spec)
            with opened(url) as db, db.read() as conn:
                settled = _completed_jobs(conn, data.burst)
        failures = report["resolve_failures"]
        if failures:
            raise RuntimeError(f"{len(failures)} resolve(s) failed in the burst: {failures[:3]}")
        with opened(url) as db:
            with db.read() as conn:
                resolved = _resolved(conn, data.burst)
            if resolved != len(data.burst):
                raise AssertionError(f"{resolved} of {len(data.burst)} burst challenges resolved")
            check_books(db)
    finally:
        backend.drop(url)
    latencies = report["resolve_latencies_ms"]
    seconds = report["seconds"]
    stake_failures = report["stake_failures"]
    if stake_failures:
        log.warning("%s %s: %d stake request(s) refused, first: %s",
                    SECTION, backend.name, len(stake_failures), stake_failures[0])  # fmt: skip
    return Burst(
        resolves_per_second=len(latencies) / seconds,
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        stakes_per_second=len(report["stake_latencies_ms"]) / seconds,
        retries=report["resolve_retries"],
        settled=settled,
        load=load,
    )


def _run_burst(spec: Spec) -> Report:
    done = subprocess.run(
        [sys.executable, "-m", "bench.burst"],
        input=json.dumps(asdict(spec)),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.burst exited {done.returncode}: {done.stderr[-2000:]}")
    report: Report = json.loads(done.stdout)
    return report


# --- bulk: 1,000 results in one request -------------------------------------------------------

BULK_PATH = "/api/admin/challenges/results"


def bulk_run(backend: Backend, data: MatchDayData, log_dir: Path) -> tuple[float | None, str]:
    """Milliseconds for the one bulk request, or None and why when this build has no such
    route."""
    url = backend.copy(data.url)
    try:
        with service(url, log_dir, worker_processes=deployment(backend.name)) as client:
            _warm_up(client)
            results = [{"challengeId": cid, "result": "challenger_won"} for cid in data.bulk]
            body = {"results": results}
            started = time.perf_counter()
            status, answer = client.request("POST", BULK_PATH, body)
            milliseconds = (time.perf_counter() - started) * 1000
        if status in (404, 405):
            return None, f"{UNAVAILABLE} (POST {BULK_PATH} answered {status})"
        resolutions = answer.get("resolutions") if isinstance(answer, dict) else None
        if status != 200 or not isinstance(resolutions, list):
            raise RuntimeError(f"bulk resolve answered {status}: {str(answer)[:500]}")
        if len(resolutions) != len(data.bulk):
            raise AssertionError(f"{len(resolutions)} resolutions for {len(data.bulk)} results")
        with opened(url) as db:
            with db.read() as conn:
                resolved = _resolved(conn, data.bulk)
                queued = sum(_job_counts(conn).values())
            if resolved != len(data.bulk) or queued != len(data.bulk):
                raise AssertionError(
                    f"after the bulk resolve: {resolved} of {len(data.bulk)} challenges"
                    f" resolved, {queued} jobs"
                )
            check_books(db)
    finally:
        backend.drop(url)
    return milliseconds, ""


def _warm_up(client: Client) -> None:
    """A few reads first, so the timed request does not pay for the server's first ones."""
    for _ in range(3):
        client.request("GET", "/api/admin/challenges?limit=1")


# --- the section -------------------------------------------------------------------------------


def run(backend: Backend, config: BenchConfig, log_dir: Path) -> SectionResult:
    data = surviving_restarts(
        backend, "building the match-day data", partial(build_data_set, backend, config)
    )
    try:
        return _measure(backend, data, config, log_dir)
    finally:
        backend.drop(data.url)


def _measure(
    backend: Backend, data: MatchDayData, config: BenchConfig, log_dir: Path
) -> SectionResult:
    name = backend.name
    settled: list[Settled] = []
    bursts: list[Burst] = []
    bulks: list[float] = []
    bulk_missing = ""
    for _ in range(config.runs):
        settled.append(
            surviving_restarts(
                backend, "settling small jobs", partial(settle_run, backend, data, log_dir)
            )
        )
        s = settled[-1]
        log.info("%s %s settle: %d jobs in %.2f s (polled %.2f s): %.0f jobs/s", SECTION,
                 name, s.jobs, s.seconds, s.polled_seconds, s.jobs / s.seconds)  # fmt: skip
        bursts.append(
            surviving_restarts(
                backend, "the resolve burst", partial(burst_run, backend, data, config, log_dir)
            )
        )
        b = bursts[-1]
        log.info("%s %s burst: %.0f resolves/s, p50 %.1f ms, p99 %.1f ms, %.0f stakes/s",
                 SECTION, name, b.resolves_per_second, b.p50_ms, b.p99_ms,
                 b.stakes_per_second)  # fmt: skip
        if not bulk_missing:
            milliseconds, bulk_missing = surviving_restarts(
                backend, "the bulk resolve", partial(bulk_run, backend, data, log_dir)
            )
            if milliseconds is not None:
                bulks.append(milliseconds)
                log.info("%s %s bulk: %d results in %.0f ms",
                         SECTION, name, len(data.bulk), milliseconds)  # fmt: skip
            else:
                log.info("%s %s bulk: %s", SECTION, name, bulk_missing)
    return SectionResult(
        _rows(name, data, config, settled, bursts, bulks, bulk_missing),
        _notes(name, data, settled, bursts),
    )


def _rows(
    name: str,
    data: MatchDayData,
    config: BenchConfig,
    settled: list[Settled],
    bursts: list[Burst],
    bulks: list[float],
    bulk_missing: str,
) -> list[Row]:
    processes, settle_target = SETTLE[name]
    jobs = len(data.settle)
    plural = "es" if processes > 1 else ""
    settle = f"{jobs:,} small jobs queued at once, {processes} worker process{plural}"
    clients = f"{config.burst_clients} clients + 1 staking"
    burst = f"resolve burst ({len(data.burst):,} resolves, {clients})"
    bulk = f"bulk resolve, {len(data.bulk):,} results in one request"
    bulk_target = under(len(data.bulk), f"< {len(data.bulk):,} ms")
    rows = [
        row(SECTION, name, f"{settle}: jobs/s", "jobs/s", [s.jobs / s.seconds for s in settled],
            settle_target, "commit of the resolves to the last job completed"),
        row(SECTION, name, f"{settle}: winners/s", "winners/s",
            [s.winners / s.seconds for s in settled]),
        row(SECTION, name, f"{burst}: resolves/s", "resolves/s",
            [b.resolves_per_second for b in bursts], BURST_RATE),
        row(SECTION, name, f"{burst}: p50", "ms", [b.p50_ms for b in bursts]),
        row(SECTION, name, f"{burst}: p99", "ms", [b.p99_ms for b in bursts], BURST_P99),
        row(SECTION, name, f"{burst}: stake requests/s", "req/s",
            [b.stakes_per_second for b in bursts], note="the 7th client, 1-3 stakes each"),
    ]  # fmt: skip
    if bulks:
        rows.append(row(SECTION, name, bulk, "ms", bulks, bulk_target))
    else:
        rows.append(not_measured(SECTION, name, bulk, "ms", bulk_target, bulk_missing))
    loads = [s.load for s in settled] + [b.load for b in bursts]
    rows.append(
        row(SECTION, name, "machine load average (1 min) as each settle and burst run began",
            "load", loads, note=f"{os.cpu_count()} cores, shared with other work")
    )  # fmt: skip
    return rows


def _notes(name: str, data: MatchDayData, settled: list[Settled], bursts: list[Burst]) -> list[str]:
    retries = sum(b.retries for b in bursts)
    settled_in_burst = ", ".join(f"{b.settled:,}" for b in bursts)
    gap = max(s.polled_seconds - s.seconds for s in settled)
    return [
        f"{name}: match day: {len(data.settle):,} settled challenges with"
        f" {data.settle_winners:,} winners ({data.settle_winners / len(data.settle):.1f} a"
        f" job) among {len(data.players):,} players; the poll saw the last job at most"
        f" {gap * 1000:.0f} ms after its completed_at.",
        f"{name}: resolve burst: of its {len(data.burst):,} jobs, {settled_in_burst} were"
        f" settled when the burst ended (per run); {retries} resolve(s) answered 503 and were"
        " retried with the same Idempotency-Key.",
    ]
