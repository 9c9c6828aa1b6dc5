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


def test_every_key_and_token_of_one_account_shares_one_bucket() -> None:
    assert caller(api_key_id="k9").rate_key == caller(api_key_id="k8").rate_key == "u:u1"
    assert caller().rate_key == "u:u1"


def test_a_sub_user_counts_against_its_parents_bucket() -> None:
    assert caller(user_id="child", parent_id="u1").rate_key == "u:u1"


def test_scopes_limit_api_keys_and_never_an_interactive_sign_in() -> None:
    llm_key = caller(api_key_id="k1", scopes="llm")
    assert llm_key.may_use_key_for("llm")
    assert not llm_key.may_use_key_for("read")
    assert not llm_key.may_use_key_for(None)
    assert not caller(api_key_id="k2", scopes="").may_use_key_for("llm")
    assert caller(api_key_id="k3", scopes="llm,read").may_use_key_for("read")
    assert caller().may_use_key_for(None) and caller().may_use_key_for("llm")


def test_a_re_scoped_key_refuses_tokens_minted_with_its_old_scopes() -> None:
    denylist = LocalDenylist()
    denylist.change_api_key_scopes("k1", changed_at=2000, scopes="read", ttl=60)
    assert denylist.is_revoked(caller(session_id=None, api_key_id="k1", scopes="llm,read"))
    assert not denylist.is_revoked(caller(session_id=None, api_key_id="k1", scopes="read"))
    # An older change arriving late does not undo the newer one.
    denylist.change_api_key_scopes("k1", changed_at=1000, scopes="llm,read", ttl=60)
    assert not denylist.is_revoked(caller(session_id=None, api_key_id="k1", scopes="read"))


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
