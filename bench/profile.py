"""Where a payouts run spends its time: one extra, untimed run of the worker under
pyinstrument (the `bench` extra), summed per payouts function, with the part of it spent
waiting on the database (SQLAlchemy's do_execute, i.e. the statement itself)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import payouts
from bench.data import DataSets, check_paid, opened, resolve
from payouts.config import Settings
from payouts.storage import slices
from payouts.worker.loop import PayoutWorker
from payouts.worker.wakeup import LocalWakeup

PAYOUTS_DIR = str(Path(payouts.__file__).parent) + "/"
# SQLAlchemy's calls into the driver: a statement, a commit (SQLite's fsync is in there).
DRIVER_CALLS = {"do_execute", "do_executemany", "do_commit"}
# Frames that only pass time through to the steps below them.
WRAPPERS = {
    "worker.loop.run_until_idle",
    "worker.loop.run_round",
    "storage.slices.pay_next_slice",
}


def worker_settings(url: str, batch_size: int) -> Settings:
    return Settings(database_url=url, batch_size=batch_size, embedded_worker=False)


@dataclass(frozen=True, slots=True)
class FunctionTime:
    function: str
    seconds: float
    in_database: float


@dataclass(frozen=True, slots=True)
class Profile:
    title: str
    total: float
    functions: list[FunctionTime]

    def markdown(self) -> str:
        lines = [
            f"Profile: {self.title}; {self.total:.2f} s under pyinstrument.",
            "",
            "| payouts function (inclusive) | seconds | share"
            " | of it in the database (statements, commits) |",
            "| --- | ---: | ---: | ---: |",
        ]
        for item in self.functions:
            lines.append(
                f"| `{item.function}` | {item.seconds:.2f} | {item.seconds / self.total:.0%} |"
                f" {item.in_database:.2f} s |"
            )
        return "\n".join(lines)


def profile_payouts(data: DataSets, winners: int, batch: int, top: int = 8) -> Profile | None:
    try:
        from pyinstrument import Profiler
    except ImportError:
        return None
    data_url, challenge_id = data.demo(winners)
    url = data.backend.copy(data_url)
    try:
        with opened(url) as db:
            profiler = Profiler(interval=0.001)
            profiler.start()
            job_id = resolve(db, challenge_id).job_id
            PayoutWorker(db, worker_settings(url, batch), LocalWakeup()).run_until_idle()
            profiler.stop()
            check_paid(db, job_id)
    finally:
        data.backend.drop(url)
    session = profiler.last_session
    root = session.root_frame() if session else None
    if root is None:
        return None
    totals: dict[str, list[float]] = {}
    _walk(root, set(), totals)
    ranked = sorted(totals.items(), key=lambda item: -item[1][0])[:top]
    title = f"payouts worker, {data.backend.name}, {winners:,} winners, batch {batch:,}"
    return Profile(
        title,
        float(root.time),
        [FunctionTime(name, seconds, sql) for name, (seconds, sql) in ranked],
    )


def _is_payouts(frame: Any) -> bool:
    return str(frame.file_path or "").startswith(PAYOUTS_DIR)


def _name(frame: Any) -> str:
    module = str(frame.file_path)[len(PAYOUTS_DIR) :].removesuffix(".py").replace("/", ".")
    return f"{module}.{frame.function}"


def _database_time(frame: Any) -> float:
    if frame.function in DRIVER_CALLS:
        return float(frame.time)
    return sum(_database_time(child) for child in frame.children)


def _walk(frame: Any, open_names: set[str], totals: dict[str, list[float]]) -> None:
    name = _name(frame) if _is_payouts(frame) else None
    if name in WRAPPERS:
        name = None
    counted = name is not None and name not in open_names  # recursion counts once
    if counted:
        assert name is not None
        entry = totals.setdefault(name, [0.0, 0.0])
        entry[0] += float(frame.time)
        entry[1] += _database_time(frame)
        open_names = open_names | {name}
    for child in frame.children:
        _walk(child, open_names, totals)


def explain_postgres_batch(data: DataSets, winners: int, batch: int) -> str | None:
    """EXPLAIN (ANALYZE, BUFFERS, WAL) of payouts' PostgreSQL slice statement, on a slice
    in the middle of a job the worker has planned and started paying (rolled back)."""
    if data.backend.name != "postgres":
        return None
    data_url, challenge_id = data.demo(winners)
    url = data.backend.copy(data_url)
    try:
        with opened(url) as db:
            resolve(db, challenge_id)
            worker = PayoutWorker(db, worker_settings(url, batch), LocalWakeup())
            for _ in range(6):  # plan, then a few slices: warm caches and prepared plans
                worker.run_round()
            with db.engine.connect() as conn:
                statement = slices.PAY_SLICE_POSTGRES.compile(dialect=conn.dialect)
                slice_id = conn.exec_driver_sql(
                    "SELECT id FROM payout_slices ORDER BY seq, id LIMIT 1"
                ).scalar_one()
                plan = conn.exec_driver_sql(
                    f"EXPLAIN (ANALYZE, BUFFERS, WAL) {statement}", {"slice_id": slice_id}
                ).scalars()
                text = "\n".join(plan)
                conn.rollback()
    finally:
        data.backend.drop(url)
    return (
        f"EXPLAIN ANALYZE of payouts' PostgreSQL slice statement (storage/slices.py),"
        f" {winners:,} winners, batch {batch:,}:\n\n```\n{text}\n```"
    )
