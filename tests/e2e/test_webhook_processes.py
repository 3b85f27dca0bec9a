"""Webhooks end to end: `payouts worker` processes deliver to a real receiver process that
verifies every signature with the standardwebhooks library."""

from __future__ import annotations

import itertools
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from payouts.domain.events import retry_bounds
from payouts.services import challenges
from payouts.services.demo import create_demo
from payouts.storage.database import Database
from payouts.storage.tables import payout_jobs, transactions, webhook_deliveries
from tests.support.cli import payouts_env, start_payouts, wait_for
from tests.support.events import assert_events_match_ledger
from tests.support.webhooks import Receiver, add_endpoint


def resolved_demo(db: Database, winners: int, seed: int = 1) -> int:
    with db.write() as conn:
        made = create_demo(conn, winners, winners // 10, fee_bps=500, seed=seed)
        challenges.resolve(conn, made.challenge_id, "challenger_won")
    return made.challenge_id


def job_status(db: Database, challenge_id: int) -> str | None:
    with db.read() as conn:
        return conn.execute(
            select(payout_jobs.c.status).where(payout_jobs.c.challenge_id == challenge_id)
        ).scalar_one_or_none()


def ledger(db: Database) -> dict[int, tuple[int, int]]:
    t = transactions.c
    with db.read() as conn:
        return {
            row.id: (row.user_id, row.amount)
            for row in conn.execute(
                select(t.id, t.user_id, t.amount).where(t.payout_entry_id.is_not(None))
            )
        }


def deduped(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events by first arrival; a repeat must be the same event (same id, same body)."""
    first: dict[str, dict[str, Any]] = {}
    for event in events:
        if event["id"] in first:
            assert first[event["id"]] == event, "one event id, two bodies"
        else:
            first[event["id"]] = event
    return list(first.values())


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        worker.kill()
        worker.wait()


def assert_received_everything(db: Database, hook: Receiver) -> list[dict[str, Any]]:
    records = hook.records()
    assert records and all(r["verified"] for r in records)
    got = deduped(hook.accepted_events())
    with db.read() as conn:
        stored = assert_events_match_ledger(conn)
    assert sorted(e["id"] for e in got) == sorted(f"evt_{e['id']}" for e in stored)
    paid = {e["data"]["transactionId"]: e["data"] for e in got if e["type"] == "payout.paid"}
    assert {tx: (d["userId"], d["amount"]) for tx, d in paid.items()} == ledger(db)
    return got


class TestTwoWorkers:
    def test_one_paid_event_per_winner_with_amounts_equal_to_the_ledger(
        self, db: Database, database_url: str, tmp_path: Path
    ) -> None:
        hook = Receiver(tmp_path / "received.jsonl")
        _, secret = add_endpoint(database_url, hook.url)
        hook.start(secret)
        env = payouts_env(database_url, batch_size=500, worker_interval_seconds=0.2)
        workers = [start_payouts(["worker"], env, tmp_path / "workers.log") for _ in range(2)]
        try:
            cid = resolved_demo(db, 20_000)
            wait_for(lambda: job_status(db, cid) == "completed", 120, "the job")

            def all_arrived() -> bool:
                return any(e["type"] == "job.completed" for e in hook.accepted_events())

            wait_for(all_arrived, 120, "job.completed at the receiver")
        finally:
            stop_workers(workers)
            hook.stop()
        got = assert_received_everything(db, hook)
        assert sum(e["type"] == "payout.paid" for e in got) == 20_000
        assert all(len(r["events"]) <= 100 for r in hook.records())


@pytest.mark.parametrize("backend", ["sqlite"])
class TestFailingReceiver:
    def test_500s_then_down_then_back_everything_arrives_in_order(
        self, db: Database, database_url: str, tmp_path: Path
    ) -> None:
        hook = Receiver(tmp_path / "received.jsonl")
        endpoint_id, secret = add_endpoint(database_url, hook.url)
        hook.start(secret, "--fail-first", "3")
        env = payouts_env(
            database_url,
            batch_size=50,
            worker_interval_seconds=0.2,
            webhook_batch=50,
            webhook_retry_base_seconds=0.2,
            webhook_max_attempts=30,
        )
        worker = start_payouts(["worker"], env, tmp_path / "worker.log")
        try:
            cid = resolved_demo(db, 120)
            wait_for(lambda: len(hook.records()) >= 3, 60, "three 500 answers")
            hook.stop()  # down: connections refused
            wait_for(lambda: job_status(db, cid) == "completed", 60, "the job")
            time.sleep(1.5)  # a few refused attempts
            hook.start()  # back
            wait_for(
                lambda: any(e["type"] == "job.completed" for e in hook.accepted_events()),
                60,
                "job.completed at the receiver",
            )
        finally:
            stop_workers([worker])
            hook.stop()
        got = assert_received_everything(db, hook)
        with db.read() as conn:
            stored = assert_events_match_ledger(conn)
            first = (
                conn.execute(select(webhook_deliveries).order_by(webhook_deliveries.c.id))
                .mappings()
                .first()
            )
        assert [e["id"] for e in got] == [f"evt_{e['id']}" for e in stored]  # in order
        records = hook.records()
        assert [r["answered"] for r in records[:3]] == [500, 500, 500]
        assert len({r["webhook_id"] for r in records[:3]}) == 1  # the same delivery, retried
        for attempt, (before, after) in enumerate(itertools.pairwise(records[:3]), start=1):
            assert after["at"] - before["at"] >= retry_bounds(attempt, 0.2)[0]
        assert first is not None and first["status"] == "delivered"
        assert first["attempts"] > 4  # 3 answered 500, at least one refused, then 2xx
        assert first["endpoint_id"] == endpoint_id


@pytest.mark.parametrize("backend", ["postgres"])
class TestKilledWorkers:
    def test_workers_killed_mid_delivery_and_mid_payment_lose_nothing(
        self, db: Database, database_url: str, tmp_path: Path
    ) -> None:
        hook = Receiver(tmp_path / "received.jsonl")
        _, secret = add_endpoint(database_url, hook.url)
        hook.start(secret, "--slow", "0.5")
        env = payouts_env(
            database_url,
            batch_size=20,  # 1,000 payments: the job is still paying at the kill
            worker_interval_seconds=0.2,
            webhook_batch=1000,
            webhook_timeout_seconds=1,
        )
        log = tmp_path / "workers.log"
        workers = [start_payouts(["worker"], env, log) for _ in range(2)]
        try:
            cid = resolved_demo(db, 20_000)
            # the receiver records a POST when it arrives and answers 0.5 s later
            wait_for(lambda: len(hook.records()) >= 1, 60, "a delivery in flight")
            mid_payment = job_status(db, cid) != "completed"
            for worker in workers:
                worker.send_signal(signal.SIGKILL)
                worker.wait()
            hook.stop()
            hook.start()  # answers at once from now on
            workers = [start_payouts(["worker"], env, log) for _ in range(2)]
            wait_for(lambda: job_status(db, cid) == "completed", 120, "the job")
            wait_for(
                lambda: any(e["type"] == "job.completed" for e in hook.accepted_events()),
                120,
                "job.completed at the receiver",
            )
        finally:
            stop_workers(workers)
            hook.stop()
        got = assert_received_everything(db, hook)
        assert sum(e["type"] == "payout.paid" for e in got) == 20_000
        assert mid_payment, "the job finished before the kill; make it bigger"


@pytest.mark.parametrize("backend", ["postgres"])
class TestHangingReceiver:
    def test_payouts_go_on_and_the_worker_stops_on_sigterm(
        self, db: Database, database_url: str, tmp_path: Path
    ) -> None:
        hook = Receiver(tmp_path / "received.jsonl")
        _, secret = add_endpoint(database_url, hook.url)
        hook.start(secret, "--hang")
        env = payouts_env(database_url, batch_size=500, worker_interval_seconds=0.2)
        worker = start_payouts(["worker"], env, tmp_path / "worker.log")
        try:
            cid = resolved_demo(db, 5_000)
            wait_for(lambda: len(hook.records()) >= 1, 60, "a POST the receiver never answers")
            wait_for(lambda: job_status(db, cid) == "completed", 60, "the job, meanwhile")
            assert not hook.accepted_events()
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=10)  # the worker's default timeout is 10 s: it must not wait
        finally:
            stop_workers([worker])
            hook.stop()
        assert worker.returncode == 0, (tmp_path / "worker.log").read_text()[-2000:]
