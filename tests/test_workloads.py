"""The hardened API and browser pool, checked on the recorded resources of every stack."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from offline.harness import StackEvaluation, is_secret
from stack_config.base import cpu_millicores, memory_bytes
from tests.conftest import STACKS

Evaluated = Callable[[str], StackEvaluation]
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def deployment(evaluation: StackEvaluation, component: str) -> dict[str, Any]:
    return evaluation.named(DEPLOYMENT, f"{component}-deployment").plain_inputs


def pod_spec(evaluation: StackEvaluation, component: str) -> dict[str, Any]:
    return deployment(evaluation, component)["spec"]["template"]["spec"]


def main_container(evaluation: StackEvaluation, component: str) -> dict[str, Any]:
    return next(c for c in pod_spec(evaluation, component)["containers"] if c["name"] == component)


def node_taints(evaluation: StackEvaluation, selector: dict[str, str]) -> list[dict[str, str]]:
    """Taints of the node pools matching a selector, from the cluster resources of whichever provider."""
    import yaml

    taints: list[dict[str, str]] = []
    for command in evaluation.of_type("command:local:Command"):
        if command.name == "kind-cluster":
            for node in yaml.safe_load(command.inputs["stdin"])["nodes"]:
                if all(node.get("labels", {}).get(k) == v for k, v in selector.items()):
                    for patch in node.get("kubeadmConfigPatches", []):
                        taints += yaml.safe_load(patch)["nodeRegistration"]["taints"]
    effects = {"NO_SCHEDULE": "NoSchedule", "PREFER_NO_SCHEDULE": "PreferNoSchedule", "NO_EXECUTE": "NoExecute"}
    for group in evaluation.of_type("aws:eks/nodeGroup:NodeGroup"):
        labels = group.plain_inputs.get("labels", {})
        if all(labels.get(k) == v for k, v in selector.items()):
            taints += [{"key": t["key"], "value": t.get("value", ""), "effect": effects[t["effect"]]}
                       for t in group.plain_inputs.get("taints", [])]
    for pool in evaluation.of_type("gcp:container/nodePool:NodePool"):
        node_config = pool.plain_inputs.get("nodeConfig", {})
        if all(node_config.get("labels", {}).get(k) == v for k, v in selector.items()):
            taints += [{"key": t["key"], "value": t.get("value", ""), "effect": effects[t["effect"]]}
                       for t in node_config.get("taints", [])]
    return taints


@pytest.mark.parametrize("stack", STACKS)
def test_namespace_enforces_restricted_pod_security(evaluated: Evaluated, stack: str) -> None:
    namespace = evaluated(stack).named("kubernetes:core/v1:Namespace", "namespace").plain_inputs
    labels = namespace["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("component", ["api", "browser"])
def test_every_container_is_hardened(evaluated: Evaluated, stack: str, component: str) -> None:
    evaluation = evaluated(stack)
    spec = pod_spec(evaluation, component)
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = main_container(evaluation, component)
    context = container["securityContext"]
    assert context["runAsNonRoot"] is True and context["runAsUser"] > 0 and context["runAsGroup"] > 0
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False and context["privileged"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert ":" in container["image"].rsplit("/", 1)[-1] and not container["image"].endswith(":latest")
    resources = container["resources"]
    for kind in ("requests", "limits"):
        assert set(resources[kind]) == {"cpu", "memory", "ephemeral-storage"}
    service_account = evaluation.named("kubernetes:core/v1:ServiceAccount", f"{component}-service-account")
    assert service_account.inputs["automountServiceAccountToken"] is False


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("component", ["api", "browser"])
def test_probes_use_declared_named_ports(evaluated: Evaluated, stack: str, component: str) -> None:
    container = main_container(evaluated(stack), component)
    declared = {port["name"] for port in container["ports"]}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["port"] in declared


@pytest.mark.parametrize("stack", STACKS)
def test_api_deployment_shape(evaluated: Evaluated, stack: str) -> None:
    evaluation = evaluated(stack)
    spec = deployment(evaluation, "api")["spec"]
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    assert "replicas" not in spec  # an autoscaler owns the count
    pod = spec["template"]["spec"]
    assert pod["nodeSelector"] == {"workload": "api"}
    assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} == {
        "topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    service = evaluation.named(SERVICE, "api-service").plain_inputs["spec"]
    assert service["type"] == "ClusterIP" and "clusterIP" not in service
    assert {p["targetPort"] for p in service["ports"]} <= {p["name"] for p in main_container(evaluation, "api")["ports"]}


@pytest.mark.parametrize("stack", STACKS)
def test_api_hpa_scales_up_fast_and_down_slowly(evaluated: Evaluated, stack: str) -> None:
    hpa = evaluated(stack).named(HPA, "autoscaling-api-hpa").plain_inputs["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}
    assert {m["resource"]["name"] for m in hpa["metrics"]} == {"cpu", "memory"}
    assert all(m["resource"]["target"]["type"] == "Utilization" for m in hpa["metrics"])
    up, down = hpa["behavior"]["scaleUp"], hpa["behavior"]["scaleDown"]
    assert up["stabilizationWindowSeconds"] == 0 and up["selectPolicy"] == "Max"
    assert down["stabilizationWindowSeconds"] >= 300 and down["selectPolicy"] == "Min"
    assert hpa["minReplicas"] <= hpa["maxReplicas"]


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("component", ["api", "browser"])
def test_pdb_can_never_block_a_drain(evaluated: Evaluated, stack: str, component: str) -> None:
    pdb = evaluated(stack).named(PDB, f"{component}-pdb").plain_inputs["spec"]
    assert pdb["maxUnavailable"] >= 1 and "minAvailable" not in pdb
    assert pdb["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert pdb["selector"]["matchLabels"] == deployment(evaluated(stack), component)["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize("stack", STACKS)
def test_browser_pool_shape(evaluated: Evaluated, stack: str) -> None:
    evaluation = evaluated(stack)
    template = deployment(evaluation, "browser")["spec"]["template"]
    pod = template["spec"]
    container = main_container(evaluation, "browser")
    assert pod["nodeSelector"] == {"workload": "browser"}
    taints = node_taints(evaluation, pod["nodeSelector"])
    assert taints, "the browser pool's nodes should be tainted for it"
    tolerated = {(t["key"], t["value"], t["effect"]) for t in pod["tolerations"]}
    assert {(t["key"], t["value"], t["effect"]) for t in taints} <= tolerated

    shm = next(v for v in pod["volumes"] if v["name"] == "shm")
    assert shm["emptyDir"]["medium"] == "Memory" and shm["emptyDir"]["sizeLimit"]
    assert {"name": "shm", "mountPath": "/dev/shm"} in container["volumeMounts"]
    limits, requests = container["resources"]["limits"], container["resources"]["requests"]
    assert memory_bytes(limits["memory"]) >= memory_bytes(requests["memory"]) + memory_bytes(shm["emptyDir"]["sizeLimit"])
    assert cpu_millicores(limits["cpu"]) >= cpu_millicores(requests["cpu"])

    config = evaluation.named("kubernetes:core/v1:ConfigMap", "browser-config").plain_inputs["data"]
    assert pod["terminationGracePeriodSeconds"] >= int(config["SESSION_TIMEOUT_SECONDS"])
    assert int(config["MAX_SESSIONS_PER_POD"]) >= 1
    assert container["lifecycle"]["preStop"]["httpGet"]["port"] == "http"
    assert set(template["metadata"]["annotations"][
        "cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes"].split(",")) == {"tmp", "shm"}

    service = evaluation.named(SERVICE, "browser-service").plain_inputs["spec"]
    assert service["clusterIP"] == "None"


@pytest.mark.parametrize("stack", STACKS)
def test_only_the_api_gets_kubernetes_api_access(evaluated: Evaluated, stack: str) -> None:
    evaluation = evaluated(stack)
    roles = [r for r in evaluation.of_type("kubernetes:rbac.authorization.k8s.io/v1:Role")
             if r.plain_inputs["metadata"].get("namespace") == "browser-platform"]
    assert [r.plain_inputs["metadata"]["name"] for r in roles] == ["api"]
    assert roles[0].plain_inputs["rules"] == [
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]}]
    api_volumes = {v["name"]: v for v in pod_spec(evaluation, "api")["volumes"]}
    token = api_volumes["kube-api-access"]["projected"]["sources"][0]["serviceAccountToken"]
    assert token["expirationSeconds"] <= 3600
    assert "kube-api-access" not in {v["name"] for v in pod_spec(evaluation, "browser")["volumes"]}


@pytest.mark.parametrize("stack", STACKS)
def test_quota_admits_the_workloads_at_max_scale(evaluated: Evaluated, stack: str) -> None:
    evaluation = evaluated(stack)
    hard = evaluation.named("kubernetes:core/v1:ResourceQuota", "namespace-quota").plain_inputs["spec"]["hard"]
    needed_cpu = needed_memory = 0
    for component in ("api", "browser"):
        hpa = [r for r in evaluation.resources if r.type in (HPA, "kubernetes:keda.sh/v1alpha1:ScaledObject")
               and component in r.name]
        spec = hpa[0].plain_inputs["spec"]
        max_replicas = int(spec.get("maxReplicas") or spec.get("maxReplicaCount"))
        for container in pod_spec(evaluation, component)["containers"]:
            needed_cpu += (max_replicas + 1) * cpu_millicores(container["resources"]["limits"]["cpu"])
            needed_memory += (max_replicas + 1) * memory_bytes(container["resources"]["limits"]["memory"])
    assert cpu_millicores(hard["limits.cpu"]) >= needed_cpu
    assert memory_bytes(hard["limits.memory"]) >= needed_memory
    assert hard["services.loadbalancers"] == "0" and hard["services.nodeports"] == "0"


@pytest.mark.parametrize("stack", STACKS)
def test_network_policies_deny_by_default_and_allow_only_the_platform_paths(evaluated: Evaluated, stack: str) -> None:
    policies = {r.plain_inputs["metadata"]["name"]: r.plain_inputs["spec"]
                for r in evaluated(stack).of_type(NETWORK_POLICY)}
    assert policies["default-deny-all"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    dns = policies["allow-dns-egress"]["egress"][0]
    assert {(p["protocol"], p["port"]) for p in dns["ports"]} == {("UDP", 53), ("TCP", 53)}
    api_from = policies["api-ingress-from-gateway"]["ingress"][0]["from"][0]
    assert api_from == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-ingress"}}}
    browser_from = policies["browser-ingress-from-api"]["ingress"][0]["from"][0]
    assert browser_from["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "api"
    internet = policies["browser-egress-internet"]["egress"][0]["to"][0]["ipBlock"]
    assert internet["cidr"] == "0.0.0.0/0"
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"} <= set(internet["except"])


@pytest.mark.parametrize("stack", STACKS)
def test_outputs(evaluated: Evaluated, stack: str) -> None:
    outputs = evaluated(stack).outputs
    assert is_secret(outputs["kubeconfig"])
    assert outputs["namespace"] == "browser-platform"
    assert outputs["serviceNames"] == {"api": "api", "browser": "browser"}


def test_secret_env_comes_from_secret_config(evaluated: Evaluated) -> None:
    evaluation = evaluated("dev")
    secret = evaluation.named("kubernetes:core/v1:Secret", "api-secrets")
    assert is_secret(secret.inputs["stringData"])
    # Besides the workload's own secretEnv, the data layer adds the stores' credentials (tests/test_data_stores.py).
    assert secret.plain_inputs["stringData"] == {"API_SECRET_KEY": "offline-secret-apiSecretKey",
                                                 "POSTGRES_PASSWORD": "offline-secret-postgresPassword",
                                                 "REDIS_PASSWORD": "offline-secret-redisAuthToken"}
    env = main_container(evaluation, "api")["env"]
    assert env[0] == {"name": "API_SECRET_KEY",
                      "valueFrom": {"secretKeyRef": {"name": "api-secrets", "key": "API_SECRET_KEY"}}}
    assert [e["name"] for e in env[1:]] == ["POSTGRES_PASSWORD", "REDIS_PASSWORD"]


def test_image_digest_pins_the_image() -> None:
    from offline.harness import evaluate_stack

    digest = "sha256:" + "ab" * 32
    evaluation = evaluate_stack("dev", overrides={"workloads": {
        "api": {"image": "ghcr.io/acme/api:2.1.0", "imageDigest": digest, "secretEnv": {"API_SECRET_KEY": "apiSecretKey"}},
    }})
    assert main_container(evaluation, "api")["image"] == f"ghcr.io/acme/api:2.1.0@{digest}"


def test_fixed_replicas_without_autoscaler() -> None:
    from offline.harness import evaluate_stack

    evaluation = evaluate_stack("dev", overrides={"workloads": {
        "api": {"autoscaling": None, "replicas": 2, "secretEnv": {"API_SECRET_KEY": "apiSecretKey"}},
    }})
    assert deployment(evaluation, "api")["spec"]["replicas"] == 2
    assert [r.name for r in evaluation.of_type(HPA) if "api" in r.name] == []


# ---------------------------------------------------------------------------------------------------------
# NetworkPolicies as a traffic matrix: a small evaluator of the recorded policies (the Kubernetes semantics:
# a pod selected by no policy of a direction is open in it; otherwise one rule of one selecting policy must match
# both peer and port). Kubelet probes come from the pod's own node, which NetworkPolicy never blocks.
# ---------------------------------------------------------------------------------------------------------

Peer = tuple[str, dict[str, str], str]
"""(namespace, pod labels, pod IP); namespace "" for an address outside the cluster's pods."""

API_POD: Peer = ("browser-platform", {"app.kubernetes.io/name": "api", "app.kubernetes.io/part-of": "browser-platform",
                                      "app.kubernetes.io/component": "api"}, "10.244.1.10")
BROWSER_POD: Peer = ("browser-platform", {"app.kubernetes.io/name": "browser", "app.kubernetes.io/part-of": "browser-platform",
                                          "app.kubernetes.io/component": "browser"}, "10.244.2.10")
GATEWAY_POD: Peer = ("istio-ingress", {"app": "istio-ingressgateway"}, "10.244.3.10")
PROMETHEUS_POD: Peer = ("monitoring", {"app.kubernetes.io/name": "prometheus"}, "10.244.4.10")
KUBE_DNS_POD: Peer = ("kube-system", {"k8s-app": "kube-dns"}, "10.244.5.10")
OTHER_KUBE_SYSTEM_POD: Peer = ("kube-system", {"k8s-app": "metrics-server"}, "10.244.5.11")
ISTIOD_POD: Peer = ("istio-system", {"app": "istiod"}, "10.244.6.10")
STRANGER_POD: Peer = ("default", {"app": "stranger"}, "10.244.7.10")
API_SERVER = {"dev": ("", {}, "172.18.0.2"), "prod": ("", {}, "10.0.12.34"), "prod-gcp": ("", {}, "172.16.0.2")}


def _expression_holds(expression: dict[str, Any], labels: dict[str, str]) -> bool:
    key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
    if operator == "In":
        return labels.get(key) in values
    if operator == "NotIn":  # a pod without the label is not in the set
        return labels.get(key) not in values
    assert operator in ("Exists", "DoesNotExist"), expression
    return (key in labels) == (operator == "Exists")


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels", "matchExpressions"}, selector
    return (all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())
            and all(_expression_holds(e, labels) for e in selector.get("matchExpressions") or []))


def _peer_matches(peer: dict[str, Any], policy_namespace: str, other: Peer) -> bool:
    namespace, labels, ip = other
    if "ipBlock" in peer:
        import ipaddress

        block = peer["ipBlock"]
        address = ipaddress.ip_address(ip)
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(cidr) for cidr in block.get("except", []))
    if not namespace:
        return False  # pod and namespace selectors never match addresses outside the cluster's pods
    if "namespaceSelector" in peer:
        if not _selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": namespace}):
            return False
    elif namespace != policy_namespace:
        return False
    return _selects(peer.get("podSelector", {}), labels)


def _port_matches(rule: dict[str, Any], port: int, protocol: str) -> bool:
    ports = rule.get("ports")
    return not ports or any(p.get("protocol", "TCP") == protocol and p.get("port") in (None, port) for p in ports)


def _admits(policies: list[dict[str, Any]], direction: str, pod: Peer, other: Peer, port: int, protocol: str) -> bool:
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    selecting = [p for p in policies if p["metadata"]["namespace"] == pod[0]
                 and direction in p["spec"].get("policyTypes", []) and _selects(p["spec"]["podSelector"], pod[1])]
    if not selecting:
        return True
    return any(
        _port_matches(rule, port, protocol)
        and (not rule.get(peers_key) or any(_peer_matches(peer, pod[0], other) for peer in rule[peers_key]))
        for policy in selecting for rule in policy["spec"].get(key, [])
    )


def reachable(policies: list[dict[str, Any]], source: Peer, destination: Peer, port: int, protocol: str = "TCP") -> bool:
    egress_ok = not source[0] or _admits(policies, "Egress", source, destination, port, protocol)
    ingress_ok = not destination[0] or _admits(policies, "Ingress", destination, source, port, protocol)
    return egress_ok and ingress_ok


@pytest.mark.parametrize("stack", STACKS)
def test_network_policies_allow_what_the_platform_needs_and_nothing_else(evaluated: Evaluated, stack: str) -> None:
    evaluation = evaluated(stack)
    policies = [r.plain_inputs for r in evaluation.of_type(NETWORK_POLICY)]
    api_ports = {p["name"]: p["containerPort"] for p in main_container(evaluation, "api")["ports"]}
    browser_ports = {p["name"]: p["containerPort"] for p in main_container(evaluation, "browser")["ports"]}
    meshed = bool(evaluation.of_type("kubernetes:security.istio.io/v1:PeerAuthentication"))
    monitored = bool(evaluation.of_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor"))

    required = [
        (GATEWAY_POD, API_POD, api_ports["http"], "TCP"),
        (API_POD, BROWSER_POD, browser_ports["http"], "TCP"),
        (API_POD, BROWSER_POD, browser_ports["cdp"], "TCP"),
        (API_POD, KUBE_DNS_POD, 53, "UDP"), (API_POD, KUBE_DNS_POD, 53, "TCP"),
        (BROWSER_POD, KUBE_DNS_POD, 53, "UDP"), (BROWSER_POD, KUBE_DNS_POD, 53, "TCP"),
        (BROWSER_POD, ("", {}, "93.184.216.34"), 443, "TCP"),
        (BROWSER_POD, ("", {}, "93.184.216.34"), 80, "TCP"),
        (API_POD, API_SERVER[stack], 443 if stack != "dev" else 6443, "TCP"),
    ]
    if monitored:
        required += [(PROMETHEUS_POD, API_POD, api_ports["metrics"], "TCP"),
                     (PROMETHEUS_POD, BROWSER_POD, browser_ports["metrics"], "TCP")]
    if meshed:
        required += [(API_POD, ISTIOD_POD, 15012, "TCP"), (BROWSER_POD, ISTIOD_POD, 15012, "TCP")]
    forbidden = [
        (STRANGER_POD, API_POD, api_ports["http"], "TCP"),
        (GATEWAY_POD, BROWSER_POD, browser_ports["cdp"], "TCP"),
        (GATEWAY_POD, API_POD, api_ports["metrics"], "TCP"),
        (PROMETHEUS_POD, API_POD, api_ports["http"], "TCP"),
        (API_POD, BROWSER_POD, browser_ports["metrics"], "TCP"),
        (BROWSER_POD, API_POD, api_ports["http"], "TCP"),
        (BROWSER_POD, BROWSER_POD, browser_ports["cdp"], "TCP"),
        (BROWSER_POD, ("", {}, "169.254.169.254"), 80, "TCP"),  # cloud metadata
        (BROWSER_POD, ("", {}, "10.0.12.34"), 443, "TCP"),  # the cluster's own ranges
        (BROWSER_POD, ("", {}, "172.16.0.2"), 443, "TCP"),
        (BROWSER_POD, OTHER_KUBE_SYSTEM_POD, 443, "TCP"),
        (API_POD, ("", {}, "93.184.216.34"), 443, "TCP"),
        (API_POD, OTHER_KUBE_SYSTEM_POD, 53, "UDP"),
    ]
    assert [flow for flow in required if not reachable(policies, *flow)] == []
    assert [flow for flow in forbidden if reachable(policies, *flow)] == []


def test_traffic_evaluator_sees_a_missing_rule(evaluated: Evaluated) -> None:
    policies = [r.plain_inputs for r in evaluated("dev").of_type(NETWORK_POLICY)]
    without_dns = [p for p in policies if p["metadata"]["name"] != "allow-dns-egress"]
    assert reachable(policies, BROWSER_POD, KUBE_DNS_POD, 53, "UDP")
    assert not reachable(without_dns, BROWSER_POD, KUBE_DNS_POD, 53, "UDP")


@pytest.mark.parametrize("stack", ["prod", "prod-gcp"])
def test_production_api_runs_at_least_three_replicas(evaluated: Evaluated, stack: str) -> None:
    hpa = evaluated(stack).named(HPA, "autoscaling-api-hpa").plain_inputs["spec"]
    assert hpa["minReplicas"] >= 3


@pytest.mark.parametrize("stack", STACKS)
def test_limit_range_admits_every_container_of_the_namespace(evaluated: Evaluated, stack: str) -> None:
    evaluation = evaluated(stack)
    [item] = evaluation.named("kubernetes:core/v1:LimitRange", "namespace-limits").plain_inputs["spec"]["limits"]
    maximum, default, default_request = item["max"], item["default"], item["defaultRequest"]
    for resource, parse in (("cpu", cpu_millicores), ("memory", memory_bytes)):
        # The API server rejects a LimitRange whose default or defaultRequest exceeds its max.
        assert parse(default[resource]) <= parse(maximum[resource])
        assert parse(default_request[resource]) <= parse(default[resource])
        for component in ("api", "browser"):
            assert parse(main_container(evaluation, component)["resources"]["limits"][resource]) <= parse(maximum[resource])
        annotations = deployment(evaluation, "browser")["spec"]["template"]["metadata"]["annotations"]
        sidecar_limit = annotations.get(f"sidecar.istio.io/proxy{'CPU' if resource == 'cpu' else 'Memory'}Limit")
        if sidecar_limit is not None:
            assert parse(sidecar_limit) <= parse(maximum[resource])


def test_limit_range_covers_a_sidecar_larger_than_the_workloads() -> None:
    from offline.harness import evaluate_stack

    small = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "200m", "memory": "256Mi"}}
    evaluation = evaluate_stack("dev", overrides={
        "workloads": {"api": {"resources": small, "secretEnv": {"API_SECRET_KEY": "apiSecretKey"}},
                      "browser": {"resources": {**small, "limits": {"cpu": "200m", "memory": "384Mi"}},
                                  "shmSize": "128Mi", "autoscaling": {"minReplicas": 1, "maxReplicas": 2}}},
        "mesh": {"proxy": {"cpuRequest": "50m", "memoryRequest": "64Mi", "cpuLimit": "1", "memoryLimit": "1Gi"}},
    })
    [item] = evaluation.named("kubernetes:core/v1:LimitRange", "namespace-limits").plain_inputs["spec"]["limits"]
    assert item["max"] == {"cpu": "1", "memory": "1Gi"}


@pytest.mark.parametrize("stack", STACKS)
def test_quota_leaves_room_for_draining_browser_pods(evaluated: Evaluated, stack: str) -> None:
    # A terminating pod counts against the quota for its whole grace period (a session timeout for the browser
    # pool), so a scale-up right after a scale-down needs room for maxReplicas more browser pods.
    evaluation = evaluated(stack)
    hard = evaluation.named("kubernetes:core/v1:ResourceQuota", "namespace-quota").plain_inputs["spec"]["hard"]
    maxima = {}
    for component in ("api", "browser"):
        [scaler] = [r for r in evaluation.resources if r.type in (HPA, "kubernetes:keda.sh/v1alpha1:ScaledObject")
                    and component in r.name]
        spec = scaler.plain_inputs["spec"]
        maxima[component] = int(spec.get("maxReplicas") or spec.get("maxReplicaCount"))
    assert pod_spec(evaluation, "browser")["terminationGracePeriodSeconds"] > 60
    assert int(hard["pods"]) == (maxima["api"] + 1) + (2 * maxima["browser"] + 1)
