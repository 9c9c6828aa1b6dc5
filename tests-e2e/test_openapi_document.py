"""The merged OpenAPI document agrees with the services that serve its routes.

The gateway decides which routes are public (its own table); each service decides
which of its routes read a caller. If the two disagreed, a generated client would
send no token where one is needed, or the gateway would refuse a call the service
means to take without one.
"""

from __future__ import annotations

from typing import Any

import httpx
from devstack import Stack

SERVICES = ("auth", "billing", "usage", "llm-proxy")


def document(url: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/openapi.json", timeout=30)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def test_a_route_is_public_at_the_gateway_exactly_when_its_service_needs_no_token(
    stack: Stack,
) -> None:
    merged = document(stack.url("gateway"))
    assert "x-tollgate-unavailable" not in merged
    compared = 0
    for service in SERVICES:
        for path, item in document(stack.url(service))["paths"].items():
            for method, operation in item.items():
                public_at_service = "security" not in operation
                at_gateway = merged["paths"][path][method]
                public_at_gateway = at_gateway["security"] == []
                assert public_at_gateway == public_at_service, (service, method, path)
                compared += 1
    assert compared == sum(len(item) for item in merged["paths"].values())


def test_no_service_publishes_its_internal_routes(stack: Stack) -> None:
    for service in (*SERVICES, "gateway"):
        paths = document(stack.url(service))["paths"]
        assert paths, service
        assert not [p for p in paths if p.startswith("/internal")], service
