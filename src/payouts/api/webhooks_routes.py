"""/api/admin/webhooks: the endpoints and their deliveries, as the CLI manages them."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response, status

from payouts.services import webhooks
from payouts.web.actions import AdminWrite
from payouts.web.deps import AppSettings, Db, Reader, parse_id
from payouts.web.event_schemas import (
    NewWebhookEndpoint,
    NewWebhookEndpointOut,
    PingOut,
    WebhookDeliveryOut,
    WebhookEndpointOut,
)
from payouts.web.schemas import ERROR_RESPONSES

router = APIRouter(prefix="/api/admin", responses=ERROR_RESPONSES)
EndpointIdPath = Annotated[str, Path(description="A webhook endpoint's id", examples=["1"])]
DeliveryIdPath = Annotated[str, Path(description="A webhook delivery's id", examples=["1"])]


@router.get("/webhooks")
def list_endpoints(db: Db, _: Reader) -> list[WebhookEndpointOut]:
    with db.read() as conn:
        return [WebhookEndpointOut(**row) for row in webhooks.list_all(conn)]


@router.post("/webhooks", status_code=status.HTTP_201_CREATED)
def add_endpoint(body: NewWebhookEndpoint, action: AdminWrite) -> NewWebhookEndpointOut:
    """Add an endpoint. The answer holds its signing secret: the only time it is shown."""
    types = ",".join(body.events) if body.events else None
    with action.write() as conn:
        made = webhooks.add(conn, body.url, types, body.description)
        shown = webhooks.describe(conn, webhooks.get(conn, made.id))
    return NewWebhookEndpointOut(**shown, secret=made.secret)


@router.get("/webhooks/{endpoint_id}")
def get_endpoint(endpoint_id: EndpointIdPath, db: Db, _: Reader) -> WebhookEndpointOut:
    with db.read() as conn:
        endpoint = webhooks.get(conn, parse_id(endpoint_id, "webhook endpoint"))
        return WebhookEndpointOut(**webhooks.describe(conn, endpoint))


@router.delete("/webhooks/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_endpoint(endpoint_id: EndpointIdPath, action: AdminWrite) -> Response:
    with action.write() as conn:
        webhooks.remove(conn, parse_id(endpoint_id, "webhook endpoint"))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _set_enabled(endpoint_id: str, action: AdminWrite, enabled: bool) -> WebhookEndpointOut:
    with action.write() as conn:
        endpoint = webhooks.set_enabled(conn, parse_id(endpoint_id, "webhook endpoint"), enabled)
        return WebhookEndpointOut(**webhooks.describe(conn, endpoint))


@router.post("/webhooks/{endpoint_id}/disable")
def disable_endpoint(endpoint_id: EndpointIdPath, action: AdminWrite) -> WebhookEndpointOut:
    return _set_enabled(endpoint_id, action, False)


@router.post("/webhooks/{endpoint_id}/enable")
def enable_endpoint(endpoint_id: EndpointIdPath, action: AdminWrite) -> WebhookEndpointOut:
    return _set_enabled(endpoint_id, action, True)


@router.post("/webhooks/{endpoint_id}/test")
def test_endpoint(
    endpoint_id: EndpointIdPath, action: AdminWrite, settings: AppSettings
) -> PingOut:
    """Send a signed ping now (not stored) and say what the receiver answered."""
    with action.write() as conn:  # audited; the POST goes out after the commit
        endpoint = webhooks.get(conn, parse_id(endpoint_id, "webhook endpoint"))
    answer = webhooks.ping(endpoint, settings.webhook_timeout_seconds)
    return PingOut(ok=answer.ok, status=answer.status, error=answer.error, seconds=answer.seconds)


@router.get("/webhooks/{endpoint_id}/deliveries")
def list_deliveries(
    endpoint_id: EndpointIdPath,
    db: Db,
    _: Reader,
    delivery_status: Annotated[
        Literal["pending", "delivered", "failed"] | None, Query(alias="status")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[WebhookDeliveryOut]:
    with db.read() as conn:
        rows = webhooks.deliveries(
            conn, parse_id(endpoint_id, "webhook endpoint"), delivery_status, limit
        )
    return [WebhookDeliveryOut(**row) for row in rows]


@router.post("/webhook-deliveries/{delivery_id}/resend")
def resend_delivery(delivery_id: DeliveryIdPath, action: AdminWrite) -> WebhookDeliveryOut:
    with action.write() as conn:
        return WebhookDeliveryOut(
            **webhooks.resend(conn, parse_id(delivery_id, "webhook delivery"))
        )
