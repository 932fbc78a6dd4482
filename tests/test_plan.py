"""`make plan STACK=<stack>`: the offline "what would `pulumi up` do" path."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from offline.harness import REPO_ROOT
from stack_config.cluster import KIND_NODE_IMAGES

PROGRAM_PARTS = ["Pulumi.yaml", "__main__.py", "components", "stack_config", "offline", "capacity", "scripts"]


def run_plan(project: Path, stack: str, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "offline.plan", stack, "--out", str(out)],
                          cwd=project, capture_output=True, text=True, check=False)


def test_plan_prints_the_tree_and_writes_manifests(tmp_path: Path) -> None:
    result = run_plan(REPO_ROOT, "dev", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("stack dev\ncluster browser-platform-dev: kind, Kubernetes 1.35\n")
    # The cluster comes first in the tree: everything else runs on it.
    assert result.stdout.splitlines()[2] == "  browser-platform:cluster:KindCluster  cluster"
    assert "browser-platform:cluster:KindCluster  cluster" in result.stdout
    assert "kubernetes:apps/v1:Deployment  browser-deployment" in result.stdout
    deployment = yaml.safe_load((tmp_path / "dev" / "manifests" / "deployment_browser-platform_browser.yaml").read_text())
    assert deployment["kind"] == "Deployment" and deployment["metadata"]["name"] == "browser"
    secret = yaml.safe_load((tmp_path / "dev" / "manifests" / "secret_browser-platform_api-secrets.yaml").read_text())
    assert secret["stringData"] == {"API_SECRET_KEY": "<redacted>", "POSTGRES_PASSWORD": "<redacted>",
                                    "REDIS_PASSWORD": "<redacted>"}  # the data stores' credentials too
    assert (tmp_path / "dev" / "resources.json").exists()


def copy_program(tmp_path: Path, *extra: str) -> Path:
    """The program (and `extra` parts: stack files, tests/stacks) copied to `tmp_path/project`."""
    project = tmp_path / "project"
    project.mkdir()
    for part in [*PROGRAM_PARTS, *extra]:
        source = REPO_ROOT / part
        if source.is_dir():
            shutil.copytree(source, project / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, project / part)
    return project


def commit_all(project: Path) -> None:
    """Make `project` a git repository with everything in one commit (the base of `--base HEAD`)."""
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"]
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "base"]):
        subprocess.run([*git, *args], cwd=project, check=True, capture_output=True)


def test_plan_exits_2_with_the_config_problems(tmp_path: Path) -> None:
    project = copy_program(tmp_path)
    stack_file = yaml.safe_load((REPO_ROOT / "Pulumi.dev.yaml").read_text())
    stack_file["config"]["browser-platform:workloads"]["browser"]["sessionsPerPod"] = 0
    stack_file["config"]["browser-platform:replicaz"] = 3
    (project / "Pulumi.broken.yaml").write_text(yaml.safe_dump(stack_file, sort_keys=False))
    text = (project / "Pulumi.broken.yaml").read_text().splitlines()
    sessions_line = next(i for i, line in enumerate(text, 1) if "sessionsPerPod" in line)
    replicaz_line = next(i for i, line in enumerate(text, 1) if "replicaz" in line)

    result = run_plan(project, "broken", tmp_path / "out")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert (f"error: Pulumi.broken.yaml: line {sessions_line}: browser-platform:workloads.browser.sessionsPerPod: "
            "Input should be greater than or equal to 1") in result.stderr
    assert f"error: Pulumi.broken.yaml: line {replicaz_line}: browser-platform:replicaz: unknown config key" \
        in result.stderr
    assert result.stderr.rstrip().endswith("error: Pulumi.broken.yaml: invalid stack configuration (2 problems)")
    assert not (tmp_path / "out" / "broken").exists()


def test_plan_and_capacity_report_a_yaml_syntax_error_with_its_line(tmp_path: Path) -> None:
    project = copy_program(tmp_path)
    lines = (REPO_ROOT / "Pulumi.dev.yaml").read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip().startswith("name: browser-platform-dev"))
    lines.insert(index + 1, "   bad: [unclosed")
    (project / "Pulumi.typo.yaml").write_text("\n".join(lines) + "\n")
    for command in (["offline.plan", "typo", "--out", str(tmp_path / "out")], ["scripts.capacity_report", "typo"]):
        result = subprocess.run([sys.executable, "-m", *command], cwd=project, capture_output=True, text=True,
                                check=False)
        assert result.returncode == 2, command
        assert "Traceback" not in result.stderr
        (message,) = result.stderr.strip().splitlines()
        assert message.startswith(f"error: Pulumi.typo.yaml: line {index + 2}, column 4: YAML syntax error: "), message


def test_capacity_reports_config_problems_like_plan(tmp_path: Path) -> None:
    project = copy_program(tmp_path)
    text = (REPO_ROOT / "Pulumi.dev.yaml").read_text().replace('kubernetesVersion: "1.35"', "kubernetesVersion: 1.30")
    (project / "Pulumi.unquoted.yaml").write_text(text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "kubernetesVersion" in row)
    for command in (["offline.plan", "unquoted", "--out", str(tmp_path / "out")], ["scripts.capacity_report", "unquoted"]):
        result = subprocess.run([sys.executable, "-m", *command], cwd=project, capture_output=True, text=True,
                                check=False)
        assert result.returncode == 2, command
        assert (f'error: Pulumi.unquoted.yaml: line {line}: browser-platform:cluster.kubernetesVersion: must be quoted '
                '("1.3"): YAML reads an unquoted 1.3 as a number, not text; allowed: ' + ", ".join(sorted(KIND_NODE_IMAGES))) \
            in result.stderr, result.stderr


def test_plan_shows_one_rendered_object() -> None:
    result = subprocess.run([sys.executable, "-m", "offline.plan", "dev", "--show", "Deployment/browser"],
                            cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    document = yaml.safe_load(result.stdout)
    assert document["kind"] == "Deployment" and document["metadata"]["name"] == "browser"
    secret = subprocess.run([sys.executable, "-m", "offline.plan", "dev", "--show", "Secret/api-secrets"],
                            cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    # The API's own secret and the data stores' credentials the layer hands it, every value redacted.
    assert yaml.safe_load(secret.stdout)["stringData"] == {
        "API_SECRET_KEY": "<redacted>", "POSTGRES_PASSWORD": "<redacted>", "REDIS_PASSWORD": "<redacted>"}
    missing = subprocess.run([sys.executable, "-m", "offline.plan", "dev", "--show", "Service/nope"],
                             cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert missing.returncode == 2
    assert ("did you mean: Service/browser-data/postgres, Service/browser-data/valkey, Service/browser-platform/api, "
            "Service/browser-platform/browser") in missing.stderr


# --- the test-only stacks (tests/stacks/) ----------------------------------------------------------------------

def test_plan_takes_a_test_only_stack_with_its_stand_in_secrets(tmp_path: Path) -> None:
    """`make plan STACK=existing`: the stack under tests/stacks/, its kubeconfig and secrets from
    offline/stack-secrets.yaml (a secret left unset would be a config error, exit 2)."""
    result = run_plan(REPO_ROOT, "existing", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("stack existing\ncluster "), result.stdout[:200]
    assert result.stdout.splitlines()[1].split(": ", 1)[1].startswith("existing, Kubernetes ")
    deployment = yaml.safe_load((tmp_path / "existing" / "manifests" / "deployment_browser-platform_browser.yaml")
                                .read_text())
    assert deployment["metadata"]["name"] == "browser"


def test_plan_diff_and_config_errors_of_a_test_only_stack(tmp_path: Path) -> None:
    """`python -m offline.plan existing --base <ref>` diffs the stack file under tests/stacks/ (at the base too),
    and a bad value there is reported at its line in that file."""
    project = copy_program(tmp_path, "tests/stacks")
    commit_all(project)
    path = project / "tests" / "stacks" / "Pulumi.existing.yaml"
    path.write_text(path.read_text().replace("maxSessions: 120", "maxSessions: 140"))
    diff = subprocess.run([sys.executable, "-m", "offline.plan", "existing", "--base", "HEAD"], cwd=project,
                          capture_output=True, text=True, check=False)
    assert diff.returncode == 0, diff.stderr
    assert diff.stdout.startswith("plan diff of stack existing: HEAD (")
    assert "maxReplicaCount: 12 → 14" in diff.stdout, diff.stdout
    assert "0 to add, 0 to remove," in diff.stdout

    path.write_text(path.read_text().replace("maxSessions: 140", "maxSessions: 0"))
    broken = run_plan(project, "existing", tmp_path / "out")
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "maxSessions" in text)
    assert broken.returncode == 2, broken.stdout
    assert f"error: tests/stacks/Pulumi.existing.yaml: line {line}: " in broken.stderr, broken.stderr
