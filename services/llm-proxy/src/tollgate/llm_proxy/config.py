from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from tollgate.shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LLM_PROXY_", env_file=".env", extra="ignore")

    port: int = 8004
    database_url: str = "postgresql+asyncpg://tollgate_llm_proxy:tollgate@127.0.0.1:5432/llm_proxy"
    client_id: str = "llm-proxy"
    client_secret: SecretStr = SecretStr("changeme")
