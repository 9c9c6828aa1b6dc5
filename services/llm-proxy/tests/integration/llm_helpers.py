"""Small helpers the integration tests share."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tollgate.llm_proxy.models import RequestLog


def chat(content: str, model: str = "gpt-test", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], **extra}


async def logged(engine: AsyncEngine, user_id: uuid.UUID) -> list[RequestLog]:
    async with AsyncSession(engine) as session:
        rows = await session.scalars(
            select(RequestLog).where(RequestLog.user_id == user_id).order_by(RequestLog.started_at)
        )
        return list(rows)


async def read_sse(response: httpx.Response) -> list[Any]:
    """Every ``data:`` payload of a streamed response, parsed (``[DONE]`` kept as a string)."""
    events: list[Any] = []
    async for line in response.aiter_lines():
        if line.startswith("data: "):
            data = line[6:]
            events.append(data if data == "[DONE]" else orjson.loads(data))
    return events


def streamed_text(events: list[Any]) -> str:
    return "".join(
        (e["choices"][0]["delta"].get("content") or "")
        for e in events
        if isinstance(e, dict) and e.get("choices")
    )
