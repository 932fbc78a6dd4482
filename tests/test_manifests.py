"""Every rendered Kubernetes object validates against the official schemas (`kubernetes-validate --strict`)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from offline.harness import StackEvaluation
from offline.render import manifests, write_manifests
from tests.conftest import SCHEMA_STACKS

# Kinds served by CRDs (Istio, KEDA, cert-manager, prometheus-operator): no official schema to check them
# against, so their specs are asserted field by field in the add-on tests instead.
CUSTOM_RESOURCE_GROUPS = ("networking.istio.io", "security.istio.io", "telemetry.istio.io", "keda.sh", "cert-manager.io",
                          "monitoring.coreos.com")


@pytest.mark.parametrize("stack", SCHEMA_STACKS)
def test_rendered_manifests_validate_strictly(
    evaluated: Callable[[str], StackEvaluation], stack: str, tmp_path: Path
) -> None:
    evaluation = evaluated(stack)
    documents = manifests(evaluation)
    write_manifests(evaluation, tmp_path)
    files = sorted((tmp_path / "manifests").glob("*.yaml"))
    assert len(files) == len(documents) > 0
    version = evaluated(stack).outputs.get("kubernetesVersion") or "1.35"
    result = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", f"{version}.0", *map(str, files)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    built_in = [d for d in documents if d["apiVersion"].split("/")[0] not in CUSTOM_RESOURCE_GROUPS]
    passed = [line for line in result.stdout.splitlines() if line.startswith("INFO") and " passed " in line]
    assert len(passed) == len(built_in), result.stdout
    warnings = [line for line in result.stdout.splitlines() if line.startswith("WARN")]
    assert len(warnings) == len(documents) - len(built_in), warnings


def test_validation_catches_a_broken_manifest(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replicaz: 2\n"
                      "  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n"
                      "    spec: {containers: [{name: c, image: 'i:1'}]}\n")
    result = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict", "-k", "1.35.0", str(broken)],
                            capture_output=True, text=True, check=False)
    assert result.returncode != 0 and "replicaz" in result.stdout
