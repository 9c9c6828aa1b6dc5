from pydantic_settings import SettingsConfigDict

from tollgate.shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_file=".env", extra="ignore")

    port: int = 8000
    client_id: str = "gateway"
    auth_url: str = "http://127.0.0.1:8001"
    billing_url: str = "http://127.0.0.1:8002"
    usage_url: str = "http://127.0.0.1:8003"
    llm_proxy_url: str = "http://127.0.0.1:8004"
