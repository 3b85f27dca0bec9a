"""Request and response bodies. JSON keys are camelCase, as in the seed's API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel
from sqlalchemy import RowMapping

from payouts.domain.money import MAX_BALANCE, MAX_FEE_BPS, MAX_STAKE
from payouts.domain.timing import JobTiming, Phase, phase_of
from payouts.domain.vocabulary import (
    MAX_ID,
    RESULTS,
    ChallengeStatus,
    EntryStatus,
    JobKind,
    JobStatus,
    Result,
    Side,
    UserStatus,
)
from payouts.services.challenges import MAX_RESULTS, Resolution
from payouts.storage.clock import iso_utc


class Body(BaseModel):
    """Requests: strict types (no "5" for 5, no 1.0 for 1), unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=True
    )


class Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


# PostgreSQL text cannot hold NUL: refuse it as invalid input, not a 500 from the driver.
NO_NUL_PATTERN = r"^[^\x00]*$"

Username = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
]
Coins = Annotated[int, Field(ge=0, le=MAX_BALANCE)]
StakeCoins = Annotated[int, Field(ge=1, le=MAX_STAKE)]


class NewUser(Body):
    username: Username
    balance: Coins = 0


class UserOut(Out):
    id: int
    username: str
    balance: int
    status: UserStatus

    @classmethod
    def of(cls, row: RowMapping) -> UserOut:
        return cls(
            id=row["id"], username=row["username"], balance=row["balance"], status=row["status"]
        )


class NewChallenge(Body):
    title: Annotated[
        str,
        StringConstraints(
            min_length=1, max_length=200, strip_whitespace=True, pattern=NO_NUL_PATTERN
        ),
    ]
    platform_fee_bps: Annotated[int, Field(ge=0, le=MAX_FEE_BPS)] | None = None


class ChallengeOut(Out):
    id: int
    title: str
    status: ChallengeStatus
    result: Result | None
    platform_fee_bps: int
    challenger_stake_total: int
    challenged_stake_total: int
    challenger_count: int
    challenged_count: int
    created_at: str
    resolved_at: str | None

    @classmethod
    def of(cls, row: RowMapping) -> ChallengeOut:
        return cls(
            id=row["id"],
            title=row["title"],
            status=row["status"],
            result=row["result"],
            platform_fee_bps=row["platform_fee_bps"],
            challenger_stake_total=row["challenger_stake_total"],
            challenged_stake_total=row["challenged_stake_total"],
            challenger_count=row["challenger_count"],
            challenged_count=row["challenged_count"],
            created_at=iso_utc(row["created_at"]) or "",
            resolved_at=iso_utc(row["resolved_at"]),
        )


class StakeIn(Body):
    # bounded like the users.id column: a bigger number cannot name a user, and the
    # database refuses to even compare it (a 500 before this bound)
    user_id: Annotated[int, Field(ge=1, le=MAX_ID, examples=[1])]
    side: Side
    amount: StakeCoins


class NewStakes(Body):
    stakes: Annotated[list[StakeIn], Field(min_length=1, max_length=10_000)]


class ResultIn(Body):
    result: Result


class ResolutionOut(Out):
    challenge: ChallengeOut
    payout_job_id: str | None
    refund_job_id: str | None
    message: str

    @classmethod
    def of(cls, resolution: Resolution) -> ResolutionOut:
        result = resolution.challenge["result"]
        job_id = str(resolution.job_id) if resolution.job_id else None
        if resolution.job_kind == "payout":
            message = f"Challenge result set to {result}. Payouts queued for processing."
        elif resolution.job_kind == "refund":
            message = f"Challenge result set to {result}. Refunds queued for processing."
        else:
            message = f"Challenge result set to {result}. Nobody staked; nothing to pay."
        return cls(
            challenge=ChallengeOut.of(resolution.challenge),
            payout_job_id=job_id if resolution.job_kind == "payout" else None,
            refund_job_id=job_id if resolution.job_kind == "refund" else None,
            message=message,
        )


class ResultItem(Body):
    """One challenge's result in a bulk resolve. The service checks the values, so that
    each refusal names the item: `results[3]: result must be one of ...`."""

    challenge_id: Annotated[int, Field(examples=[1])]
    result: Annotated[
        str, Field(json_schema_extra={"enum": list(RESULTS)}, examples=["challenger_won"])
    ]


class NewResults(Body):
    results: Annotated[list[ResultItem], Field(min_length=1, max_length=MAX_RESULTS)]


class ResolutionsOut(Out):
    """One resolution per item, in the order of the request."""

    resolutions: list[ResolutionOut]

    @classmethod
    def of(cls, resolutions: Sequence[Resolution]) -> ResolutionsOut:
        return cls(resolutions=[ResolutionOut.of(resolution) for resolution in resolutions])


class JobStatusOut(Out):
    """The seed's status fields, plus `kind`, `failedWinners` and the job's timing
    (domain.timing): its `phase`, winners paid per second of paying time, the ETA from the
    smoothed recent rate while active, and how long it took once completed. The timing
    fields are null where not computed (and the rate while nothing is paid yet)."""

    job_id: str
    challenge_id: int
    kind: JobKind
    status: JobStatus
    total_winners: int
    processed_winners: int
    failed_winners: int
    progress_percent: int
    created_at: str
    completed_at: str | None
    error: str | None
    phase: Phase
    paid_per_second: float | None = None
    eta_seconds: float | None = None
    took_seconds: float | None = None

    @classmethod
    def of(cls, row: RowMapping, timing: JobTiming | None = None) -> JobStatusOut:
        total, done = row["total_winners"], row["processed_winners"]
        return cls(
            job_id=str(row["id"]),
            challenge_id=row["challenge_id"],
            kind=row["kind"],
            status=row["status"],
            total_winners=total,
            processed_winners=done,
            failed_winners=row["failed_winners"],
            # floor: it never says 100 before every winner is paid
            progress_percent=100 * done // total if total else 100,
            created_at=iso_utc(row["created_at"]) or "",
            completed_at=iso_utc(row["completed_at"]),
            error=row["error"],
            phase=timing.phase if timing else phase_of(row["status"], bool(row["planned"])),
            paid_per_second=_round(timing.paid_per_second) if timing else None,
            eta_seconds=_round(timing.eta_seconds) if timing else None,
            took_seconds=_round(timing.duration_seconds)
            if timing and row["status"] == "completed"
            else None,
        )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


class JobOut(JobStatusOut):
    """A job in a list: its status plus the money and timing an operator wants to see."""

    total_pool: int
    platform_fee: int
    winner_pool: int
    started_at: str | None

    @classmethod
    def of(cls, row: RowMapping, timing: JobTiming | None = None) -> JobOut:
        return cls(
            **JobStatusOut.of(row, timing).model_dump(),
            total_pool=row["total_pool"],
            platform_fee=row["platform_fee"],
            winner_pool=row["winner_pool"],
            started_at=iso_utc(row["started_at"]),
        )


class EntryOut(Out):
    id: int
    job_id: str
    user_id: int
    amount: int
    status: EntryStatus
    attempts: int
    error: str | None
    created_at: str
    processed_at: str | None

    @classmethod
    def of(cls, row: RowMapping) -> EntryOut:
        return cls(
            id=row["id"],
            job_id=str(row["job_id"]),
            user_id=row["user_id"],
            amount=row["amount"],
            status=row["status"],
            attempts=row["attempts"],
            error=row["error"],
            created_at=iso_utc(row["created_at"]) or "",
            processed_at=iso_utc(row["processed_at"]),
        )


class AuditEntryOut(Out):
    id: int
    at: str
    actor: str
    action: str
    target: str | None
    client: str | None
    status_code: int
    outcome: str

    @classmethod
    def of(cls, row: RowMapping) -> AuditEntryOut:
        return cls(
            id=row["id"],
            at=iso_utc(row["created_at"]) or "",
            actor=row["actor"],
            action=row["action"],
            target=row["target"],
            client=row["client"],
            status_code=row["status_code"],
            outcome=row["outcome"],
        )


class ErrorOut(BaseModel):
    message: str


class FieldErrorOut(BaseModel):
    loc: list[str]
    msg: str


class ValidationErrorOut(BaseModel):
    message: str
    errors: list[FieldErrorOut] | None = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorOut,
        "description": (
            "The request could not be read (a body that is not UTF-8, a bad Content-Length)"
        ),
    },
    401: {"model": ErrorOut, "description": "No token, or not a live one"},
    403: {"model": ErrorOut, "description": "The token's role may not do this"},
    404: {"model": ErrorOut, "description": "No such object (or a malformed id)"},
    409: {"model": ErrorOut, "description": "The object's state forbids this"},
    413: {"model": ErrorOut, "description": "The body is larger than the limit"},
    415: {"model": ErrorOut, "description": "The body is not JSON"},
    422: {"model": ValidationErrorOut, "description": "Invalid input"},
    503: {"model": ErrorOut, "description": "The database is busy or unavailable; retry"},
}
