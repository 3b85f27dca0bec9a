"""GET /api/admin/challenges/{id}/preview: what resolving with a result would pay."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from payouts.domain.preview import CoinRange, ResolutionPreview
from payouts.domain.vocabulary import Result
from payouts.services import preview as previews
from payouts.web.deps import Db, Reader, parse_id
from payouts.web.schemas import Out

router = APIRouter(prefix="/api/admin")


class CoinRangeOut(Out):
    """A payout in coins: `exact` when low == high, else it is low or low + 1."""

    low: int
    high: int
    exact: bool

    @classmethod
    def of(cls, amount: CoinRange | None) -> CoinRangeOut | None:
        if amount is None:
            return None
        return cls(low=amount.low, high=amount.high, exact=amount.exact)


class PreviewOut(Out):
    result: str
    kind: str | None  # payout | refund | null: nobody staked, nothing to pay
    total_pool: int
    platform_fee: int
    winner_pool: int  # coins the job pays out (the refund total for a refund)
    total_winners: int  # users the job pays (refunded players for a refund)
    refund_total: int | None
    largest_payout: CoinRangeOut | None
    smallest_payout: CoinRangeOut | None

    @classmethod
    def of(cls, preview: ResolutionPreview) -> PreviewOut:
        return cls(
            result=preview.result,
            kind=preview.kind,
            total_pool=preview.total_pool,
            platform_fee=preview.platform_fee,
            winner_pool=preview.winner_pool,
            total_winners=preview.paid_users,
            refund_total=preview.winner_pool if preview.kind == "refund" else None,
            largest_payout=CoinRangeOut.of(preview.largest),
            smallest_payout=CoinRangeOut.of(preview.smallest),
        )


@router.get("/challenges/{challenge_id}/preview")
def preview_resolution(
    challenge_id: str, result: Annotated[Result, Query()], db: Db, _: Reader
) -> PreviewOut:
    cid = parse_id(challenge_id, "challenge")
    with db.read() as conn:
        return PreviewOut.of(previews.preview(conn, cid, result))
