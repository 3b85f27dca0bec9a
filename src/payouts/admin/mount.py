"""Adding the admin UI to the FastAPI app: its pages and its static files."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import Response

from payouts.admin import console, pages, processing_pages, webhook_pages
from payouts.admin.rendering import STATIC_DIR, render


def mount_admin(app: FastAPI) -> None:
    app.include_router(pages.router)
    app.include_router(console.router)
    app.include_router(webhook_pages.router)
    app.include_router(processing_pages.router)
    app.mount("/admin/static", StaticFiles(directory=STATIC_DIR), name="admin-static")


def wait_page(request: Request, seconds: int) -> Response:
    """The sign-in page of an address shut out for failed sign-ins (see web/guard.py)."""
    minutes = f"{-(-seconds // 60)} minute(s)" if seconds > 90 else f"{seconds} seconds"
    error = (
        "Too many failed sign-ins from your address. Wait "
        f"{minutes} before you try again; until then every attempt is refused."
    )
    context = {"session": None, "error": error, "next": ""}
    return render(request, "login.html", context, status_code=429)
