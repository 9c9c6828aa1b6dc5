from __future__ import annotations

import json
from typing import Any

import pytest

from tollgate.gateway.config import PUBLIC_ROUTES, ROUTES, Settings
from tollgate.gateway.errors import GatewayTimeout, TooManyRequests, Unauthorized, error_response
from tollgate.gateway.openapi import merge_documents
from tollgate.gateway.routing import RouteTable


def test_api_errors_are_problem_json_and_v1_errors_openai_shaped() -> None:
    problem = error_response("/api/tokens", GatewayTimeout())
    assert problem.status == 504
    assert problem.content_type == "application/problem+json"
    assert json.loads(problem.body)["type"].endswith("/gateway-timeout")  # type: ignore[arg-type]
    openai = error_response("/v1/chat/completions", TooManyRequests(retry_after=3))
    body = json.loads(openai.body)  # type: ignore[arg-type]
    assert body["error"]["type"] == "requests"
    assert body["error"]["code"] == "rate_limit_exceeded"
    assert openai.headers["Retry-After"] == "3"


def test_the_llm_routes_under_api_answer_errors_as_openai_does_like_v1() -> None:
    for path in ("/api/llm/chat/completions", "/v1/chat/completions"):
        refused = error_response(
            path, Unauthorized("API key is not valid", type_slug="invalid-api-key")
        )
        assert refused.content_type == "application/json", path
        error = json.loads(refused.body)["error"]  # type: ignore[arg-type]
        assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_api_key")


def test_cors_origins_read_as_a_comma_list_or_a_json_list() -> None:
    assert Settings(cors_origins="https://a.example, https://b.example/").cors_origins == [
        "https://a.example",
        "https://b.example",
    ]
    assert Settings(cors_origins='["https://a.example"]').cors_origins == ["https://a.example"]
    assert Settings(cors_origins="[]").cors_origins == []


def test_cors_wildcard_with_credentials_refuses_to_start() -> None:
    with pytest.raises(ValueError, match="credentials"):
        Settings(cors_origins="*", cors_allow_credentials=True)
    assert Settings(cors_origins="*", cors_allow_credentials=False).cors_origins == ["*"]


def test_merging_keeps_routed_paths_and_renames_clashing_schemas() -> None:
    table = RouteTable(ROUTES, PUBLIC_ROUTES)
    ref = {"$ref": "#/components/schemas/Error"}
    auth = {
        "paths": {
            "/api/auth/me": {"get": {"responses": {"401": {"content": ref}}}},
            "/internal/service-token": {"post": {}},
            "/api/tokens/balance": {"get": {}},
        },  # not auth's to serve: dropped
        "components": {"schemas": {"Error": {"type": "object", "title": "auth"}}},
    }
    usage = {
        "paths": {"/api/tokens/balance": {"get": {"responses": {"402": {"content": ref}}}}},
        "components": {"schemas": {"Error": {"type": "object", "title": "usage"}}},
    }
    merged = merge_documents({"auth": auth, "usage": usage}, table)
    assert set(merged["paths"]) == {"/api/auth/me", "/api/tokens/balance"}
    schemas = merged["components"]["schemas"]
    assert schemas["Error"]["title"] == "auth"
    assert schemas["usage_Error"]["title"] == "usage"
    usage_ref = merged["paths"]["/api/tokens/balance"]["get"]["responses"]["402"]["content"]
    assert usage_ref == {"$ref": "#/components/schemas/usage_Error"}


def service_document(paths: dict[str, Any]) -> dict[str, Any]:
    return {"openapi": "3.1.0", "paths": paths, "components": {"schemas": {}}}


def merged_example() -> dict[str, Any]:
    ok = {"200": {"description": "ok"}}
    auth = service_document(
        {
            "/api/auth/register": {"post": {"requestBody": {}, "responses": ok}},
            "/api/auth/me": {"get": {"responses": ok, "security": [{"bearer": []}]}},
            "/internal/service-token": {"post": {"responses": ok}},
        }
    )
    billing = service_document({"/api/subscriptions/plans": {"get": {"responses": ok}}})
    llm = service_document(
        {
            "/v1/chat/completions": {"post": {"requestBody": {}, "responses": ok}},
            "/api/llm/models": {"get": {"responses": ok}},
        }
    )
    table = RouteTable(ROUTES, PUBLIC_ROUTES)
    return merge_documents({"auth": auth, "billing": billing, "llm-proxy": llm}, table)


def test_public_routes_need_no_credentials_and_the_rest_a_token_or_an_api_key() -> None:
    paths = merged_example()["paths"]

    assert paths["/api/auth/register"]["post"]["security"] == []
    assert paths["/api/subscriptions/plans"]["get"]["security"] == []
    assert paths["/api/auth/me"]["get"]["security"] == [{"bearer": []}, {"apiKey": []}]
    assert paths["/v1/chat/completions"]["post"]["security"] == [{"bearer": []}, {"apiKey": []}]


def test_the_errors_the_gateway_answers_itself_are_documented_in_the_shape_it_sends() -> None:
    paths = merged_example()["paths"]

    me = paths["/api/auth/me"]["get"]["responses"]
    assert {"401", "429", "502", "503", "504"} <= set(me)
    assert "application/problem+json" in me["401"]["content"]
    assert "Retry-After" in me["429"]["headers"]
    # Sign-in routes are throttled per address, and refused while the counters are down.
    register = paths["/api/auth/register"]["post"]["responses"]
    assert {"413", "429", "503"} <= set(register) and "401" not in register
    # Plans are open to anyone: no rate limit applies before them.
    assert "429" not in paths["/api/subscriptions/plans"]["get"]["responses"]
    # The HTTP parser's own refusal of an overlong request line comes before any of ours.
    assert "text/plain" in me["400"]["content"]
    chat = paths["/v1/chat/completions"]["post"]["responses"]
    assert chat["401"]["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/OpenAIError"}}
    }


def test_the_llm_routes_under_api_are_documented_with_openai_errors_like_v1() -> None:
    paths = merged_example()["paths"]

    models = paths["/api/llm/models"]["get"]["responses"]
    for status in ("401", "429", "502", "503"):
        assert models[status]["content"] == {
            "application/json": {"schema": {"$ref": "#/components/schemas/OpenAIError"}}
        }


def test_an_unreachable_service_is_documented_as_an_outage_to_retry_after() -> None:
    paths = merged_example()["paths"]

    for status in ("502", "503"):
        assert "Retry-After" in paths["/api/auth/me"]["get"]["responses"][status]["headers"]


def test_the_merged_document_names_its_server_and_leaves_internal_routes_out() -> None:
    document = merged_example()

    assert document["servers"] == [{"url": "/", "description": "this gateway"}]
    assert "security" not in document  # each operation says its own
    assert not any(path.startswith("/internal") for path in document["paths"])
    assert {"Problem", "OpenAIError"} <= set(document["components"]["schemas"])
