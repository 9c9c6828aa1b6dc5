"""Every service comes up as its own process and says it is ready."""

import httpx
import pytest
from devstack import SERVICES, Stack


@pytest.mark.parametrize("name", [s.name for s in SERVICES])
async def test_each_service_reports_ready_with_its_dependencies(stack: Stack, name: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{stack.url(name)}/readyz")
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    assert all(str(v).startswith("ok") for v in checks.values()), checks
