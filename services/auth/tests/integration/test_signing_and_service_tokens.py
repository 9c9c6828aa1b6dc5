from __future__ import annotations

import httpx
import jwt
import pytest
from auth_helpers import GATEWAY_SECRET, register, service_token
from fastapi import FastAPI

from tollgate.shared.errors import Unauthorized
from tollgate.shared.security import JWKSVerifier
from tollgate.shared.testing import SigningKey


def verifier_for(client: httpx.AsyncClient) -> JWKSVerifier:
    """What another service does: verify against auth's published JWKS."""
    return JWKSVerifier(
        "http://auth.test/.well-known/jwks.json",
        issuer="tollgate-auth",
        audience="tollgate",
        refetch_cooldown=0,
        http=client,
    )


async def test_a_service_gets_a_token_other_services_can_verify(client: httpx.AsyncClient) -> None:
    token = await service_token(client)

    principal = await verifier_for(client).verify(token)

    assert principal.typ == "service"
    assert principal.sub == "service:gateway"


async def test_a_wrong_client_secret_gets_no_token(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/internal/service-token",
        data={"grant_type": "client_credentials", "client_id": "gateway", "client_secret": "nope"},
    )

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("invalid-client")


async def test_only_the_client_credentials_grant_is_offered(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/internal/service-token",
        data={"grant_type": "password", "client_id": "gateway", "client_secret": GATEWAY_SECRET},
    )

    assert response.status_code == 400
    assert response.json()["type"].endswith("unsupported-grant-type")


async def test_the_jwks_publishes_only_public_ed25519_keys(client: httpx.AsyncClient) -> None:
    keys = (await client.get("/.well-known/jwks.json")).json()["keys"]

    assert keys
    assert all(k["alg"] == "EdDSA" and k["crv"] == "Ed25519" for k in keys)
    assert all("d" not in k for k in keys)


async def test_rotating_the_signing_key_logs_nobody_out(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await register(client)
    old_kid = jwt.get_unverified_header(user.access)["kid"]

    new_kid = await app.state.keyring.rotate()

    published = {k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]}
    assert {old_kid, new_kid} <= published
    assert (await client.get("/api/auth/me", headers=user.headers)).status_code == 200
    refreshed = await client.post("/api/auth/refresh", json={"refresh_token": user.refresh})
    assert jwt.get_unverified_header(refreshed.json()["access_token"])["kid"] == new_kid
    # A token with a key id nobody knows just made the verifier refetch; the new key
    # must still be accepted at once, whatever the refetch cooldown.
    garbage = await client.get(
        "/api/auth/me", headers={"Authorization": "Bearer " + SigningKey().mint()}
    )
    assert garbage.status_code == 401
    await app.state.keyring.rotate()
    newest = await client.post(
        "/api/auth/refresh", json={"refresh_token": refreshed.json()["refresh_token"]}
    )
    me = await client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {newest.json()['access_token']}"}
    )
    assert me.status_code == 200
    assert (await verifier_for(client).verify(user.access)).sub is not None


async def test_a_token_signed_by_a_stranger_is_refused(client: httpx.AsyncClient) -> None:
    forged = SigningKey().mint()

    response = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {forged}"})

    assert response.status_code == 401
    with pytest.raises(Unauthorized):
        await verifier_for(client).verify(forged)


async def test_a_second_replica_accepts_tokens_signed_after_a_rotation_elsewhere(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    from asgi_lifespan import LifespanManager
    from auth_helpers import auth_settings

    from tollgate.auth.app import create_app

    replica = create_app(auth_settings())
    async with LifespanManager(replica, startup_timeout=30):
        await app.state.keyring.rotate()
        user = await register(client)  # signed with the key the replica has not seen yet
        replica.state.jwt_verifier.refetch_cooldown = 0
        transport = httpx.ASGITransport(app=replica)
        async with httpx.AsyncClient(transport=transport, base_url="http://replica") as other:
            me = await other.get("/api/auth/me", headers=user.headers)

    assert me.status_code == 200


async def test_the_openapi_document_describes_the_routes(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()

    assert "/api/auth/login-json" in spec["paths"]
    # Internal routes are for services only, and are left out of the published document.
    assert not any(path.startswith("/internal") for path in spec["paths"])
