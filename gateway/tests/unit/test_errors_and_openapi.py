from __future__ import annotations

import json

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
