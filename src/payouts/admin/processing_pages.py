"""Pausing and resuming payouts from the admin UI: a page that says what a pause does and
asks to confirm (GET /admin/processing, ?job=ID for one job), and the two form posts.

The posts are admin-only form posts with the session's CSRF token, audited in the
action's own transaction as ui_pause_processing / ui_resume_processing, like the API."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from sqlalchemy import Connection
from starlette.responses import Response

from payouts.admin.rendering import AdminRoute, redirect, render
from payouts.admin.session import Acting, Session
from payouts.services import jobs, lookups, processing
from payouts.web.actions import AdminAction, AuditAs
from payouts.web.deps import Db, Wake, parse_uuid

router = APIRouter(prefix="/admin/processing", route_class=AdminRoute, include_in_schema=False)
PAGE = "/admin/processing"


def _job(raw: str) -> uuid.UUID | None:
    return parse_uuid(raw, "payout job") if raw else None


@router.get("")
def processing_page(
    request: Request,
    db: Db,
    session: Session,
    job: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    job_id = _job(job)
    with db.read() as conn:
        state = processing.state(conn)
        row = jobs.get_job(conn, job_id) if job_id else None
        titles = lookups.challenge_titles(conn, [row["challenge_id"]] if row else [])
    return render(
        request,
        "processing.html",
        {
            "session": session,
            "nav": "processing",
            "processing": state,
            "job": row,
            "title": titles.get(row["challenge_id"], "") if row else "",
            "job_paused": state.job_pause(job_id) if job_id else None,
        },
    )


def _back(job_id: uuid.UUID | None) -> str:
    return f"{PAGE}?job={job_id}" if job_id else PAGE


def _switch(
    request: Request,
    db: Db,
    session: Session,
    job_id: uuid.UUID | None,
    audit_action: str,
    change: Callable[[Connection], processing.PauseChange],
) -> processing.PauseChange:
    """A pause or resume in its audited transaction (ui_pause_processing / ...)."""
    target = processing.audit_target(job_id)
    action = AdminAction(request, db, session.principal)
    with action.write(status=303, audit_as=AuditAs(audit_action, [target])) as conn:
        return change(conn)


@router.post("/pause", name="pause_processing")
def pause(
    request: Request,
    db: Db,
    session: Acting,
    job: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    job_id = _job(job)
    by = session.principal.name
    change = _switch(
        request,
        db,
        session,
        job_id,
        "ui_pause_processing",
        lambda conn: processing.pause(conn, job_id, by),
    )
    return redirect(_back(job_id), change.message)


@router.post("/resume", name="resume_processing")
def resume(
    request: Request,
    db: Db,
    wake: Wake,
    session: Acting,
    job: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    job_id = _job(job)
    change = _switch(
        request,
        db,
        session,
        job_id,
        "ui_resume_processing",
        lambda conn: processing.resume(conn, job_id),
    )
    wake.notify()
    return redirect(_back(job_id), change.message)
