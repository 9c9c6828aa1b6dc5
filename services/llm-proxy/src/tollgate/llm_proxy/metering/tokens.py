"""Offline token counts, used for the hold estimate and when an upstream reports no usage.

The counts follow OpenAI's published accounting for chat messages (a few tokens of
framing per message and for the reply's priming), so they match what OpenAI
upstreams report for plain text; other upstreams count with their own tokenizers,
which is why their reported usage always wins when they send one.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import bpe_openai
import orjson

__all__ = ["TokenCounter", "counter_for"]

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3
# OpenAI bills a low-detail image at 85 tokens; the hold assumes at least that.
TOKENS_PER_IMAGE = 85


class TokenCounter:
    def __init__(self, encoding_name: str) -> None:
        self._encoding = bpe_openai.get_encoding(encoding_name)

    def count(self, text: str) -> int:
        if not text:
            return 0
        # Text that looks like a special token is counted as ordinary text, as upstreams do.
        return len(self._encoding.encode(text, disallowed_special=()))

    def count_content(self, content: Any) -> int:
        if content is None:
            return 0
        if isinstance(content, str):
            return self.count(content)
        total = 0
        for part in content if isinstance(content, list) else [content]:
            if isinstance(part, dict):
                if part.get("type") == "text":
                    total += self.count(str(part.get("text", "")))
                elif part.get("type") in ("image_url", "input_image", "image"):
                    total += TOKENS_PER_IMAGE
                else:
                    total += self.count(orjson.dumps(part).decode())
            else:
                total += self.count(str(part))
        return total

    def count_messages(self, messages: list[dict[str, Any]], tools: Any = None) -> int:
        total = REPLY_PRIMING
        for message in messages:
            total += TOKENS_PER_MESSAGE + self.count(str(message.get("role", "")))
            total += self.count_content(message.get("content"))
            if message.get("name"):
                total += TOKENS_PER_NAME + self.count(str(message["name"]))
            if message.get("tool_calls"):
                total += self.count(orjson.dumps(message["tool_calls"]).decode())
        if tools:
            total += self.count(orjson.dumps(tools).decode())
        return total


@lru_cache(maxsize=4)
def counter_for(encoding_name: str) -> TokenCounter:
    return TokenCounter(encoding_name)
