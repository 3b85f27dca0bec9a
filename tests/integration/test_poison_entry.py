"""An entry whose payment always fails (here a database trigger refuses its ledger row) is
isolated: the rest of its batch is paid, it is failed after Settings.max_attempts attempts
with the error, and the worker stops instead of looping. After the cause is fixed, retrying
the job pays it once."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from payouts.services import challenges, jobs
from tests.support.books import assert_books_balance
from tests.support.faults import FAULT, fail_inserts, heal
from tests.support.scenario import staked_challenge, worker


def test_a_poison_entry_is_failed_after_max_attempts_and_the_rest_is_paid(db, settings):
    cid, winners, _ = staked_challenge(db, [100 + n for n in range(10)], [500])
    poisoned = sorted(winners)[6]
    with db.write() as conn:
        job_id = challenges.resolve(conn, cid, "challenger_won").job_id
    fail_inserts(db, "transactions", f"NEW.user_id = {poisoned} AND NEW.type = 'challenge_payout'")

    worker(db, settings, batch_size=4, max_attempts=3).run_until_idle()  # returns: no loop

    with db.read() as conn:
        entries = {
            row.user_id: row
            for row in conn.execute(
                text("SELECT user_id, status, attempts, error FROM payout_entries")
            )
        }
        job = jobs.get_job(conn, job_id)
        assert_books_balance(conn)
    bad = entries.pop(poisoned)
    assert (bad.status, bad.attempts) == ("failed", 3)
    assert FAULT in bad.error
    assert {row.status for row in entries.values()} == {"completed"}
    assert (job["status"], job["processed_winners"], job["failed_winners"]) == ("failed", 9, 1)
    assert job["error"] == "1 of 10 entries failed; fix them and retry the job"

    heal(db, "transactions")
    with db.write() as conn:
        jobs.retry(conn, job_id)
    worker(db, settings, batch_size=4, max_attempts=3).run_until_idle()
    with db.read() as conn:
        job = jobs.get_job(conn, job_id)
        paid = conn.execute(
            text(
                "SELECT count(*) FROM transactions WHERE type = 'challenge_payout' AND user_id = :u"
            ),
            {"u": poisoned},
        ).scalar_one()
        assert_books_balance(conn)
    assert (job["status"], job["processed_winners"], job["failed_winners"]) == ("completed", 10, 0)
    assert paid == 1


def test_a_broken_statement_is_not_blamed_on_the_winners(db, settings):
    """A missing table (a broken deploy, not bad data) must not fail anybody's entry: the
    batch rolls back, the error reaches the worker loop, and nobody's attempts count."""
    cid, _, _ = staked_challenge(db, [100 + n for n in range(10)], [500])
    with db.write() as conn:
        job_id = challenges.resolve(conn, cid, "challenger_won").job_id
    with db.write() as conn:
        if db.is_postgres:
            conn.execute(
                text(
                    "CREATE FUNCTION broken() RETURNS trigger LANGUAGE plpgsql AS"
                    " $$ BEGIN PERFORM 1 FROM no_such_table; RETURN NEW; END $$"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER broken BEFORE INSERT ON transactions"
                    " FOR EACH ROW EXECUTE FUNCTION broken()"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE TRIGGER broken BEFORE INSERT ON transactions"
                    " BEGIN SELECT 1 FROM no_such_table; END"
                )
            )
    pay = worker(db, settings, batch_size=4, max_attempts=3)
    for _ in range(4):
        with pytest.raises(DBAPIError, match="no_such_table"):
            pay.run_round()
    with db.read() as conn:
        job = jobs.get_job(conn, job_id)
        entries = conn.execute(text("SELECT count(*) FROM payout_entries")).scalar_one()
        attempts = conn.execute(text("SELECT max(attempts) FROM payout_slices")).scalar_one()
        assert_books_balance(conn)
    assert (job["processed_winners"], job["failed_winners"], entries, attempts) == (0, 0, 0, 0)
