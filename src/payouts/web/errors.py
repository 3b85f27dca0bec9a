"""How errors reach an HTTP caller: one map from the domain's errors to statuses, the
{"message": ...} shape of every error answer, and a 503 (never a 500) when the database is
busy or unreachable."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException

from payouts.domain.errors import PayoutsError
from payouts.storage.database import is_unwritable
from payouts.web.statuses import status_of

log = logging.getLogger("payouts.api")

RETRY_AFTER_SECONDS = 1
UNWRITABLE_RETRY_AFTER_SECONDS = 30  # an operator has to free space: no point in sooner


def install_error_handlers(app: FastAPI) -> None:
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

    @app.exception_handler(OperationalError)
    async def database_unavailable(request: Request, exc: OperationalError) -> JSONResponse:
        # Locked (SQLite, after the retries) or unreachable (PostgreSQL restarting), or it
        # cannot be written (disk full, read-only): the request changed nothing, and the
        # same request later will work.
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        if is_unwritable(exc):
            return JSONResponse(
                {
                    "message": "the database cannot be written right now (disk full or"
                    " read-only); nothing was changed; retry later"
                },
                status_code=503,
                headers={"Retry-After": str(UNWRITABLE_RETRY_AFTER_SECONDS)},
            )
        return JSONResponse(
            {"message": "the database is busy or unavailable; retry shortly"},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
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
