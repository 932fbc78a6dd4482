"""Turn recorded Kubernetes resources into the manifests the provider would apply."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .harness import RecordedResource, StackEvaluation, is_secret

REDACTED = "<redacted>"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


def _redact(value: Any) -> Any:
    # The engine pushes secretness up to the enclosing map or list: every value inside is secret.
    if isinstance(value, dict):
        return {key: _redact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item) for item in value]
    return REDACTED


def clean(value: Any) -> Any:
    """Engine values back to manifest values: secrets redacted, whole floats as integers, nulls dropped."""
    if is_secret(value):
        return _redact(value.get("value"))
    if isinstance(value, dict):
        return {key: clean(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [clean(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def manifest(resource: RecordedResource) -> dict[str, Any]:
    body = clean(resource.inputs)
    ordered = {key: body.pop(key) for key in ("apiVersion", "kind", "metadata") if key in body}
    ordered.update(body)
    return ordered


def manifests(evaluation: StackEvaluation) -> list[dict[str, Any]]:
    return [manifest(resource) for resource in evaluation.kubernetes_objects()]


def _file_name(document: dict[str, Any]) -> str:
    metadata = document.get("metadata") or {}
    parts = [document["kind"].lower(), metadata.get("namespace") or "cluster", metadata.get("name", "unnamed")]
    return "_".join(str(part) for part in parts) + ".yaml"


def write_manifests(evaluation: StackEvaluation, directory: Path) -> list[Path]:
    """Write one file per Kubernetes object, plus each Helm release's chart, version and values."""
    manifest_dir = directory / "manifests"
    helm_dir = directory / "helm"
    for folder in (manifest_dir, helm_dir):
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.yaml"):
            stale.unlink()
    written = []
    for document in manifests(evaluation):
        path = manifest_dir / _file_name(document)
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        written.append(path)
    for release in evaluation.of_type(HELM_RELEASE):
        path = helm_dir / f"{release.name}.yaml"
        path.write_text(yaml.safe_dump(clean(release.inputs), sort_keys=False))
        written.append(path)
    return written
