from __future__ import annotations

from tollgate.gateway.config import PUBLIC_ROUTES, ROUTES
from tollgate.gateway.routing import Route, RouteTable, normalise

table = RouteTable(ROUTES, PUBLIC_ROUTES)


def resolve(method: str, raw_path: str) -> Route | None:
    path = normalise(raw_path)
    return table.resolve(method, path) if path else None


def service(method: str, path: str) -> str | None:
    route = resolve(method, path)
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
    assert service("GET", "/v1models") == "web"


def test_every_path_outside_the_api_is_an_open_page_of_the_web_app() -> None:
    for path in ("/", "/sign-in", "/verify-email", "/billing/success", "/static/tollgate.css"):
        route = table.resolve("GET", path)
        assert route is not None and route.service == "web" and route.public, path
    assert service("POST", "/sign-in") == "web"


def test_an_unknown_api_path_is_never_a_page() -> None:
    for path in ("/api/nothing-here", "/.well-known/nothing", "/api"):
        assert service("GET", path) is None, path


def test_internal_and_traversal_paths_never_resolve() -> None:
    assert service("POST", "/internal/reservations") is None
    assert service("GET", "/api/auth/../internal/x") is None
    assert service("GET", "/api/auth/%2e%2e/internal/x") is None
    assert service("GET", "//internal/x") is None
    assert service("GET", "/api/%2finternal/x") is None
    assert service("GET", "/api/auth/me%00") is None


def test_encoded_dots_and_slashes_duplicate_and_trailing_slashes_are_normalised() -> None:
    assert normalise("/api/auth/%2e/register") == "/api/auth/register"
    assert normalise("/api/auth/%2E/register") == "/api/auth/register"
    assert normalise("/api//auth///login/") == "/api/auth/login"
    assert normalise("/api/auth%2flogin") == "/api/auth/login"
    assert normalise("/api/auth/me/") == "/api/auth/me"
    assert normalise("/api/auth/./me") == "/api/auth/me"
    assert normalise("/.well-known/jwks.json") == "/.well-known/jwks.json"
    # Anything else percent-encoded stays encoded for the service to read.
    assert normalise("/api/x/a%20b") == "/api/x/a%20b"


def test_a_disguised_sign_in_route_is_the_sign_in_route() -> None:
    for raw in ("/api/auth/%2e/register", "/api//auth/register/", "/api/auth%2Fregister"):
        route = resolve("POST", raw)
        assert route is not None and route.public and route.route_class == "auth", raw


def test_what_an_api_key_needs_on_each_route_family() -> None:
    def needs(method: str, path: str) -> str | None:
        route = resolve(method, path)
        assert route is not None
        return route.key_scope

    assert needs("POST", "/v1/chat/completions") == "llm"
    assert needs("GET", "/v1/models") == "llm"
    assert needs("POST", "/api/llm/embeddings") == "llm"
    assert needs("GET", "/api/tokens/balance") == "read"
    assert needs("GET", "/api/billing/invoices") == "read"
    assert needs("POST", "/api/vscode/usage/track") == "write"
    assert needs("POST", "/api/vscode/session/validate") == "read"
    # Money and the account itself: never a key's.
    assert needs("PUT", "/api/subscriptions/upgrade") is None
    assert needs("POST", "/api/subscriptions/subscribe") is None
    assert needs("POST", "/api/billing/portal") is None
    assert needs("POST", "/api/api-keys") is None
    assert needs("GET", "/api/admin/users") is None


def test_public_routes_and_their_classes() -> None:
    login = resolve("POST", "/api/auth/login")
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


def test_reading_the_model_catalog_is_not_an_llm_call() -> None:
    for path in ("/v1/models", "/v1/models/gpt-4o-mini", "/api/llm/models", "/v1/providers"):
        route = table.resolve("GET", path)
        assert route is not None and route.route_class == "general", path
    lookalike = table.resolve("GET", "/v1/modelsx")
    assert lookalike is not None and lookalike.route_class == "llm"


def test_each_import_goes_to_the_service_that_owns_what_it_imports() -> None:
    assert service("POST", "/api/admin/imports/users") == "auth"
    assert service("PUT", "/api/admin/imports/organizations/1/members/2") == "auth"
    assert service("POST", "/api/admin/imports/subscriptions") == "billing"
    assert service("POST", "/api/admin/imports/payments") == "billing"
    assert service("POST", "/api/admin/imports/balances") == "usage"
    assert service("POST", "/api/admin/imports/usage") == "usage"
