"""What auth asks usage and the LLM proxy on a person's behalf, with that person's token.

Auth holds no usage figures and no model catalog; the sign-in answers and the
extension's configuration borrow them. Each question carries the caller's own
access token, so the answer is exactly what that person would see asking directly
(plan, organization pool, API-key scopes), and no service token is needed.

A neighbour that does not answer within ``peer_timeout_seconds`` costs a ``null``
in the answer, never a sign-in: the figures are shown, not relied on.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from tollgate.auth.accounts.schemas import MonthlyUsage

__all__ = ["Peers", "ServedModel"]

log = logging.getLogger("tollgate.auth.peers")

ServedModel = dict[str, Any]


class Peers:
    def __init__(self, http: httpx.AsyncClient, usage_url: str, llm_proxy_url: str) -> None:
        self.http = http
        self.usage_url = usage_url.rstrip("/")
        self.llm_proxy_url = llm_proxy_url.rstrip("/")

    async def monthly_usage(self, access_token: str) -> MonthlyUsage | None:
        """This period's calls and charged tokens of the account the person spends from."""
        body = await self._get(f"{self.usage_url}/api/subscriptions/usage", access_token)
        if body is None:
            return None
        try:
            return MonthlyUsage(api_calls=int(body["requests"]), tokens_used=int(body["used"]))
        except (KeyError, TypeError, ValueError):
            log.warning("usage answered an unexpected shape for the period's figures")
            return None

    async def served_models(self, access_token: str) -> list[ServedModel] | None:
        """The models the proxy serves for the person's plan, as ``/v1/models`` lists them."""
        body = await self._get(f"{self.llm_proxy_url}/v1/models", access_token)
        data = body.get("data") if body is not None else None
        return [m for m in data if isinstance(m, dict)] if isinstance(data, list) else None

    async def _get(self, url: str, access_token: str) -> dict[str, Any] | None:
        try:
            response = await self.http.get(url, headers={"Authorization": f"Bearer {access_token}"})
        except httpx.HTTPError as exc:
            log.warning("no answer from %s: %s", url, type(exc).__name__)
            return None
        if response.status_code != 200:
            log.warning("%s answered %s", url, response.status_code)
            return None
        try:
            body = response.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None
