"""Platform services (KEDA, metrics-server, Istio, cert-manager, kube-prometheus-stack), checked on what every stack
registers: pinned chart releases, custom resources after the releases that install their CRDs, one autoscaler per
target, and switches that remove a layer with everything that depends on it.

Chart contents are opaque offline (a Helm release is its inputs only), so these tests read the release inputs and
the specs of our own custom resources; kubernetes-validate has no schema for the latter.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from components.clusters.kind import GATEWAY_NODE_PORTS
from components.common import charts
from components.common.metrics_contract import (
    BROWSER_SESSIONS_ACTIVE,
    BROWSER_SESSIONS_CAPACITY,
    BROWSER_SESSIONS_QUEUED,
    HTTP_REQUEST_DURATION,
    HTTP_REQUESTS_TOTAL,
)
from offline.harness import RecordedResource, StackEvaluation, evaluate_stack, is_secret, stack_file_config
from stack_config import ConfigError, PlatformConfig, validate_stack_config
from stack_config.workloads import BrowserWorkload, headroom_namespace

from .conftest import STACKS

RELEASE = "kubernetes:helm.sh/v3:Release"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
NAMESPACE = "kubernetes:core/v1:Namespace"

CRD_OWNER = {
    # API group of a custom resource -> Helm release (by release name) that installs its CRD.
    "networking.istio.io": "istio-base",
    "security.istio.io": "istio-base",
    "keda.sh": "keda",
    "cert-manager.io": "cert-manager",
    "monitoring.coreos.com": "kube-prometheus-stack",
}
ISTIO_GROUPS = {"networking.istio.io", "security.istio.io"}
SIDECAR_KEYS = {"sidecar.istio.io/proxyCPU", "sidecar.istio.io/proxyMemory", "sidecar.istio.io/proxyCPULimit",
                "sidecar.istio.io/proxyMemoryLimit"}
Evaluated = Callable[[str], StackEvaluation]


def config_of(stack: str, overrides: dict[str, Any] | None = None) -> PlatformConfig:
    values, secret_keys = stack_file_config(stack)
    for key, value in (overrides or {}).items():
        full = f"browser-platform:{key}"
        if value is None:
            values.pop(full, None)
        else:
            values[full] = json.dumps(value)
    own = {key.split(":", 1)[1]: value for key, value in values.items() if key.startswith("browser-platform:")}
    return validate_stack_config(own, {key.split(":", 1)[1] for key in secret_keys}).config


def releases(ev: StackEvaluation) -> dict[str, RecordedResource]:
    found = {r.inputs["name"]: r for r in ev.of_type(RELEASE)}
    assert len(found) == len(ev.of_type(RELEASE)), "two releases share a Helm release name"
    return found


def group_of(resource: RecordedResource) -> str:
    api_version = str(resource.inputs.get("apiVersion", ""))
    return api_version.split("/")[0] if "/" in api_version else ""


def custom_resources(ev: StackEvaluation) -> list[RecordedResource]:
    return [r for r in ev.kubernetes_objects() if group_of(r) in CRD_OWNER]


def spec(resource: RecordedResource) -> dict[str, Any]:
    return resource.plain_inputs.get("spec") or {}


def named(ev: StackEvaluation, kind: str, name: str, namespace: str | None = None) -> RecordedResource:
    matches = [r for r in ev.kubernetes_objects() if r.inputs.get("kind") == kind
               and r.inputs["metadata"].get("name") == name
               and (namespace is None or r.inputs["metadata"].get("namespace") == namespace)]
    assert len(matches) == 1, f"{len(matches)} {kind} named {name}"
    return matches[0]


def of_kind(ev: StackEvaluation, kind: str) -> list[RecordedResource]:
    return [r for r in ev.kubernetes_objects() if r.inputs.get("kind") == kind]


def deployment(ev: StackEvaluation, component: str) -> RecordedResource:
    return next(r for r in ev.of_type(DEPLOYMENT) if r.inputs["metadata"]["name"] == component)


# --------------------------------------------------------------------------------------------------------------
# Releases
# --------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", STACKS)
def test_every_release_is_pinned_from_its_official_repository(evaluated: Evaluated, stack: str) -> None:
    ev = evaluated(stack)
    pinned = {chart.chart: chart for chart in charts.ALL_PINNED.values()}
    for name, release in releases(ev).items():
        inputs = release.inputs
        if inputs["chart"] not in pinned:
            continue  # another layer's chart (e.g. the cluster autoscaler), pinned and tested there
        chart = pinned[inputs["chart"]]
        expected_version = config_of(stack).mesh.istio_version or chart.version if chart.repo == charts.ISTIO_REPO \
            else chart.version
        assert inputs["version"] == expected_version, name
        assert inputs["repositoryOpts"]["repo"] == chart.repo, name
        assert inputs["namespace"], name
        assert inputs["atomic"] is True and inputs["cleanupOnFail"] is True, name
        assert release.provider.startswith("urn:pulumi:") and "pulumi:providers:kubernetes" in release.provider


def test_istio_pin_has_the_consistent_hash_fix() -> None:
    major, minor, patch = (int(part) for part in charts.ISTIO_VERSION.split("."))
    assert (major, minor, patch) >= (1, 30, 1)


@pytest.mark.parametrize("stack", STACKS)
def test_metrics_server_only_where_the_cluster_lacks_one(evaluated: Evaluated, stack: str) -> None:
    ev = evaluated(stack)
    flavor = config_of(stack).cluster.kind
    found = releases(ev).get("metrics-server")
    if flavor == "gke":
        assert found is None, "GKE runs its own metrics-server"
        return
    assert found is not None
    assert found.inputs["namespace"] == "kube-system"
    args = found.inputs["values"]["args"]
    assert ("--kubelet-insecure-tls" in args) == (flavor == "kind")


@pytest.mark.parametrize("stack", STACKS)
def test_istio_installs_in_order_with_cni(evaluated: Evaluated, stack: str) -> None:
    ev = evaluated(stack)
    if not config_of(stack).mesh.enabled:
        pytest.skip("mesh disabled on this stack")
    found = releases(ev)
    base, cni, istiod = found["istio-base"], found["istio-cni"], found["istiod"]
    assert base.urn in cni.dependencies
    assert cni.urn in istiod.dependencies and base.urn in istiod.dependencies
    assert istiod.inputs["values"]["pilot"]["cni"]["enabled"] is True
    flavor = config_of(stack).cluster.kind
    if flavor == "gke":
        assert cni.inputs["values"]["cni"]["cniBinDir"] == "/home/kubernetes/bin"
        quota = named(ev, "ResourceQuota", "gcp-critical-pods")
        assert quota.urn in cni.dependencies
        selector = quota.inputs["spec"]["scopeSelector"]["matchExpressions"][0]
        assert selector["values"] == ["system-node-critical"]
    else:
        assert "cniBinDir" not in cni.inputs["values"]["cni"]  # the chart's /opt/cni/bin
    gateway = found.get("istio-ingressgateway")
    if config_of(stack).ingress is None:
        assert gateway is None
        return
    assert gateway is not None and istiod.urn in gateway.dependencies
    assert gateway.inputs["namespace"] == config_of(stack).ingress_namespace
    service = gateway.inputs["values"]["service"]
    if flavor == "kind":
        assert service["type"] == "NodePort"
        node_ports = {p["name"]: p.get("nodePort") for p in service["ports"]}
        assert node_ports["http2"] == GATEWAY_NODE_PORTS["http"]
        assert node_ports["https"] == GATEWAY_NODE_PORTS["https"]
    else:
        assert service["type"] == "LoadBalancer"


@pytest.mark.parametrize("stack", STACKS)
def test_cert_manager_and_prometheus_values(evaluated: Evaluated, stack: str) -> None:
    ev = evaluated(stack)
    config = config_of(stack)
    found = releases(ev)
    if config.ingress is not None:
        assert found["cert-manager"].inputs["values"]["crds"]["enabled"] is True
    else:
        assert "cert-manager" not in found
    if not config.monitoring.enabled:
        assert "kube-prometheus-stack" not in found
        return
    values = found["kube-prometheus-stack"].inputs["values"]
    prometheus = values["prometheus"]["prometheusSpec"]
    for selector in ("serviceMonitorSelectorNilUsesHelmValues", "ruleSelectorNilUsesHelmValues"):
        assert prometheus[selector] is False
    assert prometheus["retention"] == config.monitoring.retention
    storage = prometheus["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"]
    assert storage == config.monitoring.storage_size
    grafana = values["grafana"]
    assert grafana["sidecar"]["dashboards"] == {"enabled": True, "label": "grafana_dashboard", "labelValue": "1"}
    assert "adminPassword" not in grafana, "the password must not travel in chart values"
    secret = named(ev, "Secret", grafana["admin"]["existingSecret"])
    string_data = secret.inputs["stringData"]
    assert is_secret(string_data) or is_secret(string_data["admin-password"])
    assert secret.urn in found["kube-prometheus-stack"].dependencies


# --------------------------------------------------------------------------------------------------------------
# Custom resources and their CRDs
# --------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", STACKS)
def test_every_custom_resource_waits_for_the_release_with_its_crd(evaluated: Evaluated, stack: str) -> None:
    ev = evaluated(stack)
    found = releases(ev)
    crs = custom_resources(ev)
    assert crs, "expected platform custom resources"
    for resource in crs:
        owner = found[CRD_OWNER[group_of(resource)]]
        assert owner.urn in resource.dependencies, f"{resource.name} does not wait for {owner.name}"
        assert resource.provider == owner.provider


@pytest.mark.parametrize("stack", STACKS)
def test_no_object_lands_in_a_namespace_nobody_creates(evaluated: Evaluated, stack: str) -> None:
    ev = evaluated(stack)
    created = {r.inputs["metadata"]["name"] for r in ev.of_type(NAMESPACE)}
    for resource in ev.kubernetes_objects():
        namespace = (resource.inputs.get("metadata") or {}).get("namespace")
        if namespace and namespace not in {"kube-system", "default"}:
            assert namespace in created, f"{resource.name} is in namespace {namespace}, which is not created"
    for release in ev.of_type(RELEASE):
        assert release.inputs["namespace"] in created | {"kube-system"}


# --------------------------------------------------------------------------------------------------------------
# Autoscaling
# --------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", STACKS)
def test_one_autoscaler_per_target_and_no_replicas_under_one(evaluated: Evaluated, stack: str) -> None:
    ev = evaluated(stack)
    targets = [r.inputs["spec"]["scaleTargetRef"]["name"] for r in ev.of_type(HPA)]
    targets += [r.inputs["spec"]["scaleTargetRef"]["name"] for r in ev.of_type(SCALED_OBJECT)]
    assert len(targets) == len(set(targets)), f"two autoscalers for one target: {targets}"
    for name in targets:
        assert "replicas" not in deployment(ev, name).inputs["spec"], f"{name} sets spec.replicas under an autoscaler"
    config = config_of(stack)
    keda = config.autoscaling.keda.enabled
    assert ("browser" in [r.inputs["spec"]["scaleTargetRef"]["name"] for r in ev.of_type(SCALED_OBJECT)]) == keda
    assert "api" in [r.inputs["spec"]["scaleTargetRef"]["name"] for r in ev.of_type(HPA)]


@pytest.mark.parametrize("stack", STACKS)
def test_browser_pool_scales_on_sessions(evaluated: Evaluated, stack: str) -> None:
    ev = evaluated(stack)
    config = config_of(stack)
    if not config.autoscaling.keda.enabled:
        pytest.skip("KEDA disabled on this stack")
    browser = config.workloads["browser"]
    assert isinstance(browser, BrowserWorkload) and browser.autoscaling is not None
    scaled = named(ev, "ScaledObject", "browser")
    body = spec(scaled)
    assert body["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "browser"}
    assert body["minReplicaCount"] == browser.autoscaling.min_replicas
    assert body["maxReplicaCount"] == browser.autoscaling.max_replicas
    triggers = {t["type"]: t for t in body["triggers"]}
    sessions = triggers["prometheus"]
    assert sessions["metricType"] == "AverageValue"
    expected = browser.sessions_per_pod * config.autoscaling.keda.fill_ratio
    assert float(sessions["metadata"]["threshold"]) == pytest.approx(expected, abs=0.01)
    assert BROWSER_SESSIONS_ACTIVE in sessions["metadata"]["query"]
    assert BROWSER_SESSIONS_QUEUED in sessions["metadata"]["query"]
    assert f'namespace="{config.namespace}"' in sessions["metadata"]["query"]
    assert sessions["metadata"]["serverAddress"].startswith("http://prometheus-operated.")
    assert triggers["cpu"]["metricType"] == "Utilization"
    assert triggers["cpu"]["metadata"]["value"] == str(browser.autoscaling.cpu_utilization)
    assert triggers["memory"]["metricType"] == "Utilization"
    assert triggers["memory"]["metadata"]["value"] == str(browser.autoscaling.memory_utilization)
    fallback = body["fallback"]
    assert fallback["failureThreshold"] == config.autoscaling.keda.failure_threshold
    assert 1 <= fallback["replicas"] <= browser.autoscaling.max_replicas
    behavior = body["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 0
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] >= 300
    # The API keeps its HPA with the same behaviour.
    api_hpa = next(r for r in ev.of_type(HPA) if r.inputs["spec"]["scaleTargetRef"]["name"] == "api")
    assert api_hpa.plain_inputs["spec"]["behavior"] == behavior
    assert deployment(ev, "browser").urn in scaled.dependencies
    assert releases(ev)["kube-prometheus-stack"].urn in scaled.dependencies


ADDON_POD_SECURITY = {
    # The level each add-on namespace really needs: the CNI node agent edits the node's CNI config (privileged);
    # node-exporter uses hostNetwork, hostPID and host paths (privileged); the gateway's pods set the
    # ip_unprivileged_port_start sysctl and pin no seccomp profile (baseline); cert-manager and KEDA run as
    # non-root with RuntimeDefault seccomp and no capabilities (restricted).
    "istio-system": "privileged",
    "monitoring": "privileged",
    "cert-manager": "restricted",
    "keda": "restricted",
    "tracing": "restricted",  # collector and Tempo: non-root, RuntimeDefault, no capabilities (services/tracing.py)
}


@pytest.mark.parametrize("stack", STACKS)
def test_addon_namespaces_enforce_audit_and_warn_one_pod_security_level(evaluated: Evaluated, stack: str) -> None:
    config = config_of(stack)
    expected = {**ADDON_POD_SECURITY, config.ingress_namespace: "baseline", config.namespace: "restricted",
                config.data_stores.namespace: "restricted",  # kind's in-cluster stores (components/data)
                headroom_namespace(config.namespace): "restricted"}  # placeholders (components/workloads/headroom.py)
    namespaces = {r.inputs["metadata"]["name"]: r.inputs["metadata"]["labels"] for r in of_kind(evaluated(stack), "Namespace")}
    assert namespaces, "no namespace recorded"
    for name, labels in namespaces.items():
        levels = {mode: labels.get(f"pod-security.kubernetes.io/{mode}") for mode in charts.POD_SECURITY_MODES}
        assert set(levels.values()) == {expected[name]}, f"{stack}: namespace {name} has {levels}"


# --------------------------------------------------------------------------------------------------------------
# Mesh
# --------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", STACKS)
def test_mesh_shapes_the_workloads(evaluated: Evaluated, stack: str) -> None:
    ev = evaluated(stack)
    config = config_of(stack)
    if not config.mesh.enabled:
        pytest.skip("mesh disabled on this stack")
    namespace = named(ev, "Namespace", config.namespace)
    assert namespace.inputs["metadata"]["labels"]["istio-injection"] == "enabled"
    assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    proxy = config.mesh.proxy
    for component in ("api", "browser"):
        annotations = deployment(ev, component).inputs["spec"]["template"]["metadata"]["annotations"]
        assert annotations["sidecar.istio.io/proxyCPU"] == proxy.cpu_request
        assert annotations["sidecar.istio.io/proxyMemoryLimit"] == proxy.memory_limit
        assert releases(ev)["istiod"].urn in deployment(ev, component).dependencies


@pytest.mark.parametrize("stack", STACKS)
def test_mesh_security_policies(evaluated: Evaluated, stack: str) -> None:
    ev = evaluated(stack)
    config = config_of(stack)
    if not config.mesh.enabled:
        pytest.skip("mesh disabled on this stack")
    ns = config.namespace
    # The platform namespace's (the data layer's in-cluster stores have their own: tests/test_data_store_ops.py).
    default = named(ev, "PeerAuthentication", "default", ns)
    assert spec(default) == {"mtls": {"mode": "STRICT"}}
    policies = {r.inputs["metadata"]["name"]: spec(r) for r in of_kind(ev, "AuthorizationPolicy")
                if r.inputs["metadata"]["namespace"] == ns}
    assert policies["allow-nothing"] == {}
    browser_rule = policies["browser-from-api"]["rules"][0]
    assert browser_rule["from"][0]["source"]["principals"] == [f"cluster.local/ns/{ns}/sa/api"]
    assert str(config.workloads["browser"].ports["metrics"]) not in browser_rule["to"][0]["operation"]["ports"]
    if config.ingress is not None:
        api_rule = policies["api-from-gateway"]["rules"][0]
        assert api_rule["from"][0]["source"]["principals"] == [
            f"cluster.local/ns/{config.ingress_namespace}/sa/istio-ingressgateway"]
        assert api_rule["to"][0]["operation"]["ports"] == [str(config.workloads["api"].ports["http"])]
    if config.monitoring.enabled:
        assert "metrics-from-prometheus" in policies
        scrape = named(ev, "PeerAuthentication", "browser-metrics-scrape")
        port = str(config.workloads["browser"].ports["metrics"])
        assert spec(scrape)["portLevelMtls"] == {port: {"mode": "PERMISSIVE"}}
        assert spec(scrape)["mtls"] == {"mode": "STRICT"}
    else:
        assert "metrics-from-prometheus" not in policies
    istiod_egress = named(ev, "NetworkPolicy", "allow-istiod-egress", ns)
    assert istiod_egress.inputs["spec"]["egress"][0]["ports"] == [{"protocol": "TCP", "port": 15012.0}]


@pytest.mark.parametrize("stack", STACKS)
def test_mesh_traffic_rules(evaluated: Evaluated, stack: str) -> None:
    ev = evaluated(stack)
    config = config_of(stack)
    if not config.mesh.enabled:
        pytest.skip("mesh disabled on this stack")
    ns = config.namespace
    browser = spec(named(ev, "DestinationRule", "browser"))
    assert browser["host"] == f"browser.{ns}.svc.cluster.local"
    # The browser Service is headless (passthrough): the API picks the pod, the rule sets only mTLS.
    assert browser["trafficPolicy"] == {"tls": {"mode": "ISTIO_MUTUAL"}}
    api_rule = spec(named(ev, "DestinationRule", "api"))
    consistent_hash = api_rule["trafficPolicy"]["loadBalancer"]["consistentHash"]
    affinity = config.mesh.session_affinity
    if affinity.cookie:
        assert consistent_hash["httpCookie"]["name"] == affinity.cookie
    else:
        assert consistent_hash["httpHeaderName"] == affinity.header
    outlier = api_rule["trafficPolicy"]["outlierDetection"]
    assert outlier["consecutive5xxErrors"] == config.mesh.outlier_detection.consecutive_5xx_errors
    assert outlier["baseEjectionTime"].endswith("s") and outlier["interval"].endswith("s")
    api_vs = spec(named(ev, "VirtualService", "api"))
    route = api_vs["http"][0]
    assert route["timeout"] == f"{config.mesh.api_timeout_seconds}s"
    assert route["retries"]["attempts"] == config.mesh.api_retries
    assert "5xx" in route["retries"]["retryOn"]
    assert route["route"][0]["destination"]["host"] == f"api.{ns}.svc.cluster.local"
    assert spec(named(ev, "DestinationRule", "api"))["host"] == f"api.{ns}.svc.cluster.local"


@pytest.mark.parametrize("stack", STACKS)
def test_public_gateway_serves_the_host_with_its_certificate(evaluated: Evaluated, stack: str) -> None:
    ev = evaluated(stack)
    config = config_of(stack)
    if config.ingress is None:
        assert not of_kind(ev, "Gateway") and not of_kind(ev, "Certificate")
        return
    host = config.ingress.host
    gateway = named(ev, "Gateway", "public-gateway")
    assert gateway.inputs["metadata"]["namespace"] == config.ingress_namespace
    servers = {s["port"]["number"]: s for s in spec(gateway)["servers"]}
    https, http = servers[443], servers[80]
    assert https["port"]["protocol"] == "HTTPS" and https["hosts"] == [host]
    assert https["tls"]["mode"] == "SIMPLE"
    certificate = named(ev, "Certificate", "gateway")
    assert certificate.inputs["metadata"]["namespace"] == config.ingress_namespace, "Istio reads the gateway's namespace"
    assert https["tls"]["credentialName"] == spec(certificate)["secretName"]
    assert spec(certificate)["dnsNames"] == [host]
    tls = config.ingress.tls
    # No stack solves ACME over HTTP-01 (which would have to turn the redirect off): port 80 only redirects.
    assert not (tls.issuer == "letsencrypt" and tls.solver.type == "http01")
    assert http["port"]["number"] == 80 and http["tls"]["httpsRedirect"] is True
    issuer = of_kind(ev, "ClusterIssuer")
    assert len(issuer) == 1
    assert spec(certificate)["issuerRef"] == {"group": "cert-manager.io", "kind": "ClusterIssuer",
                                              "name": issuer[0].inputs["metadata"]["name"]}
    assert issuer[0].urn in certificate.dependencies
    if tls.issuer == "selfSigned":
        assert spec(issuer[0]) == {"selfSigned": {}}
    else:
        acme = spec(issuer[0])["acme"]
        assert acme.get("email") == tls.email and "letsencrypt.org" in acme["server"]
    public = spec(named(ev, "VirtualService", "api-public"))
    assert public["hosts"] == [host]
    assert public["gateways"] == [f"{config.ingress_namespace}/public-gateway"]
    # Every public route (WebSocket upgrades and plain requests, tests/test_edge.py) is on the HTTPS listener only.
    assert [[m["port"] for m in route["match"]] for route in public["http"]] == [[443]] * len(public["http"])
    assert {route["route"][0]["destination"]["host"] for route in public["http"]} == {
        f"api.{config.namespace}.svc.cluster.local"}


# --------------------------------------------------------------------------------------------------------------
# Monitoring
# --------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", STACKS)
def test_service_monitors_alerts_and_dashboards(evaluated: Evaluated, stack: str) -> None:
    ev = evaluated(stack)
    config = config_of(stack)
    if not config.monitoring.enabled:
        pytest.skip("monitoring disabled on this stack")
    monitors = {r.inputs["metadata"]["name"]: spec(r) for r in of_kind(ev, "ServiceMonitor")
                if r.inputs["metadata"]["namespace"] == config.namespace}  # the stores': test_data_store_ops.py
    assert set(monitors) == {"api", "browser"}
    for component, monitor in monitors.items():
        assert monitor["endpoints"][0]["port"] == "metrics"
        assert monitor["selector"]["matchLabels"]["app.kubernetes.io/name"] == component
        assert monitor["namespaceSelector"] == {"matchNames": [config.namespace]}
    # Prometheus may reach each workload's metrics port through the namespace's default-deny NetworkPolicies.
    for component, workload in config.workload_items():
        policy = named(ev, "NetworkPolicy", f"{component}-metrics-from-monitoring")
        rule = policy.inputs["spec"]["ingress"][0]
        assert rule["ports"] == [{"protocol": "TCP", "port": float(workload.ports["metrics"])}]
        assert rule["from"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}

    rules = spec(named(ev, "PrometheusRule", "browser-platform-alerts"))["groups"][0]["rules"]
    assert len(rules) >= 10
    for rule in rules:
        assert rule["for"] and rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]
    by_name = {rule["alert"]: rule["expr"] for rule in rules}
    assert {"PodHighCpu", "PodHighMemory", "PodRestartingOften", "ApiHighErrorRate", "ApiHighLatencyP95",
            "BrowserPoolNearCapacity", "AutoscalerAtMaxReplicas", "SessionQueueGrowing",
            "PodDisruptionBudgetBlocking", "TargetDown"} <= set(by_name)
    assert HTTP_REQUESTS_TOTAL in by_name["ApiHighErrorRate"] and "> 0.05" in by_name["ApiHighErrorRate"]
    assert "histogram_quantile(0.95" in by_name["ApiHighLatencyP95"]
    assert f"{HTTP_REQUEST_DURATION}_bucket" in by_name["ApiHighLatencyP95"]
    assert BROWSER_SESSIONS_CAPACITY in by_name["BrowserPoolNearCapacity"] and "> 0.9" in by_name[
        "BrowserPoolNearCapacity"]
    assert BROWSER_SESSIONS_QUEUED in by_name["SessionQueueGrowing"]
    assert all(f'namespace="{config.namespace}"' in expr for expr in by_name.values())

    dashboards = [r for r in of_kind(ev, "ConfigMap") if r.inputs["metadata"]["name"].startswith("dashboard-")]
    # The data layer's own (dashboard-data-stores) is checked in tests/test_data_store_ops.py, the SLOs' in
    # tests/test_observability.py.
    assert {d.inputs["metadata"]["name"] for d in dashboards} == {"dashboard-browser-pool", "dashboard-api",
                                                                  "dashboard-data-stores", "dashboard-service-levels"}
    for dashboard in dashboards:
        assert dashboard.inputs["metadata"]["namespace"] == "monitoring"
        assert dashboard.inputs["metadata"]["labels"]["grafana_dashboard"] == "1"
        (body,) = dashboard.inputs["data"].values()
        parsed = json.loads(body)
        assert parsed["panels"] and all(panel["targets"] for panel in parsed["panels"])
    pool = next(iter(named(ev, "ConfigMap", "dashboard-browser-pool").inputs["data"].values()))
    assert BROWSER_SESSIONS_ACTIVE in pool and BROWSER_SESSIONS_QUEUED in pool and "memory" in pool
    api = next(iter(named(ev, "ConfigMap", "dashboard-api").inputs["data"].values()))
    assert "0.99" in api and HTTP_REQUESTS_TOTAL in api


# --------------------------------------------------------------------------------------------------------------
# Switches
# --------------------------------------------------------------------------------------------------------------

def _no_dangling_references(ev: StackEvaluation) -> None:
    urns = {r.urn for r in ev.resources}
    for resource in ev.resources:
        for dependency in resource.dependencies:
            assert dependency in urns, f"{resource.name} depends on {dependency}, which is not registered"


@pytest.mark.parametrize("stack", STACKS)
def test_mesh_off_removes_istio_and_everything_that_needs_it(evaluated: Evaluated, stack: str) -> None:
    ev = evaluate_stack(stack, overrides={"mesh": {"enabled": False}, "ingress": None})
    assert not [r for r in custom_resources(ev) if group_of(r) in ISTIO_GROUPS]
    assert not [r for r in custom_resources(ev) if group_of(r) == "cert-manager.io"]
    assert not {"istio-base", "istio-cni", "istiod", "istio-ingressgateway", "cert-manager"} & set(releases(ev))
    config = config_of(stack, {"mesh": {"enabled": False}, "ingress": None})
    assert "istio-injection" not in named(ev, "Namespace", config.namespace).inputs["metadata"]["labels"]
    for component in ("api", "browser"):
        annotations = deployment(ev, component).inputs["spec"]["template"]["metadata"]["annotations"]
        assert not SIDECAR_KEYS & set(annotations)
    assert not [r for r in of_kind(ev, "NetworkPolicy") if r.inputs["metadata"]["name"] == "allow-istiod-egress"]
    _no_dangling_references(ev)

    with_mesh = evaluated(stack)
    def quota(evaluation: StackEvaluation) -> dict[str, str]:
        return named(evaluation, "ResourceQuota", "platform-quota").inputs["spec"]["hard"]
    if config_of(stack).mesh.enabled:
        assert quota(with_mesh) != quota(ev), "the sidecar must be counted in the quota"


@pytest.mark.parametrize("stack", STACKS)
def test_monitoring_off_removes_prometheus_objects_and_keda(stack: str) -> None:
    overrides = {"monitoring": {"enabled": False}, "autoscaling": {"keda": {"enabled": False}}}
    ev = evaluate_stack(stack, overrides=overrides)
    assert not [r for r in custom_resources(ev) if group_of(r) in {"monitoring.coreos.com", "keda.sh"}]
    assert not {"kube-prometheus-stack", "keda"} & set(releases(ev))
    assert not [r for r in of_kind(ev, "ConfigMap") if "grafana_dashboard" in (r.inputs["metadata"].get("labels") or {})]
    assert not [r for r in of_kind(ev, "NetworkPolicy") if "metrics-from-monitoring" in r.inputs["metadata"]["name"]]
    assert not [r for r in of_kind(ev, "AuthorizationPolicy")
                if r.inputs["metadata"]["name"] == "metrics-from-prometheus"]
    assert not [r for r in of_kind(ev, "PeerAuthentication") if r.inputs["metadata"]["name"].endswith("-scrape")]
    # Without KEDA the browser pool goes back to a CPU/memory HPA: still exactly one autoscaler.
    hpa_targets = sorted(r.inputs["spec"]["scaleTargetRef"]["name"] for r in ev.of_type(HPA))
    assert hpa_targets == ["api", "browser"]
    assert "replicas" not in deployment(ev, "browser").inputs["spec"]
    _no_dangling_references(ev)


@pytest.mark.parametrize("stack", STACKS)
def test_monitoring_off_needs_no_grafana_secret(stack: str) -> None:
    values, secret_keys = stack_file_config(stack)
    own = {key.split(":", 1)[1]: value for key, value in values.items()}
    own.pop("grafanaAdminPassword", None)
    own["monitoring"] = json.dumps({"enabled": False})
    own["autoscaling"] = json.dumps({"keda": {"enabled": False}})
    settings = validate_stack_config(own, {key.split(":", 1)[1] for key in secret_keys} - {"grafanaAdminPassword"})
    assert "grafanaAdminPassword" not in settings.secrets


# --------------------------------------------------------------------------------------------------------------
# Config rules
# --------------------------------------------------------------------------------------------------------------

def _problems(stack: str, overrides: dict[str, Any], secret_keys: set[str] | None = None) -> list[str]:
    values, secrets = stack_file_config(stack)
    own = {key.split(":", 1)[1]: value for key, value in values.items()}
    own.update({key: json.dumps(value) for key, value in overrides.items()})
    keys = {key.split(":", 1)[1] for key in secrets} if secret_keys is None else secret_keys
    with pytest.raises(ConfigError) as raised:
        validate_stack_config(own, keys)
    return raised.value.problems


def test_keda_needs_monitoring() -> None:
    (problem,) = _problems("dev", {"monitoring": {"enabled": False}})
    assert problem.startswith("browser-platform:autoscaling.keda.enabled:") and "monitoring.enabled" in problem


def test_ingress_needs_the_mesh() -> None:
    (problem,) = _problems("dev", {"mesh": {"enabled": False}})
    assert problem.startswith("browser-platform:ingress:") and "mesh.enabled" in problem


def test_letsencrypt_is_not_for_kind() -> None:
    (problem,) = _problems("dev", {"ingress": {"host": "api.localtest.me",
                                               "tls": {"issuer": "letsencrypt", "email": "ops@platform.dev"}}})
    assert problem.startswith("browser-platform:ingress.tls.issuer:") and "selfSigned" in problem


def test_old_istio_is_refused() -> None:
    (problem,) = _problems("dev", {"mesh": {"istioVersion": "1.30.0"}})
    assert problem.startswith("browser-platform:mesh.istioVersion:") and "60312" in problem


def test_grafana_password_must_be_secret_config() -> None:
    values, _ = stack_file_config("dev")
    problems = _problems("dev", {}, secret_keys={"apiSecretKey", "postgresPassword", "postgresMasterPassword",
                                                     "redisAuthToken"})
    assert problems == [
        "browser-platform:monitoring.grafanaAdminPasswordSecret: 'browser-platform:grafanaAdminPassword' is plaintext "
        "in the stack file; secrets must be set with `pulumi config set --secret grafanaAdminPassword <value>`"]
    assert "browser-platform:grafanaAdminPassword" in values


def test_unset_grafana_password_names_the_command() -> None:
    values, secrets = stack_file_config("dev")
    own = {key.split(":", 1)[1]: value for key, value in values.items() if key != "browser-platform:grafanaAdminPassword"}
    with pytest.raises(ConfigError) as raised:
        validate_stack_config(own, {key.split(":", 1)[1] for key in secrets})
    assert raised.value.problems == [
        "browser-platform:monitoring.grafanaAdminPasswordSecret: the Grafana admin password "
        "'browser-platform:grafanaAdminPassword' is not set; run `pulumi config set --secret grafanaAdminPassword "
        "<value>`"]
