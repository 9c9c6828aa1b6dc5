"""Talking to the services' import routes as a superadmin.

The importer signs in with a superadmin's email and password and signs in again
when its access token expires, so a long import outlives the 15-minute token.
A service that is briefly unreachable is retried with backoff; any other refusal
(4xx) is the row's, reported with the service's own ``detail``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["Refused", "ServiceClient", "Services"]

RETRIES = 6


@dataclass(frozen=True)
class Services:
    auth: str
    billing: str
    usage: str


class Refused(Exception):
    """A service refused one record (4xx); the message is its explanation."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class ServiceClient:
    def __init__(
        self, services: Services, email: str, password: str, *, timeout: float = 60.0
    ) -> None:
        self.services = services
        self._email = email
        self._password = password
        self._http = httpx.AsyncClient(timeout=timeout)
        self._token: str | None = None

    async def close(self) -> None:
        await self._http.aclose()

    async def sign_in(self) -> None:
        response = await self._send(
            "POST",
            f"{self.services.auth}/api/auth/login-json",
            {"email": self._email, "password": self._password},
            {},
        )
        if response.status_code != 200:
            raise Refused(response.status_code, f"signing in as {self._email}: {_detail(response)}")
        self._token = str(response.json()["access_token"])

    async def plans(self) -> dict[str, dict[str, Any]]:
        """Billing's catalog, by plan code."""
        response = await self._send(
            "GET", f"{self.services.billing}/api/subscriptions/plans", None, {}
        )
        response.raise_for_status()
        return {str(p["code"]): p for p in response.json()}

    async def call(self, method: str, url: str, body: dict[str, Any]) -> tuple[int, Any]:
        """Send one import; (status, answer) for 2xx, Refused for 4xx."""
        if self._token is None:
            await self.sign_in()
        response = await self._send(method, url, body, self._headers())
        if response.status_code == 401:  # the access token expired mid-run
            await self.sign_in()
            response = await self._send(method, url, body, self._headers())
        if 400 <= response.status_code < 500:
            raise Refused(response.status_code, _detail(response))
        response.raise_for_status()
        return response.status_code, response.json()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    async def _send(
        self, method: str, url: str, body: dict[str, Any] | None, headers: dict[str, str]
    ) -> httpx.Response:
        delay = 0.5
        for attempt in range(RETRIES):
            try:
                response = await self._http.request(method, url, json=body, headers=headers)
            except httpx.TransportError:
                if attempt == RETRIES - 1:
                    raise
            else:
                if response.status_code not in (502, 503, 504) or attempt == RETRIES - 1:
                    return response
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10)
        raise AssertionError("unreachable")


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or f"HTTP {response.status_code}")
    return f"HTTP {response.status_code}"
