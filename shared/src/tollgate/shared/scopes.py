"""What an API key may be granted: the one vocabulary auth mints and the gateway enforces.

- ``llm``: calls to the LLM proxy (``/v1``, ``/api/llm``), which spend tokens.
- ``read``: reading the account (profile, balance, usage, invoices).
- ``write``: the few changes a tool may make with a key (a VS Code session's check,
  feature events). Spending money, managing keys, members or the account itself
  takes an interactive sign-in whatever the scopes.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["API_KEY_SCOPES", "ApiKeyScope", "canonical_scopes"]

ApiKeyScope = Literal["llm", "read", "write"]
API_KEY_SCOPES: tuple[ApiKeyScope, ...] = ("llm", "read", "write")


def canonical_scopes(scopes: object) -> str:
    """One spelling of a set of scopes, so two replicas compare them as text."""
    if not isinstance(scopes, list | tuple | set | frozenset):
        return ""
    return ",".join(sorted({str(s) for s in scopes}))
