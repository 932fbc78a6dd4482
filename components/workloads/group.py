"""The API and the browser pool in their own namespace, on any cluster: they take a provider and the pools."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict

import pulumi

from stack_config.cluster import NodePool, Taint
from stack_config.workloads import ApiWorkload, BrowserWorkload, WorkloadBase

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


def platform_env(spec: WorkloadBase, values: dict[str, str]) -> dict[str, str]:
    """The settings the platform puts in a workload's ConfigMap: exactly the keys its config model reserves, so a
    user's `env` can never be silently overridden (the config rejects `env` entries with these names)."""
    if set(values) != set(spec.PLATFORM_ENV):
        raise AssertionError(f"{type(spec).__name__}.PLATFORM_ENV {spec.PLATFORM_ENV} != {sorted(values)}")
    return values


@dataclass(frozen=True)
class WorkloadsArgs:
    namespace: str
    ingress_namespace: str
    api: ApiWorkload
    browser: BrowserWorkload
    node_pools: list[NodePool]
    internal_cidrs: list[str]
    secret_values: dict[str, str]
    autoscaled: frozenset[str] = frozenset({"api", "browser"})
    """Components whose replica count an autoscaler owns (their Deployments leave spec.replicas unset)."""
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
    """The data layer's wiring of the API (components/data): endpoints, credentials, identity, egress."""
    priority_classes: dict[str, str] = field(default_factory=dict)
    """Role -> PriorityClass name of its pods (components/services/priority_classes.py ROLE_CLASSES); none when empty."""


class WorkloadHooks(TypedDict, total=False):
    """The WorkloadsArgs fields the installed platform services set (PlatformServices.workload_hooks): unpacked into
    WorkloadsArgs, so the type checker holds each name and type to the field's."""

    autoscaled: frozenset[str]
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


class _SharedWorkloadArgs(TypedDict):
    """The WorkloadArgs fields both workloads fill the same way (unpacked into WorkloadArgs, so checked like keywords)."""

    component: str
    namespace: pulumi.Input[str]
    spec: WorkloadBase
    tolerations: list[Taint]
    autoscaled: bool
    secret_values: dict[str, str]
    pod_labels: dict[str, str]
    pod_annotations: dict[str, str]
    after: list[pulumi.Resource]
    priority_class_name: str | None


class Workloads(pulumi.ComponentResource):
    namespace_name: pulumi.Output[str]
    api: Workload
    browser: Workload

    def __init__(self, name: str, args: WorkloadsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:workloads:Workloads", name, None, opts)
        platform_namespace = PlatformNamespace(
            "namespace",
            PlatformNamespaceArgs(name=args.namespace, workloads=[args.api, args.browser],
                                  extra_pod_cost=args.extra_pod_cost, labels=args.namespace_labels),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.namespace_name = platform_namespace.name
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[platform_namespace])

        def common(component: str, spec: WorkloadBase) -> _SharedWorkloadArgs:
            return {
                "component": component,
                "namespace": self.namespace_name,
                "spec": spec,
                "tolerations": tolerations_for(spec.node_selector, args.node_pools),
                "autoscaled": component in args.autoscaled and spec.autoscaling is not None,
                "secret_values": {key: args.secret_values[key] for key in spec.secret_env.values()},
                "pod_labels": args.pod_labels,
                "pod_annotations": args.pod_annotations.get(component, {}),
                "after": list(args.pods_after),
                "priority_class_name": args.priority_classes.get(component),  # the component is its role here
            }

        api_common = common("api", args.api)
        api_common["after"] = [*args.pods_after, *args.store_after]  # the API also waits for its stores
        self.api = Workload("api", WorkloadArgs(
            **api_common,
            api_access=API_SESSION_ROUTING_ACCESS if args.api.kubernetes_api_access else [],
            store_env=dict(args.store_env),
            store_secret_env=dict(args.store_secret_env),
            service_account_annotations=dict(args.api_service_account_annotations),
            config_data=platform_env(args.api, {"BROWSER_SERVICE": "browser",
                                                "BROWSER_CDP_PORT": str(args.browser.ports[BrowserWorkload.CDP_PORT])}),
        ), opts=in_namespace)
        browser = args.browser
        self.browser = Workload("browser", WorkloadArgs(
            **common("browser", browser),
            headless_service=True,
            shm_size=browser.shm_size,
            termination_grace_seconds=browser.termination_grace_seconds,
            pre_stop_path=browser.drain_path,
            # The session drain outlasts any node autoscaler's eviction limit: keep the node until the pods are gone.
            blocks_node_scale_down=True,
            preferred_nodes=prefer_on_demand(browser.node_selector, args.node_pools, args.cluster_flavor),
            config_data=platform_env(browser, {
                "MAX_SESSIONS_PER_POD": str(browser.sessions_per_pod),
                "SESSION_TIMEOUT_SECONDS": str(browser.session_timeout_seconds),
                # The root filesystem is read-only; Chrome's profile and caches live on the /tmp emptyDir.
                "HOME": "/tmp",
            }),
        ), opts=in_namespace)

        NetworkPolicies("network-policies", NetworkPoliciesArgs(
            namespace=self.namespace_name,
            api=PeerWorkload(selector=self.api.selector, ports=dict(args.api.ports)),
            browser=PeerWorkload(selector=self.browser.selector, ports=dict(browser.ports)),
            ingress_namespace=args.ingress_namespace,
            internal_cidrs=list(args.internal_cidrs),
            api_reaches_kubernetes_api=args.api.kubernetes_api_access,
            extra_ingress=list(args.extra_ingress),
            api_extra_egress=list(args.api_extra_egress),
        ), opts=in_namespace)
        self.register_outputs({"namespace": self.namespace_name})
