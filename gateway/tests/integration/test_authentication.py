"""Each way in: access JWTs, API keys, public routes; and each way to be turned away."""

from __future__ import annotations

import base64
import json
import time
import uuid

import aiohttp

from tests.integration.conftest import RunningGateway, bearer
from tests.integration.standins import StandIn
from tollgate.gateway.apikeys import generate_api_key
from tollgate.shared.testing import SigningKey

PROTECTED = "/api/tokens/balance"


async def test_a_valid_access_token_reaches_the_service_with_the_same_token(
    gateway: RunningGateway, http: aiohttp.ClientSession, signing_key: SigningKey, standin: StandIn
) -> None:
    token = signing_key.mint()
    async with http.get(gateway.url + PROTECTED, headers=bearer(token)) as response:
        assert response.status == 200
        assert (await response.json())["path"] == PROTECTED
    assert standin.last()["headers"]["authorization"] == f"Bearer {token}"


async def test_a_request_without_credentials_is_refused_with_a_problem(
    gateway: RunningGateway, http: aiohttp.ClientSession, standin: StandIn
) -> None:
    before = len(standin.seen)
    async with http.get(gateway.url + PROTECTED) as response:
        assert response.status == 401
        assert response.content_type == "application/problem+json"
        body = await response.json()
        assert body["status"] == 401
        assert body["type"].startswith("https://")
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert len(standin.seen) == before


async def test_v1_errors_come_in_the_openai_shape(
    gateway: RunningGateway, http: aiohttp.ClientSession
) -> None:
    async with http.post(gateway.url + "/v1/chat/completions", json={}) as response:
        assert response.status == 401
        body = await response.json()
        assert set(body["error"]) >= {"message", "type", "code"}


async def test_a_token_signed_by_an_unknown_key_is_refused(
    gateway: RunningGateway, http: aiohttp.ClientSession, signing_key: SigningKey
) -> None:
    impostor = SigningKey(kid=signing_key.kid)  # same kid, different private key
    async with http.get(gateway.url + PROTECTED, headers=bearer(impostor.mint())) as response:
        assert response.status == 401
        assert (await response.json())["type"].endswith("invalid-token")


async def test_an_unsigned_alg_none_token_is_refused(
    gateway: RunningGateway, http: aiohttp.ClientSession, signing_key: SigningKey
) -> None:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {
        "sub": str(uuid.uuid4()),
        "iss": "tollgate-auth",
        "aud": "tollgate",
        "iat": now,
        "exp": now + 600,
        "typ": "access",
    }
    token = part({"alg": "none", "kid": signing_key.kid}) + "." + part(claims) + "."
    async with http.get(gateway.url + PROTECTED, headers=bearer(token)) as response:
        assert response.status == 401


async def test_an_expired_token_is_refused_as_expired(
    gateway: RunningGateway, http: aiohttp.ClientSession, signing_key: SigningKey
) -> None:
    token = signing_key.mint(ttl=-120)
    async with http.get(gateway.url + PROTECTED, headers=bearer(token)) as response:
        assert response.status == 401
        assert (await response.json())["type"].endswith("token-expired")


async def test_malformed_and_oversized_authorization_headers_get_401_not_500(
    gateway: RunningGateway, http: aiohttp.ClientSession
) -> None:
    for header in (
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer a b",
        "Bearer not.a.jwt",
        "Bearer " + "x" * 9000,
    ):
        async with http.get(gateway.url + PROTECTED, headers={"Authorization": header}) as r:
            assert r.status == 401, header[:20]


async def test_a_service_token_is_not_accepted_from_outside(
    gateway: RunningGateway, http: aiohttp.ClientSession, signing_key: SigningKey
) -> None:
    token = signing_key.mint("service:billing", typ="service")
    async with http.get(gateway.url + PROTECTED, headers=bearer(token)) as response:
        assert response.status == 401


async def test_an_api_key_is_introspected_once_and_its_jwt_forwarded(
    gateway: RunningGateway, http: aiohttp.ClientSession, signing_key: SigningKey, standin: StandIn
) -> None:
    key, key_id, user = generate_api_key(), str(uuid.uuid4()), uuid.uuid4()
    jwt_for_key = signing_key.mint(user, api_key_id=key_id, scopes=["read"])
    standin.api_keys[key] = {
        "active": True,
        "key_id": key_id,
        "user_id": str(user),
        "scopes": ["read"],
        "access_token": jwt_for_key,
        "expires_in": 900,
    }
    for headers in (bearer(key), {"X-API-Key": key}, bearer(key)):
        async with http.get(gateway.url + PROTECTED, headers=headers) as response:
            assert response.status == 200
        assert standin.last()["headers"]["authorization"] == f"Bearer {jwt_for_key}"
        assert "x-api-key" not in standin.last()["headers"]
    assert standin.introspections.count(key) == 1


async def test_an_api_key_with_a_bad_checksum_is_refused_before_any_lookup(
    gateway: RunningGateway, http: aiohttp.ClientSession, standin: StandIn
) -> None:
    key = generate_api_key()
    broken = key[:-1] + ("A" if key[-1] != "A" else "B")
    before = len(standin.introspections)
    async with http.get(gateway.url + PROTECTED, headers=bearer(broken)) as response:
        assert response.status == 401
        assert (await response.json())["type"].endswith("invalid-api-key")
    assert len(standin.introspections) == before


async def test_an_unknown_api_key_is_refused(
    gateway: RunningGateway, http: aiohttp.ClientSession, standin: StandIn
) -> None:
    async with http.get(gateway.url + PROTECTED, headers=bearer(generate_api_key())) as response:
        assert response.status == 401


async def test_public_routes_pass_without_a_token(
    gateway: RunningGateway, http: aiohttp.ClientSession, standin: StandIn
) -> None:
    for method, path in (
        ("POST", "/api/auth/login-json"),
        ("GET", "/api/subscriptions/plans"),
        ("POST", "/api/billing/webhooks/stripe"),
        ("GET", "/api/auth/oauth/github/callback?code=x"),
        ("GET", "/.well-known/jwks.json"),
    ):
        async with http.request(method, gateway.url + path, json={}) as response:
            assert response.status == 200, path
        assert standin.last()["path"] == path


async def test_internal_and_unknown_routes_are_not_found(
    gateway: RunningGateway, http: aiohttp.ClientSession, signing_key: SigningKey, standin: StandIn
) -> None:
    before = len(standin.seen)
    for path in (
        "/internal/api-keys/introspect",
        "/internal/service-token",
        "/api/nowhere",
        "/api/auth/../../internal/service-token",
        "/api/nothing-here",
    ):
        async with http.post(gateway.url + path, headers=bearer(signing_key.mint())) as response:
            assert response.status == 404, path
            assert response.content_type == "application/problem+json"
    assert len(standin.seen) == before


async def test_a_service_token_auth_stopped_accepting_is_renewed_once(
    gateway: RunningGateway, http: aiohttp.ClientSession, signing_key: SigningKey, standin: StandIn
) -> None:
    def register_key() -> str:
        key, user = generate_api_key(), uuid.uuid4()
        standin.api_keys[key] = {
            "active": True,
            "key_id": str(uuid.uuid4()),
            "user_id": str(user),
            "scopes": ["read"],
            "access_token": signing_key.mint(user, scopes=["read"]),
            "expires_in": 900,
        }
        return key

    async with http.get(gateway.url + PROTECTED, headers=bearer(register_key())) as response:
        assert response.status == 200
    standin.service_token = "rotated-service-token"  # auth restarted with new keys
    async with http.get(gateway.url + PROTECTED, headers=bearer(register_key())) as response:
        assert response.status == 200
