"""The /api/admin routes. Each opens its transaction, calls a service, and answers after
the commit; write routes wake the workers once the job is durable."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from sqlalchemy import Connection

from payouts.domain.errors import InvalidInput
from payouts.domain.staking import StakeItem
from payouts.domain.vocabulary import CHALLENGE_STATUSES, ENTRY_STATUSES, JOB_STATUSES
from payouts.services import challenges, jobs, users
from payouts.web.actions import AdminWrite, AuditAs, IdempotencyKey
from payouts.web.deps import (
    AppSettings,
    ChallengeIdPath,
    Db,
    JobIdPath,
    Reader,
    UserIdPath,
    parse_id,
    parse_uuid,
)
from payouts.web.progress_samples import timed
from payouts.web.schemas import (
    ERROR_RESPONSES,
    NO_NUL_PATTERN,
    ChallengeOut,
    EntryOut,
    JobOut,
    JobStatusOut,
    NewChallenge,
    NewResults,
    NewStakes,
    NewUser,
    ResolutionOut,
    ResolutionsOut,
    ResultIn,
    UserOut,
)

router = APIRouter(prefix="/api/admin", responses=ERROR_RESPONSES)

MAX_ENTRY_ID = 2**63 - 1  # payout_entries.id is a BIGINT; a bigger afterId cannot be bound


@router.post("/users", status_code=status.HTTP_201_CREATED)
def create_user(body: NewUser, action: AdminWrite) -> UserOut:
    with action.write() as conn:
        return UserOut.of(users.create_user(conn, body.username, body.balance))


@router.get("/users/{user_id}")
def get_user(user_id: UserIdPath, db: Db, _: Reader) -> UserOut:
    with db.read() as conn:
        return UserOut.of(users.get_user(conn, parse_id(user_id, "user")))


@router.post("/users/{user_id}/freeze")
def freeze_user(user_id: UserIdPath, action: AdminWrite) -> UserOut:
    with action.write() as conn:
        return UserOut.of(users.set_user_status(conn, parse_id(user_id, "user"), "frozen"))


@router.post("/users/{user_id}/unfreeze")
def unfreeze_user(user_id: UserIdPath, action: AdminWrite) -> UserOut:
    with action.write() as conn:
        return UserOut.of(users.set_user_status(conn, parse_id(user_id, "user"), "active"))


@router.post("/challenges", status_code=status.HTTP_201_CREATED)
def create_challenge(body: NewChallenge, action: AdminWrite, settings: AppSettings) -> ChallengeOut:
    fee = settings.platform_fee_bps if body.platform_fee_bps is None else body.platform_fee_bps
    with action.write() as conn:
        return ChallengeOut.of(challenges.create_challenge(conn, body.title, fee))


@router.get("/challenges")
def list_challenges(
    db: Db,
    _: Reader,
    status_filter: Annotated[str | None, Query(alias="status")] = None,
    q: Annotated[str | None, Query(max_length=200, pattern=NO_NUL_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ChallengeOut]:
    if status_filter is not None and status_filter not in CHALLENGE_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(CHALLENGE_STATUSES)}")
    with db.read() as conn:
        rows = challenges.list_challenges(conn, status=status_filter, search=q, limit=limit)
    return [ChallengeOut.of(row) for row in rows]


@router.get("/challenges/{challenge_id}")
def get_challenge(challenge_id: ChallengeIdPath, db: Db, _: Reader) -> ChallengeOut:
    with db.read() as conn:
        return ChallengeOut.of(challenges.get_challenge(conn, parse_id(challenge_id, "challenge")))


@router.post(
    "/challenges/{challenge_id}/stakes",
    status_code=status.HTTP_201_CREATED,
    response_model=ChallengeOut,
)
def place_stakes(
    challenge_id: ChallengeIdPath, body: NewStakes, action: AdminWrite, key: IdempotencyKey = None
) -> Response:
    cid = parse_id(challenge_id, "challenge")
    items = [StakeItem(s.user_id, s.side, s.amount) for s in body.stakes]

    def stake(conn: Connection) -> ChallengeOut:
        return ChallengeOut.of(challenges.place_stakes(conn, cid, items))

    return action.once(key, body, stake)


@router.post("/challenges/{challenge_id}/result", response_model=ResolutionOut)
def resolve_challenge(
    challenge_id: ChallengeIdPath,
    body: ResultIn,
    action: AdminWrite,
    key: IdempotencyKey = None,
) -> Response:
    cid = parse_id(challenge_id, "challenge")

    def resolve(conn: Connection) -> ResolutionOut:
        return ResolutionOut.of(challenges.resolve(conn, cid, body.result))

    response = action.once(key, body, resolve)
    action.wake.notify()
    return response


@router.post("/challenges/results", response_model=ResolutionsOut)
def resolve_challenges(
    body: NewResults, action: AdminWrite, key: IdempotencyKey = None
) -> Response:
    """Resolve 1 to 1,000 challenges in one transaction, all or nothing: each answer is the
    single resolve's, in request order. A bad item is a 422 that names it (`results[3]`), an
    already resolved challenge a 409; either way nothing changes. The audit log gets one
    `resolve_challenge` row per challenge, as if each had been resolved on its own."""
    items = [(item.challenge_id, item.result) for item in body.results]

    def resolve(conn: Connection) -> ResolutionsOut:
        return ResolutionsOut.of(challenges.resolve_many(conn, items))

    each = AuditAs("resolve_challenge", [f"challenge_id={cid}" for cid, _ in items])
    response = action.once(key, body, resolve, audit_as=each)
    action.wake.notify()
    return response


@router.get("/payout-jobs")
def list_jobs(
    request: Request,
    db: Db,
    _: Reader,
    status_filter: Annotated[str | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[JobOut]:
    statuses = [s for s in (status_filter or "").split(",") if s]
    unknown = [s for s in statuses if s not in JOB_STATUSES]
    if unknown:
        raise InvalidInput(f"unknown job status {unknown[0]!r}; use {', '.join(JOB_STATUSES)}")
    with db.read() as conn:
        rows = jobs.list_jobs(conn, statuses, limit)
        timings = timed(request.app, conn, rows)
    return [JobOut.of(row, timings[row["id"]]) for row in rows]


@router.get("/payout-jobs/{job_id}/status")
def job_status(job_id: JobIdPath, request: Request, db: Db, _: Reader) -> JobStatusOut:
    with db.read() as conn:
        row = jobs.get_job(conn, parse_uuid(job_id, "payout job"))
        return JobStatusOut.of(row, timed(request.app, conn, [row])[row["id"]])


@router.post("/payout-jobs/{job_id}/trigger", status_code=status.HTTP_202_ACCEPTED)
def trigger_job(job_id: JobIdPath, action: AdminWrite) -> JobStatusOut:
    with action.write() as conn:
        job = jobs.trigger(conn, parse_uuid(job_id, "payout job"))
    action.wake.notify()
    return JobStatusOut.of(job)


@router.post("/payout-jobs/{job_id}/retry")
def retry_job(job_id: JobIdPath, action: AdminWrite) -> JobStatusOut:
    with action.write() as conn:
        job = jobs.retry(conn, parse_uuid(job_id, "payout job"))
    action.wake.notify()
    return JobStatusOut.of(job)


@router.get("/payout-jobs/{job_id}/entries")
def job_entries(
    job_id: JobIdPath,
    db: Db,
    _: Reader,
    status_filter: Annotated[str | None, Query(alias="status")] = None,
    after_id: Annotated[int, Query(alias="afterId", ge=0, le=MAX_ENTRY_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[EntryOut]:
    if status_filter is not None and status_filter not in ENTRY_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(ENTRY_STATUSES)}")
    jid = parse_uuid(job_id, "payout job")
    with db.read() as conn:
        rows = jobs.list_entries(conn, jid, status_filter, after_id=after_id, limit=limit)
    return [EntryOut.of(row) for row in rows]
