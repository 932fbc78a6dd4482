"""`make plan STACK=<stack> BASE=<ref>`: the field-level diff of two offline evaluations (offline/diff.py), on
hand-made snapshots and on a temporary git repository whose working tree changes a stack file and a module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline.diff import MASK, diff_snapshots, format_markdown, format_text
from offline.harness import FAKE_SECRET_PREFIX, SECRET_MARK, SECRET_SIG

from .test_plan import commit_all, copy_program


def secret(value: Any) -> dict[str, Any]:
    return {SECRET_SIG: SECRET_MARK, "value": value}


def deployment(replicas: int, image: str, env: list[dict[str, Any]], token: Any = "t") -> dict[str, Any]:
    return {"type": "kubernetes:apps/v1:Deployment", "name": "api-deployment", "options": {"protect": False},
            "inputs": {"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": "api", "namespace": "ns", "annotations": {"a.b/c": "1"}},
                       "spec": {"replicas": float(replicas), "template": {"spec": {"containers": [
                           {"name": "sidecar", "image": "proxy:1"},
                           {"name": "api", "image": image, "env": env}]}}},
                       "token": token}}


def test_fields_change_with_old_and_new_values_and_named_list_items() -> None:
    old = {"u1": deployment(3, "api:1", [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])}
    new = {"u1": deployment(5, "api:2", [{"name": "B", "value": "2"}, {"name": "C", "value": "3"}])}
    new["u1"]["inputs"]["metadata"]["annotations"]["a.b/c"] = "2"
    plan = diff_snapshots("s", old, new)
    (change,) = plan.changes
    assert change.action == "change" and change.label == "Deployment ns/api"
    lines = [line for field in change.fields for line in field.lines()]
    assert lines == [
        '~ metadata.annotations["a.b/c"]: "1" → "2"',
        "~ spec.replicas: 3 → 5",
        '~ spec.template.spec.containers[name=api].image: "api:1" → "api:2"',
        '- spec.template.spec.containers[name=api].env[name=A]: {"name": "A", "value": "1"}',
        '+ spec.template.spec.containers[name=api].env[name=C]: {"name": "C", "value": "3"}',
    ]
    assert plan.summary() == "0 to add, 0 to remove, 1 to change, 0 unchanged"


def test_secrets_are_masked_but_their_changes_shown() -> None:
    env = [{"name": "A", "value": "1"}]
    old = {"u1": deployment(3, "i", env, token=secret("old-password")),
           "u2": {**deployment(3, "i", env, token="plain-before"), "name": "other"}}
    new = {"u1": deployment(3, "i", env, token=secret("new-password")),
           "u2": {**deployment(3, "i", env, token=secret({"nested": "now-secret"})), "name": "other"}}
    text = format_text(diff_snapshots("s", old, new))
    assert "old-password" not in text and "new-password" not in text and "now-secret" not in text
    assert f"~ token: {MASK} → {MASK} (secret value changed)" in text
    assert f'~ token: "plain-before" → {MASK}' in text


def test_added_removed_unchanged_and_multiline_text() -> None:
    config: dict[str, Any] = {"type": "kubernetes:core/v1:ConfigMap", "name": "dash",
              "inputs": {"kind": "ConfigMap", "metadata": {"name": "dash"}, "data": {"d.json": "a\nb\nc\n"}}}
    changed = {**config, "inputs": {**config["inputs"], "data": {"d.json": "a\nB\nc\n"}}}
    release = {"type": "kubernetes:helm.sh/v3:Release", "name": "mesh-istiod",
               "inputs": {"chart": "istiod", "version": "1.30.5", "name": "istiod", "namespace": "istio-system"}}
    bucket = {"type": "aws:s3/bucket:Bucket", "name": "logs", "inputs": {"bucket": "logs"}}
    plan = diff_snapshots("s", {"c": config, "r": release, "same": bucket}, {"c": changed, "same": bucket,
                                                                            "b2": {**bucket, "name": "more"}})
    assert [(c.action, c.label) for c in plan.changes] == [
        ("change", "ConfigMap dash"), ("remove", "Helm release istio-system/istiod (istiod@1.30.5)"),
        ("add", "aws:s3/bucket:Bucket more")]
    assert plan.unchanged == 1
    text = format_text(plan)
    assert "## Kubernetes objects" in text and "## Helm releases" in text and "## Cloud and other resources" in text
    assert '~ data["d.json"]: (text, 3 lines) → (text, 3 lines)\n' in text
    assert "\n         a\n        -b\n        +B\n         c\n" in text
    markdown = format_markdown(plan)
    assert markdown.startswith("### Offline plan: `s`") and "````diff\n" in markdown


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = copy_program(tmp_path_factory.mktemp("repo"), "Pulumi.dev.yaml")
    commit_all(project)
    return project


def run_plan(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "offline.plan", *args], cwd=project, capture_output=True,
                          text=True, check=False, timeout=300)


def test_diff_against_a_commit_shows_stack_file_and_module_changes(repo: Path, tmp_path: Path) -> None:
    stack_file = yaml.safe_load((repo / "Pulumi.dev.yaml").read_text())
    stack_file["config"]["browser-platform:workloads"]["browser"]["sessionsPerPod"] = 6
    (repo / "Pulumi.dev.yaml").write_text(yaml.safe_dump(stack_file))
    # A module change too: the base is evaluated with its own modules, the working tree with the new ones.
    namespace_module = repo / "components" / "workloads" / "namespace.py"
    source = namespace_module.read_text()
    assert '"cpu": "100m", "memory": "128Mi"' in source
    namespace_module.write_text(source.replace('"cpu": "100m", "memory": "128Mi"', '"cpu": "150m", "memory": "128Mi"'))

    markdown = tmp_path / "diff.md"
    result = run_plan(repo, "dev", "--base", "HEAD", "--diff-out", str(markdown))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("plan diff of stack dev: HEAD (")
    assert "~ ConfigMap browser-platform/browser-config" in out
    assert '~ data.MAX_SESSIONS_PER_POD: "5" → "6"' in out
    assert '~ spec.triggers[name=sessions].metadata.threshold: "4" → "4.8"' in out
    assert "~ LimitRange browser-platform/" in out
    assert '~ spec.limits[0].defaultRequest.cpu: "100m" → "150m"' in out
    assert FAKE_SECRET_PREFIX not in out
    assert "0 to add, 0 to remove," in out
    assert markdown.read_text().startswith("### Offline plan: `dev`")

    missing = run_plan(repo, "dev", "--base", "no-such-ref")
    assert missing.returncode == 1 and "'no-such-ref' is not a commit" in missing.stderr


def test_pr_workflow_posts_the_plan_diff_without_secrets() -> None:
    from tests.test_workflows import load, steps, uses

    job = load("pr.yml")["jobs"]["plan-diff"]
    assert job["permissions"] == {"contents": "read"}
    text = yaml.safe_dump(job)
    assert "secrets." not in text and "vars." not in text
    (checkout,) = uses(job, "actions/checkout")
    assert checkout["with"] == {"fetch-depth": 0, "persist-credentials": False}
    (plan_step,) = [s for s in steps(job) if "make plan" in str(s.get("run", ""))]
    assert 'BASE="$BASE_SHA"' in plan_step["run"] and "GITHUB_STEP_SUMMARY" in plan_step["run"]
    # Pull request fields reach the shell as environment variables, never spliced into the script.
    assert "${{" not in plan_step["run"]
    assert plan_step["env"]["BASE_SHA"] == "${{ github.event.pull_request.base.sha }}"
    (upload,) = uses(job, "actions/upload-artifact")
    assert upload["with"]["name"] == "plan-diff" and upload["with"]["path"] == "out/plan-diff/"
    # A fork has no cloud credentials: the preview is for branches of this repository only.
    assert load("pr.yml")["jobs"]["preview"]["if"] == "github.event.pull_request.head.repo.full_name == github.repository"


def test_comment_workflow_reads_the_artifact_and_never_runs_pull_request_code() -> None:
    from tests.test_workflows import load, steps, uses

    document = load("plan-comment.yml")
    assert document["on"] == {"workflow_run": {"workflows": ["pr"], "types": ["completed"]}}
    assert document["permissions"] == {}
    (job,) = document["jobs"].values()
    assert job["permissions"] == {"actions": "read", "pull-requests": "write"}
    assert job["if"] == "github.event.workflow_run.event == 'pull_request'"
    assert not uses(job, "actions/checkout") and not any("run" in step for step in steps(job))
    (download,) = uses(job, "actions/download-artifact")
    assert download["with"]["name"] == "plan-diff"
    assert download["with"]["run-id"] == "${{ github.event.workflow_run.id }}"
    (script,) = uses(job, "actions/github-script")
    assert "pr.head.sha !== process.env.RUN_HEAD_SHA" in script["with"]["script"]
    assert "${{" not in script["with"]["script"]
    for step in steps(job):
        if "uses" in step:
            assert step["uses"].rsplit("@", 1)[1].startswith("v")


def test_immutable_fields_and_replace_on_changes_are_called_replacements() -> None:
    env = [{"name": "A", "value": "1"}]
    old = {"u1": deployment(3, "i", env)}
    new = {"u1": deployment(3, "i", env)}
    new["u1"]["inputs"]["metadata"]["name"] = "api2"
    cluster = {"type": "command:local:Command", "name": "kind-cluster",
               "inputs": {"create": "kind create cluster", "stdin": "nodes: 2"},
               "options": {"replaceOnChanges": ["create", "stdin"], "deleteBeforeReplace": True}}
    resized = {**cluster, "inputs": {**cluster["inputs"], "stdin": "nodes: 3"}}
    plan = diff_snapshots("s", {**old, "c": cluster}, {**new, "c": resized})
    text = format_text(plan)
    assert "+- Deployment ns/api2  [kubernetes:apps/v1:Deployment api-deployment]  (replaced: metadata.name cannot " \
           "change in place)" in text
    assert "+- command:local:Command kind-cluster  (replaced: " \
           "replaceOnChanges includes stdin)" in text
    assert plan.summary() == "0 to add, 0 to remove, 2 to change (2 by replacement), 0 unchanged"


def test_a_resource_under_a_new_urn_is_flagged_as_delete_and_create() -> None:
    bucket = {"type": "aws:s3/bucket:Bucket", "name": "logs", "inputs": {"bucket": "logs"}}
    plan = diff_snapshots("s", {"urn:a::logs": bucket}, {"urn:b::logs": bucket})
    assert [c.action for c in plan.changes] == ["remove", "add"]
    assert plan.changes[1].note == "new URN (was urn:a::logs): deleted and created again unless an alias maps it"
