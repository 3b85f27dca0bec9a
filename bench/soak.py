"""`python -m bench --soak [--soak-minutes N]`: hours-of-use in minutes. On each backend, a
`payouts serve --no-worker` and two `payouts worker` processes take mixed traffic for N
minutes (default 10):

- stakes and resolves: challenges created, staked by 20 players (a big one by 2,000 every
  30th, so jobs span many batches), resolved; each stake and resolve sent twice with one
  Idempotency-Key (a client retry: the second must be a replay);
- status polling: 100 pollers, each every 2 s (bench/pollers.py, its own process);
- a worker killed (SIGKILL) and started again every minute; the other runs throughout.

Every 10 s it samples the RSS of the server and of the long-lived worker, the open
database connections (PostgreSQL: pg_stat_activity; SQLite: descriptors of the database
file in the three processes) and the descriptors of the server and the long-lived worker.
A figure passes when its last sample is at most 1.2x its sample at minute 2 (flat: no
leak); the run passes when every figure does, the jobs all finish after the traffic
stops, and `payouts verify` passes. The report goes into a section of bench/RESULTS.md
(between the soak markers; the rest of the file is left alone).
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench.backends import Backend, PostgresBackend, PostgresUnavailable, SqliteBackend
from bench.processes import (
    ADMIN_TOKEN,
    Client,
    PayoutsProcess,
    free_port,
    payouts_env,
    stop_all,
    wait_idle,
)
from payouts.services import users
from payouts.storage.database import Database

log = logging.getLogger("bench")

SAMPLE_EVERY_SECONDS = 10.0
SAMPLE_OFFSET_SECONDS = 5.0  # samples fall between the worker restarts, not on them
KILL_EVERY_SECONDS = 60.0
BASELINE_SECONDS = 120.0  # "the sample at minute 2"
FLAT = 1.2
PLAYERS = 5_000
STAKERS, BIG_STAKERS, BIG_EVERY = 20, 2_000, 30
CYCLES_PER_SECOND = 4.0
POLLERS, POLL_INTERVAL = 100, 2.0
BATCH_SIZE = 100
FINISH_SECONDS = 600.0
START, END = "<!-- soak:start -->", "<!-- soak:end -->"
METRICS = (
    ("server_rss_mib", "server RSS", "MiB"),
    ("worker_rss_mib", "worker RSS (long-lived)", "MiB"),
    ("db_connections", "open DB connections", ""),
    ("server_fds", "server fds", ""),
    ("worker_fds", "worker fds (long-lived)", ""),
)


@dataclass
class Sample:
    at: float  # seconds since the traffic started
    server_rss_mib: float
    worker_rss_mib: float
    db_connections: int
    server_fds: int
    worker_fds: int


@dataclass
class SoakResult:
    backend: str
    minutes: float
    samples: list[Sample] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    poll: dict[str, object] = field(default_factory=dict)
    verify: str = ""
    verify_ok: bool = False
    finished: bool = False
    errors: list[str] = field(default_factory=list)

    def baseline(self) -> Sample:
        return min(self.samples, key=lambda s: abs(s.at - BASELINE_SECONDS))

    def ratio(self, metric: str) -> float:
        base = float(getattr(self.baseline(), metric))
        last = float(getattr(self.samples[-1], metric))
        return last / base if base else (1.0 if last == 0 else float("inf"))

    def flat(self, metric: str) -> bool:
        return self.ratio(metric) <= FLAT

    @property
    def passed(self) -> bool:
        return (
            len(self.samples) >= 2
            and all(self.flat(m) for m, _, _ in METRICS)
            and self.verify_ok
            and self.finished
            and not self.errors
        )


# --- what /proc says about a process -----------------------------------------------------


def rss_mib(pid: int) -> float:
    match = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(match.group(1)) / 1024 if match else 0.0


def fd_targets(pid: int) -> list[str]:
    found = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            found.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:  # closed meanwhile
            continue
    return found


def sqlite_connections(pids: list[int], path: str) -> int:
    """SQLite connections open in these processes: descriptors of the database file."""
    total = 0
    for pid in pids:
        try:
            total += sum(1 for target in fd_targets(pid) if target == path)
        except OSError:  # the process is gone (the killed worker)
            continue
    return total


def postgres_connections(db: Database, name: str) -> int:
    with db.read() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d"), {"d": name}
            ).scalar_one()
        )


# --- the traffic ---------------------------------------------------------------------------


class Traffic(threading.Thread):
    """Stakes and resolves, each sent twice with one Idempotency-Key."""

    def __init__(self, port: int, stop: threading.Event, counts: Counter[str]) -> None:
        super().__init__(name="soak-traffic", daemon=True)
        self.port = port
        self.stop_event = stop
        self.counts = counts
        self.errors: list[str] = []
        self.first_job: str | None = None
        self.ready = threading.Event()

    def run(self) -> None:
        client = Client(self.port)
        rng = random.Random(7)
        cycle = 0
        try:
            while not self.stop_event.is_set():
                started = time.monotonic()
                cycle += 1
                try:
                    self._cycle(client, rng, BIG_STAKERS if cycle % BIG_EVERY == 1 else STAKERS)
                except (OSError, RuntimeError) as exc:
                    client.close()
                    self.counts["cycle errors"] += 1
                    if len(self.errors) < 20:
                        self.errors.append(str(exc))
                self.ready.set()
                self.stop_event.wait(max(0.0, 1 / CYCLES_PER_SECOND - (time.monotonic() - started)))
        finally:
            client.close()

    def _call(
        self, client: Client, method: str, path: str, body: object, key: str | None = None
    ) -> tuple[int, object]:
        status, answer = client.request(
            method, path, body, {"Idempotency-Key": key} if key else None
        )
        self.counts[f"HTTP {status}"] += 1
        if status >= 500:
            raise RuntimeError(f"{method} {path} answered {status}: {answer}")
        return status, answer

    def _cycle(self, client: Client, rng: random.Random, stakers: int) -> None:
        status, made = self._call(client, "POST", "/api/admin/challenges", {"title": "soak"})
        if status != 201 or not isinstance(made, dict):
            raise RuntimeError(f"create challenge answered {status}: {made}")
        cid = made["id"]
        players = rng.sample(range(1, PLAYERS + 1), stakers)
        stakes = [
            {
                "userId": uid,
                "side": "challenger" if n % 2 else "challenged",
                "amount": rng.randint(1, 100),
            }
            for n, uid in enumerate(players)
        ]
        key = uuid.uuid4().hex
        for attempt in range(2):  # the second is a client's retry: a replay
            status, _ = self._call(
                client, "POST", f"/api/admin/challenges/{cid}/stakes", {"stakes": stakes}, key
            )
            if status != 201:
                raise RuntimeError(f"stakes (attempt {attempt + 1}) answered {status}")
        self.counts["stakes"] += stakers
        key = uuid.uuid4().hex
        result = rng.choice(["challenger_won", "challenged_won", "challenger_won", "draw"])
        answers = []
        for attempt in range(2):
            status, answer = self._call(
                client, "POST", f"/api/admin/challenges/{cid}/result", {"result": result}, key
            )
            if status != 200 or not isinstance(answer, dict):
                raise RuntimeError(f"resolve (attempt {attempt + 1}) answered {status}: {answer}")
            answers.append(answer)
        if answers[0] != answers[1]:
            raise RuntimeError("a retried resolve was not a replay of the first answer")
        self.counts["resolves"] += 1
        self.counts["retries replayed"] += 2
        job = answers[0].get("payoutJobId") or answers[0].get("refundJobId")
        if self.first_job is None and stakers == BIG_STAKERS:
            self.first_job = str(job)


def _seed_players(url: str) -> None:
    db = Database(url, pool_size=1)
    try:
        with db.write() as conn:
            for n in range(PLAYERS):
                users.create_user(conn, f"soak-{n}", 1_000_000_000)
    finally:
        db.dispose()


def _active_jobs(url: str) -> int:
    db = Database(url, pool_size=1)
    try:
        with db.read() as conn:
            return int(
                conn.execute(
                    text("SELECT count(*) FROM payout_jobs WHERE status IN ('queued', 'running')")
                ).scalar_one()
            )
    finally:
        db.dispose()


def soak_backend(backend: Backend, minutes: float, log_dir: Path, postgres_url: str) -> SoakResult:
    result = SoakResult(backend.name, minutes)
    url = backend.create()
    _seed_players(url)
    env = payouts_env(url, batch_size=BATCH_SIZE)
    port = free_port()
    server = PayoutsProcess(
        ["serve", "--host", "127.0.0.1", "--port", str(port), "--no-worker"],
        env,
        log_dir / f"soak-{backend.name}-serve.log",
    )
    steady = PayoutsProcess(["worker"], env, log_dir / f"soak-{backend.name}-worker-a.log")
    restarted = PayoutsProcess(["worker"], env, log_dir / f"soak-{backend.name}-worker-b.log")
    pollers: subprocess.Popen[bytes] | None = None
    stop = threading.Event()
    traffic = Traffic(port, stop, result.counts)
    admin = Database(postgres_url, pool_size=1) if backend.name == "postgres" else None
    db_name = make_url(url).database or ""
    try:
        wait_idle([server, steady, restarted])
        traffic.start()
        traffic.ready.wait(60)
        while traffic.first_job is None and traffic.is_alive():
            time.sleep(0.1)
        seconds = minutes * 60
        pollers = subprocess.Popen(
            [
                sys.executable, "-m", "bench.pollers", "--port", str(port), "--token", ADMIN_TOKEN,
                "--path", f"/api/admin/payout-jobs/{traffic.first_job}/status",
                "--concurrency", str(POLLERS), "--interval", str(POLL_INTERVAL),
                "--seconds", str(seconds),
            ],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        started = time.monotonic()
        next_sample = started + SAMPLE_OFFSET_SECONDS
        next_kill = started + KILL_EVERY_SECONDS
        while (now := time.monotonic()) < started + seconds:
            if now >= next_kill:
                os.kill(restarted.pid, signal.SIGKILL)
                restarted.process.wait()
                restarted.stop()
                restarted = PayoutsProcess(
                    ["worker"], env, log_dir / f"soak-{backend.name}-worker-b.log"
                )
                result.counts["worker kills"] += 1
                next_kill += KILL_EVERY_SECONDS
            if now >= next_sample:
                pids = [server.pid, steady.pid, restarted.pid]
                connections = (
                    postgres_connections(admin, db_name)
                    if admin is not None
                    else sqlite_connections(pids, db_name)
                )
                sample = Sample(
                    at=now - started,
                    server_rss_mib=rss_mib(server.pid),
                    worker_rss_mib=rss_mib(steady.pid),
                    db_connections=connections,
                    server_fds=len(fd_targets(server.pid)),
                    worker_fds=len(fd_targets(steady.pid)),
                )
                result.samples.append(sample)
                log.info("soak %s %s %s", backend.name, f"{sample.at:5.0f} s", sample)
                next_sample += SAMPLE_EVERY_SECONDS
            for process in (server, steady):
                if process.process.poll() is not None:
                    raise RuntimeError(
                        f"payouts {' '.join(process.args)} died; see {process.log_path}"
                    )
            time.sleep(0.2)
        stop.set()
        traffic.join(60)
        out, _ = pollers.communicate(timeout=120)
        polled = json.loads(out or b"{}")
        latencies = sorted(polled.get("latencies_ms", []))
        result.poll = {
            "requests": len(latencies),
            "errors": polled.get("errors"),
            "p99_ms": latencies[int(0.99 * (len(latencies) - 1))] if latencies else None,
        }
        result.errors += traffic.errors
        deadline = time.monotonic() + FINISH_SECONDS
        while _active_jobs(url) and time.monotonic() < deadline:
            time.sleep(1)
        result.finished = _active_jobs(url) == 0
    finally:
        stop.set()
        if pollers is not None and pollers.poll() is None:
            pollers.kill()
            pollers.wait()
        stop_all([server, steady, restarted])
        if admin is not None:
            admin.dispose()
    verified = subprocess.run(
        [sys.executable, "-m", "payouts", "verify"], env=env, capture_output=True, text=True
    )
    result.verify_ok = verified.returncode == 0
    said = (verified.stdout if result.verify_ok else verified.stderr or verified.stdout).strip()
    result.verify = said.splitlines()[-1] if said else f"exit {verified.returncode}"
    result.counts.update(_paid(url))
    backend.drop(url)
    return result


def _paid(url: str) -> dict[str, int]:
    db = Database(url, pool_size=1)
    try:
        with db.read() as conn:
            jobs, winners = conn.execute(
                text(
                    "SELECT count(*), COALESCE(sum(processed_winners), 0) FROM payout_jobs"
                    " WHERE status = 'completed'"
                )
            ).one()
    finally:
        db.dispose()
    return {"jobs completed": int(jobs), "winners paid": int(winners)}


# --- the report ----------------------------------------------------------------------------


def markdown(results: list[SoakResult], command: str) -> str:
    out = [
        START,
        "## Soak",
        "",
        f"Written by `{command}` on {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC."
        f" Each backend: `payouts serve --no-worker` and two `payouts worker` processes"
        f" (batch {BATCH_SIZE}), {CYCLES_PER_SECOND:g} stake-and-resolve cycles a second"
        f" ({STAKERS} stakers; {BIG_STAKERS:,} every {BIG_EVERY}th; each stake and resolve"
        f" retried once with its Idempotency-Key), {POLLERS} status pollers every"
        f" {POLL_INTERVAL:g} s, one worker SIGKILLed and restarted every minute. Sampled every"
        f" {SAMPLE_EVERY_SECONDS:g} s; a figure is flat when its last sample is at most"
        f" {FLAT}x its sample at minute 2. See bench/soak.py.",
        "",
        "| backend | minutes | figure | minute 2 | last | last / minute 2 | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for result in results:
        if len(result.samples) < 2:
            out.append(f"| {result.backend} | {result.minutes:g} | too few samples | | | | FAIL |")
            continue
        base, last = result.baseline(), result.samples[-1]
        for metric, label, unit in METRICS:
            out.append(
                f"| {result.backend} | {result.minutes:g} | {label}"
                f" | {_value(getattr(base, metric), unit)}"
                f" | {_value(getattr(last, metric), unit)} | {result.ratio(metric):.2f}x"
                f" | {'PASS' if result.flat(metric) else 'FAIL'} |"
            )
    out += ["", "| backend | traffic | poll p99 | jobs finished | verify | run |",
            "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for result in results:
        c = result.counts
        traffic = (
            f"{c['resolves']:,} resolves, {c['stakes']:,} stakes, {c['retries replayed']:,}"
            f" retries replayed, {result.poll.get('requests', 0):,} polls"
            f" ({result.poll.get('errors')} errors), {c['worker kills']} worker kills,"
            f" {c['jobs completed']:,} jobs / {c['winners paid']:,} winners paid,"
            f" 5xx: {sum(v for k, v in c.items() if k.startswith('HTTP 5'))}"
        )
        p99 = result.poll.get("p99_ms")
        out.append(
            f"| {result.backend} | {traffic} | {f'{p99:.1f} ms' if p99 is not None else '-'}"
            f" | {'yes' if result.finished else 'NO'} | {result.verify} |"
            f" {'PASS' if result.passed else 'FAIL'} |"
        )
    for result in results:
        out.append("")
        out.append(f"Samples, {result.backend} (s: server RSS MiB, worker RSS MiB, DB connections,"
                   " server fds, worker fds):")  # fmt: skip
        out.append("")
        out.append(
            " ".join(
                f"{s.at:.0f}: {s.server_rss_mib:.0f}/{s.worker_rss_mib:.0f}/{s.db_connections}"
                f"/{s.server_fds}/{s.worker_fds};"
                for s in result.samples
            )
        )
        for error in result.errors[:5]:
            out.append(f"- error: {error}")
    out.append(END)
    return "\n".join(out) + "\n"


def _value(value: float, unit: str) -> str:
    return f"{value:.1f} {unit}" if unit else f"{value:g}"


def with_section(existing: str, section: str) -> str:
    """The file with its soak section replaced (or added at the end)."""
    if START in existing and END in existing:
        before, rest = existing.split(START, 1)
        after = rest.split(END, 1)[1].lstrip("\n")
        return before + section + after
    return existing.rstrip("\n") + "\n\n" + section


def kept_section(output: Path) -> str:
    """The soak section of `output`, for the suite to keep when it rewrites the file."""
    if not output.exists():
        return ""
    existing = output.read_text()
    if START in existing and END in existing:
        return START + existing.split(START, 1)[1].split(END, 1)[0] + END + "\n"
    return ""


def run_soak(
    backends: list[str], postgres_url: str, minutes: float, output: Path | None, command: str
) -> bool:
    log_dir = Path(tempfile.mkdtemp(prefix="payouts-soak-logs-"))
    results: list[SoakResult] = []
    for name in backends:
        try:
            backend: Backend = (
                SqliteBackend() if name == "sqlite" else PostgresBackend(postgres_url)
            )
        except PostgresUnavailable as exc:
            log.warning("PostgreSQL skipped: %s", exc)
            continue
        try:
            log.info("soak on %s for %g min", name, minutes)
            results.append(soak_backend(backend, minutes, log_dir, postgres_url))
        finally:
            backend.close()
    report = markdown(results, command)
    print(report)
    if output is not None:
        output.write_text(with_section(output.read_text() if output.exists() else "", report))
        log.info("wrote the soak section of %s; logs in %s", output, log_dir)
    return bool(results) and all(result.passed for result in results)
