"""`payouts worker --metrics-port` as a real process: its /metrics and its JSON log lines."""

from __future__ import annotations

import json
import signal
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from payouts.storage.tables import payout_jobs
from tests.support.cli import payouts_env, start_payouts
from tests.support.jobs import queued_job
from tests.support.server import free_port


def test_worker_process_serves_metrics_and_logs_json(db, database_url, tmp_path):
    port = free_port()
    log_path = tmp_path / "worker.log"
    env = payouts_env(database_url, log_format="json", batch_size=40, worker_interval_seconds=0.2)
    process = start_payouts(["worker", "--metrics-port", str(port)], env, log_path)
    try:
        metrics_url = f"http://127.0.0.1:{port}/metrics"
        while True:  # until the worker listens; a crash ends the wait
            assert process.poll() is None, log_path.read_text()
            try:
                httpx.get(metrics_url)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        job_id = queued_job(db, winners=100)  # the commit wakes the worker process
        status = None
        while status != "completed":
            assert process.poll() is None, log_path.read_text()
            time.sleep(0.05)
            with db.read() as conn:
                status = conn.execute(
                    select(payout_jobs.c.status).where(payout_jobs.c.id == job_id)
                ).scalar_one()
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(httpx.get(metrics_url).text)
            for s in family.samples
        }
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait()
    assert process.returncode == 0
    assert samples[("payouts_winners_paid_total", (("kind", "payout"),))] == 100
    assert samples[("payouts_batch_duration_seconds_count", ())] == 3  # 100 entries by 40
    assert samples[("payouts_worker_heartbeat_timestamp_seconds", (("worker", "worker-0"),))] > 0
    assert samples[("payouts_jobs", (("status", "completed"),))] == 1

    records = [json.loads(line) for line in log_path.read_text().splitlines()]  # all JSON
    mine = [r for r in records if r.get("job_id") == str(job_id)]
    transitions = [r["to_status"] for r in mine if r["event"] == "job_transition"]
    assert transitions == ["running", "completed"]
    assert sum(r["paid"] for r in mine if r["event"] == "batch") == 100
    assert all(r["worker"] == "worker-0" for r in mine)
