"""The transitions the trigger records as real workers pay (both databases), and the one
meaning of speed in the status API: phase, rate per second of paying time, took."""

from __future__ import annotations

from payouts.services import challenges, jobs, processing, users
from payouts.services.monitoring import timings_of, transitions_of
from payouts.storage.clock import utcnow
from tests.support.api import admin_client, job_status
from tests.support.jobs import queued_job
from tests.support.scenario import staked_challenge, worker


def _steps(db, job_id):
    with db.read() as conn:
        return [(t.status, t.planned) for t in transitions_of(conn, [job_id])[job_id]]


def test_a_big_job_records_planning_paying_and_completion(db, settings):
    job_id = queued_job(db, winners=30)
    worker(db, settings, batch_size=10).run_until_idle()
    assert _steps(db, job_id) == [
        ("running", False),
        ("running", True),
        ("completed", True),
    ]
    with db.read() as conn:
        row = jobs.get_job(conn, job_id)
        timing = timings_of(conn, [row], utcnow())[job_id]
    assert timing.phase == "completed"
    assert timing.paying_seconds <= (timing.duration_seconds or 0)


def test_a_small_job_goes_from_queued_to_completed_in_one_step(db, settings):
    job_id = queued_job(db, winners=3)
    worker(db, settings).run_until_idle()
    assert _steps(db, job_id) == [("completed", True)]


def test_failure_retry_and_pause_are_recorded(db, settings):
    cid, stakes, _ = staked_challenge(db, [100] * 4, [50] * 2)
    frozen = min(stakes)
    with db.write() as conn:
        users.set_user_status(conn, frozen, "frozen")
        job_id = challenges.resolve(conn, cid, "challenger_won").job_id
    worker(db, settings).run_until_idle()
    with db.write() as conn:
        users.set_user_status(conn, frozen, "active")
        jobs.retry(conn, job_id)
        processing.pause(conn, None, "ops")
        processing.pause(conn, job_id, "ops")  # already held: no second mark
        processing.resume(conn, None)  # the job's own pause still holds it: no mark
        processing.resume(conn, job_id)
    worker(db, settings).run_until_idle()
    assert _steps(db, job_id) == [
        ("failed", True),
        ("queued", True),
        ("paused", True),
        ("resumed", True),
        ("completed", True),  # one batch paid the retried entry and closed the job
    ]


def test_the_status_api_says_the_phase_and_the_rate(db, settings):
    job_id = queued_job(db, winners=30)
    with admin_client(settings, db) as client:
        queued = job_status(client, job_id)
        assert (queued["phase"], queued["paidPerSecond"], queued["etaSeconds"]) == (
            "queued",
            None,
            None,
        )
        client.post("/api/admin/processing/pause", json={"jobId": str(job_id)})
        assert job_status(client, job_id)["phase"] == "paused"
        client.post("/api/admin/processing/resume", json={"jobId": str(job_id)})
        worker(db, settings, batch_size=10).run_until_idle()
        done = job_status(client, job_id)
        assert done["phase"] == "completed"
        assert done["tookSeconds"] is not None and done["etaSeconds"] is None
        listed = client.get("/api/admin/payout-jobs").json()
        assert listed[0]["phase"] == "completed"
