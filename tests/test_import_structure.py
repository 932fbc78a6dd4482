"""A stack imports only the cloud SDK its cluster runs on: every preview is a fresh Python process, and the
cloud SDKs' packages are most of its time (scripts/bench_evaluate.py). Checked in a fresh process per stack,
since this session has imported every component already; the processes run side by side."""

from __future__ import annotations

import json
import subprocess
import sys

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
