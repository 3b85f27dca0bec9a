"""Webhook endpoints as operators manage them (CLI and admin API): add, list, remove,
disable, enable, resend a failed delivery, send a test ping. Input is checked before
anything is written: a bad URL, an unknown event type, a duplicate URL or an unknown id
changes nothing."""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, RowMapping

from payouts.domain.errors import Conflict, InvalidInput, NotFound
from payouts.services.events import parse_types
from payouts.services.webhook_sender import Answer, body_of, new_client, post
from payouts.storage import webhooks
from payouts.storage.clock import iso_utc, utcnow

MAX_URL = 2000
MAX_DESCRIPTION = 200


def new_secret() -> str:
    """A signing secret in the whsec_ form every Standard Webhooks library accepts."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def check_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"url: {url[:100]!r} is not an http:// or https:// URL with a host")
    if len(url) > MAX_URL:
        raise InvalidInput(f"url: at most {MAX_URL} characters")
    return url


@dataclass(frozen=True, slots=True)
class NewEndpoint:
    id: int
    secret: str


def add(
    conn: Connection, url: str, types: str | None = None, description: str | None = None
) -> NewEndpoint:
    url = check_url(url)
    wanted = parse_types(types)
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise InvalidInput(f"description: at most {MAX_DESCRIPTION} characters")
    if webhooks.endpoint_with_url(conn, url) is not None:
        raise Conflict(f"url: an endpoint for {url} exists already")
    secret = new_secret()
    return NewEndpoint(webhooks.create_endpoint(conn, url, description, wanted, secret), secret)


def get(conn: Connection, endpoint_id: int) -> RowMapping:
    endpoint = webhooks.get_endpoint(conn, endpoint_id)
    if endpoint is None:
        raise NotFound(f"webhook endpoint {endpoint_id} not found")
    return endpoint


def describe(conn: Connection, endpoint: RowMapping) -> dict[str, Any]:
    """What the API, the CLI and the admin page show of an endpoint: never its secret."""
    counts = webhooks.delivery_counts(conn, endpoint["id"])
    return {
        "id": endpoint["id"],
        "url": endpoint["url"],
        "description": endpoint["description"],
        "event_types": webhooks.types_of(endpoint),
        "enabled": endpoint["enabled"],
        "disabled_reason": endpoint["disabled_reason"],
        "last_success_at": iso_utc(endpoint["last_success_at"]),
        "failing_since": iso_utc(endpoint["failing_since"]),
        "last_error": endpoint["last_error"],
        "backlog": webhooks.backlog_of(conn, endpoint),
        "pending_deliveries": counts.get("pending", 0),
        "failed_deliveries": counts.get("failed", 0),
        "created_at": iso_utc(endpoint["created_at"]) or "",
    }


def list_all(conn: Connection) -> list[dict[str, Any]]:
    return [describe(conn, endpoint) for endpoint in webhooks.list_endpoints(conn)]


def remove(conn: Connection, endpoint_id: int) -> None:
    get(conn, endpoint_id)
    webhooks.delete_endpoint(conn, endpoint_id)


def set_enabled(conn: Connection, endpoint_id: int, enabled: bool) -> RowMapping:
    get(conn, endpoint_id)
    webhooks.set_enabled(conn, endpoint_id, enabled, "disabled by an operator")
    return get(conn, endpoint_id)


def deliveries(
    conn: Connection, endpoint_id: int, status: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    get(conn, endpoint_id)
    return [
        describe_delivery(row) for row in webhooks.list_deliveries(conn, endpoint_id, status, limit)
    ]


def describe_delivery(row: RowMapping) -> dict[str, Any]:
    return {
        "id": row["id"],
        "endpoint_id": row["endpoint_id"],
        "status": row["status"],
        "event_count": row["event_count"],
        "attempts": row["attempts"],
        "next_attempt_at": iso_utc(row["next_attempt_at"]) if row["status"] == "pending" else None,
        "last_error": row["last_error"],
        "created_at": iso_utc(row["created_at"]) or "",
        "delivered_at": iso_utc(row["delivered_at"]),
    }


def resend(conn: Connection, delivery_id: int) -> dict[str, Any]:
    """A failed delivery goes out again (from its first attempt) with the next round."""
    row = webhooks.get_delivery(conn, delivery_id)
    if row is None:
        raise NotFound(f"webhook delivery {delivery_id} not found")
    if not webhooks.resend(conn, delivery_id):
        raise Conflict(f"webhook delivery {delivery_id} is {row['status']}; only failed ones")
    fresh = webhooks.get_delivery(conn, delivery_id)
    assert fresh is not None
    return describe_delivery(fresh)


def ping(endpoint: RowMapping, timeout: float) -> Answer:
    """A signed test delivery (a `webhook.test` event), sent now; it is not stored."""
    event = {
        "id": f"evt_test_{uuid.uuid4().hex}",
        "type": "webhook.test",
        "timestamp": iso_utc(utcnow()),
        "data": {"endpointId": endpoint["id"]},
    }
    with new_client() as client:
        return post(
            client,
            endpoint["url"],
            endpoint["secret"],
            f"msg_test_{uuid.uuid4().hex}",
            body_of([event]),
            timeout,
        )
