"""`python -m capacity.tiers [--write]`: the seeds' scaling tiers next to what the capacity model computes.

The seeds (000_*.txt, "Scaling Tiers") size Dev to XL as node counts and monthly costs for 10 to 400
concurrent sessions, on c5.2xlarge nodes (8 vCPU, 16 GB, $0.34/h). This recomputes each tier for the same
sessions with the platform's shape: browser pods of 2 CPU / 4Gi requests serving 10 sessions each on a
tainted browser pool, the seed's API pod count (500m / 512Mi) on an API pool that also carries the platform
services' own pods (`capacity.platform_services` with every add-on on, highly available, at their maximum
replicas: istiod, the ingress gateway, Prometheus, Grafana, Alertmanager, KEDA, cert-manager, metrics-server and,
on EKS, cluster-autoscaler) and keeps at least two nodes once it has two pods, the Istio sidecar on every
workload pod, and the istio-cni and node-exporter daemonsets on every node. Cost is nodes x hourly price x 730 h plus the
control-plane fee; "spot browsers" runs the browser pool on spot and the API pool on demand.

`--write` replaces the block between the markers in docs/capacity.md; tests/test_capacity.py fails when the
block differs from what this prints.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from .model import (
    PodGroup,
    Provider,
    Resources,
    control_plane_monthly,
    default_overheads,
    pool_capacity,
)
from .platform_services import platform_layers
from .prices import HOURS_PER_MONTH, PRICES_AS_OF, instance_type

DOC = Path(__file__).resolve().parent.parent / "docs" / "capacity.md"
START, END = "<!-- capacity-tiers:start -->", "<!-- capacity-tiers:end -->"

BROWSER_POD = Resources.of("2", "4Gi")
API_POD = Resources.of("500m", "512Mi")
SESSIONS_PER_POD = 10
API_HA_NODES = 2
"""The API pool keeps at least this many nodes once there are that many API pods, so losing one node does not
take the API down (its topology spread is ScheduleAnyway, so packing alone would put every pod on one node)."""


@dataclass(frozen=True)
class SeedTier:
    name: str
    nodes: int
    api_pods: int
    browser_pods: int
    sessions: int
    monthly_usd: int


SEED_TIERS = (
    SeedTier("Dev", 1, 1, 1, 10, 50),
    SeedTier("Small", 3, 3, 5, 50, 200),
    SeedTier("Medium", 5, 5, 10, 100, 500),
    SeedTier("Large", 10, 10, 20, 200, 1500),
    SeedTier("XL", 20, 10, 40, 400, 4000),
)
"""The seeds' table, verbatim: nodes, API pods, browser pods, sessions, cost per month."""


@dataclass(frozen=True)
class TierResult:
    tier: SeedTier
    browser_pods: int
    browser_per_node: int
    browser_nodes: int
    api_per_node: int
    api_nodes: int
    on_demand_monthly: float
    spot_browsers_monthly: float

    @property
    def nodes(self) -> int:
        return self.browser_nodes + self.api_nodes


def compute_tier(tier: SeedTier, node_type: str, provider: Provider, *, mesh: bool = True,
                 monitoring: bool = True) -> TierResult:
    overheads = default_overheads(provider, mesh=mesh, monitoring=monitoring)
    browser_pods = math.ceil(tier.sessions / SESSIONS_PER_POD)
    browser = pool_capacity(node_type, [PodGroup("browser", BROWSER_POD, browser_pods, browser_pods, SESSIONS_PER_POD)],
                            min_nodes=0, max_nodes=1000, provider=provider, overheads=overheads, pool="browser")
    platform = platform_layers(provider, mesh=mesh, monitoring=monitoring, keda=monitoring, tls=mesh,
                               highly_available=True)
    api = pool_capacity(node_type, [PodGroup("api", API_POD, tier.api_pods, tier.api_pods)], min_nodes=0,
                        max_nodes=1000, provider=provider, overheads=overheads, pool="api",
                        platform_pods=[group for layer in platform for group in layer.pod_groups])
    assert browser.nodes_needed_max is not None and api.nodes_needed_max is not None
    api_nodes = max(api.nodes_needed_max, min(tier.api_pods, API_HA_NODES))
    spec = instance_type(node_type)
    control = control_plane_monthly(provider)
    on_demand = (browser.nodes_needed_max + api_nodes) * spec.on_demand_hourly * HOURS_PER_MONTH + control
    spot = (browser.nodes_needed_max * spec.spot_hourly + api_nodes * spec.on_demand_hourly) * HOURS_PER_MONTH
    return TierResult(tier, browser_pods, browser.workloads[0].pods_per_node, browser.nodes_needed_max,
                      api.workloads[0].pods_per_node, api_nodes, on_demand, spot + control)


REFERENCES: tuple[tuple[str, Provider], ...] = (("c5.2xlarge", "eks"), ("c6i.2xlarge", "eks"), ("n2-standard-8", "gke"))
"""The seeds' own node type, the current AWS generation of it, and the GKE type of the same shape class."""


def _money(value: float) -> str:
    return f"${value:,.0f}"


def table(node_type: str, provider: Provider) -> str:
    spec = instance_type(node_type)
    rows = [compute_tier(tier, node_type, provider) for tier in SEED_TIERS]
    first = rows[0]
    lines = [
        f"#### {provider.upper()}, {node_type} ({spec.vcpu} vCPU, {spec.memory_gib:g} GiB, "
        f"${spec.on_demand_hourly}/h on-demand, ${spec.spot_hourly}/h spot)",
        "",
        f"One node fits {first.browser_per_node} browser pods or {first.api_per_node} API pods (sidecar included). "
        f"Control plane {_money(control_plane_monthly(provider))}/month is included in our costs.",
        "",
        "| Tier | Sessions | Seed nodes | Seed cost/month | Browser pods | Our browser nodes | Our API nodes "
        "| Our nodes | Our cost/month (on-demand) | Our cost/month (spot browsers) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        tier = row.tier
        lines.append(
            f"| {tier.name} | {tier.sessions} | {tier.nodes} | {_money(tier.monthly_usd)} | {row.browser_pods} "
            f"| {row.browser_nodes} | {row.api_nodes} | {row.nodes} | {_money(row.on_demand_monthly)} "
            f"| {_money(row.spot_browsers_monthly)} |"
        )
    return "\n".join(lines)


def render() -> str:
    parts = [f"Generated by `python -m capacity.tiers` from capacity/ (prices as of {PRICES_AS_OF}).", ""]
    for node_type, provider in REFERENCES:
        parts += [table(node_type, provider), ""]
    return "\n".join(parts).rstrip() + "\n"


def doc_block(text: str) -> str:
    """The generated part of docs/capacity.md (between the markers)."""
    start, end = text.index(START) + len(START), text.index(END)
    return text[start:end].strip("\n") + "\n"


def write(path: Path = DOC) -> None:
    text = path.read_text()
    start, end = text.index(START) + len(START), text.index(END)
    path.write_text(text[:start] + "\n" + render() + text[end:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m capacity.tiers", description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--write", action="store_true", help=f"update the block in {DOC.name}")
    args = parser.parse_args(argv)
    if args.write:
        write()
    else:
        sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
