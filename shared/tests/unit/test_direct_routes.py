"""Routes served ahead of the FastAPI frame keep what the frame gave a caller."""

import asyncpg
import httpx
from fastapi import FastAPI, Request
from pydantic import BaseModel
from starlette.responses import JSONResponse, Response

from tollgate.shared.direct_routes import read_body, serve_directly
from tollgate.shared.errors import OUTAGE_RETRY_AFTER_SECONDS
from tollgate.shared.web import create_service_app


class Order(BaseModel):
    amount: int


async def order(request: Request) -> Response:
    body = await read_body(request, Order, limit=64)
    if body.amount == 13:
        raise asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")
    if body.amount == 7:
        raise KeyError("a bug of ours")
    return JSONResponse({"amount": body.amount}, status_code=201)


def make_app() -> FastAPI:
    app = create_service_app(service="test", title="test", lifespan=None, readiness={})
    serve_directly(app, {("POST", "/orders"): order}, service="test", traced=False)
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
