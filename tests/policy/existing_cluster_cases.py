"""Violating variants of the existing-cluster test stack (tests/stacks/Pulumi.existing.yaml) for the policies in
`policy/browser_platform_policies/existing_cluster.py` (each adds or changes one thing that would make the stack
own, and `destroy` delete, something of the cluster's, or reach the wrong cluster), and of `node-capacity` on
the pools the stack declares.

`cases.py` appends these to `CASES`, so `test_protocol.py` runs each over gRPC like every other case.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from offline.harness import RecordedResource

if TYPE_CHECKING:
    from .cases import Case

Resources = list[RecordedResource]
OWNS = "existing-cluster-owns-only-its-own"
IDENTITY = "existing-cluster-identity"
PROVIDER = "pulumi:providers:kubernetes"


def _added(type_: str, name: str, inputs: dict[str, Any]) -> Callable[[Resources], None]:
    def mutate(resources: Resources) -> None:
        from .cases import synthetic

        resources.append(synthetic(type_, name, inputs))
    return mutate


def _metrics_server_release(resources: Resources) -> None:
    from .cases import synthetic

    resources.append(synthetic("kubernetes:helm.sh/v3:Release", "metrics-server-release",
                               {"name": "metrics-server", "chart": "metrics-server", "namespace": "kube-system"}))


def _provider(change: Callable[[RecordedResource], None]) -> Callable[[Resources], None]:
    def mutate(resources: Resources) -> None:
        from .cases import named

        change(named(resources, PROVIDER, "kubernetes"))
    return mutate


def _declared(pool_index: int, change: Callable[[dict[str, Any]], None]) -> Callable[[Resources], None]:
    """Changes one pool the ExistingCluster component declares (what the node-capacity policy reads)."""
    def mutate(resources: Resources) -> None:
        from .cases import named

        change(named(resources, "browser-platform:cluster:ExistingCluster", "cluster").inputs["nodePools"][pool_index])
    return mutate


def _prometheus_class(name: str) -> Callable[[Resources], None]:
    def mutate(resources: Resources) -> None:
        release = next(r for r in resources if r.type == "kubernetes:helm.sh/v3:Release"
                       and r.inputs.get("name") == "kube-prometheus-stack")
        spec = release.inputs["values"]["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]["spec"]
        spec["storageClassName"] = name
    return mutate


def _stray_provider(resources: Resources) -> None:
    from .cases import named

    own = named(resources, PROVIDER, "kubernetes")
    resources.append(RecordedResource(urn=own.urn.replace("::kubernetes", "::other"), type=PROVIDER, name="other",
                                      custom=True, parent="", provider="", dependencies=[], property_dependencies={},
                                      inputs=dict(own.inputs)))


def cases() -> list[Case]:
    from .cases import Case

    def case(id_: str, policy: str, mutate: Callable[[Resources], None], expect: str) -> Case:
        def run(resources: Resources) -> None:
            mutate(resources)
        return Case(id_, policy, run, expect, stack="existing")

    storage_class = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "managed-csi"},
                     "provisioner": "disk.csi.azure.com"}
    return [
        case("existing-cloud-resource", OWNS, _added("aws:s3/bucket:Bucket", "bucket", {}), "on an existing cluster"),
        case("existing-local-command", OWNS, _added("command:local:Command", "kubectl", {"create": "kubectl apply"}),
             "no cloud account or machine"),
        case("existing-storage-class", OWNS, _added("kubernetes:storage.k8s.io/v1:StorageClass", "sc", storage_class),
             "StorageClass 'managed-csi' belongs to the existing cluster"),
        case("existing-patch", OWNS, _added("kubernetes:core/v1:NamespacePatch", "ns-patch",
                                            {"metadata": {"name": "default", "labels": {"x": "y"}}}),
             "changes an object the existing cluster already has"),
        case("existing-system-namespace", OWNS, _added("kubernetes:core/v1:Namespace", "kube-system",
                                                       {"metadata": {"name": "kube-system"}}),
             "Namespace 'kube-system' is Kubernetes' own"),
        case("existing-apiservice", OWNS, _added("kubernetes:apiregistration.k8s.io/v1:APIService", "metrics-api",
                                                 {"metadata": {"name": "v1beta1.metrics.k8s.io"}}),
             "APIService 'v1beta1.metrics.k8s.io' belongs to the existing cluster"),
        case("existing-second-metrics-server", OWNS, _metrics_server_release, "installs metrics-server"),
        case("existing-provider-upserts", IDENTITY, _provider(lambda p: p.inputs.pop("upsertExistingObjects")),
             "may adopt objects the cluster already has"),
        case("existing-provider-forces-conflicts", IDENTITY,
             _provider(lambda p: p.inputs.__setitem__("enablePatchForce", True)), "forces server-side-apply conflicts"),
        case("existing-provider-constant-identity", IDENTITY,
             _provider(lambda p: p.inputs.__setitem__("clusterIdentifier", "onprem")), "has clusterIdentifier 'onprem'"),
        case("existing-stray-provider", IDENTITY, _stray_provider, "is not the existing cluster's own"),
        # The declared StorageClass is the one storage-class-exists accepts (nothing is built in to assume).
        case("existing-undeclared-storage-class", "storage-class-exists", _prometheus_class("standard"),
             "names StorageClass 'standard', which does not exist on existing"),
        # The declared pools feed the capacity policy like node groups do on the clouds.
        case("existing-declared-pool-too-small", "node-capacity", _declared(1, lambda p: p.update(nodes=1.0)),
             "Node pool browser cannot hold its workloads at maximum scale"),
        case("existing-declared-shape-too-small", "node-capacity",
             _declared(0, lambda p: p["nodeShape"].update(memory="1Gi")), "node of pool system offers"),
    ]
