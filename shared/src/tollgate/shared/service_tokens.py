"""Service-to-service calls: a ``typ=service`` token from auth's client-credentials grant."""

from __future__ import annotations

import asyncio
import time

import httpx

__all__ = ["SERVICE_TOKEN_PATH", "ServiceTokenClient"]

SERVICE_TOKEN_PATH = "/internal/service-token"


class ServiceTokenClient:
    """Fetches and caches this service's token, renewing it a minute before it expires."""

    def __init__(
        self,
        auth_url: str,
        client_id: str,
        client_secret: str,
        *,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = auth_url.rstrip("/") + SERVICE_TOKEN_PATH
        self.client_id = client_id
        self.client_secret = client_secret
        self._http = http or httpx.AsyncClient(timeout=5.0)
        self._owns_http = http is None
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        if self._token and time.monotonic() < self._expires_at - 60:
            return self._token
        async with self._lock:
            if self._token and time.monotonic() < self._expires_at - 60:
                return self._token
            response = await self._http.post(
                self.url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                },
            )
            response.raise_for_status()
            body = response.json()
            self._token = str(body["access_token"])
            self._expires_at = time.monotonic() + float(body.get("expires_in", 300))
            return self._token

    def forget(self, token: str) -> None:
        """Drop ``token``, which a service refused before its expiry (auth's keys rotated,
        or it restarted): the next call fetches a new one. A token renewed meanwhile stays."""
        if self._token == token:
            self._token = None
            self._expires_at = 0.0

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()
