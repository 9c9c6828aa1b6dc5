import asyncpg
import httpx
import sqlalchemy.exc
from fastapi import FastAPI
from pydantic import BaseModel, Field

from tollgate.shared.errors import (
    OUTAGE_RETRY_AFTER_SECONDS,
    Conflict,
    TooManyRequests,
    install_problem_handlers,
)


class Body(BaseModel):
    amount: int = Field(gt=0)


def make_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/things")
    async def create(body: Body) -> dict[str, int]:
        if body.amount == 7:
            raise Conflict("Seven is taken", extra={"amount": 7})
        if body.amount == 9:
            raise TooManyRequests("Slow down", retry_after=12)
        if body.amount == 13:
            raise RuntimeError("boom")
        return {"amount": body.amount}

    return app


async def post(json: object) -> httpx.Response:
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.post("/things", json=json)


async def test_a_domain_error_becomes_problem_json_with_its_status() -> None:
    response = await post({"amount": 7})
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"].endswith("/conflict")
    assert body["detail"] == "Seven is taken"
    assert body["amount"] == 7


async def test_rate_limit_errors_say_when_to_retry() -> None:
    response = await post({"amount": 9})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "12"


async def test_invalid_input_is_a_422_that_names_the_field() -> None:
    response = await post({"amount": -1})
    assert response.status_code == 422
    assert "amount" in response.json()["detail"]


async def test_a_body_that_is_not_json_is_a_4xx_not_a_500() -> None:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post(
            "/things", content=b"{not json", headers={"content-type": "application/json"}
        )
    assert 400 <= response.status_code < 500


async def test_an_unexpected_error_hides_its_details() -> None:
    response = await post({"amount": 13})
    assert response.status_code == 500
    assert "boom" not in response.text


def make_failing_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/database-gone")
    async def database_gone() -> None:
        try:
            raise ConnectionRefusedError("connect call failed")
        except ConnectionRefusedError as exc:
            raise sqlalchemy.exc.DBAPIError("SELECT 1", {}, exc) from exc

    @app.get("/shutting-down")
    async def shutting_down() -> None:
        raise asyncpg.exceptions.CannotConnectNowError("the database system is shutting down")

    @app.get("/bug")
    async def bug() -> None:
        raise KeyError("a bug of ours")

    return app


async def get_failing(path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=make_failing_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get(path)


async def test_an_unreachable_database_is_a_503_to_retry_not_a_500() -> None:
    for path in ("/database-gone", "/shutting-down"):
        response = await get_failing(path)
        assert response.status_code == 503, path
        assert response.headers["Retry-After"] == str(OUTAGE_RETRY_AFTER_SECONDS)
        assert response.json()["type"].endswith("/unavailable")


async def test_a_bug_of_ours_is_still_a_500_problem() -> None:
    response = await get_failing("/bug")
    assert response.status_code == 500
    assert response.json()["type"].endswith("/internal")
