"""Policies for a stack on a cluster it does not own (`cluster.kind: existing`): `destroy` removes only what `up` made.

A stack is on an existing cluster when it registers the `browser-platform:cluster:ExistingCluster` component
(components/clusters/existing.py), whose inputs are the declared, non-secret facts about the cluster. Then:

- `existing-cluster-owns-only-its-own`: no cloud resource and no local command at all (there is no cloud
  account and no cluster to create); no Patch resource (it would change an object the cluster already has, and
  `destroy` would take its fields back); no StorageClass, no Namespace of Kubernetes' own, no APIService (the
  cluster's, which the stack would adopt and `destroy` would delete); no metrics-server release while the
  cluster's own is declared `preinstalled` (a second one takes over `v1beta1.metrics.k8s.io`).
- `existing-cluster-identity`: the Kubernetes provider refuses to adopt what exists (`upsertExistingObjects`
  false, `enablePatchForce` not true) and its `clusterIdentifier` is the kubeconfig's CA fingerprint
  (`existing:<name>:<16 hex>`), so pointing the stack at another cluster replaces the provider instead of
  "updating" objects onto the wrong cluster. (`kubernetes-provider-cluster-identity` skips this provider:
  there is no cluster resource to derive it from.)
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationPolicy, StackValidationArgs, StackValidationPolicy

from .config import per_resource, stack_policy, string_list
from .props import get, metadata_name, truthy

EXISTING_CLUSTER = "browser-platform:cluster:ExistingCluster"
"""The component type of components/clusters/existing.py (a test keeps the two in step)."""
K8S_PROVIDER = "pulumi:providers:kubernetes"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
KUBERNETES_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
CLUSTER_OWNED_KINDS = ("storage.k8s.io/v1:StorageClass", "apiregistration.k8s.io/v1:APIService",
                       "apiregistration.k8s.io/v1beta1:APIService")
_IDENTIFIER = re.compile(r"^existing:(?P<name>[^:]+):[0-9a-f]{16}$")


def declared_node(pool: Any, capacity: Any, overheads: Any) -> tuple[Any, Any]:
    """(node spec, overheads) of an existing pool for the capacity model: its declared allocatable shape (no
    kubelet reserve on top) or its table type, and the cluster's declared daemonsets instead of a provider's."""
    spec = None
    if pool.declared_shape is not None:
        cpu, memory, pods = pool.declared_shape
        cpu_m, memory_bytes = capacity.parse_cpu(cpu), capacity.parse_memory(memory)
        spec = capacity.InstanceType(f"{cpu} CPU / {memory} / {pods} pods", "existing", -(-cpu_m // 1000),
                                     memory_bytes / capacity.GI, 0.0, 0.0, pods, allocatable_cpu_m=cpu_m)
    if pool.declared_daemonsets is not None:
        from capacity.model import existing_daemonsets

        cpu, memory, pods = pool.declared_daemonsets
        overheads = dataclasses.replace(overheads, daemonsets=existing_daemonsets(
            capacity.parse_cpu(cpu), capacity.parse_memory(memory), pods))
    return spec, overheads


def existing_clusters(args: StackValidationArgs) -> list[Any]:
    return [r for r in args.resources if r.resource_type == EXISTING_CLUSTER]


def _foreign(resource_type: str, prefixes: list[str]) -> bool:
    return any(resource_type.startswith(prefix) for prefix in prefixes)


def check_owns_only_its_own(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    clusters = existing_clusters(args)
    if not clusters:
        return
    preinstalled = any(get(c.props, "metricsServer", default="preinstalled") == "preinstalled" for c in clusters)
    prefixes = [str(p) for p in cfg["forbiddenTypePrefixes"]]
    for resource in args.resources:
        kind = resource.resource_type
        with per_resource("existing-cluster-owns-only-its-own", resource.urn):
            if _foreign(kind, prefixes) or _foreign(kind, [f"pulumi:providers:{p.split(':', 1)[0]}" for p in prefixes]):
                report(f"{kind} '{resource.name}' on an existing cluster: the stack has no cloud account or machine "
                       "to create anything in besides the Kubernetes objects it owns. Fix: drop it (the cluster, its "
                       "network and storage are the user's).", resource.urn)
            elif kind.startswith("kubernetes:") and kind.endswith("Patch"):
                report(f"{kind} '{resource.name}' changes an object the existing cluster already has; `destroy` would "
                       "take those fields back. Fix: create objects of the stack's own instead of patching the "
                       "cluster's.", resource.urn)
            elif any(kind == f"kubernetes:{owned}" for owned in CLUSTER_OWNED_KINDS):
                report(f"{kind.rsplit(':', 1)[-1]} '{metadata_name(resource.props) or resource.name}' belongs to the "
                       "existing cluster, which already has its own; creating or changing it makes it the stack's and "
                       "`destroy` deletes it. Fix: name the cluster's own (cluster.storageClass, "
                       "cluster.metricsServer: preinstalled).", resource.urn)
            elif kind == "kubernetes:core/v1:Namespace" and metadata_name(resource.props) in KUBERNETES_NAMESPACES:
                report(f"Namespace '{metadata_name(resource.props)}' is Kubernetes' own: the stack must not register "
                       "it (it would be deleted on `destroy`). Fix: install into it without declaring it.",
                       resource.urn)
            elif kind == HELM_RELEASE and preinstalled and get(resource.props, "chart") == "metrics-server":
                report(f"Helm release '{get(resource.props, 'name', default=resource.name)}' installs metrics-server "
                       "although the cluster's own is declared (cluster.metricsServer: preinstalled): a second one "
                       "takes over the APIService v1beta1.metrics.k8s.io, and `destroy` deletes it. Fix: drop the "
                       "release, or set cluster.metricsServer: install if the cluster really has none.",
                       resource.urn)


def check_identity(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    clusters = {c.urn: c for c in existing_clusters(args)}
    if not clusters:
        return
    providers = [r for r in args.resources if r.resource_type == K8S_PROVIDER]
    for provider in providers:
        with per_resource("existing-cluster-identity", provider.urn):
            parent = clusters.get(provider.parent.urn) if provider.parent is not None else None
            if parent is None:
                report(f"Kubernetes provider '{provider.name}' is not the existing cluster's own: every object must go "
                       "through the provider components/clusters/existing.py builds from the checked kubeconfig. "
                       "Fix: use ClusterHandle.provider.", provider.urn)
                continue
            if truthy(get(provider.props, "upsertExistingObjects")) is not False:
                report(f"Kubernetes provider '{provider.name}' may adopt objects the cluster already has "
                       "(upsertExistingObjects is not false): an existing Namespace or StorageClass of the same name "
                       "becomes the stack's and `destroy` deletes it. Fix: upsert_existing_objects=False, explicitly "
                       "(PULUMI_K8S_UPSERT_EXISTING_OBJECTS would otherwise decide).", provider.urn)
            if truthy(get(provider.props, "enablePatchForce")) is True:
                report(f"Kubernetes provider '{provider.name}' forces server-side-apply conflicts: fields another "
                       "manager owns on the cluster are overwritten. Fix: enable_patch_force=False.", provider.urn)
            identifier = str(get(provider.props, "clusterIdentifier", default="") or "")
            match = _IDENTIFIER.match(identifier)
            name = get(parent.props, "clusterName")
            if match is None or match.group("name") != name:
                report(f"Kubernetes provider '{provider.name}' has clusterIdentifier '{identifier}', not "
                       f"`existing:{name}:<CA fingerprint>`: pointing the stack at another cluster must replace the "
                       "provider (and re-create every object there), never update it. Fix: "
                       "cluster_identity('existing', name, <kubeconfig CA>).", provider.urn)


def policies() -> list[ResourceValidationPolicy | StackValidationPolicy]:
    return [
        stack_policy("existing-cluster-owns-only-its-own", "On an existing cluster the stack registers only objects "
                     "of its own: no cloud resource, no Patch, no StorageClass, APIService or Kubernetes namespace, no "
                     "second metrics-server, so `destroy` removes only what `up` made.", check_owns_only_its_own,
                     schema={"forbiddenTypePrefixes": string_list(
                         "Resource type prefixes an existing-cluster stack never registers.",
                         ["aws:", "gcp:", "azure:", "azure-native:", "command:"])},
                     remediation="Name the cluster's own objects in cluster.* instead of creating or patching them."),
        stack_policy("existing-cluster-identity", "On an existing cluster the Kubernetes provider adopts nothing "
                     "(upsertExistingObjects false, no forced conflicts) and its clusterIdentifier is the kubeconfig "
                     "CA's fingerprint.", check_identity,
                     remediation="kubernetes_provider(..., refuse_existing_objects=True) with cluster_identity()."),
    ]
