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


def test_a_chat_completion_answers_json_or_a_stream_of_chunks_ending_in_done() -> None:
    document = create_app(Settings()).openapi()

    for prefix in ("/v1", "/api/llm"):
        ok = document["paths"][f"{prefix}/chat/completions"]["post"]["responses"]["200"]
        assert ok["content"]["application/json"]["schema"]["$ref"].endswith("/ChatCompletion")
        event = ok["content"]["text/event-stream"]["schema"]["properties"]["data"]
        payload, done = event["anyOf"]
        assert payload["contentMediaType"] == "application/json"
        pieces = {ref["$ref"].rsplit("/", 1)[-1] for ref in payload["contentSchema"]["anyOf"]}
        assert pieces == {"ChatCompletionChunk", "OpenAIError"}
        assert done == {"const": "[DONE]"}
        assert "X-Tollgate-Tokens-Remaining" in ok["headers"]
    chunk = document["components"]["schemas"]["ChatCompletionChunk"]
    assert chunk["properties"]["object"]["const"] == "chat.completion.chunk"


def test_every_openai_operation_has_a_typed_answer_and_openai_shaped_errors() -> None:
    document = create_app(Settings()).openapi()

    for path, item in document["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in item.items():
            assert operation["security"] == [{"bearer": []}], (method, path)
            ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
            assert ok.get("$ref"), (method, path)
            for status, answer in operation["responses"].items():
                if int(status) >= 400:
                    assert set(answer["content"]) == {"application/json"}, (path, status)
    chat = document["paths"]["/v1/chat/completions"]["post"]["responses"]
    assert {"400", "401", "402", "403", "404", "429", "502", "503"} <= set(chat)
