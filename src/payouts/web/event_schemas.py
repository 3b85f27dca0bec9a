"""Response bodies of the event feed and the webhook endpoints (camelCase JSON)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import StringConstraints

from payouts.domain.vocabulary import DeliveryStatus, EventType
from payouts.storage.events import Event
from payouts.web.schemas import NO_NUL_PATTERN, Body, Out


class EventOut(Out):
    """An event as receivers get it, in the feed and in webhook deliveries."""

    id: str
    type: EventType
    timestamp: str
    data: dict[str, Any]

    @classmethod
    def of(cls, event: Event) -> EventOut:
        return cls(**event.as_json())


class EventsPage(Out):
    events: list[EventOut]
    next: str  # the cursor to pass as `after` next time (opaque)


class WebhookEndpointOut(Out):
    """An endpoint as the API and `payouts webhooks list` show it: never its secret."""

    id: int
    url: str
    description: str | None
    event_types: list[EventType] | None  # None: every type
    enabled: bool
    disabled_reason: str | None
    last_success_at: str | None
    failing_since: str | None
    last_error: str | None
    backlog: int  # events not handed to a delivery yet
    pending_deliveries: int
    failed_deliveries: int
    created_at: str


class NewWebhookEndpointOut(WebhookEndpointOut):
    secret: str  # shown once, when the endpoint is created


class WebhookDeliveryOut(Out):
    id: int
    endpoint_id: int
    status: DeliveryStatus
    event_count: int
    attempts: int
    next_attempt_at: str | None
    last_error: str | None
    created_at: str
    delivered_at: str | None


class NewWebhookEndpoint(Body):
    url: Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=NO_NUL_PATTERN)]
    # None or empty: every type; checked against the known types (422 for an unknown one)
    events: list[Annotated[str, StringConstraints(max_length=40)]] | None = None
    description: (
        Annotated[str, StringConstraints(max_length=200, pattern=NO_NUL_PATTERN)] | None
    ) = None


class PingOut(Out):
    ok: bool
    status: int | None
    error: str | None
    seconds: float
