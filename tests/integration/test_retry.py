"""A frozen winner fails its entry without blocking the rest; unfreeze and retry pays it once."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from payouts.domain.payout_math import allocate, split_pool
from payouts.storage.tables import transactions
from tests.support.api import admin_client, job_status
from tests.support.books import assert_books_balance
from tests.support.reads import balances, entry_count, fee_rows, ledger_credits
from tests.support.scenario import staked_challenge, worker


@pytest.fixture
def api(settings, db):
    with admin_client(settings, db) as client:
        yield client


def ledger_rows_of(conn, user_id, challenge_id):
    t = transactions.c
    return conn.execute(
        select(func.count()).where(
            t.user_id == user_id, t.challenge_id == challenge_id, t.type == "challenge_payout"
        )
    ).scalar_one()


class TestFrozenWinnerRetry:
    def test_frozen_winner_fails_then_unfreeze_and_retry_pays_once(self, api, db, settings):
        winners = [100 + n for n in range(12)]
        cid, winner_stakes, _ = staked_challenge(db, winners, [400, 300])
        frozen = sorted(winner_stakes)[5]
        assert api.post(f"/api/admin/users/{frozen}/freeze").json()["status"] == "frozen"
        with db.read() as conn:
            before = balances(conn, winner_stakes)
        job_id = api.post(
            f"/api/admin/challenges/{cid}/result", json={"result": "challenger_won"}
        ).json()["payoutJobId"]
        pay = worker(db, settings, batch_size=4)
        pay.run_until_idle()

        status = job_status(api, job_id)
        assert status["status"] == "failed"
        assert (status["processedWinners"], status["failedWinners"]) == (11, 1)
        assert "1 of 12" in status["error"]
        assert status["completedAt"] is None
        failed = api.get(f"/api/admin/payout-jobs/{job_id}/entries?status=failed").json()
        assert [(e["userId"], e["error"]) for e in failed] == [(frozen, "user is frozen")]
        with db.read() as conn:
            assert balances(conn, [frozen]) == {frozen: before[frozen]}
            assert fee_rows(conn, cid) == []  # booked only when the job completes
            assert_books_balance(conn)

        assert api.post(f"/api/admin/users/{frozen}/unfreeze").json()["status"] == "active"
        retried = api.post(f"/api/admin/payout-jobs/{job_id}/retry")
        assert retried.status_code == 200, retried.text
        assert retried.json()["status"] == "queued"
        assert retried.json()["failedWinners"] == 0
        assert retried.json()["error"] is None
        pay.run_until_idle()

        status = job_status(api, job_id)
        assert status["status"] == "completed"
        assert (status["processedWinners"], status["failedWinners"]) == (12, 0)
        assert status["error"] is None
        assert status["completedAt"].endswith("Z")
        split = split_pool(sum(winners) + 700, 500)
        expected = allocate(split.winner_pool, winner_stakes)
        with db.read() as conn:
            assert ledger_rows_of(conn, frozen, cid) == 1
            assert ledger_credits(conn, cid, "challenge_payout") == expected
            after = balances(conn, winner_stakes)
            assert fee_rows(conn, cid) == [split.platform_fee]
            assert_books_balance(conn)
        assert {uid: after[uid] - before[uid] for uid in winner_stakes} == expected

        again = api.post(f"/api/admin/payout-jobs/{job_id}/retry")
        assert again.status_code == 409
        assert "no failed entries" in again.json()["message"]

    def test_frozen_winners_in_several_batches_and_a_second_failure_round(self, api, db, settings):
        cid, winner_stakes, _ = staked_challenge(db, [50] * 20, [100])
        ids = sorted(winner_stakes)
        first, last = ids[0], ids[-1]
        for uid in (first, last):
            api.post(f"/api/admin/users/{uid}/freeze")
        job_id = api.post(
            f"/api/admin/challenges/{cid}/result", json={"result": "challenger_won"}
        ).json()["payoutJobId"]
        pay = worker(db, settings, batch_size=3)
        pay.run_until_idle()
        assert "2 of 20" in job_status(api, job_id)["error"]

        # unfreeze one only: the retry fails the other again, and the job says so
        api.post(f"/api/admin/users/{first}/unfreeze")
        assert api.post(f"/api/admin/payout-jobs/{job_id}/retry").status_code == 200
        pay.run_until_idle()
        status = job_status(api, job_id)
        assert (status["status"], status["processedWinners"], status["failedWinners"]) == (
            "failed",
            19,
            1,
        )
        assert "1 of 20" in status["error"]

        api.post(f"/api/admin/users/{last}/unfreeze")
        assert api.post(f"/api/admin/payout-jobs/{job_id}/retry").status_code == 200
        pay.run_until_idle()
        assert job_status(api, job_id)["status"] == "completed"
        with db.read() as conn:
            assert entry_count(conn, uuid.UUID(job_id), "completed") == 20
            for uid in ids:
                assert ledger_rows_of(conn, uid, cid) == 1
            assert len(fee_rows(conn, cid)) == 1
            assert_books_balance(conn)

    def test_retry_with_nothing_failed_is_a_conflict(self, api, db, settings):
        cid, _, _ = staked_challenge(db, [10, 20], [5])
        job_id = api.post(
            f"/api/admin/challenges/{cid}/result", json={"result": "challenger_won"}
        ).json()["payoutJobId"]
        queued = api.post(f"/api/admin/payout-jobs/{job_id}/retry")
        assert queued.status_code == 409
        assert queued.json()["message"]
        worker(db, settings).run_until_idle()
        completed = api.post(f"/api/admin/payout-jobs/{job_id}/retry")
        assert completed.status_code == 409
        assert "completed" in completed.json()["message"]
        with db.read() as conn:
            assert len(fee_rows(conn, cid)) == 1
            assert_books_balance(conn)
