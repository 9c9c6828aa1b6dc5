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
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from tollgate.shared.testing import reset_database, test_redis_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from devstack import SERVICES, Stack  # noqa: E402

VHOST = "tollgate_test_e2e"
PASSWORD = "tollgate"


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


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    asyncio.run(reset_state())
    stack = Stack(
        port_offset=100,
        database_suffix="_e2e",
        vhost=VHOST,
        redis_db=int(test_redis_url("e2e").rsplit("/", 1)[1]),
        log_dir=ROOT / ".run" / "e2e-logs",
        extra_env={"TOLLGATE_ENV": "test"},
    )
    stack.migrate()
    stack.start()
    try:
        stack.wait_ready(timeout=90)
        yield stack
    finally:
        stack.stop()


@pytest.fixture
async def gateway(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url("gateway"), timeout=30) as client:
        yield client
