"""Inputs no route can mean, refused with a 400 before a service's own code sees them.

- **NUL characters** in a string, a key, a query string, a form or a path:
  PostgreSQL's text cannot hold one, so it would fail at the database (a 500).
- **NaN and Infinity**: not JSON (Python's parser lets them through) and refused
  by PostgreSQL's jsonb.
- **Nesting deeper than** ``MAX_DEPTH`` levels: no request of ours needs more,
  and a serializer or a recursive walk further on would give out (orjson stops at
  254 levels, Python's recursion earlier or later).
- **Dates and times outside** ``EARLIEST``..``LATEST`` (``BoundedDate``,
  ``BoundedDatetime``): date arithmetic near year 1 or 9999 overflows.

``InputGuard`` applies the first three to every request of a service's FastAPI app
(``create_service_app`` installs it); routes served directly, ahead of that stack,
call ``check_json_body`` or ``check_json`` on what they parse. A body that is not
JSON at all is left to the route, which words its own error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, MutableMapping
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator

from tollgate.shared.errors import BadRequest, error_problem

__all__ = [
    "EARLIEST",
    "LATEST",
    "MAX_DEPTH",
    "BoundedDate",
    "BoundedDatetime",
    "InputGuard",
    "UnsafeInput",
    "check_json",
    "check_json_body",
]

MAX_DEPTH = 64
EARLIEST = date(2000, 1, 1)
LATEST = date(2999, 12, 31)


class UnsafeInput(BadRequest):
    """Malformed rather than invalid: a 400, which Stripe's webhooks also take as final."""

    type_slug, title = "unsafe-input", "Input cannot be processed"


def _within(day: date) -> None:
    if not EARLIEST <= day <= LATEST:
        raise ValueError(f"must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}")


def _bounded_date(value: date) -> date:
    _within(value)
    return value


def _bounded_datetime(value: datetime) -> datetime:
    _within(value.date())
    # A time without a zone is read as UTC, so comparing it with now() cannot fail.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


BoundedDate = Annotated[date, AfterValidator(_bounded_date)]
BoundedDatetime = Annotated[datetime, AfterValidator(_bounded_datetime)]


def _where(path: tuple[str | int, ...]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def check_json(value: Any, max_depth: int = MAX_DEPTH) -> None:
    """Raise ``UnsafeInput`` naming the first NUL, NaN/Infinity or too-deep place."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise UnsafeInput(f"{_where(path)} contains a NUL character")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise UnsafeInput(f"{_where(path)} is {item}, which is not a JSON number")
        elif isinstance(item, dict | list):
            if len(path) >= max_depth:
                raise UnsafeInput(f"{_where(path)} is nested deeper than {max_depth} levels")
            if isinstance(item, dict):
                for key, child in item.items():
                    if "\x00" in key:
                        raise UnsafeInput(f"A key in {_where(path)} contains a NUL character")
                    stack.append((child, (*path, key)))
            else:
                stack.extend((child, (*path, i)) for i, child in enumerate(item))


def _refuse_constant(name: str) -> Any:
    raise UnsafeInput(f"{name} is not a JSON number")


def check_json_body(body: bytes, max_depth: int = MAX_DEPTH) -> None:
    """``check_json`` on a raw body; a body that is not JSON is left to its route."""
    try:
        value = json.loads(body, parse_constant=_refuse_constant)
    except RecursionError:
        raise UnsafeInput(f"The body is nested deeper than {max_depth} levels") from None
    except ValueError:
        return  # not JSON (or not UTF-8): the route's parser says so in its own words
    check_json(value, max_depth)


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
_NUL_ENCODED = (b"%00", b"\x00")


def _content_type(scope: Scope) -> bytes:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return bytes(value).split(b";", 1)[0].strip().lower()
    return b""


class InputGuard:
    """ASGI middleware: NUL in the path, query or a form, and unsafe JSON bodies, get 400."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        query: bytes = scope.get("query_string", b"")
        if "\x00" in path or any(nul in query for nul in _NUL_ENCODED):
            await self._refuse(UnsafeInput("The address contains a NUL character"), scope, send)
            return
        kind = _content_type(scope)
        is_json = kind == b"application/json" or kind.endswith(b"+json")
        is_form = kind == b"application/x-www-form-urlencoded"
        if scope["method"] in ("GET", "HEAD", "OPTIONS") or not (is_json or is_form):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
        try:
            if is_json:
                check_json_body(body)
            elif any(nul in body for nul in _NUL_ENCODED):
                raise UnsafeInput("The form contains a NUL character")
        except UnsafeInput as problem:
            await self._refuse(problem, scope, send)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(problem: UnsafeInput, scope: Scope, send: Any) -> None:
        async def no_body() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        await error_problem(problem, scope["path"])(scope, no_body, send)
