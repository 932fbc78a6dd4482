"""The capacity model against hand-computed cases, the seeds' scaling tiers, and sizing the browser pool by sessions."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest

from capacity import (
    GI,
    MI,
    PodGroup,
    Resources,
    UnknownInstanceTypeError,
    default_overheads,
    fits,
    instance_type,
    node_allocatable,
    nodes_needed,
    pods_per_node,
    pool_capacity,
    system_reserve,
)
from capacity import tiers as tier_table
from offline.harness import stack_file_config
from stack_config import ConfigError, validate_stack_config
from stack_config.workloads import BrowserWorkload

KEY = "browser-platform"
BROWSER = Resources.of("2", "4Gi")
API = Resources.of("500m", "512Mi")


# --- reserves -------------------------------------------------------------------------------------------------


def test_eks_reserve_c6i_2xlarge() -> None:
    reserve = system_reserve("c6i.2xlarge")
    # 8 cores: 6% of 1000m + 1% of 1000m + 0.5% of 2000m + 0.25% of 4000m = 60 + 10 + 10 + 10
    assert reserve.cpu_m == 90
    # 58 pods (4 ENIs x (15 - 1) + 2): 255Mi + 11Mi x 58 = 893Mi; eviction 100Mi
    assert reserve.memory_bytes == 893 * MI
    assert reserve.eviction_memory_bytes == 100 * MI


def test_eks_reserve_m6i_4xlarge() -> None:
    reserve = system_reserve("m6i.4xlarge", "eks")
    assert reserve.cpu_m == 60 + 10 + 10 + 30  # 12 cores above four at 2.5m
    assert reserve.memory_bytes == (255 + 11 * 234) * MI  # 2829Mi


def test_gke_reserve_tiers() -> None:
    # n2-standard-4, 16 GiB: 25% of 4096 + 20% of 4096 + 10% of 8192 = 1024 + 819.2 + 819.2 = 2662.4Mi
    small = system_reserve("n2-standard-4")
    assert small.memory_bytes == math.ceil(2662.4 * MI)
    assert small.cpu_m == 60 + 10 + 10  # four cores
    # e2-standard-8, 32 GiB: ... + 6% of the next 16384Mi = 2662.4 + 983.04 = 3645.44Mi
    assert system_reserve("e2-standard-8").memory_bytes == math.ceil(3645.44 * MI)
    # n2-standard-16, 64 GiB: 2662.4 + 6% of 49152Mi (2949.12) = 5611.52Mi
    assert system_reserve("n2-standard-16").memory_bytes == math.ceil(5611.52 * MI)
    assert system_reserve("n2-standard-16").eviction_memory_bytes == 100 * MI


def test_kind_reserve_is_the_documented_assumption() -> None:
    node = node_allocatable("kind", overheads=default_overheads("kind", mesh=False, monitoring=False))
    assert node.allocatable == Resources(4000 - 200, 8 * GI - 500 * MI)
    assert node.available == Resources(3800 - 100, 8 * GI - 500 * MI - 50 * MI)  # kindnet 100m / 50Mi


# --- one node -------------------------------------------------------------------------------------------------


def test_node_allocatable_eks_with_mesh_and_monitoring() -> None:
    node = node_allocatable("c6i.2xlarge", "eks", default_overheads("eks", mesh=True, monitoring=True))
    assert node.allocatable == Resources(8000 - 90, (16384 - 893 - 100) * MI)  # 7910m, 15391Mi
    # aws-node 25 + kube-proxy 100 + ebs-csi-node 30/120Mi + istio-cni 100/100Mi + node-exporter 50/64Mi
    assert node.daemonsets == Resources(305, 284 * MI)
    assert node.available == Resources(7605, (15391 - 284) * MI)  # 15107Mi
    assert node.pod_slots == 58 - 6


def test_pods_per_node_with_sidecar() -> None:
    overheads = default_overheads("eks", mesh=True)
    node = node_allocatable("c6i.2xlarge", "eks", overheads)
    # browser 2000m + 100m = 2100m: 7605 // 2100 = 3; 4096Mi + 128Mi = 4224Mi: 15107 // 4224 = 3
    assert pods_per_node(BROWSER + overheads.per_pod, node) == 3
    # api 600m: 7605 // 600 = 12; 640Mi: 15107 // 640 = 23 -> 12
    assert pods_per_node(API + overheads.per_pod, node) == 12
    # memory-bound on a compute node without the mesh: m6i.xlarge (4 vCPU, 16 GiB) fits one 2 CPU pod by CPU
    small = node_allocatable("m6i.xlarge", "eks", default_overheads("eks", mesh=False))
    # 4000 - 80 reserve - 205 daemonsets = 3715m -> 1 pod of 2000m
    assert small.available.cpu_m == 3715
    assert pods_per_node(BROWSER, small) == 1


def test_pod_slots_bind_for_tiny_pods() -> None:
    node = node_allocatable("c6i.2xlarge", "eks", default_overheads("eks", mesh=False, monitoring=False))
    assert pods_per_node(Resources.of("10m", "16Mi"), node) == 58 - 4  # four EKS daemonsets


def test_unknown_instance_type_names_the_known_ones() -> None:
    with pytest.raises(UnknownInstanceTypeError) as raised:
        instance_type("t2.nano")
    assert "c6i.2xlarge" in str(raised.value)
    with pytest.raises(ValueError, match="belongs to eks"):
        node_allocatable("c6i.2xlarge", "gke")


# --- pools and fits ---------------------------------------------------------------------------------------------


def test_nodes_needed_single_shape_is_ceil() -> None:
    node = node_allocatable("c6i.2xlarge", "eks", default_overheads("eks", mesh=True))
    shape = BROWSER + Resources.of("100m", "128Mi")
    assert nodes_needed([(shape, 20)], node) == math.ceil(20 / 3) == 7
    assert nodes_needed([(shape, 0)], node) == 0
    assert nodes_needed([(Resources.of("9", "1Gi"), 1)], node) is None


def test_nodes_needed_mixed_shapes() -> None:
    node = node_allocatable("c6i.2xlarge", "eks", default_overheads("eks", mesh=False))
    # available 7705m: 3 browser pods (6000m) leave 1705m = 3 api pods of 500m; so 3 browser + 3 api on one node,
    # and a fourth browser pod opens a second node that takes the remaining 2 api pods.
    assert nodes_needed([(BROWSER, 3), (API, 3)], node) == 1
    assert nodes_needed([(BROWSER, 4), (API, 5)], node) == 2


def test_pool_capacity_report() -> None:
    report = pool_capacity("c6i.2xlarge", [PodGroup("browser", BROWSER, 5, 20, 10)], min_nodes=2, max_nodes=10,
                           provider="eks", capacity_type="spot", overheads=default_overheads("eks", mesh=True),
                           pool="browser")
    assert report.fits
    assert (report.nodes_needed_min, report.nodes_needed_max) == (2, 7)  # ceil(5/3), ceil(20/3)
    assert (report.sessions_at_min, report.sessions_at_max) == (50, 200)
    assert report.workloads[0].binding_resource == "cpu"  # 7605 // 2100 = 3 = 15107 // 4224; cpu wins ties
    # at max: 20 x 4224Mi / (7 x 15107Mi) = 0.799 memory vs 20 x 2100 / (7 x 7605) = 0.789 cpu
    assert report.binding_resource == "memory"
    assert report.utilization == pytest.approx(20 * 4224 / (7 * 15107))
    assert report.monthly(10) == pytest.approx(10 * 730 * 0.136)
    assert report.monthly(10, "onDemand") == pytest.approx(10 * 730 * 0.34)
    too_small = pool_capacity("c6i.2xlarge", [PodGroup("browser", BROWSER, 5, 20, 10)], min_nodes=1, max_nodes=6,
                              overheads=default_overheads("eks", mesh=True))
    assert not too_small.fits
    assert "7 c6i.2xlarge nodes are needed" in too_small.problems[0]


def test_fits() -> None:
    mesh = default_overheads("eks", mesh=True)
    assert fits("c6i.2xlarge", [(BROWSER, 21)], 7, overheads=mesh)
    result = fits("c6i.2xlarge", [(BROWSER, 22)], 7, overheads=mesh)
    assert not result
    assert result.nodes_needed == 8
    assert "needs 8 c6i.2xlarge nodes but at most 7" in result.message
    assert "3 x 2100m CPU / 4224Mi" in result.message
    never = fits("c6i.xlarge", [(Resources.of("2", "8Gi"), 1)], 100, overheads=mesh)
    assert not never and never.nodes_needed is None and "does not fit" in never.message


# --- the seeds' tiers -------------------------------------------------------------------------------------------


def test_seed_tiers_on_the_seed_node_type() -> None:
    rows = {row.tier.name: row for row in (tier_table.compute_tier(t, "c5.2xlarge", "eks") for t in tier_table.SEED_TIERS)}
    # 10 sessions per pod; 3 browser pods per c5.2xlarge (same shape as c6i.2xlarge above)
    assert [rows[n].browser_pods for n in ("Dev", "Small", "Medium", "Large", "XL")] == [1, 5, 10, 20, 40]
    assert [rows[n].browser_nodes for n in ("Dev", "Small", "Medium", "Large", "XL")] == [1, 2, 4, 7, 14]
    # API (+ the 1Gi / 500m monitoring stack) fits one node; two from two API pods up, for availability
    assert [rows[n].api_nodes for n in ("Dev", "Small", "Medium", "Large", "XL")] == [1, 2, 2, 2, 2]
    # Medium: 6 nodes x $0.34 x 730 h + $73 control plane = $1,562.20
    assert rows["Medium"].on_demand_monthly == pytest.approx(6 * 0.34 * 730 + 73)
    # XL spot browsers: 14 x $0.13 x 730 + 2 x $0.34 x 730 + $73
    assert rows["XL"].spot_browsers_monthly == pytest.approx(14 * 0.13 * 730 + 2 * 0.34 * 730 + 73)


def test_capacity_doc_table_is_current() -> None:
    assert tier_table.DOC.exists(), "docs/capacity.md is missing"
    assert tier_table.doc_block(tier_table.DOC.read_text()) == tier_table.render(), (
        "docs/capacity.md is stale: run `python -m capacity.tiers --write`")


# --- sizing the browser pool by sessions -------------------------------------------------------------------------


def test_bounds_from_sessions() -> None:
    browser = BrowserWorkload.model_validate({"maxSessions": 95, "minSessions": 20})
    assert browser.autoscaling is not None
    assert (browser.autoscaling.min_replicas, browser.autoscaling.max_replicas) == (2, 10)  # ceil(20/10), ceil(95/10)
    assert browser.session_capacity == (20, 100)
    only_max = BrowserWorkload.model_validate({"maxSessions": 31, "sessionsPerPod": 5, "autoscaling": {"cpuUtilization": 60}})
    assert only_max.autoscaling is not None
    assert (only_max.min_replicas, only_max.max_replicas) == (1, 7)  # one pod when minSessions is unset; ceil(31/5)
    assert only_max.autoscaling.cpu_utilization == 60
    raw = BrowserWorkload.model_validate({"autoscaling": {"minReplicas": 2, "maxReplicas": 4}})
    assert (raw.min_replicas, raw.max_replicas, raw.sized_by_sessions) == (2, 4, False)


def _eks_config() -> dict[str, Any]:
    return {
        "cluster": {
            "kind": "eks", "name": "capacity-test", "region": "us-east-1", "publicAccessCidrs": ["203.0.113.0/24"],
            "adminPrincipalArn": "arn:aws:iam::123456789012:role/platform-admin",
            "nodePools": [
                {"name": "api", "labels": {"workload": "api"}, "instanceTypes": ["m6i.xlarge"], "minNodes": 2,
                 "maxNodes": 4},
                {"name": "browser", "labels": {"workload": "browser"}, "instanceTypes": ["c6i.2xlarge"],
                 "taints": [{"key": "workload", "value": "browser"}]},
            ],
        },
        "workloads": {"browser": {"maxSessions": 200, "minSessions": 30}},
    }


def _validate(config: dict[str, Any]) -> Any:
    values = {key: json.dumps(value) for key, value in config.items()} | {"grafanaAdminPassword": "x"}
    return validate_stack_config(values, {"grafanaAdminPassword"}).config


def _problems(config: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        _validate(config)
    return raised.value.problems


def test_pool_bounds_derived_from_sessions() -> None:
    config = _validate(_eks_config())
    browser_pool = config.cluster.node_pools[1]
    # 20 pods (200 / 10) at 3 per c6i.2xlarge with the sidecar -> 7 nodes; 3 pods (30 / 10) -> 1 node
    assert (browser_pool.min_nodes, browser_pool.max_nodes) == (1, 7)
    assert config.workloads.browser.autoscaling is not None
    assert config.workloads.browser.autoscaling.max_replicas == 20
    assert config.cluster.node_pools[0].max_nodes == 4  # written bounds stay as written


def test_pool_that_cannot_hold_the_sessions_is_rejected() -> None:
    config = _eks_config()
    config["cluster"]["nodePools"][1]["maxNodes"] = 5
    problems = _problems(config)
    assert len(problems) == 1
    assert problems[0].startswith(f"{KEY}:cluster.nodePools[1].maxNodes: ")
    assert "needs 7 c6i.2xlarge nodes" in problems[0]
    assert "5 nodes hold 15 browser pods = 150 sessions" in problems[0]


def test_pod_larger_than_the_node_is_rejected() -> None:
    config = _eks_config()
    config["cluster"]["nodePools"][1]["instanceTypes"] = ["c6i.xlarge"]
    config["workloads"]["browser"]["resources"] = {"requests": {"cpu": "2", "memory": "8Gi"},
                                                   "limits": {"cpu": "4", "memory": "10Gi"}}
    problems = _problems(config)
    assert problems[0].startswith(f"{KEY}:cluster.nodePools[1].instanceTypes[0]: ")
    assert "more than a c6i.xlarge node has" in problems[0]


def test_sessions_and_raw_bounds_together_are_rejected() -> None:
    config = _eks_config()
    config["workloads"]["browser"]["autoscaling"] = {"minReplicas": 1, "maxReplicas": 20}
    problems = _problems(config)
    assert problems[0].startswith(f"{KEY}:workloads.browser.autoscaling.minReplicas: ")
    assert "not both" in problems[0]


@pytest.mark.parametrize(("browser", "path", "text"), [
    ({"minSessions": 10}, "workloads.browser.minSessions", "needs maxSessions"),
    ({"maxSessions": 10, "minSessions": 20}, "workloads.browser.minSessions", "must not exceed maxSessions (10)"),
    ({"maxSessions": 0}, "workloads.browser.maxSessions", "greater than or equal to 1"),
])
def test_bad_session_bounds(browser: dict[str, Any], path: str, text: str) -> None:
    config = _eks_config()
    config["workloads"]["browser"] = browser
    problems = _problems(config)
    assert problems[0].startswith(f"{KEY}:{path}: ") and text in problems[0], problems


def test_kind_pool_too_small_for_the_sessions() -> None:
    values, secrets = stack_file_config("dev")
    data: dict[str, Any] = {key.split(":", 1)[1]: json.loads(v) if v[:1] in "{[" else v for key, v in values.items()}
    data = copy.deepcopy(data)
    data["workloads"]["browser"].pop("autoscaling")
    data["workloads"]["browser"]["maxSessions"] = 40  # 8 pods of 5 sessions; a kind node fits 5 (600m of 3550m)
    encoded = {key: v if isinstance(v, str) else json.dumps(v) for key, v in data.items()}
    with pytest.raises(ConfigError) as raised:
        validate_stack_config(encoded, {key.split(":", 1)[1] for key in secrets})
    assert raised.value.problems[0].startswith(f"{KEY}:cluster.nodePools[1].maxNodes: ")
    assert "needs 2 kind nodes" in raised.value.problems[0]


def test_pool_cost_follows_the_nodes_the_pods_need() -> None:
    # Hand-computed: c6i.2xlarge on EKS with mesh and monitoring fits 3 browser pods (2100m / 4224Mi) per node.
    # 5-20 replicas need 2 and 7 nodes; the pool's bounds 0-30 only cap that. Spot $0.136/h x 730 h.
    report = pool_capacity("c6i.2xlarge", [PodGroup("browser", BROWSER, 5, 20, 10)], min_nodes=0, max_nodes=30,
                           provider="eks", capacity_type="spot", overheads=default_overheads("eks", mesh=True))
    assert (report.nodes_at_min_scale, report.nodes_at_max_scale) == (2, 7)
    assert report.monthly(report.nodes_at_min_scale) == pytest.approx(2 * 0.136 * 730)  # $198.56
    assert report.monthly(report.nodes_at_max_scale) == pytest.approx(7 * 0.136 * 730)  # $694.96
    # minNodes is a floor the autoscaler keeps even when the pods need less; maxNodes caps what they need.
    floor = pool_capacity("c6i.2xlarge", [PodGroup("browser", BROWSER, 1, 2, 10)], min_nodes=3, max_nodes=30,
                          provider="eks", overheads=default_overheads("eks", mesh=True))
    assert (floor.nodes_at_min_scale, floor.nodes_at_max_scale) == (3, 3)
    capped = pool_capacity("c6i.2xlarge", [PodGroup("browser", BROWSER, 5, 20, 10)], min_nodes=0, max_nodes=4,
                           provider="eks", overheads=default_overheads("eks", mesh=True))
    assert not capped.fits and capped.nodes_at_max_scale == 4


def test_report_costs_the_prod_stack_at_the_nodes_it_needs() -> None:
    from capacity.report import as_json, load_config, render

    config = load_config("prod")
    doc = as_json("prod", config)
    pools = {p["pool"]: p for p in doc["pools"]}
    # api: m7i.xlarge on demand, 3-10 API pods (600m with the sidecar) need 1-2 nodes; minNodes 3 is the floor.
    # browser: c7i.2xlarge spot, 5-60 pods at 3 per node need 2-20 nodes of the 0-30 allowed.
    assert (pools["api"]["nodesAtMinScale"], pools["api"]["nodesAtMaxScale"]) == (3, 3)
    assert (pools["browser"]["nodesAtMinScale"], pools["browser"]["nodesAtMaxScale"]) == (2, 20)
    assert pools["browser"]["monthly"]["spot"]["maxScale"] == pytest.approx(20 * 0.144 * 730)
    assert pools["browser"]["monthly"]["ceiling"] == pytest.approx(30 * 0.144 * 730)
    assert doc["monthly"]["minScale"] == pytest.approx(3 * 0.2016 * 730 + 2 * 0.144 * 730 + 73)
    assert doc["monthly"]["maxScale"] == pytest.approx(3 * 0.2016 * 730 + 20 * 0.144 * 730 + 73)
    assert doc["monthly"]["ceiling"] == pytest.approx(6 * 0.2016 * 730 + 30 * 0.144 * 730 + 73)
    text, ok = render("prod", config)
    assert ok
    assert "total $725-$2,617" in text and "every pool at maxNodes: $4,110" in text
