"""The GitHub workflows cannot run here, so they are checked: they parse, guard every stack with the policy
pack, reach the clouds through OIDC only, and never deploy without an approval."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
CLOUD_STACKS = ("prod", "prod-gcp")
LONG_LIVED = ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "GOOGLE_CREDENTIALS", "GCP_SA_KEY", "credentials_json",
              "PULUMI_ACCESS_TOKEN", "aws-secret-access-key", "aws-access-key-id")


def load(name: str) -> dict[str, Any]:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(document, dict)
    # YAML 1.1 reads the key `on` as True.
    document["on"] = document.pop(True, document.get("on"))
    return document


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [step for step in steps(job) if str(step.get("uses", "")).startswith(action + "@")]


@pytest.mark.parametrize("name", ["pr.yml", "deploy.yml"])
def test_workflow_parses_and_pins_actions(name: str) -> None:
    document = load(name)
    assert document["jobs"]
    for job in document["jobs"].values():
        for step in steps(job):
            if "uses" in step:
                assert re.match(r"^[\w.-]+/[\w./-]+@(v\d+|[0-9a-f]{40})$", step["uses"]), step["uses"]


@pytest.mark.parametrize("name", ["pr.yml", "deploy.yml"])
def test_no_long_lived_credentials(name: str) -> None:
    text = (WORKFLOWS / name).read_text()
    for secret in LONG_LIVED:
        assert secret not in text, f"{name} mentions {secret}: use OIDC"
    assert set(re.findall(r"secrets\.(\w+)", text)) <= {"GITHUB_TOKEN"}


def _cloud_login(job: dict[str, Any]) -> None:
    aws = uses(job, "aws-actions/configure-aws-credentials")
    gcp = uses(job, "google-github-actions/auth")
    assert aws and "role-to-assume" in aws[0]["with"]
    assert gcp and "workload_identity_provider" in gcp[0]["with"]
    assert uses(job, "pulumi/auth-actions")


def test_pr_previews_every_cloud_stack_with_the_policy_pack() -> None:
    document = load("pr.yml")
    assert "pull_request" in document["on"]
    preview = document["jobs"]["preview"]
    assert preview["permissions"] == {"id-token": "write", "contents": "read", "pull-requests": "write"}
    assert sorted(item["stack"] for item in preview["strategy"]["matrix"]["include"]) == sorted(CLOUD_STACKS)
    _cloud_login(preview)
    (pulumi,) = uses(preview, "pulumi/actions")
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["policyPacks"] == "policy"
    assert pulumi["with"]["policyPackConfigs"] == "policy/config/${{ matrix.stack }}.json"
    assert pulumi["with"]["comment-on-pr"] is True
    assert set(preview["needs"]) == {"test", "policy-tests"}


def test_pr_runs_tests_plans_and_scans_every_stack() -> None:
    jobs = load("pr.yml")["jobs"]
    test_steps = " ".join(str(step.get("run", "")) for step in steps(jobs["test"]))
    assert "make test" in test_steps and "make lint" in test_steps and "make plan" in test_steps
    assert "pytest tests/policy" in " ".join(str(step.get("run", "")) for step in steps(jobs["policy-tests"]))
    scan = jobs["scan"]
    stacks = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml"))
    assert set(stacks) <= set(scan["strategy"]["matrix"]["stack"])
    runs = " ".join(str(step.get("run", "")) for step in steps(scan))
    assert "checkov -d out/${{ matrix.stack }}/manifests --framework kubernetes --skip-download" in runs
    assert "--output sarif" in runs
    assert "kubernetes-validate --strict -k 1.35.0 out/${{ matrix.stack }}/manifests/*.yaml" in runs
    assert uses(scan, "github/codeql-action/upload-sarif")
    assert scan["permissions"]["security-events"] == "write"


def _checkov_outputs(command: str) -> dict[str, str]:
    """Where checkov writes each output: with several `--output`s, `--output-file-path` is a comma list with
    one entry per output, in order (`console` prints); with one path, it is a directory holding
    `results_<format>.<ext>` files."""
    words = command.split()
    outputs = [words[i + 1] for i, word in enumerate(words) if word in ("--output", "-o")]
    path = words[words.index("--output-file-path") + 1]
    if "," in path:
        targets = path.split(",")
        assert len(targets) == len(outputs), f"{len(outputs)} outputs but {len(targets)} paths in {path}"
        return dict(zip(outputs, targets, strict=True))
    extension = {"sarif": "sarif", "cli": "txt", "json": "json"}
    return {output: f"{path}/results_{output}.{extension.get(output, output)}" for output in outputs}


def test_scan_uploads_the_sarif_file_checkov_writes() -> None:
    scan = load("pr.yml")["jobs"]["scan"]
    (checkov,) = [str(step["run"]) for step in steps(scan) if str(step.get("run", "")).startswith("checkov ")]
    written = _checkov_outputs(checkov)
    assert "sarif" in written and written["sarif"] != "console"
    (upload,) = uses(scan, "github/codeql-action/upload-sarif")
    assert upload["with"]["sarif_file"] == written["sarif"]
    assert upload.get("if") == "always()", "upload the findings even when checkov fails the job"


@pytest.mark.parametrize(("name", "job"), [("pr.yml", "preview"), ("deploy.yml", "up")])
def test_policy_pack_runs_with_its_dependencies(name: str, job: str) -> None:
    # The CLI starts the Python policy pack in the virtualenv policy/PulumiPolicy.yaml names (relative to
    # policy/); that interpreter must import pulumi_policy (and the repo's capacity package, via sys.path).
    policy_runtime = yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())["runtime"]
    pack_venv = (ROOT / "policy" / policy_runtime["options"]["virtualenv"]).resolve()
    assert pack_venv == ROOT / "venv", "the pack shares the program's virtualenv"
    assert "-r policy/requirements.txt" in (ROOT / "requirements.txt").read_text().splitlines()
    runs = "\n".join(str(step.get("run", "")) for step in steps(load(name)["jobs"][job]))
    assert "python -m venv venv" in runs and "venv/bin/pip install -r requirements.txt" in runs


def test_deploy_is_approved_serialized_and_mandatory() -> None:
    document = load("deploy.yml")
    assert document["on"]["push"]["branches"] == ["main"]
    up = document["jobs"]["up"]
    assert up["permissions"]["id-token"] == "write"
    assert up["concurrency"] == {"group": "pulumi-${{ matrix.stack }}", "cancel-in-progress": False}
    include = up["strategy"]["matrix"]["include"]
    assert sorted(item["stack"] for item in include) == sorted(CLOUD_STACKS)
    assert all(item["environment"] == "production" for item in include)
    assert up["environment"] == "${{ matrix.environment }}"
    _cloud_login(up)
    (pulumi,) = uses(up, "pulumi/actions")
    assert pulumi["with"]["command"] == "up"
    assert pulumi["with"]["policyPacks"] == "policy"
    mandatory = " ".join(str(step.get("run", "")) for step in steps(up))
    assert '.all = "mandatory"' in mandatory and "policy/config/${{ matrix.stack }}.json" in mandatory


def test_policy_configs_exist_for_the_cloud_stacks() -> None:
    # The workflows pass policy/config/<stack>.json; a missing file fails the preview in GitHub, not here.
    missing = [stack for stack in CLOUD_STACKS if (ROOT / f"Pulumi.{stack}.yaml").exists()
               and not (ROOT / "policy" / "config" / f"{stack}.json").exists()]
    assert not missing, f"stacks without a policy config: {missing}"
