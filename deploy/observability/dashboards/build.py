"""Dashboards as code, and the Kubernetes PrometheusRule made from the same rule files.

    python deploy/observability/dashboards/build.py          write every generated file
    python deploy/observability/dashboards/build.py --check  fail if a generated file is stale

Generated: ``dashboards/*.json`` (Grafana, import or provision them) and
``deploy/k8s/base/monitoring.yaml`` (ServiceMonitor and PrometheusRule for the
prometheus-operator). Edit this file or ``rules/*.yml``, never the outputs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from grafanalib._gen import DashboardEncoder
from grafanalib.core import (
    Dashboard,
    GridPos,
    Stat,
    Target,
    Template,
    Templating,
    TimeSeries,
)

HERE = Path(__file__).resolve().parent
OBSERVABILITY = HERE.parent
ROOT = OBSERVABILITY.parents[1]
RULE_FILES = (OBSERVABILITY / "rules" / "recording.yml", OBSERVABILITY / "rules" / "alerts.yml")
K8S_MONITORING = ROOT / "deploy" / "k8s" / "base" / "monitoring.yaml"
SERVICES = ("gateway", "auth", "billing", "usage", "llm-proxy")
DATASOURCE = "${datasource}"
WIDTH, HEIGHT = 12, 8


def _panel(title: str, exprs: Iterable[tuple[str, str]], unit: str = "") -> TimeSeries:
    """A time series of PromQL expressions (expr, legend); ``_dashboard`` places it."""
    return TimeSeries(
        title=title,
        dataSource=DATASOURCE,
        targets=[
            Target(expr=expr, legendFormat=legend, refId=chr(ord("A") + i))
            for i, (expr, legend) in enumerate(exprs)
        ],
        unit=unit,
    )


def _dashboard(uid: str, title: str, panels: list[Any]) -> dict[str, Any]:
    placed = []
    # Two panels a row, in the order given.
    for n, panel in enumerate(panels):
        panel.gridPos = GridPos(h=HEIGHT, w=WIDTH, x=(n % 2) * WIDTH, y=(n // 2) * HEIGHT)
        placed.append(panel)
    dashboard = Dashboard(
        title=title,
        uid=uid,
        tags=["tollgate"],
        timezone="browser",
        refresh="30s",
        panels=placed,
        templating=Templating(
            list=[
                Template(
                    name="datasource", label="Data source", query="prometheus", type="datasource"
                )
            ]
        ),
    ).auto_panel_ids()
    data: dict[str, Any] = json.loads(json.dumps(dashboard.to_json_data(), cls=DashboardEncoder))
    return data


def golden_signals(service: str | None) -> list[TimeSeries]:
    where = f'{{service="{service}"}}' if service else ""
    legend = "{{service}}"
    return [
        _panel("Requests per second", [(f"tollgate:http_requests:rate5m{where}", legend)], "reqps"),
        _panel(
            "Share of requests answered 5xx",
            [(f"tollgate:http_error_ratio:rate5m{where}", legend)],
            "percentunit",
        ),
        _panel(
            "Latency p50 / p99 (non-LLM routes)",
            [
                (f"tollgate:http_latency_seconds:p50_5m{where}", f"p50 {legend}"),
                (f"tollgate:http_latency_seconds:p99_5m{where}", f"p99 {legend}"),
            ],
            "s",
        ),
    ]


def delivery(job: str) -> list[TimeSeries]:
    return [
        _panel(
            "Outbox: events waiting, and the oldest one's age",
            [
                (f'tollgate_outbox_pending_events{{job="{job}"}}', "waiting"),
                (f'tollgate_outbox_oldest_pending_age_seconds{{job="{job}"}}', "oldest (s)"),
            ],
        ),
        _panel(
            "Events consumed by outcome",
            [
                (
                    f'sum by (queue, outcome) (rate(tollgate_events_consumed_total{{job="{job}"}}[5m]))',
                    "{{queue}} {{outcome}}",
                )
            ],
            "ops",
        ),
        _panel(
            "Dead letters parked",
            [(f'tollgate_dead_letter_messages{{job="{job}"}}', "{{queue}}")],
        ),
    ]


def overview() -> dict[str, Any]:
    panels: list[Any] = [
        Stat(
            title="Services up",
            dataSource=DATASOURCE,
            targets=[Target(expr='up{job=~"tollgate-.*"}', legendFormat="{{job}}", refId="A")],
            reduceCalc="last",
        ),
        *golden_signals(None),
        _panel(
            "LLM time to first token p50 / p99",
            [
                ("tollgate:llm_time_to_first_token_seconds:p50_5m", "p50"),
                ("tollgate:llm_time_to_first_token_seconds:p99_5m", "p99"),
            ],
            "s",
        ),
        _panel(
            "Outbox: oldest waiting event, per service",
            [("tollgate:outbox_oldest_pending_age_seconds:max", "{{job}}")],
            "s",
        ),
        _panel("Dead letters parked", [("tollgate:dead_letter_messages:max", "{{queue}}")]),
        _panel(
            "Rate-limit refusals by route class",
            [("tollgate:rate_limit_refusals:rate5m", "{{route_class}}")],
            "reqps",
        ),
    ]
    return _dashboard("tollgate-overview", "Tollgate: overview", panels)


SERVICE_PANELS: dict[str, list[TimeSeries]] = {
    "gateway": [
        _panel(
            "Rate-limit decisions",
            [
                (
                    "sum by (route_class, outcome) (rate(tollgate_gateway_rate_limit_decisions_total[5m]))",
                    "{{route_class}} {{outcome}}",
                )
            ],
            "reqps",
        ),
        _panel("Refused credentials (401)", [("tollgate:auth_failures:rate5m", "401/s")], "reqps"),
        _panel(
            "Calls to services that failed",
            [("tollgate:gateway_upstream_errors:rate5m", "{{service}} {{kind}}")],
            "reqps",
        ),
    ],
    "billing": [
        _panel(
            "Stripe webhook lag p99 (event created to received)",
            [("tollgate:stripe_webhook_lag_seconds:p99_1h", "p99")],
            "s",
        ),
        _panel(
            "Stripe webhooks received / refused",
            [
                ("tollgate:stripe_webhooks:rate5m", "received"),
                ("tollgate:stripe_webhook_failures:rate5m", "refused"),
            ],
            "reqps",
        ),
    ],
    "usage": [
        _panel("Holds open", [("tollgate:usage_holds_open:sum", "open")]),
        _panel("Holds expired unsettled", [("tollgate:usage_holds_expired:rate5m", "expired/s")]),
    ],
    "llm-proxy": [
        _panel(
            "Calls by model and status",
            [("tollgate:llm_calls:rate5m", "{{model}} {{status}}")],
            "ops",
        ),
        _panel(
            "Time to first token p50 / p99",
            [
                ("tollgate:llm_time_to_first_token_seconds:p50_5m", "p50"),
                ("tollgate:llm_time_to_first_token_seconds:p99_5m", "p99"),
            ],
            "s",
        ),
        _panel(
            "Upstream failure ratio by provider",
            [("tollgate:llm_upstream_failure_ratio:rate5m", "{{provider}}")],
            "percentunit",
        ),
        _panel("Hold at usage p99", [("tollgate:llm_hold_seconds:p99_5m", "p99")], "s"),
        _panel(
            "Tokens billed by model",
            [("sum by (model, kind) (rate(tollgate_llm_tokens_total[5m]))", "{{model}} {{kind}}")],
        ),
    ],
}


def service_dashboard(service: str) -> dict[str, Any]:
    panels: list[Any] = [
        *golden_signals(service),
        *SERVICE_PANELS.get(service, []),
    ]
    if service != "gateway":  # the gateway has no database, so no outbox
        panels += delivery(f"tollgate-{service}")
    return _dashboard(f"tollgate-{service}", f"Tollgate: {service}", panels)


def money_flow() -> dict[str, Any]:
    panels: list[Any] = [
        _panel(
            "Holds taken at usage (reservations answered)",
            [
                (
                    'sum by (status) (rate(tollgate_http_requests_total{service="usage", route="/internal/reservations"}[5m]))',
                    "{{status}}",
                )
            ],
            "reqps",
        ),
        _panel("Holds open", [("tollgate:usage_holds_open:sum", "open")]),
        _panel("Holds expired unsettled", [("tollgate:usage_holds_expired:rate5m", "expired/s")]),
        _panel(
            "Tokens billed by model",
            [("sum by (model, kind) (rate(tollgate_llm_tokens_total[5m]))", "{{model}} {{kind}}")],
        ),
        _panel(
            "Settlement events waiting in llm-proxy's outbox",
            [
                ('tollgate_outbox_pending_events{job="tollgate-llm-proxy"}', "waiting"),
                (
                    'tollgate_outbox_oldest_pending_age_seconds{job="tollgate-llm-proxy"}',
                    "oldest (s)",
                ),
            ],
        ),
        _panel(
            "Grants and plan changes applied (usage's consumers)",
            [
                (
                    'sum by (queue, outcome) (rate(tollgate_events_consumed_total{job="tollgate-usage"}[5m]))',
                    "{{queue}} {{outcome}}",
                )
            ],
            "ops",
        ),
        _panel(
            "Stripe webhooks received / refused",
            [
                ("tollgate:stripe_webhooks:rate5m", "received"),
                ("tollgate:stripe_webhook_failures:rate5m", "refused"),
            ],
            "reqps",
        ),
        _panel(
            "Stripe webhook lag p99 (event created to received)",
            [("tollgate:stripe_webhook_lag_seconds:p99_1h", "p99")],
            "s",
        ),
        _panel("Dead letters parked", [("tollgate:dead_letter_messages:max", "{{queue}}")]),
    ]
    return _dashboard("tollgate-money-flow", "Tollgate: money flow", panels)


def dashboards() -> dict[str, dict[str, Any]]:
    found = {"overview.json": overview(), "money-flow.json": money_flow()}
    for service in SERVICES:
        found[f"{service}.json"] = service_dashboard(service)
    return found


def monitoring_manifest() -> str:
    """ServiceMonitor and PrometheusRule for the prometheus-operator, from the rule files."""
    groups: list[Any] = []
    for path in RULE_FILES:
        groups += yaml.safe_load(path.read_text())["groups"]
    service_monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "tollgate", "labels": {"app.kubernetes.io/component": "monitoring"}},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/component": "service"}},
            "endpoints": [
                {
                    "port": "http",
                    "path": "/metrics",
                    "interval": "15s",
                    # The alerts select on job="tollgate-<service>", as the static configs name it.
                    "relabelings": [
                        {
                            "sourceLabels": [
                                "__meta_kubernetes_service_label_app_kubernetes_io_name"
                            ],
                            "targetLabel": "job",
                            "replacement": "tollgate-$1",
                        }
                    ],
                }
            ],
        },
    }
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "tollgate", "labels": {"app.kubernetes.io/component": "monitoring"}},
        "spec": {"groups": groups},
    }
    header = (
        "# Generated by deploy/observability/dashboards/build.py from deploy/observability/rules:\n"
        "# edit those, then run it. Needs the prometheus-operator's CRDs in the cluster.\n"
    )
    body = yaml.safe_dump_all([service_monitor, rule], sort_keys=False, width=120)
    return header + "---\n" + body


def outputs() -> dict[Path, str]:
    files = {
        HERE / name: json.dumps(data, indent=2, sort_keys=True) + "\n"
        for name, data in dashboards().items()
    }
    files[K8S_MONITORING] = monitoring_manifest()
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a generated file is stale")
    args = parser.parse_args()
    stale = []
    for path, text in outputs().items():
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(path.relative_to(ROOT))
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("stale (run deploy/observability/dashboards/build.py):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
