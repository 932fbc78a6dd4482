"""What every cluster component hands to the layers above it, and the one Kubernetes provider they all use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import pulumi
import pulumi_kubernetes as k8s

from stack_config.cluster import NodePool

if TYPE_CHECKING:
    # Only for the identity types below: importing a cloud SDK costs a stack that does not use it time on
    # every preview (dev on kind needs neither; each cluster module imports its own SDK).
    import pulumi_aws as aws
    import pulumi_gcp as gcp

ClusterFlavor = Literal["kind", "eks", "gke"]


@dataclass(frozen=True)
class EksIdentity:
    """What an add-on needs to give its pods an AWS identity through EKS Pod Identity."""

    cluster_name: pulumi.Output[str]
    """The EKS cluster's name as an output, so that associations wait for the cluster."""
    partition: str
    region: str
    provider: aws.Provider
    """The cluster's own (explicit) AWS provider: same account, region and default tags."""


@dataclass(frozen=True)
class GkeIdentity:
    """What an add-on needs to give its pods a Google identity through Workload Identity."""

    project: str
    workload_pool: pulumi.Output[str]
    """`<project>.svc.id.goog`, as an output of the cluster: the pool exists only once the cluster does, and a
    binding for `serviceAccount:<pool>[<namespace>/<name>]` fails before that."""
    provider: gcp.Provider
    """The cluster's own (explicit) Google provider."""


CloudIdentity = EksIdentity | GkeIdentity


@dataclass(frozen=True)
class ClusterHandle:
    """The provider-neutral face of a cluster: workloads and add-ons take this, never a cloud resource.

    `cloud` is the one cloud-specific part: how an add-on's pods get a cloud identity (none on kind).
    """

    name: str
    flavor: ClusterFlavor
    kubernetes_version: str
    node_pools: list[NodePool]
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    cloud: CloudIdentity | None = None


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
