"""Request limits, enforced before any route sees the request: a body larger than
`max_body_bytes` is refused with 413 without reading past the limit (also for chunked
bodies, which have no Content-Length), and an API body that is not JSON with 415."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

JSON_TYPES = ("application/json",)


class RequestLimits:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await _answer(send, 400, "Content-Length must be a number of bytes")
                return
            if int(declared) > self.max_body_bytes:
                await _answer(send, 413, self._too_large())
                return
            has_body = int(declared) > 0
        else:  # chunked, or no body at all: read up to the limit, never further
            buffered = await self._read_body(receive)
            if buffered is None:
                await _answer(send, 413, self._too_large())
                return
            has_body = bool(buffered)
            receive = _replay(buffered, receive)
        if has_body and scope["path"].startswith("/api/") and not _is_json(headers):
            got = headers.get("content-type", "none")
            await _answer(send, 415, f"Content-Type must be application/json (got {got[:100]!r})")
            return
        await self.app(scope, receive, send)

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it passes the limit."""
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return bytes(body)
            body.extend(message.get("body", b""))
            if len(body) > self.max_body_bytes:
                return None
            if not message.get("more_body", False):
                return bytes(body)

    def _too_large(self) -> str:
        return f"request body is larger than the limit of {self.max_body_bytes} bytes"


def _is_json(headers: dict[str, str]) -> bool:
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    return media_type in JSON_TYPES or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect, as servers do

    return replay


async def _answer(send: Send, status: int, message: str) -> None:
    body = json.dumps({"message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),  # the unread rest of the body is never read
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
