"""Stack policies: the cross-resource rules no single-resource check (Checkov, Kyverno, Polaris, kube-score)
can see. Each reads the whole stack through `StackModel` and reports against the offending resource's URN.

Helm releases are opaque here: the objects a chart renders are not resources of the stack, so they are
neither checked nor counted (out of scope); only a release's `values` are read where noted.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from typing import Any

from pulumi_policy import ReportViolation, StackValidationArgs, StackValidationPolicy

from .config import ADVISORY, Schema, note, per_resource, stack_policy, string_list
from .existing_cluster import declared_node
from .kubernetes import port_declared
from .model import StackModel, Workload, namespace_of
from .pools import (
    EKS_ADDON,
    EKS_CLUSTER,
    EKS_NODE_GROUP,
    GKE_CLUSTER,
    LAUNCH_TEMPLATE,
    SUBNET,
    Pool,
    is_kind_command,
    kind_document,
    schedulable_on,
)
from .props import (
    as_int,
    fmt_bytes,
    fmt_cpu,
    get,
    items,
    metadata_name,
    quantity,
    running_containers,
    selector_is_empty,
    str_map,
    truthy,
)

_last_model: tuple[Any, StackModel] | None = None


def _model(args: StackValidationArgs, policy: str) -> StackModel:
    """The stack model of `args.resources`, built once per `AnalyzeStack` call.

    With `server.install()` every stack policy of a call gets the same `args.resources` list, so the model
    is shared (and kept, with the list, until the next call). A different list (the library's own servicer
    builds one per policy, unit tests build their own) gets a model of its own. The model is read-only for
    the checks.
    """
    global _last_model
    cached = _last_model
    if cached is not None and cached[0] is args.resources:
        return cached[1]
    model = StackModel(args.resources)
    model.finalize_surge()
    _last_model = (args.resources, model)
    return model


def _amount_text(resource: str, value: float) -> str:
    return fmt_cpu(value) if resource == "cpu" else fmt_bytes(value)


# ---------------------------------------------------------------------------------------------------------
# Disruption and autoscaling
# ---------------------------------------------------------------------------------------------------------

def _scaled(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        raw = float(value[:-1]) * total / 100
        return math.ceil(raw) if round_up else math.floor(raw)
    return as_int(value, 0) or 0


def check_pdb(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "pdb-allows-drain")
    covered: dict[str, list[str]] = {}
    for pdb in model.of("policy/PodDisruptionBudget"):
        with per_resource("pdb-allows-drain", pdb.urn):
            _check_pdb(model, pdb, covered, report)
    for workload in model.workloads:
        if len(covered.get(workload.urn, [])) > 1:
            report(f"{workload.title} is selected by several PodDisruptionBudgets ({', '.join(covered[workload.urn])}); "
                   "the eviction API refuses to evict such pods. Fix: keep one PDB per workload.", workload.urn)


def _check_pdb(model: StackModel, pdb: Any, covered: dict[str, list[str]], report: ReportViolation) -> None:
    namespace, name = namespace_of(pdb), metadata_name(pdb.props)
    selector = get(pdb.props, "spec", "selector", default={})
    workloads = model.selected(namespace, selector)
    if not workloads:
        report(f"PodDisruptionBudget {namespace}/{name} selects no pods of this stack. Fix: make "
               "spec.selector match the workload's pod labels.", pdb.urn)
    min_available = get(pdb.props, "spec", "minAvailable")
    max_unavailable = get(pdb.props, "spec", "maxUnavailable")
    if min_available is None and max_unavailable is None:
        # The disruption controller then wants 0 healthy pods: every eviction is allowed, the PDB protects nothing.
        report(f"PodDisruptionBudget {namespace}/{name} sets neither minAvailable nor maxUnavailable, so it allows "
               "every disruption. Fix: maxUnavailable: 1.", pdb.urn)
    never = _never_disrupts(min_available, max_unavailable)
    if never:
        # Zero at any replica count: also for pods the stack does not define (a chart's, an operator's).
        report(f"PodDisruptionBudget {namespace}/{name} ({never}) allows 0 disruptions at any replica count: every "
               "node drain and cluster upgrade would hang on its pods. Fix: maxUnavailable: 1.", pdb.urn)
    for workload in workloads:
        covered.setdefault(workload.urn, []).append(name)
        if never:
            continue  # reported above
        replicas = workload.min_replicas
        if max_unavailable is not None:
            allowed = _scaled(max_unavailable, replicas, round_up=True)
            detail = f"maxUnavailable {max_unavailable}"
        elif min_available is not None:
            allowed = replicas - _scaled(min_available, replicas, round_up=True)
            detail = f"minAvailable {min_available}"
        else:
            continue  # reported above
        if allowed < 1:
            report(f"PodDisruptionBudget {namespace}/{name} ({detail}) allows {max(allowed, 0)} disruptions of "
                   f"{workload.title} at its minimum of {replicas} replica(s): a node drain would hang. Fix: "
                   "maxUnavailable: 1 (or minAvailable below the minimum replicas).", pdb.urn)


def _never_disrupts(min_available: Any, max_unavailable: Any) -> str | None:
    """The PDB's own setting when it allows zero disruptions whatever the replicas: maxUnavailable 0 / 0%, or
    (without maxUnavailable) minAvailable 100%."""
    if max_unavailable is not None:
        text = str(max_unavailable).strip()
        zero = _percent(text) == 0 if text.endswith("%") else as_int(max_unavailable) == 0
        return f"maxUnavailable {text if text.endswith('%') else as_int(max_unavailable)}" if zero else None
    if min_available is not None and str(min_available).strip().endswith("%") and \
            (_percent(str(min_available).strip()) or 0) >= 100:
        return f"minAvailable {min_available}"
    return None


def _percent(text: str) -> float | None:
    try:
        return float(text[:-1])
    except ValueError:
        return None


def check_autoscaler_targets(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "autoscaler-target-exists")
    for autoscaler in model.autoscalers:
        if model.target(autoscaler) is None:
            report(f"{autoscaler.title} targets {autoscaler.target_kind} {autoscaler.namespace}/{autoscaler.target_name}, "
                   "which this stack does not define. Fix: correct scaleTargetRef (kind, name, namespace).",
                   autoscaler.resource.urn)


def check_one_autoscaler(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "one-autoscaler-per-target")
    for workload in model.workloads:
        if len(workload.autoscalers) > 1:
            names = ", ".join(a.title for a in workload.autoscalers)
            report(f"{workload.title} is scaled by {len(workload.autoscalers)} autoscalers ({names}); they fight over "
                   "the replica count. Fix: keep one (a KEDA ScaledObject creates its own HPA).", workload.urn)
        if workload.autoscalers and workload.replicas is not None:
            report(f"{workload.title} sets spec.replicas {workload.replicas} under an autoscaler: every `pulumi up` "
                   "resets the live replica count. Fix: leave spec.replicas unset when autoscaled.", workload.urn)


def check_min_replicas(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "long-running-min-replicas")
    minimum = int(cfg["minReplicas"])
    for autoscaler in model.autoscalers:
        if autoscaler.min_replicas < minimum:
            report(f"{autoscaler.title} lets {autoscaler.target_kind} {autoscaler.target_name} scale down to "
                   f"{autoscaler.min_replicas} replica(s); long-running workloads keep at least {minimum}. Fix: "
                   f"minReplicas (minReplicaCount) >= {minimum}.", autoscaler.resource.urn)
    for workload in model.workloads:
        if workload.long_running and not workload.autoscalers and workload.replicas is None and minimum > 1:
            report(f"{workload.title} sets no spec.replicas and has no autoscaler: it runs 1 pod. Fix: set replicas "
                   f">= {minimum} or add an autoscaler.", workload.urn)


def check_utilization_requests(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "utilization-metrics-need-requests")
    for workload in model.workloads:
        for autoscaler in workload.autoscalers:
            for resource in sorted(set(autoscaler.utilization)):
                missing = [ref.name for ref in running_containers(workload.pod_spec)
                           if get(ref.container, "resources", "requests", resource) is None]
                if missing:
                    report(f"{autoscaler.title} scales on {resource} utilization, but container(s) {', '.join(missing)} "
                           f"of {workload.title} request no {resource}: the HPA cannot compute utilization. Fix: set "
                           f"resources.requests.{resource} on every container.", autoscaler.resource.urn)
                if model.injected(workload) and not model.sidecar(workload, "requests", resource)[1]:
                    annotation = "sidecar.istio.io/proxyCPU" if resource == "cpu" else "sidecar.istio.io/proxyMemory"
                    report(f"{autoscaler.title} scales on {resource} utilization and {workload.title} gets an "
                           f"istio-proxy sidecar (namespace {workload.namespace} has injection on) whose {resource} "
                           f"request is not set for this stack. Fix: annotate the pod template with {annotation} (or set "
                           "global.proxy.resources in the istiod release values).", autoscaler.resource.urn)


# ---------------------------------------------------------------------------------------------------------
# Services and monitoring
# ---------------------------------------------------------------------------------------------------------

def _declares(workload: Workload, port: Any) -> bool:
    if as_int(port) is not None:
        return True  # a port number reaches the container whether or not its ports list it
    for ref in running_containers(workload.pod_spec):
        names = {str(get(p, "name")) for p in items(ref.container, "ports") if get(p, "name")}
        numbers = {as_int(get(p, "containerPort")) for p in items(ref.container, "ports")}
        if port_declared(port, names, {n for n in numbers if n is not None}):
            return True
    return False


def check_services(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "service-selects-pods")
    for service in model.of("core/Service"):
        with per_resource("service-selects-pods", service.urn):
            if get(service.props, "spec", "type") == "ExternalName":
                continue
            selector = str_map(service.props, "spec", "selector")
            if not selector:
                continue  # endpoints managed by hand or by a controller
            namespace, name = namespace_of(service), metadata_name(service.props)
            workloads = model.selected(namespace, selector)
            if not workloads:
                report(f"Service {namespace}/{name} selects {selector}, which matches no pod template in the namespace. "
                       "Fix: use the workload's selector labels.", service.urn)
                continue
            for port in items(service.props, "spec", "ports"):
                target = get(port, "targetPort", default=get(port, "port"))
                bad = [w.title for w in workloads if not _declares(w, target)]
                if bad:
                    report(f"Service {namespace}/{name} port {get(port, 'name', default=get(port, 'port'))} targets "
                           f"{target!r}, which {', '.join(bad)} does not declare. Fix: targetPort must name (or number) a "
                           "containerPort of the selected pods.", service.urn)


def prometheus_selector(model: StackModel, cfg: Mapping[str, Any]) -> dict[str, str] | None:
    """The labels the Prometheus of this stack selects ServiceMonitors by: config first, then the
    kube-prometheus-stack release values; None when neither says."""
    if cfg.get("requiredLabels"):
        return {str(k): str(v) for k, v in dict(cfg["requiredLabels"]).items()}
    release = model.release("kube-prometheus-stack")
    if release is None:
        return None
    spec = get(release.props, "values", "prometheus", "prometheusSpec", default={})
    explicit = get(spec, "serviceMonitorSelector")
    if explicit is not None:
        return str_map(explicit, "matchLabels")
    if truthy(get(spec, "serviceMonitorSelectorNilUsesHelmValues")) is False:
        return {}
    release_name = get(release.props, "name")
    return {"release": str(release_name)} if release_name else None


def check_service_monitors(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "servicemonitor-selects-service")
    monitors = model.of("monitoring.coreos.com/ServiceMonitor")
    if not monitors:
        return
    wanted = prometheus_selector(model, cfg)
    if wanted is None:
        note("[servicemonitor-selects-service] no Prometheus selector known (no requiredLabels in the policy config, "
             "no kube-prometheus-stack release with a name): ServiceMonitor labels not checked")
    services = model.of("core/Service")
    for monitor in monitors:
        with per_resource("servicemonitor-selects-service", monitor.urn):
            namespace, name = namespace_of(monitor), metadata_name(monitor.props)
            labels = str_map(monitor.props, "metadata", "labels")
            if wanted:
                missing = {k: v for k, v in wanted.items() if labels.get(k) != v}
                if missing:
                    report(f"ServiceMonitor {namespace}/{name} lacks the labels Prometheus selects {missing}: it is never "
                           "scraped. Fix: add them to metadata.labels.", monitor.urn)
            if truthy(get(monitor.props, "spec", "namespaceSelector", "any")):
                namespaces = None
            else:
                namespaces = [str(n) for n in items(monitor.props, "spec", "namespaceSelector", "matchNames")] or [namespace]
            selector = get(monitor.props, "spec", "selector", default={})
            matched = [s for s in services
                       if (namespaces is None or namespace_of(s) in namespaces)
                       and not selector_is_empty(selector)
                       and _labels_match(selector, str_map(s.props, "metadata", "labels"))]
            if not matched:
                report(f"ServiceMonitor {namespace}/{name} selects no Service of this stack (selector "
                       f"{json.dumps(_plainish(selector))}). Fix: match the Service's metadata.labels.", monitor.urn)
                continue
            port_names = {str(get(p, "name")) for s in matched for p in items(s.props, "spec", "ports") if get(p, "name")}
            for endpoint in items(monitor.props, "spec", "endpoints"):
                port = get(endpoint, "port")
                if port is None and get(endpoint, "targetPort") is None:
                    report(f"ServiceMonitor {namespace}/{name} has an endpoint without port. Fix: name a Service port.",
                           monitor.urn)
                elif port is not None and str(port) not in port_names:
                    report(f"ServiceMonitor {namespace}/{name} scrapes port '{port}', which the selected Service(s) do not "
                           f"name (ports: {', '.join(sorted(port_names)) or 'none named'}). Fix: use the Service port's name.",
                           monitor.urn)


def _labels_match(selector: Any, labels: dict[str, str]) -> bool:
    from .props import labels_match

    return labels_match(selector, labels)


def _plainish(value: Any) -> Any:
    from .props import plain

    try:
        return plain(value)
    except Exception:
        return str(value)


# ---------------------------------------------------------------------------------------------------------
# Scheduling and capacity
# ---------------------------------------------------------------------------------------------------------

def _candidates(model: StackModel, workload: Workload) -> tuple[list[Pool], list[str]]:
    """The pools the workload's pods may land on, and why each other pool is ruled out. Kept per workload for
    the request (workload-schedulable, node-capacity, the browser-spot and storage-zone checks all ask), as
    fresh lists each time; a read that raises (unknown during preview) is not kept."""
    known = model.candidates.get(id(workload))
    if known is None:
        fits, reasons = [], []
        for pool in model.pools:
            ok, why = schedulable_on(workload.pod_spec, pool)
            if ok:
                fits.append(pool)
            else:
                reasons.append(f"{pool.name}: {why}")
        known = model.candidates[id(workload)] = (fits, reasons)
    return list(known[0]), list(known[1])


def check_schedulable(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "workload-schedulable")
    if not model.pools:
        if model.workloads:
            note("[workload-schedulable] the stack defines no node pools (kind config, EKS node groups, GKE node "
                 "pools): scheduling not checked")
        return
    for workload in model.workloads:
        pools, reasons = _candidates(model, workload)
        if not pools:
            report(f"{workload.title} fits no node pool: {'; '.join(reasons)}. Fix: align nodeSelector / affinity / "
                   "tolerations with a pool's labels and taints (or add such a pool).", workload.urn)


CAPACITY_SCHEMA: Schema = {
    "mesh": {"type": "string", "enum": ["auto", "on", "off"], "default": "auto",
             "description": "Count istio-cni per node: auto = when a namespace has sidecar injection on."},
    "monitoring": {"type": "string", "enum": ["auto", "on", "off"], "default": "auto",
                   "description": "Count node-exporter per node: auto = when a kube-prometheus-stack release or a "
                                  "ServiceMonitor is in the stack."},
}


def _switch(value: str, auto: bool) -> bool:
    return auto if value == "auto" else value == "on"


def check_capacity(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    import capacity  # the repo's shared capacity model (the pack puts the repo root on sys.path)

    model = _model(args, "node-capacity")
    if not model.pools:
        return
    mesh = _switch(str(cfg["mesh"]), any(model.injected(w) for w in model.workloads))
    monitoring = _switch(str(cfg["monitoring"]), model.release("kube-prometheus-stack") is not None
                         or bool(model.of("monitoring.coreos.com/ServiceMonitor")))
    daemonsets = [w for w in model.workloads if w.kind == "DaemonSet"]
    placed: dict[str, list[tuple[Workload, Any, int]]] = {pool.urn + pool.name: [] for pool in model.pools}
    nodes: dict[str, Any] = {}

    def node_for(pool: Pool) -> Any | None:
        key = pool.urn + pool.name
        if key in nodes:
            return nodes[key]
        base_overheads = capacity.default_overheads(pool.provider, mesh=mesh, monitoring=monitoring)
        declared, base_overheads = declared_node(pool, capacity, base_overheads)
        if declared is None and not pool.instance_types:
            note(f"[node-capacity] pool {pool.name}: instance type unknown, capacity not checked", pool.urn)
            nodes[key] = None
            return None
        try:
            specs = [declared] if declared is not None else [capacity.instance_type(t) for t in pool.instance_types]
        except capacity.UnknownInstanceTypeError as error:
            report(f"Node pool {pool.name}: {error}. Fix: add the instance type to capacity/prices.py (shape and "
                   "max pods) so the capacity model can size the pool.", pool.urn)
            nodes[key] = None
            return None
        smallest = min(specs, key=lambda s: (s.vcpu, s.memory_gib))
        extra = tuple(capacity.DaemonSet(d.name, _requests(model, d, capacity)) for d in daemonsets
                      if schedulable_on(d.pod_spec, pool)[0])
        overheads = dataclasses.replace(base_overheads, daemonsets=base_overheads.daemonsets + extra,
                                        sidecar=capacity.ZERO)
        nodes[key] = (smallest, overheads)
        return nodes[key]

    def fit(pool: Pool, group: list[tuple[Workload, Any, int]]) -> Any:
        found = node_for(pool)
        if found is None:
            return None
        spec, overheads = found
        return capacity.fits(spec, [(req, count) for _, req, count in group], pool.max_nodes,
                             provider=pool.provider, overheads=overheads)

    def room(pool: Pool, workload: Workload, requests: Any, wanted: int) -> int:
        """How many of `wanted` pods of the workload the pool still holds next to what is placed there."""
        low, high = 0, wanted
        while low < high:
            middle = (low + high + 1) // 2
            if fit(pool, [*placed[pool.urn + pool.name], (workload, requests, middle)]):
                low = middle
            else:
                high = middle - 1
        return low

    flexible: list[tuple[Workload, Any, list[Pool]]] = []
    for workload in model.workloads:
        if workload.kind == "DaemonSet":
            continue
        pools, _ = _candidates(model, workload)
        if not pools:
            continue  # workload-schedulable reports it
        requests = _requests(model, workload, capacity)
        single = [p for p in pools if node_for(p) is not None]
        for pool in single:
            spec, overheads = nodes[pool.urn + pool.name]
            node = capacity.node_allocatable(spec, pool.provider, overheads)
            if capacity.pods_per_node(requests, node) == 0:
                report(f"One pod of {workload.title} requests {requests} (sidecar included), more than a {spec.name} node "
                       f"of pool {pool.name} offers ({node.available} after system reserve and daemonsets). Fix: smaller "
                       "requests or a larger instance type.", workload.urn)
        if model.placeholder(workload):
            continue  # headroom is capacity below the pool's ceiling: at maxNodes its placeholders just stay Pending
        if len(pools) == 1:
            placed[pools[0].urn + pools[0].name].append((workload, requests, workload.max_replicas))
        else:
            flexible.append((workload, requests, pools))
    for workload, requests, pools in flexible:
        ordered = sorted(pools, key=lambda p: -p.max_nodes)
        whole = (workload, requests, workload.max_replicas)
        target = next((p for p in ordered if fit(p, [*placed[p.urn + p.name], whole])), None)
        if target is not None or any(node_for(p) is None for p in pools):
            target = target or ordered[0]
            placed[target.urn + target.name].append(whole)
            continue
        # No pool holds it alone (an on-demand base + spot burst): the scheduler fills every pool the pods may use
        # before one stays Pending, so they split, on-demand first (the pods prefer it), the rest on the last pool.
        split = sorted(pools, key=lambda p: (p.spot, -p.max_nodes))
        left = workload.max_replicas
        for index, pool in enumerate(split):
            count = left if index == len(split) - 1 else room(pool, workload, requests, left)
            if count:
                placed[pool.urn + pool.name].append((workload, requests, count))
            left -= count
    platform_pool, platform_pods = _platform_services(model, capacity)
    for pool in model.pools:
        group = placed[pool.urn + pool.name]
        extra = platform_pods if pool is platform_pool else []
        if not group and not extra:
            continue
        found = node_for(pool)
        if found is None:
            continue
        spec, overheads = found
        node = capacity.node_allocatable(spec, pool.provider, overheads)
        for name, pod_requests, _ in extra:
            if capacity.pods_per_node(pod_requests, node) == 0:
                report(f"The platform service pod {name} requests {pod_requests}, more than a {spec.name} node of pool "
                       f"{pool.name} offers ({node.available}). Fix: a larger instance type for the pool that carries "
                       "the platform services (the first one without a NoSchedule/NoExecute taint).", pool.urn)
        result = capacity.fits(spec, [(req, count) for _, req, count in group], pool.max_nodes,
                               provider=pool.provider, overheads=overheads,
                               extra_pods=[(req, count) for _, req, count in extra])
        if not result and result.nodes_needed is not None:
            names = ", ".join([f"{w.title} x{count}" for w, _, count in group]
                              + ([f"platform services ({len(extra)} pod kinds)"] if extra else []))
            report(f"Node pool {pool.name} cannot hold its workloads at maximum scale ({names}): {result.message}. Fix: "
                   "raise the pool's max nodes, use a larger instance type, or lower maxReplicas / requests "
                   "(see `python -m scripts.capacity_report`).", pool.urn)


PLATFORM_RELEASES = {
    # capacity.platform_layers switch -> the charts whose presence turns it on
    "mesh": ("istiod",), "monitoring": ("kube-prometheus-stack",), "keda": ("keda",), "tls": ("cert-manager",),
}


def _platform_services(model: StackModel, capacity: Any) -> tuple[Pool | None, list[tuple[str, Any, int]]]:
    """The platform services' own pods (from the same table their chart values come from) and the pool that
    carries them: the first one without a NoSchedule/NoExecute taint. Only the releases present count."""
    carrier = next((pool for pool in model.pools
                    if not any(t.effect in ("NoSchedule", "NoExecute") for t in pool.taints)), None)
    if carrier is None:
        return None, []
    switches = {name: any(model.release(chart) is not None for chart in charts)
                for name, charts in PLATFORM_RELEASES.items()}
    layers = capacity.platform_layers(carrier.provider, gateway=model.release("gateway") is not None, **switches)
    present = [layer for layer in layers
               if layer.name in switches or any(model.release(pod.release) is not None for pod in layer.pods)]
    return carrier, [(pod.name, pod.requests, pod.replicas.max) for layer in present for pod in layer.pods]


def _requests(model: StackModel, workload: Workload, capacity: Any) -> Any:
    cpu = model.pod_cost(workload, "requests", "cpu") or 0.0
    memory = model.pod_cost(workload, "requests", "memory") or 0.0
    return capacity.Resources(math.ceil(cpu), math.ceil(memory))


# ---------------------------------------------------------------------------------------------------------
# Network policies
# ---------------------------------------------------------------------------------------------------------

def _allows_port(rule: Any, protocol: str, number: int, names: tuple[str, ...]) -> bool:
    ports = items(rule, "ports")
    if not ports:
        return True
    for port in ports:
        if str(get(port, "protocol", default="TCP")) != protocol:
            continue
        value = get(port, "port")
        if value is None:
            return True
        as_number = as_int(value)
        end = as_int(get(port, "endPort"))
        if as_number is not None and (as_number == number or (end is not None and as_number <= number <= end)):
            return True
        if as_number is None and str(value) in names:
            return True
    return False


def check_default_deny(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "default-deny-with-dns")
    policies = model.of("networking.k8s.io/NetworkPolicy")
    namespaces = sorted({w.namespace for w in model.workloads} - set(cfg["exemptNamespaces"]))
    for namespace in namespaces:
        with per_resource("default-deny-with-dns", f"namespace {namespace}"):
            in_ns = [p for p in policies if namespace_of(p) == namespace]
            deny_ingress = deny_egress = False
            for policy in in_ns:
                if not selector_is_empty(get(policy.props, "spec", "podSelector", default={})):
                    continue
                types = _policy_types(policy)
                if "Ingress" in types and not items(policy.props, "spec", "ingress"):
                    deny_ingress = True
                if "Egress" in types and not items(policy.props, "spec", "egress"):
                    deny_egress = True
            first = next(w for w in model.workloads if w.namespace == namespace)
            if not (deny_ingress and deny_egress):
                missing = " and ".join(t for t, ok in (("ingress", deny_ingress), ("egress", deny_egress)) if not ok)
                report(f"Namespace {namespace} has workloads but no default-deny {missing} NetworkPolicy. Fix: a policy with "
                       "podSelector {} and policyTypes [Ingress, Egress] and no rules, then allow each needed path.",
                       first.urn)
            if not deny_egress:
                continue
            protocols = ["UDP", "TCP"] if cfg["requireTcpDns"] else ["UDP"]
            selectors = _Selectors()
            for workload in (w for w in model.workloads if w.namespace == namespace):
                selecting = [p for p in in_ns if selectors.selects(p, workload)]
                egress_rules = [rule for p in selecting if "Egress" in _policy_types(p)
                                for rule in items(p.props, "spec", "egress")]
                missing_dns = [proto for proto in protocols
                               if not any(_allows_port(rule, proto, 53, ("dns", "dns-tcp")) for rule in egress_rules)]
                if missing_dns:
                    report(f"{workload.title} is under default-deny egress but no NetworkPolicy lets it reach DNS "
                           f"({'/'.join(missing_dns)} 53): every name lookup fails. Fix: allow egress to kube-dns on UDP and "
                           "TCP 53 for all pods.", workload.urn)


def _policy_types(policy: Any) -> list[str]:
    """spec.policyTypes, or the API server's default when unset: Ingress, plus Egress if egress rules exist."""
    explicit = [str(t) for t in items(policy.props, "spec", "policyTypes")]
    if explicit:
        return explicit
    return ["Ingress", "Egress"] if get(policy.props, "spec", "egress") is not None else ["Ingress"]


class _Selectors:
    """Which NetworkPolicies of a namespace select a workload, asked for every workload of the namespace: each
    policy's podSelector, and whether it is empty (then it selects every pod), is read once per namespace
    instead of once per workload; the labels are matched per workload as before."""

    def __init__(self) -> None:
        self.known: dict[int, tuple[Any, bool]] = {}

    def selects(self, policy: Any, workload: Workload) -> bool:
        known = self.known.get(id(policy))
        if known is None:
            selector = get(policy.props, "spec", "podSelector", default={})
            known = self.known[id(policy)] = (selector, selector_is_empty(selector))
        selector, empty = known
        return empty or _labels_match(selector, workload.pod_labels)


def _vpc_cni_enforces(model: StackModel) -> bool:
    for addon in (r for r in model.resources if r.resource_type == EKS_ADDON):
        if get(addon.props, "addonName") != "vpc-cni":
            continue
        raw = get(addon.props, "configurationValues")
        try:
            values = json.loads(str(raw)) if raw else {}
        except ValueError:
            values = {}
        if isinstance(values, dict) and truthy(values.get("enableNetworkPolicy")):
            return True
    return False


def check_network_policy_enforced(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "network-policy-enforced")
    policies = model.of("networking.k8s.io/NetworkPolicy")
    if not policies:
        return
    third_party = next((c for c in cfg["enforcingCniCharts"] if model.release(str(c)) is not None), None)
    clusters = 0
    for resource in model.resources:
        if is_kind_command(resource.resource_type, resource.props):
            clusters += 1
            if truthy(kind_document(resource.props).get("networking", {}).get("disableDefaultCNI")) and not third_party:
                report("The kind cluster disables kindnet (networking.disableDefaultCNI) and installs no CNI that "
                       "enforces NetworkPolicy: the stack's NetworkPolicies would be ignored. Fix: keep kindnet (it "
                       "enforces NetworkPolicy since kind v0.24) or install Calico/Cilium.", resource.urn)
        elif resource.resource_type == EKS_CLUSTER:
            clusters += 1
            if not _vpc_cni_enforces(model) and not third_party:
                report("The EKS cluster's NetworkPolicies are not enforced: no vpc-cni add-on with "
                       "configurationValues {\"enableNetworkPolicy\": \"true\"}. Fix: add the aws:eks/addon:Addon "
                       "vpc-cni with that configuration (or install Calico/Cilium).", resource.urn)
        elif resource.resource_type == GKE_CLUSTER:
            clusters += 1
            dataplane = get(resource.props, "datapathProvider") == "ADVANCED_DATAPATH"
            calico = truthy(get(resource.props, "networkPolicy", "enabled")) is True
            if not (dataplane or calico or third_party):
                report("The GKE cluster does not enforce NetworkPolicies. Fix: datapathProvider ADVANCED_DATAPATH "
                       "(Dataplane V2).", resource.urn)
    if clusters == 0:
        note("[network-policy-enforced] the stack defines no cluster (kind, EKS, GKE): enforcement not checked")


def check_mesh_mtls(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    """Where sidecars are injected, a namespace-wide (or mesh-wide) STRICT PeerAuthentication must exist:
    without one Istio accepts plain text (PERMISSIVE is its default)."""
    model = _model(args, "istio-mtls-strict-coverage")
    root = str(cfg["meshRootNamespace"])
    strict: set[str] = set()
    for peer in model.of("security.istio.io/PeerAuthentication"):
        with per_resource("istio-mtls-strict-coverage", peer.urn):
            if get(peer.props, "spec", "selector") is None and get(peer.props, "spec", "mtls", "mode") == "STRICT":
                strict.add(namespace_of(peer))
    if root in strict:
        return
    meshed: dict[str, Workload] = {}
    for workload in model.workloads:
        if model.injected(workload):
            meshed.setdefault(workload.namespace, workload)
    for namespace, workload in sorted(meshed.items()):
        if namespace not in strict:
            report(f"Namespace {namespace} runs sidecar-injected workloads ({workload.title}) but neither it nor the "
                   f"mesh root namespace {root} has a STRICT PeerAuthentication without selector: the sidecars accept "
                   "plain-text traffic (Istio's default is PERMISSIVE). Fix: a PeerAuthentication 'default' with "
                   "mtls.mode STRICT in the namespace (or mesh-wide in the root namespace).", workload.urn)


# ---------------------------------------------------------------------------------------------------------
# Quotas
# ---------------------------------------------------------------------------------------------------------

QUOTA_KEYS = {
    "requests.cpu": ("requests", "cpu"), "cpu": ("requests", "cpu"),
    "requests.memory": ("requests", "memory"), "memory": ("requests", "memory"),
    "limits.cpu": ("limits", "cpu"), "limits.memory": ("limits", "memory"),
    "requests.ephemeral-storage": ("requests", "ephemeral-storage"),
    "limits.ephemeral-storage": ("limits", "ephemeral-storage"),
}


def check_quota(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "resource-quota-fits")
    for quota in model.of("core/ResourceQuota"):
        with per_resource("resource-quota-fits", quota.urn):
            namespace, name = namespace_of(quota), metadata_name(quota.props)
            if get(quota.props, "spec", "scopes") is not None or get(quota.props, "spec", "scopeSelector") is not None:
                note(f"[resource-quota-fits] {namespace}/{name} is scoped: not checked", quota.urn)
                continue
            hard = str_map(quota.props, "spec", "hard")
            workloads = [w for w in model.workloads if w.namespace == namespace and w.kind != "DaemonSet"]
            if not workloads:
                continue
            pods = sum(w.max_replicas + (w.surge if cfg["includeRollingSurge"] else 0) for w in workloads)
            if "pods" in hard and pods > (as_int(hard["pods"], 0) or 0):
                report(f"ResourceQuota {namespace}/{name} allows {hard['pods']} pods; the workloads need {pods} at maximum "
                       "scale during a rolling update. Fix: raise hard.pods or lower maxReplicas.", quota.urn)
            for key, (kind, resource) in QUOTA_KEYS.items():
                if key not in hard:
                    continue
                limit = (quantity(hard[key]) or 0) * (1000 if resource == "cpu" else 1)
                total = 0.0
                for w in workloads:
                    per_pod = model.pod_cost(w, kind, resource)
                    if per_pod is None:
                        continue  # k8s-resource-requests-limits reports the missing value
                    total += per_pod * (w.max_replicas + (w.surge if cfg["includeRollingSurge"] else 0))
                if total > limit:
                    report(f"ResourceQuota {namespace}/{name} hard {key} {hard[key]} is below what the workloads need at "
                           f"maximum scale ({_amount_text(resource, total)}, max replicas x {kind} incl. sidecars and "
                           "rolling-update surge): new pods would be rejected. Fix: size the quota from the workloads.",
                           quota.urn)


# ---------------------------------------------------------------------------------------------------------
# Browser pods
# ---------------------------------------------------------------------------------------------------------

BROWSER_SCHEMA: Schema = {
    "browserLabels": {"type": "object", "additionalProperties": {"type": "string"},
                      "default": {"app.kubernetes.io/component": "browser"},
                      "description": "Pod labels that mark a headless-browser workload (the role label the "
                                     "program puts on every browser pool's pods, whatever its name)."},
    "sessionTimeoutKey": {"type": "string", "default": "SESSION_TIMEOUT_SECONDS",
                          "description": "Env var / ConfigMap key holding the browser session timeout."},
    "defaultSessionTimeoutSeconds": {"type": "integer", "minimum": 0, "default": 3600,
                                     "description": "Session timeout assumed when the pod's config does not say."},
}


def _browsers(model: StackModel, cfg: Mapping[str, Any]) -> list[Workload]:
    wanted = {str(k): str(v) for k, v in dict(cfg["browserLabels"]).items()}
    return [w for w in model.workloads
            if (wanted and all(w.pod_labels.get(k) == v for k, v in wanted.items()))
            or model.config_value(w, str(cfg["sessionTimeoutKey"])) is not None]


def _session_timeout(model: StackModel, workload: Workload, cfg: Mapping[str, Any]) -> tuple[int, str]:
    value = as_int(model.config_value(workload, str(cfg["sessionTimeoutKey"])))
    if value is not None:
        return value, f"{cfg['sessionTimeoutKey']}={value} from the pod's config"
    return int(cfg["defaultSessionTimeoutSeconds"]), "the policy's defaultSessionTimeoutSeconds"


def check_browser_shm(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "browser-shm")
    for workload in _browsers(model, cfg):
        with per_resource("browser-shm", workload.urn):
            shm_volumes = {str(get(v, "name")): v for v in items(workload.pod_spec, "volumes")
                           if get(v, "emptyDir") is not None and get(v, "emptyDir", "medium") == "Memory"}
            mounted = False
            for ref in running_containers(workload.pod_spec):
                for mount in items(ref.container, "volumeMounts"):
                    if get(mount, "mountPath") != "/dev/shm":
                        continue
                    volume = shm_volumes.get(str(get(mount, "name")))
                    if volume is None:
                        report(f"{workload.title}: {ref.where} mounts /dev/shm from a volume that is not a memory-backed "
                               "emptyDir. Fix: emptyDir {medium: Memory, sizeLimit: <shm size>}.", workload.urn)
                        mounted = True
                        continue
                    mounted = True
                    size = quantity(get(volume, "emptyDir", "sizeLimit"))
                    if size is None:
                        report(f"{workload.title}: the /dev/shm emptyDir has no sizeLimit; Chrome can fill node memory. Fix: "
                               "set emptyDir.sizeLimit (shmSize).", workload.urn)
                        continue
                    request = quantity(get(ref.container, "resources", "requests", "memory"))
                    limit = quantity(get(ref.container, "resources", "limits", "memory"))
                    if request is not None and limit is not None and limit < request + size:
                        report(f"{workload.title}: {ref.where} memory limit {fmt_bytes(limit)} is below its request "
                               f"{fmt_bytes(request)} plus /dev/shm {fmt_bytes(size)}; shm pages count against the limit, so "
                               "the browser is OOM-killed under load. Fix: limits.memory >= requests.memory + shmSize.",
                               workload.urn)
            if not mounted:
                report(f"{workload.title} is a browser pod without a memory-backed /dev/shm: the runtime's 64Mi default "
                       "crashes tabs. Fix: mount an emptyDir {medium: Memory, sizeLimit} at /dev/shm.", workload.urn)


def check_browser_grace(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "browser-grace-period")
    for workload in _browsers(model, cfg):
        with per_resource("browser-grace-period", workload.urn):
            grace = as_int(get(workload.pod_spec, "terminationGracePeriodSeconds"), 30) or 0
            timeout, source = _session_timeout(model, workload, cfg)
            if grace < timeout:
                report(f"{workload.title}: terminationGracePeriodSeconds {grace} is shorter than the session timeout "
                       f"{timeout}s ({source}): a drain or scale-down kills live sessions. Fix: grace period >= session "
                       "timeout (+ a buffer for the preStop drain).", workload.urn)


SPOT_SCHEMA: Schema = {
    **BROWSER_SCHEMA,
    "awsSpotNoticeSeconds": {"type": "integer", "minimum": 0, "default": 120,
                             "description": "EC2 spot interruption notice."},
    "gcpSpotNoticeSeconds": {"type": "integer", "minimum": 0, "default": 30,
                             "description": "GCE spot / preemptible termination notice."},
}


def check_browser_spot(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "browser-spot-drain")
    for workload in _browsers(model, cfg):
        with per_resource("browser-spot-drain", workload.urn):
            candidates = _candidates(model, workload)[0]
            spot_pools = [p for p in candidates if p.spot]
            if not spot_pools:
                continue
            grace = as_int(get(workload.pod_spec, "terminationGracePeriodSeconds"), 30) or 0
            timeout, _ = _session_timeout(model, workload, cfg)
            drain = max(grace, timeout)
            # An on-demand base next to the spot pool keeps the floor (the minimum replicas) through a reclaim.
            base = [p for p in candidates if not p.spot]
            floor = (f"on-demand pool(s) {', '.join(p.name for p in base)} keep the floor of {workload.min_replicas} "
                     "pod(s) through a reclaim; only sessions on spot nodes are lost" if base
                     else "no on-demand pool holds a floor, so a reclaim can take every session")
            for pool in spot_pools:
                notice = int(cfg["awsSpotNoticeSeconds"] if pool.provider == "eks" else cfg["gcpSpotNoticeSeconds"])
                if drain > notice:
                    report(f"{workload.title} can land on spot pool {pool.name}, whose interruption notice is {notice}s, but "
                           f"its sessions need up to {drain}s to drain: sessions running at an interruption are cut off "
                           f"({floor}). Accept it knowingly, shorten sessions, or keep an on-demand base pool for the "
                           "floor.", workload.urn)


# ---------------------------------------------------------------------------------------------------------
# EKS nodes in public subnets
# ---------------------------------------------------------------------------------------------------------

def check_eks_public_nodes(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    groups = [r for r in args.resources if r.resource_type == EKS_NODE_GROUP]
    for group in groups:
        with per_resource("eks-no-public-node-ips", group.urn):
            subnets = [d for d in (group.property_dependencies.get("subnetIds") or group.dependencies or [])
                       if d.resource_type == SUBNET]
            for subnet in subnets:
                if truthy(get(subnet.props, "mapPublicIpOnLaunch")):
                    report(f"NodeGroup '{group.name}' places nodes in subnet '{subnet.name}', which maps public IPs on "
                           "launch. Fix: node groups use private subnets (mapPublicIpOnLaunch false, NAT for egress).",
                           group.urn)
            templates = [d for d in (group.property_dependencies.get("launchTemplate") or group.dependencies or [])
                         if d.resource_type == LAUNCH_TEMPLATE]
            for template in templates:
                for interface in items(template.props, "networkInterfaces"):
                    if truthy(get(interface, "associatePublicIpAddress")):
                        report(f"NodeGroup '{group.name}' uses launch template '{template.name}', which gives nodes public "
                               "IPs. Fix: associatePublicIpAddress 'false'.", group.urn)
            if get(group.props, "remoteAccess", "ec2SshKey"):
                report(f"NodeGroup '{group.name}' opens SSH to its nodes (remoteAccess). Fix: use SSM Session Manager.",
                       group.urn)


def policies() -> list[StackValidationPolicy]:
    return [
        stack_policy("pdb-allows-drain", "PodDisruptionBudgets always allow at least one eviction at the workload's "
                     "minimum replicas, and each workload has at most one.", check_pdb,
                     remediation="Use maxUnavailable: 1."),
        stack_policy("autoscaler-target-exists", "Every HPA / KEDA ScaledObject targets a workload of the stack.",
                     check_autoscaler_targets, remediation="Fix scaleTargetRef."),
        stack_policy("one-autoscaler-per-target", "A workload has at most one autoscaler and leaves spec.replicas to it.",
                     check_one_autoscaler, remediation="One autoscaler per workload; no spec.replicas under it."),
        stack_policy("long-running-min-replicas", "Long-running workloads keep at least the minimum replicas, counting "
                     "their autoscaler's minReplicas.", check_min_replicas,
                     schema={"minReplicas": {"type": "integer", "minimum": 1, "default": 2,
                                             "description": "Fewest replicas a long-running workload may scale to."}},
                     remediation="Raise minReplicas / replicas."),
        stack_policy("utilization-metrics-need-requests", "Utilization-based autoscaling only where every container "
                     "(istio-proxy sidecar included) requests the metric's resource.", check_utilization_requests,
                     remediation="Set requests on every container and sidecar.istio.io/proxyCPU|proxyMemory."),
        stack_policy("service-selects-pods", "Every Service selector matches a pod template whose containers declare the "
                     "targetPort.", check_services, remediation="Align selector and targetPort with the workload."),
        stack_policy("servicemonitor-selects-service", "Every ServiceMonitor selects a Service, names one of its ports and "
                     "carries the labels Prometheus selects.", check_service_monitors,
                     schema={"requiredLabels": {"type": "object", "additionalProperties": {"type": "string"},
                                                "default": {},
                                                "description": "Labels Prometheus selects ServiceMonitors by (overrides "
                                                               "the kube-prometheus-stack release values)."}},
                     remediation="Match the Service labels and port name; add Prometheus' selector labels."),
        stack_policy("workload-schedulable", "Every workload's nodeSelector, affinity and tolerations fit at least one "
                     "node pool.", check_schedulable, remediation="Align the pod template with a pool."),
        stack_policy("node-capacity", "Each node pool holds its workloads at maximum scale (capacity model in "
                     "capacity/), and no pod is larger than one node.", check_capacity, schema=CAPACITY_SCHEMA,
                     remediation="Raise maxNodes, use larger instances, or lower maxReplicas / requests."),
        stack_policy("default-deny-with-dns", "Namespaces with workloads deny all traffic by default and still allow DNS "
                     "egress.", check_default_deny,
                     schema={"exemptNamespaces": string_list("Namespaces not checked.", ["kube-system"]),
                             "requireTcpDns": {"type": "boolean", "default": True,
                                               "description": "Also require TCP 53 (large DNS answers)."}},
                     remediation="default-deny-all plus allow-dns-egress NetworkPolicies."),
        stack_policy("network-policy-enforced", "The cluster's networking enforces the stack's NetworkPolicies "
                     "(EKS vpc-cni enableNetworkPolicy, GKE Dataplane V2, kind's kindnet).",
                     check_network_policy_enforced,
                     schema={"enforcingCniCharts": string_list("Helm charts whose release enforces NetworkPolicy.",
                                                               ["tigera-operator", "calico", "cilium"])},
                     remediation="Enable network-policy enforcement in the cluster's CNI."),
        stack_policy("istio-mtls-strict-coverage", "Namespaces with sidecar-injected workloads are covered by a "
                     "namespace- or mesh-wide STRICT PeerAuthentication.", check_mesh_mtls,
                     schema={"meshRootNamespace": {"type": "string", "default": "istio-system",
                                                   "description": "Istio's root namespace (mesh-wide policies)."}},
                     remediation="PeerAuthentication 'default' with mtls.mode STRICT per meshed namespace."),
        stack_policy("resource-quota-fits", "ResourceQuotas admit every workload at maximum replicas (limits and "
                     "requests, sidecars and rolling surge included).", check_quota,
                     schema={"includeRollingSurge": {"type": "boolean", "default": True,
                                                     "description": "Count each Deployment's maxSurge pods."}},
                     remediation="Size the quota from the workloads."),
        stack_policy("browser-shm", "Browser pods mount a memory emptyDir with a sizeLimit at /dev/shm, and their "
                     "memory limit covers requests plus shm.", check_browser_shm, schema=BROWSER_SCHEMA,
                     remediation="emptyDir {medium: Memory, sizeLimit}; limits.memory >= requests.memory + shm."),
        stack_policy("browser-grace-period", "Browser pods' terminationGracePeriodSeconds covers the session timeout.",
                     check_browser_grace, schema=BROWSER_SCHEMA,
                     remediation="terminationGracePeriodSeconds >= session timeout."),
        stack_policy("browser-spot-drain", "Warning: browser pods on spot pools need longer to drain than the "
                     "provider's interruption notice.", check_browser_spot, schema=SPOT_SCHEMA, level=ADVISORY,
                     remediation="Shorter sessions or on-demand capacity for them."),
        stack_policy("eks-no-public-node-ips", "EKS node groups get no public IPs (subnets, launch templates) and no "
                     "SSH.", check_eks_public_nodes, remediation="Private subnets; associatePublicIpAddress false."),
    ]
