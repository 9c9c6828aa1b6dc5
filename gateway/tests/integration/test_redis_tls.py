"""A Redis reached over TLS (``rediss://``): both of the gateway's clients speak it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import trustme

from tests.integration.conftest import eventually, gateway_settings, run_gateway
from tests.integration.standins import StandIn
from tollgate.gateway.script_channel import RedisUnavailable, ScriptChannel
from tollgate.shared.testing import free_port


@dataclass
class TlsRedis:
    port: int
    ca_file: Path

    def url(self, ca_file: Path | None = None) -> str:
        return f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={ca_file or self.ca_file}"


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[TlsRedis]:
    """A redis-server of this test's own, TLS only, with a certificate made for the test."""
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1", "localhost")
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    certificate.cert_chain_pems[0].write_to_path(str(cert_file))
    certificate.private_key_pem.write_to_path(str(key_file))
    port = free_port()
    process = subprocess.Popen(
        [
            "redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
            "--tls-cert-file", str(cert_file), "--tls-key-file", str(key_file),
            "--tls-ca-cert-file", str(ca_file), "--tls-auth-clients", "no",
            "--save", "", "--appendonly", "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    yield TlsRedis(port, ca_file)
    process.terminate()
    process.wait(timeout=5)


async def test_the_gateway_limits_and_lets_people_sign_in_through_a_redis_over_tls(
    standin: StandIn, jwks_url: str, tls_redis: TlsRedis
) -> None:
    settings = gateway_settings(standin.url, jwks_url, redis_url=tls_redis.url())
    async with run_gateway(settings) as gw, aiohttp.ClientSession() as http:

        async def signs_in() -> bool:
            # Sign-in is refused (503) unless the shared counters answer: it fails closed.
            async with http.post(gw.url + "/api/auth/login-json", json={}) as r:
                return r.status == 200

        async def ready() -> bool:
            # Its other checks (the broker's connection) may still be coming up.
            async with http.get(gw.url + "/readyz") as answer:
                body = await answer.json()
            assert body["checks"]["redis"] == "ok", body
            return bool(body["status"] == "ready")

        await eventually(signs_in, within=5)
        await eventually(ready, within=5)


async def test_a_redis_whose_certificate_is_not_trusted_is_never_spoken_to(
    tls_redis: TlsRedis, tmp_path: Path
) -> None:
    stranger = tmp_path / "stranger.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))
    untrusting = ScriptChannel(tls_redis.url(ca_file=stranger), timeout=2)
    in_the_clear = ScriptChannel(f"redis://127.0.0.1:{tls_redis.port}/0", timeout=0.5)
    trusting = ScriptChannel(tls_redis.url(), timeout=2)

    async def answers(channel: ScriptChannel) -> bool:
        try:
            return bool(await channel.evalsha("return 1", [], []) == 1)
        except RedisUnavailable:
            return False
        finally:
            await channel.close()

    assert await eventually(lambda: answers(trusting), within=5) >= 0
    assert not await answers(untrusting)
    assert not await answers(in_the_clear)


def test_a_redis_url_of_another_scheme_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="redis:// or rediss://"):
        ScriptChannel("http://127.0.0.1:6379/0", timeout=1)
