from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from tollgate.shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUTH_", env_file=".env", extra="ignore")

    port: int = 8001
    database_url: str = "postgresql+asyncpg://tollgate_auth:tollgate@127.0.0.1:5432/auth"
    client_id: str = "auth"
    client_secret: SecretStr = SecretStr("changeme")

    # "gateway:secret,billing:secret,..." — one client-credentials client per service.
    service_clients: SecretStr = SecretStr("")
    # Encrypts the Ed25519 private keys kept in the database (AES-GCM, key derived by SHA-256).
    # Comma-separated: the first seals new keys, all of them open stored ones.
    key_encryption_secret: SecretStr = SecretStr("changeme")
    signing_key_rotation_days: int = Field(30, ge=1)

    access_token_ttl_seconds: int = Field(900, ge=60, le=3600)
    service_token_ttl_seconds: int = Field(900, ge=60, le=3600)
    refresh_token_ttl_days: int = Field(30, ge=1, le=90)
    # A spent refresh token presented again within this window is a concurrent refresh by
    # the same client, not a theft: it gets a fresh token instead of revoking the session.
    refresh_reuse_grace_seconds: int = Field(10, ge=0, le=120)

    # Argon2id, OWASP's second recommended set: 19 MiB, 2 passes, 1 lane.
    argon2_time_cost: int = 2
    argon2_memory_cost_kib: int = 19456
    argon2_parallelism: int = 1

    # Login throttling (Redis): failures counted in a window, then exponential backoff.
    throttle_window_seconds: int = 900
    throttle_account_failures: int = 5
    throttle_ip_failures: int = 20
    throttle_base_delay_seconds: int = 2
    throttle_max_delay_seconds: int = 900

    # Proxies in front of auth that append to X-Forwarded-For (the gateway: 1, plus the
    # gateway's own trusted hops). 0 ignores the header and uses the peer address.
    trusted_proxy_hops: int = Field(1, ge=0, le=5)

    # What the extension is told to talk to: the gateway's public address.
    public_url: str = "http://127.0.0.1:8000"
    # Usage and the LLM proxy, asked with the caller's own token for the period's figures
    # (sign-in answers, /me) and the served models (vscode-config). The devstack hands
    # every process the gateway's routing table, so GATEWAY_*_URL is accepted too.
    usage_url: str = Field(
        "http://127.0.0.1:8003",
        validation_alias=AliasChoices("AUTH_USAGE_URL", "GATEWAY_USAGE_URL"),
    )
    llm_proxy_url: str = Field(
        "http://127.0.0.1:8004",
        validation_alias=AliasChoices("AUTH_LLM_PROXY_URL", "GATEWAY_LLM_PROXY_URL"),
    )
    # A sign-in never waits longer than this for those figures; they are null instead.
    peer_timeout_seconds: float = Field(1.0, gt=0, le=10)
    api_key_default_scopes: str = "llm,read"
    vscode_session_ttl_days: int = 30

    # Outgoing mail (password reset, email verification, invitations).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    mail_from: str = "Tollgate <no-reply@tollgate.dev>"
    password_reset_ttl_minutes: int = Field(30, ge=5, le=1440)
    email_verification_ttl_hours: int = Field(48, ge=1, le=720)
    invitation_ttl_days: int = Field(7, ge=1, le=60)

    # OAuth sign-in. A provider is offered only when its client id is set; the endpoint
    # URLs are configurable so tests (and GitHub Enterprise) can point elsewhere.
    oauth_github_client_id: str | None = None
    oauth_github_client_secret: SecretStr | None = None
    oauth_github_authorize_url: str = "https://github.com/login/oauth/authorize"
    oauth_github_token_url: str = "https://github.com/login/oauth/access_token"
    oauth_github_api_url: str = "https://api.github.com"
    oauth_google_client_id: str | None = None
    oauth_google_client_secret: SecretStr | None = None
    oauth_google_authorize_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    oauth_google_token_url: str = "https://oauth2.googleapis.com/token"
    oauth_google_userinfo_url: str = "https://openidconnect.googleapis.com/v1/userinfo"
    # Exact redirect URIs a client may ask to be sent back to (comma-separated).
    oauth_redirect_uris: str = "vscode://tollgate.tollgate/auth-callback"
    # Where providers send the browser back: the gateway's public address of our callback.
    oauth_callback_base_url: str | None = None
    oauth_code_ttl_seconds: int = Field(300, ge=30, le=600)
    device_code_ttl_seconds: int = Field(600, ge=60, le=1800)
    device_poll_interval_seconds: int = Field(5, ge=1, le=60)

    def registered_redirect_uris(self) -> frozenset[str]:
        return frozenset(u.strip() for u in self.oauth_redirect_uris.split(",") if u.strip())

    def key_encryption_secrets(self) -> list[str]:
        values = self.key_encryption_secret.get_secret_value().split(",")
        return [v.strip() for v in values if v.strip()] or [""]

    def service_client_secrets(self) -> dict[str, str]:
        clients: dict[str, str] = {}
        for entry in self.service_clients.get_secret_value().split(","):
            name, sep, secret = entry.strip().partition(":")
            if sep and name and secret:
                clients[name] = secret
        return clients
