"""The webhook delivery loop: a thread beside the payout loops in each worker process.

Each round claims one endpoint with something to send (a lease, taken in a short
transaction: FOR UPDATE SKIP LOCKED on PostgreSQL, so two workers never send the same
delivery at once), opens its next delivery (up to PAYOUTS_WEBHOOK_BATCH events), commits,
and only then POSTs: no transaction is open during the request, and none of this runs in a
payout transaction, so a slow or hanging receiver never slows payouts; while payout jobs
are running it paces itself (PACE_WHILE_PAYING_SECONDS), so even a fast receiver does not
take the machine from the payments. The answer is recorded in another short transaction:
delivered, or retried after an exponential backoff with jitter, failed after
PAYOUTS_WEBHOOK_MAX_ATTEMPTS, and the endpoint disabled when it has failed for
PAYOUTS_WEBHOOK_DISABLE_AFTER (24 h). Both bookkeeping transactions commit without waiting
for the WAL flush on PostgreSQL: a crash may send a delivery again, never lose one.

A worker killed mid-delivery leaves the delivery pending and the endpoint leased; the lease
runs out (twice the timeout, plus LEASE_MARGIN) and a worker sends the same delivery again,
with the same webhook-id and event ids: at least once, never lost.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from payouts.config import Settings
from payouts.domain.events import retry_delay
from payouts.services.webhook_sender import body_of, new_client, post
from payouts.storage import webhooks
from payouts.storage.clock import utcnow
from payouts.storage.database import Database
from payouts.telemetry.webhook_metrics import WebhookMetrics

log = logging.getLogger("payouts.webhooks")

IDLE_SECONDS = 0.5  # nothing to send: look again after this long
ERROR_BACKOFF_SECONDS = 1.0
LEASE_MARGIN = timedelta(seconds=1)
# While payout jobs are queued or running, a process sends at most one delivery per this
# long (up to 4 x PAYOUTS_WEBHOOK_BATCH events a second), so deliveries never take the CPU
# and the database from the payments; the backlog goes out at full speed once they are done.
PACE_WHILE_PAYING_SECONDS = 0.25


@dataclass
class WebhookDelivery:
    db: Database
    settings: Settings
    metrics: WebhookMetrics
    name: str = "webhooks"
    client: Any = None  # an httpx.Client, made for the first POST (httpx loads then)
    paying: bool = False  # some payout job was queued or running at the last look

    def run(self, stop: threading.Event) -> None:
        log.info("%s started", self.name)
        while not stop.is_set():
            try:
                busy = self.deliver_one()
            except Exception:
                log.exception("%s: delivery round failed; retrying", self.name)
                stop.wait(ERROR_BACKOFF_SECONDS)
                continue
            if not busy:
                stop.wait(IDLE_SECONDS)
            elif self.paying:
                stop.wait(PACE_WHILE_PAYING_SECONDS)  # payouts go first
        self.close()
        log.info("%s stopped", self.name)

    def run_until_idle(self) -> None:
        """Deliver until nothing is due (tests)."""
        while self.deliver_one():
            pass

    def close(self) -> None:
        if self.client is not None:
            self.client.close()

    def deliver_one(self) -> bool:
        """Claim an endpoint and send its next delivery; False if nothing was due."""
        with self.db.read() as conn:
            if not webhooks.anything_due(conn):
                return False  # the common case: no write transaction (SQLite's one lock)
            self.paying = webhooks.payouts_in_progress(conn)
        lease = timedelta(seconds=2 * self.settings.webhook_timeout_seconds) + LEASE_MARGIN
        with self.db.write() as conn:
            webhooks.relaxed_commit(conn)
            endpoint = webhooks.claim_endpoint(conn, self.name, lease)
            if endpoint is None:
                return False
            delivery = webhooks.open_delivery(conn, endpoint, self.settings.webhook_batch)
            if delivery is None:
                webhooks.release(conn, endpoint["id"], self.name)
                return True
        if self.client is None:
            self.client = new_client()
        body = body_of([event.as_json() for event in delivery.events])
        answer = post(
            self.client,
            endpoint["url"],
            endpoint["secret"],
            f"msg_{delivery.id}",
            body,
            self.settings.webhook_timeout_seconds,
        )
        self.metrics.latency.observe(answer.seconds)
        with self.db.write() as conn:
            webhooks.relaxed_commit(conn)
            if answer.ok:
                webhooks.delivered(conn, delivery, self.name)
            else:
                retry_at = utcnow() + retry_delay(
                    delivery.attempts + 1, self.settings.webhook_retry_base_seconds
                )
                gave_up, disabled = webhooks.attempt_failed(
                    conn,
                    delivery,
                    self.name,
                    answer.error or "failed",
                    retry_at,
                    self.settings.webhook_max_attempts,
                    self.settings.webhook_disable_after,
                )
        if answer.ok:
            self.metrics.deliveries.labels(outcome="sent").inc()
            self.metrics.events_delivered.inc(len(delivery.events))
        else:
            self.metrics.deliveries.labels(outcome="failed" if gave_up else "retry").inc()
            log.warning(
                "webhook %d (%s): delivery %d attempt %d failed: %s%s%s",
                endpoint["id"],
                endpoint["url"],
                delivery.id,
                delivery.attempts + 1,
                answer.error,
                "; gave up" if gave_up else "",
                "; endpoint disabled" if disabled else "",
            )
        return True


class WebhookThread:
    """The delivery loop in a daemon thread. Stopping never waits for a hanging receiver
    longer than `timeout`: the process may exit with a POST in flight (it is sent again)."""

    def __init__(self, delivery: WebhookDelivery) -> None:
        self.delivery = delivery
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=delivery.run, args=(self._stop,), name=delivery.name, daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._thread.join(timeout)


def start_delivery(
    db: Database, settings: Settings, metrics: WebhookMetrics, name: str = "webhooks"
) -> WebhookThread | None:
    """The process's delivery loop, started (None when PAYOUTS_WEBHOOK_DELIVERY is off)."""
    if not settings.webhook_delivery:
        return None
    thread = WebhookThread(WebhookDelivery(db, settings, metrics, name))
    thread.start()
    return thread
