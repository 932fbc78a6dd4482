"""`make plan STACK=<stack>`: what `pulumi up` would create, without credentials, a CLI or a cluster.

Evaluates Pulumi.<stack>.yaml on the mocks, prints the cluster and the resource tree (the cluster first), and
writes the rendered Kubernetes manifests (and Helm release values) under out/<stack>/. The test-only stacks
(tests/stacks/Pulumi.existing.yaml, Pulumi.fleet.yaml) plan the same way, with the stand-in secrets of
offline/stack-secrets.yaml.

  --show Kind/name     print one rendered object instead (`Deployment/browser`, `Release/mesh-istiod`;
                       `Kind/namespace/name` when the name is not unique)
  --base <git ref>     print what the working tree changes against that commit, field by field, for every
                       resource (offline/diff.py); --diff-out FILE also writes it as Markdown

Exits 2 with `error: Pulumi.<stack>.yaml: line N: ...` lines on invalid config (or a YAML syntax error).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from stack_config import ConfigError
from stack_config.stack_file import report_config_error

from .diff import BaseEvaluationError, diff_snapshots, format_markdown, format_text, snapshot, snapshot_at
from .harness import (
    REPO_ROOT,
    RecordedResource,
    StackEvaluation,
    evaluate_stack,
    stack_file,
    stack_names,
    test_only_stack_names,
)
from .render import HELM_RELEASE, clean, manifests, write_manifests

CLUSTER_TYPE_PREFIX = "browser-platform:cluster:"


def cluster_line(evaluation: StackEvaluation) -> str:
    outputs = evaluation.outputs
    return (f"cluster {outputs.get('clusterName', '?')}: {outputs.get('clusterKind', '?')}, "
            f"Kubernetes {outputs.get('kubernetesVersion', '?')}")


def _tree_order(resource: RecordedResource) -> tuple[bool, bool, str, str]:
    # The cluster comes first: everything else runs on it.
    return (not resource.type.startswith(CLUSTER_TYPE_PREFIX), resource.custom, resource.type, resource.name)


def resource_tree(evaluation: StackEvaluation) -> str:
    children: dict[str, list[RecordedResource]] = defaultdict(list)
    urns = {resource.urn for resource in evaluation.resources}
    for resource in evaluation.resources:
        children[resource.parent if resource.parent in urns else ""].append(resource)
    lines = [f"stack {evaluation.stack}", cluster_line(evaluation)]

    def walk(parent: str, depth: int) -> None:
        for resource in sorted(children[parent], key=_tree_order):
            lines.append(f"{'  ' * depth}{resource.type}  {resource.name}")
            walk(resource.urn, depth + 1)

    walk("", 1)
    return "\n".join(lines)


def find_object(evaluation: StackEvaluation, wanted: str) -> tuple[dict[str, Any] | None, list[str]]:
    """The rendered object `Kind/name` or `Kind/namespace/name` (a Helm release: `Release/<name>`), and, when
    there is no single match, the candidates to suggest."""
    parts = wanted.split("/")
    kind, name = parts[0].lower(), parts[-1]
    namespace = parts[1] if len(parts) == 3 else None
    objects: list[tuple[str, dict[str, Any]]] = []
    for document in manifests(evaluation):
        metadata = document.get("metadata") or {}
        where = f"{metadata['namespace']}/" if metadata.get("namespace") else ""
        objects.append((f"{document['kind']}/{where}{metadata.get('name')}", document))
    for release in evaluation.of_type(HELM_RELEASE):
        inputs = clean(release.inputs)
        objects.append((f"Release/{inputs.get('namespace', '')}/{inputs.get('name', release.name)}", inputs))
        objects.append((f"Release/{release.name}", inputs))
    matches: list[tuple[str, dict[str, Any]]] = []
    for ident, document in objects:
        ident_parts = ident.split("/")
        if ident_parts[0].lower() != kind or ident_parts[-1] != name:
            continue
        if namespace is not None and (len(ident_parts) != 3 or ident_parts[1] != namespace):
            continue
        if all(document is not other for _, other in matches):
            matches.append((ident, document))
    if len(matches) == 1:
        return matches[0][1], []
    if matches:
        return None, [ident for ident, _ in matches]
    same_kind = [ident for ident, _ in objects if ident.split("/")[0].lower() == kind]
    return None, sorted(set(same_kind or [ident.split("/")[0] + "/…" for ident, _ in objects]))


def write_plan(evaluation: StackEvaluation, directory: Path) -> str:
    written = write_manifests(evaluation, directory)
    (directory / "resources.json").write_text(json.dumps(
        [{"urn": r.urn, "type": r.type, "parent": r.parent, "dependencies": r.dependencies,
          "inputs": clean(r.inputs)} for r in evaluation.resources], indent=1))
    kubernetes_objects = len(evaluation.kubernetes_objects())
    return (f"{len(evaluation.resources)} resources; {kubernetes_objects} Kubernetes objects and "
            f"{len(written) - kubernetes_objects} Helm releases written to {directory}")


def plan_diff(evaluation: StackEvaluation, base: str, diff_out: Path | None) -> int:
    try:
        commit, old = snapshot_at(base, evaluation.stack)
    except BaseEvaluationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    plan = diff_snapshots(evaluation.stack, old, snapshot(evaluation), base=f"{base} ({commit[:12]})")
    sys.stdout.write(format_text(plan))
    if diff_out is not None:
        diff_out.parent.mkdir(parents=True, exist_ok=True)
        diff_out.write_text(format_markdown(plan))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.plan", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    # The test-only stacks (tests/stacks/: existing, fleet) plan too; evaluate_stack finds them by name.
    parser.add_argument("stack", choices=sorted({*stack_names(), *test_only_stack_names()}),
                        help="stack name (Pulumi.<stack>.yaml, or tests/stacks/Pulumi.<stack>.yaml)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "out", help="output folder (default: out/)")
    parser.add_argument("--show", metavar="KIND/NAME", help="print this one rendered object")
    parser.add_argument("--base", metavar="GIT_REF", help="diff against the stack at this commit")
    parser.add_argument("--diff-out", type=Path, help="with --base: also write the diff as Markdown here")
    args = parser.parse_args(argv)
    try:
        evaluation = evaluate_stack(args.stack)
    except (ConfigError, yaml.YAMLError) as error:
        print(report_config_error(args.stack, REPO_ROOT, error, stack_path=stack_file(args.stack)), file=sys.stderr)
        return 2
    if args.show:
        document, candidates = find_object(evaluation, args.show)
        if document is None:
            print(f"error: no single rendered object {args.show} in stack {args.stack}; "
                  f"{'did you mean' if candidates else 'there are none'}: {', '.join(candidates)}", file=sys.stderr)
            return 2
        sys.stdout.write(yaml.safe_dump(document, sort_keys=False))
        return 0
    if args.base:
        return plan_diff(evaluation, args.base, args.diff_out)
    print(resource_tree(evaluation))
    print(f"\n{write_plan(evaluation, args.out / args.stack)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
