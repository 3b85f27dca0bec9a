"""The outbox's promise, checked on a real database: one money event per ledger row (and
none without one), with the ledger row's numbers."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import Connection, select

from payouts.storage.tables import events, payout_jobs, transactions

MONEY_EVENTS = {"challenge_payout": "payout.paid", "challenge_refund": "refund.paid"}


def all_events(conn: Connection) -> list[dict[str, Any]]:
    e = events.c
    return [
        {"id": row.id, "type": row.type, "tx": row.tx, "data": row.data}
        for row in conn.execute(select(e.id, e.type, e.tx, e.data).order_by(e.id))
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
    if conn.dialect.name == "postgresql":
        assert all(event["tx"] for event in found), "an event without its transaction id"
    return found


def types_of(found: list[dict[str, Any]]) -> Counter[str]:
    return Counter(event["type"] for event in found)
