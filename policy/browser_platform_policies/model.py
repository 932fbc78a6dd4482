"""The stack as the cross-resource policies see it: workloads, their autoscalers, Services, namespaces, pools.

Built once per `AnalyzeStack` call from `args.resources` (PolicyResource: resource_type, props, urn, name,
parent, dependencies, provider). A resource whose properties are still unknown (preview) is left out of the
model with a note instead of failing every stack policy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .config import note
from .pools import Pool, pools_of
from .props import (
    UnknownValueError,
    as_int,
    containers,
    cpu_millis,
    get,
    items,
    kube_type,
    labels_match,
    metadata_name,
    pod_template,
    quantity,
    running_containers,
    str_map,
)

HPA = "HorizontalPodAutoscaler"
SCALED_OBJECT = "ScaledObject"
RELEASE_TYPES = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Release")
SIDECAR_ANNOTATIONS = {
    ("requests", "cpu"): "sidecar.istio.io/proxyCPU",
    ("requests", "memory"): "sidecar.istio.io/proxyMemory",
    ("limits", "cpu"): "sidecar.istio.io/proxyCPULimit",
    ("limits", "memory"): "sidecar.istio.io/proxyMemoryLimit",
}
ISTIO_DEFAULT_PROXY = {"requests": {"cpu": 100.0, "memory": 128.0 * 2**20},
                       "limits": {"cpu": 2000.0, "memory": 1024.0 * 2**20}}
"""istio-proxy's resources when neither pod annotations nor the istiod release values say otherwise
(istiod chart `global.proxy.resources`); CPU in millicores, memory in bytes."""


def namespace_of(resource: Any) -> str:
    namespace = get(resource.props, "metadata", "namespace")
    if namespace:
        return str(namespace)
    provider_ns = get(resource.provider.props, "namespace") if resource.provider is not None else None
    return str(provider_ns) if provider_ns else "default"


@dataclass
class Workload:
    resource: Any
    kind: str
    name: str
    namespace: str
    pod_labels: dict[str, str]
    pod_annotations: dict[str, str]
    pod_spec: Any
    replicas: int | None
    """spec.replicas as written (None: unset)."""
    surge: int = 0
    autoscalers: list[Autoscaler] = field(default_factory=list)

    @property
    def urn(self) -> str:
        return str(self.resource.urn)

    @property
    def title(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

    @property
    def long_running(self) -> bool:
        return self.kind in ("Deployment", "StatefulSet", "ReplicaSet", "ReplicationController")

    @property
    def min_replicas(self) -> int:
        if self.autoscalers:
            return min(a.min_replicas for a in self.autoscalers)
        return self.replicas if self.replicas is not None else 1

    @property
    def max_replicas(self) -> int:
        if self.autoscalers:
            return max(a.max_replicas for a in self.autoscalers)
        return self.replicas if self.replicas is not None else 1

    def pod_total(self, kind: str, resource: str) -> float | None:
        """Sum over the running containers of requests/limits of `resource`, at least any init container's;
        None if a running container does not set it."""
        total = 0.0
        for ref in running_containers(self.pod_spec):
            value = _amount(resource, get(ref.container, "resources", kind, resource))
            if value is None:
                return None
            total += value
        for ref in containers(self.pod_spec):
            if ref.init and not ref.sidecar:
                value = _amount(resource, get(ref.container, "resources", kind, resource))
                if value is not None:
                    total = max(total, value)
        return total


def _amount(resource: str, value: Any) -> float | None:
    return cpu_millis(value) if resource == "cpu" else quantity(value)


@dataclass
class Autoscaler:
    resource: Any
    kind: str
    name: str
    namespace: str
    target_kind: str
    target_name: str
    min_replicas: int
    max_replicas: int
    utilization: list[str]
    """Resources scaled on utilization of requests (cpu, memory)."""

    @property
    def title(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def _surge(resource_type: str, props: Any, replicas: int) -> int:
    kt = kube_type(resource_type)
    if kt is None or kt.kind != "Deployment":
        return 0
    if get(props, "spec", "strategy", "type", default="RollingUpdate") != "RollingUpdate":
        return 0
    value = get(props, "spec", "strategy", "rollingUpdate", "maxSurge", default="25%")
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(float(value[:-1]) * replicas / 100)
    return as_int(value, 0) or 0


def _autoscaler(resource: Any) -> Autoscaler | None:
    kt = kube_type(resource.resource_type)
    if kt is None:
        return None
    props = resource.props
    namespace = namespace_of(resource)
    if kt.kind == HPA and kt.group == "autoscaling":
        utilization: list[str] = []
        if get(props, "spec", "targetCPUUtilizationPercentage") is not None:
            utilization.append("cpu")
        for metric in items(props, "spec", "metrics"):
            metric_type = get(metric, "type")
            source = get(metric, "resource") if metric_type == "Resource" else \
                get(metric, "containerResource") if metric_type == "ContainerResource" else None
            if source is not None and get(source, "target", "type") == "Utilization":
                utilization.append(str(get(source, "name")))
        if not utilization and not items(props, "spec", "metrics"):
            utilization.append("cpu")  # the API's default: 80% average CPU utilization
        return Autoscaler(resource, HPA, metadata_name(props), namespace,
                          str(get(props, "spec", "scaleTargetRef", "kind", default="")),
                          str(get(props, "spec", "scaleTargetRef", "name", default="")),
                          as_int(get(props, "spec", "minReplicas"), 1) or 1,
                          as_int(get(props, "spec", "maxReplicas"), 1) or 1, utilization)
    if kt.kind == SCALED_OBJECT and kt.group == "keda.sh":
        utilization = [str(get(t, "type")) for t in items(props, "spec", "triggers")
                       if get(t, "type") in ("cpu", "memory") and get(t, "metricType", default="Utilization") == "Utilization"]
        return Autoscaler(resource, SCALED_OBJECT, metadata_name(props), namespace,
                          str(get(props, "spec", "scaleTargetRef", "kind", default="Deployment")),
                          str(get(props, "spec", "scaleTargetRef", "name", default="")),
                          as_int(get(props, "spec", "minReplicaCount"), 0) or 0,
                          as_int(get(props, "spec", "maxReplicaCount"), 100) or 0, utilization)
    return None


class StackModel:
    def __init__(self, resources: Iterable[Any]) -> None:
        self.resources = list(resources)
        self.workloads: list[Workload] = []
        self.autoscalers: list[Autoscaler] = []
        self.namespaces: dict[str, dict[str, str]] = {}
        self.by_kind: dict[str, list[Any]] = {}
        self.releases: list[Any] = []
        self.skipped: list[str] = []
        for resource in self.resources:
            try:
                self._add(resource)
            except UnknownValueError as error:
                self.skipped.append(resource.urn)
                note(f"[stack policies] left {resource.urn} out of the stack model: {error.message}; it is checked "
                     "again when the value is known", resource.urn)
        by_target: dict[tuple[str, str, str], list[Autoscaler]] = {}
        for autoscaler in self.autoscalers:
            by_target.setdefault((autoscaler.namespace, autoscaler.target_kind, autoscaler.target_name), []).append(autoscaler)
        for workload in self.workloads:
            workload.autoscalers = by_target.get((workload.namespace, workload.kind, workload.name), [])
        self._pools: list[Pool] | None = None
        self._index: dict[tuple[str, str, str], list[Workload]] | None = None
        self._by_key: dict[tuple[str, str, str], Workload] | None = None
        self._config_maps: dict[tuple[str, str], Any] | None = None
        # Per-workload answers several stack policies ask again (node capacity, quotas, placement, browser
        # pools...), by id(workload): the model holds every workload and is read-only once built, so an answer
        # cannot change during the request. Only answers are kept: a read that raises (unknown during preview)
        # raises again for the next policy, as before.
        self._pod_costs: dict[tuple[int, str, str], float | None] = {}
        self._config_values: dict[tuple[int, str], str | None] = {}
        self.candidates: dict[int, tuple[list[Pool], list[str]]] = {}
        """stack._candidates' answer per workload (by id), for the request."""

    def _add(self, resource: Any) -> None:
        if resource.resource_type in RELEASE_TYPES:
            self.releases.append(resource)
            return
        kt = kube_type(resource.resource_type)
        if kt is None:
            return
        self.by_kind.setdefault(kt.group_kind, []).append(resource)
        if kt.group_kind == "core/Namespace":
            self.namespaces[metadata_name(resource.props)] = str_map(resource.props, "metadata", "labels")
            return
        template = pod_template(resource.resource_type, resource.props)
        if template is not None:
            pod_meta, pod_spec = template
            replicas = as_int(get(resource.props, "spec", "replicas"))
            if kt.kind in ("Job", "CronJob"):
                path = ("spec", "jobTemplate", "spec", "parallelism") if kt.kind == "CronJob" else ("spec", "parallelism")
                replicas = as_int(get(resource.props, *path), 1)
            elif kt.kind == "Pod":
                replicas = 1
            self.workloads.append(Workload(
                resource, kt.kind, metadata_name(resource.props), namespace_of(resource),
                str_map(pod_meta, "labels"), str_map(pod_meta, "annotations"), pod_spec, replicas))
            return
        autoscaler = _autoscaler(resource)
        if autoscaler is not None:
            self.autoscalers.append(autoscaler)

    # --- lookups -------------------------------------------------------------------------------------------

    def of(self, group_kind: str) -> list[Any]:
        return self.by_kind.get(group_kind, [])

    @staticmethod
    def targets(autoscaler: Autoscaler, workload: Workload) -> bool:
        return autoscaler.namespace == workload.namespace and autoscaler.target_name == workload.name \
            and autoscaler.target_kind == workload.kind

    def target(self, autoscaler: Autoscaler) -> Workload | None:
        """The workload `autoscaler` scales, if the stack defines it (`targets` without a scan of every workload)."""
        if self._by_key is None:
            self._by_key = {}
            for w in self.workloads:
                self._by_key.setdefault((w.namespace, w.kind, w.name), w)
        return self._by_key.get((autoscaler.namespace, autoscaler.target_kind, autoscaler.target_name))

    def selected(self, namespace: str, selector: Any) -> list[Workload]:
        """Workloads of `namespace` whose pod labels the selector matches (indexed by one matchLabels pair)."""
        if self._index is None:
            self._index = {}
            for w in self.workloads:
                self._index.setdefault((w.namespace, "", ""), []).append(w)
                for key, value in w.pod_labels.items():
                    self._index.setdefault((w.namespace, key, value), []).append(w)
        pairs = str_map(selector, "matchLabels") if "matchLabels" in selector or "matchExpressions" in selector \
            else str_map(selector)
        # The most selective pair: labels shared by every workload (part-of, managed-by) would scan them all.
        candidates = min((self._index.get((namespace, k, v), []) for k, v in pairs.items()), key=len,
                         default=self._index.get((namespace, "", ""), []))
        return [w for w in candidates if labels_match(selector, w.pod_labels)]

    def finalize_surge(self) -> None:
        for w in self.workloads:
            w.surge = _surge(w.resource.resource_type, w.resource.props, w.max_replicas)

    @property
    def pools(self) -> list[Pool]:
        if self._pools is None:
            self._pools = pools_of(self.resources)
            self._fill_instance_types(self._pools)
        return self._pools

    def _fill_instance_types(self, pools: list[Pool]) -> None:
        by_urn = {r.urn: r for r in self.resources}
        for pool in pools:
            if pool.instance_types or pool.urn not in by_urn:
                continue
            for dependency in by_urn[pool.urn].dependencies or []:
                instance = get(dependency.props, "instanceType") \
                    if dependency.resource_type == "aws:ec2/launchTemplate:LaunchTemplate" else None
                if instance:
                    pool.instance_types = [str(instance)]

    def release(self, chart_suffix: str) -> Any | None:
        for release in self.releases:
            chart = str(get(release.props, "chart", default=""))
            if chart == chart_suffix or chart.endswith("/" + chart_suffix):
                return release
        return None

    # --- priority --------------------------------------------------------------------------------------------

    def priority_class(self, name: str) -> Any | None:
        """The stack's PriorityClass of that name (None: not in the stack, e.g. a built-in system-* class)."""
        return next((pc for pc in self.of("scheduling.k8s.io/PriorityClass") if metadata_name(pc.props) == name), None)

    def placeholder(self, workload: Workload) -> bool:
        """Pods at a PriorityClass of the stack below zero hold capacity for others (headroom): every pod that names
        no class (0) preempts them, so they are not protected (PDB) nor sized like a workload (node capacity)."""
        name = get(workload.pod_spec, "priorityClassName")
        found = self.priority_class(str(name)) if name else None
        value = as_int(get(found.props, "value")) if found is not None else None
        return value is not None and value < 0

    # --- mesh ----------------------------------------------------------------------------------------------

    def injected(self, workload: Workload) -> bool:
        flag = workload.pod_labels.get("sidecar.istio.io/inject") or \
            workload.pod_annotations.get("sidecar.istio.io/inject")
        if flag == "false":
            return False
        labels = self.namespaces.get(workload.namespace, {})
        namespace_on = labels.get("istio-injection") == "enabled" or "istio.io/rev" in labels
        return namespace_on or flag == "true"

    def mesh_proxy_values(self) -> dict[str, dict[str, float]]:
        """The istiod release's `global.proxy.resources` (millicores / bytes), if the stack installs istiod."""
        release = self.release("istiod")
        result: dict[str, dict[str, float]] = {}
        if release is None:
            return result
        for kind in ("requests", "limits"):
            values = str_map(release.props, "values", "global", "proxy", "resources", kind)
            parsed = {r: _amount(r, values[r]) for r in ("cpu", "memory") if r in values}
            result[kind] = {k: v for k, v in parsed.items() if v is not None}
        return result

    def sidecar(self, workload: Workload, kind: str, resource: str) -> tuple[float, bool]:
        """(amount, explicit) of the istio-proxy sidecar's requests/limits for `resource`; (0, True) without a
        sidecar. `explicit` is False when only Istio's built-in default applies."""
        if not self.injected(workload):
            return 0.0, True
        annotation = workload.pod_annotations.get(SIDECAR_ANNOTATIONS.get((kind, resource), ""))
        if annotation is not None and _amount(resource, annotation) is not None:
            return _amount(resource, annotation) or 0.0, True
        mesh = self.mesh_proxy_values().get(kind, {})
        if resource in mesh:
            return mesh[resource], True
        return ISTIO_DEFAULT_PROXY.get(kind, {}).get(resource, 0.0), False

    def pod_cost(self, workload: Workload, kind: str, resource: str) -> float | None:
        key = (id(workload), kind, resource)
        if key in self._pod_costs:
            return self._pod_costs[key]
        cost = self._pod_cost(workload, kind, resource)
        self._pod_costs[key] = cost
        return cost

    def _pod_cost(self, workload: Workload, kind: str, resource: str) -> float | None:
        own = workload.pod_total(kind, resource)
        if own is None:
            return None
        extra = self.sidecar(workload, kind, resource)[0] if resource in ("cpu", "memory") else 0.0
        return own + extra

    # --- config maps ---------------------------------------------------------------------------------------

    def config_value(self, workload: Workload, key: str) -> str | None:
        """The value of env var `key` in the workload's main containers: a literal, a configMapKeyRef, or a
        ConfigMap loaded with envFrom (ConfigMaps of this stack only)."""
        cache_key = (id(workload), key)
        if cache_key in self._config_values:
            return self._config_values[cache_key]
        value = self._config_value(workload, key)
        self._config_values[cache_key] = value
        return value

    def _config_value(self, workload: Workload, key: str) -> str | None:
        if self._config_maps is None:
            self._config_maps = {(namespace_of(c), metadata_name(c.props)): c for c in self.of("core/ConfigMap")}
        maps = self._config_maps
        for ref in running_containers(workload.pod_spec):
            for env in items(ref.container, "env"):
                if get(env, "name") != key:
                    continue
                if get(env, "value") is not None:
                    return str(get(env, "value"))
                map_name = get(env, "valueFrom", "configMapKeyRef", "name")
                map_key = get(env, "valueFrom", "configMapKeyRef", "key")
                config_map = maps.get((workload.namespace, str(map_name)))
                if config_map is not None and map_key is not None:
                    value = get(config_map.props, "data", str(map_key))
                    if value is not None:
                        return str(value)
            for source in items(ref.container, "envFrom"):
                map_name = get(source, "configMapRef", "name")
                config_map = maps.get((workload.namespace, str(map_name))) if map_name else None
                if config_map is not None:
                    prefix = str(get(source, "prefix", default="") or "")
                    for data_key, value in str_map(config_map.props, "data").items():
                        if prefix + data_key == key:
                            return value
        return None
