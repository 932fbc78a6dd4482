"""Browser sessions against node scale-down and spot reclaims, and one instance shape per node group.

What happens after apply: cluster-autoscaler (and GKE's) evicts with a limit of its own (600 s / 10 min) while a
browser pod drains for about an hour; spot nodes go with 2 min (AWS) / 30 s (GCP) notice; cluster-autoscaler plans
a group's scale-up with one instance type's shape. Each is encoded here as a config rule or as what the engine
receives; the policy side is tests/policy/test_runtime_sessions.py.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from offline.harness import StackEvaluation, evaluate_stack, stack_file_config
from scripts.capacity_report import load_config
from stack_config import ConfigError, validate_stack_config

from .test_capacity import _problems, _validate

KEY = "browser-platform"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
RELEASE = "kubernetes:helm.sh/v3:Release"
SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"
LOCAL_VOLUMES = "cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes"


def _taint() -> list[dict[str, str]]:
    return [{"key": "workload", "value": "browser"}]


def _config(*browser_pools: dict[str, Any], sessions: tuple[int, int] = (30, 200)) -> dict[str, Any]:
    return {
        "cluster": {
            "kind": "eks", "name": "sessions-test", "region": "us-east-1", "publicAccessCidrs": ["203.0.113.0/24"],
            "adminPrincipalArn": "arn:aws:iam::123456789012:role/platform-admin",
            "nodePools": [
                {"name": "api", "labels": {"workload": "api"}, "instanceTypes": ["m6i.xlarge"], "minNodes": 2,
                 "maxNodes": 4},
                *browser_pools,
            ],
        },
        "workloads": {"browser": {"minSessions": sessions[0], "maxSessions": sessions[1]}},
    }


def _pool(name: str, capacity_type: str, types: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "labels": {"workload": "browser"}, "taints": _taint(), "capacityType": capacity_type,
            "instanceTypes": types or ["c6i.2xlarge"], **extra}


def _prod_config(change: Callable[[dict[str, Any]], None]) -> list[str]:
    values, secrets = stack_file_config("prod")
    data = {key.split(":", 1)[1]: json.loads(v) if v[:1] in "{[" else v
            for key, v in values.items() if key.startswith(f"{KEY}:")}
    data = copy.deepcopy(data)
    change(data)
    encoded = {key: v if isinstance(v, str) else json.dumps(v) for key, v in data.items()}
    with pytest.raises(ConfigError) as raised:
        validate_stack_config(encoded, {key.split(":", 1)[1] for key in secrets})
    return raised.value.problems


# --- finding 6: one instance shape per node group ------------------------------------------------------------


def test_mixed_instance_shapes_are_rejected_naming_the_types() -> None:
    (problem,) = _problems(_config(_pool("browser", "spot", ["c7i.2xlarge", "c6i.2xlarge", "m7i.2xlarge"])))
    assert problem.startswith(f"{KEY}:cluster.nodePools[1].instanceTypes[2]: pool 'browser' mixes instance shapes: "
                              "c7i.2xlarge (8 vCPU / 16 GiB), c6i.2xlarge (8 vCPU / 16 GiB), m7i.2xlarge (8 vCPU / "
                              "32 GiB)"), problem
    assert "m7i.2xlarge must match c7i.2xlarge in vCPU and memory" in problem


def test_several_types_of_one_shape_are_accepted() -> None:
    config = _validate(_config(_pool("browser", "spot", ["c7i.2xlarge", "c6i.2xlarge"])))
    assert config.cluster.node_pools[1].instance_types == ["c7i.2xlarge", "c6i.2xlarge"]


def test_a_type_the_capacity_table_does_not_know_cannot_share_a_group() -> None:
    (problem,) = _problems(_config(_pool("browser", "spot", ["c6i.2xlarge", "c6a.2xlarge"])))
    assert problem.startswith(f"{KEY}:cluster.nodePools[1].instanceTypes[1]: pool 'browser': cannot confirm that "
                              "c6a.2xlarge has the shape"), problem


def test_the_former_prod_browser_group_is_rejected() -> None:
    def mixed(data: dict[str, Any]) -> None:
        data["cluster"]["nodePools"][2]["instanceTypes"] = ["c7i.2xlarge", "c6i.2xlarge", "m7i.2xlarge", "m6i.2xlarge"]

    (problem,) = _prod_config(mixed)
    assert problem.startswith(f"{KEY}:cluster.nodePools[2].instanceTypes[2]: pool 'browser' mixes instance shapes")
    assert "m7i.2xlarge, m6i.2xlarge must match c7i.2xlarge" in problem


# --- finding 5: an on-demand base that holds minSessions, a spot burst for the rest ----------------------------


def test_a_gke_base_is_a_multiple_of_its_zones() -> None:
    config = _config(_pool("browser-base", "onDemand", ["n2-standard-8"]),
                     _pool("browser", "spot", ["n2-standard-8"]))
    config["cluster"] = {"kind": "gke", "name": "sessions-test", "project": "sessions-test-1", "region": "europe-west1",
                         "authorizedNetworks": [], "nodePools": [
                             {**config["cluster"]["nodePools"][0], "instanceTypes": ["n2-standard-4"]},
                             *config["cluster"]["nodePools"][1:]]}
    base, burst = _validate(config).cluster.node_pools[1:]
    # 3 pods fit 1 n2-standard-8; a regional pool starts with one node per zone, so the fixed floor is 3 (9 pods)
    # and the burst carries the other 11 of 20 pods on 0-4 nodes.
    assert (base.min_nodes, base.max_nodes) == (3, 3)
    assert (burst.min_nodes, burst.max_nodes) == (0, 4)
    config["cluster"]["zones"] = ["europe-west1-b", "europe-west1-c"]
    base, burst = _validate(config).cluster.node_pools[1:]
    assert (base.min_nodes, base.max_nodes, burst.max_nodes) == (2, 2, 5)


def test_base_and_burst_bounds_follow_min_and_max_sessions() -> None:
    config = _validate(_config(_pool("browser-base", "onDemand"), _pool("browser", "spot")))
    base, burst = config.cluster.node_pools[1:]
    # 3 browser pods (minSessions 30) at 3 per c6i.2xlarge: a fixed on-demand floor of 1 node holding 3 pods;
    # the other 17 of 20 pods (maxSessions 200) need 6 spot nodes; the burst may go to zero.
    assert (base.min_nodes, base.max_nodes) == (1, 1)
    assert (burst.min_nodes, burst.max_nodes) == (0, 6)


def test_a_larger_base_leaves_less_to_the_burst() -> None:
    config = _validate(_config(_pool("browser-base", "onDemand", minNodes=1, maxNodes=3), _pool("browser", "spot")))
    base, burst = config.cluster.node_pools[1:]
    # 3 base nodes hold 9 pods; the burst carries 11 -> 4 nodes.
    assert (base.min_nodes, base.max_nodes) == (1, 3)
    assert (burst.min_nodes, burst.max_nodes) == (0, 4)


def test_a_burst_too_small_for_the_rest_is_rejected() -> None:
    (problem,) = _problems(_config(_pool("browser-base", "onDemand"), _pool("browser", "spot", maxNodes=5)))
    assert problem.startswith(f"{KEY}:cluster.nodePools[2].maxNodes: pool 'browser' cannot hold workloads.browser up "
                              "to 17 pods (170 sessions), the part of its 20 that base pool 'browser-base' does not "
                              "hold: that needs 6 c6i.2xlarge nodes, maxNodes is 5"), problem


def test_a_session_sized_workload_spreads_only_as_base_and_burst() -> None:
    (problem,) = _problems(_config(_pool("browser-a", "onDemand"), _pool("browser-b", "onDemand")))
    assert problem.startswith(f"{KEY}:workloads.browser.nodeSelector: {{'workload': 'browser'}} matches the pools "
                              "browser-a (onDemand), browser-b (onDemand)"), problem


def test_prod_stacks_run_browsers_on_an_on_demand_base_and_a_spot_burst() -> None:
    # 5 of 60 pods at 3 per node: EKS 2 base nodes (6 pods) + 0-18 spot; GKE rounds the base to its 3 zones
    # (9 pods) + 0-17 spot.
    for stack, bounds in (("prod", (2, 2, 0, 18)), ("prod-gcp", (3, 3, 0, 17))):
        pools = {pool.name: pool for pool in load_config(stack).cluster.node_pools}
        base, burst = pools["browser-base"], pools["browser"]
        assert (base.capacity_type, burst.capacity_type) == ("onDemand", "spot")
        assert base.labels == burst.labels == {"workload": "browser"}
        assert (base.min_nodes, base.max_nodes, burst.min_nodes, burst.max_nodes) == bounds, stack


# --- finding 5: what the engine receives -----------------------------------------------------------------------


def _browser_template(evaluation: StackEvaluation) -> dict[str, Any]:
    template: dict[str, Any] = evaluation.named(DEPLOYMENT, "browser-deployment").inputs["spec"]["template"]
    return template


@pytest.mark.parametrize(("stack", "preference"), [
    ("prod", {"key": "eks.amazonaws.com/capacityType", "operator": "In", "values": ["ON_DEMAND"]}),
    ("prod-gcp", {"key": "cloud.google.com/gke-spot", "operator": "DoesNotExist"}),
])
def test_browser_pods_keep_their_node_and_prefer_the_on_demand_base(
        evaluated: Callable[[str], StackEvaluation], stack: str, preference: dict[str, Any]) -> None:
    template = _browser_template(evaluated(stack))
    annotations = template["metadata"]["annotations"]
    # safe-to-evict "false" blocks node scale-down outright; the local-volumes list stays for other drains.
    assert annotations[SAFE_TO_EVICT] == "false" and annotations[LOCAL_VOLUMES] == "tmp,shm"
    terms = template["spec"]["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert terms == [{"weight": 100, "preference": {"matchExpressions": [preference]}}]
    api = evaluated(stack).named(DEPLOYMENT, "api-deployment").inputs["spec"]["template"]
    assert SAFE_TO_EVICT not in api["metadata"]["annotations"] and "affinity" not in api["spec"]


def test_kind_browser_pods_have_no_capacity_preference(evaluated: Callable[[str], StackEvaluation]) -> None:
    template = _browser_template(evaluated("dev"))
    assert template["metadata"]["annotations"][SAFE_TO_EVICT] == "false"
    assert "affinity" not in template["spec"]


def test_cluster_autoscaler_waits_the_browser_grace_period(evaluated: Callable[[str], StackEvaluation]) -> None:
    release = evaluated("prod").named(RELEASE, "cluster-autoscaler")
    grace = load_config("prod").longest_grace_seconds
    assert grace == 3630  # sessionTimeoutSeconds 3600 + drainBufferSeconds 30
    assert release.inputs["values"]["extraArgs"]["max-graceful-termination-sec"] == grace
    assert _browser_template(evaluated("prod"))["spec"]["terminationGracePeriodSeconds"] == grace


def test_cluster_autoscaler_grace_follows_the_session_timeout() -> None:
    values, _ = stack_file_config("prod")
    workloads = json.loads(values[f"{KEY}:workloads"])
    workloads["browser"]["sessionTimeoutSeconds"] = 7200
    evaluation = evaluate_stack("prod", overrides={"workloads": workloads})
    release = evaluation.named(RELEASE, "cluster-autoscaler")
    assert release.inputs["values"]["extraArgs"]["max-graceful-termination-sec"] == 7230
    assert _browser_template(evaluation)["spec"]["terminationGracePeriodSeconds"] == 7230


def test_capacity_report_shows_each_pools_share() -> None:
    from scripts.capacity_report import render

    text, ok = render("prod-gcp", load_config("prod-gcp"))
    assert ok
    base = text[text.index("## pool browser-base:"):text.index("## pool browser:")]
    burst = text[text.index("## pool browser:"):text.index("## cluster:")]
    assert "pair         on-demand base of browser with pool browser:" in base
    assert "replicas 5-9, sessions 50-90" in base and "on-demand $795-$795" in base
    assert "pair         spot burst of browser with pool browser-base:" in burst
    assert "replicas 0-51, sessions 0-510" in burst and "0-17 nodes at min-max scale" in burst
