"""The authorization matrix of docs/authorization.md, called through the gateway.

Every row of the document's table is one test: each caller kind calls the route, on
the resources the document says it is about (the user's key, the organization of
the member, admin and owner), and gets what its cell says: ✓ any answer but
401/403/404, ✗ a refusal (401 without a usable access credential, otherwise 403 or
404). The cast is built once: people on the enterprise plan (so no answer is a rate
limit), an organization with its three roles, two sub-users, three API keys of one
scope each, staff, and a service token.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from devstack import Stack
from journeys import PASSWORD, Person, eventually, login, on_plan, register
from suite_settings import ADMIN_EMAIL, ADMIN_PASSWORD

MATRIX = Path(__file__).resolve().parents[1] / "docs" / "authorization.md"
CALLERS = (
    "anonymous",
    "user",
    "stranger",
    "member",
    "org admin",
    "org owner",
    "sub-user",
    "sub-user+",
    "key llm",
    "key read",
    "key write",
    "admin",
    "superadmin",
    "service",
)
NO_CREDENTIAL = {"anonymous", "service"}


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    allowed: frozenset[str]
    test: str

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


def matrix_rows() -> Iterator[Row]:
    """The table of the document; its header must name the caller kinds in this order."""
    header = "| Method | Path | " + " | ".join(CALLERS) + " | Test |"
    lines = MATRIX.read_text().splitlines()
    assert header in lines, f"the matrix header in {MATRIX.name} is not {header!r}"
    for line in lines[lines.index(header) + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        method, path, verdicts, test = cells[0], cells[1].strip("`"), cells[2:-1], cells[-1]
        assert len(verdicts) == len(CALLERS), line
        assert set(verdicts) <= {"✓", "✗"}, line
        allowed = frozenset(c for c, v in zip(CALLERS, verdicts, strict=True) if v == "✓")
        yield Row(method, path, allowed, test)


ROWS = list(matrix_rows())
CHAT = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "hi [[words:1]]"}],
    "max_tokens": 4,
}
# A valid body per route (a refusal must not hide behind a 422 of a bad body).
BODIES: dict[str, Any] = {
    "PUT /api/users/profile": {"name": "Matrix"},
    "POST /api/auth/password/change": {
        "current_password": "not the password at all",
        "new_password": "an entirely new passphrase 9",
    },
    "POST /api/auth/verify-email/request": None,
    "POST /api/users/oauth-accounts": {"provider": "github"},
    "DELETE /api/users/account": {"password": "not the password at all"},
    "POST /api/auth/device/approve": {"user_code": "ABCD-EFGH"},
    "POST /api/api-keys": {"name": "matrix", "scopes": ["read"]},
    "PUT /api/api-keys/{key_id}": {"name": "renamed"},
    "POST /api/subscriptions/subscribe": {"plan": "pro"},
    "PUT /api/subscriptions/upgrade": {"plan": "enterprise"},
    "POST /api/subscriptions/cancel": {},
    "POST /api/subscriptions/resume": {},
    "POST /api/billing/portal": {},
    "PUT /api/billing/auto-top-up": {
        "enabled": False,
        "threshold": 1000,
        "pack_code": "credits-1m",
    },
    "POST /api/billing/credit-packs/{code}/checkout": {},
    "POST /api/sub-users": {
        "email": "matrix-sub@example.com",
        "password": PASSWORD,
        "permissions": [],
    },
    "PUT /api/sub-users/{sub_user_id}": {"name": "renamed"},
    "POST /api/organizations": {"name": "Another"},
    "POST /api/organizations/invitations/accept": {"token": "not-a-real-invitation-token"},
    "PUT /api/organizations/{org_id}": {"name": "Acme renamed"},
    "POST /api/organizations/{org_id}/invitations": {"email": "matrix-guest@example.com"},
    "PUT /api/organizations/{org_id}/members/{user_id}": {"role": "member"},
    "PUT /api/tokens/caps/{user_id}": {"cap_tokens": 1_000_000},
    "POST /api/promotions/redeem": {"code": "MATRIX-NO-SUCH-CODE"},
    "POST /api/admin/promotion-codes": {
        "credits": 100,
        "max_redemptions": 1,
        "expires_at": "2999-01-01T00:00:00Z",
    },
    "POST /api/vscode/session/validate": {"machine_id": "matrix", "extension_version": "1.0.0"},
    "POST /api/vscode/usage/track": {"events": [{"feature": "chat"}]},
    "PUT /api/admin/users/{user_id}": {"name": "Stranger"},
    "POST /api/admin/users/{user_id}/sessions/revoke": None,
    "PUT /api/admin/users/{user_id}/plan": {"plan": "enterprise"},
    "POST /api/admin/payments/{payment_id}/refund": {},
    "PUT /api/admin/plans/{code}": {},
    "PUT /api/admin/model-prices/{model_id}": {
        "input_per_million": 1_000_000,
        "output_per_million": 1_000_000,
    },
    "POST /api/admin/credit-packs": {
        "code": "matrix-pack",
        "name": "Matrix",
        "credits": 1000,
        "price_cents": 100,
    },
    "PATCH /api/admin/credit-packs/{code}": {},
    **{f"POST {p}/chat/completions": CHAT for p in ("/v1", "/api/llm")},
    **{
        f"POST {p}/completions": {"model": "gpt-4o-mini", "prompt": "hi", "max_tokens": 4}
        for p in ("/v1", "/api/llm")
    },
    **{
        f"POST {p}/embeddings": {"model": "text-embedding-3-small", "input": "hi"}
        for p in ("/v1", "/api/llm")
    },
}


@dataclass
class Cast:
    """Who calls, with which credential, and the things the rows act on."""

    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    def target(self, row: Row) -> str:
        ids = dict(self.ids)
        # Whose user id a path names: a member of the organization (the organization's
        # admin where a member would be leaving, which is theirs to do), or, on staff
        # routes, another person.
        if row.label == "DELETE /api/organizations/{org_id}/members/{user_id}":
            ids["user_id"] = self.ids["org_admin_id"]
        elif any(
            part in row.path for part in ("/organizations/", "/tokens/caps/", "/usage/members/")
        ):
            ids["user_id"] = self.ids["member_id"]
        else:
            ids["user_id"] = self.ids["stranger_id"]
        return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], row.path)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def refreshed(gateway: httpx.AsyncClient, person: Person) -> Person:
    response = await gateway.post("/api/auth/refresh", json={"refresh_token": person.refresh_token})
    assert response.status_code == 200, response.text
    body = response.json()
    return Person(person.email, body["access_token"], body["refresh_token"], person.user_id)


async def joined(
    gateway: httpx.AsyncClient, outside: Any, owner: Person, org_id: str, role: str
) -> Person:
    """A new person invited into the organization with ``role``, who accepted."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    signed_up = await gateway.post(
        "/api/auth/register", json={"email": email, "password": PASSWORD, "name": role}
    )
    assert signed_up.status_code == 201, signed_up.text
    body = signed_up.json()
    person = Person(email, body["access_token"], body["refresh_token"], body["user"]["id"])
    invited = await gateway.post(
        f"/api/organizations/{org_id}/invitations",
        json={"email": email, "role": role},
        headers=owner.headers,
    )
    assert invited.status_code == 201, invited.text

    async def token() -> str | None:
        try:
            return str(outside.mail.token_sent_to(email, "/invitations/accept"))
        except AssertionError:
            return None

    code = await eventually(token, lambda t: t is not None, what="invitation mail")
    accepted = await gateway.post(
        "/api/organizations/invitations/accept", json={"token": code}, headers=person.headers
    )
    assert accepted.status_code == 200, accepted.text
    return await refreshed(gateway, person)


async def api_key(gateway: httpx.AsyncClient, owner: Person, scope: str) -> tuple[str, str]:
    created = await gateway.post(
        "/api/api-keys", json={"name": scope, "scopes": [scope]}, headers=owner.headers
    )
    assert created.status_code == 201, created.text
    return created.json()["key"], created.json()["id"]


async def sub_user(gateway: httpx.AsyncClient, parent: Person, permissions: list[str]) -> Person:
    email = f"sub-{uuid.uuid4().hex[:8]}@example.com"
    created = await gateway.post(
        "/api/sub-users",
        json={"email": email, "password": PASSWORD, "permissions": permissions},
        headers=parent.headers,
    )
    assert created.status_code == 201, created.text
    person = await login(gateway, email)
    return Person(email, person.access_token, person.refresh_token, created.json()["id"])


async def service_token(stack: Stack) -> str:
    env = stack.env()
    async with httpx.AsyncClient(base_url=stack.url("auth"), timeout=30) as auth:
        answer = await auth.post(
            "/internal/service-token",
            data={
                "grant_type": "client_credentials",
                "client_id": "billing",
                "client_secret": env["BILLING_CLIENT_SECRET"],
            },
        )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


async def assemble(stack: Stack, outside: Any, admin_headers: dict[str, str]) -> Cast:
    async with httpx.AsyncClient(base_url=stack.url("gateway"), timeout=60) as gateway:
        names = ("User", "Stranger", "Owner", "Staff")
        user, stranger, owner, staff = await asyncio.gather(*(register(gateway, n) for n in names))
        me = (await gateway.get("/api/auth/me", headers=admin_headers)).json()
        root = Person(me["email"], admin_headers["Authorization"][7:], "", me["id"])
        # Enterprise for everyone: each caller makes a request per row, and free's 60 a
        # minute would turn refusals into rate limits.
        await asyncio.gather(
            *(on_plan(gateway, admin_headers, p, "enterprise") for p in (user, stranger, owner))
        )
        promoted = await gateway.put(
            f"/api/admin/users/{staff.user_id}", json={"role": "admin"}, headers=admin_headers
        )
        assert promoted.status_code == 200, promoted.text
        await on_plan(gateway, admin_headers, staff, "enterprise")
        await on_plan(gateway, admin_headers, root, "enterprise")
        staff = await login(gateway, staff.email)

        org = await gateway.post("/api/organizations", json={"name": "Acme"}, headers=owner.headers)
        assert org.status_code == 201, org.text
        org_id = org.json()["id"]
        owner = await refreshed(gateway, owner)
        # The organization's plan sets its members' limits: enterprise too, as above.
        org_plan = await gateway.put(
            f"/api/admin/users/{org_id}/plan", json={"plan": "enterprise"}, headers=admin_headers
        )
        assert org_plan.status_code == 200, org_plan.text
        await eventually(
            lambda: gateway.get(
                "/api/subscriptions/current", params={"org_id": org_id}, headers=owner.headers
            ),
            lambda r: r.status_code == 200 and r.json().get("plan") == "enterprise",
            what="the organization on enterprise",
        )
        member = await joined(gateway, outside, owner, org_id, "member")
        org_admin = await joined(gateway, outside, owner, org_id, "admin")
        pending = await gateway.post(
            f"/api/organizations/{org_id}/invitations",
            json={"email": f"pending-{uuid.uuid4().hex[:8]}@example.com"},
            headers=owner.headers,
        )
        assert pending.status_code == 201, pending.text

        bare = await sub_user(gateway, user, [])
        trusted = await sub_user(gateway, user, ["llm", "read", "api_keys"])
        keys = {scope: await api_key(gateway, user, scope) for scope in ("llm", "read", "write")}

        cast = Cast()
        cast.headers = {
            "anonymous": {},
            "user": user.headers,
            "stranger": stranger.headers,
            "member": member.headers,
            "org admin": org_admin.headers,
            "org owner": owner.headers,
            "sub-user": bare.headers,
            "sub-user+": trusted.headers,
            **{f"key {scope}": bearer(key) for scope, (key, _) in keys.items()},
            "admin": staff.headers,
            "superadmin": admin_headers,
            "service": bearer(await service_token(stack)),
        }
        cast.ids = {
            "key_id": keys["llm"][1],
            "sub_user_id": bare.user_id,
            "org_id": org_id,
            "member_id": member.user_id,
            "org_admin_id": org_admin.user_id,
            "stranger_id": stranger.user_id,
            "invitation_id": pending.json()["id"],
            "session_id": jwt.decode(user.access_token, options={"verify_signature": False})["sid"],
            "record_id": str(uuid.uuid4()),
            "account_id": str(uuid.uuid4()),
            "payment_id": str(uuid.uuid4()),
            "code_id": str(uuid.uuid4()),
            "code": "free",
            "provider": "github",
            "model_id": "gpt-4o-mini",
        }
        return cast


@pytest.fixture(scope="module")
async def cast(stack: Stack, outside: Any) -> Cast:
    async with httpx.AsyncClient(base_url=stack.url("gateway"), timeout=30) as gateway:
        signed_in = await gateway.post(
            "/api/auth/login-json", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
    assert signed_in.status_code == 200, signed_in.text
    return await assemble(stack, outside, bearer(signed_in.json()["access_token"]))


def verdict(caller: str, allowed: bool, status: int) -> str | None:
    """What is wrong with ``status`` for this cell, or None."""
    if status >= 500:
        return f"{status} (a server error)"
    if allowed:
        return f"{status}, a refusal" if status in (401, 403, 404) else None
    expected = (401,) if caller in NO_CREDENTIAL else (403, 404)
    return None if status in expected else f"{status}, expected {' or '.join(map(str, expected))}"


CHECKED = [r for r in ROWS if r.test in ("all", "refusals")]


def test_the_matrix_names_every_route_the_gateway_documents(stack: Stack) -> None:
    document = httpx.get(f"{stack.url('gateway')}/openapi.json", timeout=30).json()
    documented = {f"{m.upper()} {p}" for p, item in document["paths"].items() for m in item}
    assert documented == {r.label for r in ROWS}


@pytest.mark.parametrize("row", CHECKED, ids=[r.label for r in CHECKED])
async def test_each_caller_kind_is_let_through_or_refused_as_the_matrix_says(
    stack: Stack, cast: Cast, row: Row
) -> None:
    callers = [c for c in CALLERS if row.test == "all" or c not in row.allowed]
    body = BODIES.get(row.label)
    wrong: list[str] = []
    async with httpx.AsyncClient(base_url=stack.url("gateway"), timeout=60) as gateway:
        for caller in callers:
            response = await gateway.request(
                row.method,
                cast.target(row),
                headers=cast.headers[caller],
                json=body,
            )
            problem = verdict(caller, caller in row.allowed, response.status_code)
            if problem:
                wrong.append(f"{caller}: {problem}: {response.text[:160]}")
    assert not wrong, f"{row.label}\n  " + "\n  ".join(wrong)
