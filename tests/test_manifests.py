"""Every rendered Kubernetes object validates against the official schemas (`kubernetes-validate --strict`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import kubernetes_validate.utils as kubernetes_validate
import pytest

from offline.harness import StackEvaluation
from offline.render import manifests, write_manifests
from tests.conftest import SCHEMA_STACKS

# Kinds served by CRDs (Istio, KEDA, cert-manager, prometheus-operator): no official schema to check them
# against, so their specs are asserted field by field in the add-on tests instead.
CUSTOM_RESOURCE_GROUPS = ("networking.istio.io", "security.istio.io", "telemetry.istio.io", "keda.sh", "cert-manager.io",
                          "monitoring.coreos.com")


_SCHEMA_FILES = functools.cache(kubernetes_validate.schema_contents)
"""Each schema file parsed once for the session: the tool reads its ~2 MB `_definitions.json` again for every
document, most of what checking a stack took. What a file holds never changes, and validating reads a schema
without changing it."""


def validate_strictly(files: list[Path], version: str, capsys: pytest.CaptureFixture[str],
                      monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """`kubernetes-validate --strict -k <version> <files>` (its exit code and output), run in this process: the
    command's own loop (`kubernetes_validate.__main__.main`) over the tool's `validate_file`."""
    monkeypatch.setattr(kubernetes_validate, "schema_contents", _SCHEMA_FILES)
    capsys.readouterr()
    code = 0
    for file in files:
        code |= kubernetes_validate.validate_file(str(file), version, True, False, False)
    return code, capsys.readouterr().out


@pytest.mark.parametrize("stack", SCHEMA_STACKS)
def test_rendered_manifests_validate_strictly(
    evaluated: Callable[[str], StackEvaluation], stack: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    evaluation = evaluated(stack)
    documents = manifests(evaluation)
    write_manifests(evaluation, tmp_path)
    files = sorted((tmp_path / "manifests").glob("*.yaml"))
    assert len(files) == len(documents) > 0
    version = evaluated(stack).outputs.get("kubernetesVersion") or "1.35"
    code, stdout = validate_strictly(files, f"{version}.0", capsys, monkeypatch)
    assert code == 0, stdout
    built_in = [d for d in documents if d["apiVersion"].split("/")[0] not in CUSTOM_RESOURCE_GROUPS]
    passed = [line for line in stdout.splitlines() if line.startswith("INFO") and " passed " in line]
    assert len(passed) == len(built_in), stdout
    warnings = [line for line in stdout.splitlines() if line.startswith("WARN")]
    assert len(warnings) == len(documents) - len(built_in), warnings


def test_validation_catches_a_broken_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replicaz: 2\n"
                      "  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n"
                      "    spec: {containers: [{name: c, image: 'i:1'}]}\n")
    code, stdout = validate_strictly([broken], "1.35.0", capsys, monkeypatch)
    assert code != 0 and "replicaz" in stdout


def test_in_process_validation_answers_like_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The in-process run prints and exits exactly as `python -m kubernetes_validate --strict` on the same files:
    a valid object, one with an unknown field, a custom resource (no schema: a warning)."""
    import subprocess
    import sys

    files = [tmp_path / name for name in ("ok.yaml", "bad.yaml", "custom.yaml")]
    files[0].write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\n")
    files[1].write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndatta: {a: b}\n")
    files[2].write_text("apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: x}\nspec: {}\n")
    command = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict", "-k", "1.35.0", *map(str, files)],
                             capture_output=True, text=True, check=False)
    assert validate_strictly(files, "1.35.0", capsys, monkeypatch) == (command.returncode, command.stdout)
    assert command.returncode == 1 and [line.split()[0] for line in command.stdout.splitlines()] == ["INFO", "ERROR", "WARN"]

