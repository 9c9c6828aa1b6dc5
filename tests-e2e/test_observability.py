"""A real Prometheus, with the shipped rules, watching the running system.

It scrapes every service each second and evaluates the rules each second (the shipped
configurations use 15 s; the rules' `for` durations are the shipped ones). Bounded: the
slowest wait is the 30 s a service must stay down before its alert fires.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
import yaml
from devstack import SERVICES, Stack
from journeys import Person, eventually, funded, register

ROOT = Path(__file__).resolve().parents[1]
OBSERVABILITY = ROOT / "deploy" / "observability"
RULE_FILES = [OBSERVABILITY / "rules" / "recording.yml", OBSERVABILITY / "rules" / "alerts.yml"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def prometheus(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("prometheus")
    assert binary, "prometheus is missing: make test-e2e installs Debian's package"
    home = tmp_path_factory.mktemp("prometheus")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(path) for path in RULE_FILES],
        "scrape_configs": [
            {
                "job_name": f"tollgate-{spec.name}",
                "static_configs": [{"targets": [f"127.0.0.1:{stack.port(spec.name)}"]}],
            }
            for spec in SERVICES
        ],
    }
    (home / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    with (home / "prometheus.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={home / 'prometheus.yml'}",
                f"--storage.tsdb.path={home / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (home / "prometheus.log").read_text()[-2000:]
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


async def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=5) as client:
        body = (await client.get(f"{prometheus}/api/v1/query", params={"query": expr})).json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


async def alerts(prometheus: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=5) as client:
        body = (await client.get(f"{prometheus}/api/v1/alerts")).json()
    found: list[dict[str, Any]] = body["data"]["alerts"]
    return found


def firing(name: str, **labels: str) -> Any:
    def check(found: list[dict[str, Any]]) -> bool:
        return any(
            a["labels"]["alertname"] == name
            and a["state"] == "firing"
            and all(a["labels"].get(k) == v for k, v in labels.items())
            for a in found
        )

    return check


async def all_targets_up(prometheus: str) -> bool:
    up = await query(prometheus, 'up{job=~"tollgate-.*"}')
    return len(up) == len(SERVICES) and all(r["value"][1] == "1" for r in up)


async def test_a_killed_service_fires_its_alert_and_clears_once_back(
    stack: Stack, prometheus: str
) -> None:
    await eventually(lambda: all_targets_up(prometheus), bool, timeout=30, what="all up")
    assert not firing("TollgateServiceDown")(await alerts(prometheus))

    stack.kill("billing")
    try:
        found = await eventually(
            lambda: alerts(prometheus),
            firing("TollgateServiceDown", job="tollgate-billing", severity="critical"),
            timeout=75,
            what="TollgateServiceDown firing for billing",
        )
    finally:
        stack.restart("billing")
        await asyncio.to_thread(stack.wait_ready, 60)
    down = [a for a in found if a["labels"]["alertname"] == "TollgateServiceDown"]
    assert [a["labels"]["job"] for a in down] == ["tollgate-billing"]
    await eventually(
        lambda: alerts(prometheus),
        lambda found: not firing("TollgateServiceDown")(found),
        timeout=30,
        what="the alert resolved",
    )


async def test_llm_calls_give_the_time_to_first_token_rule_a_value(
    gateway: httpx.AsyncClient, prometheus: str
) -> None:
    person: Person = await register(gateway, "Grace")
    await funded(gateway, person)

    async def call(i: int) -> None:
        response = await gateway.post(
            "/v1/chat/completions",
            headers=person.headers,
            json={
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": f"observed call {i} [[words:3]]"}],
                "max_tokens": 8,
                "stream": i % 2 == 0,
            },
        )
        assert response.status_code == 200, response.text

    # A model's series appears with its first call, and rate() needs the series seen
    # before later calls increase it: one call, then the rest once Prometheus has it.
    await call(0)
    await eventually(
        lambda: query(prometheus, "tollgate_llm_time_to_first_token_seconds_count"),
        bool,
        timeout=30,
        what="the TTFT series scraped",
    )
    for i in range(1, 4):
        await call(i)

    def a_number(result: list[dict[str, Any]]) -> bool:
        return bool(result) and result[0]["value"][1] not in ("NaN", "+Inf")

    p50 = await eventually(
        lambda: query(prometheus, "tollgate:llm_time_to_first_token_seconds:p50_5m"),
        a_number,
        timeout=30,
        what="a TTFT p50",
    )
    assert 0 < float(p50[0]["value"][1]) < 5


async def test_a_parked_event_fires_the_dead_letter_alert_until_the_queue_is_emptied(
    stack: Stack, prometheus: str
) -> None:
    queue = "usage.accounts"
    connection = await aio_pika.connect(stack.env()["AMQP_URL"])
    async with connection:
        channel = await connection.channel()
        # Not an event: the consumer parks it at once (retrying cannot fix it).
        await channel.default_exchange.publish(
            aio_pika.Message(b"not an event", delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=queue,
        )
    # Each service reads its dead-letter depth every 15 s.
    await eventually(
        lambda: alerts(prometheus),
        firing("TollgateDeadLetters", job="tollgate-usage", queue=queue),
        timeout=45,
        what="TollgateDeadLetters firing for usage.accounts",
    )
    await asyncio.to_thread(
        subprocess.run,
        ["rabbitmqctl", "-q", "purge_queue", "-p", stack.vhost, f"{queue}.dlq"],
        check=True,
        capture_output=True,
    )
    await eventually(
        lambda: alerts(prometheus),
        lambda found: not firing("TollgateDeadLetters")(found),
        timeout=45,
        what="the dead-letter alert resolved",
    )


def metric_names(expr: str) -> set[str]:
    """Series names in a PromQL expression (label values like "tollgate-usage" are not)."""
    names = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr))
    return {n for n in names if n.startswith(("tollgate_", "tollgate:")) or n == "up"}


async def test_the_dashboards_show_only_metrics_the_services_export(stack: Stack) -> None:
    recorded: dict[str, str] = {}
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    recorded[rule["record"]] = rule["expr"]

    def base_metrics(name: str) -> set[str]:
        if name in recorded:
            return {m for inner in metric_names(recorded[name]) for m in base_metrics(inner)}
        return {re.sub(r"_(bucket|count|sum)$", "", name)}

    referenced: set[str] = set()
    for dashboard in (OBSERVABILITY / "dashboards").glob("*.json"):
        text = dashboard.read_text()
        for expr in re.findall(r'"expr": "((?:[^"\\]|\\.)*)"', text):
            expr = expr.encode().decode("unicode_escape")
            for name in metric_names(expr):
                referenced |= base_metrics(name)
    assert referenced, "no metric found in the dashboards"

    exported = {"up"}
    async with httpx.AsyncClient(timeout=10) as client:
        for spec in SERVICES:
            page = (await client.get(f"{stack.url(spec.name)}/metrics")).text
            exported |= set(re.findall(r"^# HELP (\S+)", page, flags=re.MULTILINE))
            exported |= {n.removesuffix("_total") for n in exported}
    missing = sorted(m for m in referenced if m not in exported and f"{m}_total" not in exported)
    assert not missing, f"dashboards read metrics no service exports: {missing}"
