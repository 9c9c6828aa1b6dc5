from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from tollgate.shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUTH_", env_file=".env", extra="ignore")

    port: int = 8001
    database_url: str = "postgresql+asyncpg://tollgate_auth:tollgate@127.0.0.1:5432/auth"
    client_id: str = "auth"
    client_secret: SecretStr = SecretStr("changeme")
