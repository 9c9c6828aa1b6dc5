"""The web app's settings: where the public API is, and how sessions are kept."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from tollgate.shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="WEB_", env_file=".env", extra="ignore")

    port: int = 8005
    # The gateway: every call the app makes goes through the public API, as the person.
    api_url: str = "http://127.0.0.1:8000"
    api_timeout_seconds: float = Field(10.0, gt=0, le=60)

    # Server-side sessions in Redis (REDIS_URL); the cookie carries only their id.
    session_key_prefix: str = "web:session:"
    session_idle_days: int = Field(14, ge=1, le=30)
    session_cookie: str = "tollgate_session"

    @property
    def secure_cookies(self) -> bool:
        # Browsers drop Secure cookies on plain http, which only development serves.
        return self.env != "development"
