"""The monitoring set is sound: rules load and pass their unit tests, every alert fires and
stays quiet in those tests and has a runbook, the generated files are current, and the
Kubernetes monitoring objects select every service."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = ROOT / "deploy" / "observability"
RULES = [OBSERVABILITY / "rules" / "recording.yml", OBSERVABILITY / "rules" / "alerts.yml"]
UNIT_TESTS = OBSERVABILITY / "tests" / "alerts.test.yml"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kustomize_render import render  # noqa: E402


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.fail("promtool is missing: make test-deploy installs Debian's prometheus package")
    return subprocess.run(  # noqa: S603 - promtool found on PATH, our own files
        [tool, *map(str, args)], capture_output=True, text=True, timeout=120, cwd=OBSERVABILITY
    )


def alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load((OBSERVABILITY / "rules" / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_the_rule_files_load_in_prometheus() -> None:
    result = promtool("check", "rules", *RULES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_passes_its_unit_tests() -> None:
    result = promtool("test", "rules", UNIT_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_tested_both_firing_and_quiet() -> None:
    cases = [
        case
        for test in yaml.safe_load(UNIT_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    for alert in alerts():
        name = alert["alert"]
        outcomes = {bool(c["exp_alerts"]) for c in cases if c["alertname"] == name}
        assert outcomes == {True, False}, f"{name}: needs a firing and a quiet case, has {outcomes}"


def test_every_alert_has_a_severity_and_a_runbook_section() -> None:
    guide = (ROOT / "deploy" / "README.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", heading.strip().lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", guide, flags=re.MULTILINE)
    }
    for alert in alerts():
        assert alert["labels"]["severity"] in {"critical", "warning"}, alert["alert"]
        link = alert["annotations"]["runbook_url"]
        assert link.startswith("deploy/README.md#"), link
        assert link.split("#", 1)[1] in anchors, f"no runbook section for {alert['alert']}"


@pytest.mark.parametrize("config", ["local.yml", "compose.yml"])
def test_the_prometheus_configurations_are_valid(config: str) -> None:
    path = OBSERVABILITY / "prometheus" / config
    # The compose one names its rule files where the container mounts them.
    extra = ["--syntax-only"] if config == "compose.yml" else []
    result = promtool("check", "config", *extra, path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_generated_dashboards_and_manifest_are_current() -> None:
    result = subprocess.run(  # noqa: S603 - our own generator
        [sys.executable, str(OBSERVABILITY / "dashboards" / "build.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("overlay", ["development", "production"])
def test_the_service_monitor_selects_every_service_by_its_http_port(overlay: str) -> None:
    documents = render(ROOT / "deploy" / "k8s" / "overlays" / overlay)
    monitors = [d for d in documents if d["kind"] == "ServiceMonitor"]
    assert len(monitors) == 1
    monitor = monitors[0]
    wanted = monitor["spec"]["selector"]["matchLabels"]
    port = monitor["spec"]["endpoints"][0]["port"]
    selected = [
        d
        for d in documents
        if d["kind"] == "Service" and wanted.items() <= d["metadata"].get("labels", {}).items()
    ]
    names = {s["metadata"]["name"] for s in selected}
    assert {"gateway", "auth", "billing", "usage", "llm-proxy"} <= names
    for service in selected:
        assert port in {p.get("name") for p in service["spec"]["ports"]}, service["metadata"]


def test_the_prometheus_rule_object_carries_the_rule_files(tmp_path: Path) -> None:
    documents = render(ROOT / "deploy" / "k8s" / "overlays" / "production")
    (rule,) = [d for d in documents if d["kind"] == "PrometheusRule"]
    expected = [g for path in RULES for g in yaml.safe_load(path.read_text())["groups"]]
    assert rule["spec"]["groups"] == expected
    extracted = tmp_path / "from-manifest.yml"
    extracted.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    result = promtool("check", "rules", extracted)
    assert result.returncode == 0, result.stdout + result.stderr
