"""Routes served ahead of the FastAPI frame keep what the frame gave a caller."""

import asyncpg
import httpx
from fastapi import Request
from pydantic import BaseModel
from starlette.responses import JSONResponse, Response

from tollgate.shared.direct_routes import DirectRoute, read_body
from tollgate.shared.errors import OUTAGE_RETRY_AFTER_SECONDS
from tollgate.shared.web import ServiceApp, create_service_app


class Order(BaseModel):
    amount: int


async def order(request: Request) -> Response:
    """Place an order."""
    body = await read_body(request, Order, limit=64)
    if body.amount == 13:
        raise asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")
    if body.amount == 7:
        raise KeyError("a bug of ours")
    return JSONResponse({"amount": body.amount}, status_code=201)


def make_app() -> ServiceApp:
    app = create_service_app(service="test", title="test", lifespan=None, readiness={})
    app.serve_directly([DirectRoute("POST", "/orders", order, body=Order, status_code=201)])
    return app


async def post(content: bytes, **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.post(
            "/orders", content=content, headers={"Content-Type": "application/json", **headers}
        )


async def test_an_answer_carries_the_callers_request_id() -> None:
    response = await post(b'{"amount": 3}', **{"X-Request-ID": "order-1"})
    assert response.status_code == 201
    assert response.headers["X-Request-ID"] == "order-1"


async def test_bad_bodies_are_422_and_413_problems() -> None:
    invalid = await post(b'{"amount": "many"}')
    too_large = await post(b'{"amount": 1, "padding": "' + b"x" * 100 + b'"}')
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["loc"] == ["body", "amount"]
    assert too_large.status_code == 413
    assert too_large.headers["content-type"].startswith("application/problem+json")


async def test_a_lost_database_is_a_503_and_a_bug_a_500() -> None:
    lost = await post(b'{"amount": 13}')
    bug = await post(b'{"amount": 7}')
    assert lost.status_code == 503
    assert lost.headers["Retry-After"] == str(OUTAGE_RETRY_AFTER_SECONDS)
    assert bug.status_code == 500
    assert bug.json()["type"].endswith("/internal")


def test_a_direct_route_is_declared_once_and_documented_with_its_body() -> None:
    app = make_app()
    assert not [r for r in app.routes if getattr(r, "path", None) == "/orders"]
    operation = app.openapi()["paths"]["/orders"]["post"]
    assert operation["summary"] == "Place an order."
    assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/Order"
    )
    assert "201" in operation["responses"]
    assert "amount" in app.openapi()["components"]["schemas"]["Order"]["properties"]


async def test_another_method_on_a_direct_route_is_a_405_naming_the_right_one() -> None:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/orders")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert response.json()["type"].endswith("/method-not-allowed")
