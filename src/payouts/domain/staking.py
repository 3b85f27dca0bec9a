"""Checking a list of stakes against balances and positions, all or nothing. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from payouts.domain.errors import InvalidInput
from payouts.domain.money import MAX_POOL, MAX_STAKE


@dataclass(frozen=True, slots=True)
class StakeItem:
    user_id: int
    side: str
    amount: int  # coins


@dataclass(frozen=True, slots=True)
class Player:
    balance: int  # coins
    active: bool


@dataclass(frozen=True, slots=True)
class Position:
    side: str
    amount: int  # coins


@dataclass
class StakePlan:
    """What placing the stakes changes: each user's debit and new position, per-side totals."""

    debits: dict[int, int] = field(default_factory=dict)
    positions: dict[int, Position] = field(default_factory=dict)
    new_users: set[int] = field(default_factory=set)
    side_amounts: dict[str, int] = field(default_factory=lambda: {"challenger": 0, "challenged": 0})
    side_new_counts: dict[str, int] = field(
        default_factory=lambda: {"challenger": 0, "challenged": 0}
    )


def plan_stakes(
    items: Sequence[StakeItem],
    players: Mapping[int, Player],
    positions: Mapping[int, Position],
    pool_before: int,
) -> StakePlan:
    """Validate every item in order; raise InvalidInput naming the first bad item's index."""
    plan = StakePlan()
    for index, item in enumerate(items):
        where = f"stakes[{index}]"
        player = players.get(item.user_id)
        if player is None:
            raise InvalidInput(f"{where}: user {item.user_id} does not exist")
        if not player.active:
            raise InvalidInput(f"{where}: user {item.user_id} is frozen")
        current = plan.positions.get(item.user_id) or positions.get(item.user_id)
        if current is not None and current.side != item.side:
            raise InvalidInput(
                f"{where}: user {item.user_id} already staked on the {current.side} side"
            )
        position = (current.amount if current else 0) + item.amount
        if position > MAX_STAKE:
            raise InvalidInput(
                f"{where}: user {item.user_id}'s position would be {position} coins;"
                f" the limit is {MAX_STAKE}"
            )
        debit = plan.debits.get(item.user_id, 0) + item.amount
        if debit > player.balance:
            raise InvalidInput(
                f"{where}: user {item.user_id} has {player.balance} coins, needs {debit}"
            )
        if current is None:
            plan.new_users.add(item.user_id)
            plan.side_new_counts[item.side] += 1
        plan.debits[item.user_id] = debit
        plan.positions[item.user_id] = Position(item.side, position)
        plan.side_amounts[item.side] += item.amount
    pool_after = pool_before + sum(plan.side_amounts.values())
    if pool_after > MAX_POOL:
        raise InvalidInput(
            f"the challenge's pool would be {pool_after} coins; the limit is {MAX_POOL}"
        )
    return plan
