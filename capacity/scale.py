"""Capacity at scale: nodes, cost per session and the limit that binds first, from 50 to 10,000 sessions.

At a few hundred sessions the binding resource is a node's CPU or memory. At thousands, limits outside the node
bind first: pod addresses in the VPC (EKS: every pod takes a VPC address through the VPC CNI), the pod range per
node (GKE: each node gets a fixed slice of the cluster's pod range), nodes per node group or node pool zone, nodes
per cluster, and the account's vCPU quotas. `scale_points` sizes one browser pool shape at each session count and
names, for each point, every limit with its usage, so the one that binds first is the one closest to 100 %.

The limits are the providers' documented defaults (`LIMIT_SOURCES`, checked on `LIMITS_AS_OF`); vCPU quotas differ
per account and are printed as the figure to request, not as a limit. Nothing here reads stack config:
scripts/capacity_report.py passes the stack's shapes in.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field

from .model import Overheads, binding_resource, default_overheads, node_allocatable, nodes_needed, pods_per_node
from .prices import HOURS_PER_MONTH, INSTANCE_TYPES, InstanceType
from .quantities import PodGroup, Provider, Resources

SCALE_POINTS = (50, 100, 600, 2_000, 10_000)
"""The session counts the report prints (issue 12: from a team's first pool to an enterprise deployment)."""

LIMITS_AS_OF = "2026-12-02"
LIMIT_SOURCES = {
    "eks-quotas": "https://docs.aws.amazon.com/eks/latest/userguide/service-quotas.html",
    "eks-prefix": "https://docs.aws.amazon.com/eks/latest/best-practices/prefix-mode-linux.html",
    "ec2-eni": "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/AvailableIpPerENI.html",
    "gke-quotas": "https://cloud.google.com/kubernetes-engine/quotas",
    "gke-flexible-pod-cidr": "https://cloud.google.com/kubernetes-engine/docs/how-to/flexible-pod-cidr",
}

EKS_NODES_PER_MANAGED_NODE_GROUP = 450
"""EKS service quota "Nodes per managed node group" (adjustable), eks-quotas."""
EKS_PREFIX_MAX_PODS = (110, 250)
"""With prefix delegation, AWS recommends max pods 110 below 30 vCPUs and 250 from 30 vCPUs (eks-prefix)."""
AWS_RESERVED_PER_SUBNET = 5
"""Addresses AWS keeps in every subnet (network, router, DNS, future use, broadcast)."""
GKE_NODES_PER_CLUSTER = 15_000
"""GKE Standard; more than 5,000 needs a cluster-size quota lift from support (gke-quotas)."""
GKE_NODES_NEED_SUPPORT = 5_000
GKE_NODES_PER_POOL_ZONE = 1_000
GKE_PODS_PER_CLUSTER = 200_000
GKE_ENDPOINTS_PER_SERVICE = 10_000
"""Endpoints per Service (GKE 1.24+ with Dataplane V2): the headless browser Service lists every browser pod."""
GCP_RESERVED_PER_SUBNET = 4
STACK_CONFIG = "stack config"

ENI_SHAPES = {"xlarge": (4, 15), "2xlarge": (4, 15), "4xlarge": (8, 30)}
"""(ENIs, IPv4 addresses per ENI) of the general purpose and compute optimized sizes in capacity/prices.py
(ec2-eni); `max_pods` there is ENIs x (addresses - 1) + 2."""


@dataclass(frozen=True)
class Limit:
    name: str
    used: float
    limit: float
    adjustable: bool
    source: str

    @property
    def usage(self) -> float:
        return self.used / self.limit if self.limit else math.inf


@dataclass(frozen=True)
class EksNetwork:
    vpc_cidr: str
    zones: int
    prefix_delegation: bool = False


@dataclass(frozen=True)
class GkeNetwork:
    node_cidr: str
    pods_cidr: str
    zones: int
    max_pods_per_node: int = 110


@dataclass(frozen=True)
class PoolShape:
    """One browser pool and the API pods that serve it, as the stack configures them."""

    instance_type: str
    browser_pod: Resources
    sessions_per_pod: int
    api_pod: Resources
    api_instance_type: str
    sessions_per_api_pod: int
    """Sessions one API pod serves: the stack's maxSessions / the API's maxReplicas."""
    api_min_replicas: int
    spot_share: float = 0.0
    """Share of browser nodes on spot (the burst pool of a base + burst pair)."""
    overheads: Overheads | None = None
    pool_max_nodes: int | None = None
    """The browser pools' maxNodes in the stack config: the first limit to raise, and the user's own."""


@dataclass(frozen=True)
class ScalePoint:
    sessions: int
    browser_pods: int
    browser_nodes: int
    api_pods: int
    api_nodes: int
    monthly: float
    limits: tuple[Limit, ...] = field(default=())
    vcpus: dict[str, int] = field(default_factory=dict)
    """vCPUs per capacity type (onDemand, spot): the quota the account must hold."""
    node_binding: str = "cpu"
    """What fills a browser node first (cpu, memory or pods): it sets how many nodes each session count needs."""
    node_utilization: float = 0.0

    @property
    def nodes(self) -> int:
        return self.browser_nodes + self.api_nodes

    @property
    def per_session(self) -> float:
        return self.monthly / self.sessions

    @property
    def binding(self) -> Limit:
        """The provider limit closest to its ceiling (the stack's own maxNodes is reported apart: it is config)."""
        return max((limit for limit in self.limits if limit.source != STACK_CONFIG), key=lambda limit: limit.usage)

    @property
    def config_limits(self) -> tuple[Limit, ...]:
        return tuple(limit for limit in self.limits if limit.source == STACK_CONFIG)


def _nodes(instance: str, provider: Provider, pod: Resources, count: int, overheads: Overheads | None) -> int:
    node = node_allocatable(instance, provider, overheads or default_overheads(provider))
    needed = nodes_needed([(pod, count)], node)
    if needed is None:
        raise ValueError(f"a pod requesting {pod} does not fit on a {instance} node")
    return needed


def _node_fill(shape: PoolShape, provider: Provider, pods: int, nodes: int) -> tuple[str, float]:
    node = node_allocatable(shape.instance_type, provider, shape.overheads or default_overheads(provider))
    binding = binding_resource(shape.browser_pod, node)
    used = {"cpu": shape.browser_pod.cpu_m * pods / max(node.available.cpu_m * nodes, 1),
            "memory": shape.browser_pod.memory_bytes * pods / max(node.available.memory_bytes * nodes, 1),
            "pods": pods / max(node.pod_slots * nodes, 1)}
    return binding, used[binding]


def _usable(cidr: str, parts: int, reserved: int) -> int:
    network = ipaddress.ip_network(cidr)
    return parts * (network.num_addresses // parts - reserved)


def eks_addresses_per_node(instance: InstanceType, pods: int, prefix_delegation: bool) -> int:
    """VPC addresses one node holds for `pods` pods with the VPC CNI's defaults (WARM_ENI_TARGET=1: the ENIs its
    pods need plus one warm ENI; with prefix delegation, /28 prefixes of 16 plus one warm prefix)."""
    if prefix_delegation:
        return (math.ceil(pods / 16) + 1) * 16 + 1
    enis, per_eni = ENI_SHAPES.get(instance.name.split(".")[-1], (4, 15))
    needed = math.ceil(pods / (per_eni - 1)) if pods else 1
    return min(needed + 1, enis) * per_eni


def _eks_limits(shape: PoolShape, network: EksNetwork, browser_nodes: int, api_nodes: int,
                browser_pods: int, api_pods: int) -> list[Limit]:
    browser = INSTANCE_TYPES[shape.instance_type]
    api = INSTANCE_TYPES[shape.api_instance_type]
    per_node = math.ceil(browser_pods / max(browser_nodes, 1))
    max_pods = browser.max_pods
    if network.prefix_delegation:
        max_pods = EKS_PREFIX_MAX_PODS[0] if browser.vcpu < 30 else EKS_PREFIX_MAX_PODS[1]
    addresses = (browser_nodes * eks_addresses_per_node(browser, per_node, network.prefix_delegation)
                 + api_nodes * eks_addresses_per_node(api, math.ceil(api_pods / max(api_nodes, 1)),
                                                      network.prefix_delegation))
    # The cluster's subnet layout (components/clusters/eks.py): each zone's private subnet is a quarter of the VPC.
    private = ipaddress.ip_network(network.vpc_cidr).num_addresses // 4
    subnet_capacity = network.zones * (private - AWS_RESERVED_PER_SUBNET)
    spot_nodes = math.ceil(browser_nodes * shape.spot_share)
    return [
        Limit("pods per browser node (kubelet max-pods)", per_node, max_pods, False,
              "eks-prefix" if network.prefix_delegation else "ec2-eni"),
        Limit("VPC addresses in the private subnets", addresses, subnet_capacity, False, "ec2-eni"),
        Limit("nodes per managed node group", max(spot_nodes, browser_nodes - spot_nodes),
              EKS_NODES_PER_MANAGED_NODE_GROUP, True, "eks-quotas"),
    ]


def _gke_limits(shape: PoolShape, network: GkeNetwork, browser_nodes: int, api_nodes: int,
                browser_pods: int, api_pods: int) -> list[Limit]:
    nodes = browser_nodes + api_nodes
    per_node = math.ceil(browser_pods / max(browser_nodes, 1))
    # Each node gets the smallest range holding twice its max pods (110 -> /24): gke-flexible-pod-cidr.
    per_node_range = 2 ** math.ceil(math.log2(2 * network.max_pods_per_node))
    pod_range_nodes = ipaddress.ip_network(network.pods_cidr).num_addresses // per_node_range
    node_range_nodes = ipaddress.ip_network(network.node_cidr).num_addresses - GCP_RESERVED_PER_SUBNET
    spot_nodes = math.ceil(browser_nodes * shape.spot_share)
    per_zone = math.ceil(max(spot_nodes, browser_nodes - spot_nodes) / network.zones)
    return [
        Limit("pods per browser node (max pods per node)", per_node, network.max_pods_per_node, False,
              "gke-flexible-pod-cidr"),
        Limit("nodes the pod range can address", nodes, pod_range_nodes, False, "gke-flexible-pod-cidr"),
        Limit("nodes the node subnet can address", nodes, node_range_nodes, False, "gke-quotas"),
        Limit("nodes per node pool zone", per_zone, GKE_NODES_PER_POOL_ZONE, False, "gke-quotas"),
        Limit("nodes per cluster without a support request", nodes, GKE_NODES_NEED_SUPPORT, True, "gke-quotas"),
        Limit("pods per cluster", browser_pods + api_pods, GKE_PODS_PER_CLUSTER, False, "gke-quotas"),
        Limit("endpoints of the headless browser Service", browser_pods, GKE_ENDPOINTS_PER_SERVICE, False,
              "gke-quotas"),
    ]


def scale_point(shape: PoolShape, provider: Provider, network: EksNetwork | GkeNetwork, sessions: int) -> ScalePoint:
    browser_pods = math.ceil(sessions / shape.sessions_per_pod)
    api_pods = max(shape.api_min_replicas, math.ceil(sessions / shape.sessions_per_api_pod))
    browser_nodes = _nodes(shape.instance_type, provider, shape.browser_pod, browser_pods, shape.overheads)
    api_nodes = _nodes(shape.api_instance_type, provider, shape.api_pod, api_pods, shape.overheads)
    browser, api = INSTANCE_TYPES[shape.instance_type], INSTANCE_TYPES[shape.api_instance_type]
    spot_nodes = math.floor(browser_nodes * shape.spot_share)
    hourly = ((browser_nodes - spot_nodes) * browser.on_demand_hourly + spot_nodes * browser.spot_hourly
              + api_nodes * api.on_demand_hourly)
    if isinstance(network, EksNetwork):
        limits = _eks_limits(shape, network, browser_nodes, api_nodes, browser_pods, api_pods)
    else:
        limits = _gke_limits(shape, network, browser_nodes, api_nodes, browser_pods, api_pods)
    if shape.pool_max_nodes is not None:
        limits.insert(0, Limit("browser pools' maxNodes", browser_nodes, shape.pool_max_nodes, True, STACK_CONFIG))
    vcpus = {"onDemand": (browser_nodes - spot_nodes) * browser.vcpu + api_nodes * api.vcpu,
             "spot": spot_nodes * browser.vcpu}
    binding, utilization = _node_fill(shape, provider, browser_pods, browser_nodes)
    return ScalePoint(sessions, browser_pods, browser_nodes, api_pods, api_nodes, hourly * HOURS_PER_MONTH,
                      tuple(limits), vcpus, binding, utilization)


def scale_points(shape: PoolShape, provider: Provider, network: EksNetwork | GkeNetwork,
                 sessions: tuple[int, ...] = SCALE_POINTS) -> list[ScalePoint]:
    return [scale_point(shape, provider, network, count) for count in sessions]


@dataclass(frozen=True)
class Proposal:
    instance_type: str
    per_session: float
    """USD per session per month at the pool's maximum replicas and its capacity type's price (API: per pod)."""
    binding_resource: str
    utilization: float


def propose_instance_type(pod: PodGroup, provider: Provider, overheads: Overheads | None = None,
                          cloud_types: list[InstanceType] | None = None, threshold: float = 0.9,
                          spot: bool = False) -> Proposal | None:
    """The instance type with the lowest cost per session (on-demand, or spot for a spot pool) for `pod` at its
    maximum replicas, among those whose binding resource is at least `threshold` used on the nodes it needs
    (a type that strands more than a
    tenth of a node is not proposed, however cheap). None when no type qualifies."""
    cloud = {"eks": "aws", "gke": "gcp"}.get(provider)
    candidates = cloud_types or [t for t in INSTANCE_TYPES.values() if t.cloud == cloud]
    best: Proposal | None = None
    sessions = max(pod.max_replicas * pod.sessions_per_pod, 1)
    overheads = overheads or default_overheads(provider)
    requests = pod.requests + overheads.per_pod
    for candidate in candidates:
        node = node_allocatable(candidate, provider, overheads)
        per_node = pods_per_node(requests, node)
        if per_node == 0:
            continue
        nodes = math.ceil(pod.max_replicas / per_node)
        ratios = {"cpu": requests.cpu_m * pod.max_replicas / (node.available.cpu_m * nodes),
                  "memory": requests.memory_bytes * pod.max_replicas / (node.available.memory_bytes * nodes),
                  "pods": pod.max_replicas / (node.pod_slots * nodes)}
        binding = max(ratios, key=lambda key: ratios[key])
        if ratios[binding] < threshold:
            continue
        hourly = candidate.spot_hourly if spot else candidate.on_demand_hourly
        cost = nodes * hourly * HOURS_PER_MONTH / sessions
        if best is None or cost < best.per_session:
            best = Proposal(candidate.name, cost, binding, ratios[binding])
    return best
