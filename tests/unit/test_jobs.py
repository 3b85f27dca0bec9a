"""plan_job: what resolving a challenge owes, from the per-side totals alone."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from payouts.domain.jobs import SideTotals, plan_job
from payouts.domain.money import MAX_STAKE

RESULTS = ["challenger_won", "challenged_won", "draw"]


def totals(challenger: tuple[int, int], challenged: tuple[int, int]) -> SideTotals:
    """(total coins, player count) per side."""
    return SideTotals(challenger[0], challenged[0], challenger[1], challenged[1])


class TestPlanJob:
    def test_a_win_with_winners_is_a_payout_with_the_fee_taken_off(self):
        plan = plan_job("challenger_won", totals((600, 3), (400, 2)), 500)
        assert plan is not None
        assert plan.kind == "payout"
        assert plan.winning_side == "challenger"
        assert plan.total_winners == 3
        assert plan.total_pool == 1_000
        assert plan.platform_fee == 50
        assert plan.winner_pool == 950
        assert plan.winning_total == 600

    def test_challenged_won_pays_the_challenged_side(self):
        plan = plan_job("challenged_won", totals((600, 3), (400, 2)), 0)
        assert plan is not None
        assert (plan.winning_side, plan.total_winners, plan.winning_total) == ("challenged", 2, 400)
        assert (plan.platform_fee, plan.winner_pool) == (0, 1_000)

    def test_a_draw_refunds_every_stake_without_fee(self):
        plan = plan_job("draw", totals((600, 3), (400, 2)), 500)
        assert plan is not None
        assert plan.kind == "refund"
        assert plan.winning_side is None
        assert plan.total_winners == 5
        assert plan.platform_fee == 0
        assert plan.winner_pool == plan.total_pool == plan.winning_total == 1_000

    def test_a_win_with_nobody_on_the_winning_side_is_a_refund(self):
        plan = plan_job("challenged_won", totals((600, 3), (0, 0)), 500)
        assert plan is not None
        assert plan.kind == "refund"
        assert plan.total_winners == 3
        assert plan.platform_fee == 0
        assert plan.winner_pool == 600

    def test_nobody_staked_means_no_job(self):
        for result in RESULTS:
            assert plan_job(result, totals((0, 0), (0, 0)), 500) is None

    @settings(deadline=None)
    @given(
        st.sampled_from(RESULTS),
        st.integers(0, 10**6 * MAX_STAKE),
        st.integers(1, 10**6),
        st.integers(0, 10**6 * MAX_STAKE),
        st.integers(1, 10**6),
        st.integers(0, 10_000),
    )
    def test_the_pool_always_adds_up(self, result, a_total, a_count, b_total, b_count, bps):
        # a side with coins has players, a side without has none
        a_count = a_count if a_total else 0
        b_count = b_count if b_total else 0
        plan = plan_job(result, totals((a_total, a_count), (b_total, b_count)), bps)
        if a_total + b_total == 0:
            assert plan is None
            return
        assert plan is not None
        assert plan.winner_pool + plan.platform_fee == plan.total_pool == a_total + b_total
        assert 0 <= plan.platform_fee <= plan.total_pool
        if plan.kind == "refund":
            assert plan.platform_fee == 0
            assert plan.total_winners == a_count + b_count
        else:
            assert plan.platform_fee == plan.total_pool * bps // 10_000
            assert plan.winning_total > 0
