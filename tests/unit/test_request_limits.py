"""The body-size middleware reads no further than the limit, chunked or declared."""

from __future__ import annotations

import asyncio
import json

from payouts.web.limits import RequestLimits

LIMIT = 1024
CHUNK = 100


def _run(headers, chunks):
    """Send a request whose body arrives in `chunks` (None: endless) through the middleware;
    return (status, message, bytes the middleware pulled, body the app saw or None)."""
    pulled = 0
    sent = []
    seen = {}

    async def receive():
        nonlocal pulled
        if chunks is None:
            pulled += CHUNK
            return {"type": "http.request", "body": b"x" * CHUNK, "more_body": True}
        body = chunks.pop(0)
        pulled += len(body)
        return {"type": "http.request", "body": body, "more_body": bool(chunks)}

    async def send(message):
        sent.append(message)

    async def app(scope, receive, send):
        message = await receive()
        seen["body"] = message["body"]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/admin/users",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }
    asyncio.run(RequestLimits(app, max_body_bytes=LIMIT)(scope, receive, send))
    body = json.loads(sent[1]["body"]) if sent[0]["status"] != 200 else None
    return sent[0]["status"], body, pulled, seen.get("body")


def test_an_endless_chunked_body_is_refused_after_the_limit():
    status, body, pulled, seen = _run({"content-type": "application/json"}, None)
    assert status == 413
    assert body == {"message": f"request body is larger than the limit of {LIMIT} bytes"}
    assert pulled <= LIMIT + CHUNK
    assert seen is None


def test_a_declared_oversized_body_is_refused_unread():
    headers = {"content-type": "application/json", "content-length": str(LIMIT + 1)}
    status, _, pulled, seen = _run(headers, [b"x" * (LIMIT + 1)])
    assert (status, pulled, seen) == (413, 0, None)


def test_a_chunked_body_within_the_limit_reaches_the_app_whole():
    status, _, _, seen = _run({"content-type": "application/json"}, [b"{", b'"a"', b": 1}"])
    assert (status, seen) == (200, b'{"a": 1}')


def test_a_non_json_body_is_a_415_and_a_bad_length_a_400():
    status, body, _, _ = _run({"content-type": "text/csv", "content-length": "2"}, [b"a,"])
    assert status == 415 and "text/csv" in body["message"]
    status, body, _, _ = _run({"content-length": "lots"}, [b""])
    assert status == 400 and "Content-Length" in body["message"]
