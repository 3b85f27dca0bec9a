"""plan_stakes: all-or-nothing checks of a stake request against balances and positions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payouts.domain.errors import InvalidInput
from payouts.domain.money import MAX_POOL, MAX_STAKE
from payouts.domain.staking import Player, Position, StakeItem, plan_stakes

RICH = Player(balance=10 * MAX_STAKE, active=True)


def plan(items, players=None, positions=None, pool_before=0):
    return plan_stakes(items, players or {}, positions or {}, pool_before)


class TestPlanStakes:
    def test_debits_positions_and_side_totals(self):
        result = plan(
            [
                StakeItem(1, "challenger", 100),
                StakeItem(2, "challenged", 40),
                StakeItem(1, "challenger", 5),
            ],
            {1: RICH, 2: RICH},
        )
        assert result.debits == {1: 105, 2: 40}
        assert result.positions == {1: Position("challenger", 105), 2: Position("challenged", 40)}
        assert result.new_users == {1, 2}
        assert result.side_amounts == {"challenger": 105, "challenged": 40}
        assert result.side_new_counts == {"challenger": 1, "challenged": 1}

    def test_adding_to_an_existing_position_is_not_a_new_player(self):
        result = plan(
            [StakeItem(1, "challenger", 10)],
            {1: RICH},
            {1: Position("challenger", 90)},
            pool_before=90,
        )
        assert result.positions[1] == Position("challenger", 100)
        assert result.debits == {1: 10}
        assert result.new_users == set()
        assert result.side_new_counts == {"challenger": 0, "challenged": 0}

    def test_unknown_user_is_refused_with_its_index(self):
        with pytest.raises(InvalidInput, match=r"stakes\[1\].*user 9 does not exist"):
            plan([StakeItem(1, "challenger", 1), StakeItem(9, "challenger", 1)], {1: RICH})

    def test_frozen_user_is_refused_with_its_index(self):
        frozen = Player(balance=100, active=False)
        with pytest.raises(InvalidInput, match=r"stakes\[0\].*frozen"):
            plan([StakeItem(1, "challenger", 1)], {1: frozen})

    def test_other_side_of_an_existing_position_is_refused(self):
        with pytest.raises(InvalidInput, match=r"stakes\[2\].*already staked on the challenged"):
            plan(
                [
                    StakeItem(2, "challenger", 1),
                    StakeItem(3, "challenger", 1),
                    StakeItem(1, "challenger", 1),
                ],
                {1: RICH, 2: RICH, 3: RICH},
                {1: Position("challenged", 5)},
            )

    def test_other_side_of_an_earlier_item_in_the_same_request_is_refused(self):
        with pytest.raises(InvalidInput, match=r"stakes\[1\].*already staked on the challenger"):
            plan([StakeItem(1, "challenger", 1), StakeItem(1, "challenged", 1)], {1: RICH})

    def test_insufficient_balance_counts_earlier_items_of_the_same_request(self):
        player = Player(balance=100, active=True)
        items = [StakeItem(1, "challenger", 60), StakeItem(1, "challenger", 40)]
        assert plan(items, {1: player}).debits == {1: 100}
        with pytest.raises(InvalidInput, match=r"stakes\[2\].*has 100 coins, needs 101"):
            plan([*items, StakeItem(1, "challenger", 1)], {1: player})

    def test_position_limit_includes_the_existing_position(self):
        with pytest.raises(InvalidInput, match=r"stakes\[0\].*limit is 1000000000000"):
            plan(
                [StakeItem(1, "challenger", 2)],
                {1: RICH},
                {1: Position("challenger", MAX_STAKE - 1)},
            )
        exact = plan(
            [StakeItem(1, "challenger", 1)], {1: RICH}, {1: Position("challenger", MAX_STAKE - 1)}
        )
        assert exact.positions[1].amount == MAX_STAKE

    def test_position_limit_adds_up_items_of_the_same_request(self):
        items = [StakeItem(1, "challenger", MAX_STAKE), StakeItem(1, "challenger", 1)]
        with pytest.raises(InvalidInput, match=r"stakes\[1\]"):
            plan(items, {1: RICH})

    def test_pool_limit(self):
        with pytest.raises(InvalidInput, match="pool would be"):
            plan([StakeItem(1, "challenger", 2)], {1: RICH}, pool_before=MAX_POOL - 1)
        assert plan([StakeItem(1, "challenger", 1)], {1: RICH}, pool_before=MAX_POOL - 1)

    def test_the_first_bad_item_is_named(self):
        # user 7 and user 8 are both unknown: the message names the first of them
        items = [StakeItem(uid, "challenger", 1) for uid in (1, 7, 8)]
        with pytest.raises(InvalidInput, match=r"^stakes\[1\]"):
            plan(items, {1: RICH})

    @settings(deadline=None)
    @given(
        st.lists(
            st.tuples(
                st.integers(1, 5), st.sampled_from(["challenger", "challenged"]), st.integers(1, 50)
            ),
            min_size=1,
            max_size=30,
        ),
        st.integers(0, 300),
    )
    def test_an_accepted_plan_respects_every_rule(self, raw_items, balance):
        items = [StakeItem(uid, side, amount) for uid, side, amount in raw_items]
        players = {uid: Player(balance, True) for uid in range(1, 6)}
        try:
            result = plan(items, players)
        except InvalidInput as exc:
            assert exc.message.startswith("stakes[")
            return
        for uid, debit in result.debits.items():
            assert debit <= balance
            assert debit == result.positions[uid].amount
            assert {i.side for i in items if i.user_id == uid} == {result.positions[uid].side}
        assert sum(result.side_amounts.values()) == sum(i.amount for i in items)
        assert sum(result.side_new_counts.values()) == len({i.user_id for i in items})
