"""The type check of `make lint` and .ci/run: basedpyright on the repository, and proof that it still fails a
misspelt SDK or config argument, in one checker run.

    python -m scripts.typecheck

The repository's files (pyproject.toml's `include`, its settings) are checked together with a probe: a small file
of calls into pulumi_aws, pulumi_gcp, pulumi_kubernetes and a pydantic config model, each written once correctly
and once with one keyword misspelt. It fails (exit 1) when a repository file has an error or a warning
(`failOnWarnings`), when a misspelt call is not reported on its own line as a call error, or when a correct call
(or the probe's imports) is reported at all. The clean half is what makes the first half mean something: a checker
that cannot resolve the SDKs (and so types every call as Unknown) reports nothing anywhere, and one that reports
everything would fail the clean lines. Checking both in one run costs about what the repository alone costs (the
SDK modules are resolved once); the probe on its own took as long as a third of the test suite.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# Each case: (name, a correct call, the same call with one keyword misspelt).
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

CALL_ERRORS = ("reportCallIssue", "reportArgumentType")


@dataclass(frozen=True)
class Probe:
    text: str
    good_lines: dict[int, str]
    """1-based line → case name, for the correct calls."""
    bad_lines: dict[int, str]
    """1-based line → case name, for the misspelt calls."""


def probe(cases: list[tuple[str, str, str]] = CASES) -> Probe:
    lines = list(HEADER)
    good: dict[int, str] = {}
    bad: dict[int, str] = {}
    for name, correct, misspelt in cases:
        lines.append(correct)
        good[len(lines)] = name
        lines.append(misspelt)
        bad[len(lines)] = name
    return Probe("\n".join(lines) + "\n", good, bad)


def _line(diagnostic: dict[str, Any]) -> int:
    return diagnostic["range"]["start"]["line"] + 1  # the JSON counts from 0


def _describe(diagnostic: dict[str, Any]) -> str:
    start = diagnostic.get("range", {}).get("start", {"line": -1, "character": -1})
    rule = f" ({diagnostic['rule']})" if diagnostic.get("rule") else ""
    return (f"{diagnostic.get('file', '?')}:{start['line'] + 1}:{start['character'] + 1} - "
            f"{diagnostic['severity']}: {diagnostic['message']}{rule}")


def problems(report: dict[str, Any], probe_path: str, expected: Probe, fail_on_warnings: bool = True) -> list[str]:
    """Everything that must fail the check, from the checker's `--outputjson` report: the repository's own errors
    (and warnings, with failOnWarnings), misspelt probe calls it accepts, correct probe calls it rejects."""
    found: list[str] = []
    failing = {"error", "warning"} if fail_on_warnings else {"error"}
    by_line: dict[int, list[dict[str, Any]]] = {}
    for diagnostic in report.get("generalDiagnostics", []):
        if Path(diagnostic.get("file", "")) == Path(probe_path):
            if diagnostic["severity"] == "error":
                by_line.setdefault(_line(diagnostic), []).append(diagnostic)
        elif diagnostic["severity"] in failing:
            found.append(_describe(diagnostic))
    for line, diagnostics in sorted(by_line.items()):
        if line not in expected.bad_lines:
            where = expected.good_lines.get(line, f"probe line {line}")
            found += [f"a correct call (or an import) fails the type check: {where}: {d['message']}" for d in diagnostics]
    found += [f"a misspelt argument the type checker accepts: {name}" for line, name in expected.bad_lines.items()
              if not any(d.get("rule") in CALL_ERRORS for d in by_line.get(line, []))]
    if report.get("summary", {}).get("filesAnalyzed", 0) < 2:
        found.append(f"the checker analyzed {report.get('summary', {}).get('filesAnalyzed')} files: not the repository")
    return found


def _settings() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["basedpyright"]


def main() -> int:
    settings = _settings()
    expected = probe()
    with tempfile.TemporaryDirectory(prefix="typecheck-probe-") as tmp:
        probe_path = Path(tmp) / "probe.py"
        probe_path.write_text(expected.text)
        # Files named on the command line replace `include`, so the repository's list is named too; --project
        # keeps every other setting and the root for imports such as `stack_config`.
        command = [sys.executable, "-m", "basedpyright", "--pythonpath", sys.executable, "--outputjson",
                   "--project", str(ROOT / "pyproject.toml"), *settings["include"], str(probe_path)]
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        try:
            report = json.loads(result.stdout)
        except json.JSONDecodeError:
            print(result.stdout, result.stderr, sep="\n", file=sys.stderr)
            print("error: basedpyright gave no report", file=sys.stderr)
            return 1
        found = problems(report, str(probe_path), expected, settings.get("failOnWarnings", False))
    summary = report.get("summary", {})
    for line in found:
        print(line)
    print(f"basedpyright: {summary.get('filesAnalyzed')} files (the repository and a probe of {len(CASES)} misspelt "
          f"SDK/config arguments), {len(found)} problems, {summary.get('timeInSec')} s")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
