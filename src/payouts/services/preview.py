"""Previewing a resolve (what it will pay) and resolving exactly what was previewed."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from payouts.domain.errors import Conflict
from payouts.domain.jobs import plan_job
from payouts.domain.preview import ResolutionPreview, StakeExtremes, preview_resolution
from payouts.services import challenges
from payouts.services.challenges import Resolution
from payouts.storage.tables import stakes


def preview(conn: Connection, challenge_id: int, result: str) -> ResolutionPreview:
    """Pool, fee and winner count from the challenge's totals (O(1)); the largest and
    smallest payout from two aggregates over the stakes the job would pay."""
    challenge = challenges.get_challenge(conn, challenge_id)
    if challenge["status"] != "open":
        raise Conflict(f"challenge {challenge_id} is already resolved ({challenge['result']})")
    plan = plan_job(result, challenges.side_totals(challenge), challenge["platform_fee_bps"])
    if plan is None:
        return preview_resolution(result, None, None)
    query = select(func.max(stakes.c.amount), func.min(stakes.c.amount)).where(
        stakes.c.challenge_id == challenge_id
    )
    if plan.winning_side is not None:
        query = query.where(stakes.c.side == plan.winning_side)
    largest, smallest = conn.execute(query).one()
    return preview_resolution(result, plan, StakeExtremes(int(largest), int(smallest)))


def resolve_as_previewed(
    conn: Connection, challenge_id: int, result: str, previewed_pool: int
) -> Resolution:
    """Resolve, unless stakes changed the pool since the admin saw the preview: what they
    confirmed must be what happens. Call inside a write transaction (the lock holds until
    the resolve commits)."""
    challenge = challenges.get_challenge(conn, challenge_id, lock=True)
    pool = challenge["challenger_stake_total"] + challenge["challenged_stake_total"]
    if challenge["status"] == "open" and pool != previewed_pool:
        raise Conflict(
            f"challenge {challenge_id}'s pool changed from {previewed_pool} to {pool} coins"
            " since the preview; review it again"
        )
    return challenges.resolve(conn, challenge_id, result)
