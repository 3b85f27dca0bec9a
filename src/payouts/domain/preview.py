"""What resolving a challenge will do, shown to the admin before they confirm. Pure.

The pool, fee, winners' pool and winner count are exact (they come from the job plan). The
largest and smallest payout come from the largest and smallest winning stake: a stake s of
winning total W earns floor(winner_pool * s / W), and the R leftover coins go one each to
the winners with the largest remainders. Knowing R and who gets the coins needs every
stake, so without that scan a payout is known to within one coin: `CoinRange` says which.
"""

from __future__ import annotations

from dataclasses import dataclass

from payouts.domain.jobs import JobPlan
from payouts.domain.payout_math import floor_share, share_remainder


@dataclass(frozen=True, slots=True)
class StakeExtremes:
    """The largest and smallest stake among the users a job will pay, in coins."""

    largest: int
    smallest: int


@dataclass(frozen=True, slots=True)
class CoinRange:
    """An amount known exactly (low == high) or to within a bound, in coins."""

    low: int
    high: int

    @property
    def exact(self) -> bool:
        return self.low == self.high


@dataclass(frozen=True, slots=True)
class ResolutionPreview:
    result: str
    kind: str | None  # payout | refund | None: nobody staked, nothing to pay
    total_pool: int
    platform_fee: int
    winner_pool: int  # coins paid out: the winners' pool, or the refund total
    paid_users: int  # winners, or refunded players
    largest: CoinRange | None
    smallest: CoinRange | None


def preview_resolution(
    result: str, plan: JobPlan | None, extremes: StakeExtremes | None
) -> ResolutionPreview:
    """The preview of `plan` (from plan_job); `extremes` are over the stakes it pays."""
    if plan is None or extremes is None:
        return ResolutionPreview(result, None, 0, 0, 0, 0, None, None)
    if plan.kind == "refund":  # every stake comes back in full: exact
        largest = CoinRange(extremes.largest, extremes.largest)
        smallest = CoinRange(extremes.smallest, extremes.smallest)
    else:
        largest, smallest = _payout_extremes(plan, extremes)
    return ResolutionPreview(
        result=result,
        kind=plan.kind,
        total_pool=plan.total_pool,
        platform_fee=plan.platform_fee,
        winner_pool=plan.winner_pool,
        paid_users=plan.total_winners,
        largest=largest,
        smallest=smallest,
    )


def _payout_extremes(plan: JobPlan, extremes: StakeExtremes) -> tuple[CoinRange, CoinRange]:
    pool, total, count = plan.winner_pool, plan.winning_total, plan.total_winners
    if count == 1:
        return CoinRange(pool, pool), CoinRange(pool, pool)
    if extremes.largest == extremes.smallest:
        # Equal stakes: each floor share is pool // count and the pool % count leftover
        # coins go to that many winners (fewer than all of them).
        share, leftover = divmod(pool, count)
        return CoinRange(share + (leftover > 0), share + (leftover > 0)), CoinRange(share, share)
    return (
        _bound(pool, extremes.largest, total),
        _bound(pool, extremes.smallest, total),
    )


def _bound(pool: int, stake: int, total: int) -> CoinRange:
    """The payout of an extreme stake. A zero remainder makes it exact: such a winner never
    gets a leftover coin (the leftover coins all go to positive remainders), and no other
    winner's share crosses this whole number from the other side. Otherwise it is the floor
    share, or one more if a leftover coin lands at this level."""
    share = floor_share(pool, stake, total)
    if share_remainder(pool, stake, total) == 0:
        return CoinRange(share, share)
    return CoinRange(share, share + 1)
