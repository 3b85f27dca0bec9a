"""Match day: many small jobs settled together, big jobs taking turns, on both backends.

Small jobs (at most one batch of winners) are claimed many at a time and settled in one
transaction; players win several of them at once. Big jobs are planned into slices that
workers take in turn. Every test checks the books with `payouts verify`'s checks.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import defaultdict

import pytest
from sqlalchemy import func, select

from payouts.domain.payout_math import allocate, split_pool
from payouts.domain.staking import StakeItem
from payouts.services import challenges, jobs, users
from payouts.services.demo import create_demo
from payouts.storage.database import Database
from payouts.storage.tables import payout_entries, payout_jobs, payout_slices
from tests.support.books import assert_books_balance
from tests.support.faults import FAULT, fail_inserts
from tests.support.reads import balances, entries_of, fee_rows
from tests.support.scenario import make_users, match_day, worker


def resolve_all(db: Database, made: dict[int, dict[str, dict[int, int]]], result: str) -> None:
    with db.write() as conn:
        for cid in made:
            challenges.resolve(conn, cid, result)


def expected_credits(made: dict[int, dict[str, dict[int, int]]]) -> dict[int, int]:
    """What every player is owed in all, challenger_won everywhere: allocate() per job."""
    owed: dict[int, int] = defaultdict(int)
    for sides in made.values():
        pool = sum(sides["challenger"].values()) + sum(sides["challenged"].values())
        for uid, amount in allocate(split_pool(pool, 500).winner_pool, sides["challenger"]).items():
            owed[uid] += amount
    return owed


def job_statuses(db: Database) -> dict[str, int]:
    with db.read() as conn:
        rows = conn.execute(
            select(payout_jobs.c.status, func.count()).group_by(payout_jobs.c.status)
        ).all()
    return {status: count for status, count in rows}


@pytest.fixture
def players(db):
    return make_users(db, [10**8] * 80, "player")


class TestSmallJobsTogether:
    def test_one_round_settles_many_jobs_and_a_player_is_credited_for_each_win(
        self, db, settings, players
    ):
        made = match_day(db, players, random.Random(1), 60)  # 80 players: many win twice
        with db.read() as conn:
            before = balances(conn, players)
        resolve_all(db, made, "challenger_won")

        pay = worker(db, settings, batch_size=2_000)
        assert pay.run_round()
        assert job_statuses(db) == {"completed": 60}, "one round, one transaction"
        assert not pay.run_round()

        owed = expected_credits(made)
        assert max(sum(uid in s["challenger"] for s in made.values()) for uid in owed) > 1
        with db.read() as conn:
            after = balances(conn, players)
            for cid, sides in made.items():
                job_id = conn.execute(
                    select(payout_jobs.c.id).where(payout_jobs.c.challenge_id == cid)
                ).scalar_one()
                pool = sum(sides["challenger"].values()) + sum(sides["challenged"].values())
                split = split_pool(pool, 500)
                expected = allocate(split.winner_pool, sides["challenger"])
                assert entries_of(conn, job_id) == {
                    uid: (amount, "completed") for uid, amount in expected.items()
                }
                assert fee_rows(conn, cid) == ([split.platform_fee] if split.platform_fee else [])
            assert_books_balance(conn)
        assert {uid: after[uid] - before[uid] for uid in players} == {
            uid: owed.get(uid, 0) for uid in players
        }

    def test_a_transaction_takes_at_most_a_batch_of_winners(self, db, settings):
        for _ in range(6):
            cid, _, _ = staked([40, 41, 42, 43], [50], db)
            with db.write() as conn:
                challenges.resolve(conn, cid, "challenger_won")
        pay = worker(db, settings, batch_size=10)  # two 4-winner jobs fit, three do not
        completed = []
        while pay.run_round():
            completed.append(job_statuses(db).get("completed", 0))
        assert completed == [2, 4, 6]
        with db.read() as conn:
            assert_books_balance(conn)

    def test_draws_refund_and_a_frozen_winner_fails_only_its_own_job(self, db, settings, players):
        rng = random.Random(2)
        made = match_day(db, players, rng, 20)
        frozen_cid = next(cid for cid, s in made.items() if len(s["challenger"]) > 1)
        frozen = min(made[frozen_cid]["challenger"])
        draws = dict(list(made.items())[:5])
        with db.write() as conn:
            users.set_user_status(conn, frozen, "frozen")
            for cid in made:
                challenges.resolve(conn, cid, "draw" if cid in draws else "challenger_won")
        worker(db, settings).run_until_idle()

        with db.read() as conn:
            rows = {row.challenge_id: row for row in conn.execute(select(payout_jobs)).all()}
            assert_books_balance(conn)
        for cid, row in rows.items():
            involved = frozen in made[cid]["challenger"] or (
                cid in draws and frozen in made[cid]["challenged"]
            )
            assert row.kind == ("refund" if cid in draws else "payout")
            assert row.status == ("failed" if involved else "completed"), cid
            if involved:
                assert row.failed_winners == 1
                assert row.error == (
                    f"1 of {row.total_winners} entries failed; fix them and retry the job"
                )
        assert rows[frozen_cid].status == "failed"

        with db.write() as conn:
            users.set_user_status(conn, frozen, "active")
            for row in rows.values():
                if row.status == "failed":
                    jobs.retry(conn, row.id)
        worker(db, settings).run_until_idle()
        assert job_statuses(db) == {"completed": 20}
        with db.read() as conn:
            assert_books_balance(conn)

    def test_a_poison_winner_among_small_jobs_fails_alone(self, db, settings, players):
        made = match_day(db, players, random.Random(3), 15)
        victim_cid = next(cid for cid, s in made.items() if len(s["challenger"]) > 2)
        victim = max(made[victim_cid]["challenger"])
        others_of_victim = sum(victim in s["challenger"] for s in made.values())
        resolve_all(db, made, "challenger_won")
        fail_inserts(
            db, "transactions", f"NEW.user_id = {victim} AND NEW.type = 'challenge_payout'"
        )

        worker(db, settings, max_attempts=2).run_until_idle()

        with db.read() as conn:
            rows = conn.execute(select(payout_jobs)).all()
            assert_books_balance(conn)
        failed = [row for row in rows if row.status == "failed"]
        assert len(failed) == others_of_victim  # every job the victim won, and only those
        assert all(row.failed_winners == 1 for row in failed)
        assert sum(row.status == "completed" for row in rows) == 15 - others_of_victim
        with db.read() as conn:
            entry = entries_of(conn, failed[0].id)[victim]
        assert entry[1] == "failed"
        with db.read() as conn:
            slices_left = conn.execute(select(func.count()).select_from(payout_slices)).scalar_one()
        assert slices_left == 0
        assert FAULT in _entry_error(db, failed[0].id, victim)


def _entry_error(db: Database, job_id: uuid.UUID, user_id: int) -> str:
    with db.read() as conn:
        return str(
            conn.execute(
                select(payout_entries.c.error).where(
                    payout_entries.c.job_id == job_id, payout_entries.c.user_id == user_id
                )
            ).scalar_one()
        )


def staked(winners: list[int], losers: list[int], db: Database) -> tuple[int, list[int], list[int]]:
    winner_ids = make_users(db, [s * 2 for s in winners], "w")
    loser_ids = make_users(db, [s * 2 for s in losers], "l")
    with db.write() as conn:
        cid = challenges.create_challenge(conn, "small", 500)["id"]
        items = [StakeItem(u, "challenger", s) for u, s in zip(winner_ids, winners, strict=True)]
        items += [StakeItem(u, "challenged", s) for u, s in zip(loser_ids, losers, strict=True)]
        challenges.place_stakes(conn, cid, items)
    return cid, winner_ids, loser_ids


class TestBigJobsTakeTurns:
    def test_two_big_jobs_planned_together_are_paid_in_turns(self, db, settings):
        with db.write() as conn:
            first = create_demo(conn, 300, 10, 500, seed=1).challenge_id
            second = create_demo(conn, 300, 10, 500, seed=2).challenge_id
        with db.write() as conn:
            a = challenges.resolve(conn, first, "challenger_won").job_id
            b = challenges.resolve(conn, second, "challenger_won").job_id
        pay = worker(db, settings, batch_size=50)
        for _ in range(4):  # rounds 1-2 plan one job each; then slices alternate
            assert pay.run_round()
        progress = _processed(db, a, b)
        assert progress[a] > 0 and progress[b] > 0
        for _ in range(4):
            assert pay.run_round()
        again = _processed(db, a, b)
        assert again[a] - progress[a] == again[b] - progress[b] == 100
        pay.run_until_idle()
        with db.read() as conn:
            assert_books_balance(conn)

    def test_process_now_puts_a_running_job_first(self, db, settings):
        with db.write() as conn:
            first = create_demo(conn, 200, 10, 500, seed=3).challenge_id
            second = create_demo(conn, 200, 10, 500, seed=4).challenge_id
        with db.write() as conn:
            a = challenges.resolve(conn, first, "challenger_won").job_id
            b = challenges.resolve(conn, second, "challenger_won").job_id
        pay = worker(db, settings, batch_size=20)
        while _processed(db, a, b)[b] == 0:
            assert pay.run_round()
        with db.write() as conn:
            jobs.trigger(conn, b)
        before = _processed(db, a, b)
        for _ in range(3):
            assert pay.run_round()
        after = _processed(db, a, b)
        assert (after[a] - before[a], after[b] - before[b]) == (0, 60)
        pay.run_until_idle()
        with db.read() as conn:
            assert_books_balance(conn)


def _processed(db: Database, *job_ids: uuid.UUID | None) -> dict[uuid.UUID | None, int]:
    with db.read() as conn:
        rows = conn.execute(
            select(payout_jobs.c.id, payout_jobs.c.processed_winners).where(
                payout_jobs.c.id.in_(job_ids)
            )
        ).all()
    return {row.id: row.processed_winners for row in rows}


class TestConcurrentWorkers:
    def test_four_workers_settle_small_jobs_sharing_players_exactly_once(
        self, db, settings, players
    ):
        made = match_day(db, players, random.Random(5), 300)
        with db.read() as conn:
            before = balances(conn, players)
        resolve_all(db, made, "challenger_won")
        start = threading.Barrier(4)
        errors: list[BaseException] = []

        def run() -> None:
            try:
                start.wait(timeout=30)
                worker(db, settings, batch_size=20).run_until_idle()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=240)
        assert errors == [], "no deadlock, no error"
        assert job_statuses(db) == {"completed": 300}
        owed = expected_credits(made)
        with db.read() as conn:
            after = balances(conn, players)
            assert_books_balance(conn)
        assert {uid: after[uid] - before[uid] for uid in players} == {
            uid: owed.get(uid, 0) for uid in players
        }
