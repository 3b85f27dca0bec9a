"""The outbox's promise, checked on a real database: one money event per ledger row (and
none without one), with the ledger row's numbers."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import Connection, func, select

from payouts.domain.events import START
from payouts.storage.events import read_events
from payouts.storage.tables import events, payout_jobs, transactions

MONEY_EVENTS = {"challenge_payout": "payout.paid", "challenge_refund": "refund.paid"}


def all_events(conn: Connection) -> list[dict[str, Any]]:
    """Every committed event, as the feed shows it, in feed order."""
    return [
        {"id": event.id, "type": event.type, "tx": event.tx, "data": event.data}
        for event in read_events(conn, START, 10**9)
    ]


def assert_events_match_ledger(conn: Connection) -> list[dict[str, Any]]:
    """Every payout/refund ledger row has exactly one event with its numbers, and every
    money event has its ledger row. Returns the events."""
    t = transactions.c
    jobs = {row.challenge_id: str(row.id) for row in conn.execute(select(payout_jobs))}
    ledger = {
        row.id: row
        for row in conn.execute(
            select(t.id, t.user_id, t.amount, t.challenge_id, t.type).where(
                t.type.in_(list(MONEY_EVENTS))
            )
        )
    }
    found = all_events(conn)
    money = [event for event in found if event["type"] in MONEY_EVENTS.values()]
    per_row = Counter(event["data"]["transactionId"] for event in money)
    assert [row for row, n in per_row.items() if n > 1] == [], "two events for one payment"
    assert set(per_row) == set(ledger), "events and ledger rows differ"
    for event in money:
        row = ledger[event["data"]["transactionId"]]
        assert event["type"] == MONEY_EVENTS[row.type]
        assert event["data"] == {
            "userId": row.user_id,
            "amount": row.amount,
            "challengeId": row.challenge_id,
            "jobId": jobs[row.challenge_id],
            "transactionId": row.id,
        }
    stored = conn.execute(select(func.count()).select_from(events)).scalar_one()
    assert stored == len(found), "an event the feed does not serve"
    if conn.dialect.name == "postgresql":
        untagged = conn.execute(select(func.count()).where(events.c.tx.is_(None))).scalar_one()
        assert untagged == 0, "an event without its writer's transaction id"
    return found


def types_of(found: list[dict[str, Any]]) -> Counter[str]:
    return Counter(event["type"] for event in found)
