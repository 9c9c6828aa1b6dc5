"""Server-side sessions: the browser holds a random id, Redis holds everything else.

Tokens never reach the browser. A session exists before sign-in too, so the
sign-in form itself carries a CSRF token; signing in rotates the id, so an id
planted before sign-in (session fixation) is worth nothing after it.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
from redis.asyncio import Redis

__all__ = ["SessionStore", "WebSession"]


def _new_id() -> str:
    return secrets.token_urlsafe(32)


@dataclass
class WebSession:
    id: str = field(default_factory=_new_id)
    csrf_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    access_token: str | None = None
    refresh_token: str | None = None
    access_expires_at: float = 0.0
    user: dict[str, Any] | None = None
    # One-shot notices shown on the next page ("Your address is confirmed").
    notices: list[str] = field(default_factory=list)
    # Not stored: what the request did to the session, for the response to act on.
    is_new: bool = field(default=False, compare=False)
    changed: bool = field(default=False, compare=False)
    ended: bool = field(default=False, compare=False)
    previous_id: str | None = field(default=None, compare=False)

    @property
    def signed_in(self) -> bool:
        return self.access_token is not None

    def sign_in(self, tokens: dict[str, Any]) -> None:
        """Keep a login answer's tokens under a fresh id (the old id stops working)."""
        self.previous_id = self.previous_id or (None if self.is_new else self.id)
        self.id = _new_id()
        self.csrf_token = secrets.token_urlsafe(32)
        self.is_new = True
        self.user = tokens.get("user", self.user)
        self.store_tokens(tokens)

    def store_tokens(self, tokens: dict[str, Any]) -> None:
        self.access_token = tokens["access_token"]
        self.refresh_token = tokens["refresh_token"]
        self.access_expires_at = time.time() + int(tokens["expires_in"])
        self.changed = True

    def sign_out(self) -> None:
        self.ended = True

    def notify(self, notice: str) -> None:
        self.notices.append(notice)
        self.changed = True

    def take_notices(self) -> list[str]:
        notices, self.notices = self.notices, []
        if notices:
            self.changed = True
        return notices

    def to_json(self) -> bytes:
        data = asdict(self)
        for transient in ("is_new", "changed", "ended", "previous_id"):
            data.pop(transient)
        return orjson.dumps(data)

    @classmethod
    def from_json(cls, raw: bytes | str) -> WebSession:
        return cls(**orjson.loads(raw))


class SessionStore:
    def __init__(
        self, redis: Redis, prefix: str, idle_seconds: int, visitor_idle_seconds: int = 2 * 3600
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.idle_seconds = idle_seconds
        # A visitor's session only carries a form's CSRF token: it need not last.
        self.visitor_idle_seconds = visitor_idle_seconds

    def _key(self, session_id: str) -> str:
        return self.prefix + session_id

    async def load(self, session_id: str | None) -> WebSession | None:
        if not session_id or len(session_id) > 64:
            return None
        raw = await self.redis.get(self._key(session_id))
        return WebSession.from_json(raw) if raw is not None else None

    async def save(self, session: WebSession) -> None:
        """Write the session, sliding its idle expiry; drop the id it replaced."""
        idle = self.idle_seconds if session.signed_in else self.visitor_idle_seconds
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key(session.id), session.to_json(), ex=idle)
            if session.previous_id:
                pipe.delete(self._key(session.previous_id))
            await pipe.execute()

    async def delete(self, session: WebSession) -> None:
        ids = [session.id] + ([session.previous_id] if session.previous_id else [])
        await self.redis.delete(*(self._key(i) for i in ids))
