"""The shared input guard: NUL, NaN and deep nesting are a 400 on any route, and dates
stay within bounds, before a service's own code can trip over them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, TypeAdapter, ValidationError

from tollgate.shared.inputs import (
    MAX_DEPTH,
    BoundedDate,
    BoundedDatetime,
    InputGuard,
    UnsafeInput,
    check_json,
    check_json_body,
)


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"type": "object", "properties": {"x": value}}
    return value


def test_a_nul_anywhere_is_refused_and_its_place_named() -> None:
    with pytest.raises(UnsafeInput, match=r"\$\.events\[0\]\.attributes\.note"):
        check_json({"events": [{"attributes": {"note": "a\x00b"}}]})
    with pytest.raises(UnsafeInput, match="key"):
        check_json({"a\x00": 1})


def test_nan_and_infinity_are_refused_in_a_parsed_value_and_in_a_body() -> None:
    for number in (float("nan"), float("inf"), float("-inf")):
        with pytest.raises(UnsafeInput):
            check_json({"x": [number]})
    for literal in (b"NaN", b"Infinity", b"-Infinity"):
        with pytest.raises(UnsafeInput, match="not a JSON number"):
            check_json_body(b'{"attributes": {"ratio": ' + literal + b"}}")


def test_nesting_is_bounded_and_ordinary_depths_pass() -> None:
    check_json(nested(MAX_DEPTH // 2 - 1))
    with pytest.raises(UnsafeInput, match="deeper than"):
        check_json(nested(150))
    with pytest.raises(UnsafeInput, match="deeper than"):
        check_json_body(b"[" * 20_000 + b"]" * 20_000)


def test_a_body_that_is_not_json_is_left_to_its_route() -> None:
    check_json_body(b"{not json")
    check_json_body(b"\xff\xfe")


def test_dates_outside_the_bounds_are_invalid_and_naive_times_become_utc() -> None:
    days = TypeAdapter(BoundedDate)
    assert days.validate_python("2026-01-05") == date(2026, 1, 5)
    for far in ("0001-01-05", "9999-12-31"):
        with pytest.raises(ValidationError, match="between"):
            days.validate_python(far)
    times = TypeAdapter(BoundedDatetime)
    assert times.validate_python("2026-01-05T10:00:00").tzinfo == UTC
    with pytest.raises(ValidationError):
        times.validate_python(datetime(1, 1, 1))


class Note(BaseModel):
    text: str
    score: float = 0.0


def guarded_app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(InputGuard)
    seen: list[Note] = []

    @app.post("/notes")
    async def add(note: Note) -> dict[str, int]:
        seen.append(note)
        return {"count": len(seen)}

    @app.get("/notes")
    async def find(q: str = "") -> dict[str, str]:
        return {"q": q}

    return app


async def test_the_guard_refuses_before_the_route_and_lets_good_requests_through() -> None:
    transport = httpx.ASGITransport(app=guarded_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        ok = await client.post("/notes", json={"text": "fine", "score": 1.5})
        assert ok.status_code == 200 and ok.json() == {"count": 1}
        nan = await client.post(
            "/notes",
            content=b'{"text": "x", "score": NaN}',
            headers={"content-type": "application/json"},
        )
        assert nan.status_code == 400
        assert nan.json()["type"].endswith("/unsafe-input")
        nul = await client.post("/notes", json={"text": "a\x00b"})
        assert nul.status_code == 400 and "NUL" in nul.json()["detail"]
        query = await client.get("/notes", params={"q": "a\x00"})
        assert query.status_code == 400
        form = await client.post("/notes", data={"text": "a\x00"})
        assert form.status_code == 400
        # Nothing refused reached the route.
        assert (await client.post("/notes", json={"text": "again"})).json() == {"count": 2}
