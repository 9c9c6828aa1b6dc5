"""A stand-in for the four services on loopback: it records what reached it.

It serves the public paths the gateway routes (echoing what it received), an SSE
stream it releases one event at a time, a slow answer, and auth's two internal
routes (service token, API-key introspection).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tollgate.shared.testing import free_port


@dataclass
class StandIn:
    url: str = ""
    seen: list[dict[str, Any]] = field(default_factory=list)
    # API key -> introspection answer auth would give.
    api_keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    introspections: list[str] = field(default_factory=list)
    service_token: str = "service-token"
    # The SSE stream sends its next event when the test sets this.
    next_event: asyncio.Event = field(default_factory=asyncio.Event)
    stream_ended: asyncio.Event = field(default_factory=asyncio.Event)
    stream_cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    openapi: dict[str, Any] = field(default_factory=dict)
    # Bodies of OTLP/HTTP span exports received at /v1/traces.
    trace_exports: list[bytes] = field(default_factory=list)

    def last(self) -> dict[str, Any]:
        return self.seen[-1]


def build(standin: StandIn) -> web.Application:
    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        record = {
            "method": request.method,
            "path": request.path_qs,
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "body": body.decode(errors="replace"),
        }
        standin.seen.append(record)
        response = web.json_response({"ok": True, "path": request.path})
        response.headers["X-Upstream"] = "yes"
        response.headers["Keep-Alive"] = "timeout=5"
        return response

    async def stream(request: web.Request) -> web.StreamResponse:
        standin.seen.append({"method": request.method, "path": request.path})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            for i in range(3):
                await response.write(f"data: {json.dumps({'n': i})}\n\n".encode())
                await standin.next_event.wait()
                standin.next_event.clear()
            await response.write(b"data: [DONE]\n\n")
            standin.stream_ended.set()
        except (asyncio.CancelledError, ConnectionResetError):
            standin.stream_cancelled.set()
            raise
        return response

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("seconds", "5")))
        return web.json_response({"late": True})

    async def service_token(request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"detail": "bad grant"}, status=400)
        return web.json_response(
            {"access_token": standin.service_token, "token_type": "bearer", "expires_in": 900}
        )

    async def introspect(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {standin.service_token}":
            return web.json_response({"detail": "service token required"}, status=401)
        key = (await request.json())["key"]
        standin.introspections.append(key)
        return web.json_response(standin.api_keys.get(key, {"active": False}))

    async def chat(request: web.Request) -> web.StreamResponse:
        """Just enough of OpenAI's chat completions for the official SDK."""
        body = await request.json()
        standin.seen.append(
            {
                "method": "POST",
                "path": request.path,
                "headers": {k.lower(): v for k, v in request.headers.items()},
            }
        )
        base = {"id": "chatcmpl-1", "created": 0, "model": body["model"]}
        if not body.get("stream"):
            return web.json_response(
                {
                    **base,
                    "object": "chat.completion",
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": "hello"},
                        }
                    ],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
                },
                headers={"X-Tollgate-Tokens-Remaining": "99996"},
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for word in ("hel", "lo"):
            chunk = {
                **base,
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}],
            }
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        return response

    async def traces(request: web.Request) -> web.Response:
        standin.trace_exports.append(await request.read())
        return web.Response(status=200, content_type="application/x-protobuf")

    async def moved(request: web.Request) -> web.Response:
        """FastAPI's trailing-slash redirect: to the service's own, internal address."""
        raise web.HTTPTemporaryRedirect(f"{standin.url}/api/users/profile?from=moved")

    async def openapi(_request: web.Request) -> web.Response:
        return web.json_response(standin.openapi)

    app = web.Application()
    app.router.add_get("/v1/stream", stream)
    app.router.add_post("/v1/chat/completions/stream", stream)
    app.router.add_get("/api/usage/slow", slow)
    app.router.add_get("/v1/slow", slow)
    app.router.add_post("/internal/service-token", service_token)
    app.router.add_post("/internal/api-keys/introspect", introspect)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/api/users/moved", moved)
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/v1/traces", traces)
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


async def start(standin: StandIn) -> web.AppRunner:
    runner = web.AppRunner(build(standin), handler_cancellation=True)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    standin.url = f"http://127.0.0.1:{port}"
    return runner
