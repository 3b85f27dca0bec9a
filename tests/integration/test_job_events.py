"""The Server-Sent Events stream of a job's status, read from a real server while a real
worker pays the job."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from payouts.api import live
from payouts.app import create_app
from payouts.services import tokens
from payouts.worker.loop import WorkerThread
from tests.support.jobs import completed_job, queued_job
from tests.support.scenario import worker
from tests.support.server import running
from tests.support.tokens import ADMIN_TOKEN

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
KEEPALIVE = "keep-alive"


def events(response: httpx.Response) -> Iterator[dict[str, Any] | str]:
    """Each `data:` event as JSON; a comment line as the string KEEPALIVE."""
    data: list[str] = []
    for line in response.iter_lines():
        if line.startswith(":"):
            yield KEEPALIVE
        elif line.startswith("data: "):
            data.append(line.removeprefix("data: "))
        elif line == "" and data:
            yield json.loads("\n".join(data))
            data = []


def event_streams(base: str) -> float:
    scraped = httpx.get(f"{base}/metrics").text
    for family in text_string_to_metric_families(scraped):
        if family.name == "payouts_event_streams":
            return float(family.samples[0].value)
    raise AssertionError("no payouts_event_streams metric")


def test_stream_follows_the_job_until_it_completes(db, settings):
    job_id = queued_job(db, winners=200)
    app = create_app(settings, db, embedded_worker=False)
    thread = WorkerThread(worker(db, settings, batch_size=20))
    received: list[dict[str, Any]] = []
    with running(app) as base:
        url = f"{base}/api/admin/payout-jobs/{job_id}/events"
        with httpx.stream("GET", url, headers=AUTH, timeout=None) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            for event in events(response):
                if event == KEEPALIVE:
                    continue
                assert isinstance(event, dict)
                received.append(event)
                if len(received) == 1:
                    thread.start()  # the worker starts once the queued state was seen
        # the server ended the stream by itself
        thread.stop()
        final = httpx.get(f"{base}/api/admin/payout-jobs/{job_id}/status", headers=AUTH).json()
    assert received[0]["status"] == "queued" and received[0]["processedWinners"] == 0
    assert received[-1] == final  # the status endpoint's shape and values
    assert final["status"] == "completed" and final["processedWinners"] == 200
    assert len(received) >= 2
    assert all(a != b for a, b in itertools.pairwise(received))  # changes only
    paid = [e["processedWinners"] for e in received]
    assert paid == sorted(paid)


def test_a_finished_job_sends_one_event_and_ends(db, settings):
    job_id = completed_job(db, settings)
    with db.write() as conn:
        viewer = tokens.create_token(conn, "dashboard", "viewer")
    with TestClient(create_app(settings, db, embedded_worker=False)) as client:
        headers = {"Authorization": f"Bearer {viewer}"}
        url = f"/api/admin/payout-jobs/{job_id}/events"
        with client.stream("GET", url, headers=headers) as response:
            assert response.status_code == 200
            received = list(events(response))
    assert len(received) == 1
    assert isinstance(received[0], dict)
    assert received[0]["status"] == "completed"


def test_the_stream_needs_a_token_and_a_known_job(db, settings):
    job_id = queued_job(db)
    with TestClient(create_app(settings, db, embedded_worker=False)) as client:
        unauthorised = client.get(f"/api/admin/payout-jobs/{job_id}/events")
        assert unauthorised.status_code == 401
        assert "message" in unauthorised.json()
        unknown = client.get(
            "/api/admin/payout-jobs/00000000-0000-4000-8000-000000000000/events", headers=AUTH
        )
        assert unknown.status_code == 404
        assert client.get("/api/admin/payout-jobs/nope/events", headers=AUTH).status_code == 404


def test_quiet_stream_sends_keepalives_and_stops_when_the_client_leaves(db, settings, monkeypatch):
    monkeypatch.setattr(live, "POLL_SECONDS", 0.01)
    monkeypatch.setattr(live, "KEEPALIVE_SECONDS", 0.05)
    job_id = queued_job(db)  # no worker: the job stays queued and the stream stays quiet
    with running(create_app(settings, db, embedded_worker=False)) as base:
        url = f"{base}/api/admin/payout-jobs/{job_id}/events"
        with httpx.stream("GET", url, headers=AUTH, timeout=None) as response:
            stream = events(response)
            first = next(stream)
            assert isinstance(first, dict) and first["status"] == "queued"
            assert next(stream) == KEEPALIVE
            assert event_streams(base) == 1
        # the client hung up; the server notices and closes its side
        while event_streams(base) != 0:
            time.sleep(0.01)


def test_streams_end_when_the_server_stops(db, settings):
    job_id = queued_job(db)  # no worker: the job stays queued
    app = create_app(settings, db, embedded_worker=False)
    with running(app) as base:
        url = f"{base}/api/admin/payout-jobs/{job_id}/events"
        with httpx.stream("GET", url, headers=AUTH, timeout=None) as response:
            stream = events(response)
            first = next(stream)
            assert isinstance(first, dict) and first["status"] == "queued"
            app.state.server.should_exit = True  # what SIGINT / SIGTERM do
            rest = list(stream)  # ends: the server closed the stream to stop
    assert all(event == KEEPALIVE for event in rest)
