"""Capacity model: how many pods fit on a node, how many nodes a pool needs, and what that costs.

Pure Python (no Pulumi, no pydantic, no `stack_config` import), so the CrossGuard policy pack, the stack
config validators and the `python -m scripts.capacity_report` command all use the same arithmetic.

Units: CPU in millicores (int), memory in bytes (int), prices in USD. The instance table and its prices live
in `capacity.prices` (dated by `PRICES_AS_OF`; list prices for us-east-1 / us-central1, refresh them).

API (stable; the policy pack imports it):

- `Resources(cpu_m, memory_bytes)`, `Resources.of("500m", "512Mi")`; `parse_cpu`, `parse_memory`.
- `instance_type(name) -> InstanceType` (vcpu, memory_gib, on_demand_hourly, spot_hourly, max_pods, cloud);
  raises `UnknownInstanceTypeError` (a KeyError). `INSTANCE_TYPES` is the whole table; `"kind"` is the local node.
- `system_reserve(instance, provider) -> Reserve`: kube/system reserve and eviction threshold per provider
  (`"eks"`: AL2023, memory 255Mi + 11Mi x max pods, CPU 6%/1%/0.5%/0.25% tiers, eviction 100Mi;
  `"gke"`: memory 25%/20%/10%/6%/2% tiers, the same CPU tiers, eviction 100Mi; `"kind"`: 200m / 500Mi, an
  assumption taken from the seeds, see `KIND_SYSTEM_RESERVE`).
- `default_overheads(provider, mesh=False, monitoring=True) -> Overheads`: the provider's daemonsets, plus
  istio-cni when the mesh is on, plus node-exporter when monitoring is on, and the per-pod sidecar
  (`Overheads.per_pod`). Adjust with `dataclasses.replace`.
- `node_allocatable(instance, provider=None, overheads=None) -> NodeAllocatable`: capacity, reserve,
  `allocatable` (what the kubelet reports), `daemonsets`, `available` (for workload pods), `pod_slots`.
- `pods_per_node(pod_requests, node) -> int`, `binding_resource(pod_requests, node) -> "cpu"|"memory"|"pods"`.
- `nodes_needed([(requests, count), ...], node) -> int | None` (first-fit decreasing; None: a pod never fits).
- `pool_capacity(instance, [PodGroup(...)], min_nodes=, max_nodes=, provider=, capacity_type=, overheads=,
  pool=, extra_pods=, platform_pods=) -> PoolCapacity`: per workload pods per node and sessions, nodes needed at
  min and max scale (the platform services' `platform_pods` included, without sidecar), binding resource and its
  utilization, `monthly(nodes, capacity_type)`, `problems` / `fits`.
- `fits(instance, [(requests, count), ...], max_nodes, provider=None, overheads=None, extra_pods=()) -> FitResult`:
  truthy when the pods (own requests; the sidecar is added when `overheads.mesh`) and `extra_pods` (as they are)
  fit on `max_nodes` nodes; `.message` says what would fit. This is the check the policy pack and the config
  validator share.
- `platform_layers(flavor, mesh=, monitoring=, keda=, tls=, highly_available=None, gateway=None)
  -> tuple[PlatformLayer, ...]`: the platform services' own pods (istiod, gateway, Prometheus, Grafana, KEDA,
  cert-manager, metrics-server, cluster-autoscaler ...), one layer per service, at the requests and replicas
  their chart values set (`capacity.platform_services` is the one source both the components and the model read).
- `control_plane_monthly(provider)`, `HOURS_PER_MONTH` (730); `MI`, `GI` (bytes).
- `capacity.nat`: Cloud NAT source ports per VM from browser sessions per node (`cloud_nat_ports`,
  `ports_needed`, `dynamic_bounds_problems`; 256 connections per session at peak).

Example::

    from capacity import Resources, default_overheads, fits
    result = fits("c6i.2xlarge", [(Resources.of("2", "4Gi"), 20)], max_nodes=10,
                  overheads=default_overheads("eks", mesh=True))
    assert result, result.message
"""

from .model import (
    CLOUD_PROVIDER,
    EVICTION_HARD_MEMORY,
    GI,
    ISTIO_CNI,
    ISTIO_SIDECAR,
    KIND_SYSTEM_RESERVE,
    MI,
    MONITORING_STACK,
    NODE_EXPORTER,
    PROVIDER_DAEMONSETS,
    ZERO,
    CapacityType,
    DaemonSet,
    FitResult,
    NodeAllocatable,
    Overheads,
    PodGroup,
    PoolCapacity,
    Provider,
    Reserve,
    Resources,
    WorkloadFit,
    binding_resource,
    control_plane_monthly,
    default_overheads,
    fits,
    node_allocatable,
    nodes_needed,
    parse_cpu,
    parse_memory,
    pod_requests,
    pods_per_node,
    pool_capacity,
    system_reserve,
)
from .platform_services import PlatformLayer, PlatformPod, Replicas, Requests, layers_total, platform_layers
from .prices import (
    CONTROL_PLANE_HOURLY,
    HOURS_PER_MONTH,
    INSTANCE_TYPES,
    PRICE_REGIONS,
    PRICES_AS_OF,
    InstanceType,
    UnknownInstanceTypeError,
    instance_type,
)

__all__ = [
    "CLOUD_PROVIDER", "CONTROL_PLANE_HOURLY", "EVICTION_HARD_MEMORY", "GI", "HOURS_PER_MONTH", "INSTANCE_TYPES",
    "ISTIO_CNI", "ISTIO_SIDECAR", "KIND_SYSTEM_RESERVE", "MI", "MONITORING_STACK", "NODE_EXPORTER", "PRICES_AS_OF",
    "PRICE_REGIONS", "PROVIDER_DAEMONSETS", "ZERO", "CapacityType", "DaemonSet", "FitResult", "InstanceType",
    "NodeAllocatable", "Overheads", "PlatformLayer", "PlatformPod", "PodGroup", "PoolCapacity", "Provider",
    "Replicas", "Requests", "Reserve", "Resources", "UnknownInstanceTypeError", "WorkloadFit", "binding_resource",
    "control_plane_monthly", "default_overheads", "fits", "instance_type", "layers_total", "node_allocatable",
    "nodes_needed", "parse_cpu", "parse_memory", "platform_layers", "pod_requests", "pods_per_node", "pool_capacity",
    "system_reserve",
]
