"""The stack config seen through the capacity model: per pool, which workloads it carries and whether they fit.

`PlatformConfig` calls `size_pools` while validating. For the pool of a browser workload sized by
`maxSessions` (and `minSessions`): if it does not write `maxNodes` (`minNodes`), they are derived from the
capacity model; if it writes a `maxNodes` that cannot hold its workloads at maximum scale, or a pod fits on
no node of its type, the config is rejected with the key path and what would fit. Pools of workloads with raw
replica bounds are validated as before, except that a pod larger than a cloud node is rejected (the report
and the policy pack show whether they fit). `pool_plans` gives `python -m scripts.capacity_report` the same view.

The pool's node type is its first `instanceTypes` entry (every entry has the same shape, `stack_config.cluster`);
kind pools use the `kind` node of the capacity table. A pool with a type the table does not know is not checked.

A workload whose nodeSelector matches exactly two pools, one `onDemand` and one `spot`, runs on a **base and a
burst pool** (`base_and_burst`): its pods prefer on-demand nodes (components/workloads/workload.py), so the base carries
its minimum replicas and the spot burst only what the base cannot hold, and a spot reclaim never takes the floor.
The base's share is `min(replicas, what maxNodes base nodes hold)`, the burst's the rest. A session-sized workload
derives the base's bounds from `minSessions` (minNodes = maxNodes = the nodes its minimum needs, on GKE rounded
up to a multiple of the zones, since a pool starts with the same count in each: a fixed on-demand floor, so
scale-up always lands on the burst) and then the burst's from `maxSessions` (minNodes 0,
maxNodes = the nodes for the pods the base does not hold). A workload matching several pools in any other
layout is not checked against any one of them (its pods may spread); a session-sized one is rejected.

The platform services' own pods (istiod, the ingress gateway, Prometheus, Grafana, KEDA, cert-manager,
metrics-server, cluster-autoscaler; `capacity.platform_services`, the numbers the charts are given) tolerate no
taint of ours, so they are counted on the first pool without a NoSchedule/NoExecute taint (cluster-autoscaler on
the first untainted on-demand pool, where its nodeSelector pins it); `ClusterBase` rejects a config without
such a pool. On that pool they count towards the derived node bounds of a session-sized pool and towards its
`maxNodes` check, and one of them larger than a cloud node of the pool's type is rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from capacity import (
    CLOUD_PROVIDER,
    GI,
    INSTANCE_TYPES,
    Overheads,
    PlatformLayer,
    PodGroup,
    PoolCapacity,
    Provider,
    Resources,
    default_overheads,
    node_allocatable,
    platform_layers,
    pods_per_node,
    pool_capacity,
)
from capacity.model import existing_daemonsets
from capacity.prices import InstanceType

from .base import ConfigFieldError, cpu_millicores, memory_bytes
from .cluster import ExistingClusterConfig, ExistingNodePool, NodePool
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
    cluster = config.cluster
    if isinstance(cluster, ExistingClusterConfig):
        declared = cluster.node_daemonsets
        overheads = replace(overheads, daemonsets=existing_daemonsets(
            cpu_millicores(declared.cpu), memory_bytes(declared.memory), declared.pods))
    proxy = getattr(getattr(config, "mesh", None), "proxy", None)
    if proxy is not None:
        overheads = replace(overheads, sidecar=Resources.of(proxy.cpu_request, proxy.memory_request))
    return overheads


def node_type(pool: NodePool, provider: Provider) -> str:
    if isinstance(pool, ExistingNodePool) and pool.node_shape is not None:
        shape = pool.node_shape
        return f"{shape.cpu} CPU / {shape.memory} / {shape.pods} pods"
    return pool.instance_types[0] if pool.instance_types else "kind" if provider == "kind" else ""


def pool_instance(pool: NodePool, provider: Provider) -> InstanceType | None:
    """The node the capacity model sizes `pool` with: its type from the table (of this provider; on an existing
    cluster any), or an existing pool's declared shape; None when the model does not know the type."""
    if isinstance(pool, ExistingNodePool) and pool.node_shape is not None:
        shape = pool.node_shape
        cpu_m = cpu_millicores(shape.cpu)
        return InstanceType(node_type(pool, provider), "existing", -(-cpu_m // 1000), memory_bytes(shape.memory) / GI,
                            0.0, 0.0, shape.pods, allocatable_cpu_m=cpu_m)
    spec = INSTANCE_TYPES.get(node_type(pool, provider))
    if spec is None or (provider != "existing" and CLOUD_PROVIDER[spec.cloud] != provider):
        return None
    return spec


def pod_group(name: str, workload: WorkloadBase, replicas: tuple[int, int] | None = None) -> PodGroup:
    """The workload's pods as the capacity model counts them; `replicas` (min, max) overrides the workload's own
    bounds with the share one pool of a base + burst pair carries."""
    requests = Resources.of(workload.resources.requests.cpu, workload.resources.requests.memory)
    sessions = workload.sessions_per_pod if isinstance(workload, BrowserWorkload) else 0
    low, high = replicas if replicas is not None else (workload.min_replicas, workload.max_replicas)
    return PodGroup(name, requests, low, high, sessions)


PoolRole = Literal["base", "burst"]


def base_and_burst(pools: list[NodePool]) -> tuple[NodePool, NodePool] | None:
    """(on-demand base, spot burst) when a workload's pools are exactly one of each; None otherwise."""
    if len(pools) != 2:
        return None
    on_demand = [pool for pool in pools if pool.capacity_type == "onDemand"]
    spot = [pool for pool in pools if pool.capacity_type == "spot"]
    return (on_demand[0], spot[0]) if len(on_demand) == 1 and len(spot) == 1 else None


def base_holds(base: NodePool, workload: WorkloadBase, provider: Provider, overheads: Overheads) -> int | None:
    """Pods of `workload` that `base.maxNodes` nodes hold (None: the base's type is not in the capacity table)."""
    spec = pool_instance(base, provider)
    if spec is None:
        return None
    node = node_allocatable(spec, provider, overheads)
    return pods_per_node(pod_group("", workload).requests + overheads.per_pod, node) * base.max_nodes


def _share(role: PoolRole, base: NodePool, workload: WorkloadBase, provider: Provider,
           overheads: Overheads) -> tuple[int, int]:
    """(min, max) replicas of `workload` on the base or the burst pool of its pair."""
    low, high = workload.min_replicas, workload.max_replicas
    holds = base_holds(base, workload, provider, overheads)
    if holds is None:
        holds = low  # unknown base type: assume it holds exactly the floor it is meant for
    if role == "base":
        return min(low, holds), min(high, holds)
    return max(low - holds, 0), max(high - holds, 0)


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
    role: PoolRole | None = None
    """`base` or `burst` when the pool is one of a workload's base + burst pair (see `base_and_burst`)."""
    shares: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Workload name -> (min, max) replicas this pool carries, for workloads it shares with its pair."""
    partner: NodePool | None = None
    """The other pool of the pair."""

    def replicas(self, name: str, workload: WorkloadBase) -> tuple[int, int]:
        return self.shares.get(name, (workload.min_replicas, workload.max_replicas))


def platform_services_for(config: PlatformConfig) -> tuple[PlatformLayer, ...]:
    """The platform services components/platform_services.py installs for this config, under the same conditions."""
    mesh = config.mesh.enabled
    ingress = config.ingress is not None and mesh
    keda = bool(config.keda_scaled())
    layers = platform_layers(config.cluster.kind, mesh=mesh, monitoring=config.monitoring.enabled, keda=keda,
                             tls=ingress, gateway=ingress, highly_available=config.cluster.kind != "kind",
                             tracing=config.tracing_enabled, kiali=config.kiali_enabled)
    if isinstance(config.cluster, ExistingClusterConfig) and config.cluster.metrics_server == "preinstalled":
        layers = tuple(layer for layer in layers if layer.name != "metrics-server")  # the cluster's own, not ours
    return layers


def platform_placement(config: PlatformConfig) -> dict[int, tuple[PlatformLayer, ...]]:
    """Pool index -> the platform layers counted on it: every layer on the first pool without a NoSchedule/NoExecute
    taint; cluster-autoscaler on the first untainted on-demand pool if there is one (its nodeSelector,
    components/clusters/node_autoscaler.py). Empty when no pool is untainted (validation rejects that config)."""
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
        owned: list[tuple[str, WorkloadBase]] = []
        shares: dict[str, tuple[int, int]] = {}
        role: PoolRole | None = None
        partner: NodePool | None = None
        for name, w in config.workload_items():
            matched = config.pools_for(w)
            pair = base_and_burst(matched)
            if matched == [pool]:
                owned.append((name, w))
            elif pair is not None and pool.name in (pair[0].name, pair[1].name):
                role = "base" if pool.name == pair[0].name else "burst"
                partner = pair[1] if role == "base" else pair[0]
                owned.append((name, w))
                shares[name] = _share(role, pair[0], w, provider, overheads)
        platform = placement.get(index, ())
        type_name = node_type(pool, provider)
        spec = pool_instance(pool, provider)
        report = None
        if spec is not None:
            report = pool_capacity(spec, [pod_group(name, w, shares.get(name)) for name, w in owned],
                                   min_nodes=pool.min_nodes, max_nodes=pool.max_nodes, provider=provider,
                                   capacity_type=pool.capacity_type, overheads=overheads, pool=pool.name,
                                   platform_pods=[group for layer in platform for group in layer.pod_groups])
        plans.append(PoolPlan(index, pool, type_name, tuple(owned), report, platform, role, shares, partner))
    return plans


def _explicit(pool: NodePool, field: str) -> bool:
    return field in pool.model_fields_set


def _check_spread(config: PlatformConfig) -> None:
    """A session-sized workload is sized on one pool or on a base + burst pair; any other spread is rejected."""
    for name, workload in config.workload_items():
        pools = config.pools_for(workload)
        if (isinstance(workload, BrowserWorkload) and workload.sized_by_sessions and len(pools) > 1
                and base_and_burst(pools) is None):
            layout = ", ".join(f"{pool.name} ({pool.capacity_type})" for pool in pools)
            raise ConfigFieldError(
                ("workloads", name, "nodeSelector"),
                f"{workload.node_selector} matches the pools {layout}; a workload sized by maxSessions runs on one pool "
                "or on exactly two: an onDemand base (it holds minSessions) and a spot burst (the rest up to "
                "maxSessions). Give the other pools a different workload label",
            )


def size_pools(config: PlatformConfig) -> PlatformConfig:
    """Derive the node bounds a session-sized pool leaves unset; reject a pool whose maxNodes cannot hold its
    workloads at maximum scale. The base of a base + burst pair is sized first: the burst carries what it
    does not hold."""
    _check_spread(config)
    config = _apply(config, {plan.index: sized for plan in pool_plans(config) if plan.role != "burst"
                             for sized in [_size_plan(config, plan)] if sized is not None})
    return _apply(config, {plan.index: sized for plan in pool_plans(config) if plan.role == "burst"
                           for sized in [_size_plan(config, plan)] if sized is not None})


def _apply(config: PlatformConfig, derived: dict[int, NodePool]) -> PlatformConfig:
    if not derived:
        return config
    pools = [derived.get(index, pool) for index, pool in enumerate(config.cluster.node_pools)]
    cluster = config.cluster.model_copy(update={"node_pools": pools})
    return config.model_copy(update={"cluster": cluster})


def _size_plan(config: PlatformConfig, plan: PoolPlan) -> NodePool | None:
    """The pool with derived bounds, None when nothing is derived; raises when the pool cannot hold its share."""
    pool, report = plan.pool, plan.report
    if not plan.workloads and not plan.platform:
        return None
    where = ("cluster", "nodePools", plan.index)
    by_sessions = any(isinstance(w, BrowserWorkload) and w.sized_by_sessions for _, w in plan.workloads)

    def describe(name: str, w: WorkloadBase) -> str:
        high = plan.replicas(name, w)[1]
        text = f"workloads.{name} up to {high} pods"
        if isinstance(w, BrowserWorkload):
            text += f" ({high * w.sessions_per_pod} sessions)"
        if plan.role == "burst" and plan.partner is not None:
            text += f", the part of its {w.max_replicas} that base pool '{plan.partner.name}' does not hold"
        return text

    summary = ", ".join([
        *(describe(name, w) for name, w in plan.workloads),
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
        return None
    shape_key = ("nodeShape",) if isinstance(pool, ExistingNodePool) and pool.node_shape else ("instanceTypes", 0)
    declared = bool(pool.instance_types) or shape_key == ("nodeShape",)
    for fit in report.workloads:
        # A pod bigger than a cloud node stays Pending forever; kind's node size is only an assumption.
        if fit.pods_per_node == 0 and (by_sessions or declared):
            key = (*where, *shape_key) if declared else ("workloads", fit.name, "resources", "requests")
            raise ConfigFieldError(
                key,
                f"pool '{pool.name}': one {fit.name} pod requests {fit.pod} (with overheads), more than a "
                f"{plan.instance_type} node has for pods ({report.node.available}); choose a larger type or "
                "smaller requests",
            )
    for group in report.platform_pods:
        if declared and pods_per_node(group.requests, report.node) == 0:
            raise ConfigFieldError(
                (*where, *shape_key),
                f"pool '{pool.name}' is the first without a NoSchedule/NoExecute taint, so it carries the platform "
                f"services; one {group.name} pod requests {group.requests}, more than a {plan.instance_type} node "
                f"has for pods ({report.node.available}); choose a larger type",
            )
    needed_max = report.nodes_needed_max or 0
    needed_min = report.nodes_needed_min or 0
    if not by_sessions and config.cluster.kind == "kind":
        return None  # kind's node size is an assumption about the Docker host; `make capacity` reports the fit
    if _explicit(pool, "max_nodes") or not by_sessions:
        if needed_max > pool.max_nodes:
            per_node = "; ".join(f"{f.pods_per_node} {f.name} pods" for f in report.workloads)
            holds = "; ".join(
                f"{f.pods_per_node * pool.max_nodes} {f.name} pods"
                + (f" = {f.pods_per_node * pool.max_nodes * (f.sessions_at_max // max(f.max_replicas, 1))} sessions"
                   if f.sessions_at_max else "")
                for f in report.workloads
            )
            if isinstance(pool, ExistingNodePool):
                raise ConfigFieldError(
                    (*where, "nodes"),
                    f"existing pool '{pool.name}' cannot hold {summary}: that needs {needed_max} nodes of "
                    f"{plan.instance_type}, the pool has {pool.nodes}. One node fits {per_node}, so {pool.nodes} "
                    f"nodes hold {holds}{' (before the platform services)' if plan.platform else ''}. Add nodes to "
                    f"the pool and set nodes to {needed_max}, or lower the maximum",
                )
            raise ConfigFieldError(
                (*where, "maxNodes"),
                f"pool '{pool.name}' cannot hold {summary}: that needs {needed_max} {plan.instance_type} nodes, "
                f"maxNodes is {pool.max_nodes}. One node fits {per_node}, so {pool.max_nodes} nodes hold {holds}"
                f"{' (before the platform services)' if plan.platform else ''}. "
                f"Raise maxNodes to {needed_max}, choose a larger instance type, or lower the maximum",
            )
        return None
    if plan.role == "base":
        # A fixed on-demand floor: the nodes the minimum replicas need, so every scale-up lands on the burst pool.
        floor = pool.min_nodes if _explicit(pool, "min_nodes") else max(needed_min, 1)
        zones = getattr(config.cluster, "zone_count", 1)
        if not _explicit(pool, "min_nodes") and floor % zones:
            # A GKE pool is created with the same node count in every zone, so a fixed regional floor is a multiple
            # of its zones (and stays balanced over them).
            floor += zones - floor % zones
        update: dict[str, int] = {"min_nodes": floor, "max_nodes": max(floor, 1)}
    elif plan.role == "burst":
        update = {"max_nodes": max(needed_max, 1)}
        if not _explicit(pool, "min_nodes"):
            update["min_nodes"] = min(needed_min, update["max_nodes"])
        elif pool.min_nodes > update["max_nodes"]:
            update["max_nodes"] = pool.min_nodes
    else:
        update = {"max_nodes": max(needed_max, 1)}
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
    return pool.model_copy(update=update)
