"""A cluster the user already runs (on-premises, AKS, any conformant Kubernetes): reached, never created.

Nothing here registers a cluster resource: the component is the stack's one Kubernetes provider, built from the
kubeconfig the loader checked and cut down to one context (stack_config/kubeconfig.py), and the handle the
layers above take. The node pools are the declared ones (labels, taints, shape), so scheduling and capacity
work as on the clusters the program creates.

What `destroy` may touch is only what the program created, so the provider refuses to take over anything that
already exists: `upsertExistingObjects` is false explicitly (an environment variable could otherwise turn the
upsert on), and `enablePatchForce` too, so a field another manager owns is a conflict, never overwritten. A
Namespace, StorageClass or APIService of the same name that the cluster already has then fails `up` with
AlreadyExists instead of becoming the stack's (and being deleted by `destroy`); Helm releases refuse objects
they do not own in the same way. The stack policy `existing-cluster-owns-only-its-own` checks the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from stack_config.cluster import ExistingClusterConfig
from stack_config.kubeconfig import ExistingAccess

from .handle import ClusterHandle, StorageClassRef, cluster_identity, kubernetes_provider

EXISTING_CLUSTER_TYPE = "browser-platform:cluster:ExistingCluster"
"""The component's type token; the policy pack recognises an existing-cluster stack by it."""


@dataclass(frozen=True)
class ExistingClusterArgs:
    cluster: ExistingClusterConfig
    access: ExistingAccess


def declared_facts(cluster: ExistingClusterConfig) -> dict[str, object]:
    """What the component tells the policy pack about the cluster (its inputs): nothing secret."""
    return {
        "clusterName": cluster.name,
        "kubernetesVersion": cluster.kubernetes_version,
        "storageClass": cluster.storage_class,
        "metricsServer": cluster.metrics_server,
        "gatewayServiceType": cluster.gateway_service.type,
        "nodeDaemonsets": cluster.node_daemonsets.model_dump(by_alias=True),
        "nodePools": [pool.model_dump(by_alias=True, exclude_none=True, include={
            "name", "labels", "taints", "nodes", "node_shape", "instance_types"}) for pool in cluster.node_pools],
    }


class ExistingCluster(pulumi.ComponentResource):
    """The provider and handle of a cluster the stack does not own; registers no resource on the cluster."""

    handle: ClusterHandle

    def __init__(self, name: str, args: ExistingClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(EXISTING_CLUSTER_TYPE, name, declared_facts(args.cluster), opts)
        cluster, access = args.cluster, args.access
        kubeconfig = pulumi.Output.secret(access.kubeconfig)
        # The cluster's CA (or, with a publicly trusted server certificate, its address) identifies it: a token or
        # exec-plugin refresh changes only the user section and keeps the identifier, pointing the stack at
        # another cluster changes it and replaces the provider, so nothing is "updated" onto the wrong cluster.
        identifier = cluster_identity("existing", cluster.name, access.identity_material)
        provider = kubernetes_provider(identifier, kubeconfig, parent=self, refuse_existing_objects=True)
        self.handle = ClusterHandle(
            name=cluster.name,
            flavor="existing",
            kubernetes_version=cluster.kubernetes_version,
            node_pools=list(cluster.node_pools),
            kubeconfig=kubeconfig,
            provider=provider,
            storage_class=StorageClassRef(cluster.storage_class) if cluster.storage_class else None,
        )
        self.register_outputs({"kubeconfig": kubeconfig, "clusterIdentifier": identifier})
