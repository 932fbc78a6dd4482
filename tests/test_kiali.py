"""Kiali (observability.kiali) and the Istio metrics it reads, as the engine receives them.

Runtime semantics asserted here, which no schema sees: every URL in Kiali's config names a Service and port that
exist after apply (Tempo's rendered Service, Grafana's and Prometheus' from the pinned chart's values and the
operator's convention) and its NetworkPolicies open exactly those hops; login is never anonymous and the
ServiceAccount only reads; the session key is a secret mounted where Kiali reads it; the capacity model counts
its pods; Prometheus is allowed to reach every Envoy it is told to scrape, in every meshed stack.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from capacity import platform_services as sizes
from components.services import istio_metrics, kiali, monitoring, tracing
from offline.harness import PROJECT, RecordedResource, StackEvaluation, evaluate_stack, is_secret, stack_file_config
from offline.render import manifest
from stack_config import validate_stack_config
from stack_config.platform import PlatformConfig
from stack_config.sizing import platform_services_for

from .conftest import STACKS
from .policy.cases import CASES
from .policy.kiali_cases import KIALI_CASES
from .policy.pack import PackProcess, mutated
from .policy.test_protocol import config_document
from .test_observability import assert_config_error
from .upstream_data import require

Evaluated = Callable[[str], StackEvaluation]
GRAFANA_CHART = Path(__file__).resolve().parents[1].parent / "shared" / "charts" / "kube-prometheus-stack-85.1.3"
KIALI_POLICIES = {"kiali-not-anonymous", "kiali-view-only", "istio-metrics-scraped"}


def _observability(stack: str, **kiali_settings: Any) -> dict[str, Any]:
    """The stack file's observability block with `kiali` set (the rest, e.g. prod's receivers, kept)."""
    values, _ = stack_file_config(stack)
    block = json.loads(values.get(f"{PROJECT}:observability", "{}"))
    return {**block, "kiali": kiali_settings}


@pytest.fixture(scope="module")
def with_kiali() -> Callable[[str], StackEvaluation]:
    cache: dict[str, StackEvaluation] = {}

    def get(stack: str) -> StackEvaluation:
        if stack not in cache:
            cache[stack] = evaluate_stack(stack, overrides={"observability": _observability(stack, enabled=True)})
        return cache[stack]
    return get


def config_of(stack: str, overrides: dict[str, Any]) -> PlatformConfig:
    values, secret_keys = stack_file_config(stack)
    own = {key.split(":", 1)[1]: value for key, value in values.items()}
    own.update({key: json.dumps(value) for key, value in overrides.items()})
    return validate_stack_config(own, {key.split(":", 1)[1] for key in secret_keys}).config


def in_ns(ev: StackEvaluation, kind: str, namespace: str | None, name: str) -> RecordedResource:
    return next(r for r in of_kind(ev, kind) if r.inputs["metadata"]["name"] == name
                and r.inputs["metadata"].get("namespace") == namespace)


def of_kind(ev: StackEvaluation, kind: str) -> list[RecordedResource]:
    return [r for r in ev.resources if r.type.startswith("kubernetes:") and r.type.endswith(f":{kind}")]


def kiali_objects(ev: StackEvaluation) -> list[RecordedResource]:
    return [r for r in ev.resources if r.type.startswith("kubernetes:") and (
        r.inputs.get("metadata", {}).get("namespace") == kiali.KIALI_NAMESPACE
        or r.inputs.get("metadata", {}).get("name", "").startswith("kiali")
        or r.name.startswith("kiali-"))]


def kiali_config(ev: StackEvaluation) -> dict[str, Any]:
    config_map = in_ns(ev, "ConfigMap", kiali.KIALI_NAMESPACE, kiali.KIALI)
    parsed: dict[str, Any] = yaml.safe_load(config_map.inputs["data"]["config.yaml"])
    return parsed


def pod_spec(ev: StackEvaluation) -> dict[str, Any]:
    spec: dict[str, Any] = in_ns(ev, "Deployment", kiali.KIALI_NAMESPACE, kiali.KIALI).plain_inputs[
        "spec"]["template"]["spec"]
    return spec


def service_port(ev: StackEvaluation, namespace: str, name: str, port: int) -> dict[str, Any] | None:
    service = in_ns(ev, "Service", namespace, name)
    return next((p for p in service.inputs["spec"]["ports"] if p["port"] == port), None)


# --- config ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", STACKS)
def test_kiali_is_off_by_default(evaluated: Evaluated, stack: str) -> None:
    assert not config_of(stack, {}).kiali_enabled
    assert not [r for r in evaluated(stack).resources if r.type == "browser-platform:addons:Kiali"]
    assert not [r for r in evaluated(stack).resources
                if r.inputs.get("metadata", {}).get("namespace") == kiali.KIALI_NAMESPACE]


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"monitoring": {"enabled": False}, "autoscaling": {"keda": {"enabled": False}}},
     "observability.kiali.enabled: Kiali reads the mesh's metrics from Prometheus (monitoring), so it needs "
     "monitoring.enabled; set kiali.enabled false"),
    ({"mesh": {"enabled": False}, "ingress": None},
     "observability.kiali.enabled: Kiali draws the mesh's traffic from Istio's metrics, so it needs mesh.enabled"),
    ({}, "observability.kiali.enabled"),
])
def test_kiali_config_errors_name_the_key(overrides: dict[str, Any], expected: str) -> None:
    kiali_block: Any = {"enabled": True} if overrides else {"enabled": "sometimes"}
    assert_config_error(overrides, expected, base={"observability": {"kiali": kiali_block}})


# --- what the engine receives ----------------------------------------------------------------------------

def test_deployment_is_hardened_and_pinned(with_kiali: Callable[[str], StackEvaluation]) -> None:
    ev = with_kiali("prod")
    deployment = in_ns(ev, "Deployment", kiali.KIALI_NAMESPACE, kiali.KIALI).plain_inputs
    spec = pod_spec(ev)
    (container,) = spec["containers"]
    assert "@sha256:" in container["image"] and container["image"].startswith("quay.io/kiali/kiali:v2.")
    assert spec["securityContext"]["runAsNonRoot"] and spec["securityContext"]["runAsUser"] >= 10000
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"]
    assert security["capabilities"] == {"drop": ["ALL"]}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/kiali/healthz", "port": "http"}
    assert container["ports"] == [{"name": "http", "containerPort": kiali.KIALI_PORT}]
    # Kiali reads its config from the path the command names, and the signing key where config.go looks for it.
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert container["command"] == ["/opt/kiali/kiali", "-config", f"{mounts['config']}/config.yaml"]
    assert mounts["signing-key"] == "/kiali-override-secrets/login-token-signing-key"
    assert spec["serviceAccountName"] == kiali.KIALI and spec["automountServiceAccountToken"] is False
    assert mounts["kube-api-access"] == "/var/run/secrets/kubernetes.io/serviceaccount"
    assert spec["priorityClassName"] == "browser-platform-services"
    resources = sizes.KIALI.resource_values()
    assert container["resources"]["requests"]["cpu"] == resources["requests"]["cpu"]
    assert container["resources"]["limits"]["memory"] == resources["limits"]["memory"]
    # Clouds: two replicas, a PDB that always leaves one eviction; kind: one, no PDB.
    assert deployment["spec"]["replicas"] == sizes.kiali_replicas(True).max == 2
    pdb = in_ns(ev, "PodDisruptionBudget", kiali.KIALI_NAMESPACE, kiali.KIALI).plain_inputs
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == kiali.KIALI_SELECTOR
    dev = with_kiali("dev")
    assert in_ns(dev, "Deployment", kiali.KIALI_NAMESPACE, kiali.KIALI).plain_inputs["spec"]["replicas"] == 1
    assert not [r for r in of_kind(dev, "PodDisruptionBudget") if r.inputs["metadata"]["namespace"] == "kiali"]


def test_only_a_cluster_ip_service_reaches_it(with_kiali: Callable[[str], StackEvaluation]) -> None:
    ev = with_kiali("prod")
    services = [r for r in of_kind(ev, "Service") if r.inputs["metadata"].get("namespace") == kiali.KIALI_NAMESPACE]
    assert [(s.inputs["metadata"]["name"], s.inputs["spec"]["type"]) for s in services] == [("kiali", "ClusterIP")]
    exposed = [r for r in ev.resources if r.type.split(":")[-1] in ("Ingress", "Gateway", "VirtualService", "HTTPRoute")
               and "kiali" in json.dumps(r.plain_inputs)]
    assert not exposed


def test_login_is_a_token_and_the_session_key_is_secret(with_kiali: Callable[[str], StackEvaluation]) -> None:
    ev = with_kiali("prod")
    config = kiali_config(ev)
    assert config["auth"] == {"strategy": "token"}
    assert config["deployment"]["view_only_mode"] is True
    assert config["login_token"]["signing_key"] == ""  # the key is only in the Secret
    secret = in_ns(ev, "Secret", kiali.KIALI_NAMESPACE, kiali.SIGNING_KEY_SECRET)
    assert is_secret(secret.inputs["stringData"]) or is_secret(secret.inputs["stringData"]["value.txt"])
    key = secret.plain_inputs["stringData"]["value.txt"]
    assert len(key) == 32  # Kiali refuses other lengths for a non-anonymous strategy (validateSigningKey)
    volume = next(v for v in pod_spec(ev)["volumes"] if v["name"] == "signing-key")
    assert volume["secret"]["secretName"] == kiali.SIGNING_KEY_SECRET
    # The login account: bound to the same read-only role, nothing else.
    bindings = [r.plain_inputs for r in of_kind(ev, "ClusterRoleBinding")
                if any(s["name"] == kiali.VIEWER_ACCOUNT for s in r.plain_inputs["subjects"])]
    assert [b["roleRef"]["name"] for b in bindings] == ["kiali-viewer"]


def test_every_url_names_a_service_and_port_that_exist(with_kiali: Callable[[str], StackEvaluation]) -> None:
    require(GRAFANA_CHART)
    ev = with_kiali("prod")
    services = kiali_config(ev)["external_services"]
    # Tempo: a Service of this stack, on that port.
    tempo = urlparse(services["tracing"]["internal_url"])
    assert services["tracing"]["provider"] == "tempo" and services["tracing"]["use_grpc"] is False
    name, namespace = str(tempo.hostname).split(".")[:2]
    assert service_port(ev, namespace, name, int(tempo.port or 80)) is not None
    # The trace links open Grafana's Tempo data source: the uid the monitoring release provisions.
    values = next(r.plain_inputs["values"] for r in of_kind(ev, "Release")
                  if r.inputs["name"] == monitoring.RELEASE_NAME)
    uids = {d["uid"] for d in values["grafana"]["additionalDataSources"]}
    assert services["tracing"]["tempo_config"]["datasource_uid"] in uids
    # Grafana: the chart names its Service <fullnameOverride>-grafana and serves port 80 (grafana chart values).
    grafana = urlparse(services["grafana"]["internal_url"])
    chart = yaml.safe_load((GRAFANA_CHART / "subcharts" / "grafana-12.3.3" / "values.yaml").read_text())
    assert str(grafana.hostname).split(".")[:2] == [f"{values['fullnameOverride']}-grafana", monitoring.MONITORING_NAMESPACE]
    assert grafana.port == chart["service"]["port"]
    # Prometheus: the operator's governing Service (prometheus-operated, port 9090 "web"), the URL KEDA reads too.
    assert services["prometheus"]["url"] == monitoring.PROMETHEUS_URL
    assert values["prometheus"]["prometheusSpec"]["replicas"] >= 1
    assert services["istio"]["root_namespace"] == "istio-system"


def _egress(policy: dict[str, Any]) -> set[tuple[str, str, int]]:
    """(namespace, pod labels as JSON, port) of every egress rule (ipBlock rules as ('cidr', cidr, port))."""
    found = set()
    for rule in policy["spec"]["egress"]:
        for peer in rule["to"]:
            for port in rule["ports"]:
                if "ipBlock" in peer:
                    found.add(("cidr", peer["ipBlock"]["cidr"], port["port"]))
                else:
                    found.add((peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
                               json.dumps(peer["podSelector"]["matchLabels"], sort_keys=True), port["port"]))
    return found


def test_network_policies_open_exactly_the_hops_it_needs(with_kiali: Callable[[str], StackEvaluation]) -> None:
    ev = with_kiali("prod")
    policies = [r.plain_inputs for r in of_kind(ev, "NetworkPolicy")
                if r.inputs["metadata"]["namespace"] == kiali.KIALI_NAMESPACE]
    deny = next(p for p in policies if p["metadata"]["name"] == "default-deny-all")
    assert deny["spec"]["podSelector"] == {} and set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert not [p for p in policies if "ingress" in p["spec"]]  # port-forward and probes come via the kubelet
    egress = _egress(next(p for p in policies if p["metadata"]["name"] == "kiali-egress"))
    tempo_labels = in_ns(ev, "StatefulSet", tracing.TRACING_NAMESPACE, tracing.TEMPO).plain_inputs[
        "spec"]["template"]["metadata"]["labels"]
    prod = config_of("prod", {})
    expected = {
        ("kube-system", json.dumps({"k8s-app": "kube-dns"}), 53),
        ("monitoring", json.dumps({"app.kubernetes.io/name": "prometheus"}), 9090),
        ("monitoring", json.dumps({"app.kubernetes.io/name": "grafana"}), 3000),
        ("istio-system", json.dumps({"app": "istiod"}), istio_metrics.ISTIOD_MONITORING_PORT),
        ("tracing", json.dumps(tracing.component_labels(tracing.TEMPO), sort_keys=True), tracing.TEMPO_HTTP_PORT),
        *{("cidr", cidr, port) for cidr in prod.network.internal_cidrs for port in (443, 6443)},
    }
    assert egress == expected
    assert tracing.component_labels(tracing.TEMPO).items() <= tempo_labels.items()
    # Tempo's namespace denies by default: the one extra door is for Kiali's pods on the query port.
    door = in_ns(ev, "NetworkPolicy", tracing.TRACING_NAMESPACE, "tempo-from-kiali").plain_inputs
    assert door["spec"]["podSelector"]["matchLabels"].items() <= tempo_labels.items()
    (rule,) = door["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": tracing.TEMPO_HTTP_PORT}]
    assert rule["from"][0]["podSelector"]["matchLabels"] == kiali.KIALI_SELECTOR
    kiali_pods = in_ns(ev, "Deployment", "kiali", "kiali").plain_inputs["spec"]["template"]["metadata"]["labels"]
    assert kiali.KIALI_SELECTOR.items() <= kiali_pods.items()


def test_without_tracing_kiali_reads_no_trace_store(with_kiali: Callable[[str], StackEvaluation]) -> None:
    ev = with_kiali("dev")  # dev keeps tracing off (Pulumi.dev.yaml)
    assert kiali_config(ev)["external_services"]["tracing"] == {"enabled": False}
    policy = in_ns(ev, "NetworkPolicy", kiali.KIALI_NAMESPACE, "kiali-egress").plain_inputs
    assert not [e for e in _egress(policy) if e[0] == "tracing"]
    assert not [r for r in of_kind(ev, "NetworkPolicy") if r.inputs["metadata"]["name"] == "tempo-from-kiali"]


def test_the_service_account_only_reads(with_kiali: Callable[[str], StackEvaluation]) -> None:
    ev = with_kiali("prod")
    role = in_ns(ev, "ClusterRole", None, "kiali-viewer").plain_inputs
    for rule in role["rules"]:
        writes = set(rule["verbs"]) - {"get", "list", "watch"}
        assert not writes or (writes == {"create"} and rule["resources"] == ["tokenreviews"]), rule
        assert "secrets" not in rule["resources"] and "*" not in rule["resources"] and "*" not in rule["verbs"]
        assert "pods/log" not in rule["resources"] and "pods/portforward" not in rule["resources"]
    debug = in_ns(ev, "Role", "istio-system", "kiali-istiod-debug").plain_inputs
    assert debug["rules"] == [{"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["create"]}]
    assert kiali_config(ev)["kiali_feature_flags"]["disabled_features"] == ["logs-tab"]


def test_kiali_objects_validate_strictly(with_kiali: Callable[[str], StackEvaluation], tmp_path: Path) -> None:
    objects = [manifest(r) for r in kiali_objects(with_kiali("prod"))]
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "Service", "ConfigMap", "Secret", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
            "Role", "RoleBinding", "NetworkPolicy", "PodDisruptionBudget", "Namespace"} <= kinds
    files = []
    for index, obj in enumerate(objects):
        path = tmp_path / f"{index}.yaml"
        path.write_text(yaml.safe_dump(obj))
        files.append(str(path))
    result = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict", "-k", "1.35.0", *files],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" passed ") == len(objects), result.stdout


def test_capacity_counts_kiali(with_kiali: Callable[[str], StackEvaluation]) -> None:
    for stack, replicas in (("prod", 2), ("dev", 1)):
        config = config_of(stack, {"observability": _observability(stack, enabled=True)})
        layers = {layer.name: layer for layer in platform_services_for(config)}
        (pod,) = layers["kiali"].pods
        assert pod.replicas.max == replicas and pod.requests == sizes.KIALI.resources
        assert "kiali" not in {layer.name for layer in platform_services_for(config_of(stack, {}))}
        rendered = in_ns(with_kiali(stack), "Deployment", kiali.KIALI_NAMESPACE, kiali.KIALI).plain_inputs
        assert rendered["spec"]["replicas"] == pod.replicas.max


# --- Istio metrics (every meshed stack, with or without Kiali) ------------------------------------------------

@pytest.mark.parametrize("stack", STACKS)
def test_prometheus_scrapes_every_envoy_and_istiod(evaluated: Evaluated, stack: str) -> None:
    ev = evaluated(stack)
    config = config_of(stack, {})
    monitors = {r.inputs["metadata"]["name"]: r.plain_inputs for r in of_kind(ev, "PodMonitor")
                if r.inputs["metadata"]["namespace"] == "istio-system"}
    if not (config.mesh.enabled and config.monitoring.enabled):
        assert not monitors
        return
    envoy, istiod = monitors[istio_metrics.ENVOY_MONITOR], monitors[istio_metrics.ISTIOD_MONITOR]
    assert envoy["metadata"]["labels"]["release"] == monitoring.RELEASE_NAME
    (endpoint,) = envoy["spec"]["podMetricsEndpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("http-envoy-prom", "/stats/prometheus")
    injected = {r.inputs["metadata"]["name"] for r in of_kind(ev, "Namespace")
                if r.inputs["metadata"].get("labels", {}).get("istio-injection") == "enabled"}
    gateway = {r.inputs["namespace"] for r in of_kind(ev, "Release") if r.inputs["name"] == "istio-ingressgateway"}
    assert set(envoy["spec"]["namespaceSelector"]["matchNames"]) == injected | gateway
    assert istiod["spec"]["podMetricsEndpoints"][0]["port"] == "http-monitoring"
    # Prometheus selects them: the chart's selectors are opened to every monitor in every namespace.
    values = next(r.plain_inputs["values"] for r in of_kind(ev, "Release") if r.inputs["name"] == monitoring.RELEASE_NAME)
    assert values["prometheus"]["prometheusSpec"]["podMonitorSelectorNilUsesHelmValues"] is False
    # The scrape is not blocked: every injected namespace that denies ingress admits the monitoring namespace
    # on 15090 for all its pods (the gateway's namespace has no NetworkPolicy at all).
    for namespace in injected | gateway:
        policies = [r.plain_inputs for r in of_kind(ev, "NetworkPolicy") if r.inputs["metadata"]["namespace"] == namespace]
        if not any(p["spec"]["podSelector"] == {} and "Ingress" in p["spec"]["policyTypes"] for p in policies):
            continue
        assert any(p["spec"]["podSelector"] in ({}, {"matchLabels": {}}) and any(
            {"protocol": "TCP", "port": istio_metrics.ENVOY_METRICS_PORT} in rule.get("ports", [])
            and rule["from"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}
            for rule in p["spec"].get("ingress", [])) for p in policies), namespace


# --- the policy pack on the real Kiali-on stack -------------------------------------------------------------

@pytest.fixture(scope="module")
def pack() -> Iterator[PackProcess]:
    """The pack as the CLI runs it (tests/policy's session fixture lives in that package's conftest)."""
    process = PackProcess()
    try:
        yield process
    finally:
        process.close()


def test_every_kiali_policy_has_a_case() -> None:
    assert {case.policy for case in KIALI_CASES} == KIALI_POLICIES
    assert all(case in CASES for case in KIALI_CASES)  # tests/policy/test_protocol.py runs each one


def test_policy_passes_on_the_real_stack_and_fails_on_mutations(pack: PackProcess,
                                                               with_kiali: Callable[[str], StackEvaluation]) -> None:
    resources = with_kiali("prod").resources
    pack.configure(config_document("prod"), force_all="mandatory")
    found = pack.analyze_all(resources)
    assert not [d for d in found if d.policy in KIALI_POLICIES], [d.message for d in found]
    assert not [d for d in found if d.level == "mandatory" and "kiali" in d.message.lower()], \
        [d.message for d in found if "kiali" in d.message.lower()]

    anonymous = mutated(resources)
    config_map = next(r for r in anonymous if r.type.endswith(":ConfigMap") and r.name == "kiali-config")
    document = yaml.safe_load(config_map.inputs["data"]["config.yaml"])
    document["auth"]["strategy"] = "anonymous"
    config_map.inputs["data"]["config.yaml"] = yaml.safe_dump(document)
    assert [d.policy for d in pack.analyze_stack(anonymous) if d.policy in KIALI_POLICIES] == ["kiali-not-anonymous"]

    writer = mutated(resources)
    role = next(r for r in writer if r.type.endswith(":ClusterRole") and r.name == "kiali-viewer-role")
    role.inputs["rules"][1]["verbs"] = [*role.inputs["rules"][1]["verbs"], "delete"]
    messages = [d.message for d in pack.analyze_stack(writer) if d.policy == "kiali-view-only"]
    assert len(messages) == 1 and "grants delete on daemonsets, deployments" in messages[0]
