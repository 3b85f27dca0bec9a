"""Property tests of the pool split and the per-winner allocation (pure, hypothesis)."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payouts.domain.money import MAX_FEE_BPS, MAX_POOL, MAX_STAKE
from payouts.domain.payout_math import allocate, split_pool

# Machines are noisy: no per-example deadline, only the properties.
relaxed = settings(deadline=None)

user_ids = st.integers(min_value=1, max_value=2**31 - 1)
stakes_small = st.dictionaries(user_ids, st.integers(1, 1_000), min_size=1, max_size=40)
stakes_large = st.dictionaries(user_ids, st.integers(1, MAX_STAKE), min_size=1, max_size=40)
# Few distinct amounts: many equal remainders, so the tie rule decides.
stakes_tied = st.dictionaries(user_ids, st.sampled_from([1, 2, 3, 7]), min_size=1, max_size=40)
any_stakes = st.one_of(stakes_small, stakes_large, stakes_tied)
pools = st.integers(min_value=0, max_value=MAX_POOL)


def reference_allocation(winner_pool: int, stakes: dict[int, int]) -> dict[int, int]:
    """Largest remainder method, written with exact fractions and an explicit ranking of
    every winner: a different route to the same answer as `allocate`'s cutoff."""
    total = sum(stakes.values())
    exact = {uid: Fraction(winner_pool * s, total) for uid, s in stakes.items()}
    amounts = {uid: math.floor(share) for uid, share in exact.items()}
    leftover = winner_pool - sum(amounts.values())
    ranking = sorted(stakes, key=lambda uid: (-(exact[uid] - amounts[uid]), uid))
    for uid in ranking[:leftover]:
        amounts[uid] += 1
    return amounts


class TestAllocate:
    @relaxed
    @given(pools, any_stakes)
    def test_amounts_sum_exactly_to_the_winner_pool(self, pool, stakes):
        assert sum(allocate(pool, stakes).values()) == pool

    @relaxed
    @given(pools, any_stakes)
    def test_no_amount_is_negative(self, pool, stakes):
        assert all(amount >= 0 for amount in allocate(pool, stakes).values())

    @relaxed
    @given(pools, any_stakes)
    def test_every_winner_gets_an_amount(self, pool, stakes):
        assert allocate(pool, stakes).keys() == stakes.keys()

    @relaxed
    @given(pools, any_stakes)
    def test_is_deterministic_whatever_the_order_of_the_stakes(self, pool, stakes):
        reversed_order = dict(reversed(list(stakes.items())))
        assert allocate(pool, stakes) == allocate(pool, stakes) == allocate(pool, reversed_order)

    @relaxed
    @given(pools, any_stakes)
    def test_each_amount_is_the_floor_share_or_one_more(self, pool, stakes):
        total = sum(stakes.values())
        for uid, amount in allocate(pool, stakes).items():
            floor = pool * stakes[uid] // total
            assert amount in (floor, floor + 1)

    @relaxed
    @given(pools, any_stakes)
    def test_leftover_coins_go_to_largest_remainders_ties_to_lower_user_id(self, pool, stakes):
        assert allocate(pool, stakes) == reference_allocation(pool, stakes)

    @relaxed
    @given(st.integers(0, 10_000), stakes_tied)
    def test_small_pools_with_ties_match_the_reference(self, pool, stakes):
        assert allocate(pool, stakes) == reference_allocation(pool, stakes)

    def test_equal_stakes_give_the_extra_coins_to_the_lowest_user_ids(self):
        assert allocate(10, {5: 1, 3: 1, 9: 1}) == {3: 4, 5: 3, 9: 3}
        assert allocate(11, {5: 1, 3: 1, 9: 1}) == {3: 4, 5: 4, 9: 3}

    def test_largest_remainder_beats_lower_user_id(self):
        # shares 100*1/6 = 16.67 and 100*5/6 = 83.33: user 2's remainder is larger
        assert allocate(100, {1: 5, 2: 1}) == {1: 83, 2: 17}

    def test_refuses_no_winners_and_non_positive_stakes(self):
        with pytest.raises(ValueError):
            allocate(100, {})
        with pytest.raises(ValueError):
            allocate(100, {1: 0})
        with pytest.raises(ValueError):
            allocate(100, {1: 5, 2: -1})


class TestExtremeAmounts:
    @relaxed
    @given(st.integers(10**17, MAX_POOL), stakes_large)
    def test_pools_up_to_1e18_and_stakes_up_to_1e12_are_exact(self, pool, stakes):
        amounts = allocate(pool, stakes)
        assert sum(amounts.values()) == pool
        assert amounts == reference_allocation(pool, stakes)

    def test_largest_pool_and_stakes(self):
        stakes = {1: MAX_STAKE, 2: MAX_STAKE - 1, 3: 1}
        amounts = allocate(MAX_POOL, stakes)
        assert sum(amounts.values()) == MAX_POOL
        assert amounts == reference_allocation(MAX_POOL, stakes)
        assert MAX_POOL * MAX_STAKE > 2**63  # the product really leaves 64 bits

    @settings(deadline=None, max_examples=10)
    @given(pools, st.integers(1, MAX_STAKE), st.integers(1, 100))
    def test_many_winners(self, pool, top_stake, seed):
        stakes = {uid: 1 + (uid * 7919 * seed) % top_stake for uid in range(1, 5_001)}
        amounts = allocate(pool, stakes)
        assert sum(amounts.values()) == pool
        assert amounts == reference_allocation(pool, stakes)

    def test_one_coin_among_many_equal_winners_goes_to_the_lowest_id(self):
        amounts = allocate(1, dict.fromkeys(range(100, 1100), 1))
        assert amounts[100] == 1
        assert sum(amounts.values()) == 1

    def test_empty_winner_pool_pays_zero_to_everyone(self):
        assert allocate(0, {1: 10, 2: MAX_STAKE}) == {1: 0, 2: 0}


class TestSplitPool:
    @relaxed
    @given(pools, st.integers(0, MAX_FEE_BPS))
    def test_fee_is_the_floor_of_pool_times_bps(self, pool, bps):
        split = split_pool(pool, bps)
        assert split.platform_fee == pool * bps // 10_000
        assert 0 <= split.platform_fee <= pool
        assert split.platform_fee + split.winner_pool == pool == split.total_pool
        assert split.winner_pool >= 0

    @relaxed
    @given(pools)
    def test_zero_and_full_fee(self, pool):
        assert split_pool(pool, 0).platform_fee == 0
        assert split_pool(pool, MAX_FEE_BPS).platform_fee == pool

    def test_five_percent(self):
        split = split_pool(1_999, 500)
        assert (split.platform_fee, split.winner_pool) == (99, 1_900)

    @pytest.mark.parametrize(("pool", "bps"), [(-1, 0), (100, -1), (100, MAX_FEE_BPS + 1)])
    def test_refuses_out_of_range_input(self, pool, bps):
        with pytest.raises(ValueError):
            split_pool(pool, bps)


class TestRefunds:
    @relaxed
    @given(st.dictionaries(user_ids, st.integers(1, MAX_STAKE), min_size=1))
    def test_every_stake_comes_back_in_full(self, stakes):
        # a refund job pays its pool (all the stakes) over all the stakes: allocate() gives
        # every stake back exactly, with no leftover coin to hand out
        assert allocate(sum(stakes.values()), stakes) == stakes
