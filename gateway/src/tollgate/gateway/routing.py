"""Which service a path goes to, whether it needs a token, and what an API key needs.

Paths are normalised before anything is decided (``normalise``): percent-encoded
dots and slashes are decoded, empty and ``.`` segments dropped, a trailing slash
removed. The normalised path is what the route is chosen by *and* what the service
receives, so a service can never see a path that was classed as another one
(``/api/auth/%2e/register`` is the registration route, throttled as such).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, unquote

from tollgate.gateway.config import (
    API_SEGMENTS,
    LLM_CATALOG_PATHS,
    LLM_PREFIXES,
    PAGES,
    RouteClass,
    RouteRule,
    Service,
)
from tollgate.shared.scopes import ApiKeyScope

__all__ = ["Route", "RouteTable", "normalise"]

_READING = frozenset({"GET", "HEAD"})
# RFC 3986 pchar, less the unreserved characters quote() keeps anyway.
_SEGMENT_SAFE = "!$&'()*+,;=:@"


@dataclass(frozen=True, slots=True)
class Route:
    service: Service
    route_class: RouteClass
    public: bool
    # The rule that matched: a bounded label for metrics (raw paths carry ids).
    label: str
    # The scope an API key needs here; None: keys are refused, sign in interactively.
    key_scope: ApiKeyScope | None = None


def normalise(raw_path: str) -> str | None:
    """The canonical form of a request path (no query), or None if it must be refused.

    ``..`` segments (encoded or not) and control characters are refused rather than
    resolved: no route needs them, and resolving them is how a path is made to look
    like another one.
    """
    if (
        "%" not in raw_path
        and "//" not in raw_path
        and "/." not in raw_path
        and not raw_path.endswith("/")
    ):
        return raw_path if raw_path.startswith("/") and raw_path.isprintable() else None
    segments: list[str] = []
    for part in raw_path.split("/"):
        try:
            decoded = unquote(part, errors="strict")
        except UnicodeDecodeError:
            return None
        for segment in decoded.split("/"):
            if segment in ("", "."):
                continue
            if segment == ".." or not segment.isprintable():
                return None
            segments.append(segment)
    return "/" + "/".join(quote(s, safe=_SEGMENT_SAFE) for s in segments)


def _segments(path: str) -> tuple[str, ...]:
    return tuple(s for s in path.split("/") if s)


def _under(path: tuple[str, ...], prefix: tuple[str, ...]) -> bool:
    if len(path) < len(prefix):
        return False
    return all(p == "*" or p == s for p, s in zip(prefix, path, strict=False))


def _reads_catalog(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in LLM_CATALOG_PATHS)


def _matches_public(path: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    if pattern and pattern[-1] == "**":
        return len(path) > len(pattern) - 1 and _under(path, pattern[:-1])
    return len(path) == len(pattern) and _under(path, pattern)


class RouteTable:
    """Resolves a normalised path in a few microseconds; ``/internal`` never resolves."""

    def __init__(
        self,
        rules: Iterable[RouteRule],
        public: Iterable[tuple[str, str, RouteClass]],
    ) -> None:
        # Most specific first: more segments, then literal before wildcard.
        self._rules = sorted(
            ((_segments(r.prefix), r) for r in rules),
            key=lambda item: (-len(item[0]), item[0].count("*")),
        )
        self._public_exact: dict[tuple[str, str], RouteClass] = {}
        self._public_patterns: list[tuple[str, tuple[str, ...], RouteClass]] = []
        for method, pattern, route_class in public:
            if "*" in pattern:
                self._public_patterns.append((method, _segments(pattern), route_class))
            else:
                self._public_exact[(method, pattern.rstrip("/"))] = route_class
        self._cache: dict[tuple[str, str], Route | None] = {}

    def resolve(self, method: str, path: str) -> Route | None:
        """The route of a path ``normalise`` returned."""
        key = (method, path)
        if key in self._cache:
            return self._cache[key]
        route = self._resolve(method, path)
        # Paths carry ids, so the memo is bounded; it only spares repeat lookups.
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[key] = route
        return route

    def _resolve(self, method: str, path: str) -> Route | None:
        if "//" in path or "/../" in path or path.endswith("/.."):
            return None  # not normalised: refuse rather than guess
        segments = _segments(path)
        if "internal" in segments[:3]:
            return None
        rule = next((r for prefix, r in self._rules if _under(segments, prefix)), None)
        if rule is None:
            if segments and segments[0] in API_SEGMENTS:
                return None
            return Route(PAGES.service, "open", True, PAGES.prefix)
        public_class = self._public_class(method, path, segments)
        if public_class is not None:
            return Route(rule.service, public_class, True, rule.prefix)
        llm = any(path.startswith(p) for p in LLM_PREFIXES) and not _reads_catalog(path)
        key_scope = rule.read if method in _READING else rule.write
        return Route(rule.service, "llm" if llm else "general", False, rule.prefix, key_scope)

    def _public_class(self, method: str, path: str, segments: tuple[str, ...]) -> RouteClass | None:
        # HEAD rides on GET, as HTTP says.
        methods = (method, "GET") if method == "HEAD" else (method,)
        for m in methods:
            found = self._public_exact.get((m, path))
            if found is not None:
                return found
            for pm, pattern, route_class in self._public_patterns:
                if pm == m and _matches_public(segments, pattern):
                    return route_class
        return None
