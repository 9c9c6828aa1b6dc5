import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from tollgate.shared.settings import ServiceSettings


class ExampleSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EXAMPLE_", env_file=None, extra="ignore")
    database_url: str = "postgresql+asyncpg://u:tollgate@localhost/db"


def test_development_accepts_placeholder_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOLLGATE_ENV", "development")
    assert ExampleSettings().client_secret.get_secret_value() == "changeme"


def test_production_refuses_a_placeholder_client_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOLLGATE_ENV", "production")
    monkeypatch.setenv("EXAMPLE_DATABASE_URL", "postgresql+asyncpg://u:s3cr3t-real@db/x")
    monkeypatch.setenv("AMQP_URL", "amqp://app:real-pass@mq/")
    with pytest.raises(ValidationError, match="client_secret"):
        ExampleSettings()


def test_production_refuses_a_default_password_in_a_connection_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOLLGATE_ENV", "production")
    monkeypatch.setenv("EXAMPLE_CLIENT_SECRET", "a-real-secret-value")
    monkeypatch.setenv("AMQP_URL", "amqp://app:real-pass@mq/")
    with pytest.raises(ValidationError, match="database_url"):
        ExampleSettings()


def test_production_starts_with_real_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOLLGATE_ENV", "production")
    monkeypatch.setenv("EXAMPLE_CLIENT_SECRET", "a-real-secret-value")
    monkeypatch.setenv("EXAMPLE_DATABASE_URL", "postgresql+asyncpg://u:s3cr3t-real@db/x")
    monkeypatch.setenv("AMQP_URL", "amqp://app:real-pass@mq/")
    settings = ExampleSettings()
    assert settings.env == "production"
    assert settings.service_name == "example"


def test_shared_variables_are_read_without_the_service_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/3")
    assert ExampleSettings().redis_url == "redis://cache:6379/3"
