"""The operator console's server side on both backends: the one feed a live page polls,
the failed-job workflow (users, unfreeze, the retry warning, the timeline) and the history
with its search by challenge and by user."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from payouts.app import create_app
from payouts.services import console
from payouts.storage.clock import iso_utc, utcnow
from payouts.storage.tables import payout_jobs
from tests.integration.test_admin_pages import _bearer, sign_in, viewer_token
from tests.support.books import assert_books_balance
from tests.support.scenario import staked_challenge, worker


@pytest.fixture
def client(db, settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db, embedded_worker=False)) as test_client:
        yield test_client


def _resolve(client: TestClient, csrf: str, cid: int, pool: int) -> str:
    response = client.post(
        f"/admin/challenges/{cid}/resolve",
        data={"result": "challenger_won", "pool": str(pool), "csrf": csrf},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return response.headers["location"].rsplit("#job-", 1)[1]


def _failed_job(client, db, settings) -> tuple[str, int, int]:
    """A job whose one frozen winner failed: (job id, challenge id, frozen user id)."""
    cid, winners, _ = staked_challenge(db, [100, 200, 300], [400])
    frozen = next(iter(winners))
    csrf = sign_in(client)
    assert client.post(f"/api/admin/users/{frozen}/freeze", headers=_bearer()).status_code == 200
    job_id = _resolve(client, csrf, cid, 1000)
    worker(db, settings).run_until_idle()
    return job_id, cid, frozen


class TestFeed:
    def test_one_answer_carries_moved_new_and_ended_jobs_with_counts(self, client, db, settings):
        csrf = sign_in(client)
        since = iso_utc(utcnow())
        first, _, _ = staked_challenge(db, [100, 200], [300])
        watched = _resolve(client, csrf, first, 600)
        feed = client.get("/admin/feed", params={"since": since}).json()
        (job,) = feed["jobs"]
        assert (job["jobId"], job["section"]) == (watched, "active")
        assert 'data-job-id="' + watched in job["html"]  # a row the page has not got
        assert feed["counts"]["queued"] == 1
        feed = client.get("/admin/feed", params={"since": since, "watch": watched}).json()
        assert feed["jobs"][0]["html"] == ""  # the page has the row: figures only

        worker(db, settings).run_until_idle()
        second, _, _ = staked_challenge(db, [100], [300])
        quick = _resolve(client, csrf, second, 400)
        worker(db, settings).run_until_idle()  # created and finished between two polls
        feed = client.get("/admin/feed", params={"since": since, "watch": watched}).json()
        by_id = {j["jobId"]: j for j in feed["jobs"]}
        assert by_id[watched]["section"] == "completed"
        assert by_id[quick]["section"] == "completed"
        assert "<tr" in by_id[quick]["html"]
        assert feed["counts"]["completed"] == 2 and feed["counts"]["queued"] == 0

    def test_a_failed_job_comes_with_its_users_and_the_retry_warning(self, client, db, settings):
        since = iso_utc(utcnow())
        _, _, frozen = _failed_job(client, db, settings)
        feed = client.get("/admin/feed", params={"since": since}).json()
        (job,) = feed["jobs"]
        assert job["section"] == "failed" and job["failedWinners"] == 1
        assert f'href="/admin/users/{frozen}"' in job["html"]
        assert "1 failed entry." in job["html"] and "1 failed entries" not in job["html"]
        assert "still frozen" in job["html"] and "Retry anyway" in job["html"]

    def test_bad_parameters_are_refused(self, client):
        sign_in(client)
        assert client.get("/admin/feed", params={"since": "yesterday"}).status_code == 422
        response = client.get("/admin/feed", params={"since": "2024-01-01", "watch": "x"})
        assert response.status_code == 422

    def test_the_feed_needs_a_session(self, client):
        assert client.get("/admin/feed", params={"since": "2024-01-01"}).status_code == 401


class TestFailedJobWorkflow:
    def test_retry_refuses_while_frozen_then_unfreeze_and_retry_pays(self, client, db, settings):
        job_id, _, frozen = _failed_job(client, db, settings)
        csrf = sign_in(client)
        refused = client.post(f"/admin/jobs/{job_id}/retry", data={"csrf": csrf})
        assert "Not retried: 1 user of the failed entries is still frozen" in refused.text
        status = client.get(f"/api/admin/payout-jobs/{job_id}/status").json()
        assert status["status"] == "failed"

        user_page = client.get(f"/admin/users/{frozen}")
        assert "frozen" in user_page.text and "Unfreeze" in user_page.text
        unfrozen = client.post(f"/admin/users/{frozen}/unfreeze", data={"csrf": csrf})
        assert f"User #{frozen}" in unfrozen.text and "active again" in unfrozen.text
        assert client.get(f"/api/admin/users/{frozen}").json()["status"] == "active"

        retried = client.post(f"/admin/jobs/{job_id}/retry", data={"csrf": csrf})
        assert f"Retry started for job {job_id[:8]}: 1 failed entry pending again" in retried.text
        assert job_id not in retried.text.split("Retry started", 1)[1].split("</p>", 1)[0]
        worker(db, settings).run_until_idle()
        page = client.get(f"/admin/jobs/{job_id}").text
        timeline = page.split('id="timeline"', 1)[1].split("</ol>", 1)[0]
        steps = re.findall(r'<span class="what">([^<]+)</span>', timeline)
        assert steps[0] == "Resolved the challenge"
        assert "Retried the failed entries" in steps
        assert steps[-1] == "Completed: every winner paid"
        assert steps.index("Retried the failed entries") > steps.index("Started")
        with db.read() as conn:
            actions = conn.execute(text("SELECT action, target FROM audit_log")).all()
            assert_books_balance(conn)
        assert ("ui_unfreeze_user", f"user_id={frozen}") in actions

    def test_a_viewer_sees_the_user_but_cannot_unfreeze(self, client, db, settings):
        _, _, frozen = _failed_job(client, db, settings)
        client.cookies.clear()
        csrf = sign_in(client, viewer_token(db))
        page = client.get(f"/admin/users/{frozen}")
        assert page.status_code == 200 and 'action="/admin/users/' not in page.text
        response = client.post(f"/admin/users/{frozen}/unfreeze", data={"csrf": csrf})
        assert response.status_code == 403
        assert client.get(f"/api/admin/users/{frozen}", headers=_bearer()).json()["status"] == (
            "frozen"
        )

    def test_unfreeze_needs_the_csrf_token(self, client, db, settings):
        _, _, frozen = _failed_job(client, db, settings)
        sign_in(client)
        response = client.post(f"/admin/users/{frozen}/unfreeze", data={"csrf": "forged"})
        assert response.status_code == 403


class TestHistory:
    def test_search_by_challenge_and_by_user_and_filters(self, client, db, settings):
        csrf = sign_in(client)
        made = []
        for _ in range(3):
            cid, winners, _ = staked_challenge(db, [100, 200], [300])
            made.append((cid, _resolve(client, csrf, cid, 600), winners))
        worker(db, settings).run_until_idle()
        cid, job_id, winners = made[1]
        found = client.get("/admin/history", params={"q": f"#{cid}"}).text
        assert f'id="job-{job_id}"' in found and found.count('<tr id="job-') == 1

        user = next(iter(winners))
        with db.read() as conn:
            paid = conn.execute(
                text("SELECT amount FROM payout_entries WHERE user_id = :u"), {"u": user}
            ).scalar_one()
        by_user = client.get("/admin/history", params={"q": f"user {user}"}).text
        assert f'id="job-{job_id}"' in by_user
        assert re.search(rf'data-field="user-amount">{paid:,}<', by_user)

        every = client.get("/admin/history", params={"status": "completed"}).text
        ids = re.findall(r'<tr id="job-([0-9a-f-]+)"', every)
        with db.read() as conn:
            j = payout_jobs.c
            ended = {str(k): v for k, v in conn.execute(select(j.id, j.completed_at)).all()}
        ends = [ended[i] for i in ids]
        assert len(ids) == 3 and ends == sorted(ends, reverse=True)  # the last to end first
        assert "No job matches" in client.get("/admin/history?kind=refund").text
        today = utcnow().date().isoformat()
        dated = client.get("/admin/history", params={"from": today, "to": today}).text
        assert dated.count('<tr id="job-') == 3
        assert client.get("/admin/history", params={"q": "no such thing"}).status_code == 422

    def test_history_pages(self, client, db, settings):
        csrf = sign_in(client)
        for _ in range(21):
            cid, _, _ = staked_challenge(db, [100], [300])
            _resolve(client, csrf, cid, 400)
        worker(db, settings).run_until_idle()
        first = client.get("/admin/history").text
        assert first.count('<tr id="job-') == 20 and "page 1 of 2" in first
        second = client.get("/admin/history?page=2").text
        assert second.count('<tr id="job-') == 1
        jobs_page = client.get("/admin/jobs").text
        assert 'data-count="completed">21<' in jobs_page


def test_the_challenges_search_finds_a_hash_id(client, db):
    cid, _, _ = staked_challenge(db, [100], [300])
    sign_in(client)
    page = client.get("/admin/challenges", params={"q": f"#{cid}"}).text
    assert f'data-challenge-id="{cid}"' in page


class TestThroughput:
    def test_the_chart_counts_every_winner_paid_and_keeps_counting(self, client, db, settings):
        csrf = sign_in(client)
        hour, day = console.ThroughputCache(3600, 60), console.ThroughputCache(86_400, 900)
        cid, _, _ = staked_challenge(db, [100, 200, 300], [400])
        _resolve(client, csrf, cid, 1000)
        worker(db, settings).run_until_idle()
        with db.read() as conn:
            first = (hour.read(conn, utcnow()).total, day.read(conn, utcnow()).total)
        assert first == (3, 3)
        cid, _, _ = staked_challenge(db, [100, 200], [400])
        _resolve(client, csrf, cid, 700)
        worker(db, settings).run_until_idle()
        with db.read() as conn:
            paid = conn.execute(
                text("SELECT COUNT(*) FROM transactions WHERE type = 'challenge_payout'")
            ).scalar_one()
            later = hour.read(conn, utcnow())
            assert (later.total, day.read(conn, utcnow()).total) == (paid, paid) == (5, 5)
            assert len(later.counts) == 60 and later.counts[-1] + later.counts[-2] == 5
        page = client.get("/admin/jobs").text
        assert 'data-window="hour" data-paid="5"' in page and 'class="bar"' in page

    def test_no_ledger_rows_no_bars(self, client, db):
        sign_in(client)
        with db.read() as conn:
            assert console.ThroughputCache(3600, 60).read(conn, utcnow()).total == 0
        assert "Nobody was paid in this window" in client.get("/admin/jobs").text


def test_a_job_page_feed_carries_only_its_job(client, db):
    csrf = sign_in(client)
    jobs = []
    for _ in range(2):
        cid, _, _ = staked_challenge(db, [100], [300])
        jobs.append(_resolve(client, csrf, cid, 400))
    params = {"since": "2000-01-01T00:00:00Z", "watch": jobs[0], "only": "true"}
    feed = client.get("/admin/feed", params=params).json()
    assert [job["jobId"] for job in feed["jobs"]] == [jobs[0]]
