"""The named workloads (APIs, browser pools, workers) in their own namespace, on any cluster: they take a provider
and the pools. Each workload's role (stack_config.workloads) picks its secure defaults (`role_args`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict

import pulumi

from stack_config.cluster import NodePool
from stack_config.workloads import AnyWorkload, ApiWorkload, BrowserWorkload, WorkerWorkload, platform_env

from ..common.quota import ExtraPodCost
from ..common.scheduling import tolerations_for
from ..common.traffic import ExtraEgress, ExtraIngress
from .namespace import PlatformNamespace, PlatformNamespaceArgs
from .network_policies import NetworkPolicies, NetworkPoliciesArgs, PeerWorkload
from .workload import ApiAccessRule, NodePreference, Workload, WorkloadArgs

# What the API reads to route sessions to browser pods: the browser Service's endpoints, nothing else.
API_SESSION_ROUTING_ACCESS = [ApiAccessRule(api_groups=["discovery.k8s.io"], resources=["endpointslices"],
                                            verbs=["get", "list", "watch"])]


ON_DEMAND_NODES: dict[str, NodePreference] = {
    # The label each provider puts on every node of a managed group / node pool.
    "eks": NodePreference("eks.amazonaws.com/capacityType", "In", ["ON_DEMAND"]),
    "gke": NodePreference("cloud.google.com/gke-spot", "DoesNotExist"),
}


def prefer_on_demand(selector: dict[str, str], pools: list[NodePool], flavor: str | None) -> list[NodePreference]:
    """Prefer on-demand nodes when the selector's pools mix on-demand and spot (a base + burst pair), so the base
    fills first and a spot reclaim takes only what the base cannot hold."""
    kinds = {pool.capacity_type for pool in pools if pool.matches(selector)}
    preference = ON_DEMAND_NODES.get(flavor or "")
    return [preference] if preference is not None and kinds == {"onDemand", "spot"} else []


@dataclass(frozen=True)
class WorkloadsArgs:
    namespace: str
    ingress_namespace: str
    workloads: dict[str, AnyWorkload]
    """Every named workload of the stack, by name (stack_config.workloads), in stack-file order."""
    node_pools: list[NodePool]
    internal_cidrs: list[str]
    secret_values: dict[str, str]
    autoscaled: frozenset[str] | None = None
    """Workloads whose replica count an autoscaler owns (their Deployments leave spec.replicas unset); None: every
    workload with autoscaling bounds (each gets an HPA or a KEDA ScaledObject)."""
    pod_labels: dict[str, str] = field(default_factory=dict)
    pod_annotations: dict[str, dict[str, str]] = field(default_factory=dict)
    namespace_labels: dict[str, str] = field(default_factory=dict)
    extra_pod_cost: ExtraPodCost | None = None
    extra_ingress: list[ExtraIngress] = field(default_factory=list)
    pods_after: list[pulumi.Resource] = field(default_factory=list)
    """Resources the Deployments wait for (e.g. the Istio injector: pods created before it get no sidecar)."""
    cluster_flavor: str | None = None
    """kind, eks or gke: which node label says a node is on-demand (see `prefer_on_demand`)."""
    store_env: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    store_secret_env: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    api_service_account_annotations: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    api_extra_egress: list[ExtraEgress] = field(default_factory=list)
    store_after: list[pulumi.Resource] = field(default_factory=list)
    """The data layer's wiring of its clients (components/data): endpoints, credentials, identity, egress."""
    store_clients: frozenset[str] = frozenset()
    """The workloads that get the data layer's wiring (`dataStores: true`; every API by default)."""
    priority_classes: dict[str, str] = field(default_factory=dict)
    """Role -> PriorityClass name of its pods (components/services/priority_classes.py ROLE_CLASSES); none when empty."""


class WorkloadHooks(TypedDict, total=False):
    """The WorkloadsArgs fields the installed platform services set (PlatformServices.workload_hooks): unpacked into
    WorkloadsArgs, so the type checker holds each name and type to the field's."""

    autoscaled: frozenset[str] | None
    pod_labels: dict[str, str]
    pod_annotations: dict[str, dict[str, str]]
    namespace_labels: dict[str, str]
    extra_pod_cost: ExtraPodCost | None
    extra_ingress: list[ExtraIngress]
    pods_after: list[pulumi.Resource]
    priority_classes: dict[str, str]


class StoreArgs(TypedDict, total=False):
    """The WorkloadsArgs fields the data layer sets (components/data), unpacked into WorkloadsArgs."""

    store_env: dict[str, pulumi.Input[str]]
    store_secret_env: dict[str, pulumi.Input[str]]
    api_service_account_annotations: dict[str, pulumi.Input[str]]
    api_extra_egress: list[ExtraEgress]
    store_after: list[pulumi.Resource]
    store_clients: frozenset[str]


class _RoleArgs(TypedDict, total=False):
    """The WorkloadArgs fields a role sets (unpacked into WorkloadArgs, so checked like keywords)."""

    headless_service: bool
    shm_size: str
    termination_grace_seconds: int
    pre_stop_path: str
    blocks_node_scale_down: bool
    preferred_nodes: list[NodePreference]
    service: bool
    api_access: list[ApiAccessRule]
    store_env: dict[str, pulumi.Input[str]]
    store_secret_env: dict[str, pulumi.Input[str]]
    service_account_annotations: dict[str, pulumi.Input[str]]


def role_args(name: str, spec: AnyWorkload, args: WorkloadsArgs) -> _RoleArgs:
    """The WorkloadArgs fields that follow from the workload's role (its secure defaults)."""
    if isinstance(spec, BrowserWorkload):
        return {
            "headless_service": True,
            "shm_size": spec.shm_size,
            "termination_grace_seconds": spec.termination_grace_seconds,
            "pre_stop_path": spec.drain_path,
            # The session drain outlasts any node autoscaler's eviction limit: keep the node until the pods are gone.
            "blocks_node_scale_down": True,
            "preferred_nodes": prefer_on_demand(spec.node_selector, args.node_pools, args.cluster_flavor),
        }
    calls_pool = any(isinstance(args.workloads.get(callee), BrowserWorkload) for callee in spec.calls)
    stores = name in args.store_clients
    return {
        "service": isinstance(spec, ApiWorkload),
        "api_access": (API_SESSION_ROUTING_ACCESS
                       if isinstance(spec, ApiWorkload) and spec.kubernetes_api_access and calls_pool else []),
        "store_env": dict(args.store_env) if stores else {},
        "store_secret_env": dict(args.store_secret_env) if stores else {},
        "service_account_annotations": dict(args.api_service_account_annotations) if stores else {},
    }


class Workloads(pulumi.ComponentResource):
    namespace_name: pulumi.Output[str]
    by_name: dict[str, Workload]
    """Every workload's component, by name."""

    def __init__(self, name: str, args: WorkloadsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:workloads:Workloads", name, None, opts)
        platform_namespace = PlatformNamespace(
            "namespace",
            PlatformNamespaceArgs(name=args.namespace, workloads=list(args.workloads.values()),
                                  extra_pod_cost=args.extra_pod_cost, labels=args.namespace_labels),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.namespace_name = platform_namespace.name
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[platform_namespace])

        self.by_name = {}
        for workload_name, spec in args.workloads.items():
            stores = workload_name in args.store_clients
            # The Pulumi name is the workload's name, so `api` and `browser` keep the URNs they had before roles.
            self.by_name[workload_name] = Workload(workload_name, WorkloadArgs(
                component=workload_name,
                role=spec.role,
                namespace=self.namespace_name,
                spec=spec,
                tolerations=tolerations_for(spec.node_selector, args.node_pools),
                autoscaled=(args.autoscaled is None or workload_name in args.autoscaled) and spec.autoscaling is not None,
                secret_values={key: args.secret_values[key] for key in spec.secret_env.values()},
                pod_labels=args.pod_labels,
                pod_annotations=args.pod_annotations.get(workload_name, {}),
                # A store client also waits for its stores.
                after=[*args.pods_after, *(args.store_after if stores else [])],
                config_data=platform_env(args.workloads, workload_name),
                priority_class_name=args.priority_classes.get(spec.role),
                **role_args(workload_name, spec, args),
            ), opts=in_namespace)

        NetworkPolicies("network-policies", NetworkPoliciesArgs(
            namespace=self.namespace_name,
            workloads=[PeerWorkload(
                name=workload_name, role=spec.role, selector=self.by_name[workload_name].selector,
                ports=dict(spec.ports),
                calls=list(spec.calls) if isinstance(spec, ApiWorkload | WorkerWorkload) else [],
                public=isinstance(spec, ApiWorkload) and spec.public,
                reaches_kubernetes_api=bool(self.by_name[workload_name].api_access),
                extra_egress=list(args.api_extra_egress) if workload_name in args.store_clients else [],
            ) for workload_name, spec in args.workloads.items()],
            ingress_namespace=args.ingress_namespace,
            internal_cidrs=list(args.internal_cidrs),
            extra_ingress=list(args.extra_ingress),
        ), opts=in_namespace)
        self.register_outputs({"namespace": self.namespace_name})

    @property
    def api(self) -> Workload:
        """The workload named `api` (the stack files written before roles); new code goes through `by_name`."""
        return self.by_name["api"]

    @property
    def browser(self) -> Workload:
        return self.by_name["browser"]
