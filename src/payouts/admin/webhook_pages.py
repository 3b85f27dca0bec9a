"""The admin UI's webhooks page: each endpoint with its state, last success, backlog, last
error and failed deliveries, with a button to send a failed delivery again (admins only,
CSRF-checked like every admin action)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from payouts.admin.rendering import AdminRoute, redirect, render
from payouts.admin.session import Acting, Session
from payouts.services import webhooks
from payouts.web.actions import AdminAction
from payouts.web.deps import Db, parse_id

router = APIRouter(prefix="/admin", route_class=AdminRoute, include_in_schema=False)

PAGE = "/admin/webhooks"
FAILED_SHOWN = 20


@router.get("/webhooks")
def webhooks_page(request: Request, db: Db, session: Session) -> Response:
    with db.read() as conn:
        endpoints = webhooks.list_all(conn)
        failed = {
            endpoint["id"]: webhooks.deliveries(conn, endpoint["id"], "failed", FAILED_SHOWN)
            for endpoint in endpoints
        }
    return render(
        request,
        "webhooks.html",
        {"session": session, "nav": "webhooks", "endpoints": endpoints, "failed": failed},
    )


@router.post("/webhook-deliveries/{delivery_id}/resend")
def resend_delivery(
    delivery_id: str,
    request: Request,
    db: Db,
    session: Acting,
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    did = parse_id(delivery_id, "webhook delivery")
    with AdminAction(request, db, session.principal).write(status=303) as conn:
        sent = webhooks.resend(conn, did)
    return redirect(
        f"{PAGE}#endpoint-{sent['endpoint_id']}",
        f"Delivery {did} ({sent['event_count']} events) will be sent again.",
    )
