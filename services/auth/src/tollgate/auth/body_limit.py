"""Refuse oversized request bodies before they are read: auth takes small JSON and forms only."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from tollgate.shared.errors import problem_response

MAX_BODY_BYTES = 64 * 1024


class BodyLimitMiddleware:
    def __init__(self, app: Any, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        too_big = declared is not None and (
            not declared.isdigit() or int(declared) > self.max_bytes
        )
        if too_big:
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def counting_receive() -> MutableMapping[str, Any]:
            nonlocal seen
            message: MutableMapping[str, Any] = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _BodyTooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        response = problem_response(
            413,
            "payload-too-large",
            "Request body too large",
            f"Request bodies are limited to {self.max_bytes} bytes",
            scope.get("path"),
        )
        await response(scope, receive, send)


class _BodyTooLarge(Exception):
    pass
