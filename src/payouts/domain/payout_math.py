"""How a challenge's pool is split. Exact integer arithmetic only.

A winner with stake s out of winning total W gets floor(winner_pool * s / W) coins; the
R coins the floors leave over go one each to the R winners with the largest remainder
(winner_pool * s mod W), ties to the lower user id. The products exceed 64 bits, which
is why this lives in Python ints (and in NUMERIC on PostgreSQL), never in a BIGINT.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from payouts.domain.money import MAX_FEE_BPS


@dataclass(frozen=True, slots=True)
class PoolSplit:
    """The top-level numbers of a payout, known at resolve time in O(1)."""

    total_pool: int
    platform_fee: int
    winner_pool: int


def split_pool(total_pool: int, fee_bps: int) -> PoolSplit:
    """Take the platform fee, floor(total_pool * fee_bps / 10000), off the pool."""
    if total_pool < 0:
        raise ValueError("total_pool must not be negative")
    if not 0 <= fee_bps <= MAX_FEE_BPS:
        raise ValueError("fee_bps must be within 0..10000")
    fee = total_pool * fee_bps // MAX_FEE_BPS
    return PoolSplit(total_pool=total_pool, platform_fee=fee, winner_pool=total_pool - fee)


def floor_share(winner_pool: int, stake: int, winning_total: int) -> int:
    """The whole coins a stake earns before the leftover coins are handed out."""
    return winner_pool * stake // winning_total


def share_remainder(winner_pool: int, stake: int, winning_total: int) -> int:
    """What the floor cut off; the largest remainders get the leftover coins."""
    return winner_pool * stake % winning_total


@dataclass(frozen=True, slots=True)
class ExtraCoinCutoff:
    """The last winner, in (remainder desc, user id asc) order, who gets an extra coin.

    A winner gets one extra coin when its (remainder, user id) ranks at or before this
    one: remainder > cutoff remainder, or the same remainder and user id <= cutoff user.
    Storing the cutoff instead of a flag per winner lets workers decide per batch.
    """

    remainder: int
    user_id: int

    def grants(self, remainder: int, user_id: int) -> bool:
        return remainder > self.remainder or (
            remainder == self.remainder and user_id <= self.user_id
        )


def extra_coin_cutoff(winner_pool: int, stakes: Mapping[int, int]) -> ExtraCoinCutoff | None:
    """The cutoff for `stakes` (user id -> winning stake), or None if no coin is left over."""
    winning_total = sum(stakes.values())
    leftover = winner_pool - sum(
        floor_share(winner_pool, s, winning_total) for s in stakes.values()
    )
    if leftover == 0:
        return None
    ranked = sorted(
        stakes.items(),
        key=lambda item: (-share_remainder(winner_pool, item[1], winning_total), item[0]),
    )
    user_id, stake = ranked[leftover - 1]
    return ExtraCoinCutoff(share_remainder(winner_pool, stake, winning_total), user_id)


def payout_amount(
    winner_pool: int,
    stake: int,
    winning_total: int,
    user_id: int,
    cutoff: ExtraCoinCutoff | None,
) -> int:
    """One winner's final payout, given the job's cutoff."""
    amount = floor_share(winner_pool, stake, winning_total)
    remainder = share_remainder(winner_pool, stake, winning_total)
    if cutoff is not None and cutoff.grants(remainder, user_id):
        amount += 1
    return amount


def allocate(winner_pool: int, stakes: Mapping[int, int]) -> dict[int, int]:
    """Every winner's payout (user id -> coins); the amounts sum to winner_pool exactly."""
    if not stakes:
        raise ValueError("there must be at least one winning stake")
    if any(s <= 0 for s in stakes.values()):
        raise ValueError("winning stakes must be positive")
    winning_total = sum(stakes.values())
    cutoff = extra_coin_cutoff(winner_pool, stakes)
    return {
        user_id: payout_amount(winner_pool, stake, winning_total, user_id, cutoff)
        for user_id, stake in stakes.items()
    }
