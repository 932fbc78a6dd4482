"""Violating variants of the real stacks for the runtime-reach policies (policy/browser_platform_policies/
runtime_reach.py): storage classes, the private GKE control plane's reach to webhooks, Cloud NAT ports per VM.

Registered into `cases.CASES` (so the pack's every-policy-has-a-case check sees them) and run with extra
assertions by tests/policy/test_runtime_reach.py.
"""

from __future__ import annotations

from typing import Any

from .cases import Case, Resources, add, named, stack

STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
RELEASE = "kubernetes:helm.sh/v3:Release"
FIREWALL = "gcp:compute/firewall:Firewall"
ROUTER_NAT = "gcp:compute/routerNat:RouterNat"


def prometheus_storage(resources: Resources) -> dict[str, Any]:
    spec: dict[str, Any] = named(resources, RELEASE, "monitoring-release").inputs["values"]["prometheus"][
        "prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]["spec"]
    return spec


def drop_storage_class(resources: Resources) -> None:
    """EKS without the program's gp3 class: nothing provides the class Prometheus names."""
    storage_class = named(resources, STORAGE_CLASS, "gp3-storage-class")
    resources.remove(storage_class)
    for r in resources:
        r.dependencies = [d for d in r.dependencies if d != storage_class.urn]


def no_class_no_default(resources: Resources) -> None:
    """Prometheus names no class and the gp3 class is not marked default: EKS has no default of its own."""
    prometheus_storage(resources).pop("storageClassName")
    named(resources, STORAGE_CLASS, "gp3-storage-class").inputs["metadata"].pop("annotations")


def release_without_dependency(resources: Resources) -> None:
    release = named(resources, RELEASE, "monitoring-release")
    storage_class = named(resources, STORAGE_CLASS, "gp3-storage-class")
    release.dependencies = [d for d in release.dependencies if d != storage_class.urn]


def unknown_class(name: str) -> Any:
    return stack(lambda resources: prometheus_storage(resources).update(storageClassName=name))


def claim(name: str | None) -> Any:
    def change(resources: Resources) -> None:
        spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
        if name is not None:
            spec["storageClassName"] = name
        add(resources, "kubernetes:core/v1:PersistentVolumeClaim", "scratch",
            {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
             "metadata": {"name": "scratch", "namespace": "browser-platform"}, "spec": spec})
    return stack(change)


def statefulset_template(name: str) -> Any:
    def change(resources: Resources) -> None:
        add(resources, "kubernetes:apps/v1:StatefulSet", "cache",
            {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "cache", "namespace": "browser-platform"},
             "spec": {"replicas": 1.0, "selector": {"matchLabels": {"app": "cache"}},
                      "template": {"metadata": {"labels": {"app": "cache"}},
                                   "spec": {"containers": [{"name": "cache", "image": "ghcr.io/example/cache:1"}]}},
                      "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                                "spec": {"storageClassName": name, "accessModes": ["ReadWriteOnce"],
                                                         "resources": {"requests": {"storage": "1Gi"}}}}]}})
    return stack(change)


def firewall(resources: Resources) -> dict[str, Any]:
    inputs: dict[str, Any] = named(resources, FIREWALL, "control-plane-webhooks").inputs
    return inputs


def drop_port(port: str) -> Any:
    return stack(lambda resources: firewall(resources)["allows"][0]["ports"].remove(port))


def nat(resources: Resources) -> dict[str, Any]:
    inputs: dict[str, Any] = named(resources, ROUTER_NAT, "nat").inputs
    return inputs


def static_nat(resources: Resources) -> None:
    for key in ("enableDynamicPortAllocation", "enableEndpointIndependentMapping", "minPortsPerVm", "maxPortsPerVm"):
        nat(resources).pop(key, None)


def more_sessions_per_pod(resources: Resources) -> None:
    named(resources, "kubernetes:core/v1:ConfigMap", "browser-config").inputs["data"]["MAX_SESSIONS_PER_POD"] = "40"


RUNTIME_REACH_CASES: list[Case] = [
    # --- storage-class-exists ---
    Case("prod-storage-class-dropped", "storage-class-exists", stack(drop_storage_class),
         "names StorageClass 'gp3', which does not exist on eks", stack="prod"),
    Case("prod-storage-no-class-no-default", "storage-class-exists", stack(no_class_no_default),
         "names no storageClassName and eks has no default StorageClass", stack="prod"),
    Case("prod-storage-release-not-waiting", "storage-class-exists", stack(release_without_dependency),
         "does not wait for it", stack="prod"),
    Case("prod-storage-unencrypted", "storage-class-exists",
         stack(lambda rs: named(rs, STORAGE_CLASS, "gp3-storage-class").inputs["parameters"].update(encrypted="false")),
         "creates unencrypted EBS volumes", stack="prod"),
    Case("prod-storage-no-ebs-driver", "storage-class-exists",
         stack(lambda rs: rs.remove(named(rs, "aws:eks/addon:Addon", "aws-ebs-csi-driver"))),
         "installs no aws-ebs-csi-driver add-on", stack="prod"),
    Case("prod-gcp-storage-eks-class", "storage-class-exists", unknown_class("gp3"),
         "names StorageClass 'gp3', which does not exist on gke", stack="prod-gcp"),
    Case("dev-storage-unknown-pvc-class", "storage-class-exists", claim("fast"),
         "PersistentVolumeClaim browser-platform/scratch names StorageClass 'fast'"),
    Case("prod-storage-pvc-without-default", "storage-class-exists",
         stack(lambda rs: (named(rs, STORAGE_CLASS, "gp3-storage-class").inputs["metadata"].pop("annotations"),
                           claim(None)(rs))),
         "PersistentVolumeClaim browser-platform/scratch names no storageClassName", stack="prod"),
    Case("prod-gcp-storage-statefulset-template", "storage-class-exists", statefulset_template("io2"),
         "StatefulSet browser-platform/cache (spec.volumeClaimTemplates[0]) names StorageClass 'io2'",
         stack="prod-gcp"),
    # --- gke-control-plane-reach ---
    Case("prod-gcp-webhook-port-istiod", "gke-control-plane-reach", drop_port("15017"), "15017 (istiod",
         stack="prod-gcp"),
    Case("prod-gcp-webhook-port-keda-metrics", "gke-control-plane-reach", drop_port("6443"),
         "6443 (KEDA metrics API server", stack="prod-gcp"),
    Case("prod-gcp-webhook-firewall-removed", "gke-control-plane-reach",
         stack(lambda rs: rs.remove(named(rs, FIREWALL, "control-plane-webhooks"))),
         "tcp:6443,9443,15017", stack="prod-gcp"),
    Case("prod-gcp-webhook-wrong-source", "gke-control-plane-reach",
         stack(lambda rs: firewall(rs).update(sourceRanges=["10.10.0.0/20"])), "no firewall rule opens",
         stack="prod-gcp"),
    Case("prod-gcp-webhook-other-nodes", "gke-control-plane-reach",
         stack(lambda rs: firewall(rs).update(targetServiceAccounts=["other@p.iam.gserviceaccount.com"])),
         "no firewall rule opens", stack="prod-gcp"),
    Case("prod-gcp-webhook-chart-port-moved", "gke-control-plane-reach",
         stack(lambda rs: named(rs, RELEASE, "keda-release").inputs["values"]["webhooks"].update(port=9444.0)),
         "9444 (KEDA admission webhook)", stack="prod-gcp"),
    # --- gke-nat-ports-per-vm ---
    Case("prod-gcp-nat-max-too-low", "gke-nat-ports-per-vm",
         stack(lambda rs: nat(rs).update(minPortsPerVm=512.0, maxPortsPerVm=1024.0)),
         "gives a VM at most 1024 source ports", stack="prod-gcp"),
    Case("prod-gcp-nat-static-64", "gke-nat-ports-per-vm", stack(static_nat), "gives a VM at most 64 source ports",
         stack="prod-gcp"),
    Case("prod-gcp-nat-not-power-of-two", "gke-nat-ports-per-vm",
         stack(lambda rs: nat(rs).update(maxPortsPerVm=10000.0)), "maxPortsPerVm 10000 must be a power of two",
         stack="prod-gcp"),
    Case("prod-gcp-nat-eim", "gke-nat-ports-per-vm",
         stack(lambda rs: nat(rs).update(enableEndpointIndependentMapping=True)),
         "dynamic port allocation excludes", stack="prod-gcp"),
    Case("prod-gcp-nat-more-sessions", "gke-nat-ports-per-vm", stack(more_sessions_per_pod),
         "3 pods x 40 sessions", stack="prod-gcp"),
]
