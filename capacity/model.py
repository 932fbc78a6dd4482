"""Node allocatable, pods per node and pool capacity: the arithmetic behind `capacity` (see its docstring)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

from . import platform_services
from .prices import CONTROL_PLANE_HOURLY, HOURS_PER_MONTH, InstanceType
from .prices import instance_type as lookup_instance_type
from .quantities import GI as GI  # re-exported: these lived here before capacity/quantities.py
from .quantities import MI, ZERO, DaemonSet, PodGroup, Provider, Resources
from .quantities import parse_cpu as parse_cpu
from .quantities import parse_memory as parse_memory

CapacityType = Literal["onDemand", "spot"]
CLOUD_PROVIDER: dict[str, Provider] = {"aws": "eks", "gcp": "gke", "kind": "kind", "existing": "existing"}


# --- what the kubelet keeps back ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reserve:
    """kube-reserved + system-reserved (`cpu_m`, `memory_bytes`) and the hard eviction threshold for memory."""

    cpu_m: int
    memory_bytes: int
    eviction_memory_bytes: int

    @property
    def total(self) -> Resources:
        return Resources(self.cpu_m, self.memory_bytes + self.eviction_memory_bytes)


def _cpu_reserve_m(vcpu: int) -> int:
    """The CPU tiers EKS (AL2023 nodeadm) and GKE share: 6% of the first core, 1% of the second,
    0.5% of the third and fourth, 0.25% of every core above four; rounded up to a millicore."""
    cores = Fraction(vcpu)
    tiers = [(Fraction(1), Fraction(6, 100)), (Fraction(1), Fraction(1, 100)), (Fraction(2), Fraction(5, 1000))]
    reserved = Fraction(0)
    for size, rate in tiers:
        take = min(cores, size)
        reserved += take * rate
        cores -= take
    reserved += max(cores, Fraction(0)) * Fraction(25, 10000)
    return math.ceil(reserved * 1000)


def _gke_memory_reserve(memory_bytes: int) -> int:
    """GKE Standard: 255 MiB below 1 GiB; otherwise 25% of the first 4 GiB, 20% of the next 4 GiB,
    10% of the next 8 GiB, 6% of the next 112 GiB and 2% of everything above 128 GiB; rounded up."""
    if memory_bytes < GI:
        return 255 * MI
    remaining = Fraction(memory_bytes)
    reserved = Fraction(0)
    for size_gib, rate in [(4, Fraction(25, 100)), (4, Fraction(20, 100)), (8, Fraction(10, 100)), (112, Fraction(6, 100))]:
        take = min(remaining, Fraction(size_gib * GI))
        reserved += take * rate
        remaining -= take
    reserved += remaining * Fraction(2, 100)
    return math.ceil(reserved)


EVICTION_HARD_MEMORY = 100 * MI
"""`memory.available<100Mi`: the hard eviction threshold the EKS AMIs and GKE set (and the kubelet default)."""

KIND_SYSTEM_RESERVE = Resources(200, 500 * MI)
"""kind sets no kube/system reserve and turns memory eviction off (it overrides `evictionHard`), so the
kubelet reports the whole Docker host as allocatable. The model instead keeps back the seeds' measured
"Kubernetes system: ~500MB RAM, ~200m CPU per node", because on a laptop those processes share the host."""


def system_reserve(instance: InstanceType | str, provider: Provider | None = None) -> Reserve:
    """What the kubelet subtracts from capacity to get Allocatable on `provider`'s default node image.

    - eks (AL2023 nodeadm): memory 255Mi + 11Mi per pod the node may run (`max_pods`); CPU tiers as
      `_cpu_reserve_m`; eviction at 100Mi.
    - gke (Standard, COS): memory tiers as `_gke_memory_reserve`; the same CPU tiers; eviction at 100Mi.
    - kind: `KIND_SYSTEM_RESERVE` (an assumption, see there); no eviction threshold.
    - existing: none for a declared shape (its figures are Allocatable already); for a type of the table, GKE's
      tiers, the largest of the documented reserves (AKS's memory tiers before 1.29 are the same).
    """
    spec = lookup_instance_type(instance) if isinstance(instance, str) else instance
    provider = provider or CLOUD_PROVIDER[spec.cloud]
    memory = int(spec.memory_gib * GI)
    if provider == "existing":
        if spec.cloud == "existing":
            return Reserve(0, 0, 0)
        provider = "gke"
    if provider == "eks":
        return Reserve(_cpu_reserve_m(spec.vcpu), (255 + 11 * spec.max_pods) * MI, EVICTION_HARD_MEMORY)
    if provider == "gke":
        return Reserve(_cpu_reserve_m(spec.vcpu), _gke_memory_reserve(memory), EVICTION_HARD_MEMORY)
    return Reserve(KIND_SYSTEM_RESERVE.cpu_m, KIND_SYSTEM_RESERVE.memory_bytes, 0)


# --- what runs on every node besides the workloads -------------------------------------------------------------


def existing_daemonsets(cpu_m: int, memory_bytes: int, pods: int) -> tuple[DaemonSet, ...]:
    """An existing cluster's own DaemonSets as declared in sum: the requests on the first, a pod slot for each."""
    if pods == 0:
        return ()
    first = DaemonSet("cluster-daemonsets", Resources(cpu_m, memory_bytes))
    return (first, *(DaemonSet(f"cluster-daemonset-{index}", ZERO) for index in range(2, pods + 1)))


PROVIDER_DAEMONSETS: dict[Provider, tuple[DaemonSet, ...]] = {
    # Requests of the default add-ons (chart / add-on defaults, rounded); refresh with
    # `kubectl get ds -A -o jsonpath='{..resources.requests}'` on a fresh cluster.
    "eks": (
        DaemonSet("aws-node", Resources.of("25m", 0)),
        DaemonSet("kube-proxy", Resources.of("100m", 0)),
        DaemonSet("ebs-csi-node", Resources.of("30m", "120Mi")),
        DaemonSet("eks-pod-identity-agent", Resources.of("0", 0)),
    ),
    "gke": (
        DaemonSet("kube-proxy", Resources.of("100m", 0)),
        DaemonSet("fluentbit-gke", Resources.of("100m", "200Mi")),
        DaemonSet("gke-metrics-agent", Resources.of("8m", "110Mi")),
        DaemonSet("pdcsi-node", Resources.of("10m", "20Mi")),
        DaemonSet("netd", Resources.of("2m", "30Mi")),
    ),
    "kind": (
        DaemonSet("kindnet", Resources.of("100m", "50Mi")),
        DaemonSet("kube-proxy", Resources.of("0", 0)),
    ),
    # Unknown agents: the defaults of `cluster.nodeDaemonsets` (stack_config/cluster.py NodeDaemonsets, which
    # replaces them with the declared figures; a test keeps the two in step): 4 pods, 300m and 400Mi in all.
    "existing": existing_daemonsets(300, 400 * MI, 4),
}

ISTIO_CNI = DaemonSet("istio-cni-node", platform_services.ISTIO_CNI_NODE.resources)
"""Istio's CNI node agent (sidecar mode), at the requests components/services/mesh.py sets (`capacity.platform_services`)."""

ISTIO_SIDECAR = Resources.of("100m", "128Mi")
"""The istio-proxy sidecar's default requests (`global.proxy.resources`). The seeds measured ~10m / ~50MB of
use; the scheduler reserves the requests, which is what capacity is about."""

NODE_EXPORTER = DaemonSet("node-exporter", platform_services.NODE_EXPORTER.resources)
"""Prometheus node-exporter, at the requests components/services/monitoring.py sets (`capacity.platform_services`)."""

MONITORING_STACK = Resources.of("500m", "1Gi")
"""The seeds' "Monitoring: ~1GB RAM, ~500m CPU total" (Prometheus, Grafana, Alertmanager). Kept for callers
that pass it to `pool_capacity(extra_pods=...)`; the platform now counts the monitoring pods the chart values
really request (`capacity.platform_services`, layer "monitoring"), which is several times this."""


@dataclass(frozen=True)
class Overheads:
    """Everything on a node besides the workloads' own containers. Build with `default_overheads` and
    adjust with `dataclasses.replace` (e.g. a smaller sidecar, another daemonset)."""

    daemonsets: tuple[DaemonSet, ...]
    mesh: bool = False
    monitoring: bool = True
    mesh_daemonsets: tuple[DaemonSet, ...] = (ISTIO_CNI,)
    monitoring_daemonsets: tuple[DaemonSet, ...] = (NODE_EXPORTER,)
    sidecar: Resources = ISTIO_SIDECAR

    @property
    def node_daemonsets(self) -> tuple[DaemonSet, ...]:
        return (self.daemonsets + (self.mesh_daemonsets if self.mesh else ())
                + (self.monitoring_daemonsets if self.monitoring else ()))

    @property
    def per_pod(self) -> Resources:
        """Added to every workload pod: the sidecar when the mesh is on."""
        return self.sidecar if self.mesh else ZERO


def default_overheads(provider: Provider, *, mesh: bool = False, monitoring: bool = True) -> Overheads:
    return Overheads(daemonsets=PROVIDER_DAEMONSETS[provider], mesh=mesh, monitoring=monitoring)


# --- one node --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeAllocatable:
    instance: InstanceType
    provider: Provider
    capacity: Resources
    reserve: Reserve
    allocatable: Resources
    """What the kubelet reports as Allocatable: capacity - reserves - eviction threshold."""
    daemonsets: Resources
    available: Resources
    """Allocatable minus the daemonsets' requests: what the workload pods can request."""
    pod_slots: int
    """max_pods minus the daemonset pods."""


def _resolve(instance: InstanceType | str, provider: Provider | None) -> tuple[InstanceType, Provider]:
    spec = lookup_instance_type(instance) if isinstance(instance, str) else instance
    expected = CLOUD_PROVIDER[spec.cloud]
    if provider == "existing":
        return spec, provider  # an existing cluster's nodes: a declared shape or any type of the table
    if provider is not None and provider != expected:
        raise ValueError(f"instance type '{spec.name}' belongs to {expected}, not {provider}")
    return spec, expected


def node_allocatable(instance: InstanceType | str, provider: Provider | None = None,
                     overheads: Overheads | None = None) -> NodeAllocatable:
    """One node of `instance` on `provider` (inferred from the type when omitted): capacity, the kubelet's
    reserve, Allocatable, the daemonsets' requests and what is left for workload pods."""
    spec, provider = _resolve(instance, provider)
    overheads = overheads or default_overheads(provider)
    cpu_m = spec.allocatable_cpu_m if spec.allocatable_cpu_m is not None else spec.vcpu * 1000
    capacity = Resources(cpu_m, int(spec.memory_gib * GI))
    reserve = system_reserve(spec, provider)
    allocatable = capacity - reserve.total
    daemonsets = ZERO
    for daemonset in overheads.node_daemonsets:
        daemonsets = daemonsets + daemonset.requests
    available = allocatable - daemonsets
    return NodeAllocatable(spec, provider, capacity, reserve, allocatable, daemonsets,
                           Resources(max(available.cpu_m, 0), max(available.memory_bytes, 0)),
                           max(spec.max_pods - len(overheads.node_daemonsets), 0))


def pods_per_node(pod: Resources, node: NodeAllocatable) -> int:
    """How many pods requesting `pod` (sidecar included, see `Overheads.per_pod`) fit on an empty node."""
    by_cpu = node.available.cpu_m // pod.cpu_m if pod.cpu_m else node.pod_slots
    by_memory = node.available.memory_bytes // pod.memory_bytes if pod.memory_bytes else node.pod_slots
    return max(min(by_cpu, by_memory, node.pod_slots), 0)


def binding_resource(pod: Resources, node: NodeAllocatable) -> str:
    """Which of cpu, memory and pods limits `pods_per_node` (ties: cpu, then memory)."""
    by_cpu = node.available.cpu_m // pod.cpu_m if pod.cpu_m else node.pod_slots
    by_memory = node.available.memory_bytes // pod.memory_bytes if pod.memory_bytes else node.pod_slots
    least = min(by_cpu, by_memory, node.pod_slots)
    return "cpu" if by_cpu == least else "memory" if by_memory == least else "pods"


def nodes_needed(pods: Sequence[tuple[Resources, int]], node: NodeAllocatable) -> int | None:
    """Nodes that hold `count` pods of each shape (first-fit decreasing); None if some pod fits on no node.

    For a single shape this is exactly `ceil(count / pods_per_node)`.
    """
    flat = [shape for shape, count in pods for _ in range(count)]
    if not flat:
        return 0
    if any(pods_per_node(shape, node) == 0 for shape in flat):
        return None
    if len({shape for shape, _ in pods if _ > 0}) == 1:
        return math.ceil(len(flat) / pods_per_node(flat[0], node))
    avail = node.available

    def weight(shape: Resources) -> float:
        return max(shape.cpu_m / max(avail.cpu_m, 1), shape.memory_bytes / max(avail.memory_bytes, 1))

    bins: list[list[int]] = []  # remaining cpu, memory, slots
    for shape in sorted(flat, key=weight, reverse=True):
        for free in bins:
            if free[0] >= shape.cpu_m and free[1] >= shape.memory_bytes and free[2] >= 1:
                free[0] -= shape.cpu_m
                free[1] -= shape.memory_bytes
                free[2] -= 1
                break
        else:
            bins.append([avail.cpu_m - shape.cpu_m, avail.memory_bytes - shape.memory_bytes, node.pod_slots - 1])
    return len(bins)


# --- a pool ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkloadFit:
    name: str
    pod: Resources
    """Requests per pod as scheduled: the containers plus the sidecar when the mesh is on."""
    pods_per_node: int
    binding_resource: str
    min_replicas: int
    max_replicas: int
    sessions_at_min: int
    sessions_at_max: int


@dataclass(frozen=True)
class PoolCapacity:
    pool: str
    node: NodeAllocatable
    capacity_type: CapacityType
    min_nodes: int
    max_nodes: int
    workloads: tuple[WorkloadFit, ...]
    nodes_needed_min: int | None
    """Nodes that hold every workload at its minimum replicas (None: a pod fits on no node)."""
    nodes_needed_max: int | None
    """Nodes that hold every workload at its maximum replicas (plus `extra_pods` and `platform_pods`)."""
    binding_resource: str
    utilization: float
    """Requests / available of the binding resource on `nodes_needed_max` nodes at maximum scale."""
    problems: tuple[str, ...] = field(default=())
    platform_pods: tuple[PodGroup, ...] = field(default=())
    """The platform services' pods counted on this pool (no sidecar; min replicas at min scale, max at max)."""

    @property
    def fits(self) -> bool:
        return not self.problems

    @property
    def sessions_at_min(self) -> int:
        return sum(w.sessions_at_min for w in self.workloads)

    @property
    def sessions_at_max(self) -> int:
        return sum(w.sessions_at_max for w in self.workloads)

    @property
    def hourly_on_demand(self) -> float:
        return self.node.instance.on_demand_hourly

    @property
    def hourly_spot(self) -> float:
        return self.node.instance.spot_hourly

    @property
    def nodes_at_min_scale(self) -> int:
        """Nodes the pool runs with every workload at its minimum replicas: what those pods need, at least
        `min_nodes` (the autoscaler never goes below it), at most `max_nodes`."""
        return min(max(self.min_nodes, self.nodes_needed_min or 0), self.max_nodes)

    @property
    def nodes_at_max_scale(self) -> int:
        """Nodes the pool runs with every workload at its maximum replicas (the autoscaler adds no more than
        the pods need, so `max_nodes` is only the ceiling)."""
        return min(max(self.min_nodes, self.nodes_needed_max or 0), self.max_nodes)

    def monthly(self, nodes: int, capacity_type: CapacityType | None = None) -> float:
        """USD per month (730 h) for `nodes` nodes at the pool's (or the given) price."""
        kind = capacity_type or self.capacity_type
        return nodes * HOURS_PER_MONTH * (self.hourly_spot if kind == "spot" else self.hourly_on_demand)


def _utilization(pods: Sequence[tuple[Resources, int]], node: NodeAllocatable, nodes: int) -> tuple[str, float]:
    if nodes <= 0:
        return "cpu", 0.0
    total = ZERO
    count = 0
    for shape, n in pods:
        total = total + shape.times(n)
        count += n
    ratios = {
        "cpu": total.cpu_m / max(node.available.cpu_m * nodes, 1),
        "memory": total.memory_bytes / max(node.available.memory_bytes * nodes, 1),
        "pods": count / max(node.pod_slots * nodes, 1),
    }
    name = max(ratios, key=lambda key: ratios[key])
    return name, ratios[name]


def pool_capacity(instance: InstanceType | str, workloads: Sequence[PodGroup], *, min_nodes: int, max_nodes: int,
                  provider: Provider | None = None, capacity_type: CapacityType = "onDemand",
                  overheads: Overheads | None = None, pool: str = "pool",
                  extra_pods: Sequence[Resources] = (), platform_pods: Sequence[PodGroup] = ()) -> PoolCapacity:
    """The capacity report of one node pool carrying `workloads`, plus `extra_pods` (one pod each, placed as they
    are) and `platform_pods` (the platform services' pods, `capacity.platform_services`: placed as they are, no
    sidecar, at their minimum replicas at min scale and their maximum at max scale). `problems` lists why the
    pool cannot hold them all at maximum scale."""
    spec, provider = _resolve(instance, provider)
    overheads = overheads or default_overheads(provider)
    node = node_allocatable(spec, provider, overheads)
    fits_list: list[WorkloadFit] = []
    problems: list[str] = []
    at_min: list[tuple[Resources, int]] = [(extra, 1) for extra in extra_pods]
    at_max: list[tuple[Resources, int]] = list(at_min)
    for group in platform_pods:
        if pods_per_node(group.requests, node) == 0:
            problems.append(f"one {group.name} pod ({group.requests}) does not fit on an empty {spec.name} node, "
                            f"which has {node.available} for pods")
        at_min.append((group.requests, group.min_replicas))
        at_max.append((group.requests, group.max_replicas))
    for group in workloads:
        pod = group.requests + overheads.per_pod
        per_node = pods_per_node(pod, node)
        fits_list.append(WorkloadFit(group.name, pod, per_node, binding_resource(pod, node), group.min_replicas,
                                     group.max_replicas, group.min_replicas * group.sessions_per_pod,
                                     group.max_replicas * group.sessions_per_pod))
        if per_node == 0:
            problems.append(f"one {group.name} pod ({pod}) does not fit on an empty {spec.name} node, "
                            f"which has {node.available} for pods")
        at_min.append((pod, group.min_replicas))
        at_max.append((pod, group.max_replicas))
    needed_min = nodes_needed(at_min, node)
    needed_max = nodes_needed(at_max, node)
    if needed_max is not None and needed_max > max_nodes:
        problems.append(f"{needed_max} {spec.name} nodes are needed at maximum scale, but maxNodes is {max_nodes}")
    binding, utilization = _utilization(at_max, node, needed_max or 0)
    return PoolCapacity(pool, node, capacity_type, min_nodes, max_nodes, tuple(fits_list), needed_min, needed_max,
                        binding, utilization, tuple(problems), tuple(platform_pods))


@dataclass(frozen=True)
class FitResult:
    ok: bool
    nodes_needed: int | None
    max_nodes: int
    message: str

    def __bool__(self) -> bool:
        return self.ok


def fits(instance: InstanceType | str, pods: Sequence[tuple[Resources, int]], max_nodes: int, *,
         provider: Provider | None = None, overheads: Overheads | None = None,
         extra_pods: Sequence[tuple[Resources, int]] = ()) -> FitResult:
    """Whether `count` pods of each requests shape (own containers; the sidecar is added when
    `overheads.mesh`) fit on `max_nodes` nodes of `instance`, together with `extra_pods` (counted as they are,
    no sidecar: e.g. the platform services' pods, `platform_services.platform_layers(...)` groups at their
    maximum replicas). The message says what would fit."""
    spec, provider = _resolve(instance, provider)
    overheads = overheads or default_overheads(provider)
    node = node_allocatable(spec, provider, overheads)
    shaped = [(shape + overheads.per_pod, count) for shape, count in pods]
    shaped += [(shape, count) for shape, count in extra_pods]
    needed = nodes_needed(shaped, node)
    if needed is None:
        too_big = next(shape for shape, _ in shaped if pods_per_node(shape, node) == 0)
        return FitResult(False, None, max_nodes,
                         f"a pod requesting {too_big} does not fit on a {spec.name} node ({node.available} available "
                         "for pods after system reserve and daemonsets)")
    if needed > max_nodes:
        per_node = ", ".join(f"{pods_per_node(shape, node)} x {shape}" for shape, _ in shaped)
        return FitResult(False, needed, max_nodes,
                         f"needs {needed} {spec.name} nodes but at most {max_nodes} are allowed "
                         f"(one node fits {per_node})")
    return FitResult(True, needed, max_nodes, f"fits on {needed} of {max_nodes} {spec.name} nodes")


def control_plane_monthly(provider: Provider) -> float:
    return CONTROL_PLANE_HOURLY[provider] * HOURS_PER_MONTH


def pod_requests(container_requests: Resources, overheads: Overheads) -> Resources:
    """A pod's requests as the scheduler sees them: its containers plus the sidecar when the mesh is on."""
    return container_requests + overheads.per_pod
