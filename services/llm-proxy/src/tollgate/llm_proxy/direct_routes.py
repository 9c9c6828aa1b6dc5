"""How the completion routes, served ahead of the FastAPI frame, word their errors.

Every proxied call used to pass about a dozen layers before reaching its handler;
measured with py-spy under load, that frame cost about a quarter of the proxy's CPU
per call, more than the handler's own work, and every streamed chunk also went
through each layer's ``send`` wrapper. So the completion routes are direct routes
(``shared.direct_routes``, declared in ``completions.endpoints``), answered in
OpenAI's error shape like the rest of the OpenAI routes.
"""

from __future__ import annotations

import logging

from starlette.responses import Response

from tollgate.llm_proxy.errors import openai_response
from tollgate.shared.errors import TollgateError

__all__ = ["openai_error"]

log = logging.getLogger("tollgate.llm_proxy.routes")


def openai_error(exc: TollgateError, path: str) -> Response:
    if exc.status_code >= 500:
        log.warning("POST %s: %s", path, exc.detail)
    return openai_response(exc)
