"""A request that does not parse as HTTP is the client's mistake, and aiohttp has already
answered it 400: one line at info, not an error with a traceback that anyone on the
internet can write into the gateway's log at will (and that would quote the offending
header, a bearer token's first bytes included)."""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import HttpProcessingError

__all__ = ["MalformedRequests", "log_malformed_requests_plainly"]


class MalformedRequests(logging.Filter):
    """On aiohttp's server logger: a refused malformed request becomes one info line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and 400 <= exc.code < 500:
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
            # The class says what was wrong; the message would quote the request.
            record.msg = "refused a malformed request: %d %s"
            record.args = (exc.code, type(exc).__name__)
            record.exc_info, record.exc_text = None, None
        return True


_FILTER = MalformedRequests()


def log_malformed_requests_plainly() -> None:
    """Once per process however many apps are made: a logger keeps one of each filter."""
    logging.getLogger("aiohttp.server").addFilter(_FILTER)
