"""The client-credentials grant that gives each service its ``typ=service`` token."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Form, Request
from pydantic import BaseModel

from tollgate.auth.signing.tokens import TokenIssuer
from tollgate.shared.errors import BadRequest, Unauthorized

router = APIRouter(prefix="/internal", tags=["internal"])

SERVICE_SCOPES = ["internal"]


class ServiceToken(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


def client_is_known(clients: dict[str, str], client_id: str, client_secret: str) -> bool:
    expected = clients.get(client_id)
    # Compare against something even for unknown clients, so timing says nothing.
    candidate = expected if expected is not None else "\x00" * max(len(client_secret), 1)
    matches = hmac.compare_digest(candidate.encode(), client_secret.encode())
    return expected is not None and matches


@router.post("/service-token", response_model=ServiceToken)
async def service_token(
    request: Request,
    grant_type: Annotated[str, Form(max_length=64)],
    client_id: Annotated[str, Form(max_length=100)],
    client_secret: Annotated[str, Form(max_length=500)],
) -> ServiceToken:
    """Client-credentials grant for Tollgate's own services."""
    if grant_type != "client_credentials":
        raise BadRequest(
            "Only grant_type=client_credentials is supported", type_slug="unsupported-grant-type"
        )
    clients: dict[str, str] = request.app.state.service_clients
    if not client_is_known(clients, client_id, client_secret):
        raise Unauthorized("Unknown client or wrong secret", type_slug="invalid-client")
    issuer: TokenIssuer = request.app.state.token_issuer
    token, ttl = issuer.service_token(client_id, SERVICE_SCOPES)
    return ServiceToken(access_token=token, expires_in=ttl)
