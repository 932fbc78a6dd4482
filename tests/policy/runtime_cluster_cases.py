"""Violating variants of the real stacks for the policies in `runtime_cluster.py` (cluster lifecycle).

`cases.py` appends these to `CASES`, so `test_protocol.py` runs each over gRPC like every other case; the helpers
are imported when `cases()` is called, after `cases.py` has defined them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from offline.harness import RecordedResource

if TYPE_CHECKING:
    from .cases import Case

Resources = list[RecordedResource]
PROVIDER = "pulumi:providers:kubernetes"


def _constant_identifier(value: str | None) -> Any:
    """The provider's clusterIdentifier as a program would register a constant (no dependency), or none at all."""
    def mutate(resources: Resources) -> None:
        from .cases import named

        provider = named(resources, PROVIDER, "kubernetes")
        provider.property_dependencies.pop("clusterIdentifier", None)
        if value is None:
            provider.inputs.pop("clusterIdentifier", None)
        else:
            provider.inputs["clusterIdentifier"] = value
    return mutate


def _without_ignore_changes(resources: Resources) -> RecordedResource:
    from .cases import named

    cluster = named(resources, "gcp:container/cluster:Cluster", "gke")
    cluster.options["ignoreChanges"] = []
    return cluster


def _drop(type_suffix: str, name: str, key: str) -> Any:
    def mutate(resources: Resources) -> RecordedResource:
        from .cases import named

        target = named(resources, type_suffix, name)
        target.inputs.pop(key)
        return target
    return mutate


def _key_policy(change: Any) -> Any:
    """Edits the parsed policy document of the cluster role's secrets-key grant."""
    def mutate(resources: Resources) -> None:
        from .cases import named

        grant = named(resources, "aws:iam/rolePolicy:RolePolicy", "cluster-encryption")
        document = json.loads(grant.inputs["policy"])
        change(document["Statement"][0])
        grant.inputs["policy"] = json.dumps(document)
    return mutate


def _remove_grant(resources: Resources) -> None:
    from .cases import named

    resources.remove(named(resources, "aws:iam/rolePolicy:RolePolicy", "cluster-encryption"))


def _cluster_does_not_wait(resources: Resources) -> None:
    from .cases import named

    grant = named(resources, "aws:iam/rolePolicy:RolePolicy", "cluster-encryption")
    cluster = named(resources, "aws:eks/cluster:Cluster", "eks")
    cluster.dependencies = [d for d in cluster.dependencies if d != grant.urn]


def cases() -> list[Case]:
    from .cases import Case

    return [
        Case("dev-constant-identifier", "kubernetes-provider-cluster-identity",
             _constant_identifier("kind-browser-platform-dev"), "not derived from a cluster resource"),
        Case("prod-constant-identifier", "kubernetes-provider-cluster-identity",
             _constant_identifier("eks-browser-platform-prod"), "not derived from a cluster resource", stack="prod"),
        Case("prod-gcp-constant-identifier", "kubernetes-provider-cluster-identity",
             _constant_identifier("gke-browser-platform-prod"), "not derived from a cluster resource",
             stack="prod-gcp"),
        Case("dev-no-identifier", "kubernetes-provider-cluster-identity", _constant_identifier(None),
             "has no clusterIdentifier"),
        Case("prod-gcp-node-config-diffs", "gke-default-pool-node-config-ignored", _without_ignore_changes,
             "every refresh diffs", stack="prod-gcp"),
        Case("prod-addon-unpinned", "eks-versions-pinned", _drop("aws:eks/addon:Addon", "kube-proxy", "addonVersion"),
             "(kube-proxy) has no addonVersion", stack="prod"),
        Case("prod-ami-unpinned", "eks-versions-pinned",
             _drop("aws:eks/nodeGroup:NodeGroup", "browser", "releaseVersion"), "sets no releaseVersion", stack="prod"),
        Case("prod-node-version-unpinned", "eks-versions-pinned",
             _drop("aws:eks/nodeGroup:NodeGroup", "api", "version"), "sets no version", stack="prod"),
        Case("prod-no-key-grant", "eks-secrets-key-access", _remove_grant,
             "is not allowed kms:Encrypt, kms:Decrypt, kms:ListGrants, kms:DescribeKey", stack="prod"),
        Case("prod-key-grant-partial", "eks-secrets-key-access",
             _key_policy(lambda s: s.update(Action=["kms:Encrypt", "kms:Decrypt"])),
             "is not allowed kms:ListGrants, kms:DescribeKey", stack="prod"),
        Case("prod-key-grant-other-key", "eks-secrets-key-access",
             _key_policy(lambda s: s.update(Resource="arn:aws:kms:us-east-1:123456789012:key/other")),
             "is not allowed kms:Encrypt", stack="prod"),
        Case("prod-cluster-before-grant", "eks-secrets-key-access", _cluster_does_not_wait,
             "does not depend on the policy", stack="prod"),
    ]
