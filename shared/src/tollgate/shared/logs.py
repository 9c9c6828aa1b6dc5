"""Log lines that carry the request id and the current trace.

JSON, one object a line, for machines (the default outside development); in
development (``LOG_FORMAT=text``) one short line a record for the person watching
``make up``: time, level, where, message, then the request id and any extra fields.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
from datetime import UTC, datetime
from typing import Any, Literal

from opentelemetry import trace

__all__ = [
    "JsonFormatter",
    "TextFormatter",
    "configure_logging",
    "request_id_for",
    "request_id_var",
]

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)

# What a caller's X-Request-ID may be to be kept: short, and nothing that could forge
# a log line or a header.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def request_id_for(candidate: str | None) -> str:
    """The caller's ``X-Request-ID`` when it is well formed, otherwise a new one."""
    if candidate and _SAFE_REQUEST_ID.match(candidate):
        return candidate
    return os.urandom(16).hex()


_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
            entry["span_id"] = format(span.span_id, "016x")
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """``12:04:31 WARNING relay  broker unreachable; retrying  request_id=…``"""

    def format(self, record: logging.LogRecord) -> str:
        clock = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S")
        where = record.name.removeprefix("tollgate.")
        line = f"{clock} {record.levelname:<7} {where}  {record.getMessage()}"
        fields = {
            key: value
            for key, value in record.__dict__.items()
            if key not in _RESERVED and not key.startswith("_")
        }
        request_id = request_id_var.get()
        if request_id:
            fields = {"request_id": request_id, **fields}
        if fields:
            line += "  " + " ".join(f"{key}={value}" for key, value in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(
    service: str, level: str = "INFO", fmt: Literal["json", "text"] = "json"
) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service) if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log repeats what our metrics and traces already say.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
