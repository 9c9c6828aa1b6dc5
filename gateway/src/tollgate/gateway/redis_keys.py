"""Names of the gateway's Redis keys, in one place (every replica must agree on them)."""

from __future__ import annotations

PREFIX = "gw:"


def bucket(route_class: str, who: str) -> str:
    """GCRA state (theoretical arrival time) of one caller in one route class."""
    return f"{PREFIX}rl:{route_class}:{who}"


def revoked_session(session_id: str) -> str:
    return f"{PREFIX}rv:s:{session_id}"


def revoked_user(user_id: str) -> str:
    """Tokens of this user issued up to the stored not_before (epoch seconds) are refused."""
    return f"{PREFIX}rv:u:{user_id}"


def revoked_api_key(key_id: str) -> str:
    return f"{PREFIX}rv:k:{key_id}"


def plan_limits(account_id: str) -> str:
    """Hash of the account's plan limits from ``subscription.changed`` (with its sequence)."""
    return f"{PREFIX}pl:{account_id}"


def api_key_scopes(key_id: str) -> str:
    """Hash of a key's current scopes (``scopes``) and when they were set (``changed_at``)."""
    return f"{PREFIX}ks:{key_id}"


PLAN_PREFIX = f"{PREFIX}plan:"


def plan(code: str) -> str:
    """Hash of a plan's request limits from ``plan.updated`` (with its ``version``).

    The admission script builds this name from the account's plan code, so it is
    the one key it reads without being told: keep the prefix in step with it.
    """
    return f"{PLAN_PREFIX}{code}"
