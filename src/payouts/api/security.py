"""What app.py installs for security and robustness: request limits, the audit middleware,
the audit route, and a 503 (not a 500) when the database is busy or unreachable."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from payouts.api import audit
from payouts.config import Settings
from payouts.storage.database import Database
from payouts.web.limits import RequestLimits

log = logging.getLogger("payouts.api")

RETRY_AFTER_SECONDS = 1


def install(app: FastAPI, settings: Settings, db: Database) -> None:
    app.include_router(audit.router)
    # Added last, runs first: the audit middleware also sees what the limits refuse.
    app.add_middleware(RequestLimits, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(audit.AuditMiddleware, db=db)

    @app.exception_handler(OperationalError)
    async def database_unavailable(request: Request, exc: OperationalError) -> JSONResponse:
        # Locked (SQLite, after the retries) or unreachable (PostgreSQL restarting): the
        # request changed nothing, and the same request later will work.
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(
            {"message": "the database is busy or unavailable; retry shortly"},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
