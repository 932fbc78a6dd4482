"""scripts/up-dev.sh and destroy-dev.sh check every prerequisite before changing anything, and `make` says
what to run when the virtualenv or a tool is missing. The tools are fakes on a PATH of their own in a temp
folder: missing tools, old versions, a Docker daemon that is down."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from offline.harness import REPO_ROOT

BASH = shutil.which("bash") or "/bin/bash"
GOOD = {
    "pulumi": "echo v3.272.0",
    "kind": "echo 'kind v0.31.0 go1.25.1 linux/amd64'",
    "kubectl": "echo 'Client Version: v1.35.0'; echo 'Kustomize Version: v5.7.1'",
    "python3": "echo 'Python 3.11.7'",
    "openssl": "echo 0123456789abcdef",
}
OLD = {
    "pulumi": "echo v3.200.1",
    "kind": "echo 'kind v0.20.0 go1.20.4 linux/amd64'",
    "kubectl": "echo 'Client Version: v1.29.2'",
    "python3": "echo 'Python 3.10.12'",
}
DOCKER_UP = 'case "$1" in info) [ "$2" = --format ] && echo "8 17179869184"; exit 0;; esac'
DOCKER_DOWN = 'echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock" >&2; exit 1'
# What the scripts use after the checks pass (they must not be needed before).
UTILITIES = ("mkdir", "sed", "tr", "head", "grep", "rm", "cat")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for part in ("scripts/up-dev.sh", "scripts/destroy-dev.sh", "scripts/prereqs.sh", "Pulumi.dev.yaml",
                 "offline/stack-secrets.yaml", "Makefile"):
        (root / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / part, root / part)
    return root


def fake_bin(folder: Path, tools: dict[str, str], utilities: tuple[str, ...] = ()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "calls.log"
    for name, body in tools.items():
        path = folder / name
        path.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n{body}\n')
        path.chmod(0o755)
    for name in utilities:
        real = shutil.which(name)
        assert real, name
        (folder / name).symlink_to(real)
    return folder


def run(script: Path, path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(path), "HOME": str(path.parent)}
    return subprocess.run([BASH, str(script), *args], env=env, capture_output=True, text=True, timeout=60,
                          check=False)


def calls(path: Path) -> str:
    log = path / "calls.log"
    return log.read_text() if log.exists() else ""


def test_no_tools_lists_every_one_and_changes_nothing(project: Path, tmp_path: Path) -> None:
    result = run(project / "scripts/up-dev.sh", fake_bin(tmp_path / "bin", {}))
    assert result.returncode == 1
    problems = [line for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert [p.split(":")[0].strip("- ") for p in problems] == ["pulumi", "docker", "kind", "kubectl", "python3",
                                                                "openssl"]
    assert "nothing was changed" in result.stderr
    assert not (project / ".state").exists()


def test_old_versions_and_a_stopped_docker_daemon_are_all_reported(project: Path, tmp_path: Path) -> None:
    path = fake_bin(tmp_path / "bin", {**GOOD, **OLD, "docker": DOCKER_DOWN})
    result = run(project / "scripts/up-dev.sh", path)
    assert result.returncode == 1, result.stderr
    assert "pulumi: version 3.200.1 is too old; need 3.272.0 or newer" in result.stderr
    assert "kind: version 0.20.0 is too old; need 0.31.0 or newer" in result.stderr
    assert "kubectl: version 1.29.2 is too old; need 1.34.0 or newer" in result.stderr
    assert "python3: version 3.10.12 is too old; need 3.11.0 or newer" in result.stderr
    assert "docker: the Docker daemon is not running" in result.stderr
    assert "openssl" not in result.stderr
    assert not (project / ".state").exists()
    # Only version queries ran: no stack was selected, no config set.
    assert all(line.split()[1:2] in (["version"], ["--version"], ["info"]) for line in calls(path).splitlines())


def test_newer_versions_pass_and_the_deploy_runs(project: Path, tmp_path: Path) -> None:
    tools = {**GOOD, "docker": DOCKER_UP, "pulumi": 'case "$1" in version) echo v3.300.2;; config) '
             '[ "$2" = get ] && exit 1;; esac; exit 0', "kind": "echo 'kind v0.32.0 go1.25 linux/amd64'"}
    path = fake_bin(tmp_path / "bin", tools, UTILITIES)
    result = run(project / "scripts/up-dev.sh", path)
    assert result.returncode == 0, result.stderr
    assert (project / ".state").is_dir()
    log = calls(path)
    assert "pulumi stack select dev --create --non-interactive" in log
    assert "pulumi config set --secret apiSecretKey 0123456789abcdef --stack dev" in log
    assert "pulumi config set --secret grafanaAdminPassword 0123456789abcdef --stack dev" in log
    assert "pulumi up --stack dev --yes" in log
    assert "warning" not in result.stderr  # 8 CPUs / 16 GiB cover the dev stack


def test_small_docker_host_gets_a_warning(project: Path, tmp_path: Path) -> None:
    small = 'case "$1" in info) [ "$2" = --format ] && echo "2 4294967296"; exit 0;; esac'
    tools = {**GOOD, "docker": small, "pulumi": 'case "$1" in version) echo v3.272.0;; esac; exit 0'}
    result = run(project / "scripts/up-dev.sh", fake_bin(tmp_path / "bin", tools, UTILITIES))
    assert result.returncode == 0, result.stderr
    assert "warning: Docker has 2 CPUs and about 4 GiB" in result.stderr


def test_docker_minimum_in_the_script_and_readme_is_the_capacity_report() -> None:
    from scripts.capacity_report import as_json, load_config

    host = as_json("dev", load_config("dev"))["dockerHost"]
    script = (REPO_ROOT / "scripts/prereqs.sh").read_text()
    assert f"DEV_DOCKER_CPUS={host['cpus']}\n" in script
    assert f"DEV_DOCKER_MEMORY_GIB={host['memoryGiB']}\n" in script
    readme = (REPO_ROOT / "README.md").read_text()
    assert f"at least {host['cpus']} CPUs and {host['memoryGiB']} GiB of memory" in readme


def test_readme_minimums_are_the_ones_checked() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    script = (REPO_ROOT / "scripts/prereqs.sh").read_text()
    minimums = dict(line.split("=", 1) for line in script.splitlines() if line.endswith(".0") and "_MIN=" in line)
    assert f"install/) {minimums['PULUMI_MIN'].removesuffix('.0')}+" in readme
    assert f"kind {minimums['KIND_MIN'].removesuffix('.0')}+" in readme
    assert f"Python {minimums['PYTHON_MIN'].removesuffix('.0')}+" in readme
    assert f"kubectl {minimums['KUBECTL_MIN'].removesuffix('.0')}+" in readme


def test_destroy_dev_checks_tools_then_removes_stack_cluster_and_state(project: Path, tmp_path: Path) -> None:
    (project / ".state").mkdir()
    result = run(project / "scripts/destroy-dev.sh", fake_bin(tmp_path / "none", {}))
    assert result.returncode == 1
    assert "pulumi: not on PATH" in result.stderr and "kind: not on PATH" in result.stderr
    assert (project / ".state").is_dir()

    tools = {"pulumi": 'case "$1" in version) echo v3.272.0;; esac; exit 0', "docker": DOCKER_UP,
             "kind": 'case "$1" in version) echo "kind v0.31.0";; get) echo browser-platform-dev;; esac'}
    path = fake_bin(tmp_path / "bin", tools, UTILITIES)
    result = run(project / "scripts/destroy-dev.sh", path)
    assert result.returncode == 0, result.stderr
    log = calls(path)
    assert "pulumi destroy --stack dev --yes" in log and "pulumi stack rm dev --yes" in log
    assert "kind delete cluster --name browser-platform-dev" in log
    assert not (project / ".state").exists()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("target", ["plan", "test", "lint", "capacity"])
def test_make_before_make_venv_says_to_run_it(project: Path, target: str) -> None:
    # A make that runs this test (`make test PYTHON=...` in CI) hands its command-line variables down through
    # MAKEFLAGS and the environment; a newcomer's shell has neither, so neither does this make.
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "PYTHON", "TEST_WORKERS")}
    result = subprocess.run(["make", "-s", target], cwd=project, env=env, capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "venv/bin/python not found: run `make venv` first" in result.stderr
    assert "No such file" not in result.stderr


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_destroy_dev_without_pulumi_says_what_is_missing(project: Path, tmp_path: Path) -> None:
    path = fake_bin(tmp_path / "bin", {}, ("make", "bash", "env"))
    result = subprocess.run([shutil.which("make") or "make", "-s", "destroy-dev", f"SHELL={BASH}"], cwd=project,
                            env={"PATH": str(path)}, capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "pulumi: not on PATH" in result.stderr and "Error 127" not in result.stderr
