"""What the system talks to outside this machine, as local servers: Stripe, an LLM
provider and an SMTP relay. They run on one background event loop, so the
synchronous session fixture can start them before the services."""

from __future__ import annotations

import asyncio
import email
import re
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any, TypeVar

from aiosmtpd.controller import Controller

from tollgate.shared.testing import free_port
from tollgate.standins.stripe import StripeStandIn

T = TypeVar("T")


class BackgroundLoop:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@dataclass
class MailSink:
    """An SMTP relay that keeps every message, for reading links out of mail."""

    messages: list[Message] = field(default_factory=list)
    port: int = 0
    _controller: Controller | None = None

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def start(self) -> None:
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()

    def token_sent_to(self, address: str, path: str) -> str:
        """The ``token`` of the last link to ``path`` mailed to ``address``."""
        for message in reversed(self.messages):
            if address not in str(message["To"]):
                continue
            body = _text(message)
            match = re.search(re.escape(path) + r"\?token=([A-Za-z0-9_\-\.~%]+)", body)
            if match:
                return match.group(1)
        raise AssertionError(f"no mail to {address} with a link to {path}")


def _text(message: Message) -> str:
    if message.is_multipart():
        return "\n".join(_text(part) for part in message.get_payload())  # type: ignore[arg-type]
    payload = message.get_payload(decode=True)
    return payload.decode(errors="replace") if isinstance(payload, bytes) else str(payload)


async def start_oauth_provider() -> Any:
    """GitHub's and Google's OAuth endpoints (auth's own stand-in), kept open for the session."""
    from oauth_standin import standin_provider

    context = standin_provider()
    provider = await context.__aenter__()
    provider.context = context
    return provider


WEBHOOK_SECRET = "whsec_e2e_standin"
PRICES: dict[str, tuple[int, str] | tuple[int, str, str]] = {
    "price_pro_e2e": (2000, "usd"),
    "price_enterprise_e2e": (10000, "usd"),
    "price_pro_yearly_e2e": (20000, "usd", "year"),
}


def start_stripe(loop: BackgroundLoop, webhook_url: str) -> StripeStandIn:
    stripe = StripeStandIn(PRICES, WEBHOOK_SECRET)
    loop.run(stripe.start())
    stripe.deliver_to(webhook_url)
    loop.spawn(stripe.deliver_forever(0.05))
    return stripe


def providers_file(directory: Path, base_url: str) -> Path:
    """A catalog of the stand-in provider's models: chat for every plan, chat for pro
    and enterprise only, and embeddings."""
    path = directory / "providers.yaml"
    path.write_text(
        f"""
providers:
  standin: {{kind: openai, base_url: "{base_url}/v1"}}
models:
  gpt-4o-mini:
    endpoints: [chat, completions]
    tokenizer: o200k_base
    context_window: 128000
    max_output_tokens: 4096
    plans: [free, pro, enterprise]
    deployments:
      - {{provider: standin, model: gpt-4o-mini, input_per_million: "0.15", output_per_million: "0.60"}}
  gpt-4o:
    endpoints: [chat]
    tokenizer: o200k_base
    context_window: 128000
    max_output_tokens: 4096
    plans: [pro, enterprise]
    deployments:
      - {{provider: standin, model: gpt-4o, input_per_million: "2.50", output_per_million: "10.00"}}
  text-embedding-3-small:
    endpoints: [embeddings]
    tokenizer: cl100k_base
    plans: [free, pro, enterprise]
    deployments:
      - {{provider: standin, model: text-embedding-3-small, input_per_million: "0.02", output_per_million: "0"}}
"""
    )
    return path
