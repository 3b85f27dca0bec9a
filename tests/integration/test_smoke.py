from sqlalchemy import text

from payouts.services import challenges
from tests.support.books import assert_books_balance
from tests.support.scenario import staked_challenge, worker


def test_ten_winners_are_paid(db, settings):
    cid, _winners, _ = staked_challenge(db, [100] * 10, [50] * 5)
    with db.write() as conn:
        resolution = challenges.resolve(conn, cid, "challenger_won")
    worker(db, settings).run_until_idle()
    with db.read() as conn:
        status = conn.execute(
            text("SELECT status FROM payout_jobs WHERE challenge_id = :c"), {"c": cid}
        ).scalar_one()
        assert status == "completed"
        assert_books_balance(conn)
    assert resolution.job_kind == "payout"
