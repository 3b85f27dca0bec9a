"""The seed's testing checklist, one test class per item, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import uuid
from itertools import pairwise

import pytest
from sqlalchemy import select

from payouts.domain.payout_math import allocate, split_pool
from payouts.services.demo import create_demo
from payouts.storage.tables import stakes
from tests.support.api import admin_client, job_status
from tests.support.books import assert_books_balance
from tests.support.reads import balances, entries_of, entry_count, fee_rows, ledger_credits
from tests.support.scenario import random_stakes, staked_challenge, worker

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture
def api(settings, db):
    with admin_client(settings, db) as client:
        yield client


def resolve(api, challenge_id, result="challenger_won"):
    response = api.post(f"/api/admin/challenges/{challenge_id}/result", json={"result": result})
    assert response.status_code == 200, response.text
    return response.json()


class TestTenWinners:
    def test_ten_winners_are_paid_their_computed_amounts(self, api, db, settings):
        winners, losers = random_stakes(10, seed=10), random_stakes(4, seed=11)
        cid, winner_stakes, loser_stakes = staked_challenge(db, winners, losers)
        with db.read() as conn:
            before = balances(conn, [*winner_stakes, *loser_stakes])
        body = resolve(api, cid)
        assert UUID.match(body["payoutJobId"])
        assert body["refundJobId"] is None
        worker(db, settings).run_until_idle()

        status = job_status(api, body["payoutJobId"])
        assert status["status"] == "completed"
        assert (status["totalWinners"], status["processedWinners"]) == (10, 10)
        assert status["progressPercent"] == 100
        assert status["completedAt"].endswith("Z")
        split = split_pool(sum(winners) + sum(losers), 500)
        expected = allocate(split.winner_pool, winner_stakes)
        with db.read() as conn:
            after = balances(conn, [*winner_stakes, *loser_stakes])
            assert fee_rows(conn, cid) == [split.platform_fee]
            assert_books_balance(conn)
        assert {uid: after[uid] - before[uid] for uid in winner_stakes} == expected
        assert all(after[uid] == before[uid] for uid in loser_stakes)


class TestProgressBetweenBatches:
    def test_thousand_winners_show_progress_after_every_batch(self, api, db, settings):
        cid, _, _ = staked_challenge(db, random_stakes(1_000, seed=3), random_stakes(50))
        job_id = resolve(api, cid)["payoutJobId"]
        pay = worker(db, settings, batch_size=100)

        seen = [job_status(api, job_id)]
        while pay.run_round():
            status = job_status(api, job_id)
            with db.read() as conn:
                completed = entry_count(conn, uuid.UUID(job_id), "completed")
            # the status is the database's count, and the percentage is its floor
            assert status["processedWinners"] == completed
            assert status["progressPercent"] == 100 * completed // 1_000
            if status["status"] != "completed":
                assert status["progressPercent"] < 100
                assert status["completedAt"] is None
            seen.append(status)

        processed = [s["processedWinners"] for s in seen]
        assert processed == sorted(processed), "progress went backwards"
        steps = [s for s in processed if 0 < s < 1_000]
        assert len(set(steps)) >= 9, f"too few visible steps: {processed}"
        assert all(b - a <= 100 for a, b in pairwise(processed))
        assert seen[-1]["status"] == "completed"
        assert seen[-1]["progressPercent"] == 100
        with db.read() as conn:
            assert_books_balance(conn)


class TestDraw:
    def test_a_draw_creates_no_payout_job_and_refunds_every_stake(self, api, db, settings):
        cid, winner_stakes, loser_stakes = staked_challenge(
            db, random_stakes(30, seed=4), random_stakes(20, seed=5)
        )
        stakes = winner_stakes | loser_stakes
        body = resolve(api, cid, "draw")
        assert body["payoutJobId"] is None
        assert UUID.match(body["refundJobId"])
        assert body["challenge"]["result"] == "draw"
        worker(db, settings, batch_size=7).run_until_idle()

        status = job_status(api, body["refundJobId"])
        assert (status["kind"], status["status"]) == ("refund", "completed")
        assert status["totalWinners"] == status["processedWinners"] == 50
        with db.read() as conn:
            after = balances(conn, stakes)
            assert ledger_credits(conn, cid, "challenge_refund") == stakes
            assert ledger_credits(conn, cid, "challenge_payout") == {}
            assert fee_rows(conn, cid) == []
            assert_books_balance(conn)
        # staked_challenge deposits twice the stake: a full refund restores the deposit
        assert after == {uid: 2 * stake for uid, stake in stakes.items()}
        listed = api.get("/api/admin/payout-jobs").json()
        assert [job["kind"] for job in listed] == ["refund"]

    def test_a_win_with_nobody_on_the_winning_side_refunds(self, api, db, settings):
        cid, winner_stakes, _ = staked_challenge(db, [10, 20, 30])
        body = resolve(api, cid, "challenged_won")
        assert body["payoutJobId"] is None
        assert body["refundJobId"] is not None
        worker(db, settings).run_until_idle()
        with db.read() as conn:
            assert ledger_credits(conn, cid, "challenge_refund") == winner_stakes
            assert fee_rows(conn, cid) == []
            assert_books_balance(conn)

    def test_nobody_staked_creates_no_job(self, api, db):
        cid = api.post("/api/admin/challenges", json={"title": "empty"}).json()["id"]
        body = resolve(api, cid, "challenger_won")
        assert body["payoutJobId"] is None
        assert body["refundJobId"] is None
        assert api.get("/api/admin/payout-jobs").json() == []


class TestConcurrentJobs:
    def test_a_small_job_completes_while_a_big_one_runs(self, api, db, settings):
        with db.write() as conn:
            big = create_demo(conn, winners=5_000, losers=100, fee_bps=500, seed=1)
        big_job = resolve(api, big.challenge_id)["payoutJobId"]
        small_cid, small_stakes, _ = staked_challenge(db, random_stakes(10, seed=9), [500])
        small_job = resolve(api, small_cid)["payoutJobId"]
        pay = worker(db, settings, batch_size=100)

        rounds = 0
        while job_status(api, small_job)["status"] != "completed":
            assert pay.run_round(), "the worker went idle before the small job completed"
            rounds += 1
            assert rounds <= 4, "the small job waited behind the big one"
        big_status = job_status(api, big_job)
        assert big_status["status"] == "running"
        assert 0 < big_status["processedWinners"] <= rounds * 100

        pay.run_until_idle()
        assert job_status(api, big_job)["status"] == "completed"
        with db.read() as conn:
            assert entry_count(conn, uuid.UUID(big_job), "completed") == 5_000
            assert set(entries_of(conn, uuid.UUID(small_job))) == set(small_stakes)
            assert_books_balance(conn)


class TestEveryWinnerPaidExactly:
    def test_demo_challenge_winners_get_allocate_and_stakes_equal_payouts_plus_fee(
        self, api, db, settings
    ):
        with db.write() as conn:
            demo = create_demo(conn, winners=2_000, losers=500, fee_bps=250, seed=7)
        job_id = resolve(api, demo.challenge_id)["payoutJobId"]
        worker(db, settings, batch_size=300).run_until_idle()
        with db.read() as conn:
            rows = conn.execute(
                select(stakes.c.user_id, stakes.c.side, stakes.c.amount).where(
                    stakes.c.challenge_id == demo.challenge_id
                )
            ).all()
            winner_stakes = {r.user_id: r.amount for r in rows if r.side == "challenger"}
            split = split_pool(sum(r.amount for r in rows), 250)
            expected = allocate(split.winner_pool, winner_stakes)
            assert ledger_credits(conn, demo.challenge_id, "challenge_payout") == expected
            assert entries_of(conn, uuid.UUID(job_id)) == {
                uid: (amount, "completed") for uid, amount in expected.items()
            }
            assert fee_rows(conn, demo.challenge_id) == [split.platform_fee]
            assert sum(expected.values()) + split.platform_fee == sum(r.amount for r in rows)
            assert_books_balance(conn)
