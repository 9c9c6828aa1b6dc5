from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI

from tollgate.auth.accounts.endpoints import router as accounts_router
from tollgate.auth.accounts.endpoints import users as users_router
from tollgate.auth.accounts.passwords import Passwords
from tollgate.auth.accounts.throttling import LoginThrottle, ThrottlePolicy
from tollgate.auth.admin.endpoints import router as admin_router
from tollgate.auth.api_keys.endpoints import internal as api_keys_internal
from tollgate.auth.api_keys.endpoints import router as api_keys_router
from tollgate.auth.balance_mail.consumer import subscriptions as balance_mail_subscriptions
from tollgate.auth.body_limit import BodyLimitMiddleware
from tollgate.auth.config import Settings
from tollgate.auth.device.endpoints import router as device_router
from tollgate.auth.housekeeping import housekeeping
from tollgate.auth.imports.endpoints import router as imports_router
from tollgate.auth.mail.sender import Mailer, SmtpConfig
from tollgate.auth.models import messaging
from tollgate.auth.oauth.endpoints import accounts as oauth_accounts_router
from tollgate.auth.oauth.endpoints import router as oauth_router
from tollgate.auth.oauth.providers import configured_providers
from tollgate.auth.orgs.endpoints import router as orgs_router
from tollgate.auth.outages import install_outage_handlers
from tollgate.auth.peers.client import Peers
from tollgate.auth.plans.consumer import subscriptions
from tollgate.auth.recovery.endpoints import router as recovery_router
from tollgate.auth.service_clients.endpoints import router as service_clients_router
from tollgate.auth.sessions.endpoints import router as sessions_router
from tollgate.auth.sessions.service import SessionPolicy
from tollgate.auth.signing.endpoints import router as jwks_router
from tollgate.auth.signing.keyring import KeyRing
from tollgate.auth.signing.sealing import KeySeal
from tollgate.auth.signing.tokens import LocalVerifier, TokenIssuer
from tollgate.auth.sub_users.endpoints import router as sub_users_router
from tollgate.auth.top_up_notices import consumer as top_up_notices
from tollgate.auth.vscode.endpoints import config_router as vscode_config_router
from tollgate.auth.vscode.endpoints import router as vscode_router
from tollgate.shared.runtime import ServiceRuntime
from tollgate.shared.security import MAX_LEEWAY_SECONDS
from tollgate.shared.verified_tokens import principals
from tollgate.shared.web import create_service_app


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    mailer = Mailer(
        SmtpConfig(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            starttls=settings.smtp_starttls,
            sender=settings.mail_from,
        )
    )
    runtime = ServiceRuntime(
        settings,
        messaging,
        [
            *subscriptions(),
            *top_up_notices.subscriptions(settings, lambda: app.state.mailer),
            *balance_mail_subscriptions(mailer, settings.public_url),
        ],
        use_redis=True,
    )

    async def start(app: FastAPI) -> None:
        assert runtime.sessionmaker is not None and runtime.redis is not None
        longest_token = max(settings.access_token_ttl_seconds, settings.service_token_ttl_seconds)
        keyring = KeyRing(
            runtime.sessionmaker,
            KeySeal(*settings.key_encryption_secrets()),
            rotate_after=timedelta(days=settings.signing_key_rotation_days),
            publish_grace=timedelta(seconds=longest_token + MAX_LEEWAY_SECONDS),
        )
        await keyring.ensure_active()
        verifier = LocalVerifier(
            keyring, issuer=settings.jwt_issuer, audience=settings.jwt_audience
        )
        await verifier.refresh(force=True)
        app.state.keyring = keyring
        app.state.jwt_verifier = verifier
        app.state.verified_tokens = principals(verifier)
        app.state.token_issuer = TokenIssuer(
            keyring,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            access_ttl=settings.access_token_ttl_seconds,
            service_ttl=settings.service_token_ttl_seconds,
        )
        app.state.session_policy = SessionPolicy(
            refresh_ttl=timedelta(days=settings.refresh_token_ttl_days),
            reuse_grace=timedelta(seconds=settings.refresh_reuse_grace_seconds),
        )
        app.state.passwords = Passwords(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_cost_kib,
            parallelism=settings.argon2_parallelism,
        )
        app.state.login_throttle = LoginThrottle(
            runtime.redis,
            ThrottlePolicy(
                window=settings.throttle_window_seconds,
                account_threshold=settings.throttle_account_failures,
                ip_threshold=settings.throttle_ip_failures,
                base_delay=settings.throttle_base_delay_seconds,
                max_delay=settings.throttle_max_delay_seconds,
            ),
        )
        app.state.reset_throttle = LoginThrottle(
            runtime.redis,
            ThrottlePolicy(
                window=3600,
                account_threshold=3,
                ip_threshold=settings.throttle_ip_failures,
                base_delay=60,
                max_delay=3600,
            ),
            prefix="auth:reset-throttle",
        )
        app.state.mailer = mailer
        app.state.service_clients = settings.service_client_secrets()
        app.state.oauth_providers = configured_providers(settings)
        app.state.oauth_http = httpx.AsyncClient(timeout=10.0, follow_redirects=False)
        app.state.peers = Peers(
            httpx.AsyncClient(timeout=settings.peer_timeout_seconds, follow_redirects=False),
            settings.usage_url,
            settings.llm_proxy_url,
        )
        app.state.housekeeping = housekeeping(app)
        app.state.housekeeping.start()

    async def stop(app: FastAPI) -> None:
        await app.state.housekeeping.stop()
        await app.state.jwt_verifier.close()
        await app.state.oauth_http.aclose()
        await app.state.peers.http.aclose()

    runtime.on_start.append(start)
    runtime.on_stop.append(stop)
    app = create_service_app(
        service=settings.service_name,
        title="Tollgate auth",
        lifespan=runtime.lifespan,
        readiness=runtime.readiness(),
        otlp_endpoint=settings.otlp_endpoint,
    )
    install_outage_handlers(app)
    app.add_middleware(BodyLimitMiddleware)
    for router in (
        jwks_router,
        service_clients_router,
        accounts_router,
        sessions_router,
        recovery_router,
        oauth_router,
        oauth_accounts_router,
        device_router,
        orgs_router,
        sub_users_router,
        users_router,
        api_keys_router,
        api_keys_internal,
        vscode_config_router,
        vscode_router,
        admin_router,
        imports_router,
    ):
        app.include_router(router)
    return app
