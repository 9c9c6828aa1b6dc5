"""Provider costs, asked of usage (which records every call's ``cost_usd``).

Billing asks with the admin's own access token: usage's ``/api/admin/usage-costs``
is an admin route, so an admin's report needs no credential of billing's own.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import aiohttp

from tollgate.shared.errors import ServiceUnavailable

__all__ = ["PlanModelCost", "usage_costs"]


PlanModelCost = dict[str, Any]  # plan, model, requests, charged_credits, cost_usd


async def usage_costs(
    usage_url: str, access_token: str, start: date, end: date
) -> list[PlanModelCost]:
    url = f"{usage_url.rstrip('/')}/api/admin/usage-costs"
    params = {"start": start.isoformat(), "end": end.isoformat()}
    headers = {"Authorization": f"Bearer {access_token}"}
    timeout = aiohttp.ClientTimeout(total=10)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.get(url, params=params, headers=headers) as response,
        ):
            if response.status != 200:
                raise ServiceUnavailable(f"Usage answered {response.status} for provider costs")
            body = await response.json()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ServiceUnavailable("Usage cannot be asked for provider costs") from exc
    items: list[PlanModelCost] = body["items"]
    for item in items:
        item["cost_usd"] = Decimal(str(item["cost_usd"]))
    return items
