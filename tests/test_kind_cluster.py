"""The dev stack's kind cluster, as the engine would receive it."""

from __future__ import annotations

from collections.abc import Callable

import yaml

from components.clusters.handle import cluster_identity, kubeconfig_ca
from offline.harness import StackEvaluation, is_secret

COMMAND = "command:local:Command"


def kind_config(evaluation: StackEvaluation) -> dict:
    return yaml.safe_load(evaluation.named(COMMAND, "kind-cluster").inputs["stdin"])


def test_kind_cluster_is_created_and_deleted_by_commands(evaluated: Callable[[str], StackEvaluation]) -> None:
    create = evaluated("dev").named(COMMAND, "kind-cluster")
    own_kubeconfig = '--kubeconfig "$HOME/.kube/kind-browser-platform-dev.kubeconfig"'
    # A leftover cluster of that name (a run interrupted while creating) is deleted first, never adopted.
    assert create.inputs["create"] == (
        'mkdir -p "$HOME/.kube" && '
        f"kind delete cluster --name browser-platform-dev {own_kubeconfig} && "
        f"kind create cluster --name browser-platform-dev --config - {own_kubeconfig} --wait 300s")
    assert create.inputs["delete"] == f"kind delete cluster --name browser-platform-dev {own_kubeconfig}"
    # A changed layout replaces the cluster, deleting the old one first (both share the name); an
    # unchanged config leaves it alone, since a Command only runs `create` on creation or replacement.
    assert {"create", "stdin"} <= set(create.options["replaceOnChanges"])
    assert create.options["deleteBeforeReplace"] is True
    assert "update" not in create.inputs


def test_workers_are_labelled_and_browser_workers_tainted(evaluated: Callable[[str], StackEvaluation]) -> None:
    config = kind_config(evaluated("dev"))
    assert config["kind"] == "Cluster" and config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    roles = [node["role"] for node in config["nodes"]]
    assert roles == ["control-plane", "worker", "worker"]
    api_worker, browser_worker = config["nodes"][1], config["nodes"][2]
    assert api_worker["labels"] == {"workload": "api"}
    assert "kubeadmConfigPatches" not in api_worker
    assert browser_worker["labels"] == {"workload": "browser"}
    patch = yaml.safe_load(browser_worker["kubeadmConfigPatches"][0])
    assert patch["kind"] == "JoinConfiguration"
    assert patch["nodeRegistration"]["taints"] == [{"key": "workload", "value": "browser", "effect": "NoSchedule"}]


def test_node_image_is_pinned_and_ingress_ports_mapped(evaluated: Callable[[str], StackEvaluation]) -> None:
    config = kind_config(evaluated("dev"))
    assert {node["image"] for node in config["nodes"]} == {
        "kindest/node:v1.35.0@sha256:452d707d4862f52530247495d180205e029056831160e22870e37e3f6c1ac31f"}
    mappings = config["nodes"][0]["extraPortMappings"]
    assert {(m["containerPort"], m["hostPort"]) for m in mappings} == {(30080, 8080), (30443, 8443)}
    assert all(m["listenAddress"] == "127.0.0.1" for m in mappings)
    assert config["networking"]["apiServerAddress"] == "127.0.0.1"


def test_kubeconfig_is_read_back_as_a_secret_and_feeds_one_provider(
    evaluated: Callable[[str], StackEvaluation],
) -> None:
    evaluation = evaluated("dev")
    read = evaluation.named(COMMAND, "kind-kubeconfig")
    create = evaluation.named(COMMAND, "kind-cluster")
    assert read.inputs["create"] == "kind get kubeconfig --name browser-platform-dev"
    assert read.options["additionalSecretOutputs"] == ["stdout"]
    assert read.inputs["logging"] == "none"
    assert create.urn in read.dependencies

    providers = evaluation.of_type("pulumi:providers:kubernetes")
    assert len(providers) == 1
    provider = providers[0]
    # Derived from the CA of the kubeconfig read back from the cluster: a re-created cluster has a new one.
    assert provider.inputs["clusterIdentifier"] == cluster_identity(
        "kind", "browser-platform-dev", kubeconfig_ca(read.outputs["stdout"]))
    assert provider.property_dependencies["clusterIdentifier"] == [read.urn]
    assert not is_secret(provider.inputs["clusterIdentifier"])
    assert is_secret(provider.inputs["kubeconfig"])
    assert read.urn in provider.dependencies
    assert is_secret(evaluation.outputs["kubeconfig"])


def test_every_kubernetes_object_uses_the_stack_provider(evaluated: Callable[[str], StackEvaluation]) -> None:
    evaluation = evaluated("dev")
    provider = evaluation.of_type("pulumi:providers:kubernetes")[0]
    objects = [r for r in evaluation.resources if r.custom and r.type.startswith("kubernetes:")]
    assert objects
    assert {r.provider.split("::id")[0].rsplit("::", 1)[0] for r in objects} == {provider.urn}


def test_node_image_from_config_is_used_for_every_node() -> None:
    from offline.harness import REPO_ROOT, evaluate_stack

    image = "kindest/node:v1.35.0@sha256:" + "cd" * 32
    dev_cluster = yaml.safe_load((REPO_ROOT / "Pulumi.dev.yaml").read_text())["config"]["browser-platform:cluster"]
    config = kind_config(evaluate_stack("dev", overrides={"cluster": {**dev_cluster, "nodeImage": image}}))
    assert {node["image"] for node in config["nodes"]} == {image}
