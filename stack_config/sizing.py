"""The stack config seen through the capacity model: per pool, which workloads it carries and whether they fit.

`PlatformConfig` calls `size_pools` while validating. For the pool of a browser workload sized by
`maxSessions` (and `minSessions`): if it does not write `maxNodes` (`minNodes`), they are derived from the
capacity model; if it writes a `maxNodes` that cannot hold its workloads at maximum scale, or a pod fits on
no node of its type, the config is rejected with the key path and what would fit. Pools of workloads with raw
replica bounds are validated as before, except that a pod larger than a cloud node is rejected (the report
and the policy pack show whether they fit). `pool_plans` gives `python -m capacity.report` the same view.

The pool's node type is its first `instanceTypes` entry (the type the autoscaler starts with); kind pools use
the `kind` node of the capacity table. A pool with a type the table does not know is not checked. A workload
whose nodeSelector matches several pools is not checked against any one of them (its pods may spread).

The platform services' own pods (istiod, the ingress gateway, Prometheus, Grafana, KEDA, cert-manager,
metrics-server, cluster-autoscaler; `capacity.platform_services`, the numbers the charts are given) tolerate no
taint of ours, so they are counted on the first pool without a NoSchedule/NoExecute taint (cluster-autoscaler on
the first untainted on-demand pool, where its nodeSelector pins it); `ClusterBase` rejects a config without
such a pool. On that pool they count towards the derived node bounds of a session-sized pool and towards its
`maxNodes` check, and one of them larger than a cloud node of the pool's type is rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from capacity import (
    CLOUD_PROVIDER,
    INSTANCE_TYPES,
    Overheads,
    PlatformLayer,
    PodGroup,
    PoolCapacity,
    Provider,
    Resources,
    default_overheads,
    platform_layers,
    pods_per_node,
    pool_capacity,
)

from .base import ConfigFieldError
from .cluster import NodePool
from .workloads import BrowserWorkload, WorkloadBase

if TYPE_CHECKING:
    from .platform import PlatformConfig


def _enabled(config: Any, name: str) -> bool | None:
    """Whether the add-on `name` (mesh, monitoring) is switched on, wherever the config keeps it; None: no such key."""
    for holder in (config, getattr(config, "addons", None)):
        value = getattr(holder, name, None) if holder is not None else None
        if isinstance(value, bool):
            return value
        if value is not None:
            enabled = getattr(value, "enabled", None)
            if isinstance(enabled, bool):
                return enabled
            return True
    return None


def overheads_for(config: PlatformConfig) -> Overheads:
    provider: Provider = config.cluster.kind
    mesh = _enabled(config, "mesh")
    monitoring = _enabled(config, "monitoring")
    # Without an add-on switch in the config, count the mesh and the node agents anyway: a capacity check
    # that errs on the side of overhead never passes a config that later leaves pods Pending.
    overheads = default_overheads(provider, mesh=True if mesh is None else mesh,
                                  monitoring=True if monitoring is None else monitoring)
    proxy = getattr(getattr(config, "mesh", None), "proxy", None)
    if proxy is not None:
        overheads = replace(overheads, sidecar=Resources.of(proxy.cpu_request, proxy.memory_request))
    return overheads


def node_type(pool: NodePool, provider: Provider) -> str:
    return pool.instance_types[0] if pool.instance_types else "kind" if provider == "kind" else ""


def pod_group(name: str, workload: WorkloadBase) -> PodGroup:
    requests = Resources.of(workload.resources.requests.cpu, workload.resources.requests.memory)
    sessions = workload.sessions_per_pod if isinstance(workload, BrowserWorkload) else 0
    return PodGroup(name, requests, workload.min_replicas, workload.max_replicas, sessions)


@dataclass(frozen=True)
class PoolPlan:
    index: int
    pool: NodePool
    instance_type: str
    workloads: tuple[tuple[str, WorkloadBase], ...]
    report: PoolCapacity | None
    """None when the instance type is not in the capacity table."""
    platform: tuple[PlatformLayer, ...] = ()
    """The platform services' layers whose pods this pool carries (see `platform_placement`)."""


def platform_services_for(config: PlatformConfig) -> tuple[PlatformLayer, ...]:
    """The platform services components/addons.py installs for this config, under the same conditions."""
    mesh = config.mesh.enabled
    ingress = config.ingress is not None and mesh
    keda = config.autoscaling.keda.enabled and config.workloads.browser.autoscaling is not None
    return platform_layers(config.cluster.kind, mesh=mesh, monitoring=config.monitoring.enabled, keda=keda,
                           tls=ingress, gateway=ingress, highly_available=config.cluster.kind != "kind")


def platform_placement(config: PlatformConfig) -> dict[int, tuple[PlatformLayer, ...]]:
    """Pool index -> the platform layers counted on it: every layer on the first pool without a NoSchedule/NoExecute
    taint; cluster-autoscaler on the first untainted on-demand pool if there is one (its nodeSelector,
    components/cluster_autoscaler.py). Empty when no pool is untainted (validation rejects that config)."""
    pools = config.cluster.node_pools
    home = next((i for i, pool in enumerate(pools) if pool.schedules_system_pods), None)
    if home is None:
        return {}
    on_demand = next((i for i, pool in enumerate(pools) if pool.capacity_type == "onDemand" and not pool.taints), home)
    placed: dict[int, list[PlatformLayer]] = {}
    for layer in platform_services_for(config):
        placed.setdefault(on_demand if layer.on_demand_only else home, []).append(layer)
    return {index: tuple(layers) for index, layers in placed.items()}


def pool_plans(config: PlatformConfig) -> list[PoolPlan]:
    provider: Provider = config.cluster.kind
    overheads = overheads_for(config)
    placement = platform_placement(config)
    plans: list[PoolPlan] = []
    for index, pool in enumerate(config.cluster.node_pools):
        owned = tuple((name, w) for name, w in config.workload_items() if config.pools_for(w) == [pool])
        platform = placement.get(index, ())
        type_name = node_type(pool, provider)
        report = None
        if type_name in INSTANCE_TYPES and CLOUD_PROVIDER[INSTANCE_TYPES[type_name].cloud] == provider:
            report = pool_capacity(type_name, [pod_group(name, w) for name, w in owned], min_nodes=pool.min_nodes,
                                   max_nodes=pool.max_nodes, provider=provider, capacity_type=pool.capacity_type,
                                   overheads=overheads, pool=pool.name,
                                   platform_pods=[group for layer in platform for group in layer.pod_groups])
        plans.append(PoolPlan(index, pool, type_name, owned, report, platform))
    return plans


def _explicit(pool: NodePool, field: str) -> bool:
    return field in pool.model_fields_set


def size_pools(config: PlatformConfig) -> PlatformConfig:
    """Derive the node bounds a session-sized pool leaves unset; reject a pool whose maxNodes cannot hold its
    workloads at maximum scale."""
    derived: dict[int, NodePool] = {}
    for plan in pool_plans(config):
        pool, report = plan.pool, plan.report
        if not plan.workloads and not plan.platform:
            continue
        where = ("cluster", "nodePools", plan.index)
        by_sessions = any(isinstance(w, BrowserWorkload) and w.sized_by_sessions for _, w in plan.workloads)
        summary = ", ".join([
            *(f"workloads.{name} up to {w.max_replicas} pods"
              + (f" ({w.max_replicas * w.sessions_per_pod} sessions)" if isinstance(w, BrowserWorkload) else "")
              for name, w in plan.workloads),
            *([f"the platform services' {sum(layer.pod_count() for layer in plan.platform)} pods "
               f"({', '.join(layer.name for layer in plan.platform)})"] if plan.platform else []),
        ])
        if report is None:
            if by_sessions and not _explicit(pool, "max_nodes"):
                raise ConfigFieldError(
                    (*where, "maxNodes"),
                    f"pool '{pool.name}': cannot derive node bounds for '{plan.instance_type}', which the capacity "
                    f"model does not know; set minNodes and maxNodes (known types: {', '.join(sorted(INSTANCE_TYPES))})",
                )
            continue
        for fit in report.workloads:
            # A pod bigger than a cloud node stays Pending forever; kind's node size is only an assumption.
            if fit.pods_per_node == 0 and (by_sessions or pool.instance_types):
                key = (*where, "instanceTypes", 0) if pool.instance_types else ("workloads", fit.name, "resources", "requests")
                raise ConfigFieldError(
                    key,
                    f"pool '{pool.name}': one {fit.name} pod requests {fit.pod} (with overheads), more than a "
                    f"{plan.instance_type} node has for pods ({report.node.available}); choose a larger type or "
                    "smaller requests",
                )
        for group in report.platform_pods:
            if pool.instance_types and pods_per_node(group.requests, report.node) == 0:
                raise ConfigFieldError(
                    (*where, "instanceTypes", 0),
                    f"pool '{pool.name}' is the first without a NoSchedule/NoExecute taint, so it carries the platform "
                    f"services; one {group.name} pod requests {group.requests}, more than a {plan.instance_type} node "
                    f"has for pods ({report.node.available}); choose a larger type",
                )
        needed_max = report.nodes_needed_max or 0
        needed_min = report.nodes_needed_min or 0
        if not by_sessions and config.cluster.kind == "kind":
            continue  # kind's node size is an assumption about the Docker host; `make capacity` reports the fit
        if _explicit(pool, "max_nodes") or not by_sessions:
            if needed_max > pool.max_nodes:
                per_node = "; ".join(f"{f.pods_per_node} {f.name} pods" for f in report.workloads)
                holds = "; ".join(
                    f"{f.pods_per_node * pool.max_nodes} {f.name} pods"
                    + (f" = {f.pods_per_node * pool.max_nodes * (f.sessions_at_max // max(f.max_replicas, 1))} sessions"
                       if f.sessions_at_max else "")
                    for f in report.workloads
                )
                raise ConfigFieldError(
                    (*where, "maxNodes"),
                    f"pool '{pool.name}' cannot hold {summary}: that needs {needed_max} {plan.instance_type} nodes, "
                    f"maxNodes is {pool.max_nodes}. One node fits {per_node}, so {pool.max_nodes} nodes hold {holds}"
                    f"{' (before the platform services)' if plan.platform else ''}. "
                    f"Raise maxNodes to {needed_max}, choose a larger instance type, or lower the maximum",
                )
        else:
            update: dict[str, int] = {"max_nodes": max(needed_max, 1)}
            if not _explicit(pool, "min_nodes"):
                update["min_nodes"] = min(max(needed_min, 1), update["max_nodes"])
            elif pool.min_nodes > update["max_nodes"]:
                update["max_nodes"] = pool.min_nodes
            if pool.desired_nodes is not None and not (
                    update.get("min_nodes", pool.min_nodes) <= pool.desired_nodes <= update["max_nodes"]):
                raise ConfigFieldError(
                    (*where, "desiredNodes"),
                    f"must lie between the derived node bounds {update.get('min_nodes', pool.min_nodes)} and "
                    f"{update['max_nodes']} ({summary}), got {pool.desired_nodes}",
                )
            derived[plan.index] = pool.model_copy(update=update)
    if not derived:
        return config
    pools = [derived.get(index, pool) for index, pool in enumerate(config.cluster.node_pools)]
    cluster = config.cluster.model_copy(update={"node_pools": pools})
    return config.model_copy(update={"cluster": cluster})
