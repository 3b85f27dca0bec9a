"""Section 8: what the event outbox costs the pay path, and how fast webhooks go out.

    python -m bench.events_cost [--winners N] [--runs R] [--backends sqlite,postgres]
                                [--baseline REF]

1. Payouts per second of one big job paid by `payouts worker --once` at batch 500, by this
   tree (events written in every pay transaction) and by the previous release (`--baseline`,
   default: where this branch left main), on identical data, in the same run, alternating
   old/new. The previous release runs from `git archive` of its src/ in a temporary
   directory (PYTHONPATH puts it ahead of the installed tree). The figure is new / old.
2. The delivery rate: the same job's events sent to a local receiver process (verifying
   every signature) by one worker's delivery loop, in events per second.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from io import BytesIO
from pathlib import Path

import psycopg

from bench.backends import DEFAULT_POSTGRES_URL
from bench.processes import payouts_env

ROOT = Path(__file__).resolve().parent.parent
BATCH = 500

# Runs in the process of the code under test: the job's winners per second, from the
# job's own timestamps (started_at -> completed_at).
_SEED_AND_RESOLVE = """
import sys
from payouts.storage.database import Database
from payouts.storage import migrate
from payouts.services import challenges
from payouts.services.demo import create_demo
db = Database(sys.argv[1])
migrate.upgrade(db)
with db.write() as conn:
    made = create_demo(conn, int(sys.argv[2]), int(sys.argv[2]) // 10, 500, seed=7)
    challenges.resolve(conn, made.challenge_id, "challenger_won")
db.dispose()
"""
_MIGRATE = """
import sys
from payouts.storage.database import Database
from payouts.storage import migrate
db = Database(sys.argv[1])
migrate.upgrade(db)
db.dispose()
"""
_STATUS = """
import sys
from sqlalchemy import select
from payouts.storage.database import Database
from payouts.storage.tables import payout_jobs as j
db = Database(sys.argv[1])
with db.read() as conn:
    print(conn.execute(select(j.c.status)).scalar_one_or_none())
db.dispose()
"""
_RATE = """
import sys
from sqlalchemy import select
from payouts.storage.database import Database
from payouts.storage.clock import as_utc
from payouts.storage.tables import payout_jobs as j
db = Database(sys.argv[1])
with db.read() as conn:
    row = conn.execute(select(j.c.processed_winners, j.c.started_at, j.c.completed_at,
                              j.c.status)).one()
assert row.status == "completed", row
seconds = (as_utc(row.completed_at) - as_utc(row.started_at)).total_seconds()
print(row.processed_winners / seconds)
db.dispose()
"""


def baseline_src(ref: str, into: Path) -> Path:
    """The previous release's src/ tree, from git (read-only on the repository)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref, "src"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def branch_point(ref: str = "main") -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), "merge-base", "HEAD", ref],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


class Databases:
    def __init__(self, backend: str, postgres_url: str, workdir: Path) -> None:
        self.backend, self.postgres_url, self.workdir = backend, postgres_url, workdir
        self.made: list[str] = []

    def new(self) -> str:
        name = f"payouts_bench_events_{uuid.uuid4().hex[:8]}"
        if self.backend == "sqlite":
            url = f"sqlite:///{self.workdir / (name + '.db')}"
        else:
            with psycopg.connect(self.postgres_url, autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {name}")
            url = self.postgres_url.rsplit("/", 1)[0] + "/" + name
        self.made.append(url)
        return url

    def drop_all(self) -> None:
        if self.backend != "postgres":
            return
        with psycopg.connect(self.postgres_url, autocommit=True) as conn:
            for url in self.made:
                conn.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")


def _python(code: str, src: Path | None, *args: str, env: dict[str, str] | None = None) -> str:
    environment = dict(env or os.environ)
    if src is not None:
        environment["PYTHONPATH"] = str(src)
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return done.stdout


def pay_once(url: str, winners: int, src: Path | None) -> float:
    """Winners per second of one job, paid by `payouts worker --once` of this code."""
    _python(_SEED_AND_RESOLVE, src, url, str(winners))
    env = payouts_env(url, batch_size=BATCH, webhook_delivery="false")
    if src is not None:
        env["PYTHONPATH"] = str(src)
    subprocess.run(
        [sys.executable, "-m", "payouts", "worker", "--once"],
        env=env,
        check=True,
        capture_output=True,
    )
    return float(_python(_RATE, src, url).strip())


def pay_running(url: str, winners: int, workdir: Path, endpoint: bool) -> float:
    """Winners per second of one job paid by a running `payouts worker` (this tree), with
    its delivery loop sending every event to a local receiver meanwhile when `endpoint`."""
    from bench.receiver_process import Receiver
    from payouts.services import webhooks
    from payouts.storage.database import Database

    hook = Receiver(workdir / f"received-{uuid.uuid4().hex[:6]}.jsonl")
    db = Database(url)
    try:
        _python(_MIGRATE, None, url)
        if endpoint:
            with db.write() as conn:
                made = webhooks.add(conn, hook.url)
            hook.start(made.secret)
        _python(_SEED_AND_RESOLVE, None, url, str(winners))
        env = payouts_env(url, batch_size=BATCH, worker_interval_seconds=0.1)
        log = (workdir / "worker.log").open("ab")
        worker = subprocess.Popen(
            [sys.executable, "-m", "payouts", "worker"], env=env, stdout=log, stderr=log
        )
        try:
            while _python(_STATUS, None, url).strip() != "completed":
                time.sleep(0.2)
        finally:
            worker.terminate()
            worker.wait(30)
            log.close()
        return float(_python(_RATE, None, url).strip())
    finally:
        hook.stop()
        db.dispose()


def delivery_rate(url: str) -> tuple[int, float]:
    """(events, events per second) delivered by one worker's loop to a local receiver."""
    from prometheus_client import CollectorRegistry
    from sqlalchemy import text

    from bench.receiver_process import Receiver
    from payouts.config import Settings
    from payouts.services import webhooks
    from payouts.storage.database import Database
    from payouts.telemetry.webhook_metrics import WebhookMetrics
    from payouts.worker.webhooks import WebhookDelivery

    db = Database(url)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            hook = Receiver(Path(tmp) / "received.jsonl")
            with db.write() as conn:
                made = webhooks.add(conn, hook.url)
                conn.execute(text("UPDATE webhook_endpoints SET cursor_tx = 0, cursor_id = 0"))
                count = int(conn.execute(text("SELECT count(*) FROM events")).scalar_one())
            hook.start(made.secret)
            try:
                sender = WebhookDelivery(
                    db, Settings(database_url=url), WebhookMetrics(CollectorRegistry())
                )
                began = time.perf_counter()
                sender.run_until_idle()
                seconds = time.perf_counter() - began
                sender.close()
            finally:
                hook.stop()
            received = sum(len(r["events"]) for r in hook.records() if r["answered"] == 200)
            assert received == count, (received, count)
            return count, count / seconds
    finally:
        db.dispose()


def run(
    backends: list[str],
    winners: int,
    runs: int,
    baseline: str,
    postgres_url: str,
    parts: frozenset[str] = frozenset({"once", "running", "delivery"}),
) -> list[str]:
    lines = []
    with tempfile.TemporaryDirectory(prefix="payouts-bench-events-") as tmp:
        workdir = Path(tmp)
        old_src = baseline_src(baseline, workdir / "baseline")
        for backend in backends:
            dbs = Databases(backend, postgres_url, workdir)
            try:
                old, new, quiet, busy = [], [], [], []
                for _ in range(runs):  # alternating, so drift hits all alike
                    if "once" in parts:
                        old.append(pay_once(dbs.new(), winners, old_src))
                    url = dbs.new()
                    new.append(pay_once(url, winners, None))
                    if "running" in parts:
                        quiet.append(pay_running(dbs.new(), winners, workdir, endpoint=False))
                        busy.append(pay_running(dbs.new(), winners, workdir, endpoint=True))
                events, rate = delivery_rate(url) if "delivery" in parts else (0, 0.0)
            finally:
                dbs.drop_all()
            said = [f"{backend}: {winners:,} winners, batch {BATCH}, {runs} runs (median; best)."]
            if old:
                said.append(
                    f"`worker --once`: previous release {_figures(old)}, with events"
                    f" {_figures(new)}; ratio {_ratio(new, old)} (target > 0.85)."
                )
            if quiet:
                said.append(
                    f"Running `payouts worker`: no endpoint {_figures(quiet)}, delivering"
                    f" every event to a receiver meanwhile {_figures(busy)}; ratio"
                    f" {_ratio(busy, quiet)} (target > 0.87: at most 1.15x the time)."
                )
            if events:
                said.append(
                    f"Webhook delivery alone: {events:,} events to a local receiver at"
                    f" {rate:,.0f} events/s (batches of 100, one worker)."
                )
            lines.append(" ".join(said))
            print(lines[-1], flush=True)
    return lines


def _figures(values: list[float]) -> str:
    runs = ", ".join(f"{v:,.0f}" for v in values)
    return f"{statistics.median(values):,.0f}; {max(values):,.0f} payouts/s (runs {runs})"


def _ratio(new: list[float], old: list[float]) -> str:
    median = statistics.median(new) / statistics.median(old)
    best = max(new) / max(old)
    return f"{median:.3f}; {best:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.events_cost", description=__doc__)
    parser.add_argument("--winners", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument(
        "--parts", default="once,running,delivery", help="once, running, delivery (see above)"
    )
    parser.add_argument("--baseline", default=None, help="git ref (default: merge-base main)")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("PAYOUTS_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
    )
    args = parser.parse_args()
    run(
        [b.strip() for b in args.backends.split(",") if b.strip()],
        args.winners,
        args.runs,
        args.baseline or branch_point(),
        args.postgres_url,
        frozenset(p.strip() for p in args.parts.split(",")),
    )


if __name__ == "__main__":
    main()
