"""Runtime rules for browser sessions (policy/browser_platform_policies/runtime_sessions.py) over the real analyzer
protocol, and the base + burst pair as the capacity and spot policies of stack.py see it.

The violating cases (runtime_sessions_cases.py) run with the others in test_protocol.py; the tests here add the
compliant side (the stacks as built) and what the base + burst pair changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from offline.harness import RecordedResource, StackEvaluation

from .cases import Case, edit, named, pod
from .pack import PackProcess, mutated
from .runtime_sessions_cases import SAFE_TO_EVICT, make_evictable, template_annotations
from .test_protocol import config_document, run_case


def mine(diagnostics: list[Any], policy: str) -> list[Any]:
    return [d for d in diagnostics if d.policy == policy]


@pytest.mark.parametrize("stack", ["prod", "prod-gcp"])
def test_browser_pods_keep_their_node_and_the_autoscaler_waits_their_grace(
        pack: PackProcess, evaluated: Callable[[str], StackEvaluation], stack: str) -> None:
    resources = evaluated(stack).resources
    browser = named(resources, "apps/v1:Deployment", "browser-deployment")
    assert template_annotations(browser)[SAFE_TO_EVICT] == "false"
    assert pod(browser)["terminationGracePeriodSeconds"] == 3630.0  # sessionTimeoutSeconds 3600 + drain buffer 30
    pack.configure(config_document(stack), force_all="mandatory")
    assert mine(pack.analyze_stack(mutated(resources)), "browser-scale-down-eviction") == []


def test_cluster_autoscaler_takes_the_browser_grace_period_from_the_config(
        evaluated: Callable[[str], StackEvaluation]) -> None:
    release = named(evaluated("prod").resources, "helm.sh/v3:Release", "cluster-autoscaler")
    assert release.inputs["values"]["extraArgs"]["max-graceful-termination-sec"] == 3630.0


def test_autoscaler_grace_is_also_read_from_custom_args(pack: PackProcess,
                                                        evaluated: Callable[[str], StackEvaluation]) -> None:
    def custom(release: RecordedResource) -> None:
        release.inputs["values"]["extraArgs"].pop("max-graceful-termination-sec")
        release.inputs["values"]["customArgs"] = ["--max-graceful-termination-sec=120"]

    case = Case("custom-args", "browser-scale-down-eviction", edit("helm.sh/v3:Release", "cluster-autoscaler", custom,
                                                                    analyze=False), "", stack="prod")
    found = mine(run_case(pack, evaluated("prod").resources, case), case.policy)
    assert any("kills any pod it evicts after 120s" in d.message for d in found), found


def test_kind_has_no_node_scale_down(pack: PackProcess, evaluated: Callable[[str], StackEvaluation]) -> None:
    case = Case("dev-evictable", "browser-scale-down-eviction",
                edit("apps/v1:Deployment", "browser-deployment", make_evictable, analyze=False), "")
    assert mine(run_case(pack, evaluated("dev").resources, case), case.policy) == []


def test_one_shape_node_groups_pass(pack: PackProcess, evaluated: Callable[[str], StackEvaluation]) -> None:
    resources = evaluated("prod").resources
    pack.configure(config_document("prod"), force_all="mandatory")
    for name in ("api", "browser-base", "browser"):
        group = named(resources, "aws:eks/nodeGroup:NodeGroup", name)
        assert len(group.inputs["instanceTypes"]) == 2, name  # several types, one shape each
        assert mine(pack.analyze(group, mutated(resources)), "node-group-one-shape") == []


@pytest.mark.parametrize("stack", ["prod", "prod-gcp"])
def test_capacity_counts_the_base_and_burst_pools_together(
        pack: PackProcess, evaluated: Callable[[str], StackEvaluation], stack: str) -> None:
    """60 browser pods: on EKS 6 on the 2 on-demand base nodes and 54 on the 18 spot burst nodes (GKE: 9 on 3, 51
    on 17). Neither pool holds them alone; together they do, and one node fewer in the burst does not."""
    resources = evaluated(stack).resources
    pack.configure(config_document(stack), force_all="mandatory")
    assert mine(pack.analyze_stack(mutated(resources)), "node-capacity") == []
    smaller = mutated(resources)
    if stack == "prod":
        named(smaller, "aws:eks/nodeGroup:NodeGroup", "browser").inputs["scalingConfig"]["maxSize"] = 17.0
        burst = "x54"
    else:
        named(smaller, "gcp:container/nodePool:NodePool", "browser").inputs["autoscaling"]["totalMaxNodeCount"] = 16.0
        burst = "x51"
    found = mine(pack.analyze_stack(smaller), "node-capacity")
    assert any("cannot hold its workloads at maximum scale" in d.message and burst in d.message for d in found), found


def test_spot_warning_names_the_on_demand_floor(pack: PackProcess, evaluated: Callable[[str], StackEvaluation]) -> None:
    pack.configure(config_document("prod"), force_all="mandatory")
    found = mine(pack.analyze_stack(mutated(evaluated("prod").resources)), "browser-spot-drain")
    assert found and all(d.level == "advisory" for d in found)
    assert any("on-demand pool(s) browser-base keep the floor of 5 pod(s)" in d.message for d in found), found
