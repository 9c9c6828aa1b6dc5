from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from tollgate.shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="USAGE_", env_file=".env", extra="ignore")

    port: int = 8003
    database_url: str = "postgresql+asyncpg://tollgate_usage:tollgate@127.0.0.1:5432/usage"
    client_id: str = "usage"
    client_secret: SecretStr = SecretStr("changeme")
