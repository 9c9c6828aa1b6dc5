"""Render a kustomization the way ``kustomize build`` does, for the features we use.

The Kubernetes client on older machines bundles a kustomize too old for our
overlays, and no registry we can reach ships a current one for Python 3.11, so
the checks render with this. ``test_kustomize_render.py`` compares its output with
``kubectl kustomize`` wherever a recent one is installed.

Supported: ``resources`` (files and directories), ``namespace``, ``labels``
(metadata only), ``images``, ``replicas``, ``patches`` (strategic merge, from a
file, optional ``target`` by kind/name), ``configMapGenerator`` and
``secretGenerator`` (``literals``, ``envs``, ``files``; ``behavior`` create/merge/replace)
with ``generatorOptions.disableNameSuffixHash: true``. Anything else is refused
loudly rather than silently ignored.

    python deploy/checks/kustomize_render.py deploy/k8s/overlays/production
"""

from __future__ import annotations

import base64
import copy
import sys
from pathlib import Path
from typing import Any

import yaml

__all__ = ["UnsupportedKustomization", "render"]

Doc = dict[str, Any]

SUPPORTED_KEYS = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "labels",
    "images",
    "replicas",
    "patches",
    "configMapGenerator",
    "secretGenerator",
    "generatorOptions",
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume"}
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}


class UnsupportedKustomization(ValueError):
    """The kustomization uses a feature this renderer does not implement."""


def render(directory: Path) -> list[Doc]:
    """The resources the kustomization in ``directory`` builds, transformers applied."""
    kustomization_file = directory / "kustomization.yaml"
    k: Doc = yaml.safe_load(kustomization_file.read_text()) or {}
    unknown = set(k) - SUPPORTED_KEYS
    if unknown:
        raise UnsupportedKustomization(f"{kustomization_file}: unsupported {sorted(unknown)}")

    docs: list[Doc] = []
    for entry in k.get("resources", []):
        path = directory / entry
        if path.is_dir():
            docs += render(path)
        else:
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]

    options = k.get("generatorOptions") or {}
    for kind, key in (("ConfigMap", "configMapGenerator"), ("Secret", "secretGenerator")):
        for generator in k.get(key, []):
            if (generator.get("options") or options).get("disableNameSuffixHash") is not True:
                raise UnsupportedKustomization(f"{key} {generator['name']}: hashed names")
            docs = _generate(docs, kind, generator, directory)

    for patch in k.get("patches", []):
        docs = _patch(docs, patch, directory)
    for replica in k.get("replicas", []):
        for doc in docs:
            if doc["kind"] in POD_TEMPLATE_KINDS and doc["metadata"]["name"] == replica["name"]:
                doc["spec"]["replicas"] = replica["count"]
    for image in k.get("images", []):
        for doc in docs:
            _set_image(doc, image)
    for label_set in k.get("labels", []):
        if label_set.get("includeSelectors") or label_set.get("includeTemplates"):
            raise UnsupportedKustomization("labels: only metadata labels are supported")
        for doc in docs:
            doc["metadata"].setdefault("labels", {}).update(label_set["pairs"])
    if "namespace" in k:
        for doc in docs:
            if doc["kind"] not in CLUSTER_SCOPED:
                doc["metadata"]["namespace"] = k["namespace"]
    return docs


def _generate(docs: list[Doc], kind: str, generator: Doc, directory: Path) -> list[Doc]:
    values: dict[str, str] = {}
    for env_file in generator.get("envs", []):
        for line in (directory / env_file).read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                name, _, value = line.partition("=")
                values[name.strip()] = value
    for file_entry in generator.get("files", []):
        key, _, file_path = file_entry.rpartition("=")
        values[key or Path(file_path).name] = (directory / file_path).read_text()
    for literal in generator.get("literals", []):
        name, _, value = literal.partition("=")
        values[name] = value
    if set(generator) - {"name", "literals", "envs", "files", "behavior", "options", "type"}:
        raise UnsupportedKustomization(f"generator {generator['name']}: unsupported keys")
    field = "data"
    if kind == "Secret":
        values = {n: base64.b64encode(v.encode()).decode() for n, v in values.items()}
    behavior = generator.get("behavior", "create")
    existing = next(
        (d for d in docs if d["kind"] == kind and d["metadata"]["name"] == generator["name"]), None
    )
    if behavior == "create":
        if existing is not None:
            raise UnsupportedKustomization(f"{kind} {generator['name']} already exists")
        doc: Doc = {"apiVersion": "v1", "kind": kind, "metadata": {"name": generator["name"]}}
        if values:
            doc[field] = values
        if kind == "Secret":
            doc["type"] = generator.get("type", "Opaque")
        return [*docs, doc]
    if existing is None:
        raise UnsupportedKustomization(f"{behavior}: no {kind} {generator['name']} to change")
    if behavior == "merge":
        existing.setdefault(field, {}).update(values)
    elif behavior == "replace":
        existing[field] = values
    else:
        raise UnsupportedKustomization(f"generator behavior {behavior}")
    return docs


def _patch(docs: list[Doc], patch: Doc, directory: Path) -> list[Doc]:
    if "path" in patch:
        body = yaml.safe_load((directory / patch["path"]).read_text())
    elif "patch" in patch:
        body = yaml.safe_load(patch["patch"])
    else:
        raise UnsupportedKustomization("patch without path or patch")
    if isinstance(body, list) or "op" in (body or {}):
        raise UnsupportedKustomization("JSON 6902 patches are not supported")
    target = patch.get("target") or {
        "kind": body["kind"],
        "name": body["metadata"]["name"],
    }
    if set(target) - {"kind", "name"}:
        raise UnsupportedKustomization("patch target: only kind and name are supported")
    matched = False
    result = []
    for doc in docs:
        if doc["kind"] == target.get("kind", doc["kind"]) and doc["metadata"]["name"] == target.get(
            "name", doc["metadata"]["name"]
        ):
            matched = True
            patch_body = copy.deepcopy(body)
            if "target" in patch:
                # A targeted patch may name any resource; identity comes from the target.
                patch_body["metadata"] = {
                    k: v for k, v in patch_body.get("metadata", {}).items() if k != "name"
                }
            doc = _merge(doc, patch_body)
        result.append(doc)
    if not matched:
        raise UnsupportedKustomization(f"patch {patch} matched no resource")
    return result


def _merge(base: Any, patch: Any) -> Any:
    """Strategic merge as kustomize applies it to the fields we patch."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = _merge(merged[key], value)
            else:
                merged[key] = copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(patch, list):
        key = _merge_key(base + patch)
        if key is None:
            return copy.deepcopy(patch)
        merged_list = list(base)
        for item in patch:
            index = next(
                (i for i, b in enumerate(merged_list) if b.get(key) == item.get(key)), None
            )
            if index is None:
                merged_list.append(copy.deepcopy(item))
            else:
                merged_list[index] = _merge(merged_list[index], item)
        return merged_list
    return copy.deepcopy(patch)


def _merge_key(items: list[Any]) -> str | None:
    # containers, env, volumes, volumeMounts and ports merge by these keys in the API schema.
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    for key in ("name", "containerPort", "mountPath"):
        if all(key in i for i in items):
            return key
    return None


def _set_image(doc: Doc, image: Doc) -> None:
    if doc["kind"] not in POD_TEMPLATE_KINDS:
        return
    pod = doc["spec"]["template"]["spec"]
    for container in pod.get("containers", []) + pod.get("initContainers", []):
        name, _, tag = container["image"].partition(":")
        if name != image["name"]:
            continue
        new_name = image.get("newName", name)
        new_tag = image.get("newTag", tag)
        container["image"] = f"{new_name}:{new_tag}" if new_tag else new_name


if __name__ == "__main__":
    sys.stdout.write(yaml.safe_dump_all(render(Path(sys.argv[1])), sort_keys=False))
