from __future__ import annotations

import time

from tollgate.gateway.identity import Caller
from tollgate.gateway.revocations import LocalDenylist


def caller(exp_in: float = 600, iat: int | None = None, **kw: str | None) -> Caller:
    now = int(time.time())
    values: dict[str, object] = {
        "user_id": "u1",
        "session_id": "s1",
        "api_key_id": None,
        "org_id": None,
        "plan": "free",
        "issued_at": iat if iat is not None else now,
        "expires_at": int(now + exp_in),
        "token": "t",
    }
    values.update(kw)
    return Caller(**values)  # type: ignore[arg-type]


def test_api_key_callers_are_limited_per_key_and_others_per_user() -> None:
    assert caller(api_key_id="k9").rate_key == "k:k9"
    assert caller().rate_key == "u:u1"


def test_the_local_denylist_refuses_revoked_sessions_keys_and_older_tokens() -> None:
    denylist = LocalDenylist()
    assert not denylist.is_revoked(caller())
    denylist.revoke_session("s1", ttl=60)
    assert denylist.is_revoked(caller())
    assert not denylist.is_revoked(caller(session_id="s2"))
    denylist.revoke_api_key("k1", ttl=60)
    assert denylist.is_revoked(caller(session_id=None, api_key_id="k1"))
    now = int(time.time())
    denylist.revoke_user("u2", not_before=now, ttl=60)
    assert denylist.is_revoked(caller(user_id="u2", session_id=None, iat=now - 5))
    # Same second as the revocation: it may have been minted just before it, so refused.
    assert denylist.is_revoked(caller(user_id="u2", session_id=None, iat=now))
    assert not denylist.is_revoked(caller(user_id="u2", session_id=None, iat=now + 1))
