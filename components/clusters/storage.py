"""Which StorageClass a volume names on each provider, and the one EKS needs the cluster to create.

- kind: `standard` (kind's local-path provisioner; the cluster's default class).
- GKE: `standard-rwo` (the Persistent Disk CSI driver, pd-balanced; GKE's default class). GKE also ships
  `standard` (in-tree pd-standard name, migrated to CSI) and `premium-rwo` (pd-ssd).
- EKS: none. Since Kubernetes 1.30 EKS no longer marks its legacy `gp2` class as default (and new clusters do not
  get it), so a PVC without a class stays Pending forever while every Helm release reports success. The cluster
  component creates `gp3` (EBS CSI driver `ebs.csi.aws.com`, encrypted, WaitForFirstConsumer so the volume is cut
  in the zone the pod lands in, expandable) and marks it default.

Every consumer names the class explicitly (`storageClassName`), so what it gets never depends on which class
happens to be the default; the stack policy `storage-class-exists` checks the names against this table.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from .handle import ClusterFlavor, StorageClassRef

BUILT_IN_STORAGE_CLASSES: dict[ClusterFlavor, tuple[str, ...]] = {
    "kind": ("standard",),
    "gke": ("standard-rwo", "standard", "premium-rwo"),
    "eks": (),
}
"""Classes that exist on a fresh cluster of each provider; the first is the one the platform uses."""

EKS_STORAGE_CLASS = "gp3"
EBS_CSI_PROVISIONER = "ebs.csi.aws.com"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


def built_in_storage_class(flavor: ClusterFlavor) -> StorageClassRef:
    """The class the platform uses on a provider that brings one."""
    classes = BUILT_IN_STORAGE_CLASSES[flavor]
    if not classes:
        raise ValueError(f"{flavor} clusters have no built-in StorageClass; the cluster component must create one")
    return StorageClassRef(classes[0])


def eks_storage_class(resource_name: str, *, provider: k8s.Provider, parent: pulumi.Resource,
                      after: list[pulumi.Resource]) -> StorageClassRef:
    """The encrypted gp3 default class on EKS, after the EBS CSI add-on that provisions it."""
    storage_class = k8s.storage.v1.StorageClass(
        resource_name,
        metadata=ObjectMetaArgs(
            name=EKS_STORAGE_CLASS,
            annotations={DEFAULT_CLASS_ANNOTATION: "true"},
            labels={"app.kubernetes.io/part-of": "browser-platform", "app.kubernetes.io/managed-by": "pulumi"},
        ),
        provisioner=EBS_CSI_PROVISIONER,
        # Encrypted with the account's default EBS key (aws/ebs); volumes hold metrics, never secrets.
        parameters={"type": "gp3", "encrypted": "true", "csi.storage.k8s.io/fstype": "ext4"},
        reclaim_policy="Delete",
        volume_binding_mode="WaitForFirstConsumer",
        allow_volume_expansion=True,
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=after),
    )
    return StorageClassRef(EKS_STORAGE_CLASS, storage_class)
