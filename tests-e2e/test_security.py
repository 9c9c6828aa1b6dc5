"""Security suite through the gateway: forged tokens, other people's ids, spoofed
headers, and bodies too big or not JSON. Every answer is a clear 4xx, never a 500."""

from __future__ import annotations

import base64
import json
import time
import uuid

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from journeys import PASSWORD, register


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def real_kid(gateway: httpx.AsyncClient) -> str:
    jwks = (await gateway.get("/.well-known/jwks.json")).json()
    return str(jwks["keys"][0]["kid"])


def claims(sub: str, **overrides: object) -> dict[str, object]:
    now = int(time.time())
    body: dict[str, object] = {
        "iss": "tollgate-auth",
        "aud": "tollgate",
        "sub": sub,
        "iat": now,
        "exp": now + 600,
        "typ": "access",
        "role": "superadmin",
        "plan": "enterprise",
        "sid": str(uuid.uuid4()),
        "jti": uuid.uuid4().hex,
    }
    body.update(overrides)
    return body


async def test_forged_tokens_are_refused_on_api_and_v1_routes(gateway: httpx.AsyncClient) -> None:
    person = await register(gateway, "Mallory")
    kid = await real_kid(gateway)
    stranger_key = Ed25519PrivateKey.generate()
    header, payload, signature = person.access_token.split(".")
    promoted = json.loads(base64.urlsafe_b64decode(payload + "=="))
    promoted["role"] = "superadmin"

    forged = {
        "alg none": b64({"alg": "none", "kid": kid}) + "." + b64(claims(person.user_id)) + ".",
        "signed by a stranger with the real kid": jwt.encode(
            claims(person.user_id), stranger_key, algorithm="EdDSA", headers={"kid": kid}
        ),
        "tampered claims": f"{header}.{b64(promoted)}.{signature}",
        "expired": jwt.encode(
            claims(person.user_id, exp=int(time.time()) - 3600, iat=int(time.time()) - 7200),
            stranger_key,
            algorithm="EdDSA",
            headers={"kid": kid},
        ),
        "garbage": "not.a.token",
        "huge": "x" * 20_000,
    }
    for name, token in forged.items():
        for path in ("/api/admin/users", "/api/auth/me", "/v1/models"):
            response = await gateway.get(path, headers={"Authorization": f"Bearer {token}"})
            # An over-long header is refused by the HTTP parser itself (400 or 431).
            allowed = (400, 401, 431) if name == "huge" else (401,)
            assert response.status_code in allowed, f"{name} on {path}: {response.status_code}"

    as_user = await gateway.get("/api/admin/users", headers=person.headers)
    assert as_user.status_code == 403


async def test_internal_routes_are_never_reachable_from_outside(gateway: httpx.AsyncClient) -> None:
    person = await register(gateway, "Eve")
    for path in (
        "/internal/service-token",
        "/internal/reservations",
        "/internal/api-keys/introspect",
    ):
        response = await gateway.post(path, headers=person.headers, json={})
        assert response.status_code == 404, path


async def test_nobody_reaches_another_users_keys_organizations_or_sub_users(
    gateway: httpx.AsyncClient,
) -> None:
    alice = await register(gateway, "Alice")
    mallory = await register(gateway, "Mallory")
    key = (await gateway.post("/api/api-keys", json={"name": "a"}, headers=alice.headers)).json()
    org = await gateway.post("/api/organizations", json={"name": "Alice Co"}, headers=alice.headers)
    assert org.status_code == 201, org.text
    org_id = org.json()["id"]
    sub = await gateway.post(
        "/api/sub-users",
        json={
            "email": f"kid-{uuid.uuid4().hex[:6]}@example.com",
            "password": PASSWORD,
            "name": "Kid",
            "token_limit": 1000,
        },
        headers=alice.headers,
    )
    assert sub.status_code == 201, sub.text
    sub_id = sub.json()["id"]

    attempts = [
        ("PUT", f"/api/api-keys/{key['id']}", {"name": "mine now"}),
        ("DELETE", f"/api/api-keys/{key['id']}", None),
        ("GET", f"/api/organizations/{org_id}", None),
        ("PUT", f"/api/organizations/{org_id}", {"name": "taken"}),
        ("DELETE", f"/api/organizations/{org_id}", None),
        ("GET", f"/api/organizations/{org_id}/members", None),
        ("POST", f"/api/organizations/{org_id}/invitations", {"email": "x@example.com"}),
        ("GET", f"/api/sub-users/{sub_id}", None),
        ("PUT", f"/api/sub-users/{sub_id}", {"token_limit": 10**9}),
        ("DELETE", f"/api/sub-users/{sub_id}", None),
        ("PUT", f"/api/admin/users/{mallory.user_id}", {"role": "superadmin"}),
        ("PUT", f"/api/admin/users/{mallory.user_id}/plan", {"plan": "enterprise"}),
    ]
    for method, path, body in attempts:
        response = await gateway.request(method, path, json=body, headers=mallory.headers)
        assert response.status_code in (403, 404), f"{method} {path}: {response.status_code}"

    still_there = await gateway.get("/api/api-keys", headers=alice.headers)
    assert key["id"] in still_there.text
    org_now = await gateway.get(f"/api/organizations/{org_id}", headers=alice.headers)
    assert org_now.json()["name"] == "Alice Co"


async def test_login_answers_do_not_tell_which_emails_exist(gateway: httpx.AsyncClient) -> None:
    person = await register(gateway, "Known")
    wrong = await gateway.post(
        "/api/auth/login-json", json={"email": person.email, "password": "wrong password 123"}
    )
    unknown = await gateway.post(
        "/api/auth/login-json",
        json={
            "email": f"nobody-{uuid.uuid4().hex[:6]}@example.com",
            "password": "wrong password 123",
        },
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    forgot_known = await gateway.post("/api/auth/password/forgot", json={"email": person.email})
    forgot_unknown = await gateway.post(
        "/api/auth/password/forgot", json={"email": f"nobody-{uuid.uuid4().hex[:6]}@example.com"}
    )
    assert forgot_known.status_code == forgot_unknown.status_code
    assert forgot_known.text == forgot_unknown.text


async def test_spoofed_forwarding_headers_do_not_escape_the_login_throttle(
    gateway: httpx.AsyncClient,
) -> None:
    person = await register(gateway, "Target")
    statuses = []
    for i in range(12):
        response = await gateway.post(
            "/api/auth/login-json",
            json={"email": person.email, "password": f"guess number {i} wrong"},
            headers={"X-Forwarded-For": f"10.0.{i}.{i}", "X-Real-IP": f"10.1.{i}.{i}"},
        )
        statuses.append(response.status_code)
    # The throttle counts the account and the address the gateway saw, not the header's.
    assert 429 in statuses
    assert statuses[-1] == 429


@pytest.mark.parametrize(
    ("path", "content", "content_type"),
    [
        ("/api/auth/register", b"{not json", "application/json"),
        ("/api/auth/login-json", b"[1, 2, 3]", "application/json"),
        ("/v1/chat/completions", b"\x00\x01\x02", "application/json"),
        ("/api/auth/register", b"email=a", "application/x-www-form-urlencoded"),
    ],
)
async def test_malformed_bodies_get_a_clear_4xx(
    gateway: httpx.AsyncClient, path: str, content: bytes, content_type: str
) -> None:
    person = await register(gateway, "Fuzz")
    response = await gateway.post(
        path, content=content, headers={**person.headers, "Content-Type": content_type}
    )
    assert 400 <= response.status_code < 500, response.text


async def test_an_oversized_body_is_refused_before_it_reaches_a_service(
    gateway: httpx.AsyncClient,
) -> None:
    person = await register(gateway, "Big")
    response = await gateway.post(
        "/v1/chat/completions",
        content=b"{" + b" " * (9 * 1024 * 1024) + b"}",
        headers={**person.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
