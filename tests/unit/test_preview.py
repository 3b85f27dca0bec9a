"""The resolve preview's largest and smallest payout bracket what allocate() really pays."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from payouts.domain.jobs import SideTotals, plan_job
from payouts.domain.payout_math import allocate
from payouts.domain.preview import CoinRange, StakeExtremes, preview_resolution

stake_maps = st.dictionaries(
    st.integers(1, 10_000), st.integers(1, 10**12), min_size=1, max_size=40
)
small_stake_maps = st.dictionaries(
    st.integers(1, 10_000), st.integers(1, 20), min_size=1, max_size=40
)
fees = st.integers(0, 10_000)


def _preview(winners: dict[int, int], losers: dict[int, int], result: str, fee_bps: int):
    totals = SideTotals(sum(winners.values()), sum(losers.values()), len(winners), len(losers))
    plan = plan_job(result, totals, fee_bps)
    assert plan is not None
    paid = winners if plan.winning_side == "challenger" else {**winners, **losers}
    extremes = StakeExtremes(max(paid.values()), min(paid.values()))
    return plan, preview_resolution(result, plan, extremes)


def _contains(amount: CoinRange | None, value: int) -> bool:
    assert amount is not None
    return amount.low <= value <= amount.high and amount.high - amount.low <= 1


@given(st.one_of(stake_maps, small_stake_maps), stake_maps, fees)
def test_payout_extremes_bracket_the_real_payouts(winners, losers, fee_bps):
    losers = {uid + 20_000: s for uid, s in losers.items()}  # nobody on both sides
    plan, preview = _preview(winners, losers, "challenger_won", fee_bps)
    paid = allocate(plan.winner_pool, winners)
    assert preview.kind == "payout"
    assert preview.paid_users == len(winners)
    assert preview.total_pool == preview.platform_fee + preview.winner_pool
    assert _contains(preview.largest, max(paid.values()))
    assert _contains(preview.smallest, min(paid.values()))
    if preview.largest and preview.largest.exact:
        assert preview.largest.low == max(paid.values())
    if preview.smallest and preview.smallest.exact:
        assert preview.smallest.low == min(paid.values())


@given(st.integers(1, 10**12), st.integers(2, 50), stake_maps, fees)
def test_equal_stakes_are_exact(stake, count, losers, fee_bps):
    winners = dict.fromkeys(range(1, count + 1), stake)
    losers = {uid + 20_000: s for uid, s in losers.items()}
    plan, preview = _preview(winners, losers, "challenger_won", fee_bps)
    paid = allocate(plan.winner_pool, winners)
    assert preview.largest == CoinRange(max(paid.values()), max(paid.values()))
    assert preview.smallest == CoinRange(min(paid.values()), min(paid.values()))


@given(stake_maps, stake_maps)
def test_draw_refunds_every_stake_exactly(challengers, challenged):
    challenged = {uid + 20_000: s for uid, s in challenged.items()}
    _, preview = _preview(challengers, challenged, "draw", 500)
    everyone = [*challengers.values(), *challenged.values()]
    assert preview.kind == "refund"
    assert preview.platform_fee == 0
    assert preview.winner_pool == preview.total_pool == sum(everyone)
    assert preview.paid_users == len(everyone)
    assert preview.largest == CoinRange(max(everyone), max(everyone))
    assert preview.smallest == CoinRange(min(everyone), min(everyone))


def test_one_winner_takes_the_whole_winners_pool():
    _, preview = _preview({1: 300}, {2: 700}, "challenger_won", 500)
    assert preview.winner_pool == 950
    assert preview.largest == preview.smallest == CoinRange(950, 950)


def test_a_range_when_the_leftover_coin_is_unknown():
    # pool 950 split 1:2:4 -> 135.7, 271.4, 542.9: two leftover coins, which the preview
    # cannot place without reading every stake (they go to the 542 and the 135 shares)
    _, preview = _preview({1: 100, 2: 200, 3: 400}, {4: 300}, "challenger_won", 500)
    assert preview.largest == CoinRange(542, 543)
    assert preview.smallest == CoinRange(135, 136)


def test_nobody_staked_pays_nothing():
    preview = preview_resolution("draw", None, None)
    assert preview.kind is None
    assert preview.largest is None
