"""GET /api/admin/events: the event feed, read with an opaque cursor (docs/events.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from payouts.services import events
from payouts.web.deps import AppSettings, Db, Reader
from payouts.web.event_schemas import EventOut, EventsPage
from payouts.web.schemas import ERROR_RESPONSES

router = APIRouter(prefix="/api/admin", responses=ERROR_RESPONSES)


@router.get("/events", responses={410: {"description": "The cursor is older than the retention"}})
def read_events(
    db: Db,
    _: Reader,
    settings: AppSettings,
    after: Annotated[
        str | None, Query(max_length=200, description="`next` of the last page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=events.MAX_LIMIT)] = events.DEFAULT_LIMIT,
    types: Annotated[
        str | None, Query(max_length=500, description="comma-separated event types")
    ] = None,
) -> EventsPage:
    """Committed events after the cursor, oldest first; pass `next` as `after` next time.
    A consumer that does never misses an event and never sees one twice."""
    wanted = events.parse_types(types)
    with db.read() as conn:
        page = events.read_page(conn, after, limit, wanted, settings.event_retention)
    return EventsPage(events=[EventOut.of(e) for e in page.events], next=page.next.encode())
