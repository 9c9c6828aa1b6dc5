"""The checks' own kustomize renderer builds what ``kubectl kustomize`` builds."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kustomize_render import UnsupportedKustomization, render

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ["base", "overlays/development", "overlays/production"]


def _recent_kubectl() -> str | None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return None
    out = subprocess.run(  # noqa: S603 - kubectl found on PATH, fixed arguments
        [kubectl, "version", "--client"], capture_output=True, text=True, timeout=30
    ).stdout
    match = re.search(r"Kustomize Version: v(\d+)", out)
    return kubectl if match and int(match.group(1)) >= 5 else None


def _normalised(documents: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    result = {}
    for doc in documents:
        if doc["kind"] == "Secret":
            # kubectl folds long base64 lines; compare what the Secret holds.
            doc = {**doc, "data": {k: base64.b64decode(v) for k, v in doc["data"].items()}}
        result[(doc["kind"], doc["metadata"]["name"])] = doc
    return result


@pytest.mark.parametrize("target", TARGETS)
def test_the_renderer_matches_kubectl_kustomize(target: str) -> None:
    kubectl = _recent_kubectl()
    if kubectl is None:
        pytest.skip("no kubectl with kustomize v5 here to compare with")
    path = ROOT / "deploy" / "k8s" / target
    out = subprocess.run(  # noqa: S603 - kubectl found on PATH, fixed arguments
        [kubectl, "kustomize", str(path)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    expected = _normalised([d for d in yaml.safe_load_all(out) if d])
    assert _normalised(render(path)) == expected


def test_the_renderer_refuses_what_it_does_not_implement(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\nnamePrefix: x-\n")
    with pytest.raises(UnsupportedKustomization, match="namePrefix"):
        render(tmp_path)


def test_a_strategic_merge_patch_merges_containers_by_name(tmp_path: Path) -> None:
    (tmp_path / "deployment.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web"},
                "spec": {
                    "template": {
                        "spec": {"containers": [{"name": "web", "image": "web:1", "args": ["a"]}]}
                    }
                },
            }
        )
    )
    (tmp_path / "patch.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
        "spec: {template: {spec: {containers: [{name: web, args: [b]}]}}}\n"
    )
    (tmp_path / "kustomization.yaml").write_text(
        "resources: [deployment.yaml]\npatches: [{path: patch.yaml}]\n"
        "images: [{name: web, newTag: '2'}]\n"
    )
    (container,) = render(tmp_path)[0]["spec"]["template"]["spec"]["containers"]
    assert container == {"name": "web", "image": "web:2", "args": ["b"]}
