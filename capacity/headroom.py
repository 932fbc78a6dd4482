"""Headroom: what warm capacity for a browser pool costs and how much waiting it saves a burst of sessions.

Placeholders (components/workloads/headroom.py) are sized as one browser pod each (its containers, /dev/shm counted
as memory, the sidecar) and prefer the same nodes. They first fill the room the pool's nodes have left at minimum
scale (free: those nodes run anyway), then need nodes of their own, which is what they cost. A burst of up to
`pods x sessionsPerPod` sessions then starts on warm nodes; everything beyond waits for the node autoscaler as it
would without headroom, but the autoscaler already started when the first placeholder was evicted.

Node provisioning times come from the providers' documentation where one exists (`NODE_PROVISIONING`, each with
its source and the date it was read); where none exists the figure is an assumption and says so. Pure Python like
the rest of `capacity` (no stack_config import): scripts/capacity_report.py feeds it the stack's pool plans.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .model import NodeAllocatable, nodes_needed
from .prices import HOURS_PER_MONTH
from .quantities import Provider, Resources

READ_ON = "2026-12-02"
"""When the sources below were read (stored copies of the pages, through the project's search tool)."""


@dataclass(frozen=True)
class Timing:
    seconds: int | None
    """The figure the report uses; None: capacity never arrives (no node autoscaler)."""
    stated: str
    """What the source says, or that it says nothing."""
    source: str
    official: bool
    """False: no official figure exists; `seconds` is this project's assumption (said so wherever it is printed)."""


AUTOSCALER_REACTION = Timing(
    30,
    "cluster-autoscaler's SLO: at most 30 s (about 5 s on average) from an unschedulable pod to the scale-up request "
    "on clusters below 100 nodes with up to 30 pods each; at most 60 s (about 15 s) on 100 to 1000 nodes",
    "https://github.com/kubernetes/autoscaler/blob/master/cluster-autoscaler/FAQ.md"
    "#what-are-the-service-level-objectives-for-cluster-autoscaler",
    True,
)
"""Used for EKS (cluster-autoscaler) and, as an assumption, for GKE's built-in autoscaler (no figure published)."""

NODE_PROVISIONING: dict[Provider, Timing] = {
    "gke": Timing(
        120,
        "\"Each new node takes approximately 80 to 120 seconds to boot\" (written for Autopilot and node "
        "auto-provisioning; no separate figure for a Standard pool's autoscaler, the same VM boot is assumed); "
        "the upper end is used",
        "https://cloud.google.com/kubernetes-engine/docs/how-to/capacity-provisioning",
        True,
    ),
    "eks": Timing(
        180,
        "no official figure: AWS documents no node provisioning time for managed node groups with "
        "cluster-autoscaler; the EKS Workshop's over-provisioning lab says only that it \"took several minutes\". "
        "ASSUMPTION: 180 s from the scale-up request to a Ready node (EC2 launch and boot, nodeadm join, VPC CNI)",
        "https://www.eksworkshop.com/docs/autoscaling/compute/cluster-autoscaler/overprovisioning/",
        False,
    ),
    "kind": Timing(None, "kind adds no nodes: capacity beyond the Docker host never arrives", "", True),
}


@dataclass(frozen=True)
class PoolRoom:
    """One pool a browser workload may use, in the order the scheduler prefers it (on-demand base first)."""

    name: str
    node: NodeAllocatable
    occupied: tuple[tuple[Resources, int], ...]
    """Pods on the pool at minimum scale (workloads with sidecar, platform pods), as the capacity model counts."""
    min_nodes: int
    max_nodes: int
    hourly: float
    """Price per node-hour at the pool's capacity type."""


@dataclass(frozen=True)
class HeadroomPlacement:
    pool: str
    placeholders: int
    extra_nodes: int
    monthly: float


@dataclass(frozen=True)
class HeadroomCost:
    workload: str
    pods: int
    sessions: int
    placeholder: Resources
    placements: tuple[HeadroomPlacement, ...]
    unplaced: int
    """Placeholders no pool has room for below its maxNodes: they stay Pending and hold nothing."""

    @property
    def monthly(self) -> float:
        return sum(p.monthly for p in self.placements)

    @property
    def extra_nodes(self) -> int:
        return sum(p.extra_nodes for p in self.placements)


def _nodes(pool: PoolRoom, extra: int, placeholder: Resources) -> int | None:
    needed = nodes_needed([*pool.occupied, (placeholder, extra)], pool.node)
    return None if needed is None else max(needed, pool.min_nodes)


def _most(pool: PoolRoom, wanted: int, placeholder: Resources, limit: int) -> int:
    """The most of `wanted` placeholders the pool holds on at most `limit` nodes next to what it runs."""
    low, high = 0, wanted
    while low < high:
        middle = (low + high + 1) // 2
        nodes = _nodes(pool, middle, placeholder)
        if nodes is not None and nodes <= limit:
            low = middle
        else:
            high = middle - 1
    return low


def headroom_cost(workload: str, pods: int, sessions_per_pod: int, placeholder: Resources,
                  pools: Sequence[PoolRoom]) -> HeadroomCost:
    """Where `pods` placeholders land at minimum scale and the nodes they add: first the room left on the nodes
    each pool runs anyway, then new nodes in preference order, up to each pool's maxNodes."""
    placed = {pool.name: 0 for pool in pools}
    remaining = pods
    for pool in pools:  # free room on nodes that run anyway
        base = _nodes(pool, 0, placeholder) or 0
        take = _most(pool, remaining, placeholder, base)
        placed[pool.name] += take
        remaining -= take
    for pool in pools:  # then nodes of their own, up to the pool's ceiling
        if remaining == 0:
            break
        already = placed[pool.name]
        take = _most(pool, already + remaining, placeholder, pool.max_nodes) - already
        placed[pool.name] += max(take, 0)
        remaining -= max(take, 0)
    placements = []
    for pool in pools:
        if not placed[pool.name]:
            continue
        base = _nodes(pool, 0, placeholder) or 0
        extra = max((_nodes(pool, placed[pool.name], placeholder) or base) - base, 0)
        placements.append(HeadroomPlacement(pool.name, placed[pool.name], extra, extra * pool.hourly * HOURS_PER_MONTH))
    return HeadroomCost(workload, pods, pods * sessions_per_pod, placeholder, tuple(placements), remaining)


def wait_for_a_node(provider: Provider) -> tuple[int | None, bool]:
    """(seconds a pod beyond the warm capacity waits for a new node: the autoscaler's reaction plus the node's
    provisioning; whether both parts are official figures). None: no node ever comes (kind)."""
    provisioning = NODE_PROVISIONING[provider]
    reaction = AUTOSCALER_REACTION.seconds
    if provisioning.seconds is None or reaction is None:
        return None, provisioning.official
    reaction_official = provider == "eks"  # GKE publishes no reaction figure for its built-in autoscaler
    return reaction + provisioning.seconds, provisioning.official and reaction_official


def timing_table() -> list[str]:
    """The sourced timing table, one line per provider plus the autoscaler's reaction."""
    lines = [f"  node autoscaler reaction: {AUTOSCALER_REACTION.seconds} s; {AUTOSCALER_REACTION.stated} "
             f"[{AUTOSCALER_REACTION.source}, read {READ_ON}] (GKE publishes no figure for its built-in autoscaler: "
             "ASSUMPTION, the same)"]
    for provider, timing in NODE_PROVISIONING.items():
        seconds = "n/a" if timing.seconds is None else f"{timing.seconds} s"
        source = f" [{timing.source}, read {READ_ON}]" if timing.source else ""
        lines.append(f"  node provisioning {provider}: {seconds}; {timing.stated}{source}")
    return lines
