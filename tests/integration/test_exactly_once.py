"""Exactly once, whatever the interleaving: several workers, retries mid-job, refunds."""

from __future__ import annotations

import threading
import uuid

import pytest

from payouts.domain.payout_math import allocate, split_pool
from payouts.services import challenges, jobs, users
from payouts.services.demo import create_demo
from tests.support.books import assert_books_balance
from tests.support.reads import entry_count, fee_rows, ledger_credits
from tests.support.scenario import staked_challenge, worker


def resolve(db, challenge_id, result="challenger_won") -> uuid.UUID:
    with db.write() as conn:
        job_id = challenges.resolve(conn, challenge_id, result).job_id
    assert job_id is not None
    return job_id


def job_row(db, job_id):
    with db.read() as conn:
        return jobs.get_job(conn, job_id)


class TestSeveralWorkers:
    def test_three_workers_on_two_jobs_pay_every_entry_once(self, db, settings):
        with db.write() as conn:
            big = create_demo(conn, winners=1_500, losers=50, fee_bps=500, seed=3)
        big_job = resolve(db, big.challenge_id)
        small_cid, _, _ = staked_challenge(db, [7] * 30, [11] * 3)
        small_job = resolve(db, small_cid)
        start = threading.Barrier(3)
        errors: list[BaseException] = []

        def run() -> None:
            try:
                start.wait(timeout=30)
                worker(db, settings, batch_size=50).run_until_idle()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=240)
        assert not any(thread.is_alive() for thread in threads)
        assert errors == []
        # a worker may go idle while another holds the last batch: finish what is left
        worker(db, settings).run_until_idle()
        for job_id, winners in ((big_job, 1_500), (small_job, 30)):
            row = job_row(db, job_id)
            assert (row["status"], row["processed_winners"]) == ("completed", winners)
        with db.read() as conn:
            assert len(fee_rows(conn, big.challenge_id)) == 1
            assert len(fee_rows(conn, small_cid)) == 1
            assert_books_balance(conn)


class TestRetryMidJob:
    def test_retry_while_entries_are_still_pending(self, db, settings):
        winners = [100 + n for n in range(40)]
        cid, winner_stakes, _ = staked_challenge(db, winners, [300])
        first = min(winner_stakes)
        with db.write() as conn:
            users.set_user_status(conn, first, "frozen")
        job_id = resolve(db, cid)
        pay = worker(db, settings, batch_size=5)
        while job_row(db, job_id)["failed_winners"] == 0:
            assert pay.run_round()
        assert job_row(db, job_id)["status"] == "running"

        with db.write() as conn:
            users.set_user_status(conn, first, "active")
            assert jobs.retry(conn, job_id)["status"] == "queued"
        pay.run_until_idle()

        row = job_row(db, job_id)
        assert (row["status"], row["processed_winners"], row["failed_winners"]) == (
            "completed",
            40,
            0,
        )
        expected = allocate(split_pool(sum(winners) + 300, 500).winner_pool, winner_stakes)
        with db.read() as conn:
            assert ledger_credits(conn, cid, "challenge_payout") == expected
            assert len(fee_rows(conn, cid)) == 1
            assert_books_balance(conn)


class TestFrozenRefund:
    @pytest.mark.parametrize("result", ["draw", "challenged_won"])
    def test_a_frozen_player_is_refunded_after_unfreeze_and_retry(self, db, settings, result):
        cid, winner_stakes, loser_stakes = staked_challenge(
            db, [10, 20, 30], [40] if result == "draw" else []
        )
        stakes = winner_stakes | loser_stakes
        frozen = max(stakes)
        with db.write() as conn:
            users.set_user_status(conn, frozen, "frozen")
        job_id = resolve(db, cid, result)
        pay = worker(db, settings, batch_size=2)
        pay.run_until_idle()
        row = job_row(db, job_id)
        assert (row["kind"], row["status"], row["failed_winners"]) == ("refund", "failed", 1)
        assert f"1 of {len(stakes)}" in row["error"]

        with db.write() as conn:
            users.set_user_status(conn, frozen, "active")
            jobs.retry(conn, job_id)
        pay.run_until_idle()
        assert job_row(db, job_id)["status"] == "completed"
        with db.read() as conn:
            assert ledger_credits(conn, cid, "challenge_refund") == stakes
            assert entry_count(conn, job_id, "completed") == len(stakes)
            assert fee_rows(conn, cid) == []
            assert_books_balance(conn)
