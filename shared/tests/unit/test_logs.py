"""Short readable log lines in development, JSON everywhere else."""

from __future__ import annotations

import json
import logging

import pytest
from pydantic_settings import SettingsConfigDict

from tollgate.shared.logs import JsonFormatter, TextFormatter, request_id_var
from tollgate.shared.settings import ServiceSettings


class ExampleSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EXAMPLE_", env_file=None, extra="ignore")


def record(message: str, **extra: object) -> logging.LogRecord:
    entry = logging.LogRecord(
        "tollgate.usage.relay", logging.WARNING, __file__, 1, message, (), None
    )
    entry.__dict__.update(extra)
    return entry


@pytest.mark.parametrize(
    ("env", "chosen", "expected"),
    [
        ("development", None, "text"),
        ("test", None, "json"),
        ("production", None, "json"),
        ("development", "json", "json"),
        ("test", "text", "text"),
        ("production", "", "json"),
    ],
)
def test_the_log_format_follows_the_environment_unless_chosen(
    monkeypatch: pytest.MonkeyPatch, env: str, chosen: str | None, expected: str
) -> None:
    monkeypatch.setenv("TOLLGATE_ENV", env)
    monkeypatch.setenv("EXAMPLE_CLIENT_SECRET", "a-real-secret-value")
    monkeypatch.setenv("AMQP_URL", "amqp://app:real-pass@mq/")
    if chosen is not None:
        monkeypatch.setenv("LOG_FORMAT", chosen)
    else:
        monkeypatch.delenv("LOG_FORMAT", raising=False)
    assert ExampleSettings().log_format == expected


def test_a_text_line_is_short_and_carries_the_request_id_and_extra_fields() -> None:
    token = request_id_var.set("req-42")
    try:
        line = TextFormatter().format(record("broker unreachable", queue="usage.recorded"))
    finally:
        request_id_var.reset(token)

    assert "\n" not in line
    assert "{" not in line
    clock, level, where, rest = line.split(maxsplit=3)
    assert len(clock) == 8 and clock.count(":") == 2
    assert (level, where) == ("WARNING", "usage.relay")
    assert rest == "broker unreachable  request_id=req-42 queue=usage.recorded"


def test_a_json_line_stays_one_object_with_the_service_and_fields() -> None:
    entry = json.loads(JsonFormatter("usage").format(record("sent", queue="usage.recorded")))

    assert entry["service"] == "usage"
    assert entry["msg"] == "sent"
    assert entry["queue"] == "usage.recorded"
