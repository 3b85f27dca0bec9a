"""What resolving a challenge owes, decided from the per-side totals alone (O(1)). Pure."""

from __future__ import annotations

from dataclasses import dataclass

from payouts.domain.payout_math import split_pool
from payouts.domain.vocabulary import WINNING_SIDE


@dataclass(frozen=True, slots=True)
class SideTotals:
    challenger_total: int
    challenged_total: int
    challenger_count: int
    challenged_count: int

    def total(self, side: str) -> int:
        return self.challenger_total if side == "challenger" else self.challenged_total

    def count(self, side: str) -> int:
        return self.challenger_count if side == "challenger" else self.challenged_count


@dataclass(frozen=True, slots=True)
class JobPlan:
    kind: str  # payout | refund
    winning_side: str | None  # None: everybody is refunded
    total_winners: int
    total_pool: int  # coins
    platform_fee: int  # coins
    winner_pool: int  # coins
    winning_total: int  # coins staked by the users the job pays


def plan_job(result: str, totals: SideTotals, fee_bps: int) -> JobPlan | None:
    """A payout job for a win with winners; a refund job otherwise; None when nobody staked."""
    total_pool = totals.challenger_total + totals.challenged_total
    if total_pool == 0:
        return None
    side = WINNING_SIDE.get(result)
    if side is not None and totals.count(side) > 0:
        split = split_pool(total_pool, fee_bps)
        return JobPlan(
            kind="payout",
            winning_side=side,
            total_winners=totals.count(side),
            total_pool=total_pool,
            platform_fee=split.platform_fee,
            winner_pool=split.winner_pool,
            winning_total=totals.total(side),
        )
    return JobPlan(
        kind="refund",
        winning_side=None,
        total_winners=totals.challenger_count + totals.challenged_count,
        total_pool=total_pool,
        platform_fee=0,
        winner_pool=total_pool,
        winning_total=total_pool,
    )
