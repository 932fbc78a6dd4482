"""`cluster.kind: existing`: the platform on a cluster the user already runs, from tests/stacks/Pulumi.existing.yaml.

What is checked here: the config (every fact the program cannot discover is declared, with a clear error when it
is missing or wrong), the kubeconfig (one context, verified server, from a secret or the local file), the
provider (stable identity, adopts nothing), what the stack registers (no cluster resource, no cloud, nothing of
the cluster's own, nothing imported) and the declared pools in the capacity checks.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline.harness import REPO_ROOT, PlatformMocks, RecordingMonitor, StackEvaluation, evaluate, stack_file_config
from stack_config import ConfigError, StackSettings, validate_stack_config
from stack_config.cluster import EKS_VERSIONS, EXISTING_VERSIONS, GKE_VERSIONS, KIND_NODE_IMAGES, NodeDaemonsets
from stack_config.kubeconfig import ExistingAccess, local_kubeconfig_paths, resolve_existing_access
from stack_config.sizing import pool_plans

KEY = "browser-platform"
STACK = "existing"
KUBECONFIG_KEY = "clusterKubeconfig"
PROVIDER = "pulumi:providers:kubernetes"
CLUSTER_SCOPED_OF_THE_CLUSTER = ("kubernetes:storage.k8s.io/v1:StorageClass",
                                 "kubernetes:apiregistration.k8s.io/v1:APIService")


def existing_config() -> tuple[dict[str, Any], dict[str, str], set[str]]:
    """(decoded values, raw values, secret keys) of the existing test stack."""
    config, secrets = stack_file_config(STACK)
    raw = {key.split(":", 1)[1]: value for key, value in config.items()}
    decoded = {key: json.loads(value) if value[:1] in "{[" else value for key, value in raw.items()}
    return decoded, raw, {key.split(":", 1)[1] for key in secrets}


def encode(values: dict[str, Any]) -> dict[str, str]:
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in values.items()}


def validate(mutate: Callable[[dict[str, Any]], Any] | None = None, secret_keys: set[str] | None = None) -> StackSettings:
    values, _, secrets = existing_config()
    values = copy.deepcopy(values)
    if mutate is not None:
        mutate(values)
    return validate_stack_config(encode(values), secrets if secret_keys is None else secret_keys)


def problems_for(mutate: Callable[[dict[str, Any]], Any], secret_keys: set[str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        validate(mutate, secret_keys)
    return raised.value.problems


def pool(values: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in values["cluster"]["nodePools"] if p["name"] == name)
    return found


def kubeconfig_text(values: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(values[KUBECONFIG_KEY])
    return document


def set_kubeconfig(values: dict[str, Any], document: dict[str, Any]) -> None:
    values[KUBECONFIG_KEY] = yaml.safe_dump(document)


@pytest.fixture(scope="module")
def existing(evaluated: Callable[[str], StackEvaluation]) -> StackEvaluation:
    return evaluated(STACK)


# --- config -------------------------------------------------------------------------------------------------------


def test_existing_stack_config_is_valid_and_resolves_one_context() -> None:
    settings = validate()
    cluster = settings.config.cluster
    assert cluster.kind == "existing"
    access = settings.existing_access
    assert access is not None and access.context == "onprem-admin"
    assert access.server == "https://k8s.onprem.example.internal:6443"
    narrowed = yaml.safe_load(access.kubeconfig)
    # Only the chosen context, its cluster and its user travel into the stack's state.
    assert [c["name"] for c in narrowed["contexts"]] == ["onprem-admin"]
    assert [c["name"] for c in narrowed["clusters"]] == ["onprem"]
    assert [u["name"] for u in narrowed["users"]] == ["onprem-oidc"]
    assert narrowed["current-context"] == "onprem-admin"
    assert KUBECONFIG_KEY not in settings.secrets  # the raw kubeconfig is used only through existing_access


def test_supported_minors_are_those_of_the_other_kinds() -> None:
    assert set(EXISTING_VERSIONS) == set(EKS_VERSIONS) | set(GKE_VERSIONS) | set(KIND_NODE_IMAGES)


def _drop_version(values: dict[str, Any]) -> None:
    del values["cluster"]["kubernetesVersion"]


def _kubeconfig_insecure(values: dict[str, Any]) -> None:
    document = kubeconfig_text(values)
    document["clusters"][0]["cluster"]["insecure-skip-tls-verify"] = True
    set_kubeconfig(values, document)


def _kubeconfig_http(values: dict[str, Any]) -> None:
    document = kubeconfig_text(values)
    document["clusters"][0]["cluster"]["server"] = "http://k8s.onprem.example.internal:8080"
    set_kubeconfig(values, document)


@pytest.mark.parametrize(("mutate", "path", "text"), [
    (_drop_version, "cluster.kubernetesVersion", "required, but not set"),
    (lambda v: v["cluster"].update(kubernetesVersion="1.30"), "cluster.kubernetesVersion",
     f"allowed: {', '.join(EXISTING_VERSIONS)}"),
    (lambda v: v["cluster"].update(kubeconfig={}), "cluster.kubeconfig.secret", "required (or context)"),
    (lambda v: v["cluster"]["kubeconfig"].update(context="nope"), "cluster.kubeconfig.context",
     "context 'nope' is not in the kubeconfig; contexts there: onprem-admin, onprem-readonly, other-admin"),
    (_kubeconfig_insecure, "cluster.kubeconfig.context", "insecure-skip-tls-verify"),
    (_kubeconfig_http, "cluster.kubeconfig.context", "must be https://"),
    (lambda v: v.update({KUBECONFIG_KEY: "just: [text"}), "cluster.kubeconfig.secret", "is not a kubeconfig"),
    (lambda v: v.pop(KUBECONFIG_KEY), "cluster.kubeconfig.secret", "is not set; run `pulumi config set --secret"),
    (lambda v: pool(v, "browser").update(maxNodes=20), "cluster.nodePools[1].maxNodes",
     "declared with `nodes`"),
    (lambda v: pool(v, "browser").update(capacityType="spot"), "cluster.nodePools[1].capacityType", "onDemand"),
    (lambda v: pool(v, "system").pop("nodeShape"), "cluster.nodePools[0].nodeShape", "exactly one of nodeShape"),
    (lambda v: pool(v, "browser").update(instanceTypes=["Standard_D8s_v5"]), "cluster.nodePools[1].instanceTypes[0]",
     "use nodeShape instead"),
    (lambda v: pool(v, "system").update(nodeShape={"cpu": "lots", "memory": "12Gi"}),
     "cluster.nodePools[0].nodeShape.cpu", "not a CPU quantity"),
    (lambda v: v["cluster"].pop("storageClass"), "cluster.storageClass", "never creates or changes a StorageClass"),
    (lambda v: v["cluster"].update(podCidrs=["100.200.0.0/16"]), "cluster.podCidrs[0]", "network.internalCidrs"),
    (lambda v: v["cluster"].update(serviceCidrs=["172.15.0.0/16"]), "cluster.serviceCidrs[0]",
     "network.internalCidrs"),
    (lambda v: v["cluster"].pop("podCidrs"), "cluster.podCidrs", "required"),
    (lambda v: v["cluster"].update(gatewayService={"type": "LoadBalancer", "nodePorts": {"http": 30080, "https": 30443}}),
     "cluster.gatewayService.nodePorts", "type NodePort only"),
    (lambda v: v["cluster"].update(gatewayService={"type": "NodePort", "nodePorts": {"http": 8080, "https": 30443}}),
     "cluster.gatewayService.nodePorts.http", "30000-32767"),
    (lambda v: v["ingress"]["tls"].update(solver={"type": "route53", "region": "us-east-1",
                                                  "hostedZoneId": "Z0123456789EXAMPLE"}),
     "ingress.tls.solver.type", "not available on an existing cluster; use type http01"),
    (lambda v: v.update(dataStores={"enabled": True}), "dataStores.enabled", "set dataStores.external"),
    (lambda v: pool(v, "browser").update(nodes=2), "cluster.nodePools[1].nodes",
     "existing pool 'browser' cannot hold"),
])
def test_bad_existing_config_names_the_key(mutate: Callable[[dict[str, Any]], Any], path: str, text: str) -> None:
    problems = problems_for(mutate)
    assert any(p.startswith(f"{KEY}:{path}") and text in p for p in problems), problems


def test_kubeconfig_in_plaintext_config_is_rejected() -> None:
    _, _, secrets = existing_config()
    problems = problems_for(lambda v: None, secret_keys=secrets - {KUBECONFIG_KEY})
    assert any(p.startswith(f"{KEY}:cluster.kubeconfig.secret") and "plaintext" in p for p in problems), problems


def test_bad_config_registers_nothing() -> None:
    config, secrets = stack_file_config(STACK)
    cluster = json.loads(config[f"{KEY}:cluster"])
    cluster["kubeconfig"]["context"] = "nope"
    monitor = RecordingMonitor(PlatformMocks())
    with pytest.raises(ConfigError):
        evaluate(STACK, {**config, f"{KEY}:cluster": json.dumps(cluster)}, secrets, monitor=monitor)
    assert monitor.recorded == []


def test_local_kubeconfig_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With only a context, the local kubeconfig (KUBECONFIG's files, first definition wins) is read and cut
    down; a CA given as a file is inlined, so the state does not depend on that file later."""
    _, raw, _ = existing_config()
    document = yaml.safe_load(raw[KUBECONFIG_KEY])
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(b"-----BEGIN CERTIFICATE-----\nlocal\n-----END CERTIFICATE-----\n")
    document["clusters"][0]["cluster"].pop("certificate-authority-data")
    document["clusters"][0]["cluster"]["certificate-authority"] = str(ca_file)
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(yaml.safe_dump({"contexts": [], "clusters": [], "users": []}))
    second.write_text(yaml.safe_dump(document))
    environ = {"KUBECONFIG": f"{first}:{second}"}
    assert local_kubeconfig_paths(environ) == [first, second]
    monkeypatch.setenv("KUBECONFIG", environ["KUBECONFIG"])

    def local_context(values: dict[str, Any]) -> None:
        values["cluster"].update(kubeconfig={"context": "onprem-readonly"})
        values.pop(KUBECONFIG_KEY)

    settings = validate(local_context, secret_keys=existing_config()[2] - {KUBECONFIG_KEY})
    cluster = settings.config.cluster
    assert cluster.kind == "existing"
    access = settings.existing_access
    assert access is not None and access == resolve_existing_access(cluster, {}, environ)
    assert access.context == "onprem-readonly"
    assert base64.b64decode(access.ca_data) == ca_file.read_bytes()
    assert yaml.safe_load(access.kubeconfig)["clusters"][0]["cluster"]["certificate-authority-data"] == access.ca_data
    with pytest.raises(ValueError, match="no kubeconfig with contexts"):
        resolve_existing_access(cluster, {}, {"KUBECONFIG": str(tmp_path / "absent")})


def test_node_daemonsets_default_matches_the_capacity_model() -> None:
    from capacity import PROVIDER_DAEMONSETS, Resources

    declared = NodeDaemonsets()
    model = PROVIDER_DAEMONSETS["existing"]
    assert len(model) == declared.pods
    total = Resources(0, 0)
    for daemonset in model:
        total = total + daemonset.requests
    assert total == Resources.of(declared.cpu, declared.memory)


def test_capacity_uses_the_declared_shapes() -> None:
    config = validate().config
    plans = {plan.pool.name: plan for plan in pool_plans(config)}
    system, browser = plans["system"], plans["browser"]
    assert system.report is not None and browser.report is not None
    # nodeShape is Allocatable already: nothing is reserved, the declared daemonsets and the platform's agents are.
    node = system.report.node
    assert node.capacity.cpu_m == 3860 and node.reserve.cpu_m == 0
    assert node.pod_slots == 110 - 6 - 2  # declared cluster daemonsets (6), istio-cni and node-exporter
    # A table type on an existing cluster: GKE's (conservative) reserve tiers.
    assert browser.report.node.instance.name == "c6i.2xlarge"
    assert browser.report.node.reserve.memory_bytes > 0
    # Node counts are the declared ones; nothing is derived.
    assert (browser.pool.min_nodes, browser.pool.max_nodes) == (12, 12)
    # metrics-server is the cluster's own here: not counted, not installed.
    assert all(layer.name != "metrics-server" for plan in plans.values() for layer in plan.platform)


# --- what the program registers ---------------------------------------------------------------------------------


def test_no_cluster_cloud_or_local_resources(existing: StackEvaluation) -> None:
    types = {r.type for r in existing.resources}
    assert not {t for t in types if t.split(":", 1)[0] in ("aws", "gcp", "command", "azure", "azure-native")}
    assert not {t for t in types if t.startswith("pulumi:providers:") and t != PROVIDER}
    assert not {t for t in types if t.endswith("Patch")}
    assert not types & set(CLUSTER_SCOPED_OF_THE_CLUSTER)
    assert "browser-platform:cluster:ExistingCluster" in types
    # Nothing is imported: every object the stack has, it created (and `destroy` removes only those).
    assert all(not r.options.get("importId") for r in existing.resources)


def test_namespaces_are_the_programs_own(existing: StackEvaluation) -> None:
    from stack_config.platform import KUBERNETES_NAMESPACES

    names = [r.inputs["metadata"]["name"] for r in existing.of_type("kubernetes:core/v1:Namespace")]
    assert names and not set(names) & set(KUBERNETES_NAMESPACES)
    # Created, not adopted: the provider fails on a namespace that already exists (see the provider test).


def test_no_metrics_server_when_preinstalled(existing: StackEvaluation) -> None:
    charts = [r.inputs.get("chart") for r in existing.of_type("kubernetes:helm.sh/v3:Release")]
    assert "metrics-server" not in charts


def test_metrics_server_installed_when_declared_missing() -> None:
    from components.common.webhook_ports import installed_services

    config = validate(lambda v: v["cluster"].update(metricsServer="install")).config
    assert "metrics-server" in installed_services(config)
    assert "metrics-server" not in installed_services(validate().config)


def test_provider_adopts_nothing_and_identifies_the_cluster(existing: StackEvaluation) -> None:
    (provider,) = existing.of_type(PROVIDER)
    inputs = provider.plain_inputs
    assert inputs["upsertExistingObjects"] == "false"
    assert inputs["enablePatchForce"] == "false"
    assert inputs["deleteUnreachable"] == "false"  # an unreachable cluster of the user's is not dropped from state
    (component,) = existing.of_type("browser-platform:cluster:ExistingCluster")
    assert provider.parent == component.urn
    assert inputs["clusterIdentifier"].startswith("existing:browser-platform-onprem:")
    # The kubeconfig is secret in the provider's inputs and the stack outputs.
    assert isinstance(provider.inputs["kubeconfig"], dict)
    assert "onprem-admin" in inputs["kubeconfig"] and "other-admin" not in inputs["kubeconfig"]


def _identifier(mutate: Callable[[dict[str, Any]], Any]) -> str:
    from components.clusters.handle import cluster_identity

    settings = validate(mutate)
    access = settings.existing_access
    assert isinstance(access, ExistingAccess)
    return cluster_identity("existing", settings.config.cluster.name, access.identity_material)


def _rotate_token(values: dict[str, Any]) -> None:
    document = kubeconfig_text(values)
    for user in document["users"]:
        user["user"] = {"token": "a-fresh-token"}
    set_kubeconfig(values, document)


def _other_cluster_same_name(values: dict[str, Any]) -> None:
    document = kubeconfig_text(values)
    document["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(b"another CA").decode()
    set_kubeconfig(values, document)


def test_identifier_survives_token_refresh_and_changes_with_the_cluster() -> None:
    base = _identifier(lambda v: None)
    assert _identifier(_rotate_token) == base
    assert _identifier(lambda v: v["cluster"]["kubeconfig"].update(context="onprem-readonly")) == base
    assert _identifier(lambda v: v["cluster"]["kubeconfig"].update(context="other-admin")) != base
    assert _identifier(_other_cluster_same_name) != base


def test_gateway_service_follows_the_declaration(existing: StackEvaluation) -> None:
    def gateway_values(evaluation: StackEvaluation) -> dict[str, Any]:
        release = next(r for r in evaluation.of_type("kubernetes:helm.sh/v3:Release")
                       if r.inputs.get("name") == "istio-ingressgateway")
        service: dict[str, Any] = release.inputs["values"]["service"]
        return service

    service = gateway_values(existing)
    assert service["type"] == "LoadBalancer"
    assert service["annotations"] == {
        "service.beta.kubernetes.io/azure-load-balancer-health-probe-request-path": "/healthz/ready"}
    assert all("nodePort" not in port for port in service["ports"])
    from offline.harness import evaluate_stack

    config, _ = stack_file_config(STACK)
    cluster = json.loads(config[f"{KEY}:cluster"])
    cluster["gatewayService"] = {"type": "NodePort", "nodePorts": {"http": 31080, "https": 31443}}
    node_port = gateway_values(evaluate_stack(STACK, overrides={"cluster": cluster}))
    assert node_port["type"] == "NodePort"
    assert {p["name"]: p.get("nodePort") for p in node_port["ports"]} == {
        "status-port": None, "http2": 31080.0, "https": 31443.0}


def test_istio_cni_uses_the_declared_paths(existing: StackEvaluation) -> None:
    release = next(r for r in existing.of_type("kubernetes:helm.sh/v3:Release") if r.inputs.get("name") == "istio-cni")
    cni = release.inputs["values"]["cni"]
    assert (cni["cniBinDir"], cni["cniConfDir"]) == ("/opt/cni/bin", "/etc/cni/net.d")
    problems = problems_for(lambda v: v["cluster"].update(istioCni={"binDir": "opt/cni"}))
    assert any(p.startswith(f"{KEY}:cluster.istioCni.binDir") and "absolute path" in p for p in problems), problems


def test_prometheus_volumes_name_the_declared_class(existing: StackEvaluation) -> None:
    release = next(r for r in existing.of_type("kubernetes:helm.sh/v3:Release")
                   if r.inputs.get("name") == "kube-prometheus-stack")
    text = json.dumps(release.inputs["values"])
    assert '"storageClassName": "managed-csi"' in text


def test_network_policies_block_the_declared_ranges(existing: StackEvaluation) -> None:
    """The browser's egress excepts network.internalCidrs, which the config checks cover the pod and Service
    ranges; so a browser can reach neither another pod nor a Service by address."""
    blocked = set()
    for policy in existing.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy"):
        for rule in policy.inputs.get("spec", {}).get("egress", []) or []:
            for peer in rule.get("to", []) or []:
                blocked |= set((peer.get("ipBlock") or {}).get("except", []) or [])
    assert {"10.0.0.0/8"} <= blocked  # covers podCidrs 10.244.0.0/16 and serviceCidrs 10.0.0.0/16


def test_test_stack_file_is_not_a_deployable_stack() -> None:
    assert not (REPO_ROOT / f"Pulumi.{STACK}.yaml").exists()
    assert (REPO_ROOT / "tests" / "stacks" / f"Pulumi.{STACK}.yaml").exists()
