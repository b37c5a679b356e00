"""Request body size limit: a too-large body gets a 413 in the shared error shape, before
the app reads it into memory.

Segments are a few hundred bytes; reports a few kilobytes. 256 KiB leaves room for any
legitimate request and refuses a memory-filling one (MAX_BODY_BYTES overrides it).
"""

from __future__ import annotations

import json
import logging
import os

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.errors import error_body

DEFAULT_MAX_BODY_BYTES = 256 * 1024


class TooLarge(HTTPException):
    """Raised while the body is read; an HTTPException, so FastAPI passes it through (not
    "error parsing the body") and the shared handler answers 413 in the error shape."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        self.limit = int(os.environ.get("MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, send)
            return

        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise TooLarge(self.limit)
            return message

        # A chunked body without Content-Length is caught while being read.
        await self.app(scope, counting_receive, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        # Refused before the app sees it, so the error handlers' line is written here.
        logging.getLogger(f"haptitalk.{self.service}").info(
            "%s %s -> 413 payload_too_large: declared %s bytes, limit %d", scope["method"],
            scope["path"], dict(scope["headers"]).get(b"content-length", b"?").decode(),
            self.limit)
        body = json.dumps(error_body(
            self.service, "payload_too_large",
            f"request body larger than {self.limit} bytes")).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
