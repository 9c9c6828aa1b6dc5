"""The environment variables each service reads, derived from its Settings class.

The deploy files (docker-compose.yml, the Kubernetes manifests, .env.example) must
hand every one of them to the service; ``test_env_vars.py`` checks that they do.

    python deploy/checks/deploy_env.py list            every variable, per service
    python deploy/checks/deploy_env.py missing         what the deploy files lack, as
                                                       lines ready to paste into each file
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import AliasChoices, SecretStr
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from kustomize_render import render  # noqa: E402

# service name (compose service, k8s app label) -> module holding its Settings class
SETTINGS_MODULES = {
    "gateway": "tollgate.gateway.config",
    "auth": "tollgate.auth.config",
    "billing": "tollgate.billing.config",
    "usage": "tollgate.usage.config",
    "llm-proxy": "tollgate.llm_proxy.config",
    "web": "tollgate.web.config",
}

# Fields inherited from ServiceSettings that a service never uses. Each needs a reason.
NOT_USED = {
    "gateway": {"GATEWAY_DATABASE_URL": "the gateway has no database"},
    # The web app calls only the public API, as the signed-in person: no database, no
    # broker, no token checks of its own, no service client at auth.
    "web": {
        "WEB_DATABASE_URL": "the web app has no database",
        "WEB_CLIENT_ID": "the web app is no service client",
        "WEB_CLIENT_SECRET": "the web app is no service client",
        "AMQP_URL": "the web app sends and receives no events",
        "JWKS_URL": "the gateway checks the tokens the web app sends",
        "JWT_ISSUER": "the gateway checks the tokens the web app sends",
        "JWT_AUDIENCE": "the gateway checks the tokens the web app sends",
        "AUTH_INTERNAL_URL": "the web app calls auth only through the gateway",
    },
}

# Connection strings carry passwords, so they travel as secrets like SecretStr fields.
SECRET_URL_FIELDS = {"database_url", "amqp_url", "redis_url"}

OVERLAYS = ("development", "production")


@dataclass(frozen=True)
class EnvVar:
    name: str  # the name documented and set by the deploy files
    accepted: tuple[str, ...]  # every name the service accepts (aliases)
    default: str
    secret: bool
    optional: bool  # the default is None: leave it unset rather than set it empty


def _default(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return ""
    else:
        value = field.default
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _is_secret(name: str, field: Any) -> bool:
    annotation = str(field.annotation)
    return "SecretStr" in annotation or name in SECRET_URL_FIELDS


def variables(service: str) -> list[EnvVar]:
    """Every variable the service's Settings class reads, in declaration order."""
    settings = importlib.import_module(SETTINGS_MODULES[service]).Settings
    prefix = str(settings.model_config.get("env_prefix") or "")
    found: list[EnvVar] = []
    for field_name, field in settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, str):
            names: tuple[str, ...] = (alias,)
        elif isinstance(alias, AliasChoices):
            names = tuple(c for c in alias.choices if isinstance(c, str))
        else:
            names = (f"{prefix}{field_name}",)
        names = tuple(n.upper() for n in names)
        if names[0] in NOT_USED.get(service, {}):
            continue
        optional = field.default is None and field.default_factory is None
        found.append(
            EnvVar(names[0], names, _default(field), _is_secret(field_name, field), optional)
        )
    return found + _provider_keys(service)


def _provider_keys(service: str) -> list[EnvVar]:
    """Upstream API keys: the packaged LLM catalog names the variables that hold them."""
    if service != "llm-proxy":
        return []
    try:
        catalog = resources.files("tollgate.llm_proxy.catalog") / "default_providers.yaml"
        document = yaml.safe_load(catalog.read_text())
    except (ModuleNotFoundError, FileNotFoundError):
        return []
    names = [
        spec["api_key_env"]
        for spec in (document.get("providers") or {}).values()
        if spec.get("api_key_env")
    ]
    # Optional: a provider whose key is unset is left out of the catalog.
    return [EnvVar(name, (name,), "", secret=True, optional=True) for name in names]


# ---- what each deploy file hands to a service -------------------------------------


def compose_environment(path: Path = ROOT / "docker-compose.yml") -> dict[str, set[str]]:
    """Variable names each compose service sets (``environment`` and ``env_file``)."""
    spec = yaml.safe_load(path.read_text())
    result: dict[str, set[str]] = {}
    for name, service in (spec.get("services") or {}).items():
        names: set[str] = set()
        environment = service.get("environment") or {}
        if isinstance(environment, list):
            names |= {entry.split("=", 1)[0] for entry in environment}
        else:
            names |= set(environment)
        env_files = service.get("env_file") or []
        for env_file in [env_files] if isinstance(env_files, str) else env_files:
            names |= set(_env_file_names(ROOT / env_file, commented=False))
        result[name] = names
    return result


def _env_file_names(path: Path, commented: bool) -> list[str]:
    pattern = r"^\s*#?\s*([A-Z][A-Z0-9_]*)=" if commented else r"^\s*([A-Z][A-Z0-9_]*)="
    return re.findall(pattern, path.read_text(), flags=re.MULTILINE)


def env_example_names(path: Path = ROOT / ".env.example") -> set[str]:
    """Names in .env.example, set or commented out (``# NAME=default``)."""
    return set(_env_file_names(path, commented=True))


@dataclass
class ContainerEnv:
    """What one container of a rendered overlay receives, and from where."""

    workload: str  # "Deployment/auth"
    from_config_maps: set[str]
    from_secrets: set[str]
    direct: set[str]  # env entries with a value or a secretKeyRef/configMapKeyRef

    @property
    def names(self) -> set[str]:
        return self.from_config_maps | self.from_secrets | self.direct


def k8s_environment(overlay: str) -> dict[str, list[ContainerEnv]]:
    """Per app label, the env of every Deployment and Job container in the overlay."""
    documents = render(ROOT / "deploy" / "k8s" / "overlays" / overlay)
    config_maps = {d["metadata"]["name"]: d for d in documents if d["kind"] == "ConfigMap"}
    secrets = {d["metadata"]["name"]: d for d in documents if d["kind"] == "Secret"}
    result: dict[str, list[ContainerEnv]] = {}
    for doc in documents:
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        app = doc["metadata"].get("labels", {}).get("app.kubernetes.io/name")
        pod = doc["spec"]["template"]["spec"]
        for container in pod.get("containers", []):
            from_cm: set[str] = set()
            from_secret: set[str] = set()
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    cm = config_maps.get(source["configMapRef"]["name"], {})
                    from_cm |= set(cm.get("data") or {})
                if "secretRef" in source:
                    secret = secrets.get(source["secretRef"]["name"], {})
                    from_secret |= set(secret.get("data") or {}) | set(
                        secret.get("stringData") or {}
                    )
            direct = {entry["name"] for entry in container.get("env", [])}
            workload = f"{doc['kind']}/{doc['metadata']['name']}"
            result.setdefault(app, []).append(ContainerEnv(workload, from_cm, from_secret, direct))
    return result


def config_map_values(overlay: str) -> dict[str, dict[str, str]]:
    documents = render(ROOT / "deploy" / "k8s" / "overlays" / overlay)
    return {
        d["metadata"]["name"]: dict(d.get("data") or {})
        for d in documents
        if d["kind"] == "ConfigMap"
    }


# ---- the command line ----------------------------------------------------------------


def _missing_report() -> str:
    lines: list[str] = []
    compose = compose_environment()
    example = env_example_names()
    k8s = {overlay: k8s_environment(overlay) for overlay in OVERLAYS}
    for service in SETTINGS_MODULES:
        wanted = variables(service)

        def lacks(present: set[str], wanted: list[EnvVar] = wanted) -> list[EnvVar]:
            return [v for v in wanted if not present & set(v.accepted)]

        gaps = lacks(compose.get(service, set()))
        if gaps:
            lines.append(f"# docker-compose.yml, services.{service}.environment:")
            lines += [f"      {v.name}: ${{{v.name}:-{v.default}}}" for v in gaps]
        gaps = lacks(example)
        if gaps:
            lines.append(f"# .env.example ({service}):")
            lines += [f"# {v.name}={v.default}" for v in gaps]
        for overlay, apps in k8s.items():
            for container in apps.get(service, []):
                gaps = lacks(container.names)
                if gaps:
                    lines.append(f"# k8s {overlay} {container.workload}:")
                    lines += [
                        f'  {v.name}: "{v.default}"' + ("  # secret: secretKeyRef" * v.secret)
                        for v in gaps
                    ]
            if service not in apps:
                lines.append(f"# k8s {overlay}: no Deployment labelled {service}")
    return "\n".join(lines) or "nothing missing"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("command", choices=["list", "missing"])
    args = parser.parse_args()
    if args.command == "list":
        for service in SETTINGS_MODULES:
            print(f"[{service}]")
            for v in variables(service):
                print(f"  {v.name}={v.default}" + ("  (secret)" if v.secret else ""))
    else:
        print(_missing_report())


if __name__ == "__main__":
    main()
