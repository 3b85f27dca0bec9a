"""The transactional outbox: an event exists if and only if its payment (job transition,
resolution) committed, on every pay path, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from payouts.services import challenges, jobs, users
from payouts.storage import slices
from payouts.storage.events import job_data
from payouts.storage.tables import payout_jobs
from tests.support.api import api_client, bearer
from tests.support.events import all_events, assert_events_match_ledger, types_of
from tests.support.faults import fail_inserts, heal
from tests.support.jobs import failed_job
from tests.support.scenario import staked_challenge, worker
from tests.support.tokens import ADMIN_TOKEN


class Rollback(Exception):
    pass


class TestEveryPayPath:
    def test_small_jobs_slices_and_refunds(self, db, settings):
        small = [staked_challenge(db, [100, 200], [300])[0] for _ in range(5)]
        big, _, _ = staked_challenge(db, [10 + n for n in range(40)], [500, 600])
        draw, _, _ = staked_challenge(db, [70, 80, 90], [60])
        nobody, _, _ = staked_challenge(db, [], [])
        with db.write() as conn:
            challenges.resolve_many(
                conn,
                [(cid, "challenger_won") for cid in [*small, big]]
                + [(draw, "draw"), (nobody, "draw")],
            )
        worker(db, settings, batch_size=8).run_until_idle()
        with db.read() as conn:
            found = assert_events_match_ledger(conn)
        counts = types_of(found)
        assert counts["payout.paid"] == 5 * 2 + 40
        assert counts["refund.paid"] == 4
        assert counts["job.completed"] == 7
        assert counts["challenge.resolved"] == 8
        resolved = [e["data"] for e in found if e["type"] == "challenge.resolved"]
        assert {r["challengeId"]: r["jobIds"] == [] for r in resolved}[nobody]
        completed = [e["data"] for e in found if e["type"] == "job.completed"]
        assert all(job["status"] == "completed" for job in completed)
        assert {job["processedWinners"] for job in completed} == {2, 40, 4}

    def test_failed_job_then_retry(self, db, settings):
        job_id, frozen = failed_job(db, settings, winners=6)
        with db.read() as conn:
            found = assert_events_match_ledger(conn)
        assert types_of(found)["job.failed"] == 1
        assert types_of(found)["payout.paid"] == 5
        failed = next(e["data"] for e in found if e["type"] == "job.failed")
        assert (failed["jobId"], failed["failedWinners"]) == (str(job_id), 1)
        with db.write() as conn:
            users.set_user_status(conn, frozen, "active")
            jobs.retry(conn, job_id)
        worker(db, settings).run_until_idle()
        with db.read() as conn:
            found = assert_events_match_ledger(conn)
        assert types_of(found)["payout.paid"] == 6
        assert types_of(found)["job.completed"] == 1
        assert [e["type"] for e in found][-1] == "job.completed"


class TestRollback:
    def test_a_rolled_back_batch_leaves_no_event(self, db, settings):
        cid, _, _ = staked_challenge(db, [100] * 30, [50])
        with db.write() as conn:
            challenges.resolve(conn, cid, "challenger_won")
        pay = worker(db, settings, batch_size=10)
        pay._plan_next_job()
        with pytest.raises(Rollback), db.write() as conn:
            assert slices.pay_next_slice(conn) is not None
            raise Rollback  # a crash after the statement, before the commit
        with db.read() as conn:
            assert types_of(assert_events_match_ledger(conn))["payout.paid"] == 0
        pay.run_until_idle()
        with db.read() as conn:
            assert types_of(assert_events_match_ledger(conn))["payout.paid"] == 30

    def test_an_event_that_cannot_be_written_stops_its_payment(self, db, settings):
        cid, stakes, _ = staked_challenge(db, [100] * 12, [50])
        with db.write() as conn:
            job_id = challenges.resolve(conn, cid, "challenger_won").job_id
        assert job_id is not None
        fail_inserts(db, "events", "NEW.type = 'payout.paid'")
        worker(db, settings, batch_size=4, max_attempts=1).run_until_idle()
        with db.read() as conn:
            found = assert_events_match_ledger(conn)
        assert types_of(found)["payout.paid"] == 0  # nobody paid without an event
        assert types_of(found)["job.failed"] == 1
        heal(db, "events")
        with db.write() as conn:
            jobs.retry(conn, job_id)
        worker(db, settings, batch_size=4).run_until_idle()
        with db.read() as conn:
            found = assert_events_match_ledger(conn)
            assert len(all_events(conn)) == len(found)
        assert types_of(found)["payout.paid"] == len(stakes)
        assert types_of(found)["job.completed"] == 1


class TestJobEventData:
    def test_job_events_carry_the_status_endpoints_json(self, db, settings):
        # A completed small job, a completed big job (slices) and a failed one: the event's
        # data is the status endpoint's JSON, whichever dialect's statement built it.
        small, _, _ = staked_challenge(db, [100, 250], [300])
        big, _, _ = staked_challenge(db, [10 + n for n in range(30)], [500, 600])
        with db.write() as conn:
            challenges.resolve_many(conn, [(small, "challenger_won"), (big, "challenger_won")])
        worker(db, settings, batch_size=8).run_until_idle()
        failed_job(db, settings, winners=6)
        with db.read() as conn:
            settled = [e["data"] for e in all_events(conn) if e["type"].startswith("job.")]
            rows = {str(job["id"]): job for job in conn.execute(select(payout_jobs)).mappings()}
        assert sorted(d["status"] for d in settled) == ["completed", "completed", "failed"]
        with api_client(settings, db) as client:
            for data in settled:
                assert data == job_data(rows[data["jobId"]])
                status = client.get(
                    f"/api/admin/payout-jobs/{data['jobId']}/status", headers=bearer(ADMIN_TOKEN)
                ).json()
                assert data == {key: status[key] for key in data}
