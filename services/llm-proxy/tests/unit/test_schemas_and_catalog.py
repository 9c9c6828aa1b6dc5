"""Requests are checked strictly; the catalog loads from its file and the environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tollgate.llm_proxy.catalog.service import load_catalog
from tollgate.llm_proxy.completions.schemas import ChatCompletionRequest, parse_request
from tollgate.llm_proxy.errors import InvalidRequest


def chat(**extra: object) -> dict[str, object]:
    return {"model": "m", "messages": [{"role": "user", "content": "hi"}], **extra}


def test_a_well_formed_request_passes() -> None:
    parsed = parse_request(ChatCompletionRequest, chat(max_tokens=5, stream=True))
    assert parsed.requested_max_tokens == 5 and parsed.stream


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        (chat(top_k=3), "unsupported_parameter", "top_k"),
        ({"messages": [{"role": "user", "content": "x"}]}, "missing_parameter", "model"),
        (chat(max_tokens=0), "invalid_request", "max_tokens"),
        (chat(temperature=5), "invalid_request", "temperature"),
        (chat(messages=[{"role": "user", "content": 42}]), "invalid_request", None),
        ([1, 2], "invalid_request", None),
    ],
)
def test_bad_requests_name_the_offending_field(body: object, code: str, param: str | None) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_request(ChatCompletionRequest, body)
    assert raised.value.code == code
    if param:
        assert raised.value.param == param


def test_the_packaged_catalog_offers_only_providers_with_a_key() -> None:
    assert load_catalog(None, environ={}).models == {}
    catalog = load_catalog(None, environ={"ANTHROPIC_API_KEY": "k"})
    assert set(catalog.providers) == {"anthropic"}
    assert "claude-3-5-haiku" in catalog.models
    assert catalog.allows(catalog.models["claude-3-5-haiku"], "free")
    assert not catalog.allows(catalog.models["claude-sonnet-4"], "free")
    assert catalog.allows(catalog.models["claude-sonnet-4"], "pro")


def test_an_announced_plan_replaces_the_built_in_models_of_that_plan_only() -> None:
    catalog = load_catalog(None, environ={"ANTHROPIC_API_KEY": "k"})
    haiku, sonnet = catalog.models["claude-3-5-haiku"], catalog.models["claude-sonnet-4"]

    catalog.plans.replace({"free": ["claude-sonnet-4"], "pro": ["claude-3-5-haiku"]})

    assert (catalog.allows(haiku, "free"), catalog.allows(sonnet, "free")) == (False, True)
    assert [m.id for m in catalog.for_plan("pro")] == ["claude-3-5-haiku"]
    assert catalog.allows(sonnet, "enterprise")  # never announced: the built-in "*"


def test_an_announced_plan_never_widens_what_the_catalog_file_restricts(tmp_path: Path) -> None:
    path = tmp_path / "providers.json"
    deployments = [{"provider": "local", "model": "t"}]
    path.write_text(
        json.dumps(
            {
                "providers": {"local": {"base_url": "http://127.0.0.1:9/v1/"}},
                "models": {
                    "small": {"plans": ["free", "pro"], "deployments": deployments},
                    "large": {"plans": ["pro"], "deployments": deployments},
                },
            }
        )
    )
    catalog = load_catalog(str(path), environ={})
    small, large = catalog.models["small"], catalog.models["large"]

    catalog.plans.replace({"free": ["*"], "pro": ["large"]})

    assert (catalog.allows(small, "free"), catalog.allows(large, "free")) == (True, False)
    assert (catalog.allows(small, "pro"), catalog.allows(large, "pro")) == (False, True)


def test_a_json_catalog_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "providers.json"
    path.write_text(
        json.dumps(
            {
                "providers": {"local": {"base_url": "http://127.0.0.1:9/v1/"}},
                "models": {
                    "tiny": {"plans": ["*"], "deployments": [{"provider": "local", "model": "t"}]}
                },
            }
        )
    )
    catalog = load_catalog(str(path), environ={})
    assert catalog.providers["local"].base_url == "http://127.0.0.1:9/v1"
    assert catalog.allows(catalog.models["tiny"], "enterprise")


def test_a_model_naming_an_unknown_provider_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "providers.json"
    path.write_text(
        json.dumps(
            {
                "providers": {},
                "models": {"x": {"deployments": [{"provider": "nope", "model": "x"}]}},
            }
        )
    )
    with pytest.raises(ValueError, match="unknown providers"):
        load_catalog(str(path), environ={})
