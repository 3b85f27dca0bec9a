"""Two resolves of one challenge at the same moment: exactly one job, the other a conflict."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from payouts.app import create_app
from payouts.domain.errors import Conflict
from payouts.services import challenges
from payouts.storage.tables import payout_jobs
from tests.support.api import AUTH
from tests.support.scenario import staked_challenge

ATTEMPTS = 5  # a few challenges per backend, so the two really interleave at least once


def race(first: Callable[[], Any], second: Callable[[], Any]) -> list[Any]:
    """Run both at once; each outcome is a return value or the exception raised."""
    outcomes: list[Any] = [None, None]

    def run(slot: int, call: Callable[[], Any]) -> None:
        try:
            outcomes[slot] = call()
        except Exception as exc:
            outcomes[slot] = exc

    threads = [threading.Thread(target=run, args=(n, c)) for n, c in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def jobs_of(db, challenge_id):
    with db.read() as conn:
        return conn.execute(
            select(payout_jobs.c.kind).where(payout_jobs.c.challenge_id == challenge_id)
        ).all()


class TestRacingResolves:
    def test_two_service_resolves_make_one_job(self, db):
        for _ in range(ATTEMPTS):
            cid, _, _ = staked_challenge(db, [10, 20], [15])
            start = threading.Barrier(2)

            def resolve(result: str, cid: int = cid, start: threading.Barrier = start) -> object:
                if db.is_sqlite:
                    # BEGIN IMMEDIATE waits for the other writer: meet before it
                    start.wait(timeout=30)
                with db.write() as conn:
                    if not db.is_sqlite:
                        # both transactions are open before either touches the challenge
                        conn.execute(text("SELECT 1"))
                        start.wait(timeout=30)
                    return challenges.resolve(conn, cid, result)

            outcomes = race(lambda: resolve("challenger_won"), lambda: resolve("draw"))
            conflicts = [o for o in outcomes if isinstance(o, Conflict)]
            wins = [o for o in outcomes if isinstance(o, challenges.Resolution)]
            assert (len(wins), len(conflicts)) == (1, 1), outcomes
            jobs = jobs_of(db, cid)
            assert [row.kind for row in jobs] == [wins[0].job_kind]
            with db.read() as conn:
                result = challenges.get_challenge(conn, cid)["result"]
            assert result == wins[0].challenge["result"]

    def test_two_api_resolves_answer_200_and_409(self, db, settings):
        app = create_app(settings, db)
        with TestClient(app, headers=AUTH) as one, TestClient(app, headers=AUTH) as two:
            for _ in range(ATTEMPTS):
                cid, _, _ = staked_challenge(db, [10, 20], [15])
                start = threading.Barrier(2)

                def post(
                    client: TestClient, cid: int = cid, b: threading.Barrier = start
                ) -> object:
                    b.wait(timeout=30)
                    return client.post(
                        f"/api/admin/challenges/{cid}/result", json={"result": "challenger_won"}
                    )

                responses = race(lambda: post(one), lambda: post(two))
                codes = sorted(response.status_code for response in responses)
                assert codes == [200, 409], [response.text for response in responses]
                conflict = next(r for r in responses if r.status_code == 409)
                assert "already resolved" in conflict.json()["message"]
                with db.read() as conn:
                    assert (
                        conn.execute(
                            select(func.count()).where(payout_jobs.c.challenge_id == cid)
                        ).scalar_one()
                        == 1
                    )
