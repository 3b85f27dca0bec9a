"""Pausing payouts: the claims of every pay path skip paused jobs (both databases), and the
API's pause/resume: idempotent, admin only, audited."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select, text

from payouts.services import challenges, jobs, processing, users
from payouts.storage import pauses
from payouts.storage.clock import utcnow
from payouts.storage.database import Database
from payouts.storage.tables import payout_jobs
from tests.support.api import admin_client, api_client, audit_rows, bearer, new_token
from tests.support.books import assert_books_balance
from tests.support.cli import invoke
from tests.support.jobs import completed_job, queued_job
from tests.support.scenario import staked_challenge, worker


def _job(db: Database, job_id: uuid.UUID) -> dict[str, object]:
    with db.read() as conn:
        row = conn.execute(select(payout_jobs).where(payout_jobs.c.id == job_id)).mappings()
        return dict(row.one())


def _pause(db: Database, job_id: uuid.UUID | None) -> None:
    with db.write() as conn:
        processing.pause(conn, job_id, "tester")


def _resume(db: Database, job_id: uuid.UUID | None) -> None:
    with db.write() as conn:
        processing.resume(conn, job_id)


class TestClaimsSkipPausedJobs:
    def test_a_paused_small_job_is_not_claimed_and_the_others_are(self, db, settings):
        paused, other = queued_job(db, winners=3), queued_job(db, winners=4)
        _pause(db, paused)
        worker(db, settings).run_until_idle()
        assert _job(db, paused)["status"] == "queued"
        assert _job(db, paused)["processed_winners"] == 0
        assert _job(db, other)["status"] == "completed"
        _resume(db, paused)
        worker(db, settings).run_until_idle()
        assert _job(db, paused)["status"] == "completed"
        with db.read() as conn:
            assert_books_balance(conn)

    def test_a_paused_big_job_is_neither_planned_nor_paid(self, db, settings):
        paused, other = queued_job(db, winners=30), queued_job(db, winners=25)
        _pause(db, paused)
        worker(db, settings, batch_size=10).run_until_idle()
        assert _job(db, paused)["planned"] is False
        assert _job(db, other)["status"] == "completed"
        _resume(db, paused)
        worker(db, settings, batch_size=10).run_until_idle()
        assert _job(db, paused)["status"] == "completed"
        with db.read() as conn:
            assert_books_balance(conn)

    def test_a_job_paused_after_planning_keeps_its_slices(self, db, settings):
        job_id = queued_job(db, winners=40)
        first = worker(db, settings, batch_size=10)
        first.run_round()  # plans it and pays a first slice
        paid = _job(db, job_id)["processed_winners"]
        assert _job(db, job_id)["planned"] is True
        assert paid < 40
        _pause(db, job_id)
        worker(db, settings, batch_size=10).run_until_idle()
        assert _job(db, job_id)["processed_winners"] == paid
        with db.read() as conn:
            left = conn.execute(text("SELECT count(*) FROM payout_slices")).scalar_one()
        assert left > 0
        _resume(db, job_id)
        worker(db, settings, batch_size=10).run_until_idle()
        assert _job(db, job_id)["status"] == "completed"
        with db.read() as conn:
            assert_books_balance(conn)

    def test_a_paused_retry_pays_no_pending_entry(self, db, settings):
        cid, stakes, _ = staked_challenge(db, [100] * 6, [50] * 3)
        frozen = min(stakes)
        with db.write() as conn:
            users.set_user_status(conn, frozen, "frozen")
            job_id = challenges.resolve(conn, cid, "challenger_won").job_id
        assert job_id is not None
        worker(db, settings).run_until_idle()
        with db.write() as conn:
            users.set_user_status(conn, frozen, "active")
            jobs.retry(conn, job_id)
        _pause(db, job_id)
        worker(db, settings).run_until_idle()
        assert _job(db, job_id)["status"] == "queued"
        _resume(db, job_id)
        worker(db, settings).run_until_idle()
        assert _job(db, job_id)["status"] == "completed"
        with db.read() as conn:
            assert_books_balance(conn)

    def test_pausing_everything_stops_every_job_and_resolves_still_queue(self, db, settings):
        first = queued_job(db, winners=3)
        _pause(db, None)
        second = queued_job(db, winners=30)  # resolving works while paused
        w = worker(db, settings, batch_size=10)
        assert w.run_round() is False
        w.run_until_idle()  # returns: what is left is paused
        assert {_job(db, j)["status"] for j in (first, second)} == {"queued"}
        _resume(db, None)
        worker(db, settings, batch_size=10).run_until_idle()
        assert {_job(db, j)["status"] for j in (first, second)} == {"completed"}
        with db.read() as conn:
            assert_books_balance(conn)

    def test_one_pause_of_everything_and_one_per_job_at_most(self, db):
        job_id = queued_job(db)
        with db.write() as conn:
            assert pauses.add_pause(conn, None, "a", utcnow()) is not None
            assert pauses.add_pause(conn, None, "b", utcnow()) is None
            assert pauses.add_pause(conn, job_id, "a", utcnow()) is not None
            assert pauses.add_pause(conn, job_id, "b", utcnow()) is None
            assert [(p.job_id, p.paused_by) for p in pauses.list_pauses(conn)] == [
                (None, "a"),
                (job_id, "a"),
            ]


class TestPauseApi:
    def test_pause_and_resume_everything_idempotently(self, settings, db):
        with admin_client(settings, db) as client:
            assert client.get("/api/admin/processing").json() == {
                "paused": False,
                "pausedBy": None,
                "pausedAt": None,
                "pausedJobs": [],
            }
            first = client.post("/api/admin/processing/pause")
            assert first.status_code == 200, first.text
            body = first.json()
            assert body["paused"] is True and body["changed"] is True
            assert body["pausedBy"] == "env-token"
            assert body["pausedAt"].endswith("Z")
            again = client.post("/api/admin/processing/pause", json={}).json()
            assert again["changed"] is False
            assert "already paused (by env-token at " in again["message"]
            assert client.get("/api/admin/processing").json()["paused"] is True
            resumed = client.post("/api/admin/processing/resume").json()
            assert resumed["paused"] is False and resumed["changed"] is True
            noop = client.post("/api/admin/processing/resume").json()
            assert noop["changed"] is False and "was not paused" in noop["message"]
        assert [(r["action"], r["target"], r["status_code"]) for r in audit_rows(db)] == [
            ("pause_processing", "everything", 200),
            ("pause_processing", "everything", 200),
            ("resume_processing", "everything", 200),
            ("resume_processing", "everything", 200),
        ]

    def test_pause_one_job(self, settings, db):
        job_id = queued_job(db)
        with admin_client(settings, db) as client:
            body = client.post("/api/admin/processing/pause", json={"jobId": str(job_id)}).json()
            assert body["paused"] is False
            assert [j["jobId"] for j in body["pausedJobs"]] == [str(job_id)]
            assert body["message"] == f"Paused payout job {job_id}."
            resumed = client.post("/api/admin/processing/resume", json={"jobId": str(job_id)})
            assert resumed.json()["pausedJobs"] == []
        assert [r["target"] for r in audit_rows(db)] == [f"job_id={job_id}"] * 2

    def test_unknown_malformed_and_completed_jobs_are_refused(self, settings, db):
        done = completed_job(db, settings)
        with admin_client(settings, db) as client:
            unknown = client.post("/api/admin/processing/pause", json={"jobId": str(uuid.uuid4())})
            assert unknown.status_code == 404
            malformed = client.post("/api/admin/processing/resume", json={"jobId": "nope"})
            assert malformed.status_code == 404
            completed = client.post("/api/admin/processing/pause", json={"jobId": str(done)})
            assert completed.status_code == 409
            assert "nothing left to pause" in completed.json()["message"]
            extra = client.post("/api/admin/processing/pause", json={"everything": True})
            assert extra.status_code == 422
            assert client.get("/api/admin/processing").json()["pausedJobs"] == []
        assert [r["status_code"] for r in audit_rows(db)] == [404, 404, 409, 422]

    def test_a_viewer_may_look_but_not_pause(self, settings, db):
        viewer = new_token(db, "auditor", "viewer")
        with api_client(settings, db) as client:
            looked = client.get("/api/admin/processing", headers=bearer(viewer))
            assert looked.status_code == 200
            for action in ("pause", "resume"):
                refused = client.post(f"/api/admin/processing/{action}", headers=bearer(viewer))
                assert refused.status_code == 403
            assert (
                client.get("/api/admin/processing", headers=bearer(viewer)).json()["paused"]
                is False
            )


class TestPauseCli:
    def test_pause_and_resume_audited(self, settings, db):
        job_id = queued_job(db)
        url = settings.database_url
        paused = invoke(url, "pause")
        assert paused.exit_code == 0, paused.output
        assert "Paused processing of every payout job." in paused.output
        assert "Payouts are PAUSED (by cli:" in paused.output
        again = invoke(url, "pause")
        assert again.exit_code == 0 and "already paused" in again.output
        one = invoke(url, "pause", str(job_id)[:8])
        assert one.exit_code == 0 and f"Job {job_id} is paused" in one.output
        status = invoke(url, "pause", "--status", "--json")
        assert status.exit_code == 0
        assert '"paused": true' in status.output
        resumed = invoke(url, "resume", str(job_id))
        assert resumed.exit_code == 0, resumed.output
        assert "Every job is still paused, though" in resumed.output
        assert invoke(url, "resume").exit_code == 0
        unknown = invoke(url, "resume", "abcdef12")
        assert unknown.exit_code == 2
        rows = audit_rows(db)
        assert [(r["action"], r["target"], r["status_code"]) for r in rows] == [
            ("pause_processing", "everything", 200),
            ("pause_processing", "everything", 200),
            ("pause_processing", f"job_id={job_id}", 200),
            ("resume_processing", f"job_id={job_id}", 200),
            ("resume_processing", "everything", 200),
            ("resume_processing", "job_id=abcdef12", 404),
        ]
        assert all(str(r["actor"]).startswith("cli") for r in rows)


class TestPauseInTheConsole:
    @staticmethod
    def _sign_in(client, token=None):
        from tests.support.tokens import ADMIN_TOKEN

        response = client.post(
            "/admin/login", data={"token": token or ADMIN_TOKEN}, follow_redirects=False
        )
        assert response.status_code == 303
        page = client.get("/admin/processing")
        match = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
        return match.group(1) if match else ""

    def test_pause_with_confirmation_banner_everywhere_and_resume(self, settings, db):
        job_id = queued_job(db)
        with api_client(settings, db) as client:
            csrf = self._sign_in(client)
            confirm = client.get("/admin/processing")
            assert "Yes, pause all payouts" in confirm.text
            assert "paused-banner" not in client.get("/admin/jobs").text
            refused = client.post("/admin/processing/pause", data={"csrf": "bad"})
            assert refused.status_code == 403
            done = client.post(
                "/admin/processing/pause", data={"csrf": csrf}, follow_redirects=False
            )
            assert done.status_code == 303
            for path in ("/admin/jobs", "/admin/challenges", f"/admin/jobs/{job_id}"):
                page = client.get(path).text
                assert "Payouts paused</strong> by env-token at <time datetime=" in page, path
            paused_job = client.post(
                "/admin/processing/pause",
                data={"csrf": csrf, "job": str(job_id)},
                follow_redirects=False,
            )
            assert paused_job.status_code == 303
            assert "This job is paused" in client.get(f"/admin/jobs/{job_id}").text
            client.post("/admin/processing/resume", data={"csrf": csrf})
            client.post("/admin/processing/resume", data={"csrf": csrf, "job": str(job_id)})
            assert "paused-banner" not in client.get("/admin/jobs").text
        assert [(r["action"], r["target"], r["status_code"]) for r in audit_rows(db)] == [
            ("ui_pause_processing", None, 403),
            ("ui_pause_processing", "everything", 303),
            ("ui_pause_processing", f"job_id={job_id}", 303),
            ("ui_resume_processing", "everything", 303),
            ("ui_resume_processing", f"job_id={job_id}", 303),
        ]

    def test_a_viewer_sees_the_banner_but_cannot_pause(self, settings, db):
        with db.write() as conn:
            processing.pause(conn, None, "ops-admin")
        viewer = new_token(db, "ui-viewer", "viewer")
        with api_client(settings, db) as client:
            csrf = self._sign_in(client, viewer)
            page = client.get("/admin/processing").text
            assert "Resume all payouts" not in page
            assert "may look but not pause" in page
            assert "Payouts paused</strong> by ops-admin" in client.get("/admin/jobs").text
            refused = client.post("/admin/processing/resume", data={"csrf": csrf})
            assert refused.status_code == 403
        with db.read() as conn:
            assert processing.state(conn).paused
