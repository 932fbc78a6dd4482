"""Write the Kubernetes objects a stack registers (evaluated under Pulumi mocks) as YAML manifests, one file per
stack, for scanners that read manifests (Checkov: `checkov -f <file> --framework kubernetes`). Objects rendered
inside Helm releases are not included: the program registers only the release, not its objects (the same scope
as the policy pack). Secret values are left out (the mocks' placeholders are not real values anyway).

    venv/bin/python scripts/render_manifests.py OUT_DIR [stack ...]
    venv/bin/python scripts/render_manifests.py OUT_DIR --synthetic 1000   # what scripts/bench_policy.py analyzes
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from offline.harness import RecordedResource, evaluate_stack, stack_names, unwrap_secrets

_TYPE = re.compile(r"^kubernetes:([A-Za-z0-9.-]+)/([A-Za-z0-9]+):([A-Za-z0-9]+)$")
_NOT_OBJECTS = {"ConfigFile", "ConfigGroup", "Chart", "Release", "Directory", "Kustomize"}


def _ints(value: Any) -> Any:
    """Whole numbers as ints: the recorded inputs carry every number as a float (as the engine sends them), a
    manifest has `runAsUser: 10001`, and scanners compare types."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


def manifest(resource: RecordedResource) -> dict[str, Any] | None:
    """The object as `kubectl apply` would receive it, or None for what is not a Kubernetes object."""
    match = _TYPE.match(resource.type)
    if match is None or match.group(3) in _NOT_OBJECTS or match.group(3).endswith("List") \
            or resource.type.startswith("kubernetes:helm.sh"):
        return None
    group, version, kind = match.groups()
    body = _ints(unwrap_secrets(resource.inputs))
    if kind == "Secret":
        body = {k: v for k, v in body.items() if k not in ("data", "stringData")}
    return {"apiVersion": version if group == "core" else f"{group}/{version}", "kind": kind,
            **{k: v for k, v in body.items() if k not in ("apiVersion", "kind")}}


def render(stack: str) -> list[dict[str, Any]]:
    objects = [manifest(r) for r in evaluate_stack(stack).resources]
    return [o for o in objects if o is not None]


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    if argv[1:2] == ["--synthetic"]:
        from scripts.bench_policy import synthetic

        count = int(argv[2])
        objects = [o for o in (manifest(r) for r in synthetic(evaluate_stack("dev").resources, count)) if o]
        (out / f"synthetic-{count}.yaml").write_text(yaml.safe_dump_all(objects, sort_keys=False))
        print(f"synthetic {count}: {len(objects)} objects -> {out / f'synthetic-{count}.yaml'}")
        return 0
    for stack in argv[1:] or stack_names():
        objects = render(stack)
        (out / f"{stack}.yaml").write_text(yaml.safe_dump_all(objects, sort_keys=False))
        print(f"{stack}: {len(objects)} objects -> {out / f'{stack}.yaml'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
