"""A stand-in LLM provider on loopback, for tests, benchmarks and demos.

``FakeProvider`` speaks OpenAI's chat/completions/embeddings and Anthropic's
Messages API, streamed or not. What it does is steered by directives written in
the prompt, so concurrent calls can each ask for their own behaviour:

    [[words:N]]        answer N one-token words (default 6, capped by max_tokens)
    [[fail:NAME:CODE]] the provider called NAME answers HTTP CODE
    [[firstbreak:NAME]] NAME answers 200 then closes before any event
    [[drop:K]]         stream: cut the connection after K words (no usage, no [DONE])
    [[errorevent:K]]   stream: after K words send an in-band error and end
    [[stall:K]]        stream: after K words go quiet for ``stall_seconds``
    [[nousage]]        report no usage at all
    [[prompt:N]]       report N prompt tokens
    [[delay:MS]]       wait MS between stream events
    [[sleep:NAME:MS]]  the provider called NAME waits MS before answering at all
    [[acct:ID]]        tally what was produced under ID

Each provider keeps a tally of the tokens it produced (prompt + words sent),
which is what the upstream would bill us: the ledger tests compare against it.

Run alone for development or a demo without provider accounts:

    python -m tollgate.standins.llm --port 12112
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tollgate.llm_proxy.metering.tokens import counter_for
from tollgate.shared.testing import free_port

WORDS = [" the", " cat", " dog", " sat", " on", " mat", " and", " ran", " far", " away"]
DIRECTIVE = re.compile(r"\[\[(\w+)(?::([^\]]*))?\]\]")


def directives(text: str) -> dict[str, str]:
    return {m.group(1): m.group(2) or "" for m in DIRECTIVE.finditer(text)}


def _text_of(body: dict[str, Any]) -> str:
    if "messages" in body:
        parts = []
        for m in body["messages"]:
            content = m.get("content")
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
        return " ".join(parts) + " " + str(body.get("system", ""))
    prompt = body.get("prompt", body.get("input", ""))
    return prompt if isinstance(prompt, str) else " ".join(map(str, prompt))


@dataclass
class Produced:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class FakeProvider:
    name: str
    latency: float = 0.0  # before the status line
    stall_seconds: float = 2.0
    calls: int = 0
    produced: dict[str, Produced] = field(default_factory=lambda: defaultdict(Produced))
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self, host: str = "127.0.0.1", port: int | None = None) -> str:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.openai)
        app.router.add_post("/v1/completions", self.openai)
        app.router.add_post("/v1/embeddings", self.embeddings)
        app.router.add_post("/v1/messages", self.anthropic)
        self._runner = web.AppRunner(app, handler_cancellation=True)
        await self._runner.setup()
        port = port or free_port()
        await web.TCPSite(self._runner, host, port).start()
        self.url = f"http://{host}:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def reset(self) -> None:
        self.calls = 0
        self.produced.clear()
        self.requests.clear()

    # -- common ---------------------------------------------------------------

    async def _begin(
        self, request: web.Request
    ) -> tuple[dict[str, Any], dict[str, str]] | web.Response:
        body = await request.json()
        self.calls += 1
        self.requests.append(body)
        d = directives(_text_of(body))
        if self.latency:
            await asyncio.sleep(self.latency)
        name, _, pause = d.get("sleep", "").partition(":")
        if name == self.name:
            await asyncio.sleep(int(pause) / 1000)
        fail = d.get("fail", "")
        for item in filter(None, fail.split(",")):
            name, _, code = item.partition(":")
            if name == self.name:
                status = int(code)
                headers = {"Retry-After": "1"} if status == 429 else {}
                return web.json_response(
                    {"error": {"message": f"{self.name} says {status}", "type": "server_error"}},
                    status=status,
                    headers=headers,
                )
        return body, d

    def _words(self, body: dict[str, Any], d: dict[str, str]) -> list[str]:
        wanted = int(d.get("words") or 6)
        cap = body.get("max_tokens") or body.get("max_completion_tokens") or wanted
        return [WORDS[i % len(WORDS)] for i in range(min(wanted, int(cap)))]

    def _tally(
        self, d: dict[str, str], prompt: int = 0, completion: int = 0, call: bool = False
    ) -> None:
        entry = self.produced[d.get("acct", "")]
        entry.prompt_tokens += prompt
        entry.completion_tokens += completion
        entry.calls += int(call)

    async def _sse(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        return response

    # -- OpenAI -----------------------------------------------------------------

    async def openai(self, request: web.Request) -> web.StreamResponse:
        begun = await self._begin(request)
        if isinstance(begun, web.Response):
            return begun
        body, d = begun
        chat = "messages" in body
        if "prompt" in d:
            prompt = int(d["prompt"])
        elif chat:
            prompt = counter_for("o200k_base").count_messages(body["messages"], body.get("tools"))
        else:
            prompt = counter_for("o200k_base").count(_text_of(body))
        words = self._words(body, d)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": len(words),
            "total_tokens": prompt + len(words),
        }
        if not body.get("stream"):
            self._tally(d, prompt, len(words), call=True)
            if chat:
                choice: dict[str, Any] = {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(words)},
                    "finish_reason": "stop",
                }
            else:
                choice = {"index": 0, "text": "".join(words), "finish_reason": "stop"}
            reply: dict[str, Any] = {
                "id": f"cmpl-{uuid.uuid4().hex}",
                "object": "chat.completion" if chat else "text_completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [choice],
            }
            if "nousage" not in d:
                reply["usage"] = usage
            return web.json_response(reply)
        return await self._openai_stream(request, body, d, chat, prompt, words, usage)

    async def _openai_stream(
        self,
        request: web.Request,
        body: dict[str, Any],
        d: dict[str, str],
        chat: bool,
        prompt: int,
        words: list[str],
        usage: dict[str, int],
    ) -> web.StreamResponse:
        response = await self._sse(request)
        if d.get("firstbreak") == self.name:
            assert request.transport is not None
            request.transport.close()
            return response
        self._tally(d, prompt, 0, call=True)
        delay = int(d.get("delay") or 0) / 1000
        cid = f"chatcmpl-{uuid.uuid4().hex}"
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(
            delta: dict[str, Any] | None, text: str | None = None, finish: str | None = None
        ) -> bytes:
            choice: dict[str, Any] = {"index": 0, "finish_reason": finish}
            if chat:
                choice["delta"] = delta or {}
            else:
                choice["text"] = text or ""
            payload = {
                "id": cid,
                "object": "chat.completion.chunk" if chat else "text_completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [choice],
            }
            return b"data: " + orjson.dumps(payload) + b"\n\n"

        if chat:
            await response.write(chunk({"role": "assistant", "content": ""}))
        for i, word in enumerate(words):
            if "drop" in d and i == int(d["drop"]):
                assert request.transport is not None
                request.transport.close()
                return response
            if "errorevent" in d and i == int(d["errorevent"]):
                await response.write(b'data: {"error": {"message": "upstream overloaded"}}\n\n')
                await response.write_eof()
                return response
            if "stall" in d and i == int(d["stall"]):
                await asyncio.sleep(self.stall_seconds)
                return response
            if delay:
                await asyncio.sleep(delay)
            await response.write(chunk({"content": word}, word))
            self._tally(d, 0, 1)
        await response.write(chunk({}, "", "stop"))
        if include_usage and "nousage" not in d:
            payload = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [],
                "usage": usage,
            }
            await response.write(b"data: " + orjson.dumps(payload) + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        begun = await self._begin(request)
        if isinstance(begun, web.Response):
            return begun
        body, d = begun
        items = body["input"] if isinstance(body["input"], list) else [body["input"]]
        prompt = sum(counter_for("cl100k_base").count(str(i)) for i in items)
        self._tally(d, prompt, 0, call=True)
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]}
                    for i in range(len(items))
                ],
                "model": body["model"],
                "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
            }
        )

    # -- Anthropic -------------------------------------------------------------

    async def anthropic(self, request: web.Request) -> web.StreamResponse:
        begun = await self._begin(request)
        if isinstance(begun, web.Response):
            return begun
        body, d = begun
        assert request.headers.get("anthropic-version"), "Anthropic needs its version header"
        assert isinstance(body.get("max_tokens"), int), "Anthropic needs max_tokens"
        # Anthropic counts with its own tokenizer; ours cannot predict it exactly.
        prompt = int(d["prompt"]) if "prompt" in d else 7 + len(_text_of(body).split())
        words = self._words(body, d)
        message_id = f"msg_{uuid.uuid4().hex}"
        if not body.get("stream"):
            self._tally(d, prompt, len(words), call=True)
            return web.json_response(
                {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": body["model"],
                    "content": [{"type": "text", "text": "".join(words)}],
                    "stop_reason": "end_turn",
                    "usage": {"input_tokens": prompt, "output_tokens": len(words)},
                }
            )
        response = await self._sse(request)
        self._tally(d, prompt, 0, call=True)
        delay = int(d.get("delay") or 0) / 1000

        async def event(name: str, payload: dict[str, Any]) -> None:
            await response.write(
                f"event: {name}\n".encode()
                + b"data: "
                + orjson.dumps({"type": name, **payload})
                + b"\n\n"
            )

        await event(
            "message_start",
            {
                "message": {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "model": body["model"],
                    "usage": {"input_tokens": prompt, "output_tokens": 1},
                }
            },
        )
        await event(
            "content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}
        )
        await response.write(b'event: ping\ndata: {"type": "ping"}\n\n')
        for i, word in enumerate(words):
            if "drop" in d and i == int(d["drop"]):
                assert request.transport is not None
                request.transport.close()
                return response
            if "errorevent" in d and i == int(d["errorevent"]):
                await event(
                    "error", {"error": {"type": "overloaded_error", "message": "Overloaded"}}
                )
                await response.write_eof()
                return response
            if delay:
                await asyncio.sleep(delay)
            await event(
                "content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": word}}
            )
            self._tally(d, 0, 1)
        await event("content_block_stop", {"index": 0})
        await event(
            "message_delta",
            {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": len(words)}},
        )
        await event("message_stop", {})
        await response.write_eof()
        return response


def main() -> None:
    import argparse
    import contextlib

    parser = argparse.ArgumentParser(description="A local LLM provider stand-in.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12112)
    parser.add_argument("--name", default="standin")
    args = parser.parse_args()

    async def serve() -> None:
        provider = FakeProvider(args.name)
        await provider.start(args.host, args.port)
        print(
            f"LLM stand-in on {provider.url} (OpenAI at /v1, Anthropic at /v1/messages)", flush=True
        )
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
