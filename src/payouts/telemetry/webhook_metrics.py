"""The events' and webhooks' metrics: events written and webhook deliveries sent or failed
(counted by this process), delivery latency, and each endpoint's backlog (read from the
database at scrape time)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from payouts.services import webhooks
from payouts.storage.database import Database

log = logging.getLogger("payouts.telemetry.metrics")

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class WebhookMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.events_written = Counter(
            "payouts_events_written",
            "Events this process's workers wrote (payments, refunds, job transitions)",
            ["type"],
            registry=r,
        )
        self.deliveries = Counter(
            "payouts_webhook_deliveries",
            "Webhook POSTs by outcome: sent (2xx), retry (failed, tried again), failed (gave up)",
            ["outcome"],
            registry=r,
        )
        self.events_delivered = Counter(
            "payouts_webhook_events_delivered", "Events in webhook POSTs answered 2xx", registry=r
        )
        self.latency = Histogram(
            "payouts_webhook_delivery_seconds",
            "Wall time of one webhook POST, until its answer or its failure",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )

    def watch_database(self, registry: CollectorRegistry, db: Database) -> None:
        registry.register(_BacklogCollector(db))


class _BacklogCollector(Collector):
    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        backlog = GaugeMetricFamily(
            "payouts_webhook_backlog",
            "Events an endpoint has not been sent yet, and its pending deliveries' events",
            labels=["endpoint"],
        )
        try:
            with self.db.read() as conn:
                for endpoint in webhooks.list_all(conn):
                    backlog.add_metric([str(endpoint["id"])], endpoint["backlog"])
        except Exception as exc:  # the queue collector reports the database being down
            log.warning("metrics: cannot read the webhook backlog: %s", exc)
        yield backlog
