"""`make plan STACK=<stack>`: what `pulumi up` would create, without credentials, a CLI or a cluster.

Evaluates Pulumi.<stack>.yaml on the mocks, prints the resource tree, and writes the rendered Kubernetes
manifests (and Helm release values) under out/<stack>/. Exits 2 with the config problems on invalid config.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

from stack_config import ConfigError

from .harness import REPO_ROOT, RecordedResource, StackEvaluation, evaluate_stack, stack_names
from .render import clean, write_manifests


def resource_tree(evaluation: StackEvaluation) -> str:
    children: dict[str, list[RecordedResource]] = defaultdict(list)
    urns = {resource.urn for resource in evaluation.resources}
    for resource in evaluation.resources:
        children[resource.parent if resource.parent in urns else ""].append(resource)
    lines = [f"stack {evaluation.stack}"]

    def walk(parent: str, depth: int) -> None:
        for resource in sorted(children[parent], key=lambda r: (r.custom, r.type, r.name)):
            lines.append(f"{'  ' * depth}{resource.type}  {resource.name}")
            walk(resource.urn, depth + 1)

    walk("", 1)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.plan", description=__doc__)
    parser.add_argument("stack", choices=stack_names(), help="stack name (Pulumi.<stack>.yaml)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "out", help="output folder (default: out/)")
    args = parser.parse_args(argv)
    try:
        evaluation = evaluate_stack(args.stack)
    except ConfigError as error:
        print(f"error: Pulumi.{args.stack}.yaml: {error}", file=sys.stderr)
        return 2
    print(resource_tree(evaluation))
    directory = args.out / args.stack
    written = write_manifests(evaluation, directory)
    (directory / "resources.json").write_text(json.dumps(
        [{"urn": r.urn, "type": r.type, "parent": r.parent, "dependencies": r.dependencies,
          "inputs": clean(r.inputs)} for r in evaluation.resources], indent=1))
    kubernetes_objects = len(evaluation.kubernetes_objects())
    print(f"\n{len(evaluation.resources)} resources; {kubernetes_objects} Kubernetes objects and "
          f"{len(written) - kubernetes_objects} Helm releases written to {directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
