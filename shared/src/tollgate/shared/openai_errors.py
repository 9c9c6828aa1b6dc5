"""The error contract of the OpenAI-compatible routes, one table for every hop.

``/v1/*`` and ``/api/llm/*`` answer errors as OpenAI does,
``{"error": {"message", "type", "param", "code"}}``, whether the gateway refuses the
call or the LLM proxy does, so a client sees one shape and one vocabulary whichever
hop answered. Every other route answers problem+json (``tollgate.shared.errors``).

The values are the ones OpenAI's own API sends for the same status, as its clients
receive them; where OpenAI has no such status, the nearest of its words:

    status  type                   code when the raiser names none
    400     invalid_request_error  the error's slug
    401     invalid_request_error  the error's slug (``invalid_api_key`` for a bad key, as OpenAI)
    402     insufficient_quota     insufficient_quota  (OpenAI sends it with 429; ours is 402)
    403     permission_error       the error's slug
    404     invalid_request_error  the error's slug
    405     invalid_request_error  the error's slug
    413     invalid_request_error  the error's slug
    422     invalid_request_error  the error's slug
    429     requests               rate_limit_exceeded  (OpenAI names the limit that was hit)
    5xx     server_error           the error's slug

The official SDKs choose their exception by the status alone (``AuthenticationError``
for 401, ``RateLimitError`` for 429), so the table changes no client's control flow;
it keeps a message's words the same from both hops.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from tollgate.shared.errors import TollgateError

__all__ = [
    "OPENAI_PREFIXES",
    "openai_code",
    "openai_error_body",
    "openai_shaped",
    "openai_type",
    "render_openai_error",
    "stream_interrupted_error",
]

OPENAI_PREFIXES = ("/v1/", "/api/llm/")

_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "requests",
}
_CODE_BY_STATUS = {402: "insufficient_quota", 429: "rate_limit_exceeded"}


def openai_shaped(path: str) -> bool:
    """Does this path answer errors in OpenAI's shape?"""
    return path.startswith(OPENAI_PREFIXES) or path in ("/v1", "/api/llm")


def openai_type(status: int) -> str:
    if status >= 500:
        return "server_error"
    return _TYPE_BY_STATUS.get(status, "invalid_request_error")


def openai_code(error: TollgateError) -> str:
    """The error's own code if it names one, else the table's, else its problem slug."""
    own = getattr(error, "code", None)
    if isinstance(own, str):
        return own
    return _CODE_BY_STATUS.get(error.status_code) or error.type_slug.replace("-", "_")


def openai_error_body(
    message: str,
    type_: str,
    code: str | None,
    param: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> bytes:
    # Extra fields (a 402's ``available``) sit beside OpenAI's own; its SDKs keep them.
    error = {**(extra or {}), "message": message, "type": type_, "param": param, "code": code}
    return orjson.dumps({"error": error})


def render_openai_error(error: TollgateError) -> bytes:
    """The body of an error on an OpenAI route; status and headers are the error's own."""
    return openai_error_body(
        error.detail,
        openai_type(error.status_code),
        openai_code(error),
        getattr(error, "param", None),
        error.extra,
    )


def stream_interrupted_error(message: str) -> bytes:
    """The in-band error event of a stream cut short, from whichever hop saw the cut.

    Its status line was already sent as 200, so the event says what a 502 would have.
    """
    return openai_error_body(message, openai_type(502), "stream_interrupted")
