"""The capacity model against hand-computed cases, the seeds' scaling tiers, and sizing the browser pool by sessions."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from typing import Any

import pytest

from capacity import (
    GI,
    ISTIO_CNI,
    MI,
    NODE_EXPORTER,
    PodGroup,
    Resources,
    UnknownInstanceTypeError,
    default_overheads,
    fits,
    instance_type,
    node_allocatable,
    nodes_needed,
    platform_layers,
    pods_per_node,
    pool_capacity,
    system_reserve,
)
from capacity import platform_services as sizes
from capacity import tiers as tier_table
from offline.harness import StackEvaluation, stack_file_config
from stack_config import ConfigError, validate_stack_config
from stack_config.sizing import platform_services_for, pool_plans
from stack_config.workloads import BrowserWorkload

from .conftest import STACKS

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
    assert config.workloads["browser"].autoscaling is not None
    assert config.workloads["browser"].autoscaling.max_replicas == 20
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
    from scripts.capacity_report import as_json, load_config, render

    config = load_config("prod")
    doc = as_json("prod", config)
    pools = {p["pool"]: p for p in doc["pools"]}
    # api: m7i.xlarge on demand, 3-10 API pods (600m with the sidecar) plus the platform services (2600m at min
    # scale, 3500m at max) need 2-3 nodes; minNodes 3 is the floor.
    # browser: 5-60 pods at 3 per c7i.2xlarge. The on-demand base holds minSessions (5 pods) on a fixed 2 nodes (6
    # pods); the spot burst the other 0-54 pods on 0-18 nodes. A spot reclaim never takes the floor.
    assert (pools["api"]["nodesAtMinScale"], pools["api"]["nodesAtMaxScale"]) == (3, 3)
    assert (pools["browser-base"]["nodesAtMinScale"], pools["browser-base"]["nodesAtMaxScale"]) == (2, 2)
    assert (pools["browser"]["nodesAtMinScale"], pools["browser"]["nodesAtMaxScale"]) == (0, 18)
    base_workloads = pools["browser-base"]["report"]["workloads"]
    burst_workloads = pools["browser"]["report"]["workloads"]
    assert [(w["min_replicas"], w["max_replicas"]) for w in base_workloads] == [(5, 6)]
    assert [(w["min_replicas"], w["max_replicas"]) for w in burst_workloads] == [(0, 54)]
    assert pools["browser"]["monthly"]["spot"]["maxScale"] == pytest.approx(18 * 0.144 * 730)
    assert pools["browser"]["monthly"]["ceiling"] == pytest.approx(18 * 0.144 * 730)
    assert pools["browser-base"]["monthly"]["ceiling"] == pytest.approx(2 * 0.357 * 730)
    assert doc["monthly"]["minScale"] == pytest.approx(3 * 0.2016 * 730 + 2 * 0.357 * 730 + 73)
    assert doc["monthly"]["maxScale"] == pytest.approx(3 * 0.2016 * 730 + 2 * 0.357 * 730 + 18 * 0.144 * 730 + 73)
    assert doc["monthly"]["ceiling"] == pytest.approx(6 * 0.2016 * 730 + 2 * 0.357 * 730 + 18 * 0.144 * 730 + 73)
    text, ok = render("prod", config)
    assert ok
    assert "total $1,036-$2,928" in text and "every pool at maxNodes: $3,369" in text


# --- the platform services' own pods -----------------------------------------------------------------------------


def test_platform_layers_on_a_highly_available_eks_cluster() -> None:
    layers = {layer.name: layer for layer in platform_layers("eks", mesh=True, monitoring=True, keda=True, tls=True)}
    assert list(layers) == ["metrics-server", "cluster-autoscaler", "mesh", "monitoring", "tls", "keda"]
    assert layers["metrics-server"].total() == Resources.of("200m", "400Mi")  # 2 x 100m / 200Mi
    assert layers["cluster-autoscaler"].total() == Resources.of("100m", "300Mi") and layers["cluster-autoscaler"].on_demand_only
    # istiod 2-5 x 200m / 512Mi, gateway 2-5 x 100m / 128Mi
    assert layers["mesh"].total("min") == Resources.of("600m", f"{2 * 512 + 2 * 128}Mi")
    assert layers["mesh"].total("max") == Resources.of("1500m", f"{5 * 512 + 5 * 128}Mi")
    # Prometheus 2 x (500m / 2Gi + reloader 10m / 50Mi), Alertmanager 2 x (50m / 128Mi + reloader), Grafana
    # 100m / 256Mi + two sidecars of 10m / 64Mi, kube-state-metrics 10m / 64Mi, operator 20m / 64Mi
    assert layers["monitoring"].total() == Resources.of("1290m", f"{2 * 2098 + 2 * 178 + 384 + 64 + 64}Mi")
    # cert-manager controller and webhook 2 x (50m / 128Mi, 20m / 64Mi), cainjector 20m / 128Mi
    assert layers["tls"].total() == Resources.of("160m", "512Mi")
    assert layers["keda"].total() == Resources.of("250m", "320Mi")  # operator, metrics apiserver, webhooks
    kind = {layer.name: layer for layer in platform_layers("kind", mesh=True, monitoring=True, keda=True, tls=True)}
    assert "cluster-autoscaler" not in kind and kind["mesh"].total("max") == Resources.of("300m", "640Mi")
    gke = {layer.name for layer in platform_layers("gke", mesh=True, monitoring=False, keda=False, tls=False)}
    assert gke == {"mesh"}  # GKE brings metrics-server and the autoscaler itself; no ingress: no gateway
    # The daemonsets the model adds per node use the same numbers as the charts.
    assert ISTIO_CNI.requests == sizes.ISTIO_CNI_NODE.resources and NODE_EXPORTER.requests == sizes.NODE_EXPORTER.resources


def test_api_pool_carries_the_platform_pods() -> None:
    # Hand-computed: m6i.xlarge on EKS with mesh and monitoring has 3615m / 15107Mi for pods (see the m7i.xlarge of
    # prod: same shape). API 3-10 pods of 600m / 640Mi with the sidecar; platform pods without sidecar.
    platform = platform_layers("eks", mesh=True, monitoring=True, keda=True, tls=True)
    groups = [group for layer in platform for group in layer.pod_groups]
    report = pool_capacity("m6i.xlarge", [PodGroup("api", API, 3, 10)], min_nodes=0, max_nodes=6, provider="eks",
                           overheads=default_overheads("eks", mesh=True), pool="api", platform_pods=groups)
    assert report.node.available == Resources(3615, 15107 * MI)
    # min: 3 x 600m + 2600m (metrics-server 200, autoscaler 100, mesh 600, monitoring 1290, tls 160, keda 250)
    # = 4400m > 3615m -> 2 nodes; max: 10 x 600m + 3500m (istiod and gateway at 5) = 9500m -> 3 nodes (2.63)
    assert (report.nodes_needed_min, report.nodes_needed_max) == (2, 3)
    assert report.binding_resource == "cpu"
    assert report.utilization == pytest.approx(9500 / (3 * 3615))
    # Without them the same pool needs 1-2 nodes: what the model said before it knew about these pods.
    alone = pool_capacity("m6i.xlarge", [PodGroup("api", API, 3, 10)], min_nodes=0, max_nodes=6, provider="eks",
                          overheads=default_overheads("eks", mesh=True))
    assert (alone.nodes_needed_min, alone.nodes_needed_max) == (1, 2)
    # `fits` (the policy pack's check) takes them as extra pods, without a sidecar.
    extra = [(group.requests, group.max_replicas) for group in groups]
    assert fits("m6i.xlarge", [(API, 10)], 3, overheads=default_overheads("eks", mesh=True), extra_pods=extra)
    assert not fits("m6i.xlarge", [(API, 10)], 2, overheads=default_overheads("eks", mesh=True), extra_pods=extra)


def _browser_pool_first_and_untainted() -> dict[str, Any]:
    config = _eks_config()
    api_pool, browser_pool = config["cluster"]["nodePools"]
    browser_pool.pop("taints")
    config["cluster"]["nodePools"] = [browser_pool, api_pool]
    return config


def test_platform_pods_go_to_the_first_untainted_pool() -> None:
    config = _validate(_eks_config())
    plans = pool_plans(config)
    assert [layer.name for layer in plans[0].platform] == ["metrics-server", "cluster-autoscaler", "mesh", "monitoring",
                                                           "keda", "tracing"]  # no ingress: no gateway, no tls
    assert plans[1].platform == ()  # the tainted browser pool
    assert plans[0].report is not None and len(plans[0].report.platform_pods) == 13  # 1 + 1 + 1 + 5 + 3 + 2 groups


def test_derived_bounds_count_the_platform_pods() -> None:
    # The session-sized browser pool is now the first untainted one, so it carries the platform services.
    config = _validate(_browser_pool_first_and_untainted())
    browser_pool = config.cluster.node_pools[0]
    # min: 3 browser pods (6300m) + the platform pods at min scale (metrics-server 200m, autoscaler 100m, istiod
    # 400m, monitoring 1290m, keda 250m = 2240m) = 8540m > 7605m per c6i.2xlarge -> 2 nodes (1 without them).
    # max: 20 browser pods need 7 nodes; their leftovers hold the platform pods at max scale.
    assert (browser_pool.min_nodes, browser_pool.max_nodes) == (2, 7)


def test_platform_pod_larger_than_the_node_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sizes, "PROMETHEUS", sizes.Requests("4", "2Gi"))
    problems = _problems(_eks_config())
    assert problems[0].startswith(f"{KEY}:cluster.nodePools[0].instanceTypes[0]: "), problems
    assert "carries the platform services; one prometheus pod requests 4010m" in problems[0]


def test_report_prints_one_line_per_platform_layer() -> None:
    from scripts.capacity_report import as_json, load_config, render

    config = load_config("prod")
    text, ok = render("prod", config)
    assert ok
    for layer in ("metrics-server", "cluster-autoscaler", "mesh", "monitoring", "tls", "keda", "tracing"):
        assert f"  platform     {layer}: " in text
    assert "istiod 2-5 x 200m / 512Mi" in text and "prometheus 2 x 510m / 2098Mi" in text
    # tracing: 2 collectors x 50m / 128Mi + Tempo 100m / 512Mi = 200m / 768Mi on top of the other layers.
    assert "platform     all layers: 2800m / 8644Mi at min scale, 3700m / 10564Mi at max" in text
    doc = as_json("prod", config)
    api = next(pool for pool in doc["pools"] if pool["pool"] == "api")
    assert [layer["layer"] for layer in api["platformServices"]] == [
        "metrics-server", "cluster-autoscaler", "mesh", "monitoring", "tls", "keda", "tracing"]


# Where each chart takes the numbers of `capacity.platform_services`: pod -> (release, one requests path per
# container, replicas path for the minimum, for the maximum; None when the chart has no such value).
Path_ = tuple[str, ...]
CHART_PATHS: dict[str, tuple[str, tuple[Path_, ...], Path_ | None, Path_ | None]] = {
    "metrics-server": ("metrics-server", (("resources", "requests"),), ("replicas",), ("replicas",)),
    "cluster-autoscaler": ("cluster-autoscaler", (("resources", "requests"),), ("replicaCount",), ("replicaCount",)),
    "istiod": ("istiod", (("pilot", "resources", "requests"),), ("pilot", "autoscaleMin"), ("pilot", "autoscaleMax")),
    "istio-ingressgateway": ("istio-ingressgateway", (("resources", "requests"),), ("autoscaling", "minReplicas"),
                             ("autoscaling", "maxReplicas")),
    "prometheus": ("kube-prometheus-stack", (("prometheus", "prometheusSpec", "resources", "requests"),
                                             ("prometheusOperator", "prometheusConfigReloader", "resources", "requests")),
                   ("prometheus", "prometheusSpec", "replicas"), ("prometheus", "prometheusSpec", "replicas")),
    "alertmanager": ("kube-prometheus-stack", (("alertmanager", "alertmanagerSpec", "resources", "requests"),
                                               ("prometheusOperator", "prometheusConfigReloader", "resources", "requests")),
                     ("alertmanager", "alertmanagerSpec", "replicas"), ("alertmanager", "alertmanagerSpec", "replicas")),
    "grafana": ("kube-prometheus-stack", (("grafana", "resources", "requests"),
                                          ("grafana", "sidecar", "resources", "requests"),
                                          ("grafana", "sidecar", "resources", "requests")),
                ("grafana", "replicas"), ("grafana", "replicas")),
    "kube-state-metrics": ("kube-prometheus-stack", (("kube-state-metrics", "resources", "requests"),),
                           ("kube-state-metrics", "replicas"), ("kube-state-metrics", "replicas")),
    "prometheus-operator": ("kube-prometheus-stack", (("prometheusOperator", "resources", "requests"),), None, None),
    "cert-manager": ("cert-manager", (("resources", "requests"),), ("replicaCount",), ("replicaCount",)),
    "cert-manager-webhook": ("cert-manager", (("webhook", "resources", "requests"),), ("webhook", "replicaCount"),
                             ("webhook", "replicaCount")),
    "cert-manager-cainjector": ("cert-manager", (("cainjector", "resources", "requests"),),
                                ("cainjector", "replicaCount"), ("cainjector", "replicaCount")),
    "keda-operator": ("keda", (("resources", "operator", "requests"),), ("operator", "replicaCount"),
                      ("operator", "replicaCount")),
    "keda-metrics-apiserver": ("keda", (("resources", "metricServer", "requests"),), ("metricsServer", "replicaCount"),
                               ("metricsServer", "replicaCount")),
    "keda-admission-webhooks": ("keda", (("resources", "webhooks", "requests"),), ("webhooks", "replicaCount"),
                                ("webhooks", "replicaCount")),
}
PLAIN_OBJECT_LAYERS = ("tracing",)
DAEMONSET_PATHS: dict[str, tuple[str, Path_, sizes.Requests]] = {
    "istio-cni-node": ("istio-cni", ("cni", "resources", "requests"), sizes.ISTIO_CNI_NODE),
    "node-exporter": ("kube-prometheus-stack", ("prometheus-node-exporter", "resources", "requests"), sizes.NODE_EXPORTER),
}


def _at(values: dict[str, Any], path: Path_) -> Any:
    for key in path:
        assert isinstance(values, dict) and key in values, f"no {'.'.join(path)} in the chart values"
        values = values[key]
    return values


@pytest.mark.parametrize("stack", STACKS)
def test_chart_values_use_the_platform_services_numbers(evaluated: Callable[[str], StackEvaluation], stack: str) -> None:
    from scripts.capacity_report import load_config

    releases = {r.inputs["name"]: r.plain_inputs["values"] for r in evaluated(stack).of_type("kubernetes:helm.sh/v3:Release")}
    # Layers of plain objects (tracing: no chart is pinned) are checked against their Deployment/StatefulSet in
    # tests/test_observability.py.
    layers = [layer for layer in platform_services_for(load_config(stack)) if layer.name not in PLAIN_OBJECT_LAYERS]
    pods = [pod for layer in layers for pod in layer.pods]
    assert {name for name, (release, *_) in CHART_PATHS.items() if release in releases} == {pod.name for pod in pods}, (
        "a release with pods is installed that the capacity model does not count, or the reverse")
    for pod in pods:
        release, container_paths, min_path, max_path = CHART_PATHS[pod.name]
        assert pod.release == release
        values = releases[release]
        assert len(container_paths) == len(pod.containers)
        for path, requests in zip(container_paths, pod.containers, strict=True):
            assert _at(values, path) == requests.values(), f"{stack}: {release} {'.'.join(path)}"
        if min_path is not None and max_path is not None:
            assert (_at(values, min_path), _at(values, max_path)) == (pod.replicas.min, pod.replicas.max), pod.name
    if "istiod" in releases:
        pilot = releases["istiod"]["pilot"]
        assert pilot["autoscaleEnabled"] == (pilot["autoscaleMax"] > pilot["autoscaleMin"])
        assert pilot["replicaCount"] == pilot["autoscaleMin"]
    if "istio-ingressgateway" in releases:
        gateway = releases["istio-ingressgateway"]
        scaling = gateway["autoscaling"]
        assert scaling["enabled"] == (scaling["maxReplicas"] > scaling["minReplicas"])
        assert gateway["replicaCount"] == scaling["minReplicas"]
    for name, (release, path, requests) in DAEMONSET_PATHS.items():
        if release in releases:
            assert _at(releases[release], path) == requests.values(), f"{stack}: daemonset {name}"


def test_cloud_pool_with_raw_replica_bounds_must_hold_them() -> None:
    values, secrets = stack_file_config("prod")
    data: dict[str, Any] = {key.split(":", 1)[1]: json.loads(v) if v[:1] in "{[" else v
                            for key, v in values.items() if key.startswith(f"{KEY}:")}
    data = copy.deepcopy(data)
    # 40 API pods of 600m (sidecar included) need 7 m7i.xlarge nodes (6 per node); the pool allows 6.
    data["workloads"]["api"]["autoscaling"] = {"minReplicas": 3, "maxReplicas": 40}
    encoded = {key: v if isinstance(v, str) else json.dumps(v) for key, v in data.items()}
    with pytest.raises(ConfigError) as raised:
        validate_stack_config(encoded, {key.split(":", 1)[1] for key in secrets})
    (problem,) = raised.value.problems
    assert problem.startswith(f"{KEY}:cluster.nodePools[0].maxNodes: pool 'api' cannot hold workloads.api up to 40 pods")
