"""Capacity at scale (capacity/scale.py, `make capacity`'s "at scale" part): the limits that bind at 10,000 sessions."""

from __future__ import annotations

import math

import pytest

from capacity.model import default_overheads, node_allocatable, pods_per_node
from capacity.prices import INSTANCE_TYPES
from capacity.quantities import PodGroup, Resources
from capacity.scale import (
    EKS_NODES_PER_MANAGED_NODE_GROUP,
    SCALE_POINTS,
    EksNetwork,
    GkeNetwork,
    PoolShape,
    eks_addresses_per_node,
    propose_instance_type,
    scale_point,
    scale_points,
)
from scripts.capacity_report import load_config, render
from scripts.capacity_scale import browser_shapes, scale_json

BROWSER = Resources.of("2100m", "4224Mi")  # the prod browser pod with its sidecar
API = Resources.of("600m", "640Mi")


def shape(instance: str = "c7i.2xlarge", api_instance: str = "m7i.xlarge", **changes: object) -> PoolShape:
    fields: dict[str, object] = {"instance_type": instance, "browser_pod": BROWSER, "sessions_per_pod": 10,
                                 "api_pod": API, "api_instance_type": api_instance, "sessions_per_api_pod": 60,
                                 "api_min_replicas": 3}
    fields.update(changes)
    return PoolShape(**fields)  # pyright: ignore[reportArgumentType]


def test_nodes_follow_the_pods_one_node_holds() -> None:
    per_node = pods_per_node(BROWSER, node_allocatable("c7i.2xlarge", "eks", default_overheads("eks")))
    for point in scale_points(shape(), "eks", EksNetwork("10.0.0.0/16", 3)):
        assert point.browser_pods == math.ceil(point.sessions / 10)
        assert point.browser_nodes == math.ceil(point.browser_pods / per_node)
        assert point.api_pods == max(3, math.ceil(point.sessions / 60))
    assert [p.sessions for p in scale_points(shape(), "eks", EksNetwork("10.0.0.0/16", 3))] == list(SCALE_POINTS)


def test_ten_thousand_sessions_on_eks_bind_on_the_node_group_quota_before_the_vpc() -> None:
    point = scale_point(shape(), "eks", EksNetwork("10.0.0.0/16", 3), 10_000)
    assert point.binding.name == "nodes per managed node group"
    assert point.binding.limit == EKS_NODES_PER_MANAGED_NODE_GROUP
    assert point.binding.used == point.browser_nodes
    vpc = next(limit for limit in point.limits if limit.name.startswith("VPC addresses"))
    assert vpc.limit == 3 * (16_384 - 5)  # three /18 private subnets, five addresses reserved in each


def test_a_small_vpc_binds_first() -> None:
    """A /20 VPC (the smallest the config allows) gives three /22 private subnets: 10,000 sessions run out of pod
    addresses before anything else."""
    point = scale_point(shape(), "eks", EksNetwork("10.0.0.0/20", 3), 10_000)
    assert point.binding.name == "VPC addresses in the private subnets"
    assert point.binding.usage > 1


def test_prefix_delegation_raises_max_pods_but_saves_no_addresses_on_sparse_nodes() -> None:
    """Three browser pods per node: two /28 prefixes (one warm) take 33 addresses against two ENIs' 30, so prefix
    delegation is for density (more pods than the ENI formula allows), not for a VPC that runs out."""
    plain = scale_point(shape(), "eks", EksNetwork("10.0.0.0/20", 3), 10_000)
    prefixed = scale_point(shape(), "eks", EksNetwork("10.0.0.0/20", 3, prefix_delegation=True), 10_000)
    plain_vpc = next(limit for limit in plain.limits if limit.name.startswith("VPC"))
    prefixed_vpc = next(limit for limit in prefixed.limits if limit.name.startswith("VPC"))
    assert prefixed_vpc.used > plain_vpc.used
    assert next(limit for limit in plain.limits if limit.name.startswith("pods per")).limit == 58
    assert next(limit for limit in prefixed.limits if limit.name.startswith("pods per")).limit == 110


def test_eni_addresses_per_node() -> None:
    c7i = INSTANCE_TYPES["c7i.2xlarge"]  # 4 ENIs x 15 addresses
    assert eks_addresses_per_node(c7i, 3, prefix_delegation=False) == 2 * 15  # one ENI in use + one warm
    assert eks_addresses_per_node(c7i, 20, prefix_delegation=False) == 3 * 15
    assert eks_addresses_per_node(c7i, 58, prefix_delegation=False) == 4 * 15  # never more ENIs than the type has
    assert eks_addresses_per_node(c7i, 3, prefix_delegation=True) == 2 * 16 + 1


@pytest.mark.parametrize(("max_pods", "nodes"), [(110, 1024), (64, 2048), (32, 4096)])
def test_gke_pod_range_addresses_nodes_by_max_pods(max_pods: int, nodes: int) -> None:
    gke = shape("c3-standard-8", "n2-standard-4")
    point = scale_point(gke, "gke", GkeNetwork("10.10.0.0/20", "10.16.0.0/14", 3, max_pods_per_node=max_pods), 100)
    pod_range = next(limit for limit in point.limits if limit.name == "nodes the pod range can address")
    assert pod_range.limit == nodes


def test_gke_ten_thousand_sessions_in_a_small_pod_range() -> None:
    gke = shape("c3-standard-8", "n2-standard-4")
    point = scale_point(gke, "gke", GkeNetwork("10.10.0.0/20", "10.16.0.0/18", 3), 10_000)  # /18: 64 nodes
    assert point.binding.name == "nodes the pod range can address"
    assert point.binding.usage > 1


def test_cost_per_session_falls_with_scale_and_spot_is_cheaper() -> None:
    network = EksNetwork("10.0.0.0/16", 3)
    on_demand = scale_points(shape(), "eks", network)
    spot = scale_points(shape(spot_share=1.0), "eks", network)
    assert on_demand[0].per_session > on_demand[-1].per_session
    assert all(s.monthly < o.monthly for s, o in zip(spot, on_demand, strict=True))
    assert spot[-1].vcpus["spot"] == spot[-1].browser_nodes * 8


def test_proposal_skips_a_cheaper_type_that_strands_capacity() -> None:
    pod = PodGroup("browser", Resources.of("2", "4Gi"), 1, 100, 10)
    proposal = propose_instance_type(pod, "eks")
    aws = [t for t in INSTANCE_TYPES.values() if t.cloud == "aws"]
    overheads = default_overheads("eks")
    for candidate in aws:
        node = node_allocatable(candidate, "eks", overheads)
        fit = pods_per_node(pod.requests + overheads.per_pod, node)
        if fit and proposal is not None:
            nodes = math.ceil(100 / fit)
            used = max((pod.requests + overheads.per_pod).cpu_m * 100 / (node.available.cpu_m * nodes),
                       (pod.requests + overheads.per_pod).memory_bytes * 100 / (node.available.memory_bytes * nodes))
            cost = nodes * candidate.on_demand_hourly * 730 / 1000
            if used >= 0.9:
                assert proposal.per_session <= cost + 1e-9, candidate.name
    if proposal is not None:
        assert proposal.utilization >= 0.9


def test_no_proposal_when_no_type_reaches_the_threshold() -> None:
    pod = PodGroup("browser", Resources.of("2", "4Gi"), 1, 100, 10)
    assert propose_instance_type(pod, "eks", threshold=1.01) is None


@pytest.mark.parametrize("stack", ["prod", "prod-gcp"])
def test_report_prints_every_scale_point_for_cloud_stacks(stack: str) -> None:
    config = load_config(stack)
    text, _ = render(stack, config)
    section = text.split("## at scale", 1)[1].split("## cluster", 1)[0]
    for sessions in SCALE_POINTS:
        assert f"{sessions:,} sessions:" in section
    assert "first limit:" in section and "proposed instance types" in section
    document = scale_json(config)
    assert set(document) == set(browser_shapes(config))
    assert [p["sessions"] for p in document["browser"]] == list(SCALE_POINTS)


def test_kind_stack_has_no_scale_section() -> None:
    text, _ = render("dev", load_config("dev"))
    assert "## at scale" not in text


def test_docs_table_is_current() -> None:
    from scripts import capacity_scale

    assert capacity_scale.doc_block(capacity_scale.DOC.read_text()) == capacity_scale.markdown(), (
        "docs/capacity.md's at-scale table is stale: run `python -m scripts.capacity_scale --write`")
