from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status

from tollgate.auth.api_keys.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    ApiKeyUpdate,
    Introspection,
    IntrospectionResult,
)
from tollgate.auth.api_keys.service import ApiKeys, key_out
from tollgate.auth.deps import SettingsDep, SignedIn
from tollgate.shared.db import SessionDep
from tollgate.shared.errors import Forbidden
from tollgate.shared.security import ServiceCaller

router = APIRouter(prefix="/api/api-keys", tags=["api-keys"])
internal = APIRouter(prefix="/internal/api-keys", tags=["internal"])


@router.get("", response_model=list[ApiKeyOut])
async def list_keys(caller: SignedIn, db: SessionDep) -> list[ApiKeyOut]:
    """Your API keys (never the keys themselves: prefix and last four characters)."""
    keys = await ApiKeys(db).repo.of_user(caller.user.id, include_revoked=False)
    return [key_out(k) for k in keys]


@router.post("", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED)
async def create_key(
    body: ApiKeyCreate, caller: SignedIn, db: SessionDep, settings: SettingsDep
) -> ApiKeyCreated:
    """Create an API key; the full key is in this response and nowhere else, ever."""
    if caller.user.parent_user_id is not None and "api_keys" not in caller.user.permissions:
        raise Forbidden("This sub-user may not create API keys")
    scopes = body.scopes
    if scopes is None:
        scopes = [s.strip() for s in settings.api_key_default_scopes.split(",") if s.strip()]
    key, secret = await ApiKeys(db).create(caller.user.id, body.name, scopes, body.expires_in_days)
    return ApiKeyCreated(**key_out(key).model_dump(), key=secret)


@router.put("/{key_id}", response_model=ApiKeyOut)
async def update_key(
    key_id: uuid.UUID, body: ApiKeyUpdate, caller: SignedIn, db: SessionDep
) -> ApiKeyOut:
    """Rename an API key or change its scopes."""
    key = await ApiKeys(db).update(caller.user.id, key_id, body.name, body.scopes)
    return key_out(key)


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_key(key_id: uuid.UUID, caller: SignedIn, db: SessionDep) -> Response:
    """Revoke an API key; the gateway stops accepting it within a second."""
    await ApiKeys(db).revoke(caller.user.id, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@internal.post("/introspect", response_model=IntrospectionResult, response_model_exclude_none=True)
async def introspect(
    body: Introspection, _service: ServiceCaller, db: SessionDep, request: Request
) -> IntrospectionResult:
    """For the gateway: is this key live, and an access token for its user if so."""
    return await ApiKeys(db).introspect(body.key, request.app.state.token_issuer)
