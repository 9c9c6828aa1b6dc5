"""Where a person may be sent after a form: only to a page of ours."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["safe_next"]


def safe_next(target: str | None, default: str = "/") -> str:
    """``target`` when it is a path on this site, else ``default``.

    Refused: absolute URLs, scheme-relative ``//host``, backslashes that browsers
    read as slashes (``/\\host``), control characters, and anything not starting
    with a single ``/``.
    """
    if not target or len(target) > 2000:
        return default
    if not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
