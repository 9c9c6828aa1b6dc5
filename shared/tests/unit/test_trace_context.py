"""A service without an exporter makes no spans, but keeps its caller's trace."""

import httpx
from fastapi import FastAPI
from opentelemetry import trace

from tollgate.shared.web import create_service_app

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


def make_app() -> FastAPI:
    app = create_service_app(service="test", title="test", lifespan=None, readiness={})

    @app.get("/seen")
    async def seen() -> dict[str, object]:
        span = trace.get_current_span()
        context = span.get_span_context()
        return {
            "trace_id": format(context.trace_id, "032x"),
            "span_id": format(context.span_id, "016x"),
            "recording": span.is_recording(),
        }

    return app


async def get_seen(headers: dict[str, str]) -> dict[str, object]:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/seen", headers=headers)
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


async def test_the_callers_trace_is_current_in_a_handler_without_recording_a_span() -> None:
    seen = await get_seen({"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"})
    # The caller's span is the current context: logs and events carry this trace on.
    assert seen == {"trace_id": CALLER_TRACE, "span_id": CALLER_SPAN, "recording": False}


async def test_a_request_without_trace_context_has_none() -> None:
    seen = await get_seen({})
    assert seen["trace_id"] == "0" * 32
    assert seen["recording"] is False
