"""The FastAPI application: routes, error shapes, and the embedded worker's lifetime."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.exceptions import HTTPException

from payouts.admin.mount import mount_admin
from payouts.api import live, preview_routes, routes, security
from payouts.config import Settings
from payouts.domain.errors import PayoutsError
from payouts.storage.database import Database
from payouts.web.deps import LiveTokens, status_of
from payouts.worker.loop import PayoutWorker, WorkerThread
from payouts.worker.wakeup import LocalWakeup, wakeup_for

log = logging.getLogger("payouts.api")


def create_app(
    settings: Settings, db: Database | None = None, *, embedded_worker: bool | None = None
) -> FastAPI:
    database = db or Database(settings.database_url, pool_size=settings.db_pool_size)
    run_worker = settings.embedded_worker if embedded_worker is None else embedded_worker

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        thread = None
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
        yield
        if thread is not None:
            thread.stop()
        app.state.wakeup.close()

    app = FastAPI(
        title="payouts",
        summary="Pays out the winners of resolved challenges, in batches, exactly once.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.db = database
    app.state.settings = settings
    app.state.live_tokens = LiveTokens()
    # The embedded worker hears this process's API directly, and other processes' jobs
    # through LISTEN/NOTIFY (PostgreSQL) or the SQLite file's data_version.
    app.state.wakeup = wakeup_for(database) if run_worker else LocalWakeup()
    app.include_router(routes.router)
    app.include_router(preview_routes.router)
    mount_admin(app)
    live.install(app, database)
    _install_error_handlers(app)
    security.install(app, settings, database)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        with database.read() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok"}

    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PayoutsError)
    async def domain_error(_: Request, exc: PayoutsError) -> JSONResponse:
        return JSONResponse({"message": exc.message}, status_code=status_of(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"message": _describe(exc), "errors": _jsonable(exc.errors())}, status_code=422
        )

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(
            {"message": str(exc.detail)},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"message": "internal error; see the server log"}, status_code=500)


def _describe(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ()) if p != "body"]
        where = ".".join(loc) or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts[:5]) or "invalid request"


def _jsonable(errors: Sequence[Any]) -> list[dict[str, object]]:
    return [
        {"loc": [str(p) for p in error.get("loc", ())], "msg": str(error.get("msg"))}
        for error in errors
    ]
