"""One signed webhook POST (Standard Webhooks: webhook-id, webhook-timestamp and
webhook-signature headers, signed by the `standardwebhooks` library)."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from standardwebhooks.webhooks import Webhook

from payouts.storage.clock import utcnow

if TYPE_CHECKING:  # httpx is imported when the first POST goes out, not at process start
    import httpx

USER_AGENT = "payouts-webhooks/1"
# httpx logs every request at INFO: a line per POST would drown the worker's log.
logging.getLogger("httpx").setLevel(logging.WARNING)


@dataclass(frozen=True, slots=True)
class Answer:
    ok: bool
    status: int | None
    error: str | None
    seconds: float


def body_of(events: list[dict[str, Any]]) -> str:
    return json.dumps({"events": events}, separators=(",", ":"))


def post(
    client: httpx.Client, url: str, secret: str, message_id: str, body: str, timeout: float
) -> Answer:
    """POST `body` signed with `secret`. A 2xx answer is a success; any other status, a
    timeout, a refused connection or a TLS error is a failure (with its reason)."""
    import httpx

    now = utcnow()
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, now, body),
    }
    began = time.perf_counter()
    try:
        response = client.post(url, content=body.encode(), headers=headers, timeout=timeout)
    except httpx.TimeoutException:
        return Answer(False, None, f"timed out after {timeout:g} s", time.perf_counter() - began)
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        return Answer(False, None, f"{type(exc).__name__}: {reason}", time.perf_counter() - began)
    seconds = time.perf_counter() - began
    if 200 <= response.status_code < 300:
        return Answer(True, response.status_code, None, seconds)
    return Answer(False, response.status_code, f"HTTP {response.status_code}", seconds)


def new_client() -> httpx.Client:
    import httpx

    return httpx.Client()
