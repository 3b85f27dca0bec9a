"""Templates, static files and the page responses' headers."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from payouts.admin import views
from payouts.admin.session import SignInRequired
from payouts.domain.errors import PayoutsError
from payouts.services import processing
from payouts.storage.database import Database
from payouts.web import cookie
from payouts.web.statuses import status_of

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")

# Pages load only this package's own files: no inline script or style, no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

FLASH_COOKIE = "payouts_admin_flash"  # a one-time message for the next page


def _static_url(name: str) -> str:
    """The file's URL with a content hash, so a new release is never served stale."""
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]
    return f"/admin/static/{name}?v={digest}"


templates.env.globals.update(
    static={
        name: _static_url(name)
        for name in ("admin.css", "admin.js", "local-time.js", "favicon.svg")
    },
    result_labels=views.RESULT_LABELS,
)
templates.env.tests["string_is"] = lambda value, other: str(value) == str(other)
templates.env.filters.update(
    coins=views.coins,
    duration=views.duration,
    rate=views.rate,
    when=views.when,
    time_tag=views.time_tag,
    eta_text=views.eta_text,
    fee_percent=views.percent_of_bps,
    plural=views.plural,
)


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    if context.get("session") is not None and "processing" not in context:
        context = {**context, "processing": _processing_state(request)}
    raw_flash = request.cookies.get(FLASH_COOKIE)
    flash = unquote(raw_flash) if raw_flash else None
    response = templates.TemplateResponse(
        request, name, {"flash": flash, **context}, status_code=status_code
    )
    response.headers.update(SECURITY_HEADERS)
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path="/admin")
    return response


def _processing_state(request: Request) -> processing.ProcessingState | None:
    """What is paused, for the banner every signed-in page shows (one small read)."""
    db: Database = request.app.state.db
    with db.read() as conn:
        return processing.state(conn)


def redirect(url: str, flash: str | None = None) -> RedirectResponse:
    """See-other after a post; `flash` is shown once on the next page."""
    response = RedirectResponse(url, status_code=303)
    if flash:
        response.set_cookie(
            FLASH_COOKIE, quote(flash[:300]), path="/admin", httponly=True, samesite="strict"
        )
    return response


def _sign_in(request: Request, message: str) -> Response:
    target = request.url.path
    if request.method == "GET" and request.url.query:
        target += "?" + request.url.query
    response = render(
        request,
        "login.html",
        {"session": None, "error": message or None, "next": target},
        status_code=401,
    )
    if message:  # the cookie's token is dead: drop it
        cookie.clear_session(response)
    return response


class AdminRoute(APIRoute):
    """Errors on admin pages answer with a page, not the API's JSON: the sign-in form for
    no (or a dead) session, an error page naming the problem otherwise."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handle(request)
            except SignInRequired as exc:
                return _sign_in(request, exc.message)
            except PayoutsError as exc:
                status = status_of(exc)
                return error_page(request, status, exc.message)
            except RequestValidationError as exc:
                return error_page(request, 422, _describe(exc))

        return page


def error_page(request: Request, status: int, message: str) -> Response:
    return render(
        request,
        "error.html",
        {"session": None, "status": status, "message": message},
        status_code=status,
    )


def _describe(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query"))
        parts.append(f"{where or 'request'}: {error.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)
