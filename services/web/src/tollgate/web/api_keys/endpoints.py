"""API keys: create one (its secret shown once), see when each was last used, revoke."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from tollgate.web.api import Refused
from tollgate.web.pages import ApiDep, Checked, PageSession, redirect, render, sign_in_first

router = APIRouter(include_in_schema=False)


async def _keys_page(
    request: Request, session: PageSession, api: ApiDep, status_code: int = 200, **extra: object
) -> Response:
    keys = await api.json(session, "/api/api-keys")
    live = [k for k in keys if not k.get("revoked_at")]
    context = {"keys": live, **extra}
    return render(request, "api_keys/keys.html", context, status_code=status_code)


@router.get("/api-keys")
async def keys(request: Request, session: PageSession, api: ApiDep) -> Response:
    if not session.signed_in:
        return sign_in_first(request)
    return await _keys_page(request, session, api)


@router.post("/api-keys")
async def create(
    request: Request,
    session: Checked,
    api: ApiDep,
    name: Annotated[str, Form(max_length=100)],
) -> Response:
    try:
        answer = await api.call(session, "POST", "/api/api-keys", json={"name": name})
    except Refused as refused:
        return await _keys_page(
            request, session, api, status_code=refused.status, error=refused.detail
        )
    # Rendered, not redirected: the secret is never stored, so it can be shown only now.
    return await _keys_page(request, session, api, created=answer.json())


@router.post("/api-keys/{key_id}/revoke")
async def revoke(key_id: uuid.UUID, session: Checked, api: ApiDep) -> Response:
    await api.call(session, "DELETE", f"/api/api-keys/{key_id}")
    session.notify("The key is revoked; calls made with it are refused from now on.")
    return redirect("/api-keys")
