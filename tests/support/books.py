"""Checks of the books, shared by the tests: the same checks as `payouts verify`."""

from __future__ import annotations

from sqlalchemy import Connection

from payouts.services.verify import find_violations


def assert_books_balance(conn: Connection) -> None:
    """Every balance equals its ledger; every completed entry has exactly one ledger row and
    no other entry has one; completed challenges: stakes = payouts + fee; job counters match
    their entries."""
    violations = find_violations(conn)
    assert violations == [], "the books do not balance:\n" + "\n".join(map(str, violations))
