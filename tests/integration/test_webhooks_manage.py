"""Managing webhook endpoints (CLI and admin API): the secret is shown once, bad input
changes nothing, and a worker delivers signed batches to a real receiver process."""

from __future__ import annotations

import threading

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from payouts.services import challenges
from payouts.storage.tables import webhook_endpoints
from payouts.telemetry.webhook_metrics import WebhookMetrics
from payouts.worker.webhooks import WebhookDelivery
from tests.support.api import api_client, bearer, new_token
from tests.support.cli import invoke
from tests.support.events import assert_events_match_ledger
from tests.support.scenario import staked_challenge, worker
from tests.support.tokens import ADMIN_TOKEN
from tests.support.webhooks import Receiver, add_endpoint


def endpoint_count(db):
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(webhook_endpoints)).scalar_one()


def delivery(db, settings, **overrides):
    return WebhookDelivery(
        db, settings.model_copy(update=overrides), WebhookMetrics(CollectorRegistry())
    )


class TestCli:
    def test_add_prints_the_secret_once_and_list_never_shows_it(self, db, settings):
        url = settings.database_url
        endpoint_id, secret = add_endpoint(
            url,
            "https://example.test/hook",
            "--events",
            "payout.paid,job.completed",
            "--description",
            "app",
        )
        assert secret.startswith("whsec_")
        listed = invoke(url, "webhooks", "list")
        assert listed.exit_code == 0 and "example.test" in listed.stdout
        assert secret not in listed.stdout and secret[6:] not in listed.stdout
        as_json = invoke(url, "webhooks", "list", "--json")
        assert secret[6:] not in as_json.stdout and '"secret"' not in as_json.stdout
        for command in ("disable", "enable", "remove"):
            done = invoke(url, "webhooks", command, str(endpoint_id))
            assert done.exit_code == 0, done.output
        assert endpoint_count(db) == 0

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["add", "ftp://example.test/x"], "not an http"),
            (["add", "https://"], "not an http"),
            (["add", "https://example.test/x", "--events", "payout.sent"], "unknown event type"),
            (["remove", "999"], "not found"),
            (["disable", "999"], "not found"),
            (["test", "999"], "not found"),
            (["resend", "999"], "not found"),
        ],
    )
    def test_bad_input_exits_2_and_changes_nothing(self, db, settings, args, message):
        done = invoke(settings.database_url, "webhooks", *args)
        assert done.exit_code == 2, done.output
        assert message in done.stderr
        assert endpoint_count(db) == 0

    def test_a_duplicate_url_is_refused(self, db, settings):
        add_endpoint(settings.database_url, "https://example.test/hook")
        again = invoke(settings.database_url, "webhooks", "add", "https://example.test/hook")
        assert again.exit_code == 2 and "exists already" in again.stderr
        assert endpoint_count(db) == 1


class TestApi:
    def test_routes(self, db, settings):
        viewer = new_token(db, "hooks-viewer", "viewer")
        with api_client(settings, db) as client:
            admin = bearer(ADMIN_TOKEN)
            made = client.post(
                "/api/admin/webhooks",
                json={"url": "https://example.test/a", "events": ["job.failed"]},
                headers=admin,
            )
            assert made.status_code == 201, made.text
            body = made.json()
            assert body["secret"].startswith("whsec_") and body["eventTypes"] == ["job.failed"]
            listed = client.get("/api/admin/webhooks", headers=bearer(viewer))
            assert listed.status_code == 200 and "secret" not in listed.json()[0]
            assert (
                client.post(
                    "/api/admin/webhooks", json={"url": "https://x.test"}, headers=bearer(viewer)
                ).status_code
                == 403
            )
            for payload, status in [
                ({"url": "mailto:a@b.c"}, 422),
                ({"url": "https://x.test", "events": ["nope"]}, 422),
                ({"url": "https://example.test/a"}, 409),
            ]:
                refused = client.post("/api/admin/webhooks", json=payload, headers=admin)
                assert refused.status_code == status, refused.text
            wid = body["id"]
            disabled = client.post(f"/api/admin/webhooks/{wid}/disable", headers=admin).json()
            assert disabled["enabled"] is False
            assert client.get("/api/admin/webhooks/77", headers=admin).status_code == 404
            assert client.get(f"/api/admin/webhooks/{wid}/deliveries", headers=admin).json() == []
            assert client.delete(f"/api/admin/webhooks/{wid}", headers=admin).status_code == 204
        assert endpoint_count(db) == 0


class TestDelivery:
    def test_batches_are_signed_ordered_and_complete(self, db, settings, tmp_path):
        hook = Receiver(tmp_path / "got.jsonl")
        _, secret = add_endpoint(settings.database_url, hook.url)
        hook.start(secret)
        try:
            cid, _, _ = staked_challenge(db, [100 + n for n in range(250)], [1000])
            with db.write() as conn:
                challenges.resolve(conn, cid, "challenger_won")
            worker(db, settings, batch_size=60).run_until_idle()
            sender = delivery(db, settings, webhook_batch=100)
            sender.run_until_idle()
            sender.close()
        finally:
            hook.stop()
        records = hook.records()
        assert all(r["verified"] for r in records)
        assert all(len(r["events"]) <= 100 for r in records)
        got = hook.accepted_events()
        with db.read() as conn:
            stored = assert_events_match_ledger(conn)
        assert [e["id"] for e in got] == [f"evt_{e['id']}" for e in stored]
        assert [e["type"] for e in got].count("payout.paid") == 250

    def test_test_ping_and_failures_are_retried(self, db, settings, tmp_path):
        hook = Receiver(tmp_path / "got.jsonl")
        endpoint_id, secret = add_endpoint(settings.database_url, hook.url)
        down = invoke(settings.database_url, "webhooks", "test", str(endpoint_id))
        assert down.exit_code == 1 and "failed" in down.stderr
        hook.start(secret, "--fail-first", "2")
        try:
            pinged = invoke(settings.database_url, "webhooks", "test", str(endpoint_id))
            assert pinged.exit_code == 1  # the first call answers 500
            cid, _, _ = staked_challenge(db, [100, 200], [300])
            with db.write() as conn:
                challenges.resolve(conn, cid, "challenger_won")
            worker(db, settings).run_until_idle()
            sender = delivery(db, settings, webhook_retry_base_seconds=0.01, webhook_max_attempts=2)
            stop = threading.Event()
            thread = threading.Thread(target=sender.run, args=(stop,))
            thread.start()
            try:
                _wait(lambda: len(hook.accepted_events()) >= 4)
            finally:
                stop.set()
                thread.join()
        finally:
            hook.stop()
        answered = [r["answered"] for r in hook.records()]
        assert answered[:2] == [500, 500] and 200 in answered
        assert [e["type"] for e in hook.accepted_events()] == [
            "challenge.resolved",
            "payout.paid",
            "payout.paid",
            "job.completed",
        ]


def _wait(condition, seconds=20.0):
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)


class TestAdminPage:
    def test_failed_deliveries_are_shown_and_resent_with_the_csrf_token(
        self, db, settings, tmp_path
    ):
        from fastapi.testclient import TestClient

        from payouts.app import create_app
        from payouts.storage.tables import webhook_deliveries
        from tests.integration.test_admin_pages import sign_in
        from tests.support.webhooks import free_port

        endpoint_id, _ = add_endpoint(
            settings.database_url, f"http://127.0.0.1:{free_port()}/down", "--description", "app"
        )
        cid, _, _ = staked_challenge(db, [100, 200], [300])
        with db.write() as conn:
            challenges.resolve(conn, cid, "challenger_won")
        sender = delivery(db, settings, webhook_max_attempts=1)
        sender.run_until_idle()
        sender.close()
        with TestClient(create_app(settings, db, embedded_worker=False)) as client:
            csrf = sign_in(client)
            page = client.get("/admin/webhooks")
            assert page.status_code == 200
            assert f'id="endpoint-{endpoint_id}"' in page.text and "/down" in page.text
            assert "ConnectError" in page.text  # the last error
            with db.read() as conn:
                failed = conn.execute(select(webhook_deliveries.c.id)).scalar_one()
            assert f"/admin/webhook-deliveries/{failed}/resend" in page.text
            url = f"/admin/webhook-deliveries/{failed}/resend"
            assert client.post(url, data={}).status_code == 403  # no CSRF token
            done = client.post(url, data={"csrf": csrf}, follow_redirects=False)
            assert done.status_code == 303
        with db.read() as conn:
            status = conn.execute(select(webhook_deliveries.c.status)).scalar_one()
        assert status == "pending"
