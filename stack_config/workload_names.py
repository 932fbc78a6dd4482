"""The Kubernetes object names the platform derives from the workload names, so two workloads whose derived names
meet are a config error before anything is registered.

Workload names are free DNS labels, and the components build further names from them (`<callee>-ingress-from-
<caller>`, `<api>-public`, `<name>-egress`, ...). For contrived names two of those meet: an API `x-public` has a
mesh VirtualService `x-public`, which is also the public VirtualService of an API `x`; a caller named `allow-dns`
has an egress NetworkPolicy `allow-dns-egress`, the namespace's DNS rule. Pulumi would then register one URN twice
(or, across kinds the engine cannot see, two objects would overwrite each other on the API server). `derived_names`
lists every name of that kind in the workloads' namespace, with who owns it; tests/test_workload_names.py renders
stacks and checks that every object in the namespace of the kinds listed here is predicted by this table, so the
table and the components (workloads/workload.py, network_policies.py, autoscaling.py, services/mesh.py, keda.py,
monitoring.py, platform_services.py) stay in step.

Lengths need no check of their own: a workload name is at most 40 characters (`check_dns_label`), and the longest
derived name held to a DNS label (63) is 49 (`<pool>-headroom`, a label value); the others are DNS subdomains
(253). The test renders 40-character names of every role and checks each object against its Kubernetes rule.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .base import ConfigFieldError
from .workloads import ApiWorkload, BrowserWorkload, WorkerWorkload, callee_env

if TYPE_CHECKING:
    from .platform import PlatformConfig

PLATFORM = "the platform"
"""Owner of a name no workload derives (the namespace's fixed policies, objects Kubernetes or KEDA create)."""


@dataclass(frozen=True)
class DerivedName:
    kind: str
    """The Kubernetes kind (every object here is in the workloads' namespace)."""
    name: str
    owners: tuple[str, ...]
    """The workloads it is derived from (`PLATFORM` for a fixed name)."""
    rendered: bool = True
    """False for objects a controller creates after apply (KEDA's HPA, the namespace's `default` ServiceAccount)."""


def _fixed(config: PlatformConfig) -> list[DerivedName]:
    mesh, monitoring = config.mesh.enabled, config.monitoring.enabled
    names = [("NetworkPolicy", "default-deny-all", True), ("NetworkPolicy", "allow-dns-egress", True),
             ("NetworkPolicy", "allow-istiod-egress", mesh),
             ("NetworkPolicy", "allow-trace-export", config.tracing_enabled),
             ("PeerAuthentication", "default", mesh), ("AuthorizationPolicy", "allow-nothing", mesh),
             ("AuthorizationPolicy", "metrics-from-prometheus", mesh and monitoring),
             ("NetworkPolicy", "envoy-metrics-from-monitoring", mesh and monitoring)]
    created = [DerivedName("ServiceAccount", "default", (PLATFORM,), rendered=False)]
    return [DerivedName(kind, name, (PLATFORM,)) for kind, name, present in names if present] + created


def _own(config: PlatformConfig, name: str) -> list[tuple[str, str]]:
    """The objects of one workload (components/workloads/workload.py, autoscaling.py; services/keda.py)."""
    spec = config.workloads[name]
    kinds = ["ServiceAccount", "Deployment", "PodDisruptionBudget", "Role", "RoleBinding"]
    own = [(kind, name) for kind in kinds] + [("ConfigMap", f"{name}-config"), ("ConfigMap", f"{name}-stores"),
                                              ("Secret", f"{name}-secrets")]
    if not isinstance(spec, WorkerWorkload):
        own.append(("Service", name))
    if name in config.keda_scaled():
        # KEDA makes the HPA `keda-hpa-<ScaledObject>` (its default: horizontalPodAutoscalerConfig.name is unset).
        own += [("ScaledObject", name), ("HorizontalPodAutoscaler*", f"keda-hpa-{name}")]
    elif spec.autoscaling is not None:
        own.append(("HorizontalPodAutoscaler", name))
    if config.monitoring.enabled:
        own.append(("PodMonitor" if isinstance(spec, WorkerWorkload) else "ServiceMonitor", name))
        own.append(("NetworkPolicy", f"{name}-metrics-from-monitoring"))
    return own


def _policies(config: PlatformConfig, name: str) -> list[tuple[str, str]]:
    """Its NetworkPolicies (components/workloads/network_policies.py) and mesh objects (services/mesh.py)."""
    spec = config.workloads[name]
    mesh, monitoring = config.mesh.enabled, config.monitoring.enabled
    public = isinstance(spec, ApiWorkload) and spec.public
    names: list[tuple[str, str]] = []
    if public:
        names.append(("NetworkPolicy", f"{name}-ingress-from-gateway"))
    if isinstance(spec, BrowserWorkload):
        names.append(("NetworkPolicy", f"{name}-egress-internet"))
    elif spec.calls or (spec.data_stores and (config.data_stores.enabled or config.data_stores.external is not None)):
        names.append(("NetworkPolicy", f"{name}-egress"))  # only with a rule: its callees, the API server, the stores
    if not mesh:
        return names
    if monitoring:
        names.append(("PeerAuthentication", f"{name}-metrics-scrape"))
    if not isinstance(spec, WorkerWorkload):
        names.append(("DestinationRule", name))
    if isinstance(spec, ApiWorkload):
        names.append(("VirtualService", name))
    if public and config.ingress is not None:
        names += [("AuthorizationPolicy", f"{name}-from-gateway"), ("VirtualService", f"{name}-public")]
    return names


def derived_names(config: PlatformConfig) -> list[DerivedName]:
    """Every object name in the workloads' namespace that depends on a workload name, with its owners."""
    names = _fixed(config)
    for name in config.workloads:
        names += [DerivedName(kind.rstrip("*"), object_name, (name,), rendered=not kind.endswith("*"))
                  for kind, object_name in [*_own(config, name), *_policies(config, name)]]
    for caller, spec in config.callers():
        for callee in spec.calls:
            names.append(DerivedName("NetworkPolicy", f"{callee}-ingress-from-{caller}", (callee, caller)))
            if config.mesh.enabled:
                names.append(DerivedName("AuthorizationPolicy", f"{callee}-from-{caller}", (callee, caller)))
    return names


def _describe(owners: tuple[str, ...]) -> str:
    return PLATFORM if owners == (PLATFORM,) else " and ".join(f"workloads.{owner}" for owner in owners)


def check_workload_names(config: PlatformConfig) -> None:
    """Raise a ConfigFieldError at `workloads.<name>` when two sources derive the same object name."""
    seen: dict[tuple[str, str], list[tuple[str, ...]]] = defaultdict(list)
    for derived in derived_names(config):
        seen[(derived.kind, derived.name)].append(derived.owners)
    for (kind, object_name), owner_sets in seen.items():
        distinct = list(dict.fromkeys(owner_sets))
        if len(distinct) < 2:
            continue
        workload = next(owner for owners in reversed(distinct) for owner in reversed(owners) if owner != PLATFORM)
        raise ConfigFieldError(
            ("workloads", workload),
            f"the {kind} '{object_name}' would be made twice, for {_describe(distinct[0])} and for "
            f"{_describe(distinct[1])} (the platform derives object names from workload names); rename one of "
            "those workloads")
    for name, _ in config.callers():
        keys: dict[str, str] = {}
        for key, _value, callee in callee_env(config.workloads, name):
            if keys.setdefault(key, callee) != callee:
                raise ConfigFieldError(
                    ("workloads", name, "calls"),
                    f"'{keys[key]}' and '{callee}' would both set {key} in the ConfigMap of '{name}' (the platform "
                    "names each callee's variables after it); rename one of them")
