"""A stack imports only the cloud SDK its cluster runs on: every preview is a fresh Python process, and the
cloud SDKs' packages are most of its time (scripts/bench_evaluate.py). Checked in a fresh process per stack,
since this session has imported every component already; the processes run side by side."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from offline.harness import REPO_ROOT, stack_file_config

from .conftest import STACKS

SDKS = {"eks": {"pulumi_aws"}, "gke": {"pulumi_gcp"}, "kind": set()}
"""The cloud SDKs each kind of cluster may import."""

CHILD = """
import json, sys
from offline.harness import evaluate_stack
evaluate_stack(sys.argv[1])
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in ("pulumi_aws", "pulumi_gcp"))))
"""


def cluster_kind(stack: str) -> str:
    config, _ = stack_file_config(stack)
    kind: str = json.loads(config["browser-platform:cluster"])["kind"]
    return kind


def test_each_stack_imports_only_its_own_cloud_sdk() -> None:
    children = {stack: subprocess.Popen([sys.executable, "-c", CHILD, stack], cwd=REPO_ROOT, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for stack in STACKS}
    kinds = set()
    for stack, child in children.items():
        stdout, stderr = child.communicate(timeout=300)
        assert child.returncode == 0, f"{stack}: {stderr}"
        imported = json.loads(stdout.strip().splitlines()[-1])
        kinds.add(cluster_kind(stack))
        assert {name.split(".")[0] for name in imported} == SDKS[cluster_kind(stack)], (stack, imported)
    assert kinds == set(SDKS), "a stack of every kind of cluster is checked"


LAYERS = ["stack_config", "capacity", "components.common", "components.clusters", "components.services",
          "components.data", "components.workloads", "components.platform_services", "components.platform"]
"""Lowest first: a module may import from its own layer and the ones before it, never from one after it.
(`capacity` and `stack_config` are both below every component; stack_config uses capacity's sizing tables.)"""


def layer_of(module: str) -> int | None:
    matches = [index for index, layer in enumerate(LAYERS) if module == layer or module.startswith(layer + ".")]
    return max(matches) if matches else None


def imported_modules(path: Path, module: str) -> set[str]:
    """Absolute names of the modules a file imports, relative imports resolved against its package."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from . import charts`
    return found


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    upward = []
    for path in sorted(Path(REPO_ROOT).glob("components/**/*.py")) + sorted(Path(REPO_ROOT).glob("capacity/*.py")):
        module = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")
        own = layer_of(module)
        if module == "components":  # the package docstring only
            continue
        assert own is not None, module
        for imported in imported_modules(path, module):
            layer = layer_of(imported)
            if layer is not None and layer > own and LAYERS[own] not in ("stack_config", "capacity"):
                upward.append(f"{module} imports {imported}")
            if LAYERS[own] == "capacity" and layer is not None and LAYERS[layer].startswith("components"):
                upward.append(f"{module} imports {imported}")
    assert not upward, upward


def test_the_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "mesh.py"
    module.write_text("from ..workloads.group import Workloads\nfrom ..common import charts\n")
    found = imported_modules(module, "components.services.mesh")
    assert {"components.workloads.group", "components.common.charts"} <= found
    assert LAYERS.index("components.workloads") > LAYERS.index("components.services")
    assert layer_of("components.workloads.group") == LAYERS.index("components.workloads")
