"""Reading resource properties as CrossGuard hands them over, and the Kubernetes shapes the policies share.

Properties arrive as read-only proxies (`Mapping` / `Sequence`, not dict / list) whose values raise
`UnknownValueError` when read during a preview before they are known; numbers arrive as floats. Every helper
here works on proxies and on plain dicts alike, so unit tests can pass either.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy.proxy import UnknownValueError

__all__ = ["UnknownValueError"]


def get(obj: Any, *path: str | int, default: Any = None) -> Any:
    """`obj[path[0]][path[1]]...`, or `default` when a step is missing or not a container.

    An unknown value met on the way raises `UnknownValueError` (the caller decides whether to skip).
    """
    current = obj
    for key in path:
        if type(current) is dict:  # the common case (server.py hands over plain dicts): no ABC checks
            current = current.get(key)
            if current is None:
                return default
            continue
        if isinstance(key, int):
            if not isinstance(current, Sequence) or isinstance(current, str) or not -len(current) <= key < len(current):
                return default
            current = current[key]
        else:
            if not isinstance(current, Mapping) or key not in current:
                return default
            current = current[key]
        if current is None:
            return default
    return current


def items(obj: Any, *path: str) -> list[Any]:
    """The list at `path` (empty when missing)."""
    value = get(obj, *path, default=None)
    if type(value) is list:
        return list(value)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [value[i] for i in range(len(value))]
    return []


def mapping(obj: Any, *path: str) -> dict[str, Any]:
    """The mapping at `path` as a plain dict of its (proxied) values (empty when missing)."""
    value = get(obj, *path, default=None)
    if type(value) is dict:
        return {str(k): v for k, v in value.items()}
    if isinstance(value, Mapping):
        return {str(k): value[k] for k in value}
    return {}


def str_map(obj: Any, *path: str) -> dict[str, str]:
    return {k: str(v) for k, v in mapping(obj, *path).items() if v is not None}


def plain(value: Any) -> Any:
    """A deep plain copy (dict / list / scalars); raises `UnknownValueError` if anything inside is unknown."""
    if isinstance(value, Mapping):
        return {str(k): plain(value[k]) for k in value}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [plain(value[i]) for i in range(len(value))]
    return value


def as_int(value: Any, default: int | None = None) -> int | None:
    if value is None or isinstance(value, bool):
        return default
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value.strip())
    return default


def truthy(value: Any) -> bool | None:
    """True / False for booleans and their string spellings (some AWS inputs are strings), else None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


# ---------------------------------------------------------------------------------------------------------
# Quantities
# ---------------------------------------------------------------------------------------------------------

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")


def quantity(value: Any) -> float | None:
    """A Kubernetes quantity ("500m", "2", "1Gi", 3.0) as a float in base units, or None if not one."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    match = _QUANTITY.match(str(value).strip())
    if not match:
        return None
    number, suffix = float(match.group(1)), match.group(2)
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    return None


def cpu_millis(value: Any) -> float | None:
    q = quantity(value)
    return None if q is None else q * 1000


def fmt_cpu(millis: float) -> str:
    return f"{millis / 1000:g}" if millis % 1000 == 0 else f"{millis:.0f}m"


def fmt_bytes(value: float) -> str:
    for unit, size in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if value >= size and value % size == 0:
            return f"{int(value // size)}{unit}"
    if value >= 2**30:
        return f"{value / 2**30:.2f}Gi"
    if value >= 2**20:
        return f"{value / 2**20:.1f}Mi"
    return f"{value:.0f}"


# ---------------------------------------------------------------------------------------------------------
# Kubernetes type tokens and pod templates
# ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KubeType:
    group: str
    version: str
    kind: str

    @property
    def group_kind(self) -> str:
        return f"{self.group}/{self.kind}"


_KUBE_TOKEN = re.compile(r"^kubernetes:([^/:]+)/([^:]+):(\w+)$")


@functools.lru_cache(maxsize=1024)
def kube_type(resource_type: str) -> KubeType | None:
    """`kubernetes:apps/v1:Deployment` -> (apps, v1, Deployment); CustomResources keep their group. None otherwise."""
    match = _KUBE_TOKEN.match(resource_type)
    if not match or resource_type.startswith("kubernetes:helm.sh") or match.group(3).endswith("List") \
            or match.group(3) in ("ConfigFile", "ConfigGroup", "Chart", "Release", "Directory", "Kustomize"):
        return None
    group, kind = match.group(1), match.group(3)
    if group == "extensions":  # the pre-1.16 group of these kinds (still typed in pulumi_kubernetes)
        group = {"NetworkPolicy": "networking.k8s.io", "Ingress": "networking.k8s.io",
                 "PodSecurityPolicy": "policy"}.get(kind, "apps")
    return KubeType(group, match.group(2), kind)


WORKLOAD_GROUP_KINDS = {
    "apps/Deployment", "apps/StatefulSet", "apps/DaemonSet", "apps/ReplicaSet", "batch/Job", "batch/CronJob",
    "core/Pod", "core/ReplicationController",
}
LONG_RUNNING_GROUP_KINDS = {"apps/Deployment", "apps/StatefulSet", "apps/ReplicaSet", "core/ReplicationController"}
"""Workloads whose pods serve continuously and should survive the loss of one pod (DaemonSets run per node)."""

CLUSTER_SCOPED_KINDS = {
    "Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
    "StorageClass", "PriorityClass", "RuntimeClass", "IngressClass", "CSIDriver", "CSINode", "VolumeAttachment",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding", "APIService", "PodSecurityPolicy", "ComponentStatus", "ClusterIssuer",
    "ClusterSecretStore", "ClusterTriggerAuthentication", "GatewayClass", "FlowSchema", "PriorityLevelConfiguration",
    "CertificateSigningRequest", "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding", "ClusterTrustBundle",
}


def is_workload(resource_type: str) -> bool:
    kt = kube_type(resource_type)
    return kt is not None and kt.group_kind in WORKLOAD_GROUP_KINDS


def pod_template(resource_type: str, props: Any) -> tuple[Any, Any] | None:
    """(pod metadata, pod spec) of a workload, following the path its kind uses; None for non-workloads."""
    kt = kube_type(resource_type)
    if kt is None or kt.group_kind not in WORKLOAD_GROUP_KINDS:
        return None
    if kt.kind == "Pod":
        return get(props, "metadata", default={}), get(props, "spec", default={})
    if kt.kind == "CronJob":
        template = get(props, "spec", "jobTemplate", "spec", "template", default={})
    else:
        template = get(props, "spec", "template", default={})
    return get(template, "metadata", default={}), get(template, "spec", default={})


@dataclass(frozen=True)
class ContainerRef:
    container: Any
    name: str
    init: bool
    sidecar: bool
    """An init container with restartPolicy Always: a native sidecar that runs for the pod's lifetime."""

    @property
    def where(self) -> str:
        return f"{'init container' if self.init else 'container'} '{self.name}'"


def containers(pod_spec: Any, include_init: bool = True) -> Iterator[ContainerRef]:
    for container in items(pod_spec, "containers"):
        yield ContainerRef(container, str(get(container, "name", default="?")), False, False)
    if include_init:
        for container in items(pod_spec, "initContainers"):
            sidecar = get(container, "restartPolicy") == "Always"
            yield ContainerRef(container, str(get(container, "name", default="?")), True, sidecar)


def running_containers(pod_spec: Any) -> Iterator[ContainerRef]:
    """The containers that run for the pod's lifetime: regular ones and native sidecars."""
    for ref in containers(pod_spec):
        if not ref.init or ref.sidecar:
            yield ref


def metadata_name(props: Any) -> str:
    return str(get(props, "metadata", "name", default="") or "")


def metadata_namespace(props: Any) -> str | None:
    value = get(props, "metadata", "namespace", default=None)
    return str(value) if value else None


def labels_match(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels + matchExpressions) or a plain map selects `labels`."""
    if selector is None:
        return False
    if "matchLabels" in selector or "matchExpressions" in selector:
        match_labels = str_map(selector, "matchLabels")
        expressions = items(selector, "matchExpressions")
    else:
        match_labels = {str(k): str(selector[k]) for k in selector}
        expressions = []
    if any(labels.get(k) != v for k, v in match_labels.items()):
        return False
    for expression in expressions:
        key = str(get(expression, "key", default=""))
        operator = get(expression, "operator", default="")
        values = [str(v) for v in items(expression, "values")]
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def selector_is_empty(selector: Any) -> bool:
    return not str_map(selector, "matchLabels") and not items(selector, "matchExpressions")


def of_kinds(*group_kinds: str) -> Any:
    """A `resource_policy(applies=...)` predicate: the resource types of these group/kinds ("core/Service")."""
    wanted = frozenset(group_kinds)

    def applies(resource_type: str) -> bool:
        kt = kube_type(resource_type)
        return kt is not None and kt.group_kind in wanted

    return applies


def of_types(*resource_types: str) -> Any:
    """A `resource_policy(applies=...)` predicate: exactly these type tokens ("aws:eks/cluster:Cluster")."""
    return frozenset(resource_types).__contains__
