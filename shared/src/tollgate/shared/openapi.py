"""What a service's OpenAPI document says beyond FastAPI's defaults.

FastAPI documents a route's success and a 422 in its own shape, which our handlers
never send, and knows nothing of who may call a route. ``describe_service``
rewrites the document once, when ``ServiceApp`` first builds it (after the direct
routes have written their bodies and answers, ``tollgate.shared.direct_routes``):

- an operation needs a bearer token when one of its dependencies authenticates
  (marked ``raises(401, ..., authenticates=True)``); every other is public;
- the errors an operation can answer come from the dependencies it uses (each
  marked with ``raises``), from the ``responses`` its router or route declares
  (``responses=problems(404, 409)``), and from its shape: a path parameter can
  404, a body can fail to parse (400), a parameter or a body can carry an input no
  route can mean (400, ``tollgate.shared.inputs``) or fail validation;
  a direct route names the same in its ``raises`` and ``uses``;
- every error is the one ``Problem`` schema sent as ``application/problem+json``,
  except on the OpenAI routes (``openai_shaped``), where it is ``OpenAIError`` as
  ``application/json`` (and a failed validation is OpenAI's 400, not a 422);
- ``/internal`` routes, and the schemas only they use, are left out.

The gateway reuses ``error_response`` and ``ERROR_SCHEMAS`` for the errors it
answers itself, so a merged document has one schema per error shape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema
from starlette.routing import BaseRoute

from tollgate.shared.openai_errors import openai_shaped

if TYPE_CHECKING:
    from tollgate.shared.direct_routes import DirectRoute

__all__ = [
    "ERROR_SCHEMAS",
    "ErrorShape",
    "created_or_replayed",
    "describe_service",
    "error_response",
    "problems",
    "prune_schemas",
    "raises",
]

REF = "#/components/schemas/{model}"
ErrorShape = Literal["problem", "openai"]
F = TypeVar("F", bound=Callable[..., Any])

# What each status means to a caller, whichever route answers it.
DESCRIPTIONS = {
    400: "The request cannot be served as sent",
    401: "No valid credentials: the token or API key is missing, malformed, expired or revoked",
    402: "Not enough tokens left to pay for the call",
    403: "Signed in, but not allowed to do this",
    404: "No such resource, or not one the caller may see",
    409: "Conflicts with the resource's current state",
    410: "Existed, and can no longer be used",
    413: "The request body is too large",
    422: "The request does not validate; `errors` names each field at fault",
    429: "Rate limited; retry after `Retry-After` seconds",
    502: "A service or upstream provider could not be reached",
    503: "Briefly unavailable (a database, broker or service is out of reach); retry after"
    " `Retry-After` seconds",
    504: "A service or upstream provider did not answer in time",
}
RETRY_AFTER = {
    "description": "Seconds to wait before trying again",
    "schema": {"type": "integer", "minimum": 1},
}
HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
    429: {"Retry-After": RETRY_AFTER},
    502: {"Retry-After": RETRY_AFTER},
    503: {"Retry-After": RETRY_AFTER},
}


class FieldError(BaseModel):
    loc: list[str]
    msg: str
    type: str


class Problem(BaseModel):
    """An error, as RFC 9457 problem details; ``type`` is stable, ``detail`` is for people."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["https://tollgate.dev/problems/insufficient-quota"])
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = Field(None, description="Each field at fault (422 only)")


class OpenAIErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    message: str
    type: str = Field(examples=["insufficient_quota"])
    code: str | None = None
    param: str | None = None


class OpenAIError(BaseModel):
    """An error on the OpenAI-compatible routes, in OpenAI's own shape."""

    error: OpenAIErrorDetail


def _error_schemas() -> dict[str, Any]:
    _, definitions = models_json_schema(
        [(Problem, "serialization"), (OpenAIError, "serialization")], ref_template=REF
    )
    schemas: dict[str, Any] = definitions["$defs"]
    return schemas


ERROR_SCHEMAS: dict[str, Any] = _error_schemas()
MEDIA = {"problem": "application/problem+json", "openai": "application/json"}
SCHEMA_NAME = {"problem": "Problem", "openai": "OpenAIError"}


def error_response(status: int, shapes: Iterable[ErrorShape] = ("problem",)) -> dict[str, Any]:
    """The response object for an error status, in each of the shapes it may come in."""
    response: dict[str, Any] = {
        "description": DESCRIPTIONS.get(status, "Error"),
        "content": {
            MEDIA[shape]: {"schema": {"$ref": REF.format(model=SCHEMA_NAME[shape])}}
            for shape in shapes
        },
    }
    if status in HEADERS:
        response["headers"] = HEADERS[status]
    return response


def raises(*statuses: int, authenticates: bool = False) -> Callable[[F], F]:
    """Marks a dependency: every route that uses it can answer these statuses.

    ``authenticates`` says the dependency reads the caller's bearer token, so the
    routes using it are documented as needing one.
    """

    def mark(dependency: F) -> F:
        dependency.__tollgate_raises__ = frozenset(statuses)  # type: ignore[attr-defined]
        dependency.__tollgate_authenticates__ = authenticates  # type: ignore[attr-defined]
        return dependency

    return mark


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a router or a route: the errors its own logic raises."""
    return {status: {"description": DESCRIPTIONS.get(status, "Error")} for status in statuses}


def created_or_replayed(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for an idempotent create: 201 when it made the thing, 200 when the
    same request had made it already (the same answer, nothing changed)."""
    return {
        201: {"model": model, "description": "Created"},
        200: {
            "model": model,
            "description": "Made by an earlier, identical request: nothing changed",
        },
    }


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _marks(calls: Iterable[Callable[..., Any]]) -> tuple[set[int], bool]:
    """The statuses the dependencies are marked with, and whether one authenticates."""
    statuses: set[int] = set()
    authenticates = False
    for call in calls:
        statuses |= getattr(call, "__tollgate_raises__", frozenset())
        authenticates = authenticates or getattr(call, "__tollgate_authenticates__", False)
    return statuses, authenticates


def _shape(path: str) -> ErrorShape:
    return "openai" if openai_shaped(path) else "problem"


def _describe_operation(
    operation: dict[str, Any], statuses: set[int], authenticates: bool, shape: ErrorShape
) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    if shape == "openai" and (responses.pop("422", None) is not None or 422 in statuses):
        # The OpenAI routes answer a request that does not validate with OpenAI's 400.
        statuses.discard(422)
        statuses.add(400)
    if "requestBody" in operation or operation.get("parameters"):
        # A body that is not JSON never reaches validation, and a NUL, NaN or nesting no
        # route can mean is refused ahead of it (tollgate.shared.inputs).
        statuses.add(400)
    declared = {int(code) for code in responses if code.isdigit() and int(code) >= 400}
    for status in sorted(statuses | declared):
        responses[str(status)] = error_response(status, (shape,))
    operation["responses"] = dict(sorted(responses.items()))
    if authenticates:
        operation["security"] = [{"bearer": []}]
    else:
        operation.pop("security", None)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/components/"):
                yield value.rsplit("/", 1)[-1]
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def prune_schemas(document: dict[str, Any]) -> None:
    """Drops component schemas that no path reaches (those of left-out routes)."""
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    reached: set[str] = set()
    frontier = set(_refs(document.get("paths", {})))
    while frontier:
        name = frontier.pop()
        if name in reached or name not in schemas:
            continue
        reached.add(name)
        frontier |= set(_refs(schemas[name])) - reached
    for name in list(schemas):
        if name not in reached:
            del schemas[name]


def describe_service(
    document: dict[str, Any],
    routes: Sequence[BaseRoute],
    direct_routes: Sequence[DirectRoute] = (),
) -> None:
    """Make a service's document tell the truth about security and errors (see the module)."""
    paths: dict[str, Any] = document.get("paths", {})
    for path in [p for p in paths if p == "/internal" or p.startswith("/internal/")]:
        del paths[path]
    # Included routers are not flattened into app.routes; their contexts carry
    # each route's full path and dependencies.
    for route in iter_route_contexts(routes):
        if not isinstance(route.original_route, APIRoute) or route.path_format not in paths:
            continue
        statuses, authenticates = _marks(_calls(route.dependant))
        if route.dependant.path_params:
            statuses.add(404)
        for method in route.methods or ():
            operation = paths[route.path_format].get(method.lower())
            if operation is not None:
                shape = _shape(route.path_format)
                _describe_operation(operation, set(statuses), authenticates, shape)
    for direct in direct_routes:
        operation = paths.get(direct.path, {}).get(direct.method.lower())
        if operation is None:
            continue
        statuses, authenticates = _marks(direct.uses)
        statuses |= set(direct.raises)
        if direct.body is not None:
            statuses.add(422)  # read_body's, or OpenAI's 400 on an OpenAI route
        _describe_operation(operation, statuses, authenticates, _shape(direct.path))
    components = document.setdefault("components", {})
    components.setdefault("schemas", {}).update(ERROR_SCHEMAS)
    components["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    prune_schemas(document)
