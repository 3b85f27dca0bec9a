"""Challenges: create, stake, resolve (one, or many at once). Resolving is O(1) per
challenge: it writes one job row."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, bindparam, case, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from payouts.domain.errors import Conflict, InvalidInput, NotFound
from payouts.domain.jobs import SideTotals, plan_job
from payouts.domain.staking import Player, Position, StakeItem, StakePlan, plan_stakes
from payouts.domain.vocabulary import MAX_ID, RESULTS
from payouts.storage.clock import iso_utc, utcnow
from payouts.storage.events import insert_events
from payouts.storage.tables import challenges, payout_jobs, stakes, transactions, users
from payouts.storage.work import announce_work


def create_challenge(conn: Connection, title: str, fee_bps: int) -> RowMapping:
    return (
        conn.execute(
            insert(challenges)
            .values(title=title, status="open", platform_fee_bps=fee_bps, created_at=utcnow())
            .returning(*challenges.c)
        )
        .mappings()
        .one()
    )


_CHALLENGE = select(challenges).where(challenges.c.id == bindparam("challenge"))
_CHALLENGE_LOCKED = _CHALLENGE.with_for_update()


def get_challenge(conn: Connection, challenge_id: int, *, lock: bool = False) -> RowMapping:
    query = _CHALLENGE_LOCKED if lock else _CHALLENGE
    challenge = conn.execute(query, {"challenge": challenge_id}).mappings().first()
    if challenge is None:
        raise NotFound(f"challenge {challenge_id} not found")
    return challenge


def list_challenges(
    conn: Connection, *, status: str | None = None, search: str | None = None, limit: int = 100
) -> Sequence[RowMapping]:
    query = select(challenges).order_by(challenges.c.id.desc()).limit(limit)
    if status:
        query = query.where(challenges.c.status == status)
    if search:
        # The search is literal text: % and _ match themselves, not any characters.
        literal = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{literal}%"
        query = query.where(
            or_(
                challenges.c.title.ilike(pattern, escape="\\"),
                challenges.c.id == _int_or_none(search),
            )
        )
    return conn.execute(query).mappings().all()


def _int_or_none(text: str) -> int | None:
    """An id as the pages write it: "12" or "#12"."""
    digits = text.strip().removeprefix("#").strip()
    return int(digits) if digits.isdigit() and len(digits) < 10 else None


# The statements of placing stakes, built once (they run for every stake request).
_PLAYERS = (
    select(users.c.id, users.c.balance, users.c.status)
    .where(users.c.id.in_(bindparam("user_ids", expanding=True)))
    .order_by(users.c.id)
    .with_for_update()  # in id order, so concurrent stakers never deadlock
)
_POSITIONS = select(stakes.c.user_id, stakes.c.side, stakes.c.amount).where(
    stakes.c.challenge_id == bindparam("challenge"),
    stakes.c.user_id.in_(bindparam("user_ids", expanding=True)),
)
_DEBIT = (
    update(users)
    .values(balance=users.c.balance - bindparam("debit"))
    .where(users.c.id == bindparam("uid"))
)
_INSERT_STAKES = insert(stakes)
_GROW_STAKE = (
    update(stakes)
    .values(amount=bindparam("amount"))
    .where(stakes.c.challenge_id == bindparam("challenge"), stakes.c.user_id == bindparam("uid"))
)
_INSERT_LEDGER = insert(transactions)
_ADD_TO_TOTALS = (
    update(challenges)
    .where(challenges.c.id == bindparam("challenge"))
    .values(
        challenger_stake_total=challenges.c.challenger_stake_total + bindparam("challenger_coins"),
        challenged_stake_total=challenges.c.challenged_stake_total + bindparam("challenged_coins"),
        challenger_count=challenges.c.challenger_count + bindparam("new_challengers"),
        challenged_count=challenges.c.challenged_count + bindparam("new_challenged"),
    )
    .returning(*challenges.c)
)


def place_stakes(conn: Connection, challenge_id: int, items: Sequence[StakeItem]) -> RowMapping:
    """Debit and record every item, or nothing (InvalidInput names the first bad item)."""
    challenge = get_challenge(conn, challenge_id, lock=True)
    if challenge["status"] != "open":
        raise Conflict(f"challenge {challenge_id} is {challenge['status']}; stakes are closed")
    user_ids = sorted({item.user_id for item in items})
    players = {
        row.id: Player(balance=row.balance, active=row.status == "active")
        for row in conn.execute(_PLAYERS, {"user_ids": user_ids})
    }
    positions = {
        row.user_id: Position(row.side, row.amount)
        for row in conn.execute(_POSITIONS, {"challenge": challenge_id, "user_ids": user_ids})
    }
    pool_before = challenge["challenger_stake_total"] + challenge["challenged_stake_total"]
    plan = plan_stakes(items, players, positions, pool_before)
    return _write_stakes(conn, challenge_id, items, plan)


def _write_stakes(
    conn: Connection, challenge_id: int, items: Sequence[StakeItem], plan: StakePlan
) -> RowMapping:
    """Write the plan; returns the challenge with its new totals."""
    now = utcnow()
    conn.execute(_DEBIT, [{"uid": uid, "debit": debit} for uid, debit in plan.debits.items()])
    new = [
        {
            "challenge_id": challenge_id,
            "user_id": uid,
            "side": p.side,
            "amount": p.amount,
            "created_at": now,
        }
        for uid, p in plan.positions.items()
        if uid in plan.new_users
    ]
    if new:
        conn.execute(_INSERT_STAKES, new)
    grown = [
        {"challenge": challenge_id, "uid": uid, "amount": p.amount}
        for uid, p in plan.positions.items()
        if uid not in plan.new_users
    ]
    if grown:
        conn.execute(_GROW_STAKE, grown)
    conn.execute(
        _INSERT_LEDGER,
        [
            {
                "user_id": item.user_id,
                "type": "challenge_stake",
                "amount": -item.amount,
                "challenge_id": challenge_id,
                "created_at": now,
            }
            for item in items
        ],
    )
    return (
        conn.execute(
            _ADD_TO_TOTALS,
            {
                "challenge": challenge_id,
                "challenger_coins": plan.side_amounts["challenger"],
                "challenged_coins": plan.side_amounts["challenged"],
                "new_challengers": plan.side_new_counts["challenger"],
                "new_challenged": plan.side_new_counts["challenged"],
            },
        )
        .mappings()
        .one()
    )


@dataclass(frozen=True, slots=True)
class Resolution:
    challenge: RowMapping
    job_id: uuid.UUID | None
    job_kind: str | None


def resolved_data(resolution: Resolution) -> dict[str, Any]:
    """A challenge.resolved event's data: the challenge, its result and its job ids."""
    challenge = resolution.challenge
    return {
        "challengeId": challenge["id"],
        "title": challenge["title"],
        "result": challenge["result"],
        "resolvedAt": iso_utc(challenge["resolved_at"]),
        "platformFeeBps": challenge["platform_fee_bps"],
        "challengerStakeTotal": challenge["challenger_stake_total"],
        "challengedStakeTotal": challenge["challenged_stake_total"],
        "challengerCount": challenge["challenger_count"],
        "challengedCount": challenge["challenged_count"],
        "jobIds": [] if resolution.job_id is None else [str(resolution.job_id)],
        "jobKind": resolution.job_kind,
    }


def side_totals(challenge: RowMapping) -> SideTotals:
    """The per-side totals and counts kept on the challenge row with every stake."""
    return SideTotals(
        challenge["challenger_stake_total"],
        challenge["challenged_stake_total"],
        challenge["challenger_count"],
        challenge["challenged_count"],
    )


_c = challenges.c
# Built once: they run in every resolve, where building a statement and its cache key
# cost more CPU than running it.
_RESOLVE_ONE = (
    update(challenges)
    .where(_c.id == bindparam("challenge"), _c.status == "open")
    .values(status="resolved", result=bindparam("result"), resolved_at=bindparam("resolved_at"))
    .returning(*challenges.c)
)
_RESOLVE_MANY = (
    update(challenges)
    .where(_c.id.in_(bindparam("ids", expanding=True)), _c.status == "open")
    .values(
        status="resolved",
        # no ELSE: a challenge in none of the lists would get no result, which the
        # resolved_has_result check refuses
        result=case(
            *((_c.id.in_(bindparam(result, expanding=True)), result) for result in RESULTS)
        ),
        resolved_at=bindparam("resolved_at"),
    )
    .returning(*challenges.c)
)
_INSERT_JOB = insert(payout_jobs)
# Many rows: RETURNING makes SQLAlchemy send them as multi-row INSERT ... VALUES statements
# ("insertmanyvalues": one for up to 1,000 rows) from a cached template, instead of
# compiling a VALUES list of every row's parameters each time.
_INSERT_JOBS = insert(payout_jobs).returning(payout_jobs.c.id)
MAX_RESULTS = 1000  # challenges resolved by one resolve_many


def resolve(conn: Connection, challenge_id: int, result: str) -> Resolution:
    """Close the challenge and queue its one job, in the caller's transaction."""
    now = utcnow()
    challenge = (
        conn.execute(
            _RESOLVE_ONE, {"challenge": challenge_id, "result": result, "resolved_at": now}
        )
        .mappings()
        .first()
    )
    if challenge is None:
        existing = get_challenge(conn, challenge_id)
        raise Conflict(f"challenge {challenge_id} is already resolved ({existing['result']})")
    (resolution,) = _queue_jobs(conn, [challenge], now)
    return resolution


def resolve_many(
    conn: Connection,
    items: Sequence[tuple[int, str]],
    name: Callable[[int], str] = lambda index: f"results[{index}]",
) -> list[Resolution]:
    """Resolve every (challenge id, result) and queue their jobs, set-based, in the caller's
    transaction: one UPDATE of the challenges, one INSERT of the jobs. All or nothing: the
    first bad item (`name(index)` names it) raises InvalidInput (a bad result, an unknown or
    repeated challenge) or Conflict (a challenge already resolved), and the caller rolls
    back. Returns the resolutions in the order of `items`."""
    if not 1 <= len(items) <= MAX_RESULTS:
        raise InvalidInput(f"resolve 1 to {MAX_RESULTS} challenges at a time, not {len(items)}")
    first_seen: dict[int, int] = {}
    by_result: dict[str, list[int]] = {result: [] for result in RESULTS}
    for index, (challenge_id, result) in enumerate(items):
        if result not in by_result:
            raise InvalidInput(f"{name(index)}: result must be one of {', '.join(RESULTS)}")
        if not 1 <= challenge_id <= MAX_ID:
            raise InvalidInput(f"{name(index)}: challenge {challenge_id} not found")
        if challenge_id in first_seen:
            raise InvalidInput(
                f"{name(index)}: challenge {challenge_id} is already listed"
                f" ({name(first_seen[challenge_id])})"
            )
        first_seen[challenge_id] = index
        by_result[result].append(challenge_id)
    now = utcnow()
    resolved = {
        row["id"]: row
        for row in conn.execute(
            _RESOLVE_MANY, {"ids": list(first_seen), "resolved_at": now, **by_result}
        ).mappings()
    }
    if len(resolved) < len(items):
        _refuse_unresolvable(conn, items, resolved, name)
    return _queue_jobs(conn, [resolved[challenge_id] for challenge_id, _ in items], now)


def _refuse_unresolvable(
    conn: Connection,
    items: Sequence[tuple[int, str]],
    resolved: Mapping[int, RowMapping],
    name: Callable[[int], str],
) -> None:
    """Raise for the first item the UPDATE did not resolve: unknown, or resolved before."""
    missing = [challenge_id for challenge_id, _ in items if challenge_id not in resolved]
    results = {
        row.id: row.result
        for row in conn.execute(select(_c.id, _c.result).where(_c.id.in_(missing)))
    }
    for index, (challenge_id, _) in enumerate(items):
        if challenge_id in resolved:
            continue
        if challenge_id not in results:
            raise InvalidInput(f"{name(index)}: challenge {challenge_id} not found")
        raise Conflict(
            f"challenge {challenge_id} ({name(index)}) is already resolved"
            f" ({results[challenge_id]})"
        )


def _queue_jobs(
    conn: Connection, resolved: Sequence[RowMapping], now: datetime
) -> list[Resolution]:
    """The one job each resolved challenge owes (none when nobody staked), in one INSERT;
    the workers wake when the transaction commits."""
    resolutions = []
    rows = []
    for challenge in resolved:
        plan = plan_job(challenge["result"], side_totals(challenge), challenge["platform_fee_bps"])
        if plan is None:
            resolutions.append(Resolution(challenge, None, None))
            continue
        job_id = uuid.uuid4()
        rows.append(
            {
                "id": job_id,
                "challenge_id": challenge["id"],
                "kind": plan.kind,
                "status": "queued",
                "total_winners": plan.total_winners,
                "total_pool": plan.total_pool,
                "platform_fee": plan.platform_fee,
                "winner_pool": plan.winner_pool,
                "winning_side": plan.winning_side,
                "winning_total": plan.winning_total,
                "created_at": now,
            }
        )
        resolutions.append(Resolution(challenge, job_id, plan.kind))
    # challenge.resolved, in the resolution's transaction (the outbox, docs/events.md)
    insert_events(conn, [("challenge.resolved", resolved_data(r)) for r in resolutions])
    if not rows:
        return resolutions
    try:
        if len(rows) == 1:
            conn.execute(_INSERT_JOB, rows[0])
        else:
            conn.execute(_INSERT_JOBS, rows).all()
    except IntegrityError as exc:  # the UNIQUE challenge_id: another resolve won the race
        which = ", ".join(str(row["challenge_id"]) for row in rows[:5])
        raise Conflict(f"challenge {which} is already resolved") from exc
    announce_work(conn)
    return resolutions
