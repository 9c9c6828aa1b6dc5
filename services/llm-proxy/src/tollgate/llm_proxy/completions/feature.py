"""The feature tag a client puts on a call, so usage stats say what the tokens went to.

An extension sends ``X-Tollgate-Feature: inline-edit``; a client that can only shape
the body (an SDK without header hooks) sends ``metadata: {"feature": "inline-edit"}``.
The header wins when both are given. The tag's shape is the one usage's analytics
accept for extension events, so the two breakdowns share their names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tollgate.llm_proxy.errors import InvalidRequest

__all__ = ["FEATURE_HEADER", "feature_of"]

FEATURE_HEADER = "x-tollgate-feature"
_SHAPE = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,63}$")


def feature_of(headers: Mapping[str, str], body: Mapping[str, Any]) -> str | None:
    raw = headers.get(FEATURE_HEADER)
    where = "X-Tollgate-Feature"
    if raw is None:
        metadata = body.get("metadata")
        raw = metadata.get("feature") if isinstance(metadata, Mapping) else None
        where = "metadata.feature"
    if raw is None:
        return None
    tag = str(raw).strip().lower()
    if not _SHAPE.match(tag):
        raise InvalidRequest(
            f"{where} must be 1-64 characters of a-z, 0-9, '.', '_' or '-', "
            "starting with a letter or digit",
            param=where,
        )
    return tag
