"""The usage dashboard: balance, tokens per day by model, tables by model and feature,
the recent calls, and a CSV of the range. Every figure is the API's own."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from tollgate.web.api import Api
from tollgate.web.charts import tokens_per_day
from tollgate.web.pages import ApiDep, PageSession, render, sign_in_first
from tollgate.web.sessions import WebSession

router = APIRouter(include_in_schema=False)

CALLS_PER_PAGE = 20
Day = Annotated[date | None, Query()]


def _range(start: date | None, end: date | None) -> dict[str, str]:
    """The API's own default range (the last 30 UTC days), spelt out so every call agrees."""
    end = end or datetime.now(UTC).date()
    start = start or end - timedelta(days=29)
    return {"start": start.isoformat(), "end": end.isoformat()}


async def _stats(api: Api, session: WebSession, dates: dict[str, str], **params: str) -> Any:
    return await api.json(session, "/api/usage/stats", params={**dates, **params})


async def _per_day_by_model(
    api: Api, session: WebSession, dates: dict[str, str], models: list[str]
) -> dict[str, dict[date, int]]:
    answers = await asyncio.gather(
        *(_stats(api, session, dates, group_by="day", model=m) for m in models)
    )
    return {
        model: {date.fromisoformat(i["key"]): i["total_tokens"] for i in answer["items"]}
        for model, answer in zip(models, answers, strict=True)
    }


@router.get("/usage")
async def dashboard(
    request: Request,
    session: PageSession,
    api: ApiDep,
    start: Day = None,
    end: Day = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    if not session.signed_in:
        return sign_in_first(request)
    dates = _range(start, end)
    balance, by_model, by_feature, calls = await asyncio.gather(
        api.json(session, "/api/tokens/balance"),
        _stats(api, session, dates, group_by="model"),
        _stats(api, session, dates, group_by="feature"),
        api.json(session, "/api/tokens/usage", params={"page": page, "page_size": CALLS_PER_PAGE}),
    )
    models = [row["key"] for row in by_model["items"]]
    series = await _per_day_by_model(api, session, dates, models)
    first, last = date.fromisoformat(by_model["start"]), date.fromisoformat(by_model["end"])
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    daily_totals = [(d, sum(s.get(d, 0) for s in series.values())) for d in days]
    context = {
        "balance": balance,
        "by_model": by_model,
        "by_feature": by_feature,
        "calls": calls,
        "pages": max(1, -(-calls["total"] // CALLS_PER_PAGE)),
        "chart": tokens_per_day(days, series),
        "daily_totals": [row for row in daily_totals if row[1]],
        "start": by_model["start"],
        "end": by_model["end"],
    }
    return render(request, "usage/dashboard.html", context)


@router.get("/usage.csv")
async def export(
    request: Request, session: PageSession, api: ApiDep, start: Day = None, end: Day = None
) -> Response:
    """Tokens and cost per day and model over the range, for a spreadsheet."""
    if not session.signed_in:
        return sign_in_first(request)
    dates = _range(start, end)
    by_model = await _stats(api, session, dates, group_by="model")
    models = [row["key"] for row in by_model["items"]]
    answers = await asyncio.gather(
        *(_stats(api, session, dates, group_by="day", model=m) for m in models)
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["day", "model", "requests", "prompt_tokens", "completion_tokens", "total_tokens",
         "charged_tokens", "cost_usd"]
    )  # fmt: skip
    rows = [(item, model) for model, answer in zip(models, answers, strict=True)
            for item in answer["items"]]  # fmt: skip
    for item, model in sorted(rows, key=lambda r: (r[0]["key"], r[1])):
        writer.writerow(
            [item["key"], model, item["requests"], item["prompt_tokens"],
             item["completion_tokens"], item["total_tokens"], item["charged_tokens"],
             item["cost_usd"]]
        )  # fmt: skip
    filename = f"tollgate-usage-{by_model['start']}-to-{by_model['end']}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
