"""Edge hygiene: request ids, client addresses, CORS and security headers."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address

from aiohttp import web, web_response

from tollgate.shared.logs import request_id_for

__all__ = [
    "REQUEST_ID",
    "SERVER_NAME",
    "Cors",
    "client_ip",
    "name_the_server_plainly",
    "request_id",
    "secure_headers",
]

SERVER_NAME = "tollgate"

REQUEST_ID = web.RequestKey("request_id", str)

_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "Cross-Origin-Resource-Policy": "same-site",
}
# Only for answers that are not pages: an API answer has nothing to load or run.
_API_CSP = "default-src 'none'; frame-ancestors 'none'"
_EXPOSED = ", ".join(
    (
        "X-Request-ID",
        "RateLimit",
        "RateLimit-Policy",
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset",
        "Retry-After",
        "X-Tollgate-Tokens-Remaining",
    )
)


def request_id(request: web.Request) -> str:
    """The caller's X-Request-ID when it is well formed, otherwise a new one."""
    if REQUEST_ID in request:
        return request[REQUEST_ID]
    value = request_id_for(request.headers.get("X-Request-ID"))
    request[REQUEST_ID] = value
    return value


def client_ip(
    request: web.Request,
    trusted_hops: int,
    trusted_proxies: Sequence[IPv4Network | IPv6Network] = (),
) -> str:
    """The address of the person behind the proxies we trust.

    Walks ``X-Forwarded-For`` from the right, starting at the peer: a hop is passed
    over while it is one of the ``trusted_hops`` proxies in front of the gateway, or
    an address in ``trusted_proxies`` (the web app, which forwards the person's
    address). The first hop that is neither is the client; anything to its left was
    written by the client itself and is ignored.
    """
    peer = request.remote or "unknown"
    forwarded = [p.strip() for p in request.headers.get("X-Forwarded-For", "").split(",")]
    chain = [p for p in forwarded if p] + [peer]
    hops_left = trusted_hops
    at = len(chain) - 1
    while at > 0:
        if _within(chain[at], trusted_proxies):
            at -= 1
        elif hops_left > 0:
            hops_left -= 1
            at -= 1
        else:
            break
    return chain[at]


def _within(address: str, networks: Sequence[IPv4Network | IPv6Network]) -> bool:
    if not networks:
        return False
    try:
        ip = ip_address(address)
    except ValueError:
        return False  # not an address (a forged header's junk): never trusted
    return any(ip in network for network in networks)


def secure_headers(response: web.StreamResponse) -> None:
    headers = response.headers
    for name, value in _SECURITY_HEADERS.items():
        if name not in headers:
            headers[name] = value
    if "Content-Security-Policy" not in headers and not response.content_type.startswith(
        "text/html"
    ):
        headers["Content-Security-Policy"] = _API_CSP
    headers.popall("Server", None)


def name_the_server_plainly() -> None:
    """aiohttp answers a request it cannot parse itself, before any hook of ours runs,
    and names itself there (``Server: Python/3.11 aiohttp/3.x``): a free hint of what to
    attack. aiohttp offers no setting for it, so its default name is replaced by ours.
    Our own answers carry no ``Server`` at all (``secure_headers``)."""
    web_response.SERVER_SOFTWARE = SERVER_NAME  # type: ignore[attr-defined]


class Cors:
    """CORS from configuration: listed origins only; ``*`` only without credentials."""

    def __init__(self, origins: list[str], allow_credentials: bool) -> None:
        self.any_origin = "*" in origins
        self.origins = frozenset(origins)
        self.allow_credentials = allow_credentials

    def allowed(self, origin: str) -> bool:
        return self.any_origin or origin.rstrip("/") in self.origins

    def preflight(self, request: web.Request) -> web.Response | None:
        """The answer to a CORS preflight, or None if the request is not one."""
        if request.method != "OPTIONS":
            return None
        origin = request.headers.get("Origin")
        wanted = request.headers.get("Access-Control-Request-Method")
        if origin is None or wanted is None:
            return None
        if not self.allowed(origin):
            return web.Response(status=403, text="origin not allowed")
        response = web.Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
        asked = request.headers.get("Access-Control-Request-Headers")
        if asked:
            response.headers["Access-Control-Allow-Headers"] = asked
        response.headers["Access-Control-Max-Age"] = "600"
        return response

    def apply(self, request: web.Request, response: web.StreamResponse) -> None:
        origin = request.headers.get("Origin")
        if origin is None or not self.allowed(origin):
            return
        if self.any_origin:
            response.headers["Access-Control-Allow-Origin"] = "*"
        else:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers.add("Vary", "Origin")
        if self.allow_credentials:
            response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Access-Control-Expose-Headers"] = _EXPOSED
