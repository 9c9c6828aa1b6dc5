"""The public API, called through the gateway as the signed-in person.

The app has no access of its own: each call carries the person's access token,
so a page can never show more than the person could fetch themselves. An access
token about to expire is refreshed first (and once more if the API still says
401); a refresh that fails ends the session. Each call also carries the person's
address as the gateway gave it (``X-Forwarded-For``), so the gateway, which trusts
the app's address, limits sign-ins per person rather than counting the app once.

    ApiError             the API failed (a 500 of a service): the problem page
    ├── Refused          the API refused (4xx): the form shows its problem detail
    ├── SignedOut        the session's tokens no longer work: sign in again
    └── ServiceDown      the API or a service behind it is unreachable (502/503/504)
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from typing import Any

import httpx

from tollgate.web.sessions import SessionStore, WebSession

__all__ = ["Api", "ApiError", "Refused", "ServiceDown", "SignedOut", "person_address"]

# Refresh a little before expiry, so a token does not lapse between here and the service.
_EXPIRY_MARGIN_SECONDS = 30

# The X-Forwarded-For of the page request being served; set once per request by the app.
person_address: ContextVar[str | None] = ContextVar("person_address", default=None)


class ApiError(Exception):
    def __init__(self, status: int, detail: str, problem_type: str = "") -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.problem_type = problem_type


class Refused(ApiError):
    pass


class SignedOut(ApiError):
    pass


class ServiceDown(ApiError):
    pass


def _refusal(response: httpx.Response) -> ApiError:
    detail, problem_type = response.reason_phrase, ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        detail = str(body.get("detail") or body.get("title") or detail)
        problem_type = str(body.get("type") or "").rsplit("/", 1)[-1]
    if response.status_code in (502, 503, 504):
        return ServiceDown(response.status_code, detail, problem_type)
    if response.status_code < 500:
        return Refused(response.status_code, detail, problem_type)
    return ApiError(response.status_code, detail, problem_type)


class Api:
    def __init__(self, client: httpx.AsyncClient, sessions: SessionStore) -> None:
        self.client = client
        self.sessions = sessions

    async def public(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A call that needs no sign-in (register, login, reset); refusals raise."""
        response = await self._send(method, path, None, **kwargs)
        if response.is_error:
            raise _refusal(response)
        return response

    async def call(
        self, session: WebSession, method: str, path: str, **kwargs: Any
    ) -> httpx.Response:
        """A call as the session's person; refreshes tokens as needed."""
        if not session.signed_in:
            raise SignedOut(401, "Sign in to continue")
        if session.access_expires_at - _EXPIRY_MARGIN_SECONDS < time.time():
            await self._refresh(session)
        response = await self._send(method, path, session.access_token, **kwargs)
        if response.status_code == 401:
            await self._refresh(session)
            response = await self._send(method, path, session.access_token, **kwargs)
        if response.status_code == 401:
            session.sign_out()
            raise SignedOut(401, "Your session has ended; sign in again")
        if response.is_error:
            raise _refusal(response)
        return response

    async def json(self, session: WebSession, path: str, **kwargs: Any) -> Any:
        return (await self.call(session, "GET", path, **kwargs)).json()

    async def refresh(self, session: WebSession) -> None:
        """New tokens now: after joining or creating an organization, whose id they carry."""
        await self._refresh(session)

    async def _refresh(self, session: WebSession) -> None:
        response = await self._send(
            "POST", "/api/auth/refresh", None, json={"refresh_token": session.refresh_token}
        )
        if response.status_code in (400, 401, 403):
            session.sign_out()
            raise SignedOut(401, "Your session has ended; sign in again")
        if response.is_error:
            raise _refusal(response)
        session.store_tokens(response.json())

    async def _send(
        self, method: str, path: str, token: str | None, **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if (forwarded := person_address.get()) is not None:
            headers["X-Forwarded-For"] = forwarded
        try:
            return await self.client.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise ServiceDown(503, f"The service did not answer ({type(exc).__name__})") from exc
