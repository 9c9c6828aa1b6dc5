from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from tollgate.shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BILLING_", env_file=".env", extra="ignore")

    port: int = 8002
    database_url: str = "postgresql+asyncpg://tollgate_billing:tollgate@127.0.0.1:5432/billing"
    client_id: str = "billing"
    client_secret: SecretStr = SecretStr("changeme")
