"""The "at scale" part of `make capacity`: the stack's browser pools sized for 50 to 10,000 sessions.

For each browser workload on a cloud stack: nodes, cost per session per month and the limit that binds first
(`capacity.scale`) at each of `SCALE_POINTS` sessions, the vCPU quotas the account must hold, and the instance
type per pool with the lowest cost per session whose binding resource is at least 90 % used (from the dated price
table in capacity/prices.py). Reads the validated stack config; the model below it does not.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

from capacity.prices import INSTANCE_TYPES, PRICES_AS_OF
from capacity.scale import (
    LIMIT_SOURCES,
    LIMITS_AS_OF,
    EksNetwork,
    GkeNetwork,
    PoolShape,
    Proposal,
    ScalePoint,
    propose_instance_type,
    scale_points,
)
from stack_config import PlatformConfig
from stack_config.cluster import EksClusterConfig, GkeClusterConfig, NodePool
from stack_config.sizing import base_and_burst, node_type, overheads_for, pod_group
from stack_config.workloads import ApiWorkload, BrowserWorkload, WorkloadBase

DEFAULT_ZONES = 3
"""Both cluster modules spread nodes over three zones when the stack names none."""


def _network(config: PlatformConfig) -> EksNetwork | GkeNetwork | None:
    cluster = config.cluster
    if isinstance(cluster, EksClusterConfig):
        return EksNetwork(cluster.vpc_cidr, len(cluster.zones or []) or DEFAULT_ZONES)
    if isinstance(cluster, GkeClusterConfig):
        return GkeNetwork(cluster.node_cidr, cluster.pods_cidr, len(cluster.zones or []) or DEFAULT_ZONES)
    return None


def _pool_max_nodes(config: PlatformConfig, workload: WorkloadBase) -> int:
    return sum(pool.max_nodes for pool in config.pools_for(workload))


def _pool_type(config: PlatformConfig, workload: WorkloadBase) -> tuple[str, float] | None:
    """The instance type of the pools a workload runs on and the share of them on spot (a base + burst pair's burst
    pool carries everything above the base, so at scale nearly all of it)."""
    pools: list[NodePool] = config.pools_for(workload)
    if not pools:
        return None
    pair = base_and_burst(pools)
    pool = pair[1] if pair is not None else pools[0]
    name = node_type(pool, config.cluster.kind)
    if name not in INSTANCE_TYPES:
        return None
    return name, 1.0 if pool.capacity_type == "spot" else 0.0


def browser_shapes(config: PlatformConfig) -> dict[str, PoolShape]:
    """Workload name -> the shape `capacity.scale` sizes, for each browser workload of a cloud stack."""
    items = config.workload_items()
    apis = [w for _, w in items if isinstance(w, ApiWorkload)]
    overheads = overheads_for(config)
    shapes: dict[str, PoolShape] = {}
    for name, workload in items:
        if not isinstance(workload, BrowserWorkload) or not apis:
            continue
        browser_type, api_type = _pool_type(config, workload), _pool_type(config, apis[0])
        if browser_type is None or api_type is None:
            continue
        api = apis[0]
        _, max_sessions = workload.session_capacity
        shapes[name] = PoolShape(
            instance_type=browser_type[0], browser_pod=pod_group(name, workload).requests + overheads.per_pod,
            sessions_per_pod=workload.sessions_per_pod,
            api_pod=pod_group("api", api).requests + overheads.per_pod, api_instance_type=api_type[0],
            sessions_per_api_pod=max(math.ceil(max_sessions / api.max_replicas), 1),
            api_min_replicas=api.min_replicas, spot_share=browser_type[1], overheads=overheads,
            pool_max_nodes=_pool_max_nodes(config, workload))
    return shapes


def _point_line(point: ScalePoint) -> str:
    binding = point.binding
    return (f"  {point.sessions:>6,} sessions: {point.browser_pods:>5,} browser pods on {point.browser_nodes:>4,} "
            f"nodes, {point.api_pods:>3,} API pods on {point.api_nodes:>3,} nodes; ${point.monthly:>9,.0f}/month, "
            f"${point.per_session:,.2f} per session; nodes filled by {point.node_binding} "
            f"({point.node_utilization:.0%}); first limit: {binding.name} "
            f"({binding.used:,.0f} of {binding.limit:,.0f}, {binding.usage:.0%})")


def _proposal_line(pool: str, current: str, proposal: Proposal | None) -> str:
    if proposal is None:
        return f"  {pool}: no type in the price table uses 90 % of its binding resource for this pod; keep {current}"
    verdict = "keep it" if proposal.instance_type == current else f"instead of {current}"
    return (f"  {pool}: {proposal.instance_type} ({verdict}): ${proposal.per_session:,.2f} per session per month "
            f"at its pool's price, {proposal.binding_resource} {proposal.utilization:.0%} used")


def scale_lines(config: PlatformConfig) -> list[str]:
    network = _network(config)
    shapes = browser_shapes(config)
    if network is None or not shapes:
        return []
    provider = config.cluster.kind
    lines = [f"## at scale (limits as of {LIMITS_AS_OF}; vCPU quotas are per account: request what is printed)"]
    for name, shape in shapes.items():
        points = scale_points(shape, provider, network)
        lines.append(f"### {name}: {shape.instance_type} nodes ({shape.spot_share:.0%} spot), "
                     f"{shape.sessions_per_pod} sessions per pod")
        lines += [_point_line(point) for point in points]
        top = points[-1]
        for limit in top.config_limits:
            if limit.usage > 1:
                lines.append(f"  stack config: {limit.name} is {limit.limit:,.0f}; {top.sessions:,} sessions need "
                             f"{limit.used:,.0f}")
        lines.append(f"  quotas at {top.sessions:,} sessions (browser and API nodes): {top.vcpus['onDemand']:,} "
                     f"on-demand vCPUs, {top.vcpus['spot']:,} spot vCPUs; provider limits: "
                     + "; ".join(f"{limit.name} {limit.usage:.0%}" for limit in top.limits
                                 if limit not in top.config_limits))
    lines.append(f"## proposed instance types (lowest cost per session, binding resource >= 90 % used; prices as of "
                 f"{PRICES_AS_OF})")
    overheads = overheads_for(config)
    for name, workload in config.workload_items():
        found = _pool_type(config, workload)
        if found is None:
            continue
        proposal = propose_instance_type(pod_group(name, workload), provider, overheads, spot=found[1] > 0)
        lines.append(_proposal_line(name, found[0], proposal))
    lines.append("  sources: " + ", ".join(LIMIT_SOURCES.values()))
    lines.append("")
    return lines


def scale_json(config: PlatformConfig) -> dict[str, Any]:
    network = _network(config)
    if network is None:
        return {}
    return {name: [{"sessions": p.sessions, "browserPods": p.browser_pods, "browserNodes": p.browser_nodes,
                    "apiPods": p.api_pods, "apiNodes": p.api_nodes, "monthly": round(p.monthly, 2),
                    "perSession": round(p.per_session, 4), "firstLimit": p.binding.name, "vcpus": p.vcpus,
                    "nodesFilledBy": p.node_binding, "nodeUtilization": round(p.node_utilization, 4),
                    "limits": {limit.name: round(limit.usage, 4) for limit in p.limits}}
                   for p in scale_points(shape, config.cluster.kind, network)]
            for name, shape in browser_shapes(config).items()}


DOC = Path(__file__).resolve().parent.parent / "docs" / "capacity.md"
DOC_STACKS = ("prod", "prod-gcp")
START, END = "<!-- capacity-scale:start -->", "<!-- capacity-scale:end -->"


def markdown(stacks: tuple[str, ...] = DOC_STACKS) -> str:
    """The docs' table: each cloud stack's browser pools at every scale point."""
    from scripts.capacity_report import load_config

    rows = ["| stack | pool | sessions | browser nodes | API nodes | $/month | $/session/month | first provider limit |",
            "|---|---|---:|---:|---:|---:|---:|---|"]
    for stack in stacks:
        config = load_config(stack)
        network = _network(config)
        if network is None:
            continue
        for name, shape in browser_shapes(config).items():
            for point in scale_points(shape, config.cluster.kind, network):
                limit = point.binding
                rows.append(f"| {stack} | {name} ({shape.instance_type}) | {point.sessions:,} | "
                            f"{point.browser_nodes:,} | {point.api_nodes:,} | ${point.monthly:,.0f} | "
                            f"${point.per_session:,.2f} | {limit.name}: {limit.usage:.0%} |")
    return "\n".join(rows) + "\n"


def doc_block(text: str) -> str:
    return text.split(START, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    """`python -m scripts.capacity_scale [--write]`: print the docs' at-scale table, or write it into docs/capacity.md."""
    args = sys.argv[1:] if argv is None else argv
    table = markdown()
    if "--write" in args:
        text = DOC.read_text()
        head, rest = text.split(START, 1)
        DOC.write_text(f"{head}{START}\n{table}{END}{rest.split(END, 1)[1]}")
    else:
        sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
