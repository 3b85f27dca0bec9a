"""The audit log over HTTP: the middleware that records refused admin actions, and how an
action and its target are named, for the JSON API and the admin UI's forms alike.

A successful state-changing admin request records its own row inside its transaction (see
api/actions.py). Everything else that reaches a state-changing admin route and fails (401,
403, 404, 409, 413, 415, 422, even a 500) is recorded here, once the answer is known.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from payouts.services import audit
from payouts.storage.database import Database
from payouts.web.deps import Principal

log = logging.getLogger("payouts.audit")

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ADMIN_PREFIXES = ("/api/admin/", "/admin/")  # the JSON API and the admin UI's forms
UNAUTHENTICATED = "unauthenticated"
_MAX_ERROR_BODY = 16_384


def is_audited_request(scope: Scope) -> bool:
    return (
        scope["type"] == "http"
        and scope["method"] in STATE_CHANGING
        and scope["path"].startswith(ADMIN_PREFIXES)
    )


def describe(scope: Scope) -> tuple[str, str | None]:
    """(action, target): the route's name and its path parameters, e.g. ("resolve_challenge",
    "challenge_id=7"); the method and path when no route matches."""
    route, params = scope.get("route"), scope.get("path_params")
    if route is None:  # refused before routing (413, 415): find the route it was meant for
        for candidate in api_routes(scope.get("app")):
            match, child = candidate.matches(scope)
            if match == Match.FULL:
                route, params = candidate, child.get("path_params")
                break
    if route is None:
        return f"{scope['method']} {scope['path']}"[:64], None
    target = ",".join(f"{name}={value}" for name, value in (params or {}).items())
    action = str(getattr(route, "name", scope["path"]))
    if scope["path"].startswith("/admin/"):
        action = f"ui_{action}"  # the admin UI's form, not the JSON API
    return action, target or None


def api_routes(app: object) -> list[APIRoute]:
    """Every APIRoute of the app, also inside included routers (newer FastAPI keeps those
    as nested routers instead of copying their routes into the app)."""
    found: list[APIRoute] = []
    for route in getattr(app, "routes", ()):
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found += api_routes(route.original_router)
    return found


def client_of(scope: Scope) -> str | None:
    """The caller's address: as the auth guard found it (behind a trusted proxy, the
    forwarded one), else the connection's peer."""
    address = scope.get("state", {}).get("client_address")
    if isinstance(address, str):
        return address
    client = scope.get("client")
    return str(client[0]) if client else None


def principal_of(scope: Scope) -> Principal | None:
    principal = scope.get("state", {}).get("principal")
    return principal if isinstance(principal, Principal) else None


class AuditMiddleware:
    """Records a row for every state-changing admin request that did not record its own."""

    def __init__(self, app: ASGIApp, db: Database) -> None:
        self.app = app
        self.db = db

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not is_audited_request(scope):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})  # shared with request.state downstream
        status = 500
        error_body = bytearray()

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and status >= 400:
                error_body.extend(message.get("body", b"")[: _MAX_ERROR_BODY - len(error_body)])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            await self._record_failure(scope, 500, b"")
            raise
        if status >= 400 and not state.get("audited"):
            await self._record_failure(scope, status, bytes(error_body))

    async def _record_failure(self, scope: Scope, status: int, body: bytes) -> None:
        principal = principal_of(scope)
        action, target = describe(scope)
        try:
            await run_in_threadpool(
                self._insert,
                actor=principal.name if principal else UNAUTHENTICATED,
                action=action,
                target=target,
                client=client_of(scope),
                status_code=status,
                outcome=_error_message(body, status),
            )
        except Exception:  # the answer is already sent; losing the row must be loud
            log.exception("could not write the audit row for a refused %s", action)

    def _insert(self, **row: Any) -> None:
        with self.db.write() as conn:
            audit.record(conn, **row)


def _error_message(body: bytes, status: int) -> str:
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    message = payload.get("message") if isinstance(payload, dict) else None
    if isinstance(message, str):
        return message
    return "internal error" if status >= 500 else f"refused ({status})"
