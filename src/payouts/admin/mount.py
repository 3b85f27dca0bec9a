"""Adding the admin UI to the FastAPI app: its pages and its static files."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from payouts.admin import pages, processing_pages
from payouts.admin.rendering import STATIC_DIR


def mount_admin(app: FastAPI) -> None:
    app.include_router(pages.router)
    app.include_router(processing_pages.router)
    app.mount("/admin/static", StaticFiles(directory=STATIC_DIR), name="admin-static")
