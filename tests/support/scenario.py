"""Building challenges through the services, as the API would."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence

from payouts.config import Settings
from payouts.domain.staking import StakeItem
from payouts.services import challenges, users
from payouts.storage.database import Database
from payouts.worker.loop import PayoutWorker
from payouts.worker.wakeup import LocalWakeup


def make_users(db: Database, balances: Sequence[int], prefix: str = "u") -> list[int]:
    tag = uuid.uuid4().hex[:6]
    with db.write() as conn:
        return [
            users.create_user(conn, f"{prefix}{tag}-{n}", balance)["id"]
            for n, balance in enumerate(balances)
        ]


def staked_challenge(
    db: Database,
    winners: Sequence[int],
    losers: Sequence[int] = (),
    fee_bps: int = 500,
) -> tuple[int, dict[int, int], dict[int, int]]:
    """A challenge with one challenger stake per amount in `winners` and one challenged stake
    per amount in `losers`; returns (challenge id, winner stakes, loser stakes) by user id."""
    winner_ids = make_users(db, [s * 2 for s in winners], "w")
    loser_ids = make_users(db, [s * 2 for s in losers], "l")
    with db.write() as conn:
        cid = challenges.create_challenge(conn, "test challenge", fee_bps)["id"]
        items = [StakeItem(u, "challenger", s) for u, s in zip(winner_ids, winners, strict=True)]
        items += [StakeItem(u, "challenged", s) for u, s in zip(loser_ids, losers, strict=True)]
        for start in range(0, len(items), 10_000):
            challenges.place_stakes(conn, cid, items[start : start + 10_000])
    return (
        cid,
        dict(zip(winner_ids, winners, strict=True)),
        dict(zip(loser_ids, losers, strict=True)),
    )


def random_stakes(count: int, seed: int = 7) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(1, 1_000_000) for _ in range(count)]


def worker(db: Database, settings: Settings, **overrides: object) -> PayoutWorker:
    return PayoutWorker(db, settings.model_copy(update=overrides), LocalWakeup())
