"""Checks of the books, in SQL, shared by the tests."""

from __future__ import annotations

from sqlalchemy import Connection, text


def assert_books_balance(conn: Connection) -> None:
    """Every balance equals its ledger; every completed entry has exactly one ledger row and
    no other entry has one; completed payout challenges: stakes = payouts + fee."""
    drift = conn.execute(
        text(
            "SELECT u.id, u.balance, COALESCE(SUM(t.amount), 0) AS ledger FROM users u"
            " LEFT JOIN transactions t ON t.user_id = u.id GROUP BY u.id, u.balance"
            " HAVING u.balance <> COALESCE(SUM(t.amount), 0)"
        )
    ).all()
    assert drift == [], f"balances differ from their ledger: {drift[:5]}"
    unpaid = conn.execute(
        text(
            "SELECT count(*) FROM payout_entries e WHERE e.status = 'completed' AND NOT EXISTS"
            " (SELECT 1 FROM transactions t WHERE t.payout_entry_id = e.id)"
        )
    ).scalar_one()
    assert unpaid == 0, f"{unpaid} completed entries have no ledger row"
    wrongly_paid = conn.execute(
        text(
            "SELECT count(*) FROM transactions t JOIN payout_entries e ON e.id = t.payout_entry_id"
            " WHERE e.status <> 'completed' OR t.amount <> e.amount"
        )
    ).scalar_one()
    assert wrongly_paid == 0, f"{wrongly_paid} ledger rows do not match a completed entry"
    unbalanced = (
        conn.execute(
            text(
                "SELECT j.challenge_id FROM payout_jobs j WHERE j.status = 'completed' AND"
                " (SELECT -COALESCE(SUM(amount), 0) FROM transactions"
                "   WHERE challenge_id = j.challenge_id AND type = 'challenge_stake')"
                " <> (SELECT COALESCE(SUM(amount), 0) FROM transactions"
                "   WHERE challenge_id = j.challenge_id"
                "   AND type IN ('challenge_payout', 'challenge_refund', 'platform_fee'))"
            )
        )
        .scalars()
        .all()
    )
    assert unbalanced == [], f"stakes != payouts + fee for challenges {unbalanced}"
    counters = (
        conn.execute(
            text(
                "SELECT j.id FROM payout_jobs j WHERE j.processed_winners <>"
                " (SELECT count(*) FROM payout_entries e"
                "   WHERE e.job_id = j.id AND e.status = 'completed')"
                " OR j.failed_winners <>"
                " (SELECT count(*) FROM payout_entries e"
                "   WHERE e.job_id = j.id AND e.status = 'failed')"
            )
        )
        .scalars()
        .all()
    )
    assert counters == [], f"job counters differ from entry counts: {counters}"
