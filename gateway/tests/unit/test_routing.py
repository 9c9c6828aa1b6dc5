from __future__ import annotations

from tollgate.gateway.config import PUBLIC_ROUTES, ROUTES
from tollgate.gateway.routing import RouteTable

table = RouteTable(ROUTES, PUBLIC_ROUTES)


def service(method: str, path: str) -> str | None:
    route = table.resolve(method, path)
    return route.service if route else None


def test_each_prefix_goes_to_its_service() -> None:
    assert service("POST", "/api/auth/login-json") == "auth"
    assert service("GET", "/api/api-keys") == "auth"
    assert service("GET", "/api/subscriptions/current") == "billing"
    assert service("GET", "/api/subscriptions/usage") == "usage"
    assert service("GET", "/api/tokens/balance") == "usage"
    assert service("POST", "/api/vscode/session/validate") == "auth"
    assert service("POST", "/api/vscode/usage/track") == "usage"
    assert service("POST", "/v1/chat/completions") == "llm-proxy"
    assert service("GET", "/api/llm/models") == "llm-proxy"
    assert service("PUT", "/api/admin/users/42") == "auth"
    assert service("PUT", "/api/admin/users/42/plan") == "billing"


def test_a_prefix_matches_whole_segments_only() -> None:
    assert service("GET", "/api/tokensXYZ") is None
    assert service("GET", "/v10/models") is None


def test_internal_and_traversal_paths_never_resolve() -> None:
    assert service("POST", "/internal/reservations") is None
    assert service("GET", "/api/auth/../internal/x") is None
    assert service("GET", "//internal/x") is None


def test_public_routes_and_their_classes() -> None:
    login = table.resolve("POST", "/api/auth/login")
    assert login is not None and login.public and login.route_class == "auth"
    callback = table.resolve("GET", "/api/auth/oauth/github/callback")
    assert callback is not None and callback.public
    webhook = table.resolve("POST", "/api/billing/webhooks/stripe")
    assert webhook is not None and webhook.public and webhook.route_class == "open"
    me = table.resolve("GET", "/api/auth/me")
    assert me is not None and not me.public and me.route_class == "general"
    # The method matters: reading the login route is not public.
    get_login = table.resolve("GET", "/api/auth/login")
    assert get_login is not None and not get_login.public


def test_llm_routes_are_their_own_class() -> None:
    for path in ("/v1/chat/completions", "/api/llm/embeddings"):
        route = table.resolve("POST", path)
        assert route is not None and route.route_class == "llm"


def test_each_import_goes_to_the_service_that_owns_what_it_imports() -> None:
    assert service("POST", "/api/admin/imports/users") == "auth"
    assert service("PUT", "/api/admin/imports/organizations/1/members/2") == "auth"
    assert service("POST", "/api/admin/imports/subscriptions") == "billing"
    assert service("POST", "/api/admin/imports/payments") == "billing"
    assert service("POST", "/api/admin/imports/balances") == "usage"
    assert service("POST", "/api/admin/imports/usage") == "usage"
