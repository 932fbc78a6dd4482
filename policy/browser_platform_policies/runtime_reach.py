"""Stack policies for what only fails after `pulumi up` reports success: storage no class provisions, webhooks the
control plane cannot reach, NAT ports that run out.

- `storage-class-exists`: every PersistentVolumeClaim, StatefulSet volumeClaimTemplate and storage spec in a
  Helm release's values or a custom resource resolves to a StorageClass that exists on the stack's provider
  (created in the stack, or built in: kind `standard`; GKE `standard-rwo`, `standard`, `premium-rwo`; EKS none
  since 1.30), a request without a class needs a default class, and a consumer waits for a class the stack creates.
  Otherwise the PVC stays Pending while the release reports success (and KEDA's Prometheus trigger then falls
  back to maxReplicas).
- `gke-control-plane-reach`: on a private GKE cluster the control plane reaches the nodes only on 443 and 10250;
  every webhook / aggregated-API port of the charts in the stack needs a firewall rule from the master CIDR.
- `gke-nat-ports-per-vm`: Cloud NAT gives each VM enough source ports for the browser sessions one node carries
  (`capacity.nat`: 256 connections per session at peak), with bounds the Cloud NAT API accepts.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import ReportViolation, StackValidationArgs, StackValidationPolicy

from capacity.networks import inside_ranges  # the repo's shared model (the pack puts the repo root on sys.path)

from .config import Schema, note, per_resource, stack_policy
from .existing_cluster import EXISTING_CLUSTER
from .model import StackModel, namespace_of
from .pools import EKS_ADDON, EKS_CLUSTER, GKE_CLUSTER, GKE_NODE_POOL, is_kind_command
from .props import as_int, get, items, kube_type, metadata_name, str_map, truthy
from .stack import _candidates, _model, _requests

# ---------------------------------------------------------------------------------------------------------
# Storage classes
# ---------------------------------------------------------------------------------------------------------

BUILT_IN_STORAGE_CLASSES = {"kind": ("standard",), "gke": ("standard-rwo", "standard", "premium-rwo"), "eks": ()}
"""Classes a fresh cluster has (components/clusters/storage.py keeps the same table; a test compares them)."""
BUILT_IN_DEFAULT_CLASS = {"kind": "standard", "gke": "standard-rwo"}
"""The class a request without storageClassName gets; EKS has had no default since Kubernetes 1.30."""
DEFAULT_CLASS_ANNOTATIONS = ("storageclass.kubernetes.io/is-default-class", "storageclass.beta.kubernetes.io/is-default-class")
EBS_CSI_PROVISIONER = "ebs.csi.aws.com"
EBS_CSI_ADDON = "aws-ebs-csi-driver"
STORAGE_CLASS = "storage.k8s.io/StorageClass"


def stack_provider(resources: list[Any]) -> str | None:
    for resource in resources:
        if resource.resource_type == EXISTING_CLUSTER:
            return "existing"
        if resource.resource_type == EKS_CLUSTER:
            return "eks"
        if resource.resource_type == GKE_CLUSTER:
            return "gke"
        if is_kind_command(resource.resource_type, resource.props):
            return "kind"
    return None


@dataclasses.dataclass(frozen=True)
class StorageRequest:
    resource: Any
    where: str
    """What asks for storage, e.g. `PersistentVolumeClaim ns/name` or `values prometheus.prometheusSpec...`."""
    class_name: str | None
    """storageClassName as written; None: not set (the default class applies)."""


def _claim_spec_requests(resource: Any, title: str, path: str, spec: Any) -> StorageRequest:
    name = get(spec, "storageClassName")
    return StorageRequest(resource, f"{title} ({path})" if path else title, None if name is None else str(name))


_LEAVES = (str, float, int, bool, type(None))


def _walk_storage_specs(value: Any, path: str) -> list[tuple[str, Any, bool]]:
    """(path, spec holding storageClassName, is a persistence toggle) for every volumeClaimTemplate and every
    enabled `persistence` block in a values / spec tree, in document order.

    Every resource's spec is walked (about 100,000 maps and lists on 1,000 workloads), and almost nothing is
    found: so one recursive call per container with a shared result list, and a path that is only spelled
    out for a find (`_Path`: a link to the parent's, one tuple per step)."""
    found: list[tuple[_Path, Any, bool]] = []
    _walk(value, (None, path, False) if path else None, found)
    return [(_spelled(where), spec, toggle) for where, spec, toggle in found]


_Path = tuple["_Path | None", str | int, bool] | None
"""(parent, key or list index, whether the step is an index), or None for the root."""


def _spelled(path: _Path) -> str:
    steps: list[tuple[str | int, bool]] = []
    while path is not None:
        path, step, index = path
        steps.append((step, index))
    text = ""
    for step, index in reversed(steps):
        text = f"{text}[{step}]" if index else f"{text}.{step}" if text else str(step)
    return text


def _walk(value: Any, path: _Path, found: list[tuple[_Path, Any, bool]]) -> None:
    if type(value) is dict or isinstance(value, Mapping):  # plain dicts (server.py) skip the ABC check
        for key in value:
            child = value[key]
            if isinstance(child, _LEAVES):
                continue  # nothing to find below a scalar (most of a tree)
            here = (path, key, False)
            if key == "volumeClaimTemplate" and isinstance(child, Mapping):
                found.append((here, get(child, "spec", default={}), False))
                continue
            if key == "persistence" and isinstance(child, Mapping) and truthy(get(child, "enabled")) is True:
                found.append((here, child, True))
                continue
            _walk(child, here, found)
    elif type(value) is list or (isinstance(value, Sequence) and not isinstance(value, str | bytes)):
        for index in range(len(value)):
            child = value[index]
            if not isinstance(child, _LEAVES):
                _walk(child, (path, index, True), found)


def storage_requests(model: StackModel) -> list[StorageRequest]:
    found: list[StorageRequest] = []
    releases = {r.urn for r in model.releases}
    skipped = set(model.skipped)
    for resource in model.resources:
        if resource.urn in skipped:
            continue
        with per_resource("storage-class-exists", resource.urn):
            found.extend(_requests_of(resource, resource.urn in releases))
    return found


def _requests_of(resource: Any, release: bool) -> list[StorageRequest]:
    if release:
        title = f"Helm release {get(resource.props, 'name', default=resource.name)}"
        return [_claim_spec_requests(resource, title, "values." + path, spec)
                for path, spec, _ in _walk_storage_specs(get(resource.props, "values", default={}), "")]
    kt = kube_type(resource.resource_type)
    if kt is None:
        return []
    title = f"{kt.kind} {namespace_of(resource)}/{metadata_name(resource.props)}"
    if kt.group_kind == "core/PersistentVolumeClaim":
        return [_claim_spec_requests(resource, title, "", get(resource.props, "spec", default={}))]
    found = []
    if kt.group_kind == "apps/StatefulSet":
        found = [_claim_spec_requests(resource, title, f"spec.volumeClaimTemplates[{i}]", get(template, "spec", default={}))
                 for i, template in enumerate(items(resource.props, "spec", "volumeClaimTemplates"))]
    # Pod templates' generic ephemeral volumes and custom resources (Prometheus, Alertmanager, ...) carry the same
    # volumeClaimTemplate shape somewhere in their spec.
    return found + [_claim_spec_requests(resource, title, "spec." + path, spec)
                    for path, spec, _ in _walk_storage_specs(get(resource.props, "spec", default={}), "")]


def _depends_on(resource: Any, target_urn: str) -> bool:
    """Whether `resource` waits for `target_urn` (its dependencies, transitively)."""
    seen: set[str] = set()
    stack = list(resource.dependencies or [])
    while stack:
        current = stack.pop()
        if current.urn == target_urn:
            return True
        if current.urn in seen:
            continue
        seen.add(current.urn)
        stack.extend(current.dependencies or [])
    return False


def check_storage_classes(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "storage-class-exists")
    provider = stack_provider(model.resources)
    if provider is None:
        return  # not a cluster of this program's providers: nothing is known about its built-in classes
    created: dict[str, Any] = {}
    defaults: list[str] = []
    for storage_class in model.of(STORAGE_CLASS):
        with per_resource("storage-class-exists", storage_class.urn):
            class_name = metadata_name(storage_class.props)
            created[class_name] = storage_class
            annotations = str_map(storage_class.props, "metadata", "annotations")
            if any(annotations.get(a) == "true" for a in DEFAULT_CLASS_ANNOTATIONS):
                defaults.append(class_name)
            _check_ebs_class(model, provider, storage_class, class_name, report)
    built_in = tuple(str(c) for c in dict(cfg["builtInClasses"]).get(provider, ()))
    if provider == "existing":  # the class the user declares the cluster has (cluster.storageClass)
        built_in = tuple(str(get(r.props, "storageClass")) for r in model.resources
                         if r.resource_type == EXISTING_CLUSTER and get(r.props, "storageClass"))
    default = defaults[0] if defaults else BUILT_IN_DEFAULT_CLASS.get(provider)
    known = sorted({*created, *built_in})
    for request in storage_requests(model):
        with per_resource("storage-class-exists", request.resource.urn):
            name = request.class_name
            if name is None:
                if default is None:
                    choice = f"one of {', '.join(known)}" if known else "a class the stack creates"
                    report(f"{request.where} names no storageClassName and {provider} has no default StorageClass "
                           f"(none built in since EKS 1.30, none marked default in the stack): the claim stays Pending. "
                           f"Fix: name {choice}, or create a default StorageClass.", request.resource.urn)
                    continue
                name = default
            if name not in created and name not in built_in:
                report(f"{request.where} names StorageClass '{name}', which does not exist on {provider} (built in: "
                       f"{', '.join(built_in) or 'none'}; created in the stack: {', '.join(sorted(created)) or 'none'}): "
                       "the claim stays Pending while the release reports success. Fix: use an existing class or "
                       "create it in the stack.", request.resource.urn)
                continue
            storage_class = created.get(name)
            if storage_class is not None and not _depends_on(request.resource, storage_class.urn):
                report(f"{request.where} uses StorageClass '{name}' of this stack but does not wait for it: the claim "
                       "can be created first and the release time out. Fix: depends_on the StorageClass.",
                       request.resource.urn)


def _check_ebs_class(model: StackModel, provider: str, storage_class: Any, name: str, report: ReportViolation) -> None:
    if str(get(storage_class.props, "provisioner", default="")) != EBS_CSI_PROVISIONER:
        return
    addons = [str(get(r.props, "addonName", default="")) for r in model.resources if r.resource_type == EKS_ADDON]
    if provider == "eks" and EBS_CSI_ADDON not in addons:
        report(f"StorageClass {name} is provisioned by {EBS_CSI_PROVISIONER}, but the stack installs no "
               f"{EBS_CSI_ADDON} add-on: no volume is ever created. Fix: add the EKS add-on {EBS_CSI_ADDON}.",
               storage_class.urn)
    if truthy(get(storage_class.props, "parameters", "encrypted")) is not True:
        report(f"StorageClass {name} creates unencrypted EBS volumes. Fix: parameters.encrypted: \"true\".",
               storage_class.urn)


# ---------------------------------------------------------------------------------------------------------
# Private GKE: control plane to webhooks
# ---------------------------------------------------------------------------------------------------------

FIREWALL = "gcp:compute/firewall:Firewall"

CONTROL_PLANE_CALLEES: dict[str, tuple[tuple[str, str | None, int], ...]] = {
    # chart -> (what the API server calls, chart value setting its pod port, the chart's default port)
    "istiod": (("istiod injection/validation webhooks", None, 15017),),
    "keda": (("KEDA admission webhook", "webhooks.port", 9443),
             ("KEDA metrics API server (external.metrics.k8s.io)", "service.portHttpsTarget", 6443)),
    "cert-manager": (("cert-manager webhook", "webhook.securePort", 10250),),
    "kube-prometheus-stack": (("prometheus-operator admission webhook", "prometheusOperator.tls.internalPort", 10250),),
    "metrics-server": (("metrics-server (metrics.k8s.io)", "containerPort", 10250),),
}
"""Defaults from the pinned charts' values.yaml (../shared/charts; tests compare them); components/common/webhook_ports.py
sets the same ports."""


def required_ports(model: StackModel) -> list[tuple[int, str]]:
    """(port, what) for every webhook / aggregated API of the charts in the stack."""
    needed: list[tuple[int, str]] = []
    for chart, callees in CONTROL_PLANE_CALLEES.items():
        release = model.release(chart)
        if release is None:
            continue
        values = get(release.props, "values", default={})
        if chart == "kube-prometheus-stack" and (
                truthy(get(values, "prometheusOperator", "admissionWebhooks", "enabled")) is False
                or truthy(get(values, "prometheusOperator", "enabled")) is False):
            continue
        if chart == "keda" and truthy(get(values, "webhooks", "enabled")) is False:
            callees = callees[1:]
        for what, value_path, default in callees:
            port = as_int(get(values, *value_path.split("."))) if value_path else None
            needed.append((port or default, what))
    return needed


def _port_allowed(firewall_props: Any, port: int) -> bool:
    for allow in items(firewall_props, "allows"):
        protocol = str(get(allow, "protocol", default="")).lower()
        if protocol not in ("tcp", "all", "6"):
            continue
        ports = [str(p) for p in items(allow, "ports")]
        if not ports:
            return True
        for entry in ports:
            low, _, high = entry.partition("-")
            if (as_int(low) or -1) <= port <= (as_int(high or low) or -1):
                return True
    return False


def _targets_nodes(firewall_props: Any, accounts: set[str], tags: set[str]) -> bool:
    target_accounts = {str(a) for a in items(firewall_props, "targetServiceAccounts")}
    target_tags = {str(t) for t in items(firewall_props, "targetTags")}
    if not target_accounts and not target_tags:
        return True  # a rule without targets applies to every instance of the network
    return bool(target_accounts & accounts) or bool(target_tags & tags)


def check_control_plane_reach(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "gke-control-plane-reach")
    clusters = [r for r in model.resources if r.resource_type == GKE_CLUSTER]
    if not clusters:
        return
    needed = required_ports(model)
    already_open = {int(p) for p in cfg["gkeOpenPorts"]}
    pools = [r for r in model.resources if r.resource_type == GKE_NODE_POOL]
    for cluster in clusters:
        with per_resource("gke-control-plane-reach", cluster.urn):
            if truthy(get(cluster.props, "privateClusterConfig", "enablePrivateNodes")) is not True:
                continue
            master_cidr = get(cluster.props, "privateClusterConfig", "masterIpv4CidrBlock")
            if not master_cidr:
                note("[gke-control-plane-reach] private cluster without masterIpv4CidrBlock: not checked", cluster.urn)
                continue
            master = ipaddress.ip_network(str(master_cidr), strict=False)
            network = get(cluster.props, "network")
            accounts = {str(get(p.props, "nodeConfig", "serviceAccount", default="")) for p in pools}
            tags = {str(t) for p in pools for t in items(p.props, "nodeConfig", "tags")}
            firewalls = [f.props for f in model.resources if f.resource_type == FIREWALL
                         and str(get(f.props, "direction", default="INGRESS")) == "INGRESS"
                         and truthy(get(f.props, "disabled")) is not True
                         and (network is None or get(f.props, "network") in (None, network))
                         and inside_ranges(master, [str(c) for c in items(f.props, "sourceRanges")],
                                           lenient=True)
                         and _targets_nodes(f.props, accounts, tags)]
            missing = sorted({(port, what) for port, what in needed if port not in already_open
                              and not any(_port_allowed(f, port) for f in firewalls)})
            if missing:
                listed = ", ".join(f"{port} ({what})" for port, what in missing)
                report(f"GKE cluster {get(cluster.props, 'name', default=cluster.name)} has private nodes, which its "
                       f"control plane ({master}) reaches only on {', '.join(str(p) for p in sorted(already_open))}; "
                       f"no firewall rule opens {listed}: those calls time out (failed injection, rolled-back "
                       f"releases, no external metrics). Fix: an INGRESS firewall from {master} to the nodes allowing "
                       f"tcp:{','.join(str(p) for p, _ in missing)}.", cluster.urn)


# ---------------------------------------------------------------------------------------------------------
# Cloud NAT ports per VM
# ---------------------------------------------------------------------------------------------------------

ROUTER_NAT = "gcp:compute/routerNat:RouterNat"


def _nat_ports_per_vm(props: Any, nat: Any) -> tuple[int, list[str]]:
    """(the most ports one VM can get, what the API rejects)."""
    dynamic = truthy(get(props, "enableDynamicPortAllocation")) is True
    min_ports = as_int(get(props, "minPortsPerVm"))
    max_ports = as_int(get(props, "maxPortsPerVm"))
    if not dynamic:
        problems = [] if max_ports is None else ["maxPortsPerVm is set without enableDynamicPortAllocation"]
        return (min_ports or nat.CLOUD_NAT_STATIC_DEFAULT_PORTS), problems
    problems = nat.dynamic_bounds_problems(min_ports, max_ports)
    if truthy(get(props, "enableEndpointIndependentMapping")) is True:
        problems.append("enableEndpointIndependentMapping is true, which dynamic port allocation excludes")
    return (max_ports or nat.CLOUD_NAT_MAX_PORTS_PER_VM), problems


def sessions_per_node(model: StackModel, cfg: Mapping[str, Any]) -> tuple[int, str]:
    """The most browser sessions one GKE node can carry, and which workload/pool that is."""
    import capacity  # the repo's shared capacity model (the pack puts the repo root on sys.path)

    wanted = {str(k): str(v) for k, v in dict(cfg["browserLabels"]).items()}
    key = str(cfg["sessionsPerPodKey"])
    mesh = any(model.injected(w) for w in model.workloads)
    monitoring = model.release("kube-prometheus-stack") is not None
    best = (0, "")
    for workload in model.workloads:
        per_pod = as_int(model.config_value(workload, key))
        if per_pod is None or not (wanted and all(workload.pod_labels.get(k) == v for k, v in wanted.items())):
            continue
        requests = _requests(model, workload, capacity)
        pools, _ = _candidates(model, workload)
        for pool in pools:
            if pool.provider != "gke" or not pool.instance_types:
                continue
            try:
                spec = min((capacity.instance_type(t) for t in pool.instance_types), key=lambda s: (s.vcpu, s.memory_gib))
            except capacity.UnknownInstanceTypeError:
                continue  # node-capacity reports the unknown type
            overheads = dataclasses.replace(capacity.default_overheads("gke", mesh=mesh, monitoring=monitoring),
                                            sidecar=capacity.ZERO)
            per_node = capacity.pods_per_node(requests, capacity.node_allocatable(spec, "gke", overheads)) * per_pod
            best = max(best, (per_node, f"{workload.title} on pool {pool.name} ({spec.name}: "
                                        f"{per_node // per_pod} pods x {per_pod} sessions)"))
    return best


def check_nat_ports(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    from capacity import nat

    model = _model(args, "gke-nat-ports-per-vm")
    nats = [r for r in model.resources if r.resource_type == ROUTER_NAT]
    if not nats:
        return
    sessions, where = sessions_per_node(model, cfg)
    needed = nat.ports_needed(sessions)
    for resource in nats:
        with per_resource("gke-nat-ports-per-vm", resource.urn):
            ports, problems = _nat_ports_per_vm(resource.props, nat)
            title = f"Cloud NAT {get(resource.props, 'name', default=resource.name)}"
            for problem in problems:
                report(f"{title}: {problem}; the Cloud NAT API rejects it. Fix: powers of two, "
                       f"{nat.CLOUD_NAT_MIN_PORTS_FLOOR} <= minPortsPerVm < maxPortsPerVm <= "
                       f"{nat.CLOUD_NAT_MAX_PORTS_PER_VM}, endpoint-independent mapping off.", resource.urn)
            if sessions and ports < needed:
                report(f"{title} gives a VM at most {ports} source ports, but {where} = {sessions} sessions need "
                       f"{needed} at {nat.PEAK_CONNECTIONS_PER_SESSION} connections per session: new connections are "
                       "dropped (OUT_OF_RESOURCES) while the node looks healthy. Fix: enableDynamicPortAllocation with "
                       f"maxPortsPerVm >= {nat.next_power_of_two(needed)}.", resource.urn)


# ---------------------------------------------------------------------------------------------------------

STORAGE_SCHEMA: Schema = {
    "builtInClasses": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}},
                       "default": {k: list(v) for k, v in BUILT_IN_STORAGE_CLASSES.items()},
                       "description": "StorageClasses a fresh cluster of each provider has."},
}
REACH_SCHEMA: Schema = {
    "gkeOpenPorts": {"type": "array", "items": {"type": "integer"}, "default": [443, 10250],
                     "description": "Ports GKE's own firewall rule opens from the control plane to private nodes."},
}
NAT_SCHEMA: Schema = {
    "browserLabels": {"type": "object", "additionalProperties": {"type": "string"},
                      "default": {"app.kubernetes.io/component": "browser"},
                      "description": "Pod labels that mark a headless-browser workload (the role label the "
                                     "program puts on every browser pool's pods, whatever its name)."},
    "sessionsPerPodKey": {"type": "string", "default": "MAX_SESSIONS_PER_POD",
                          "description": "Env var / ConfigMap key holding the sessions one browser pod serves."},
}


def policies() -> list[StackValidationPolicy]:
    return [
        stack_policy("storage-class-exists", "Every PersistentVolumeClaim, volumeClaimTemplate and Helm storage spec "
                     "resolves to a StorageClass that exists on the provider, and waits for one the stack creates.",
                     check_storage_classes, schema=STORAGE_SCHEMA,
                     remediation="Name an existing class (kind standard, GKE standard-rwo, EKS the stack's gp3)."),
        stack_policy("gke-control-plane-reach", "A private GKE cluster's control plane can reach every webhook and "
                     "aggregated API the stack installs (firewall from the master CIDR).", check_control_plane_reach,
                     schema=REACH_SCHEMA, remediation="Firewall rule from masterIpv4CidrBlock to the nodes' ports."),
        stack_policy("gke-nat-ports-per-vm", "Cloud NAT gives each VM enough source ports for the browser sessions "
                     "one node carries, with bounds the API accepts.", check_nat_ports, schema=NAT_SCHEMA,
                     remediation="enableDynamicPortAllocation with min/max ports per VM sized from sessions per node."),
    ]
