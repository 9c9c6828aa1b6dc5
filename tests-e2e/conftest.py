"""The whole system as real processes on its own ports, databases, vhost and Redis db.

Services run on 81xx (gateway 8100), against the ``<svc>_e2e`` databases and the
``tollgate_test_e2e`` vhost, so a running ``make up`` is never touched. Each
service's output goes to ``.run/e2e-logs/<service>.log``.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from tollgate.shared.testing import reset_database, test_redis_url
from tollgate.standins.llm import FakeProvider

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "services" / "auth" / "tests" / "integration"))

from devstack import SERVICES, Stack  # noqa: E402
from journeys import edited_plan  # noqa: E402
from standins import (  # noqa: E402
    WEBHOOK_SECRET,
    BackgroundLoop,
    MailSink,
    providers_file,
    start_oauth_provider,
    start_stripe,
)
from suite_settings import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, VHOST  # noqa: E402


def reset_vhost() -> None:
    if shutil.which("rabbitmqctl") is None:
        return
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", VHOST], capture_output=True)
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", VHOST], check=True, capture_output=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )


async def reset_state() -> None:
    for spec in SERVICES:
        if spec.database:
            url = (
                f"postgresql+asyncpg://tollgate_{spec.database}:{PASSWORD}"
                f"@127.0.0.1:5432/{spec.database}_e2e"
            )
            await reset_database(url)
    redis = Redis.from_url(test_redis_url("e2e"))
    await redis.flushdb()
    await redis.aclose()
    reset_vhost()


@dataclass
class Outside:
    """The stand-ins for what lies outside: a test reads what they saw."""

    mail: MailSink
    stripe: Any
    llm: FakeProvider
    oauth: Any


@pytest.fixture(scope="session")
def outside_loop() -> Iterator[BackgroundLoop]:
    loop = BackgroundLoop()
    yield loop
    loop.close()


@pytest.fixture(scope="session")
def stack(
    outside_loop: BackgroundLoop, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    asyncio.run(reset_state())
    stack = Stack(
        port_offset=100,
        database_suffix="_e2e",
        vhost=VHOST,
        redis_db=int(test_redis_url("e2e").rsplit("/", 1)[1]),
        log_dir=ROOT / ".run" / "e2e-logs",
    )
    gateway = stack.url("gateway")
    mail = MailSink()
    mail.start()
    stripe = start_stripe(outside_loop, f"{gateway}/api/billing/webhooks/stripe")
    llm = FakeProvider("standin")
    outside_loop.run(llm.start())
    catalog = providers_file(tmp_path_factory.mktemp("llm"), llm.url)
    oauth = outside_loop.run(start_oauth_provider())
    stack.extra_env = {
        "TOLLGATE_ENV": "test",
        "AUTH_PUBLIC_URL": gateway,
        "AUTH_SMTP_HOST": "127.0.0.1",
        "AUTH_SMTP_PORT": str(mail.port),
        "BILLING_STRIPE_API_KEY": "sk_test_e2e_standin",
        "BILLING_STRIPE_API_BASE": stripe.url,
        "BILLING_STRIPE_WEBHOOK_SECRETS": WEBHOOK_SECRET,
        "BILLING_STRIPE_PRICE_PRO": "price_pro_e2e",
        "BILLING_STRIPE_PRICE_ENTERPRISE": "price_enterprise_e2e",
        "BILLING_STRIPE_PRICE_PRO_YEARLY": "price_pro_yearly_e2e",
        # Stripe sends people back to the web app's pages, on this stack's gateway.
        "BILLING_CHECKOUT_SUCCESS_URL": f"{gateway}/billing/success",
        "BILLING_CHECKOUT_CANCEL_URL": f"{gateway}/billing/cancel",
        "BILLING_TOP_UP_RETURN_URL": f"{gateway}/billing/credits",
        "BILLING_PORTAL_RETURN_URL": f"{gateway}/billing",
        "LLM_PROXY_PROVIDERS_FILE": str(catalog),
        "LLM_PROXY_USAGE_URL": stack.url("usage"),
        # A 402 names the web app's pages on this stack's gateway.
        "LLM_PROXY_PUBLIC_URL": gateway,
        # A hold whose answer was lost (usage killed after committing it) is settled only
        # by its TTL; a short one lets the drills see it return within the test.
        "LLM_PROXY_RESERVATION_TTL_SECONDS": "15",
        "USAGE_SWEEP_INTERVAL_SECONDS": "1",
        # A loaded machine can pause a drill for a second between two calls of one busy
        # caller; its lease should not be retired as idle meanwhile.
        "LLM_PROXY_LEASE_IDLE_SECONDS": "2",
        "AUTH_OAUTH_CALLBACK_BASE_URL": gateway,
        # Every test client is 127.0.0.1: the per-address sign-in limits (the gateway's
        # requests, auth's failed attempts) would throttle the suite itself. Auth's own
        # per-account throttle stays as configured.
        "GATEWAY_AUTH_REQUESTS_PER_MINUTE_PER_IP": "100000",
        "AUTH_THROTTLE_IP_FAILURES": "100000",
        **{f"AUTH_{key.upper()}": value for key, value in oauth.settings().items()},
    }
    stack.outside = Outside(mail, stripe, llm, oauth)  # type: ignore[attr-defined]
    stack.migrate()
    subprocess.run(
        [sys.executable, "-m", "tollgate.auth", "create-superadmin", "--email", ADMIN_EMAIL],
        env={**stack.env(), "AUTH_SUPERADMIN_PASSWORD": ADMIN_PASSWORD},
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    stack.start()
    try:
        stack.wait_ready(timeout=90)
        yield stack
    finally:
        stack.stop()
        mail.stop()


@pytest.fixture(scope="session")
def outside(stack: Stack) -> Outside:
    return stack.outside  # type: ignore[attr-defined, no-any-return]


@pytest.fixture
async def gateway(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url("gateway"), timeout=30) as client:
        yield client


@pytest.fixture
def admin_credentials() -> tuple[str, str]:
    """Email and password of the superadmin, for journeys that sign in as a person would."""
    return ADMIN_EMAIL, ADMIN_PASSWORD


@pytest.fixture
async def admin(gateway: httpx.AsyncClient) -> dict[str, str]:
    """Headers of the superadmin made with ``python -m tollgate.auth create-superadmin``."""
    response = await gateway.post(
        "/api/auth/login-json", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
async def free_plan_without_a_minute_limit(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> AsyncIterator[None]:
    """The free plan with no practical tokens-per-minute limit while a journey runs, for
    journeys that spend a whole free allocation in one call and call again at once (the
    limit itself has its journeys in test_plan_limits)."""
    async with edited_plan(gateway, admin, "free", tokens_per_minute=100_000_000):
        yield
