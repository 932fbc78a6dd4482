"""Benchmark the policy pack over the real protocol (not a test): start time, and analysis time for the prod
stack and for synthetic stacks of 100 and 1,000 workloads (copies of the dev stack's api Deployment, each with
its Service, PDB and HPA).

    venv/bin/python scripts/bench_policy.py [stack] [--markdown]

--markdown prints the table policy/README.md shows (paste it there between the bench-policy markers). Set
BROWSER_PLATFORM_LIBRARY_SERVICER=1 to time pulumi_policy's own servicer methods instead of the shared ones.
"""

from __future__ import annotations

import copy
import os
import sys
import time
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


def timed(pack: PackProcess, resources: list[RecordedResource]) -> tuple[float, float, int]:
    providers = [r for r in resources if r.type.startswith("pulumi:providers:")]  # all `analyze` looks up
    started = time.perf_counter()
    diagnostics = [d for r in resources if r.custom and not r.type.startswith("pulumi:providers:")
                   for d in pack.analyze(r, providers)]
    per_resource = time.perf_counter() - started
    started = time.perf_counter()
    diagnostics += pack.analyze_stack(resources)
    return per_resource, time.perf_counter() - started, len(diagnostics)


def main() -> None:
    args = [arg for arg in sys.argv[1:] if arg != "--markdown"]
    markdown = "--markdown" in sys.argv[1:]
    stack = args[0] if args else ("prod" if "prod" in stack_names() else "dev")
    pack = PackProcess()
    try:
        servicer = "library" if os.environ.get("BROWSER_PLATFORM_LIBRARY_SERVICER") == "1" else "shared"
        print(f"pack start (process launch to GetAnalyzerInfo answered): {pack.start_seconds:.2f} s, "
              f"{len(pack.policy_names)} policies, {servicer} servicer methods")
        if markdown:
            print(f"\n| stack | resources | Analyze, every resource ({servicer}) | AnalyzeStack ({servicer}) | "
                  "diagnostics |\n|---|---|---|---|---|")
        pack.configure_stack(stack)
        real = evaluate_stack(stack).resources
        rows = [(f"stack {stack}", real)]
        dev = evaluate_stack("dev").resources
        rows += [(f"synthetic {n} workloads", synthetic(dev, n)) for n in (100, 1000)]
        for label, resources in rows:
            per_resource, whole, count = timed(pack, resources)
            if markdown:
                print(f"| {label} | {len(resources):,} | {per_resource:.2f} s | {whole:.2f} s | {count:,} |")
                continue
            print(f"{label:>26}: {len(resources):5d} resources  Analyze x{len(resources)}: {per_resource:6.2f} s  "
                  f"AnalyzeStack: {whole:6.2f} s  diagnostics: {count}")
    finally:
        pack.close()


if __name__ == "__main__":
    main()
