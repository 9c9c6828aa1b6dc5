"""LLM calls made through the gateway as a client makes them, and how each one ended.

    complete     a 200 answer read whole, or a stream that ended with ``data: [DONE]``
                 and carried no error event
    refused      an error status before any answer began (the status says which)
    interrupted  a stream that began, then carried an in-band error event and ended
                 with ``data: [DONE]``
    torn         the connection broke, or the stream ended another way: the client
                 cannot tell a cut answer from a finished one

Each call carries its own ``X-Request-ID`` (the llm-proxy logs it beside its own
request id) and its own tally tag at the LLM stand-in, so a test can follow every
call from the client through the request log to the usage ledger.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from journeys import Person


@dataclass
class LLMCall:
    person: Person
    index: int
    stream: bool
    words: int = 8
    delay_ms: int = 0  # between stream events
    sleep_ms: int = 0  # before the stand-in answers at all
    model: str = "gpt-4o-mini"
    extra: str = ""  # more stand-in directives ([[fail:…]], [[drop:K]], [[prompt:N]]…)
    request_id: str = ""
    ending: str = ""
    status: int | None = None
    told_tokens: int | None = None  # the usage the client was given
    began: bool = False  # some of the answer reached the client
    detail: str = ""

    def __post_init__(self) -> None:
        self.request_id = self.request_id or f"drill-{uuid.uuid4().hex[:12]}-{self.index}"

    @property
    def tag(self) -> str:
        """What the stand-in tallies this call's tokens under."""
        return f"{self.person.user_id}/{self.index}"

    @property
    def in_flight(self) -> bool:
        return self.began and not self.ending

    def body(self) -> dict[str, Any]:
        directives = f"[[words:{self.words}]] [[acct:{self.tag}]]"
        if self.delay_ms:
            directives += f" [[delay:{self.delay_ms}]]"
        if self.sleep_ms:
            directives += f" [[sleep:standin:{self.sleep_ms}]]"
        if self.extra:
            directives += f" {self.extra}"
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": f"call {self.index} {directives}"}],
            "max_tokens": 16,
        }
        if self.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    def __repr__(self) -> str:
        kind = "stream" if self.stream else "plain"
        return f"<{kind} call {self.index} {self.ending or 'running'} {self.status} {self.detail}>"


async def make_call(
    gateway: httpx.AsyncClient,
    call: LLMCall,
    on_end: Callable[[LLMCall], Awaitable[None]] | None = None,
) -> LLMCall:
    headers = {**call.person.headers, "X-Request-ID": call.request_id}
    try:
        if call.stream:
            await _streamed(gateway, headers, call)
        else:
            await _plain(gateway, headers, call)
    except httpx.HTTPError as exc:
        call.ending, call.detail = "torn", repr(exc)[:300]
    if on_end is not None:
        await on_end(call)
    return call


async def _plain(gateway: httpx.AsyncClient, headers: dict[str, str], call: LLMCall) -> None:
    response = await gateway.post("/v1/chat/completions", headers=headers, json=call.body())
    call.status = response.status_code
    if response.status_code != 200:
        call.ending, call.detail = "refused", response.text[:300]
        return
    call.began = True
    call.told_tokens = response.json()["usage"]["total_tokens"]
    call.ending = "complete"


async def _streamed(gateway: httpx.AsyncClient, headers: dict[str, str], call: LLMCall) -> None:
    async with gateway.stream(
        "POST", "/v1/chat/completions", headers=headers, json=call.body()
    ) as response:
        call.status = response.status_code
        if response.status_code != 200:
            call.ending = "refused"
            call.detail = (await response.aread())[:300].decode(errors="replace")
            return
        events: list[str] = []
        error: Any = None
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line.removeprefix("data:").strip()
            events.append(data)
            if data == "[DONE]":
                continue
            try:
                payload = json.loads(data)
            except ValueError:
                error = error or f"unreadable event {data[:80]!r}"
                continue
            if "error" in payload:
                error = error or payload["error"]
            elif payload.get("usage"):
                call.told_tokens = payload["usage"]["total_tokens"]
            elif payload.get("choices"):
                call.began = True
    if events.count("[DONE]") == 1 and events[-1] == "[DONE]":
        call.ending = "interrupted" if error else "complete"
        call.detail = str(error or "")[:300]
    else:
        call.ending, call.detail = "torn", f"no proper end: {events[-2:]!r}"


async def launch(
    gateway: httpx.AsyncClient,
    calls: list[LLMCall],
    every: float,
    on_end: Callable[[LLMCall], Awaitable[None]] | None = None,
) -> list[LLMCall]:
    """Start the calls ``every`` seconds apart, so some are always mid-answer."""

    async def later(position: int, call: LLMCall) -> LLMCall:
        await asyncio.sleep(position * every)
        return await make_call(gateway, call, on_end)

    return await asyncio.gather(*(later(p, c) for p, c in enumerate(calls)))
