"""Benchmark the policy pack over the real protocol (not a test): start time, and analysis time for the prod
stack and for synthetic stacks of 100 and 1,000 workloads (copies of the dev stack's api Deployment, each with
its Service, PDB and HPA).

    venv/bin/python scripts/bench_policy.py [stack] [--markdown] [--repeat=N] [--synthetic-only]
                                            [--checkov=PATH/TO/checkov]

Wall times include the benchmark's own client (protobuf conversion of each request and grpcio's Python client);
"pack CPU" is what the pack process itself spent (user + system, from /proc/<pid>/stat), which other jobs on the
machine barely change: that is the part the Pulumi CLI (a Go client) waits for. --repeat=N runs each row N times
and prints the smallest of each measure. --synthetic-only leaves out the real stack's row.

--checkov=PATH runs that Checkov (not a dependency of this repo: install it in a venv of its own,
`python -m venv /tmp/checkov && /tmp/checkov/bin/pip install checkov`) on the same objects as Kubernetes
manifests (scripts/render_manifests.py) and prints its wall time and CPU (user + system of it and its children)
beside each row.

--markdown prints the table policy/README.md shows (paste it there between the bench-policy markers). Set
BROWSER_PLATFORM_LIBRARY_SERVICER=1 to time pulumi_policy's own servicer methods instead of the shared ones.
"""

from __future__ import annotations

import copy
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from offline.harness import RecordedResource, evaluate_stack, stack_names
from tests.policy.pack import PackProcess


def synthetic(base: list[RecordedResource], count: int) -> list[RecordedResource]:
    kinds = ("apps/v1:Deployment", "core/v1:Service", "policy/v1:PodDisruptionBudget",
             "autoscaling/v2:HorizontalPodAutoscaler")
    templates = [r for r in base if r.name.startswith(("api-", "autoscaling-api")) and r.type.endswith(kinds)]
    resources = list(base)
    for index in range(count):
        name = f"svc{index}"
        for template in templates:
            clone = copy.deepcopy(template)
            clone.urn = f"{template.urn}-{name}"
            clone.name = f"{template.name}-{name}"
            meta = clone.inputs["metadata"]
            meta["name"] = name
            labels = {**meta.get("labels", {}), "app.kubernetes.io/name": name}
            meta["labels"] = labels
            spec = clone.inputs.get("spec", {})
            if "selector" in spec and "matchLabels" in spec["selector"]:
                spec["selector"]["matchLabels"]["app.kubernetes.io/name"] = name
            elif "selector" in spec:
                spec["selector"]["app.kubernetes.io/name"] = name
            if "template" in spec:
                spec["template"]["metadata"]["labels"]["app.kubernetes.io/name"] = name
            if "scaleTargetRef" in spec:
                spec["scaleTargetRef"]["name"] = name
            resources.append(clone)
    return resources


@dataclass
class Timing:
    analyze_wall: float
    analyze_cpu: float | None
    """CPU seconds the pack process spent answering the Analyze calls (user + system, from /proc)."""
    stack_wall: float
    stack_cpu: float | None
    diagnostics: int

    def best(self, other: Timing) -> Timing:
        """The smaller of each measure (the machine is shared: the minimum is the least disturbed run)."""
        def low(a: float | None, b: float | None) -> float | None:
            return b if a is None else a if b is None else min(a, b)
        return Timing(min(self.analyze_wall, other.analyze_wall), low(self.analyze_cpu, other.analyze_cpu),
                      min(self.stack_wall, other.stack_wall), low(self.stack_cpu, other.stack_cpu), self.diagnostics)


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of process `pid` so far (None where there is no /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _spent(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


def timed(pack: PackProcess, resources: list[RecordedResource]) -> Timing:
    providers = [r for r in resources if r.type.startswith("pulumi:providers:")]  # all `analyze` looks up
    pid = pack.process.pid
    cpu, started = process_cpu(pid), time.perf_counter()
    diagnostics = [d for r in resources if r.custom and not r.type.startswith("pulumi:providers:")
                   for d in pack.analyze(r, providers)]
    analyze_wall, analyze_cpu = time.perf_counter() - started, _spent(cpu, process_cpu(pid))
    cpu, started = process_cpu(pid), time.perf_counter()
    diagnostics += pack.analyze_stack(resources)
    return Timing(analyze_wall, analyze_cpu, time.perf_counter() - started, _spent(cpu, process_cpu(pid)),
                  len(diagnostics))


def checkov(executable: str, resources: list[RecordedResource]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, failed checks) of `checkov -f <manifests> --framework kubernetes` on the
    Kubernetes objects among `resources`."""
    import yaml

    from scripts.render_manifests import manifest

    objects = [o for o in (manifest(r) for r in resources) if o is not None]
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "manifests.yaml"
        path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        result = subprocess.run([executable, "-f", str(path), "--framework", "kubernetes", "--skip-download",
                                 "--quiet", "--compact", "-o", "json"], capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode not in (0, 1):  # 1: some check failed
        raise RuntimeError(f"checkov exited {result.returncode}: {result.stderr[-2000:]}")
    reports = json.loads(result.stdout) if result.stdout.strip() else []
    failed = sum(int(r.get("summary", {}).get("failed", 0)) for r in (reports if isinstance(reports, list) else [reports]))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, failed


def _cpu(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f} s"


def main() -> None:
    args = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    markdown = "--markdown" in sys.argv[1:]
    repeat = next((int(a.split("=", 1)[1]) for a in sys.argv[1:] if a.startswith("--repeat=")), 1)
    checkov_path = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--checkov=")), None)
    stack = args[0] if args else ("prod" if "prod" in stack_names() else "dev")
    pack = PackProcess()
    try:
        servicer = "library" if os.environ.get("BROWSER_PLATFORM_LIBRARY_SERVICER") == "1" else "shared"
        print(f"pack start (process launch to GetAnalyzerInfo answered): {pack.start_seconds:.2f} s, "
              f"{len(pack.policy_names)} policies, {servicer} servicer methods; best of {repeat} run(s) per row; "
              "pack CPU = user + system time of the pack process; per resource = Analyze pack CPU / resources")
        extra = " Checkov (wall) | Checkov CPU | Checkov failed |" if checkov_path else ""
        if markdown:
            print(f"\n| stack | resources | Analyze, every resource ({servicer}) | pack CPU | per resource | "
                  f"AnalyzeStack ({servicer}) | pack CPU | diagnostics |{extra}\n|---|---|---|---|---|---|---|---|"
                  + "---|---|---|" * bool(checkov_path))
        pack.configure_stack(stack)
        dev = evaluate_stack("dev").resources
        rows = [] if "--synthetic-only" in sys.argv[1:] else [(f"stack {stack}", evaluate_stack(stack).resources)]
        rows += [(f"synthetic {n} workloads", synthetic(dev, n)) for n in (100, 1000)]
        for label, resources in rows:
            best = timed(pack, resources)
            for _ in range(repeat - 1):
                best = best.best(timed(pack, resources))
            per = "-" if best.analyze_cpu is None else f"{1000 * best.analyze_cpu / len(resources):.2f} ms"
            scan = checkov(checkov_path, resources) if checkov_path else None
            if markdown:
                tail = f" {scan[0]:.2f} s | {scan[1]:.2f} s | {scan[2]:,} |" if scan else ""
                print(f"| {label} | {len(resources):,} | {best.analyze_wall:.2f} s | {_cpu(best.analyze_cpu)} | {per} | "
                      f"{best.stack_wall:.2f} s | {_cpu(best.stack_cpu)} | {best.diagnostics:,} |{tail}")
                continue
            tail = f"  Checkov: {scan[0]:6.2f} s (CPU {scan[1]:.2f} s, {scan[2]} failed checks)" if scan else ""
            print(f"{label:>26}: {len(resources):5d} resources  Analyze x{len(resources)}: {best.analyze_wall:6.2f} s "
                  f"(pack CPU {_cpu(best.analyze_cpu)}, {per} per resource)  AnalyzeStack: {best.stack_wall:6.2f} s "
                  f"(pack CPU {_cpu(best.stack_cpu)})  diagnostics: {best.diagnostics}{tail}")
    finally:
        pack.close()


if __name__ == "__main__":
    main()
