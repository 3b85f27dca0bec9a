"""The admin pages. Each reads or writes through the same services as the JSON API, in one
transaction, and writes wake the workers after the commit, as the API does."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Query, Request
from sqlalchemy import RowMapping
from starlette.responses import RedirectResponse, Response

from payouts.admin import charts
from payouts.admin import console as live
from payouts.admin.rendering import AdminRoute, redirect, render
from payouts.admin.session import Acting, Posted, Session, check_same_origin
from payouts.admin.views import RESULT_LABELS, JobView, job_view, plural
from payouts.domain.errors import InvalidInput
from payouts.domain.timing import JobTiming
from payouts.domain.vocabulary import ACTIVE_JOB_STATUSES, CHALLENGE_STATUSES, RESULTS
from payouts.services import challenges, console, jobs, lookups
from payouts.services import preview as previews
from payouts.services.monitoring import short_id
from payouts.storage.clock import iso_utc, utcnow
from payouts.web import cookie
from payouts.web.actions import AdminAction
from payouts.web.deps import AppSettings, Db, Wake, parse_id, parse_uuid, token_role
from payouts.web.progress_samples import timed
from payouts.web.schemas import ChallengeOut

router = APIRouter(prefix="/admin", route_class=AdminRoute, include_in_schema=False)

HOME = "/admin/jobs"
FAILED_ENTRIES_PAGE = 100
CHALLENGES_SHOWN = 100
FINISHED_JOBS_SHOWN = 20


def _local(target: str | None, fallback: str = HOME) -> str:
    """Only redirect within the admin UI (no open redirect through ?next=)."""
    if not target:
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/admin"):
        return fallback
    if any(ch in target for ch in "\\\r\n"):
        return fallback
    return target


# --- signing in and out -------------------------------------------------------------------


@router.get("")
@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse(HOME, status_code=303)


@router.get("/login")
def login_form(
    request: Request,
    db: Db,
    settings: AppSettings,
    next_url: Annotated[str, Query(alias="next")] = "",
) -> Response:
    token = cookie.session_token(request)
    if token and token_role(token, db, settings):
        return RedirectResponse(_local(next_url), status_code=303)
    return render(request, "login.html", {"session": None, "error": None, "next": next_url})


@router.post("/login")
def login(
    request: Request,
    db: Db,
    settings: AppSettings,
    token: Annotated[str, Form(max_length=500)] = "",
    next_url: Annotated[str, Form(alias="next", max_length=2000)] = "",
) -> Response:
    check_same_origin(request)
    token = token.strip()
    if not token:
        error, status = "Enter your admin token.", 422
    elif token_role(token, db, settings) is None:
        error, status = "That token was not accepted: it is wrong, expired, or revoked.", 401
    else:
        response = RedirectResponse(_local(next_url), status_code=303)
        cookie.set_session(response, request, token)
        return response
    context = {"session": None, "error": error, "next": next_url}
    return render(request, "login.html", context, status_code=status)


@router.post("/logout")
def logout(_: Posted) -> Response:
    response = redirect("/admin/login", "Signed out.")
    cookie.clear_session(response)
    return response


# --- payout jobs ----------------------------------------------------------------------------


def _views(
    rows: Sequence[RowMapping], titles: dict[int, str], timings: dict[uuid.UUID, JobTiming]
) -> list[JobView]:
    return [job_view(row, titles.get(row["challenge_id"], ""), timings[row["id"]]) for row in rows]


@router.get("/jobs")
def jobs_page(request: Request, db: Db, session: Session) -> Response:
    now = utcnow()
    with db.read() as conn:
        active = jobs.list_jobs(conn, ACTIVE_JOB_STATUSES, console.FEED_LIMIT)
        failed = jobs.list_jobs(conn, ["failed"], FINISHED_JOBS_SHOWN)
        completed, _ = console.ended_jobs(
            conn, console.HistoryFilter(statuses=("completed",)), limit=FINISHED_JOBS_SHOWN
        )
        counts = console.status_counts(conn)
        ids = [row["challenge_id"] for row in (*active, *failed, *completed)]
        titles = lookups.challenge_titles(conn, ids)
        timings = timed(request.app, conn, [*active, *failed, *completed])
        failed_info = live.failed_context(conn, failed)
        chart = charts.chart_context(conn, now, charts.caches_of(request.app.state))
    return render(
        request,
        "jobs.html",
        {
            "session": session,
            "nav": "jobs",
            "since": iso_utc(now),
            "counts": counts,
            "active": _views(active, titles, timings),
            "failed": _views(failed, titles, timings),
            "completed": _views(completed, titles, timings),
            "failed_entries": failed_info.entries,
            "people": failed_info.people,
            "frozen": failed_info.frozen,
            "entries_shown": live.FAILED_ENTRIES_SHOWN,
            "chart": chart,
        },
    )


@router.get("/jobs/{job_id}")
def job_page(
    request: Request,
    job_id: str,
    db: Db,
    session: Session,
    after_id: Annotated[int, Query(alias="afterId", ge=0)] = 0,
) -> Response:
    jid = parse_uuid(job_id, "payout job")
    with db.read() as conn:
        row = jobs.get_job(conn, jid)
        titles = lookups.challenge_titles(conn, [row["challenge_id"]])
        timings = timed(request.app, conn, [row])
        entries = jobs.list_entries(
            conn, jid, "failed", after_id=after_id, limit=FAILED_ENTRIES_PAGE
        )
        people = console.users_by_id(conn, [entry["user_id"] for entry in entries])
        frozen = console.frozen_failed_users(conn, jid)
        timeline = console.timeline(conn, row)
    return render(
        request,
        "job.html",
        {
            "session": session,
            "nav": "jobs",
            "view": _views([row], titles, timings)[0],
            "since": iso_utc(utcnow()),
            "entries": entries,
            "people": people,
            "frozen": frozen,
            "timeline": timeline,
            "after_id": after_id,
            "next_after_id": entries[-1]["id"] if len(entries) == FAILED_ENTRIES_PAGE else None,
        },
    )


@router.post("/jobs/{job_id}/trigger")
def trigger_job(
    job_id: str,
    request: Request,
    db: Db,
    wake: Wake,
    session: Acting,
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    jid = parse_uuid(job_id, "payout job")
    with AdminAction(request, db, session.principal).write(status=303) as conn:
        jobs.trigger(conn, jid)
    wake.notify()
    return redirect(
        _local(back, f"{HOME}#job-{jid}"),
        f"Asked the workers to process job {short_id(jid)} now.",
    )


@router.post("/jobs/{job_id}/retry")
def retry_job(
    job_id: str,
    request: Request,
    db: Db,
    wake: Wake,
    session: Acting,
    back: Annotated[str, Form(max_length=2000)] = "",
    confirmed: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """Failed entries back to pending. If some of their users are still frozen (or gone)
    and the form did not show that, nothing runs: the page says so and offers it again."""
    jid = parse_uuid(job_id, "payout job")
    page = f"/admin/jobs/{jid}"
    if not confirmed:
        with db.read() as conn:
            frozen = console.frozen_failed_users(conn, jid)
        if frozen:
            return redirect(
                page,
                f"Not retried: {plural(len(frozen), 'user')} of the failed entries"
                f" {'is' if len(frozen) == 1 else 'are'} still frozen or gone, so a retry"
                " would fail again. Unfreeze them first, or retry anyway.",
            )
    with AdminAction(request, db, session.principal).write(status=303) as conn:
        failed = jobs.get_job(conn, jid)["failed_winners"]
        jobs.retry(conn, jid)
    wake.notify()
    return redirect(
        f"{page}#timeline",
        f"Retry started for job {short_id(jid)}: {plural(failed, 'failed entry', 'failed entries')}"
        " pending again. This page shows whether they are paid or fail again.",
    )


# --- challenges -----------------------------------------------------------------------------


@router.get("/challenges")
def challenges_page(
    request: Request,
    db: Db,
    session: Session,
    q: Annotated[str, Query(max_length=200)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    if status and status not in CHALLENGE_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(CHALLENGE_STATUSES)}")
    search = q.strip()
    with db.read() as conn:
        rows = challenges.list_challenges(
            conn, status=status or None, search=search or None, limit=CHALLENGES_SHOWN
        )
        job_of = lookups.jobs_of_challenges(conn, [row["id"] for row in rows])
    return render(
        request,
        "challenges.html",
        {
            "session": session,
            "nav": "challenges",
            "challenges": [ChallengeOut.of(row) for row in rows],
            "job_of": {cid: (str(jid), status) for cid, (jid, status) in job_of.items()},
            "q": search,
            "status": status,
            "statuses": CHALLENGE_STATUSES,
            "shown": CHALLENGES_SHOWN,
        },
    )


@router.get("/challenges/{challenge_id}")
def challenge_page(
    request: Request,
    challenge_id: str,
    db: Db,
    session: Session,
    result: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    cid = parse_id(challenge_id, "challenge")
    if result and result not in RESULTS:
        raise InvalidInput(f"result must be one of {', '.join(RESULTS)}")
    preview = None
    job = None
    with db.read() as conn:
        row = challenges.get_challenge(conn, cid)
        if row["status"] == "open" and result:
            preview = previews.preview(conn, cid, result)
        job_of = lookups.jobs_of_challenges(conn, [cid])
        if cid in job_of:
            job_row = jobs.get_job(conn, job_of[cid][0])
            timings = timed(request.app, conn, [job_row])
            job = _views([job_row], {cid: row["title"]}, timings)[0]
    return render(
        request,
        "challenge.html",
        {
            "session": session,
            "nav": "challenges",
            "challenge": ChallengeOut.of(row),
            "result": result,
            "preview": preview,
            "job": job,
            "results": RESULTS,
        },
    )


@router.post("/challenges/{challenge_id}/resolve")
def resolve_challenge(
    challenge_id: str,
    request: Request,
    db: Db,
    wake: Wake,
    session: Acting,
    result: Annotated[str, Form(max_length=20)],
    pool: Annotated[int, Form(ge=0)],
) -> Response:
    cid = parse_id(challenge_id, "challenge")
    if result not in RESULTS:
        raise InvalidInput(f"result must be one of {', '.join(RESULTS)}")
    with AdminAction(request, db, session.principal).write(status=303) as conn:
        resolution = previews.resolve_as_previewed(conn, cid, result, pool)
        job = jobs.get_job(conn, resolution.job_id) if resolution.job_id else None
    wake.notify()
    label = RESULT_LABELS[result]
    if job is None:
        return redirect(
            f"/admin/challenges/{cid}",
            f"Challenge #{cid} resolved: {label}. Nobody staked, so there is nothing to pay.",
        )
    who = "winners" if job["kind"] == "payout" else "players"
    return redirect(
        f"{HOME}#job-{job['id']}",
        f"Challenge #{cid} resolved: {label}. {job['kind'].capitalize()} job queued"
        f" for {job['total_winners']:,} {who}.",
    )
