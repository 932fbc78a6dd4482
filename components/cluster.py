"""What every cluster component hands to the layers above it, and the one Kubernetes provider they all use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_kubernetes as k8s

from stack_config.cluster import NodePool

ClusterFlavor = Literal["kind", "eks", "gke"]


@dataclass(frozen=True)
class ClusterHandle:
    """The provider-neutral face of a cluster: workloads and add-ons take this, never a cloud resource."""

    name: str
    flavor: ClusterFlavor
    kubernetes_version: str
    node_pools: list[NodePool]
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider


def kubernetes_provider(
    cluster_name: str, kubeconfig: pulumi.Input[str], parent: pulumi.Resource, *, delete_unreachable: bool = False
) -> k8s.Provider:
    """The single Kubernetes provider of a stack.

    `cluster_identifier` is the cluster's name, not its kubeconfig: a refreshed token, endpoint or CA would
    otherwise look like a new cluster and replace every object on it.
    """
    return k8s.Provider(
        "kubernetes",
        kubeconfig=kubeconfig,
        cluster_identifier=cluster_name,
        enable_server_side_apply=True,
        delete_unreachable=delete_unreachable,
        opts=pulumi.ResourceOptions(parent=parent),
    )
