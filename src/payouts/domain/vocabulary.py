"""Every status, result, kind and role the service knows, once. The tables' CHECK
constraints, the API's types, the pages and the services all read them from here."""

from __future__ import annotations

from typing import Literal, get_args

# Users and challenges have 32-bit INTEGER ids: a larger number names nothing.
MAX_ID = 2**31 - 1

UserStatus = Literal["active", "frozen"]
Side = Literal["challenger", "challenged"]
ChallengeStatus = Literal["open", "resolved"]
Result = Literal["challenger_won", "challenged_won", "draw"]
JobKind = Literal["payout", "refund"]
JobStatus = Literal["queued", "running", "completed", "failed"]
EntryStatus = Literal["pending", "completed", "failed"]
LedgerType = Literal[
    "deposit", "challenge_stake", "challenge_payout", "challenge_refund", "platform_fee"
]
TokenRole = Literal["admin", "viewer"]
EventType = Literal[
    "payout.paid", "refund.paid", "job.completed", "job.failed", "challenge.resolved"
]

USER_STATUSES: tuple[UserStatus, ...] = get_args(UserStatus)
SIDES: tuple[Side, ...] = get_args(Side)
CHALLENGE_STATUSES: tuple[ChallengeStatus, ...] = get_args(ChallengeStatus)
RESULTS: tuple[Result, ...] = get_args(Result)
JOB_KINDS: tuple[JobKind, ...] = get_args(JobKind)
JOB_STATUSES: tuple[JobStatus, ...] = get_args(JobStatus)
ENTRY_STATUSES: tuple[EntryStatus, ...] = get_args(EntryStatus)
LEDGER_TYPES: tuple[LedgerType, ...] = get_args(LedgerType)
TOKEN_ROLES: tuple[TokenRole, ...] = get_args(TokenRole)
DeliveryStatus = Literal["pending", "delivered", "failed"]
DELIVERY_STATUSES: tuple[DeliveryStatus, ...] = get_args(DeliveryStatus)
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)

ACTIVE_JOB_STATUSES: tuple[JobStatus, ...] = ("queued", "running")  # work is left
SETTLED_JOB_STATUSES: tuple[JobStatus, ...] = ("completed", "failed")  # the job has ended
# The side a win pays; a draw (or a win nobody staked on) refunds both sides.
WINNING_SIDE: dict[str, Side] = {"challenger_won": "challenger", "challenged_won": "challenged"}
# The ledger row that pays a job's entry.
LEDGER_TYPE_OF_JOB: dict[str, LedgerType] = {
    "payout": "challenge_payout",
    "refund": "challenge_refund",
}
# The event a job's paid entry writes (with its ledger row).
EVENT_TYPE_OF_JOB: dict[str, EventType] = {"payout": "payout.paid", "refund": "refund.paid"}
