"""What a cluster does after the first `pulumi up`, as recorded under mocks for dev (kind), prod (EKS) and
prod-gcp (GKE): replacement is noticed by the Kubernetes provider, refreshes do not plan replacements, versions
follow kubernetesVersion, the control plane may use its secrets key, and deletion protection covers a destroy."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from components.clusters.eks import SECRETS_KEY_ACTIONS
from components.clusters.handle import cluster_identity, kubeconfig_ca
from components.clusters.kind import render_kind_commands
from offline.harness import REPO_ROOT, StackEvaluation, evaluate_stack, stack_file_config
from stack_config.cluster import KIND_NODE_IMAGES, KindClusterConfig

PROVIDER = "pulumi:providers:kubernetes"
CLUSTERS = {"dev": ("command:local:Command", "kind-kubeconfig"), "prod": ("aws:eks/cluster:Cluster", "eks"),
            "prod-gcp": ("gcp:container/cluster:Cluster", "gke")}


def cluster_config(stack: str) -> dict[str, Any]:
    config, _ = stack_file_config(stack)
    document: dict[str, Any] = json.loads(config["browser-platform:cluster"])
    return document


def kubeconfig(ca: str, user: dict[str, Any]) -> str:
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "other", "cluster": {"server": "https://x", "certificate-authority-data": "T1RIRVI="}},
                     {"name": "c", "cluster": {"server": "https://127.0.0.1:6443", "certificate-authority-data": ca}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "users": [{"name": "u", "user": user}],
    })


# --- finding 3: the provider's clusterIdentifier -----------------------------------------------------------

def test_identity_changes_with_the_cluster_ca_and_never_with_credentials() -> None:
    first = kubeconfig("Q0EtMQ==", {"token": "abc"})
    refreshed = kubeconfig("Q0EtMQ==", {"token": "a-new-token", "client-key-data": "bmV3"})
    recreated = kubeconfig("Q0EtMg==", {"token": "abc"})
    assert kubeconfig_ca(first) == "Q0EtMQ=="  # the current context's cluster, not the first listed
    assert cluster_identity("kind", "dev", kubeconfig_ca(first)) == cluster_identity("kind", "dev", kubeconfig_ca(refreshed))
    assert cluster_identity("kind", "dev", kubeconfig_ca(first)) != cluster_identity("kind", "dev", kubeconfig_ca(recreated))
    assert cluster_identity("eks", "arn:a", "Q0EtMQ==") != cluster_identity("eks", "arn:b", "Q0EtMQ==")


@pytest.mark.parametrize("stack", sorted(CLUSTERS))
def test_identifier_is_an_output_of_the_cluster_not_a_constant(
    evaluated: Callable[[str], StackEvaluation], stack: str,
) -> None:
    evaluation = evaluated(stack)
    [provider] = evaluation.of_type(PROVIDER)
    source = evaluation.named(*CLUSTERS[stack])
    assert provider.property_dependencies["clusterIdentifier"] == [source.urn]
    identifier = provider.inputs["clusterIdentifier"]
    name = cluster_config(stack)["name"]
    assert identifier not in (name, f"kind-{name}", f"eks-{name}", f"gke-{name}")
    assert re.fullmatch(r"(kind|eks|gke):.+:[0-9a-f]{16}", identifier)


def test_a_replaced_cluster_gets_a_new_identifier() -> None:
    """The same program over a cluster whose CA differs (what a replaced EKS/GKE/kind cluster reports)."""
    from offline import cloud_fakes

    before = evaluate_stack("prod")
    original = cloud_fakes.FAKE_CA
    try:
        cloud_fakes.FAKE_CA = "UkVQTEFDRUQ="
        after = evaluate_stack("prod")
    finally:
        cloud_fakes.FAKE_CA = original
    identifier = [e.of_type(PROVIDER)[0].inputs["clusterIdentifier"] for e in (before, after)]
    assert identifier[0] != identifier[1]
    assert identifier[0].rsplit(":", 1)[0] == identifier[1].rsplit(":", 1)[0]  # same ARN: same name, new cluster


# --- finding 4: GKE nodeConfig after removeDefaultNodePool -------------------------------------------------

def test_gke_default_pool_node_config_is_ignored_after_creation(evaluated: Callable[[str], StackEvaluation]) -> None:
    cluster = evaluated("prod-gcp").named("gcp:container/cluster:Cluster", "gke")
    assert cluster.inputs["removeDefaultNodePool"] is True
    # Kept for the short-lived default pool (not the Compute Engine default account), ignored afterwards.
    assert cluster.inputs["nodeConfig"]["serviceAccount"].startswith("browser-platform-prod-nodes@")
    assert "nodeConfig" in cluster.options["ignoreChanges"]


# --- finding 7: add-on and AMI versions follow kubernetesVersion -------------------------------------------

def eks_versions(evaluation: StackEvaluation) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    addons = {a.inputs["addonName"]: a.inputs["addonVersion"] for a in evaluation.of_type("aws:eks/addon:Addon")}
    groups = {g.name: (g.inputs["version"], g.inputs["releaseVersion"])
              for g in evaluation.of_type("aws:eks/nodeGroup:NodeGroup")}
    return addons, groups


def test_every_addon_and_node_group_is_pinned_for_the_cluster_minor(evaluated: Callable[[str], StackEvaluation]) -> None:
    addons, groups = eks_versions(evaluated("prod"))
    assert set(addons) == {"vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent", "aws-ebs-csi-driver"}
    # The offline fakes answer per minor the way get_addon_version and the SSM AMI parameter do.
    assert set(addons.values()) == {"v1.35.0-eksbuild.1"}
    pinned = ("1.35", "1.35.0-20260101")
    assert groups == {"api": pinned, "browser-base": pinned, "browser": pinned}


def test_a_kubernetes_version_bump_moves_addons_and_amis() -> None:
    config = cluster_config("prod")
    addons, groups = eks_versions(evaluate_stack("prod", overrides={"cluster": {**config, "kubernetesVersion": "1.34"}}))
    assert set(addons.values()) == {"v1.34.0-eksbuild.1"}
    assert set(groups.values()) == {("1.34", "1.34.0-20260101")}


# --- finding 8: the cluster role may use its secrets key ---------------------------------------------------

def test_cluster_role_may_use_exactly_its_secrets_key_before_the_cluster_exists(
    evaluated: Callable[[str], StackEvaluation],
) -> None:
    prod = evaluated("prod")
    cluster = prod.named("aws:eks/cluster:Cluster", "eks")
    key = prod.named("aws:kms/key:Key", "secrets")
    role = prod.named("aws:iam/role:Role", "cluster")
    grant = prod.named("aws:iam/rolePolicy:RolePolicy", "cluster-encryption")
    assert grant.inputs["role"] == role.outputs["name"]
    assert json.loads(grant.inputs["policy"])["Statement"] == [
        {"Sid": "ClusterEncryption", "Effect": "Allow", "Action": SECRETS_KEY_ACTIONS, "Resource": key.outputs["arn"]}]
    assert cluster.inputs["encryptionConfig"]["provider"]["keyArn"] == key.outputs["arn"]
    assert cluster.inputs["roleArn"] == role.outputs["arn"]
    assert grant.urn in cluster.dependencies


# --- finding 14: kind -----------------------------------------------------------------------------------------

def test_kind_commands_keep_their_own_kubeconfig_and_replace_a_leftover_cluster() -> None:
    commands = render_kind_commands(KindClusterConfig.model_validate(
        {**cluster_config("dev"), "name": "other-dev"}))
    own = '--kubeconfig "$HOME/.kube/kind-other-dev.kubeconfig"'
    for command in (commands.create, commands.delete):
        for call in re.findall(r"kind (?:create|delete) cluster[^&]*", command):
            assert own in call, call  # never the default ~/.kube/config and its current context
    assert ".kube/config" not in commands.create + commands.delete + commands.read_kubeconfig
    steps = commands.create.split(" && ")
    assert steps[1].startswith("kind delete cluster --name other-dev") and steps[2].startswith("kind create cluster")
    assert commands.read_kubeconfig == "kind get kubeconfig --name other-dev"


def test_every_supported_kind_minor_is_pinned_by_digest() -> None:
    assert sorted(KIND_NODE_IMAGES) == ["1.34", "1.35", "1.36"]  # 1.37: no image confirmed from a kind release
    for minor, image in KIND_NODE_IMAGES.items():
        match = re.fullmatch(r"kindest/node:v(\d+\.\d+)\.\d+@sha256:[0-9a-f]{64}", image)
        assert match and match.group(1) == minor, image
        KindClusterConfig.model_validate({**cluster_config("dev"), "kubernetesVersion": minor, "nodeImage": image})


@pytest.mark.parametrize("minor", ["1.34", "1.36"])
def test_kind_nodes_run_the_pinned_image_of_the_minor(minor: str) -> None:
    evaluation = evaluate_stack("dev", overrides={"cluster": {**cluster_config("dev"), "kubernetesVersion": minor}})
    document = yaml.safe_load(evaluation.named("command:local:Command", "kind-cluster").inputs["stdin"])
    assert {node["image"] for node in document["nodes"]} == {KIND_NODE_IMAGES[minor]}


# --- finding 15: deletion protection --------------------------------------------------------------------------

@pytest.mark.parametrize("stack", ["prod", "prod-gcp"])
def test_deletion_protection_also_protects_the_cluster_in_pulumi(stack: str, evaluated: Callable[[str], StackEvaluation]) -> None:
    """The provider/API flag fails only when the cluster itself is deleted, after its node pools, add-ons and every
    Kubernetes object are gone; with Pulumi's `protect` the preview of a destroy (or a replacement) fails."""
    type_, _ = CLUSTERS[stack]
    cluster = evaluated(stack).named(type_, "eks" if stack == "prod" else "gke")
    assert cluster.inputs["deletionProtection"] is True and cluster.options["protect"] is True
    unprotected = evaluate_stack(stack, overrides={"cluster": {**cluster_config(stack), "deletionProtection": False}})
    cluster = unprotected.named(type_, "eks" if stack == "prod" else "gke")
    assert cluster.inputs["deletionProtection"] is False and cluster.options["protect"] is False


def test_operations_doc_says_how_to_destroy_a_cloud_stack() -> None:
    text = (REPO_ROOT / "docs" / "operations.md").read_text()
    section = text.split("### Destroying a cloud stack", 1)[1].split("\n## ", 1)[0]
    section = section.split("To destroy a cloud stack:", 1)[1]
    steps = [section.index(s) for s in ("deletionProtection: false", "pulumi up", "pulumi destroy")]
    assert steps == sorted(steps)
