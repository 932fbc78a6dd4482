"""What every cluster component hands to the layers above it, and the one Kubernetes provider they all use."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import pulumi
import pulumi_kubernetes as k8s
import yaml

from stack_config.cluster import NodePool

if TYPE_CHECKING:
    # Only for the identity types below: importing a cloud SDK costs a stack that does not use it time on
    # every preview (dev on kind needs neither; each cluster module imports its own SDK).
    import pulumi_aws as aws
    import pulumi_gcp as gcp

ClusterFlavor = Literal["kind", "eks", "gke", "existing"]


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
class AwsNetwork:
    """Where managed data stores go on EKS: the cluster's VPC, its private subnets and the nodes' security group."""

    vpc_id: pulumi.Output[str]
    vpc_cidr: str
    private_subnet_ids: list[pulumi.Output[str]]
    node_security_group_id: pulumi.Output[str]
    """The cluster security group EKS attaches to managed nodes (and so to pods, with the VPC CNI)."""


@dataclass(frozen=True)
class GcpNetwork:
    """Where managed data stores go on GKE: the cluster's VPC network (private access through it only)."""

    network_id: pulumi.Output[str]
    project: str
    region: str


CloudNetwork = AwsNetwork | GcpNetwork


@dataclass(frozen=True)
class StorageClassRef:
    """The StorageClass every volume of the platform names: built into the cluster (kind, GKE) or created by the
    cluster component (EKS has had no default class since 1.30), in which case consumers must wait for it."""

    name: str
    resource: pulumi.Resource | None = None

    @property
    def depends_on(self) -> list[pulumi.Resource]:
        return [self.resource] if self.resource is not None else []


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
    storage_class: StorageClassRef | None = None
    """The class volumes name (components/clusters/storage.py); None only for handles built by hand in tests."""
    network: CloudNetwork | None = None
    """The cloud network managed stores join (None on kind)."""


def cluster_identity(flavor: ClusterFlavor, key: str, ca_data: str) -> str:
    """What the Kubernetes provider's `cluster_identifier` is: `<flavor>:<key>:<CA fingerprint>`.

    `key` names the cluster (EKS ARN, GKE id, kind name), which survives a replacement because the new cluster
    keeps the name; the CA does not: EKS, GKE and kind generate a new cluster CA for every cluster they create,
    and keep it for the cluster's life (a token or exec-plugin refresh never touches it). A replaced cluster
    therefore gets a new identifier, and pulumi-kubernetes replaces the provider and re-creates every object
    on the new, empty cluster; an unchanged cluster keeps its identifier, so no kubeconfig change replaces
    anything. The fingerprint is a hash of the public CA certificate, nothing secret.
    """
    fingerprint = hashlib.sha256(ca_data.strip().encode()).hexdigest()[:16]
    return f"{flavor}:{key}:{fingerprint}"


def kubeconfig_ca(kubeconfig: str) -> str:
    """The `certificate-authority-data` of a kubeconfig's current context's cluster ('' if it has none)."""
    document = yaml.safe_load(kubeconfig) or {}
    contexts = {c.get("name"): c.get("context") or {} for c in document.get("contexts") or []}
    cluster_name = contexts.get(document.get("current-context"), {}).get("cluster")
    clusters = {c.get("name"): c.get("cluster") or {} for c in document.get("clusters") or []}
    cluster = clusters.get(cluster_name) or next(iter(clusters.values()), {})
    return str(cluster.get("certificate-authority-data") or "")


def kubernetes_provider(
    cluster_identifier: pulumi.Input[str], kubeconfig: pulumi.Input[str], parent: pulumi.Resource, *,
    delete_unreachable: bool = False, refuse_existing_objects: bool = False,
) -> k8s.Provider:
    """The single Kubernetes provider of a stack.

    `cluster_identifier` must be an output of the cluster itself (`cluster_identity`), never a constant: with a
    constant, a replaced cluster only updates the provider in place and `pulumi up` reports success against an
    empty cluster. It also keeps kubeconfig-only changes (the exec user, a re-read kubeconfig) from replacing
    anything, which pulumi-kubernetes' own kubeconfig heuristic would do.

    `refuse_existing_objects` (a cluster the stack does not own): creating an object that already exists fails
    (upsertExistingObjects false, set explicitly so PULUMI_K8S_UPSERT_EXISTING_OBJECTS cannot turn it on) and a
    field another manager owns is a conflict (enablePatchForce false), so nothing of the cluster's becomes the
    stack's and `destroy` deletes only what `up` created.
    """
    return k8s.Provider(
        "kubernetes",
        kubeconfig=kubeconfig,
        cluster_identifier=cluster_identifier,
        enable_server_side_apply=True,
        delete_unreachable=delete_unreachable,
        upsert_existing_objects=False if refuse_existing_objects else None,
        enable_patch_force=False if refuse_existing_objects else None,
        opts=pulumi.ResourceOptions(parent=parent),
    )
