"""What a dashboard or a scraper reads without polling the JSON API: Prometheus metrics at
/metrics and a Server-Sent Events stream of a job's status."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import anyio
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from payouts.domain.vocabulary import SETTLED_JOB_STATUSES
from payouts.services import jobs
from payouts.storage.database import Database
from payouts.telemetry.metrics import CONTENT_TYPE_LATEST, PayoutMetrics
from payouts.web.deps import Db, Reader, parse_uuid
from payouts.web.progress_samples import timed
from payouts.web.schemas import JobStatusOut

# One primary-key read per stream per poll; changes reach the client within a poll.
POLL_SECONDS = 0.25
# A comment line now and then keeps proxies from closing a quiet stream.
KEEPALIVE_SECONDS = 15.0

router = APIRouter()


def install(app: FastAPI, db: Database) -> PayoutMetrics:
    """Give the app its metrics (queue gauges read from `db`) and these routes."""
    metrics = PayoutMetrics()
    metrics.watch_database(db)
    app.include_router(router)
    return metrics


@router.get("/metrics", tags=["health"], response_class=Response)
def prometheus_metrics(request: Request) -> Response:
    metrics: PayoutMetrics = request.app.state.metrics
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


@router.get(
    "/api/admin/payout-jobs/{job_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "status events"}},
)
async def job_events(job_id: str, request: Request, db: Db, _: Reader) -> StreamingResponse:
    """The job's status (the shape of .../status) now and at each change; the stream ends
    after the job completes or fails."""
    jid = parse_uuid(job_id, "payout job")
    first = await run_in_threadpool(_read_status, request, db, jid)  # unknown job: 404
    return StreamingResponse(
        _status_events(request, db, jid, first),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _read_status(request: Request, db: Database, job_id: uuid.UUID) -> JobStatusOut:
    with db.read() as conn:
        row = jobs.get_job(conn, job_id)
        return JobStatusOut.of(row, timed(request.app, conn, [row])[job_id])


def _server_stopping(request: Request) -> bool:
    """A stream stays open until its job ends; it must not hold up a server's stop.
    `payouts serve` puts its uvicorn Server in app.state.server for this check."""
    server = getattr(request.app.state, "server", None)
    return bool(server is not None and server.should_exit)


def _event(status: JobStatusOut) -> str:
    return f"data: {status.model_dump_json(by_alias=True)}\n\n"


async def _status_events(
    request: Request, db: Database, job_id: uuid.UUID, status: JobStatusOut
) -> AsyncIterator[str]:
    streams = request.app.state.metrics.event_streams
    streams.inc()
    try:
        yield _event(status)
        last_sent = time.monotonic()
        while status.status not in SETTLED_JOB_STATUSES:
            await anyio.sleep(POLL_SECONDS)
            if await request.is_disconnected() or _server_stopping(request):
                return
            current = await run_in_threadpool(_read_status, request, db, job_id)
            if current != status:
                status = current
                yield _event(status)
                last_sent = time.monotonic()
            elif time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
                yield ": keep-alive\n\n"
                last_sent = time.monotonic()
    finally:
        streams.dec()
