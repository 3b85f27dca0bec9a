"""`payouts verify` on clean books, then on books tampered with in the database."""

from __future__ import annotations

from sqlalchemy import text

from payouts.services import challenges
from payouts.services.verify import find_violations
from tests.support.cli import run_payouts
from tests.support.scenario import staked_challenge, worker


def _paid_challenge(db, settings):
    cid, winners, _ = staked_challenge(db, [100, 200, 300], [50, 50])
    with db.write() as conn:
        challenges.resolve(conn, cid, "challenger_won")
    worker(db, settings, batch_size=2).run_until_idle()
    return cid, sorted(winners)


def test_clean_books_have_no_violations(db, settings):
    _paid_challenge(db, settings)
    with db.read() as conn:
        assert find_violations(conn) == []
    result = run_payouts(settings, "verify")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok: the books balance"


def test_a_tampered_balance_and_ledger_row_are_both_named(db, settings):
    cid, (first, second, _) = _paid_challenge(db, settings)
    with db.write() as conn:
        conn.execute(text("UPDATE users SET balance = balance + 7 WHERE id = :u"), {"u": first})
        row_id = conn.execute(
            text("SELECT id FROM transactions WHERE type = 'challenge_payout' AND user_id = :u"),
            {"u": second},
        ).scalar_one()
        conn.execute(
            text("UPDATE transactions SET amount = amount - 3 WHERE id = :t"), {"t": row_id}
        )
    with db.read() as conn:
        found = [str(v) for v in find_violations(conn)]
    assert any(v.startswith(f"balance: user {first} ") for v in found), found
    assert any(v.startswith(f"ledger-entry-mismatch: ledger row {row_id} ") for v in found), found
    assert any(v.startswith(f"challenge-books: challenge {cid} ") for v in found), found

    result = run_payouts(settings, "verify")
    assert result.returncode == 1
    assert f"balance: user {first} has a balance of" in result.stdout
    assert f"ledger-entry-mismatch: ledger row {row_id} " in result.stdout
    assert "violation(s): the books do not balance" in result.stderr


def test_missing_ledger_rows_and_wrong_counters_are_named(db, settings):
    _paid_challenge(db, settings)
    with db.write() as conn:
        entry = conn.execute(text("SELECT min(payout_entry_id) FROM transactions")).scalar_one()
        conn.execute(text("DELETE FROM transactions WHERE payout_entry_id = :e"), {"e": entry})
        conn.execute(text("UPDATE payout_jobs SET processed_winners = processed_winners - 1"))
    with db.read() as conn:
        checks = {v.check for v in find_violations(conn)}
    assert {"unpaid-entry", "job-counters", "balance", "challenge-books"} <= checks


def test_violations_are_capped_per_check_with_a_count(db, settings):
    _paid_challenge(db, settings)
    with db.write() as conn:
        conn.execute(text("UPDATE users SET balance = balance + 1"))
    with db.read() as conn:
        found = find_violations(conn, limit=2)
    assert [v.check for v in found] == ["balance"] * 3
    assert found[-1].detail == "... 5 in all, 2 shown"


def test_references_without_foreign_keys_are_checked(db, settings):
    _paid_challenge(db, settings)
    with db.write() as conn:
        row_id = conn.execute(
            text("SELECT min(id) FROM transactions WHERE type = 'challenge_payout'")
        ).scalar_one()
        conn.execute(
            text("UPDATE transactions SET challenge_id = 999999 WHERE id = :t"), {"t": row_id}
        )
    with db.read() as conn:
        found = [str(v) for v in find_violations(conn)]
    assert (
        f"dangling-reference: ledger row {row_id} points at challenge 999999,"
        " which does not exist" in found
    ), found


def test_a_slice_left_over_a_paid_range_is_named(db, settings):
    cid, (first, _, third) = _paid_challenge(db, settings)
    with db.write() as conn:
        conn.execute(
            text(
                "INSERT INTO payout_slices (job_id, seq, first_user_id, last_user_id, attempts)"
                " SELECT id, 0, :first, :third, 0 FROM payout_jobs WHERE challenge_id = :c"
            ),
            {"first": first, "third": third, "c": cid},
        )
    with db.read() as conn:
        found = [str(v) for v in find_violations(conn)]
    assert any(
        v.startswith("slice: ") and f"users {first}-{third}" in v and "3 of its winners" in v
        for v in found
    ), found
