"""Node pools as the scheduler will see them, read from whichever cluster resource the stack registers.

- kind: the cluster config YAML in the `stdin` of the `command:local:Command` that runs `kind create cluster`
  (workers' `labels`, and taints from `kubeadmConfigPatches` JoinConfiguration `nodeRegistration.taints`);
  the control-plane node keeps its NoSchedule taint whenever workers exist.
- EKS: `aws:eks/nodeGroup:NodeGroup` (labels, taints, scalingConfig, instanceTypes, capacityType).
- GKE: `gcp:container/nodePool:NodePool` (nodeConfig labels/taints/machineType/spot, autoscaling or nodeCount,
  per zone) and a `gcp:container/cluster:Cluster`'s default pool unless `removeDefaultNodePool` is set.
- existing: the pools an `ExistingCluster` component declares in its inputs (labels, taints, `nodes`, and
  `nodeShape` or one table `instanceTypes` entry; the cluster's own daemonsets in `nodeDaemonsets`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from .existing_cluster import EXISTING_CLUSTER
from .props import as_int, get, items, str_map, truthy

KIND_COMMAND = "command:local:Command"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
EKS_ADDON = "aws:eks/addon:Addon"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
SUBNET = "aws:ec2/subnet:Subnet"
GKE_CLUSTER = "gcp:container/cluster:Cluster"
GKE_NODE_POOL = "gcp:container/nodePool:NodePool"

_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str


@dataclass
class Pool:
    name: str
    provider: Literal["kind", "eks", "gke", "existing"]
    urn: str
    labels: dict[str, str]
    taints: list[Taint]
    min_nodes: int
    max_nodes: int
    instance_types: list[str] = field(default_factory=list)
    spot: bool = False
    declared_shape: tuple[str, str, int] | None = None
    """existing pools: the node's allocatable (cpu, memory, pods) as declared."""
    declared_daemonsets: tuple[str, str, int] | None = None
    """existing pools: what the cluster's own DaemonSets request per node (cpu, memory, pods)."""

    @property
    def node_labels(self) -> dict[str, str]:
        """The pool's own labels plus the well-known ones the kubelet / cloud sets on every node."""
        implicit = {"kubernetes.io/os": "linux"}
        if self.provider == "eks":
            implicit.update({"eks.amazonaws.com/nodegroup": self.name,
                             "eks.amazonaws.com/capacityType": "SPOT" if self.spot else "ON_DEMAND"})
        elif self.provider == "gke":
            implicit["cloud.google.com/gke-nodepool"] = self.name
            if self.spot:
                implicit["cloud.google.com/gke-spot"] = "true"
        if len(self.instance_types) == 1 and self.provider != "existing":  # there a type only stands for a shape
            implicit["node.kubernetes.io/instance-type"] = self.instance_types[0]
        return {**implicit, **self.labels}


def is_kind_command(resource_type: str, props: Any) -> bool:
    return resource_type == KIND_COMMAND and "kind create cluster" in str(get(props, "create", default=""))


def kind_document(props: Any) -> dict[str, Any]:
    try:
        document = yaml.safe_load(str(get(props, "stdin", default="")) or "")
    except yaml.YAMLError:
        return {}
    return document if isinstance(document, dict) else {}


def kind_pools(urn: str, props: Any) -> list[Pool]:
    document = kind_document(props)
    # YAML from the kind config: every node is an untyped mapping (a kind config without nodes is one control plane).
    nodes: list[dict[str, Any]] = [n for n in document.get("nodes") or [{"role": "control-plane"}] if isinstance(n, dict)]
    has_workers = any(n.get("role") == "worker" for n in nodes)
    groups: dict[tuple[Any, ...], Pool] = {}
    for node in nodes:
        role = node.get("role", "control-plane")
        labels = {str(k): str(v) for k, v in (node.get("labels") or {}).items()}
        taints: list[Taint] = []
        for patch in node.get("kubeadmConfigPatches") or []:
            try:
                parsed = yaml.safe_load(patch) if isinstance(patch, str) else patch
            except yaml.YAMLError:
                continue
            if isinstance(parsed, dict) and parsed.get("kind") in ("JoinConfiguration", "InitConfiguration"):
                for t in (parsed.get("nodeRegistration") or {}).get("taints") or []:
                    taints.append(Taint(str(t.get("key", "")), str(t.get("value", "") or ""),
                                        str(t.get("effect", "NoSchedule"))))
        if role == "control-plane":
            labels["node-role.kubernetes.io/control-plane"] = ""
            if has_workers:
                taints.append(Taint("node-role.kubernetes.io/control-plane", "", "NoSchedule"))
        key = (role, tuple(sorted(labels.items())), tuple((t.key, t.value, t.effect) for t in taints))
        if key in groups:
            groups[key].min_nodes += 1
            groups[key].max_nodes += 1
        else:
            name = labels.get("workload") or role
            groups[key] = Pool(name=f"kind-{name}", provider="kind", urn=urn, labels=labels, taints=taints,
                               min_nodes=1, max_nodes=1, instance_types=["kind"])
    return list(groups.values())


def eks_pool(urn: str, name: str, props: Any) -> Pool:
    taints = [Taint(str(get(t, "key", default="")), str(get(t, "value", default="") or ""),
                    _EFFECTS.get(str(get(t, "effect", default="NO_SCHEDULE")), "NoSchedule"))
              for t in items(props, "taints")]
    return Pool(
        name=str(get(props, "nodeGroupName", default=name)),
        provider="eks", urn=urn,
        labels=str_map(props, "labels"), taints=taints,
        min_nodes=as_int(get(props, "scalingConfig", "minSize"), 0) or 0,
        max_nodes=as_int(get(props, "scalingConfig", "maxSize"), 0) or 0,
        instance_types=[str(t) for t in items(props, "instanceTypes")],
        spot=str(get(props, "capacityType", default="ON_DEMAND")).upper() == "SPOT",
    )


def _gke_zones(location: str | None, node_locations: list[str]) -> int:
    if node_locations:
        return len(node_locations)
    # A region (us-central1) spreads a pool over its zones (three by default); a zone (us-central1-a) is one.
    if location and location.count("-") == 1:
        return 3
    return 1


def gke_node_config_pool(urn: str, name: str, node_config: Any, per_zone_min: int, per_zone_max: int,
                         zones: int) -> Pool:
    taints = [Taint(str(get(t, "key", default="")), str(get(t, "value", default="") or ""),
                    _EFFECTS.get(str(get(t, "effect", default="NO_SCHEDULE")), "NoSchedule"))
              for t in items(node_config, "taints")]
    machine = get(node_config, "machineType", default="e2-medium")
    return Pool(
        name=name, provider="gke", urn=urn,
        labels=str_map(node_config, "labels"), taints=taints,
        min_nodes=per_zone_min * zones, max_nodes=per_zone_max * zones,
        instance_types=[str(machine)],
        spot=bool(truthy(get(node_config, "spot")) or truthy(get(node_config, "preemptible"))),
    )


def gke_pool(urn: str, name: str, props: Any, cluster_props: Any = None) -> Pool:
    location = get(props, "location") or get(cluster_props, "location")
    node_locations = [str(z) for z in items(props, "nodeLocations")] or \
        [str(z) for z in items(cluster_props, "nodeLocations")]
    zones = _gke_zones(str(location) if location else None, node_locations)
    total_max = as_int(get(props, "autoscaling", "totalMaxNodeCount"))
    total_min = as_int(get(props, "autoscaling", "totalMinNodeCount"))
    fixed = as_int(get(props, "nodeCount"), None)
    per_zone_max = as_int(get(props, "autoscaling", "maxNodeCount"), None)
    per_zone_min = as_int(get(props, "autoscaling", "minNodeCount"), None)
    if get(props, "autoscaling") is None:
        count = fixed if fixed is not None else as_int(get(props, "initialNodeCount"), 1) or 0
        per_zone_min = per_zone_max = count
    pool = gke_node_config_pool(urn, str(get(props, "name", default=name)), get(props, "nodeConfig", default={}),
                                per_zone_min or 0, per_zone_max or 0, zones)
    if total_max is not None:
        pool.max_nodes = total_max
    if total_min is not None:
        pool.min_nodes = total_min
    return pool


def gke_default_pool(urn: str, props: Any) -> Pool | None:
    if truthy(get(props, "removeDefaultNodePool")) or truthy(get(props, "enableAutopilot")):
        return None
    count = as_int(get(props, "initialNodeCount"), 1) or 0
    location = get(props, "location")
    zones = _gke_zones(str(location) if location else None, [str(z) for z in items(props, "nodeLocations")])
    return gke_node_config_pool(urn, "default-pool", get(props, "nodeConfig", default={}), count, count, zones)


def existing_pools(urn: str, props: Any) -> list[Pool]:
    daemonsets = get(props, "nodeDaemonsets")
    declared_daemonsets = (str(get(daemonsets, "cpu")), str(get(daemonsets, "memory")),
                           as_int(get(daemonsets, "pods")) or 0) if daemonsets is not None else None
    pools = []
    for entry in items(props, "nodePools"):
        nodes = as_int(get(entry, "nodes")) or 0
        shape = get(entry, "nodeShape")
        taints = [Taint(str(get(t, "key")), str(get(t, "value", default="") or ""),
                        str(get(t, "effect", default="NoSchedule"))) for t in items(entry, "taints")]
        pools.append(Pool(
            name=str(get(entry, "name")), provider="existing", urn=urn, labels=str_map(get(entry, "labels")),
            taints=taints, min_nodes=nodes, max_nodes=nodes,
            instance_types=[str(t) for t in items(entry, "instanceTypes")],
            declared_shape=(str(get(shape, "cpu")), str(get(shape, "memory")), as_int(get(shape, "pods")) or 110)
            if shape is not None else None,
            declared_daemonsets=declared_daemonsets,
        ))
    return pools


def pools_of(resources: Iterable[Any]) -> list[Pool]:
    """Every node pool the stack defines (resources: objects with resource_type, props, urn, name)."""
    resources = list(resources)
    clusters = {r.urn: r for r in resources if r.resource_type == GKE_CLUSTER}
    pools: list[Pool] = []
    for r in resources:
        if is_kind_command(r.resource_type, r.props):
            pools.extend(kind_pools(r.urn, r.props))
        elif r.resource_type == EKS_NODE_GROUP:
            pools.append(eks_pool(r.urn, r.name, r.props))
        elif r.resource_type == GKE_NODE_POOL:
            cluster = next((c for c in clusters.values() if c in (r.dependencies or [])), None)
            if cluster is None and len(clusters) == 1:
                cluster = next(iter(clusters.values()))
            pools.append(gke_pool(r.urn, r.name, r.props, cluster.props if cluster is not None else None))
        elif r.resource_type == EXISTING_CLUSTER:
            pools.extend(existing_pools(r.urn, r.props))
        elif r.resource_type == GKE_CLUSTER:
            default = gke_default_pool(r.urn, r.props)
            if default is not None:
                pools.append(default)
    return pools


def tolerates(tolerations: list[Any], taint: Taint) -> bool:
    for t in tolerations:
        key, operator = get(t, "key"), get(t, "operator", default="Equal")
        effect = get(t, "effect")
        if effect not in (None, "") and effect != taint.effect:
            continue
        if key in (None, "") and operator == "Exists":
            return True
        if key != taint.key:
            continue
        if operator == "Exists" or str(get(t, "value", default="") or "") == taint.value:
            return True
    return False


def node_affinity_matches(affinity: Any, labels: dict[str, str]) -> bool:
    """requiredDuringSchedulingIgnoredDuringExecution node affinity (ORed terms of ANDed expressions)."""
    terms = items(affinity, "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
    if not terms:
        return True
    for term in terms:
        ok = True
        for expression in items(term, "matchExpressions"):
            key = str(get(expression, "key", default=""))
            operator = get(expression, "operator", default="In")
            values = [str(v) for v in items(expression, "values")]
            value = labels.get(key)
            if (operator == "In" and value not in values) or (operator == "NotIn" and value in values) \
                    or (operator == "Exists" and value is None) or (operator == "DoesNotExist" and value is not None):
                ok = False
            elif operator in ("Gt", "Lt"):
                number = as_int(value)
                bound = as_int(values[0] if values else None)
                if number is None or bound is None or (operator == "Gt" and not number > bound) \
                        or (operator == "Lt" and not number < bound):
                    ok = False
        if ok:
            return True
    return False


def schedulable_on(pod_spec: Any, pool: Pool) -> tuple[bool, str]:
    """Whether a pod template can land on the pool, and if not, why."""
    labels = pool.node_labels
    selector = str_map(pod_spec, "nodeSelector")
    mismatched = {k: v for k, v in selector.items() if labels.get(k) != v}
    if mismatched:
        return False, f"nodeSelector {mismatched} not among its labels"
    if not node_affinity_matches(get(pod_spec, "affinity"), labels):
        return False, "required node affinity does not match its labels"
    tolerations = items(pod_spec, "tolerations")
    untolerated = [t for t in pool.taints if t.effect in ("NoSchedule", "NoExecute") and not tolerates(tolerations, t)]
    if untolerated:
        return False, "untolerated taint " + ", ".join(f"{t.key}={t.value}:{t.effect}" for t in untolerated)
    return True, ""
