"""A stack imports only the cloud SDK its cluster runs on: every preview is a fresh Python process, and the
cloud SDKs' packages are most of its time (scripts/bench_evaluate.py). Checked in a fresh process per stack,
since this session has imported every component already."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

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


@pytest.mark.parametrize("stack", STACKS)
def test_stack_imports_only_its_own_cloud_sdk(stack: str) -> None:
    config, _ = stack_file_config(stack)
    kind = json.loads(config["browser-platform:cluster"])["kind"]
    result = subprocess.run([sys.executable, "-c", CHILD, stack], cwd=REPO_ROOT, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    imported = json.loads(result.stdout.strip().splitlines()[-1])
    assert {name.split(".")[0] for name in imported} == SDKS[kind], imported
