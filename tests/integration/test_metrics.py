"""GET /metrics scraped and parsed, with a real worker paying real entries."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from payouts.app import create_app
from payouts.services import users
from payouts.storage.tables import payout_jobs
from tests.support.jobs import failed_job, queued_job
from tests.support.scenario import staked_challenge
from tests.support.tokens import ADMIN_TOKEN

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def wait_for_status(client: TestClient, job_id: str, wanted: str) -> None:
    """Polls until the worker gets there; the suite's timeout bounds a hang."""
    url = f"/api/admin/payout-jobs/{job_id}/status"
    while client.get(url, headers=AUTH).json()["status"] != wanted:
        time.sleep(0.02)


def resolve(client: TestClient, challenge_id: int) -> str:
    response = client.post(
        f"/api/admin/challenges/{challenge_id}/result",
        json={"result": "challenger_won"},
        headers=AUTH,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["payoutJobId"])


def test_queue_gauges_come_from_the_database(db, settings):
    failed_job(db, settings)  # paid by a worker outside the app: gauges see it, counters not
    queued_job(db, winners=3)
    with TestClient(create_app(settings, db, embedded_worker=False)) as client:
        samples = scrape(client)
    assert value(samples, "payouts_database_up") == 1
    assert value(samples, "payouts_jobs", status="queued") == 1
    assert value(samples, "payouts_jobs", status="failed") == 1
    assert value(samples, "payouts_jobs", status="completed") == 0
    assert value(samples, "payouts_failed_entries") == 1
    assert value(samples, "payouts_pending_winners") == 3
    assert value(samples, "payouts_queue_lag_seconds") > 0
    assert ("payouts_winners_paid_total", (("kind", "payout"),)) not in samples


def test_worker_counters_after_a_job_is_paid(db, settings):
    cid, winners, _ = staked_challenge(db, [100 + n for n in range(120)], [70] * 30)
    app = create_app(settings.model_copy(update={"batch_size": 25}), db, embedded_worker=True)
    with TestClient(app) as client:
        before = scrape(client)
        assert value(before, "payouts_queue_lag_seconds") == 0
        job_id = resolve(client, cid)
        wait_for_status(client, job_id, "completed")
        samples = scrape(client)
    with db.read() as conn:
        winner_pool = conn.execute(
            select(payout_jobs.c.winner_pool).where(payout_jobs.c.challenge_id == cid)
        ).scalar_one()
    assert value(samples, "payouts_winners_paid_total", kind="payout") == len(winners)
    assert value(samples, "payouts_coins_paid_total", kind="payout") == winner_pool
    assert value(samples, "payouts_entries_failed_total", kind="payout") == 0
    assert value(samples, "payouts_batch_duration_seconds_count") == 5  # 120 entries by 25
    assert value(samples, "payouts_batch_duration_seconds_sum") > 0
    assert (
        value(samples, "payouts_worker_heartbeat_timestamp_seconds", worker="embedded-worker") > 0
    )
    assert value(samples, "payouts_jobs", status="completed") == 1
    assert value(samples, "payouts_pending_winners") == 0
    assert value(samples, "payouts_queue_lag_seconds") == 0


def test_failed_entries_counted_then_cleared_by_a_retry(db, settings):
    cid, winners, _ = staked_challenge(db, [100] * 10, [50] * 5)
    frozen = min(winners)
    with db.write() as conn:
        users.set_user_status(conn, frozen, "frozen")
    with TestClient(create_app(settings, db, embedded_worker=True)) as client:
        job_id = resolve(client, cid)
        wait_for_status(client, job_id, "failed")
        failed = scrape(client)
        assert value(failed, "payouts_entries_failed_total", kind="payout") == 1
        assert value(failed, "payouts_failed_entries") == 1
        assert value(failed, "payouts_jobs", status="failed") == 1

        client.post(f"/api/admin/users/{frozen}/unfreeze", headers=AUTH)
        assert client.post(f"/api/admin/payout-jobs/{job_id}/retry", headers=AUTH).is_success
        wait_for_status(client, job_id, "completed")
        retried = scrape(client)
    assert value(retried, "payouts_failed_entries") == 0
    assert value(retried, "payouts_winners_paid_total", kind="payout") == 10
    assert value(retried, "payouts_jobs", status="completed") == 1


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_scrape_still_answers_when_the_database_is_gone(settings, tmp_path):
    gone = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path}/no/such/dir.db"})
    with TestClient(create_app(gone, embedded_worker=False)) as client:
        samples = scrape(client)
    assert value(samples, "payouts_database_up") == 0
