"""The runtime-reach policies over the real analyzer protocol: every mutation of a real stack is reported at the
offending resource, the unmutated stacks are clean, and the pack's tables match the program's and the charts'."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from components.clusters import storage
from components.common import webhook_ports
from offline.harness import StackEvaluation

from .cases import Case, named, stack
from .pack import POLICY_DIR, PackProcess, mutated
from .runtime_reach_cases import RELEASE, RUNTIME_REACH_CASES, STORAGE_CLASS, prometheus_storage

CHARTS = Path(__file__).resolve().parents[3] / "shared" / "charts"
POLICIES = ("storage-class-exists", "gke-control-plane-reach", "gke-nat-ports-per-vm")


def _run(pack: PackProcess, evaluated: Callable[[str], StackEvaluation], case: Case) -> list:  # type: ignore[type-arg]
    pack.configure({**json.loads((POLICY_DIR / "config" / f"{case.stack}.json").read_text()), **case.config},
                   force_all="mandatory")
    resources = mutated(evaluated(case.stack).resources)
    assert case.mutate(resources) is None  # stack policies only
    return [d for d in pack.analyze_stack(resources) if d.policy == case.policy]


@pytest.mark.parametrize("case", RUNTIME_REACH_CASES, ids=[c.id for c in RUNTIME_REACH_CASES])
def test_mutation_is_reported_at_mandatory(pack: PackProcess, evaluated: Callable[[str], StackEvaluation],
                                           case: Case) -> None:
    diagnostics = _run(pack, evaluated, case)
    matching = [d for d in diagnostics if case.expect in d.message]
    assert matching, "\n".join(d.message for d in diagnostics) or "no diagnostic"
    assert all(d.level == "mandatory" and "Fix:" in d.message and d.urn for d in matching)


@pytest.mark.parametrize("stack_name", ["dev", "prod", "prod-gcp"])
def test_real_stacks_are_clean(pack: PackProcess, evaluated: Callable[[str], StackEvaluation], stack_name: str) -> None:
    pack.configure(json.loads((POLICY_DIR / "config" / f"{stack_name}.json").read_text()), force_all="mandatory")
    assert not [d for d in pack.analyze_stack(evaluated(stack_name).resources) if d.policy in POLICIES]


def test_eks_request_without_class_resolves_to_the_default_gp3(pack: PackProcess,
                                                               evaluated: Callable[[str], StackEvaluation]) -> None:
    """Dropping the name on EKS is fine while the stack's gp3 class is the default (and the release waits for it)."""
    case = Case("no-name", "storage-class-exists", stack(lambda rs: prometheus_storage(rs).pop("storageClassName")), "",
                stack="prod")
    assert not _run(pack, evaluated, case)


def test_violation_points_at_the_release(pack: PackProcess, evaluated: Callable[[str], StackEvaluation]) -> None:
    case = next(c for c in RUNTIME_REACH_CASES if c.id == "prod-gcp-storage-eks-class")
    release = named(evaluated("prod-gcp").resources, RELEASE, "monitoring-release")
    assert {d.urn for d in _run(pack, evaluated, case)} == {release.urn}


def test_pack_tables_match_the_program() -> None:
    from browser_platform_policies import runtime_reach

    assert runtime_reach.BUILT_IN_STORAGE_CLASSES == storage.BUILT_IN_STORAGE_CLASSES
    assert runtime_reach.EBS_CSI_PROVISIONER == storage.EBS_CSI_PROVISIONER
    chart_of = {"mesh": "istiod", "keda": "keda", "tls": "cert-manager", "monitoring": "kube-prometheus-stack",
                "metrics-server": "metrics-server"}
    program = {(chart_of[c.service], c.chart_value, c.port) for cs in webhook_ports.CALLEES.values() for c in cs}
    pack_side = {(chart, path, port) for chart, callees in runtime_reach.CONTROL_PLANE_CALLEES.items()
                 for _, path, port in callees}
    assert program == pack_side


CHART_DIRS = {"keda": "keda-main-1444d00", "cert-manager": "cert-manager-v1.21.1",
              "kube-prometheus-stack": "kube-prometheus-stack-85.1.3", "metrics-server": "metrics-server-3.13.1"}


@pytest.mark.parametrize("chart", sorted(CHART_DIRS))
def test_webhook_ports_are_the_charts_keys_and_defaults(chart: str) -> None:
    """Each port's chart value exists in the pinned chart (Helm ignores unknown keys silently) and its default
    is the port the pack assumes when a release leaves it unset (KEDA's webhook port defaults to "" = 9443)."""
    from browser_platform_policies import runtime_reach

    values = yaml.safe_load((CHARTS / CHART_DIRS[chart] / "values.yaml").read_text())
    for _, path, port in runtime_reach.CONTROL_PLANE_CALLEES[chart]:
        assert path is not None
        node = values
        for key in path.split("."):
            assert isinstance(node, dict) and key in node, f"{chart}: no value {path}"
            node = node[key]
        assert node in (port, ""), f"{chart} {path}: chart default {node!r}, pack assumes {port}"


def test_storage_class_on_eks_is_what_the_task_needs(evaluated: Callable[[str], StackEvaluation]) -> None:
    resources = evaluated("prod").resources
    gp3 = named(resources, STORAGE_CLASS, "gp3-storage-class").inputs
    assert gp3["provisioner"] == "ebs.csi.aws.com"
    assert gp3["parameters"]["encrypted"] == "true" and gp3["parameters"]["type"] == "gp3"
    assert gp3["volumeBindingMode"] == "WaitForFirstConsumer" and gp3["allowVolumeExpansion"] is True
    assert gp3["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
