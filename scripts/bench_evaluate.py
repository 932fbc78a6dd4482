"""Benchmark the offline evaluation of each stack (not a test): what a `pulumi preview` pays in the program's own
Python process, and how many resources and Kubernetes objects it registers, so growth is visible as layers are
added.

    venv/bin/python scripts/bench_evaluate.py [--repeat N] [stack ...]

Per stack it starts `--repeat` fresh Python processes that each import the harness and run the program once on
the mocks (what the language host does on every preview: import the program's modules and the SDKs they use,
then run it), after one warm-up process whose figures are dropped. Columns:

- `process s`: wall time of the whole process, interpreter start to exit (median); `cpu s`: its user+system CPU
  time (median; steadier than wall time on a busy machine).
- `imports s`: the seconds `python -X importtime` attributes to imports in one more process (its own overhead
  included), and `cloud SDK`: the cloud SDKs that process imported, with the subpackages it loaded.
- `warm s`: further evaluations inside that already-warm process (median): the program itself, no imports.
- `SDK cpu s`: the CPU time of a fresh process that only imports the SDK modules (pulumi, grpc, protobuf and
  the Pulumi provider packages, with exactly the subpackages the stack loaded) and runs nothing (median): the
  floor no change to this program's own code can go below.

The child processes may write bytecode caches (`__pycache__/`, ignored by git) even when PYTHONDONTWRITEBYTECODE
is set here: the Pulumi CLI does not set it, so a developer's second preview reads compiled modules.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from offline.harness import stack_names  # noqa: E402

CHILD = """
import json, sys, time
SDK_PACKAGES = %r
from offline.harness import evaluate_stack
evaluation = evaluate_stack(sys.argv[1])
warm = []
for _ in range(int(sys.argv[2])):
    started = time.perf_counter()
    evaluate_stack(sys.argv[1])
    warm.append(time.perf_counter() - started)
loaded = [name.split(".") for name, module in sys.modules.items() if type(module).__name__ == "module"]
sdk = [f"{top[7:]}[{','.join(sorted({parts[1] for parts in loaded if parts[0] == top and len(parts) > 2}))}]"
       for top in ("pulumi_aws", "pulumi_gcp") if top in sys.modules]
sdk_modules = [name for name, module in sys.modules.items()
               if name.split(".")[0] in SDK_PACKAGES and type(module).__name__ == "module"]
print(json.dumps({"resources": len(evaluation.resources), "k8s": len(evaluation.kubernetes_objects()),
                  "warm": warm, "sdk": sdk, "sdk_modules": sdk_modules}))
"""
SDK_PACKAGES = ("pulumi", "pulumi_aws", "pulumi_gcp", "pulumi_kubernetes", "pulumi_command", "grpc", "google")
"""Top-level packages that are the SDKs' (and their gRPC and protobuf runtime), not this program's."""
IMPORT_ONLY = """
import importlib, json, resource, sys
for name in json.loads(sys.stdin.read()):
    try:
        importlib.import_module(name).__dict__  # noqa: B018 - loads a lazily imported SDK subpackage
    except ImportError:
        pass  # a module some package registers under a name that cannot be imported on its own
usage = resource.getrusage(resource.RUSAGE_SELF)
print(usage.ru_utime + usage.ru_stime)
"""
CHILD = CHILD % (SDK_PACKAGES,)
IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+(\d+) \| (\S.*)$")


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


def run_child(stack: str, *flags: str, warm: int = 0) -> tuple[dict[str, Any], float, float, str]:
    """One fresh process evaluating the stack once (then `warm` more times): report, wall s, CPU s, stderr."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run([sys.executable, *flags, "-c", CHILD, stack, str(warm)],
                            cwd=REPO_ROOT, env=child_env(), capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"evaluating {stack} failed:\n{result.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads(result.stdout.strip().splitlines()[-1]), wall, cpu, result.stderr


def import_seconds(importtime_report: str) -> float:
    """The cumulative time of every top-level import (nested ones are inside their parent's figure)."""
    total = 0
    for line in importtime_report.splitlines():
        match = IMPORT_LINE.match(line)
        if match:  # nested imports are indented, so they do not match
            total += int(match.group(1))
    return total / 1e6


def import_only_cpu(modules: list[str]) -> float:
    """CPU seconds of a fresh process importing only `modules` (in the order the evaluation loaded them)."""
    result = subprocess.run([sys.executable, "-c", IMPORT_ONLY], input=json.dumps(modules), cwd=REPO_ROOT,
                            env=child_env(), capture_output=True, text=True, check=True)
    return float(result.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per stack (default 3)")
    parser.add_argument("stacks", nargs="*", help="stacks to measure (default: every Pulumi.<stack>.yaml)")
    args = parser.parse_args()
    print(f"{'stack':<10} {'resources':>9} {'k8s objects':>11} {'process s':>9} {'cpu s':>6} {'imports s':>9} "
          f"{'warm s':>6} {'SDK cpu s':>9}  cloud SDK")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    for stack in args.stacks or stack_names():
        run_child(stack)  # warm-up: bytecode caches and the OS page cache, as on a developer's second preview
        walls, cpus = [], []
        for _ in range(args.repeat):
            _report, wall, cpu, _stderr = run_child(stack)
            walls.append(wall)
            cpus.append(cpu)
        report, _wall, _cpu, stderr = run_child(stack, "-X", "importtime", warm=args.repeat)
        sdk_cpu = statistics.median(import_only_cpu(report["sdk_modules"]) for _ in range(args.repeat))
        print(f"{stack:<10} {report['resources']:>9} {report['k8s']:>11} {statistics.median(walls):>9.2f} "
              f"{statistics.median(cpus):>6.2f} {import_seconds(stderr):>9.2f} {statistics.median(report['warm']):>6.2f}"
              f" {sdk_cpu:>9.2f}  {', '.join(report['sdk']) or 'none'}", flush=True)


if __name__ == "__main__":
    main()
