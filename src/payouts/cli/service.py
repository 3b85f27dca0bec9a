"""`payouts serve | worker | migrate | demo`: running the service and trying it out.

`serve` and `migrate` bring the schema to this release; `worker` and `demo` only check it.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from typing import Annotated

import typer

from payouts.cli.backup import service_hold
from payouts.cli.common import existing_database, migrated_database, settings
from payouts.config import Settings
from payouts.storage.database import Database

log = logging.getLogger("payouts")


def register(app: typer.Typer) -> None:
    for command in (serve, worker, migrate, demo):
        app.command()(command)


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [env PAYOUTS_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [env PAYOUTS_PORT]")] = None,
    worker: Annotated[
        bool | None,
        typer.Option(
            "--worker/--no-worker",
            help="Run the payout worker in this process [env PAYOUTS_EMBEDDED_WORKER]",
        ),
    ] = None,
) -> None:
    """Run the HTTP API (and, unless --no-worker, an embedded payout worker)."""
    config = settings(host=host, port=port, embedded_worker=worker)
    db = migrated_database(config)
    with service_hold(db):  # `payouts restore` refuses while this runs
        _serve(config, db)


def _serve(config: Settings, db: Database) -> None:
    import uvicorn

    from payouts.app import create_app
    from payouts.services import tokens

    if not config.admin_token:
        with db.write() as conn:
            token = tokens.ensure_bootstrap_token(conn)
        if token:
            typer.echo(f"Admin token (shown once, store it now): {token}", err=True)
    typer.echo(
        f"payouts on http://{config.host}:{config.port} ({db.url.get_backend_name()})", err=True
    )
    api = create_app(config, db)
    server_config = uvicorn.Config(
        api, host=config.host, port=config.port, log_config=None, access_log=False
    )
    api.state.server = server = uvicorn.Server(server_config)  # event streams end when it stops
    server.run()


def worker(
    concurrency: Annotated[int, typer.Option(min=1, help="Worker loops in this process")] = 1,
    once: Annotated[bool, typer.Option(help="Process what is queued now, then exit")] = False,
    metrics_port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="Serve /metrics on 127.0.0.1:PORT")
    ] = None,
) -> None:
    """Run payout workers alone (no HTTP API)."""
    config = settings()
    # Each worker loop holds one pooled connection during a batch (its wake-up listener has
    # its own), so the pool must be at least as large as the number of loops.
    config = config.model_copy(update={"db_pool_size": max(config.db_pool_size, concurrency)})
    # No ping before each use of a pooled connection: a worker retries a step that fails on
    # a dead connection anyway, and a ping is a round trip before every batch.
    db = existing_database(config, pool_size=config.db_pool_size, pre_ping=False)
    with service_hold(db):  # `payouts restore` refuses while this runs
        _work(config, db, concurrency, once, metrics_port)


def _work(
    config: Settings, db: Database, concurrency: int, once: bool, metrics_port: int | None
) -> None:
    from payouts.telemetry.metrics import serve_worker_metrics
    from payouts.worker.loop import PayoutWorker, WorkerThread
    from payouts.worker.wakeup import wakeup_for
    from payouts.worker.webhooks import start_delivery

    metrics = serve_worker_metrics(db, metrics_port)
    if once:
        PayoutWorker(db, config, wakeup_for(db), metrics=metrics).run_until_idle()
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    threads = [
        WorkerThread(PayoutWorker(db, config, wakeup_for(db), name=f"worker-{n}", metrics=metrics))
        for n in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    deliveries = start_delivery(db, config, metrics.webhooks)  # webhooks, beside the payouts
    stop.wait()
    log.info("stopping: finishing the batches in flight")
    if deliveries is not None:
        deliveries.stop()  # never waits for a hanging receiver
    for thread in threads:
        thread.stop()


def migrate() -> None:
    """Apply the database migrations (Alembic upgrade to head)."""
    config = settings()
    db = migrated_database(config)
    typer.echo(f"database at head ({db.url.get_backend_name()})")


def demo(
    winners: Annotated[int, typer.Option(min=1, help="Players on the winning side")] = 1000,
    losers: Annotated[int, typer.Option(min=0, help="Players on the losing side")] = 1000,
    fee_bps: Annotated[int | None, typer.Option(min=0, max=10_000, help="Platform fee")] = None,
    seed: Annotated[int, typer.Option(help="Same seed, same stakes")] = 1,
) -> None:
    """Create an open demo challenge with staked players, ready to resolve."""
    from payouts.services.demo import create_demo

    config = settings()
    db = existing_database(config)
    with db.write() as conn:
        made = create_demo(
            conn, winners, losers, config.platform_fee_bps if fee_bps is None else fee_bps, seed
        )
    base = f"http://{config.host}:{config.port}/api/admin"
    token = config.admin_token
    auth = f"Authorization: Bearer {token or '$PAYOUTS_ADMIN_TOKEN'}"
    typer.echo("# resolve it:")
    typer.echo(
        f"curl -s -X POST -H \"{auth}\" -H 'Content-Type: application/json' "
        f'-d \'{{"result": "challenger_won"}}\' {base}/challenges/{made.challenge_id}/result'
    )
    typer.echo("# then watch the job it returns:")
    typer.echo(f'curl -s -H "{auth}" {base}/payout-jobs/<payoutJobId>/status')
    typer.echo(
        json.dumps(
            {
                "challengeId": made.challenge_id,
                "winners": winners,
                "losers": losers,
                "adminToken": token,
            }
        )
    )
