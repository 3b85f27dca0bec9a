"""The pull feed: GET /api/admin/events and `payouts events`. A consumer that keeps passing
the cursor it was given never misses an event and never sees one twice, even while
several workers commit concurrently."""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from payouts.domain.events import Cursor
from payouts.services import challenges
from payouts.services import events as feed
from payouts.storage.clock import utcnow
from payouts.storage.database import Database
from payouts.storage.events import insert_events, record_job_transitions
from payouts.storage.tables import events, payout_jobs, transactions
from payouts.worker.housekeeping import Housekeeping, chores_for
from tests.conftest import pg_url
from tests.support.api import api_client, bearer, new_token
from tests.support.cli import invoke
from tests.support.events import assert_events_match_ledger
from tests.support.scenario import staked_challenge, worker
from tests.support.tokens import ADMIN_TOKEN

WEEK = timedelta(days=7)


def paid_job(db, settings, winners=12, batch_size=5):
    cid, _, _ = staked_challenge(db, [100 + n for n in range(winners)], [500])
    with db.write() as conn:
        challenges.resolve(conn, cid, "challenger_won")
    worker(db, settings, batch_size=batch_size).run_until_idle()
    return cid


def follow(read, limit):
    """Every event, page by page, passing each `next` back; (events, last cursor)."""
    seen, cursor = [], None
    while True:
        page = read(cursor, limit)
        seen += page["events"]
        cursor = page["next"]
        if not page["events"]:
            return seen, cursor


class TestFeedApi:
    def test_pages_follow_each_other_oldest_first(self, db, settings):
        paid_job(db, settings)
        viewer = new_token(db, "feed-viewer", "viewer")
        with api_client(settings, db) as client:
            for token in (ADMIN_TOKEN, viewer):

                def read(after, limit, token=token):
                    params = {"limit": limit, **({"after": after} if after else {})}
                    response = client.get("/api/admin/events", params=params, headers=bearer(token))
                    assert response.status_code == 200, response.text
                    return response.json()

                seen, _ = follow(read, 4)
                assert [e["type"] for e in seen] == (
                    ["challenge.resolved"] + ["payout.paid"] * 12 + ["job.completed"]
                )
                assert len({e["id"] for e in seen}) == len(seen)
                paid = seen[1]
                assert set(paid) == {"id", "type", "timestamp", "data"}
                assert paid["id"].startswith("evt_") and paid["timestamp"].endswith("Z")
                assert set(paid["data"]) == {
                    "userId",
                    "amount",
                    "challengeId",
                    "jobId",
                    "transactionId",
                }
                assert client.get("/api/admin/events").status_code == 401

    def test_types_filter_and_bad_input(self, db, settings):
        paid_job(db, settings)
        with api_client(settings, db) as client:
            client.headers.update(bearer(ADMIN_TOKEN))
            only = client.get("/api/admin/events", params={"types": "job.completed"}).json()
            assert [e["type"] for e in only["events"]] == ["job.completed"]
            for params, status in [
                ({"types": "payout.sent"}, 422),
                ({"after": "not-a-cursor"}, 422),
                ({"limit": 0}, 422),
                ({"limit": 1001}, 422),
            ]:
                response = client.get("/api/admin/events", params=params)
                assert response.status_code == status, (params, response.text)
                assert response.json()["message"]

    def test_a_cursor_older_than_the_retention_is_gone(self, db, settings):
        old = Cursor(0, 1, int((utcnow() - timedelta(days=31)).timestamp())).encode()
        with api_client(settings, db) as client:
            client.headers.update(bearer(ADMIN_TOKEN))
            response = client.get("/api/admin/events", params={"after": old})
            assert response.status_code == 410
            assert "older than the event retention" in response.json()["message"]
            fresh = client.get("/api/admin/events").json()["next"]
            assert client.get("/api/admin/events", params={"after": fresh}).status_code == 200


class TestCli:
    def test_events_json_and_resume(self, db, settings):
        paid_job(db, settings, winners=3)
        first = invoke(settings.database_url, "events", "--json")
        assert first.exit_code == 0, first.output
        lines = [line for line in first.stdout.splitlines() if line.startswith("{")]
        assert [json.loads(line)["type"] for line in lines] == (
            ["challenge.resolved"] + ["payout.paid"] * 3 + ["job.completed"]
        )
        cursor = first.stderr.strip().rsplit("next: ", 1)[1]
        again = invoke(settings.database_url, "events", "--after", cursor)
        assert again.exit_code == 0 and "payout.paid" not in again.stdout
        bad = invoke(settings.database_url, "events", "--types", "nope")
        assert bad.exit_code == 2 and "unknown event type" in bad.stderr


class TestRetention:
    def test_the_worker_prunes_old_events_in_small_batches(self, db, settings):
        paid_job(db, settings, winners=5)
        with db.write() as conn:
            conn.execute(update(events).values(created_at=utcnow() - timedelta(days=40)))
            insert_events(conn, [("job.failed", {"jobId": "fresh"})])
        Housekeeping(db, chores_for(settings)).run_due()
        with db.read() as conn:
            left = conn.execute(select(events.c.data)).scalars().all()
        assert left == [{"jobId": "fresh"}]


class TestConcurrentWriters:
    """4 workers commit batches concurrently while a reader follows the cursor."""

    def test_the_reader_sees_every_event_once(self, db, settings):
        big = [staked_challenge(db, [100 + n for n in range(600)], [900])[0] for _ in range(2)]
        small = [staked_challenge(db, [100, 200], [300])[0] for _ in range(40)]
        with db.write() as conn:
            challenges.resolve_many(conn, [(cid, "challenger_won") for cid in big + small])
        done = threading.Event()
        seen: list[dict] = []

        def read(after, limit):
            with db.read() as conn:
                page = feed.read_page(conn, after, limit, None, WEEK)
            return {"events": [e.as_json() for e in page.events], "next": page.next.encode()}

        def reader():
            cursor = None
            while True:
                finished = done.is_set()  # read once more after the writers stop
                page = read(cursor, 37)
                seen.extend(page["events"])
                cursor = page["next"]
                if finished and not page["events"]:
                    return

        workers = [worker(db, settings, batch_size=20) for n in range(4)]
        threads = [threading.Thread(target=w.run_until_idle) for w in workers]
        follower = threading.Thread(target=reader)
        follower.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        done.set()
        follower.join()

        with db.read() as conn:
            stored = assert_events_match_ledger(conn)
            ledger = set(
                conn.execute(
                    select(transactions.c.id).where(transactions.c.payout_entry_id.is_not(None))
                ).scalars()
            )
        ids = Counter(e["id"] for e in seen)
        assert [i for i, n in ids.items() if n > 1] == [], "an event seen twice"
        assert len(seen) == len(stored), "an event missed"
        paid = {e["data"]["transactionId"] for e in seen if e["type"] == "payout.paid"}
        assert paid == ledger
        assert len(paid) == 2 * 600 + 40 * 2


@pytest.mark.parametrize("backend", ["postgres"])
class TestLateCommit:
    """A transaction that took its id first but commits last is not skipped."""

    def test_a_smaller_id_committed_later_is_still_served(self, db, settings):
        early = db.engine.connect()
        try:
            tx_early = early.begin()
            insert_events(early, [("job.failed", {"n": 1})])  # takes the smaller id
            with db.write() as conn:
                insert_events(conn, [("job.failed", {"n": 2})])
            with db.read() as conn:
                page = feed.read_page(conn, None, 10, None, WEEK)
            assert page.events == []  # n=2 waits until every older writer has ended
            tx_early.commit()
        finally:
            early.close()
        with db.read() as conn:
            page = feed.read_page(conn, page.next.encode(), 10, None, WEEK)
        assert [e.data["n"] for e in page.events] == [1, 2]

    def test_a_job_transition_comes_after_payments_committed_with_a_larger_id(self, db, settings):
        # Two workers pay one job: the one holding the smaller transaction id completes it
        # after the other committed its payments. job.completed must still come last.
        cid = paid_job(db, settings)
        with db.read() as conn:
            start = feed.read_page(conn, None, 1000, None, WEEK).next
            job_id = conn.execute(
                select(payout_jobs.c.id).where(payout_jobs.c.challenge_id == cid)
            ).scalar_one()
        completing = db.engine.connect()
        try:
            tx_completing = completing.begin()
            insert_events(completing, [("job.failed", {"n": 1})])  # takes the smaller id
            with db.write() as conn:
                insert_events(conn, [("job.failed", {"n": 2})])  # the other's payments
            record_job_transitions(completing, [job_id])
            tx_completing.commit()
        finally:
            completing.close()
        with db.read() as conn:
            page = feed.read_page(conn, start.encode(), 10, None, WEEK)
        assert [e.type for e in page.events] == ["job.failed", "job.failed", "job.completed"]
        assert [e.data.get("n") for e in page.events] == [1, 2, None]

    def test_a_long_transaction_in_another_database_does_not_hold_the_feed(self, db, settings):
        other = Database(pg_url("postgres"), pool_size=1)
        try:
            with other.engine.connect() as elsewhere:
                elsewhere.execute(text("SELECT pg_current_xact_id()"))  # holds an xid open
                with db.write() as conn:
                    insert_events(conn, [("job.failed", {"n": 1})])
                with db.read() as conn:
                    page = feed.read_page(conn, None, 10, None, WEEK)
                assert [e.data["n"] for e in page.events] == [1]
                elsewhere.rollback()
        finally:
            other.dispose()
