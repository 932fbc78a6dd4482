"""The type checker (basedpyright, `make lint`, .ci/run) still fails a misspelt SDK or config argument.

It runs the checker with the repository's settings (pyproject.toml) on a small file of calls into pulumi_aws,
pulumi_gcp, pulumi_kubernetes and a pydantic config model: every misspelt keyword must be reported on its own
line as a call error, and the same calls spelt correctly must be clean. The clean half is what makes the first
half mean something: a checker that cannot resolve the SDKs (and so types every call as Unknown) reports nothing
anywhere, and one that reports everything would fail the clean lines.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Each case: (name, a correct call, the same call with one keyword misspelt). The cases run in one checker process.
CASES = [
    ("aws.eks.Cluster", 'aws.eks.Cluster("c", role_arn="arn:aws:iam::1:role/r")',
     'aws.eks.Cluster("c", role_arnn="arn:aws:iam::1:role/r")'),
    ("aws.eks.ClusterAccessConfigArgs", 'aws.eks.ClusterAccessConfigArgs(authentication_mode="API")',
     'aws.eks.ClusterAccessConfigArgs(authentication_modee="API")'),
    ("aws.eks.Cluster dict input", 'aws.eks.Cluster("c", role_arn="r", access_config={"authentication_mode": "API"})',
     'aws.eks.Cluster("c", role_arn="r", access_config={"authentication_modee": "API"})'),
    ("gcp.container.NodePool", 'gcp.container.NodePool("p", cluster="c")', 'gcp.container.NodePool("p", clusterr="c")'),
    ("gcp.container.NodePoolAutoscalingArgs", "gcp.container.NodePoolAutoscalingArgs(min_node_count=0)",
     "gcp.container.NodePoolAutoscalingArgs(min_node_countt=0)"),
    ("k8s.apps.v1.Deployment", 'k8s.apps.v1.Deployment("d", spec=None)', 'k8s.apps.v1.Deployment("d", specc=None)'),
    ("k8s ObjectMetaArgs", 'k8s.meta.v1.ObjectMetaArgs(name="n")', 'k8s.meta.v1.ObjectMetaArgs(namee="n")'),
    ("pydantic config model", 'Taint(key="workload")', 'Taint(keyy="workload")'),
]

HEADER = [
    "import pulumi_aws as aws",
    "import pulumi_gcp as gcp",
    "import pulumi_kubernetes as k8s",
    "",
    "from stack_config.cluster import Taint",
    "",
]


def _checker() -> list[str]:
    """The checker's command line, from the running interpreter's environment (requirements-dev.txt installs it)."""
    if shutil.which("basedpyright", path=str(Path(sys.executable).parent)) is None:
        pytest.fail("basedpyright is not installed beside this interpreter: pip install -r requirements-dev.txt")
    return [sys.executable, "-m", "basedpyright", "--pythonpath", sys.executable, "--outputjson"]


def test_misspelt_sdk_and_config_arguments_fail_the_type_check(tmp_path: Path) -> None:
    lines = list(HEADER)
    good_lines: dict[int, str] = {}
    bad_lines: dict[int, str] = {}
    for name, good, bad in CASES:
        lines.append(good)
        good_lines[len(lines)] = name  # 1-based line numbers (the checker's JSON counts from 0)
        lines.append(bad)
        bad_lines[len(lines)] = name
    probe = tmp_path / "probe.py"
    probe.write_text("\n".join(lines) + "\n")
    # --project: the repository's settings, and its root for imports such as `stack_config`.
    result = subprocess.run([*_checker(), "--project", str(ROOT / "pyproject.toml"), str(probe)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    report = json.loads(result.stdout)
    assert report["summary"]["filesAnalyzed"] == 1, (report, result.stderr)
    errors = [d for d in report["generalDiagnostics"] if d["severity"] == "error"]
    by_line: dict[int, list[dict[str, object]]] = {}
    for diagnostic in errors:
        by_line.setdefault(diagnostic["range"]["start"]["line"] + 1, []).append(diagnostic)

    unexpected = {good_lines.get(line, f"line {line}"): [d["message"] for d in found]
                  for line, found in by_line.items() if line not in bad_lines}
    assert not unexpected, f"correct calls (or the imports) fail the type check: {unexpected}"
    missed = [name for line, name in bad_lines.items()
              if not any(d.get("rule") in ("reportCallIssue", "reportArgumentType") for d in by_line.get(line, []))]
    assert not missed, f"misspelt arguments the type checker accepts: {missed}"
    assert result.returncode == 1, result.stderr
