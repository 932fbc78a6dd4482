"""`k8s-api-versions` over gRPC: the cluster's Kubernetes version comes from the stack's own cluster resource (EKS
`version`, GKE `minMasterVersion`, the kind node image), and from the policy's `kubernetesVersion` only when the
stack has no cluster resource. Each case sends a mutated copy of a real stack with one object moved to an API
version removed in Kubernetes 1.25."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from offline.harness import RecordedResource, StackEvaluation

from .cases import named
from .pack import Diagnostic, PackProcess, mutated
from .test_protocol import config_document

CLUSTERS = {"prod": ("aws:eks/cluster:Cluster", "eks", "version"),
            "prod-gcp": ("gcp:container/cluster:Cluster", "gke", "minMasterVersion")}


def _with_removed_api(stack: str, evaluated: Callable[[str], StackEvaluation]) -> list[RecordedResource]:
    resources = mutated(evaluated(stack).resources)
    pdb = named(resources, "policy/v1:PodDisruptionBudget", "api-pdb")
    pdb.type = "kubernetes:policy/v1beta1:PodDisruptionBudget"  # served until 1.24, removed in 1.25
    return resources


def _api_versions(pack: PackProcess, stack: str, resources: list[RecordedResource],
                  config: dict[str, object] | None = None) -> list[Diagnostic]:
    document = config_document(stack)
    if config is not None:
        document["k8s-api-versions"] = config
    pack.configure(document, force_all="mandatory")
    return [d for d in pack.analyze_stack(resources) if d.policy == "k8s-api-versions"]


def _set_version(stack: str, resources: list[RecordedResource], version: str) -> None:
    if stack == "dev":
        command = named(resources, "command:local:Command", "kind-cluster")
        command.inputs["stdin"] = re.sub(r"kindest/node:v1\.\d+\.\d+", f"kindest/node:v{version}.0", command.inputs["stdin"])
        return
    type_, name, key = CLUSTERS[stack]
    named(resources, type_, name).inputs[key] = version


@pytest.mark.parametrize("stack", ["dev", "prod", "prod-gcp"])
def test_the_stack_cluster_version_decides_over_the_policy_config(
    pack: PackProcess, evaluated: Callable[[str], StackEvaluation], stack: str,
) -> None:
    resources = _with_removed_api(stack, evaluated)
    found = _api_versions(pack, stack, resources, {"kubernetesVersion": "1.24"})
    assert len(found) == 1 and "removed in Kubernetes 1.25 (the cluster runs 1.35, from " in found[0].message
    assert found[0].urn == named(resources, "policy/v1beta1:PodDisruptionBudget", "api-pdb").urn
    _set_version(stack, resources, "1.24")
    assert not _api_versions(pack, stack, resources, {"kubernetesVersion": "1.35"})  # 1.24 still serves it


def test_a_full_gke_version_counts_by_its_minor(pack: PackProcess, evaluated: Callable[[str], StackEvaluation]) -> None:
    resources = _with_removed_api("prod-gcp", evaluated)
    _set_version("prod-gcp", resources, "1.24.17-gke.2155000")
    assert not _api_versions(pack, "prod-gcp", resources)
    _set_version("prod-gcp", resources, "1.25.1-gke.100")
    found = _api_versions(pack, "prod-gcp", resources)
    assert len(found) == 1 and "minMasterVersion 1.25.1-gke.100" in found[0].message


@pytest.mark.parametrize("stack", ["prod", "prod-gcp"])
def test_without_a_cluster_resource_the_policy_config_decides(
    pack: PackProcess, evaluated: Callable[[str], StackEvaluation], stack: str,
) -> None:
    """A stack on a cluster it does not create (nothing to read the version from)."""
    resources = _with_removed_api(stack, evaluated)
    type_, name, _ = CLUSTERS[stack]
    resources.remove(named(resources, type_, name))
    assert not _api_versions(pack, stack, resources, {"kubernetesVersion": "1.24"})
    found = _api_versions(pack, stack, resources, {"kubernetesVersion": "1.25"})
    assert len(found) == 1 and "the policy's kubernetesVersion" in found[0].message


def test_a_version_unknown_during_preview_falls_back_to_the_policy_config(
    pack: PackProcess, evaluated: Callable[[str], StackEvaluation],
) -> None:
    from pulumi.output import UNKNOWN

    resources = _with_removed_api("prod", evaluated)
    named(resources, "aws:eks/cluster:Cluster", "eks").inputs["version"] = UNKNOWN
    found = _api_versions(pack, "prod", resources, {"kubernetesVersion": "1.30"})
    assert len(found) == 1 and "the cluster runs 1.30, from the policy's kubernetesVersion" in found[0].message
