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


def test_challenge_search_is_literal(db):
    with db.write() as conn:
        plain = challenges.create_challenge(conn, "plain title", 500)["id"]
        percent = challenges.create_challenge(conn, "100% sure_thing", 500)["id"]
    with db.read() as conn:
        assert [c["id"] for c in challenges.list_challenges(conn, search="%")] == [percent]
        assert [c["id"] for c in challenges.list_challenges(conn, search="_")] == [percent]
        assert [c["id"] for c in challenges.list_challenges(conn, search="TITLE")] == [plain]
