"""Every variable a service reads reaches it in compose and Kubernetes, and is documented.

The variables come from the services' Settings classes (prefix + field names, and the
unprefixed aliases of the shared settings), so a setting added to a service and
forgotten here fails the build. A failure prints the lines to paste; the full list
of gaps is ``python deploy/checks/deploy_env.py missing``.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from deploy_env import (
    OVERLAYS,
    ROOT,
    SETTINGS_MODULES,
    EnvVar,
    compose_environment,
    env_example_names,
    k8s_environment,
    variables,
)
from kustomize_render import render

SERVICES = list(SETTINGS_MODULES)


def _missing(wanted: list[EnvVar], present: set[str]) -> list[EnvVar]:
    return [v for v in wanted if not present & set(v.accepted)]


def _names(found: list[EnvVar]) -> str:
    return ", ".join(v.name for v in found)


def test_the_settings_classes_are_found_and_read_variables() -> None:
    # Guards the other tests: an import that silently found nothing would pass them all.
    for service in SERVICES:
        names = {v.name for v in variables(service)}
        assert {"TOLLGATE_ENV", "LOG_LEVEL", "REDIS_URL"} <= names, service
        prefix = SETTINGS_MODULES[service].split(".")[1].upper()
        assert f"{prefix}_PORT" in names, service


@pytest.mark.parametrize("service", SERVICES)
def test_docker_compose_sets_every_variable_the_service_reads(service: str) -> None:
    compose = compose_environment()
    assert service in compose, f"docker-compose.yml has no service named {service!r}"
    missing = _missing(variables(service), compose[service])
    if missing:
        pytest.fail(
            f"docker-compose.yml, services.{service}.environment lacks: {_names(missing)}\n"
            + "\n".join(f"      {v.name}: ${{{v.name}:-{v.default}}}" for v in missing),
            pytrace=False,
        )


@pytest.mark.parametrize("service", SERVICES)
def test_env_example_lists_every_variable_the_service_reads(service: str) -> None:
    missing = _missing(variables(service), env_example_names())
    if missing:
        pytest.fail(
            f".env.example lacks ({service}): {_names(missing)}\n"
            + "\n".join(f"# {v.name}={v.default}" for v in missing),
            pytrace=False,
        )


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_every_container_of_the_service_gets_every_variable_in_kubernetes(
    service: str, overlay: str
) -> None:
    containers = k8s_environment(overlay).get(service, [])
    assert containers, f"overlay {overlay} renders no Deployment labelled {service}"
    for container in containers:
        missing = _missing(variables(service), container.names)
        if missing:
            pytest.fail(
                f"k8s overlay {overlay}, {container.workload} lacks: {_names(missing)}\n"
                f"add them to the ConfigMap {service}-config (or, secrets, as secretKeyRef env "
                f"of the Deployment and the migration Job in deploy/k8s/base/{service}.yaml):\n"
                + "\n".join(f'  {v.name}: "{v.default}"' for v in missing),
                pytrace=False,
            )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_sits_in_a_config_map(overlay: str) -> None:
    secret_names = {v.name for s in SERVICES for v in variables(s) if v.secret}
    for doc in render(ROOT / "deploy" / "k8s" / "overlays" / overlay):
        if doc["kind"] == "ConfigMap":
            leaked = secret_names & set(doc.get("data") or {})
            assert not leaked, f"{overlay}: ConfigMap {doc['metadata']['name']} holds {leaked}"


def test_the_development_overlay_provides_every_secret_key_it_references() -> None:
    # Production expects its Secrets to be created by the operator; development must run
    # as it is, so every non-optional secretKeyRef has to resolve inside the overlay.
    documents = render(ROOT / "deploy" / "k8s" / "overlays" / "development")
    secrets = {
        d["metadata"]["name"]: set(d.get("data") or {}) for d in documents if d["kind"] == "Secret"
    }
    unresolved = []
    for doc in documents:
        if doc["kind"] not in ("Deployment", "Job", "StatefulSet"):
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if not ref or ref.get("optional"):
                    continue
                if ref["key"] not in secrets.get(ref["name"], ()):
                    unresolved.append(f"{doc['metadata']['name']}: {ref['name']}/{ref['key']}")
            for source in container.get("envFrom", []):
                name = source.get("secretRef", {}).get("name")
                if name and name not in secrets:
                    unresolved.append(f"{doc['metadata']['name']}: Secret {name}")
    assert not unresolved, "development overlay lacks secrets: " + ", ".join(unresolved)


def test_development_secrets_decode_to_the_urls_the_in_cluster_stores_answer_on() -> None:
    documents = render(ROOT / "deploy" / "k8s" / "overlays" / "development")
    shared = next(d for d in documents if d["metadata"]["name"] == "tollgate-shared")
    amqp = base64.b64decode(shared["data"]["AMQP_URL"]).decode()
    assert amqp.startswith("amqp://tollgate:") and amqp.endswith("@rabbitmq:5672/tollgate")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_containers_run_non_root_read_only_and_probed(overlay: str) -> None:
    for doc in render(ROOT / "deploy" / "k8s" / "overlays" / overlay):
        app = doc["metadata"].get("labels", {}).get("app.kubernetes.io/name")
        if doc["kind"] not in ("Deployment", "Job") or app not in SERVICES:
            continue
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, doc["metadata"]["name"]
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, doc["metadata"]["name"]
            assert context["allowPrivilegeEscalation"] is False, doc["metadata"]["name"]
            if doc["kind"] == "Deployment":
                assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
                assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
                assert "limits" in container["resources"], doc["metadata"]["name"]


def test_compose_and_kubernetes_create_the_databases_with_the_same_script() -> None:
    compose_copy = ROOT / "deploy" / "postgres" / "init-databases.sh"
    # kustomize loads files only from inside the overlay, hence the copy.
    overlay_copy = ROOT / "deploy" / "k8s" / "overlays" / "development" / "init-databases.sh"
    assert compose_copy.read_text() == overlay_copy.read_text(), (
        f"copy {compose_copy.relative_to(ROOT)} over {overlay_copy.relative_to(ROOT)}"
    )


def test_the_standin_llm_catalog_is_one_the_llm_proxy_accepts() -> None:
    schemas = pytest.importorskip("tollgate.llm_proxy.catalog.schemas")
    document = yaml.safe_load((ROOT / "deploy" / "compose" / "standin-providers.yaml").read_text())
    catalog = schemas.CatalogFile.model_validate(document)
    assert catalog.models, "the stand-in catalog serves no model"
