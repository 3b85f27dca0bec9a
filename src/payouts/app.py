"""The application, composed: the JSON API and the admin UI on the shared web plumbing,
error shapes, request limits, the audit middleware, and the embedded worker's lifetime.
The one module that knows both the web side and the worker."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import text

from payouts.admin.mount import mount_admin, wait_page
from payouts.api import (
    audit,
    events_routes,
    live,
    preview_routes,
    processing_routes,
    routes,
    webhooks_routes,
)
from payouts.config import Settings
from payouts.storage.database import Database
from payouts.web.audit import AuditMiddleware
from payouts.web.deps import LiveTokens
from payouts.web.errors import install_error_handlers
from payouts.web.guard import AuthFailureLimiter, AuthGuard, parse_networks
from payouts.web.limits import RequestLimits
from payouts.web.token_use import TokenUse
from payouts.worker.loop import PayoutWorker, WorkerThread
from payouts.worker.wakeup import LocalWakeup, wakeup_for
from payouts.worker.webhooks import start_delivery

log = logging.getLogger("payouts.api")


def create_app(
    settings: Settings, db: Database | None = None, *, embedded_worker: bool | None = None
) -> FastAPI:
    database = db or Database(settings.database_url, pool_size=settings.db_pool_size)
    run_worker = settings.embedded_worker if embedded_worker is None else embedded_worker

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        thread = deliveries = None
        if run_worker:
            worker = PayoutWorker(
                database,
                settings,
                app.state.wakeup,
                name="embedded-worker",
                metrics=app.state.metrics,
            )
            thread = WorkerThread(worker)
            thread.start()
            deliveries = start_delivery(database, settings, app.state.metrics.webhooks)
        yield
        if thread is not None:
            if deliveries is not None:
                deliveries.stop()
            thread.stop()
        app.state.wakeup.close()
        app.state.token_use.close()

    app = FastAPI(
        title="payouts",
        summary="Pays out the winners of resolved challenges, in batches, exactly once.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.db = database
    app.state.settings = settings
    app.state.live_tokens = LiveTokens()
    app.state.token_use = TokenUse(database)
    # The embedded worker hears this process's API directly, and other processes' jobs
    # through LISTEN/NOTIFY (PostgreSQL) or the SQLite file's data_version.
    app.state.wakeup = wakeup_for(database) if run_worker else LocalWakeup()
    app.include_router(routes.router)
    app.include_router(preview_routes.router)
    app.include_router(events_routes.router)
    app.include_router(webhooks_routes.router)
    app.include_router(processing_routes.router)
    mount_admin(app)
    app.include_router(audit.router)
    app.state.metrics = live.install(app, database)
    install_error_handlers(app)
    # Starlette runs the middleware added last first: the audit middleware wraps the limits
    # and so also records the requests they refuse.
    app.add_middleware(RequestLimits, max_body_bytes=settings.max_body_bytes)
    app.state.auth_limiter = AuthFailureLimiter(settings.auth_failures_per_minute)
    app.add_middleware(
        AuthGuard,
        limiter=app.state.auth_limiter,
        trusted=parse_networks(settings.trusted_proxies),
        db=database,
        html_refusal=wait_page,
    )
    app.add_middleware(AuditMiddleware, db=database)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        with database.read() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok"}

    return app
