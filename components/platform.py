"""Builds the whole platform for one stack from its validated config: cluster, then the layers on top."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from stack_config import StackSettings
from stack_config.egress import gke_nat_ports
from stack_config.kubeconfig import ExistingAccess
from stack_config.platform import PlatformConfig
from stack_config.workloads import BrowserWorkload, headroom_namespace

from .clusters.handle import ClusterHandle
from .common.labels import selector_labels
from .common.quota import ExtraPodCost
from .common.scheduling import tolerations_for
from .common.webhook_ports import control_plane_ports
from .data import ApiIdentity, Placement, build_data_stores
from .platform_services import PlatformServices
from .services.priority_classes import HEADROOM
from .workloads.autoscaling import AutoscalingArgs, PodAutoscaling, ScaleTarget
from .workloads.group import StoreArgs, Workloads, WorkloadsArgs, prefer_on_demand
from .workloads.headroom import Headroom, HeadroomArgs, PlaceholderPool, placeholder_requests


@dataclass(frozen=True)
class PlatformOutputs:
    kubeconfig: pulumi.Output[str]
    namespace: pulumi.Output[str]
    service_names: dict[str, str]
    cluster_name: str
    cluster_flavor: str
    kubernetes_version: str
    data_store_endpoints: dict[str, pulumi.Input[str]]


def build_cluster(config: PlatformConfig, existing_access: ExistingAccess | None = None) -> ClusterHandle:
    # Each cluster module is imported in its own branch: it imports its cloud SDK (pulumi_aws's EC2 and EKS
    # modules alone take about a second), which a stack on another kind of cluster must not pay on every run.
    cluster = config.cluster
    if cluster.kind == "kind":
        from .clusters.kind import KindCluster, KindClusterArgs
        return KindCluster("cluster", KindClusterArgs(cluster=cluster)).handle
    if cluster.kind == "eks":
        from .clusters.eks import EksCluster, EksClusterArgs
        # cluster-autoscaler waits the longest browser drain before it kills an evicted pod (its default otherwise).
        grace = {"pod_grace_seconds": config.longest_grace_seconds} if config.browser_pools() else {}
        return EksCluster("cluster", EksClusterArgs(cluster=cluster, **grace)).handle
    if cluster.kind == "gke":
        from .clusters.gke import GkeCluster, GkeClusterArgs
        # The cluster layer gets what the services above need from it as data: the control plane's webhook ports
        # and the NAT ports the browser sessions need.
        return GkeCluster("cluster", GkeClusterArgs(cluster=cluster, control_plane_ports=control_plane_ports(config),
                                                    nat_ports=gke_nat_ports(config))).handle
    if cluster.kind == "existing":
        from .clusters.existing import ExistingCluster, ExistingClusterArgs
        assert existing_access is not None  # the loader resolves it for every existing cluster, or reports why not
        return ExistingCluster("cluster", ExistingClusterArgs(cluster=cluster, access=existing_access)).handle
    raise AssertionError(f"unhandled cluster kind {cluster.kind}")  # the config union admits no other


def store_clients(config: PlatformConfig) -> list[ApiIdentity]:
    """The workloads the data stores admit (`dataStores: true`, every API by default): each one's Service, service
    account and pods are named after the workload."""
    return [ApiIdentity(namespace=config.namespace, service_account=name, service=name, selector=selector_labels(name))
            for name, _ in config.store_clients()]


def store_placement(config: PlatformConfig, cluster: ClusterHandle) -> Placement:
    """The stores (kind) and the app-role Job (clouds) run on the pool of their first client."""
    clients = config.store_clients()
    node_selector = dict(clients[0][1].node_selector) if clients else {}
    return Placement(node_selector, tolerations_for(node_selector, cluster.node_pools))


def build_headroom(config: PlatformConfig, cluster: ClusterHandle, sidecar: ExtraPodCost | None,
                   after: list[pulumi.Resource], opts: pulumi.ResourceOptions) -> Headroom | None:
    """Placeholder pods for every browser workload with `headroom`, each the size of one of its pods."""
    pools = [
        PlaceholderPool(
            name=name, pods=spec.headroom.pods, image=spec.headroom.image,
            requests=placeholder_requests(spec.resources.requests, spec.shm_size, sidecar),
            node_selector=dict(spec.node_selector),
            tolerations=tolerations_for(spec.node_selector, cluster.node_pools),
            preferred_nodes=prefer_on_demand(spec.node_selector, cluster.node_pools, cluster.flavor),
        )
        for name, spec in config.workload_items() if isinstance(spec, BrowserWorkload) and spec.headroom is not None
    ]
    if not pools:
        return None
    return Headroom("headroom", HeadroomArgs(namespace=headroom_namespace(config.namespace), pools=pools,
                                             priority_class_name=HEADROOM.name, after=after), opts=opts)


def build_platform(settings: StackSettings) -> PlatformOutputs:
    config = settings.config
    cluster = build_cluster(config, settings.existing_access)
    on_cluster = pulumi.ResourceOptions(providers={"kubernetes": cluster.provider})
    services = PlatformServices.install(config, cluster, settings.secrets, on_cluster)
    stores = build_data_stores(config, cluster, settings.secrets, store_clients(config), store_placement(config, cluster),
                               on_cluster, monitoring=services.store_monitoring(), mesh=services.store_mesh(),
                               priority_classes=services.class_dependencies)
    store_args: StoreArgs = {} if stores is None else {
        "store_env": stores.env, "store_secret_env": stores.secret_env,
        "api_service_account_annotations": stores.service_account_annotations, "store_after": stores.after,
        "api_extra_egress": list(stores.egress), "store_clients": frozenset(name for name, _ in config.store_clients()),
    }

    hooks = services.workload_hooks()
    workloads = Workloads("workloads", WorkloadsArgs(
        namespace=config.namespace,
        ingress_namespace=config.ingress_namespace,
        workloads=dict(config.workloads),
        node_pools=cluster.node_pools,
        cluster_flavor=cluster.flavor,
        internal_cidrs=config.network.internal_cidrs,
        secret_values=settings.secrets,
        **hooks,
        **store_args,
    ), opts=services.workloads_options())
    build_headroom(config, cluster, hooks.get("extra_pod_cost"), services.class_dependencies, on_cluster)

    hpa_targets = [
        ScaleTarget(component=name, deployment_name=workloads.by_name[name].service_name, bounds=spec.autoscaling,
                    deployment=workloads.by_name[name].deployment)
        for name, spec in config.workloads.items()
        if spec.autoscaling is not None
    ]
    PodAutoscaling("autoscaling", AutoscalingArgs(namespace=workloads.namespace_name, hpa_targets=hpa_targets,
                                                  external=services.autoscaled_elsewhere),
                   opts=pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=services.wait_for)))
    services.attach(workloads)

    return PlatformOutputs(
        kubeconfig=cluster.kubeconfig,
        namespace=workloads.namespace_name,
        service_names={name: workload.service_name for name, workload in workloads.by_name.items()},
        cluster_name=cluster.name,
        cluster_flavor=cluster.flavor,
        kubernetes_version=cluster.kubernetes_version,
        data_store_endpoints=dict(stores.outputs) if stores is not None else {},
    )
