"""`make plan STACK=<stack>`: the offline "what would `pulumi up` do" path."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from offline.harness import REPO_ROOT

PROGRAM_PARTS = ["Pulumi.yaml", "__main__.py", "components", "stack_config", "offline", "capacity"]


def run_plan(project: Path, stack: str, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "offline.plan", stack, "--out", str(out)],
                          cwd=project, capture_output=True, text=True, check=False)


def test_plan_prints_the_tree_and_writes_manifests(tmp_path: Path) -> None:
    result = run_plan(REPO_ROOT, "dev", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("stack dev\n")
    assert "browser-platform:cluster:KindCluster  cluster" in result.stdout
    assert "kubernetes:apps/v1:Deployment  browser-deployment" in result.stdout
    deployment = yaml.safe_load((tmp_path / "dev" / "manifests" / "deployment_browser-platform_browser.yaml").read_text())
    assert deployment["kind"] == "Deployment" and deployment["metadata"]["name"] == "browser"
    secret = yaml.safe_load((tmp_path / "dev" / "manifests" / "secret_browser-platform_api-secrets.yaml").read_text())
    assert secret["stringData"] == {"API_SECRET_KEY": "<redacted>", "POSTGRES_PASSWORD": "<redacted>",
                                    "REDIS_PASSWORD": "<redacted>"}  # the data stores' credentials too
    assert (tmp_path / "dev" / "resources.json").exists()


def test_plan_exits_2_with_the_config_problems(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for part in PROGRAM_PARTS:
        source = REPO_ROOT / part
        if source.is_dir():
            shutil.copytree(source, project / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, project / part)
    stack_file = yaml.safe_load((REPO_ROOT / "Pulumi.dev.yaml").read_text())
    stack_file["config"]["browser-platform:workloads"]["browser"]["sessionsPerPod"] = 0
    stack_file["config"]["browser-platform:replicaz"] = 3
    (project / "Pulumi.broken.yaml").write_text(yaml.safe_dump(stack_file))

    result = run_plan(project, "broken", tmp_path / "out")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "browser-platform:workloads.browser.sessionsPerPod: Input should be greater than or equal to 1" in result.stderr
    assert "browser-platform:replicaz: unknown config key" in result.stderr
    assert not (tmp_path / "out" / "broken").exists()
