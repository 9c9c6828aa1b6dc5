"""The API docs describe the OpenAI routes' bodies, with every reference resolvable."""

from __future__ import annotations

import json

from tollgate.llm_proxy.app import create_app
from tollgate.llm_proxy.config import Settings


def test_the_openai_routes_document_their_request_bodies_under_both_prefixes() -> None:
    document = create_app(Settings()).openapi()
    schemas = document["components"]["schemas"]

    for prefix in ("/v1", "/api/llm"):
        body = document["paths"][f"{prefix}/chat/completions"]["post"]["requestBody"]
        assert body["content"]["application/json"]["schema"]["$ref"].endswith(
            "/ChatCompletionRequest"
        )
    assert "messages" in schemas["ChatCompletionRequest"]["properties"]
    refs = [part.split('"')[0] for part in json.dumps(document).split('"$ref": "')[1:]]
    assert refs and all(ref.rsplit("/", 1)[-1] in schemas for ref in refs)
