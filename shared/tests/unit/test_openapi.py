"""A service's OpenAPI document says who may call each operation and every error it sends."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import JSONResponse, Response

from tollgate.shared.db import SessionDep
from tollgate.shared.direct_routes import DirectRoute
from tollgate.shared.openapi import created_or_replayed, problems
from tollgate.shared.security import AdminUser, CurrentUser, ServiceCaller, current_principal
from tollgate.shared.web import ServiceApp, create_service_app

PROBLEM = {"$ref": "#/components/schemas/Problem"}
OPENAI_ERROR = {"$ref": "#/components/schemas/OpenAIError"}


class Registration(BaseModel):
    email: str


class Hold(BaseModel):
    tokens: int


class Reservation(BaseModel):
    tokens: int


async def place_hold(request: Request) -> Response:
    """Hold tokens for a call."""
    return JSONResponse({"tokens": 1})


def make_app() -> ServiceApp:
    app = create_service_app(
        service="example",
        title="Example",
        lifespan=None,
        readiness={},
    )
    accounts = APIRouter(prefix="/api/accounts", responses=problems(409))

    @accounts.post("/register", status_code=201)
    async def register(body: Registration, db: SessionDep) -> dict[str, str]:
        """Open an account."""
        return {"email": body.email}

    @accounts.get("/me")
    async def me(user: CurrentUser) -> dict[str, str]:
        return {"id": str(user.sub)}

    @accounts.delete("/{account_id}", status_code=204)
    async def close(account_id: int, admin: AdminUser) -> None:
        return None

    @accounts.put("/{account_id}/import", responses=created_or_replayed(Registration))
    async def import_account(account_id: int, body: Registration, admin: AdminUser) -> Registration:
        """Bring an account in from elsewhere: 201 the first time, 200 after."""
        return body

    internal = APIRouter(prefix="/internal")

    @internal.post("/holds")
    async def hold(body: Hold, caller: ServiceCaller) -> dict[str, int]:
        return {"tokens": body.tokens}

    v1 = APIRouter(prefix="/v1")

    @v1.get("/models/{model_id}")
    async def model(model_id: str, user: CurrentUser) -> dict[str, str]:
        return {"id": model_id}

    for router in (accounts, internal, v1):
        app.include_router(router)
    app.serve_directly(
        [
            DirectRoute(
                "POST", prefix + "/holds", place_hold, body=Reservation, answer=Reservation,
                raises=(402,), uses=(current_principal,),
            )
            for prefix in ("/api/holds", "/api/llm")
        ]
    )  # fmt: skip
    return app


def operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    found: dict[str, Any] = document["paths"][path][method]
    return found


def test_a_route_without_a_signed_in_caller_needs_no_token() -> None:
    document = make_app().openapi()

    assert "security" not in operation(document, "post", "/api/accounts/register")
    assert "401" not in operation(document, "post", "/api/accounts/register")["responses"]


def test_a_route_with_a_signed_in_caller_needs_a_bearer_token_and_can_answer_401_and_403() -> None:
    document = make_app().openapi()
    me = operation(document, "get", "/api/accounts/me")

    assert me["security"] == [{"bearer": []}]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    unauthorized = me["responses"]["401"]
    assert unauthorized["content"] == {"application/problem+json": {"schema": PROBLEM}}
    assert "WWW-Authenticate" in unauthorized["headers"]
    assert "403" in me["responses"]


def test_errors_come_from_dependencies_router_declarations_and_path_parameters() -> None:
    document = make_app().openapi()

    register = operation(document, "post", "/api/accounts/register")["responses"]
    # 409 declared by the router, 422 for the body, 503 from the database session.
    assert {"201", "409", "422", "503"} <= set(register)
    assert "Retry-After" in register["503"]["headers"]
    close = operation(document, "delete", "/api/accounts/{account_id}")["responses"]
    assert {"401", "403", "404"} <= set(close)


def test_an_idempotent_create_documents_both_of_its_successes() -> None:
    document = make_app().openapi()

    responses = operation(document, "put", "/api/accounts/{account_id}/import")["responses"]
    registration = {"$ref": "#/components/schemas/Registration"}
    for status in ("200", "201"):
        assert responses[status]["content"]["application/json"]["schema"] == registration


def test_a_validation_error_is_documented_as_the_problem_sent_not_fastapis_shape() -> None:
    document = make_app().openapi()

    invalid = operation(document, "post", "/api/accounts/register")["responses"]["422"]
    assert invalid["content"] == {"application/problem+json": {"schema": PROBLEM}}
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert {"type", "title", "status", "detail"} <= set(schemas["Problem"]["required"])


def test_openai_routes_document_openai_errors_and_a_400_for_invalid_input() -> None:
    document = make_app().openapi()

    responses = operation(document, "get", "/v1/models/{model_id}")["responses"]
    assert "422" not in responses
    for status in ("400", "401", "404"):
        assert responses[status]["content"] == {"application/json": {"schema": OPENAI_ERROR}}


def test_internal_routes_and_the_schemas_only_they_use_are_left_out() -> None:
    document = make_app().openapi()

    assert not any(path.startswith("/internal") for path in document["paths"])
    assert "Hold" not in document["components"]["schemas"]
    assert "Registration" in document["components"]["schemas"]


async def test_the_docs_page_and_its_assets_are_served_by_the_service_itself() -> None:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        page = await client.get("/docs")
        assert page.status_code == 200
        assert "script-src 'self'" in page.headers["content-security-policy"]
        # Nothing is fetched from elsewhere: every asset is a path on this service.
        assert "http://" not in page.text and "https://" not in page.text
        for asset, kind in (
            ("swagger-ui-bundle.js", "javascript"),
            ("swagger-ui.css", "text/css"),
            ("start.js", "javascript"),
        ):
            answer = await client.get(f"/docs/assets/{asset}")
            assert answer.status_code == 200, asset
            assert kind in answer.headers["content-type"]
            assert f"/docs/assets/{asset}" in page.text
        # Only the page's own files: other files of the package are not served.
        assert (await client.get("/docs/assets/redoc.standalone.js")).status_code == 404


def test_a_direct_route_documents_its_answer_its_callers_token_and_its_errors() -> None:
    document = make_app().openapi()
    hold = operation(document, "post", "/api/holds/holds")

    assert hold["security"] == [{"bearer": []}]
    assert hold["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Reservation"
    }
    # 402 its own, 401 from the token it checks, 400/422 for its body.
    for status in ("400", "401", "402", "422"):
        assert hold["responses"][status]["content"] == {
            "application/problem+json": {"schema": PROBLEM}
        }


def test_a_direct_route_under_api_llm_documents_openai_errors_and_no_422() -> None:
    document = make_app().openapi()
    responses = operation(document, "post", "/api/llm/holds")["responses"]

    assert "422" not in responses
    for status in ("400", "401", "402"):
        assert responses[status]["content"] == {"application/json": {"schema": OPENAI_ERROR}}
