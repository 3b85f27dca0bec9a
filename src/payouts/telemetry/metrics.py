"""Prometheus metrics. Each process (API app or worker process) owns one PayoutMetrics with
its own registry, so tests can build as many apps as they like.

Two kinds of numbers: counters and the histogram are kept by the workers of this process,
after each committed batch; the queue gauges are read from the database at scrape time,
so every process reports the same queue whatever its workers did.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from payouts.domain.vocabulary import EVENT_TYPE_OF_JOB
from payouts.services.monitoring import queue_totals
from payouts.storage.clock import as_utc, utcnow
from payouts.storage.database import Database
from payouts.storage.progress import JobBatch
from payouts.telemetry.webhook_metrics import WebhookMetrics

log = logging.getLogger("payouts.telemetry.metrics")

__all__ = ["CONTENT_TYPE_LATEST", "PayoutMetrics", "serve_worker_metrics"]

# A batch is one transaction of up to BATCH_SIZE entries: milliseconds to seconds.
_BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class PayoutMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.winners_paid = Counter(
            "payouts_winners_paid", "Entries paid by this process's workers", ["kind"], registry=r
        )
        self.coins_paid = Counter(
            "payouts_coins_paid", "Coins paid by this process's workers", ["kind"], registry=r
        )
        self.entries_failed = Counter(
            "payouts_entries_failed",
            "Entries this process's workers could not pay (frozen or missing user)",
            ["kind"],
            registry=r,
        )
        self.batch_seconds = Histogram(
            "payouts_batch_duration_seconds",
            "Wall time of one committed payment transaction (claim, credit, ledger, settle)",
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.heartbeats = Gauge(
            "payouts_worker_heartbeat_timestamp_seconds",
            "Unix time of the worker's last loop iteration",
            ["worker"],
            registry=r,
        )
        self.event_streams = Gauge(
            "payouts_event_streams", "Open Server-Sent Events streams", registry=r
        )
        self.webhooks = WebhookMetrics(r)  # events written, deliveries, latency, backlog

    def watch_database(self, db: Database) -> None:
        """Report the queue gauges from this database at each scrape."""
        self.registry.register(_QueueCollector(db))
        self.webhooks.watch_database(self.registry, db)

    def heartbeat(self, worker: str) -> None:
        self.heartbeats.labels(worker=worker).set(time.time())

    def batch_committed(self, batches: Sequence[JobBatch], seconds: float) -> None:
        """One committed transaction: what it paid for each job, and how long it took."""
        for batch in batches:
            self.winners_paid.labels(kind=batch.kind).inc(batch.paid)
            self.coins_paid.labels(kind=batch.kind).inc(batch.coins)
            self.entries_failed.labels(kind=batch.kind).inc(batch.failed)
            self.webhooks.events_written.labels(type=EVENT_TYPE_OF_JOB[batch.kind]).inc(batch.paid)
            if batch.settled:
                self.webhooks.events_written.labels(type=f"job.{batch.status}").inc()
        self.batch_seconds.observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _QueueCollector(Collector):
    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("payouts_database_up", "1 if the scrape could read the database")
        try:
            with self.db.read() as conn:
                totals = queue_totals(conn)
        except Exception as exc:  # a scrape must still answer, saying the database is down
            log.warning("metrics: cannot read the database: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        jobs = GaugeMetricFamily("payouts_jobs", "Payout jobs by status", labels=["status"])
        for status, count in totals.jobs_by_status.items():
            jobs.add_metric([status], count)
        yield jobs
        yield GaugeMetricFamily(
            "payouts_failed_entries",
            "Entries failed and waiting for a retry, across all jobs",
            value=totals.failed_entries,
        )
        yield GaugeMetricFamily(
            "payouts_pending_winners",
            "Winners of queued and running jobs not yet paid",
            value=totals.pending_winners,
        )
        oldest = totals.oldest_active_created_at
        lag = (utcnow() - as_utc(oldest)).total_seconds() if oldest else 0.0
        yield GaugeMetricFamily(
            "payouts_queue_lag_seconds",
            "Age of the oldest unfinished job: how long its unpaid winners have waited",
            value=max(0.0, lag),
        )


def serve_worker_metrics(db: Database, port: int | None) -> PayoutMetrics:
    """The metrics of a worker process; served on 127.0.0.1:port when a port is given."""
    metrics = PayoutMetrics()
    metrics.watch_database(db)
    if port is not None:
        server, _ = start_http_server(port, addr="127.0.0.1", registry=metrics.registry)
        log.info("metrics on http://127.0.0.1:%d/metrics", server.server_port)
    return metrics
