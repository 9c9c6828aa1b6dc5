"""Offline token counts, and what a call is billed when the upstream says little or nothing."""

from __future__ import annotations

import uuid
from decimal import Decimal

from tollgate.llm_proxy.catalog.schemas import ModelSpec
from tollgate.llm_proxy.catalog.service import Deployment, Model, Provider
from tollgate.llm_proxy.completions.calls import Call
from tollgate.llm_proxy.metering.tokens import counter_for
from tollgate.llm_proxy.upstream.protocol import Usage
from tollgate.shared.security import Principal

DEPLOYMENT = Deployment(
    Provider("p", "openai", "https://p.test", None, {}), "m", Decimal("2.5"), Decimal("10")
)
MODEL = Model("m", ModelSpec(deployments=[{"provider": "p", "model": "m"}]), (DEPLOYMENT,))


def a_call(prompt_tokens: int = 20) -> Call:
    principal = Principal(sub=uuid.uuid4(), typ="access", exp=2**31)
    return Call(principal, "chat", MODEL, {}, True, False, prompt_tokens, None)


def test_chat_messages_are_counted_like_openai_counts_them() -> None:
    counter = counter_for("o200k_base")
    # 3 priming + per message (3 framing + role + content)
    assert counter.count_messages([{"role": "user", "content": "hello world"}]) == 3 + 3 + 1 + 2


def test_text_that_looks_like_a_special_token_is_just_text() -> None:
    assert counter_for("cl100k_base").count("<|endoftext|>") > 1


def test_images_count_at_least_a_low_detail_image() -> None:
    content = [{"type": "image_url", "image_url": {"url": "https://x"}}]
    assert counter_for("o200k_base").count_content(content) == 85


def test_a_finished_call_is_billed_what_the_upstream_reported() -> None:
    usage = a_call().billed_usage(Usage(7, 3), " the cat dog sat", complete=True)
    assert usage == Usage(7, 3)


def test_without_reported_usage_our_own_count_is_billed() -> None:
    usage = a_call(prompt_tokens=20).billed_usage(None, " the cat dog", complete=True)
    assert usage == Usage(20, 3)


def test_a_cut_stream_is_never_billed_less_than_the_words_received() -> None:
    # Anthropic reports output_tokens=1 at the start; the stream then broke after 4 words.
    usage = a_call().billed_usage(Usage(30, 1), " the cat dog sat", complete=False)
    assert usage == Usage(30, 4)


def test_cost_follows_the_deployment_prices_per_million() -> None:
    assert DEPLOYMENT.cost_usd(1_000_000, 500_000) == Decimal("7.5")
    assert DEPLOYMENT.cost_usd(0, 0) == 0
    assert str(DEPLOYMENT.cost_usd(3, 1)) == "0.0000175"
