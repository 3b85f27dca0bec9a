"""The database path pays exactly what the pure function allocates, on both backends."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payouts.domain.money import MAX_STAKE
from payouts.domain.payout_math import allocate, split_pool
from payouts.domain.staking import StakeItem
from payouts.services import challenges
from tests.support.books import assert_books_balance
from tests.support.reads import balances, entries_of, fee_rows, ledger_credits
from tests.support.scenario import staked_challenge, worker


def pay_and_check(db, app_settings, winners, losers, *, fee_bps, batch_size):
    """Stake, resolve challenger_won, let the worker pay; compare every amount with
    allocate(). Returns the largest winner_pool * stake, to show what was exercised."""
    cid, winner_stakes, loser_stakes = staked_challenge(db, winners, losers, fee_bps)
    everyone = [*winner_stakes, *loser_stakes]
    with db.read() as conn:
        before = balances(conn, everyone)
    with db.write() as conn:
        resolution = challenges.resolve(conn, cid, "challenger_won")
    worker(db, app_settings, batch_size=batch_size).run_until_idle()

    split = split_pool(sum(winners) + sum(losers), fee_bps)
    expected = allocate(split.winner_pool, winner_stakes)
    assert resolution.job_id is not None
    with db.read() as conn:
        after = balances(conn, everyone)
        entries = entries_of(conn, resolution.job_id)
        credited = ledger_credits(conn, cid, "challenge_payout")
        fees = fee_rows(conn, cid)
        assert_books_balance(conn)
    assert entries == {uid: (amount, "completed") for uid, amount in expected.items()}
    assert {uid: after[uid] - before[uid] for uid in winner_stakes} == expected
    assert all(after[uid] == before[uid] for uid in loser_stakes)
    assert credited == expected  # one ledger row per entry, zero-coin ones included
    assert fees == ([split.platform_fee] if split.platform_fee else [])
    return max(split.winner_pool * stake for stake in winners)


class TestPaidEqualsAllocate:
    # A batch smaller than the winners pays them slice by slice, with the cutoff planned
    # first; a batch that holds them all settles the job whole, ranking in one statement.
    @pytest.mark.parametrize("batch_size", [3, 500], ids=["slices", "whole-job"])
    def test_equal_stakes_tie_and_the_lower_user_ids_get_the_extra_coins(
        self, db, settings, batch_size
    ):
        # pool 7 * 3 + 2 = 23, fee 1, winner pool 22 over 7 equal stakes: 1 coin left over
        pay_and_check(db, settings, [3] * 7, [2], fee_bps=500, batch_size=batch_size)

    @pytest.mark.parametrize("batch_size", [2, 500], ids=["slices", "whole-job"])
    def test_products_beyond_64_bits_are_exact(self, db, settings, batch_size):
        winners = [MAX_STAKE, MAX_STAKE - 1, 3, 999_999_999_989, 7, MAX_STAKE // 3]
        losers = [MAX_STAKE] * 4 + [123_456_789_011]
        largest = pay_and_check(db, settings, winners, losers, fee_bps=333, batch_size=batch_size)
        assert largest > 2**63  # SQLite would have turned this product into a float

    @pytest.mark.parametrize("batch_size", [3, 500], ids=["slices", "whole-job"])
    @pytest.mark.parametrize("fee_bps", [0, 9_999, 10_000])
    def test_fee_extremes(self, db, settings, fee_bps, batch_size):
        # 10,000 bps: the fee is the whole pool and every winner gets 0 coins
        pay_and_check(
            db, settings, [5, 7, 11, 13], [17, 19], fee_bps=fee_bps, batch_size=batch_size
        )

    def test_positions_grown_over_several_requests_are_paid_on_their_total(self, db, settings):
        cid, winner_stakes, _ = staked_challenge(db, [10, 20, 30], [25])
        first = min(winner_stakes)
        with db.write() as conn:
            challenges.place_stakes(conn, cid, [StakeItem(first, "challenger", 4)] * 2)
        with db.write() as conn:
            challenges.place_stakes(conn, cid, [StakeItem(first, "challenger", 2)])
        winner_stakes[first] += 10
        with db.read() as conn:
            before = balances(conn, winner_stakes)
        with db.write() as conn:
            job_id = challenges.resolve(conn, cid, "challenger_won").job_id
        worker(db, settings, batch_size=2).run_until_idle()
        expected = allocate(split_pool(95, 500).winner_pool, winner_stakes)
        with db.read() as conn:
            after = balances(conn, winner_stakes)
            assert job_id is not None
            assert {uid: amount for uid, (amount, _) in entries_of(conn, job_id).items()} == (
                expected
            )
            assert_books_balance(conn)
        assert {uid: after[uid] - before[uid] for uid in winner_stakes} == expected

    @pytest.mark.parametrize("seed", [1, 2])
    def test_seeded_random_stakes(self, db, settings, seed):
        rng = random.Random(seed)
        winners = [rng.choice([rng.randint(1, 50), rng.randint(1, MAX_STAKE)]) for _ in range(300)]
        losers = [rng.randint(1, MAX_STAKE) for _ in range(40)]
        pay_and_check(db, settings, winners, losers, fee_bps=rng.randint(0, 10_000), batch_size=37)

    @settings(
        max_examples=6,
        deadline=None,
        # each example stakes its own users on its own challenge in the shared database
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        winners=st.lists(
            st.one_of(st.integers(1, 20), st.integers(1, MAX_STAKE)), min_size=1, max_size=25
        ),
        losers=st.lists(st.integers(1, MAX_STAKE), max_size=5),
        fee_bps=st.integers(0, 10_000),
        batch_size=st.integers(1, 10),
    )
    def test_hypothesis_stakes(self, db, settings, winners, losers, fee_bps, batch_size):
        pay_and_check(db, settings, winners, losers, fee_bps=fee_bps, batch_size=batch_size)
