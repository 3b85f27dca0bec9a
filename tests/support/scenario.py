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


def match_day(
    db: Database, players: list[int], rng: random.Random, count: int
) -> dict[int, dict[str, dict[int, int]]]:
    """`count` open challenges among `players` (most one-on-one, some up to 50 winners):
    challenge id -> side -> {user id: stake}."""
    made: dict[int, dict[str, dict[int, int]]] = {}
    with db.write() as conn:
        for n in range(count):
            winners = 1 if rng.random() < 0.6 else rng.randint(2, 30)
            losers = rng.randint(0 if winners > 1 else 1, 3)
            seated = rng.sample(players, winners + losers)
            sides = {
                "challenger": {u: rng.randint(1, 10**6) for u in seated[:winners]},
                "challenged": {u: rng.randint(1, 10**6) for u in seated[winners:]},
            }
            cid = challenges.create_challenge(conn, f"match {n}", 500)["id"]
            items = [StakeItem(u, side, a) for side, s in sides.items() for u, a in s.items()]
            challenges.place_stakes(conn, cid, items)
            made[cid] = sides
    return made
