"""The operator console's live parts: the feed a jobs page polls (one request per page, not
per row), the user page with its unfreeze button, and the history of ended jobs with
search. Reads through services.console; the one write (unfreeze) is an audited AdminAction
like every other form of the admin UI."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from markupsafe import Markup
from sqlalchemy import Connection, RowMapping
from starlette.responses import JSONResponse, Response

from payouts.admin.rendering import SECURITY_HEADERS, AdminRoute, redirect, render, templates
from payouts.admin.session import Acting, Session
from payouts.admin.views import JobView, job_view
from payouts.domain.errors import InvalidInput
from payouts.domain.vocabulary import ACTIVE_JOB_STATUSES, JOB_KINDS, SETTLED_JOB_STATUSES
from payouts.services import console, lookups, users
from payouts.storage.clock import as_utc, iso_utc, utcnow
from payouts.web.actions import AdminAction
from payouts.web.deps import Db, parse_id
from payouts.web.progress_samples import timed

router = APIRouter(prefix="/admin", route_class=AdminRoute, include_in_schema=False)

FAILED_ENTRIES_SHOWN = 5
HISTORY_PAGE = 20
USER_JOBS_SHOWN = 50


@dataclass(frozen=True, slots=True)
class FailedContext:
    """What failed rows show: their first failed entries, those entries' users, and how
    many of each job's failed users are still frozen or gone."""

    entries: dict[str, list[RowMapping]]
    people: dict[int, RowMapping]
    frozen: dict[str, int]


def failed_context(conn: Connection, failed: Sequence[RowMapping]) -> FailedContext:
    ids = [row["id"] for row in failed]
    entries = console.failed_entries_with_users(conn, ids, FAILED_ENTRIES_SHOWN)
    people = console.users_by_id(
        conn, [entry["user_id"] for found in entries.values() for entry in found]
    )
    frozen = {str(jid): len(console.frozen_failed_users(conn, jid)) for jid in ids}
    return FailedContext({str(k): v for k, v in entries.items()}, people, frozen)


def views_of(request: Request, conn: Connection, rows: Sequence[RowMapping]) -> list[JobView]:
    """Each row as its page shows it, timed by domain.timing (this process's samples)."""
    titles = lookups.challenge_titles(conn, [row["challenge_id"] for row in rows])
    timings = timed(request.app, conn, rows)
    return [job_view(row, titles.get(row["challenge_id"], ""), timings[row["id"]]) for row in rows]


def section_of(status: str) -> str:
    return "active" if status in ACTIVE_JOB_STATUSES else status


# --- the live feed ---------------------------------------------------------------------------


def _parse_since(raw: str) -> datetime:
    try:
        return as_utc(datetime.fromisoformat(raw.replace("Z", "+00:00")))
    except ValueError:
        raise InvalidInput("since must be an ISO-8601 time") from None


def _parse_watch(raw: str) -> list[uuid.UUID]:
    found = []
    for part in [p for p in raw.split(",") if p][: console.WATCH_LIMIT]:
        try:
            found.append(uuid.UUID(part))
        except ValueError:
            raise InvalidInput(f"watch: {part!r} is not a job id") from None
    return found


@router.get("/feed")
def feed(
    request: Request,
    db: Db,
    session: Session,
    since: Annotated[str, Query(max_length=40)],
    watch: Annotated[str, Query(max_length=40 * console.WATCH_LIMIT)] = "",
    only: Annotated[bool, Query()] = False,
) -> Response:
    """The jobs a live page must show (every active job, every job created since the page
    loaded, and the ones it watches), each with its row's HTML for the section it belongs
    in (none for a watched job still active: the page has its row), and the count of jobs
    by status. One request per page per poll. `only=true`: just the watched jobs (a job's
    own page)."""
    now = utcnow()
    macros: Any = templates.env.get_template("_jobs.html").module
    watched = _parse_watch(watch)
    have = set(watched)
    with db.read() as conn:
        rows = console.feed_jobs(conn, _parse_since(since), watched, only=only)
        counts = console.status_counts(conn)
        views = views_of(request, conn, rows)
        failed = failed_context(conn, [row for row in rows if row["status"] == "failed"])
    jobs = []
    for view in views:
        job = view.job
        section = section_of(job.status)
        html: Markup
        if section == "active" and uuid.UUID(job.job_id) in have:
            html = Markup("")  # the page has this row: it updates it from the figures
        elif section == "active":
            html = macros.progress_row(view, session)
        elif section == "failed":
            html = macros.failed_row(
                view,
                session,
                failed.entries[job.job_id],
                failed.people,
                failed.frozen[job.job_id],
                FAILED_ENTRIES_SHOWN,
            )
        else:
            html = macros.completed_row(view)
        jobs.append(
            {
                **job.model_dump(mode="json", by_alias=True),
                "section": section,
                "html": str(html),
                "rate": view.rate,
            }
        )
    return JSONResponse(
        {"now": iso_utc(now), "counts": counts, "jobs": jobs},
        headers=SECURITY_HEADERS,
    )


# --- users -------------------------------------------------------------------------------


@router.get("/users/{user_id}")
def user_page(request: Request, user_id: str, db: Db, session: Session) -> Response:
    uid = parse_id(user_id, "user")
    with db.read() as conn:
        user = users.get_user(conn, uid)
        ledger = console.recent_ledger(conn, uid)
        paid_by = console.jobs_that_paid(conn, uid, USER_JOBS_SHOWN)
        titles = lookups.challenge_titles(conn, [row["challenge_id"] for row in paid_by])
    return render(
        request,
        "user.html",
        {
            "session": session,
            "nav": "jobs",
            "user": user,
            "ledger": ledger,
            "paid_by": paid_by,
            "titles": titles,
            "shown": USER_JOBS_SHOWN,
        },
    )


@router.post("/users/{user_id}/unfreeze")
def unfreeze_user(
    user_id: str,
    request: Request,
    db: Db,
    session: Acting,
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    uid = parse_id(user_id, "user")
    with AdminAction(request, db, session.principal).write(status=303) as conn:
        user = users.set_user_status(conn, uid, "active")
    target = back if back.startswith("/admin/") else f"/admin/users/{uid}"
    return redirect(
        target,
        f"User #{uid} {user['username']} is active again. Retry the failed jobs"
        " to pay their entries.",
    )


# --- history and search -----------------------------------------------------------------------

_CHALLENGE_REF = re.compile(r"#?\s*(\d{1,10})")


def _day(raw: str, what: str) -> datetime | None:
    if not raw:
        return None
    try:
        return as_utc(datetime.fromisoformat(raw))
    except ValueError:
        raise InvalidInput(f"{what} must be a date (YYYY-MM-DD)") from None


@router.get("/history")
def history_page(
    request: Request,
    db: Db,
    session: Session,
    q: Annotated[str, Query(max_length=100)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    kind: Annotated[str, Query(max_length=20)] = "",
    start: Annotated[str, Query(alias="from", max_length=20)] = "",
    end: Annotated[str, Query(alias="to", max_length=20)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """Ended jobs, the most recently ended first, filtered; `q` is a challenge ("#12" or
    "12") or a user ("@name" or "user 7"), whose jobs are listed with what they were paid."""
    if status and status not in SETTLED_JOB_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(SETTLED_JOB_STATUSES)}")
    if kind and kind not in JOB_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(JOB_KINDS)}")
    ended_from = _day(start, "from")
    to_day = _day(end, "to")
    search = q.strip()
    user = None
    paid_by: Sequence[RowMapping] = []
    rows: Sequence[RowMapping] = []
    total = 0
    with db.read() as conn:
        user = _find_user(conn, search)
        if user is not None:
            paid_by = console.jobs_that_paid(conn, user["id"], USER_JOBS_SHOWN)
            views = views_of(request, conn, paid_by)
        else:
            challenge_id = None
            if search:
                match = _CHALLENGE_REF.fullmatch(search)
                if match is None:
                    raise InvalidInput("search for a challenge (#12) or a user (@name, or user 7)")
                challenge_id = int(match.group(1))
            where = console.HistoryFilter(
                statuses=(status,) if status else SETTLED_JOB_STATUSES,
                kind=kind or None,
                ended_from=ended_from,
                ended_before=to_day + timedelta(days=1) if to_day else None,
                challenge_id=challenge_id,
            )
            rows, total = console.ended_jobs(
                conn, where, offset=(page - 1) * HISTORY_PAGE, limit=HISTORY_PAGE
            )
            views = views_of(request, conn, rows)
    ended = {str(row["id"]): iso_utc(row["ended_at"]) for row in (*rows, *paid_by)}
    entry_of = {str(row["id"]): row for row in paid_by}
    pages = max(1, -(-total // HISTORY_PAGE))
    return render(
        request,
        "history.html",
        {
            "session": session,
            "nav": "history",
            "views": views,
            "ended": ended,
            "user": user,
            "entry_of": entry_of,
            "q": search,
            "status": status,
            "kind": kind,
            "start": start,
            "end": end,
            "page": page,
            "pages": pages,
            "total": total,
            "statuses": SETTLED_JOB_STATUSES,
            "kinds": JOB_KINDS,
            "query": _query(q=search, status=status, kind=kind, start=start, end=end),
        },
    )


_USER_REF = re.compile(r"(?:@|user\s*#?\s*)(\S{1,64})", re.IGNORECASE)


def _find_user(conn: Connection, search: str) -> RowMapping | None:
    match = _USER_REF.fullmatch(search)
    if match is None:
        return None
    ref = match.group(1)
    found = console.find_user(conn, ref)
    if found is None:
        raise InvalidInput(f"no user is called or numbered {ref!r}")
    return found


def _query(**params: str) -> str:
    names = {"start": "from", "end": "to"}
    return urlencode({names.get(k, k): v for k, v in params.items() if v})
