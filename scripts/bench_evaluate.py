"""Benchmark the offline evaluation of each stack (not a test): how long the program takes to run on the mocks,
and how many resources and Kubernetes objects it registers, so growth is visible as layers are added.

    venv/bin/python scripts/bench_evaluate.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from offline.harness import evaluate_stack, stack_names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="evaluations per stack (default 3)")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    print(f"{'stack':<10} {'resources':>9} {'k8s objects':>11} {'median s':>9} {'min s':>7}")
    for stack in stack_names():
        seconds = []
        evaluation = None
        for _ in range(args.repeat):
            started = time.perf_counter()
            evaluation = evaluate_stack(stack)
            seconds.append(time.perf_counter() - started)
        assert evaluation is not None  # --repeat >= 1
        print(f"{stack:<10} {len(evaluation.resources):>9} {len(evaluation.kubernetes_objects()):>11} "
              f"{statistics.median(seconds):>9.2f} {min(seconds):>7.2f}")


if __name__ == "__main__":
    main()
