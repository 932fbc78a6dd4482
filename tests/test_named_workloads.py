"""Named workloads (issue 12): any number of APIs, browser pools and workers, wired by role and by declared calls.

`tests/stacks/Pulumi.fleet.yaml` is a held-out-style stack with five workloads (a public API, an internal API, two
browser pools of different images and sizes on their own node pools, and a queue-driven worker), evaluated end to
end on the mocks; the config errors of the new form are checked on the dev stack's config; and the stacks written
before roles keep their resource names (URNs), so a second `up` after upgrading replaces nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from offline.harness import TEST_STACKS_DIR, StackEvaluation, evaluate_stack, stack_file_config
from stack_config import ConfigError, PlatformConfig, validate_stack_config
from stack_config.sizing import pool_plans
from stack_config.workloads import platform_env

from .test_workloads import NETWORK_POLICY, Peer, reachable

KEY = "browser-platform"
NS = "browser-platform"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
AUTHORIZATION = "kubernetes:security.istio.io/v1:AuthorizationPolicy"
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
PODMONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor"
SERVICEMONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"

ROLES = {"frontdoor": "api", "profiles": "api", "chrome": "browser", "firefox": "browser", "agents": "worker"}


def fleet_config(edit: Callable[[dict[str, Any]], None] | None = None) -> PlatformConfig:
    """The fleet stack's config, validated (after `edit` changes the decoded values)."""
    values, secret_keys = stack_file_config("fleet", stack_dir=TEST_STACKS_DIR)
    prefix = f"{KEY}:"
    decoded = {key[len(prefix):]: json.loads(value) if value[:1] in "[{" else value for key, value in values.items()}
    if edit is not None:
        edit(decoded)
    encoded = {key: value if isinstance(value, str) else json.dumps(value) for key, value in decoded.items()}
    return validate_stack_config(encoded, {key[len(prefix):] for key in secret_keys}).config


def fleet_problems(edit: Callable[[dict[str, Any]], None]) -> list[str]:
    with pytest.raises(ConfigError) as error:
        fleet_config(edit)
    return error.value.problems


@pytest.fixture(scope="module")
def fleet() -> StackEvaluation:
    return evaluate_stack("fleet", stack_dir=TEST_STACKS_DIR)


def objects(ev: StackEvaluation, type_token: str) -> dict[str, dict[str, Any]]:
    """Kubernetes objects of one type in the platform namespace, by metadata.name."""
    return {r.plain_inputs["metadata"]["name"]: r.plain_inputs for r in ev.of_type(type_token)
            if r.plain_inputs["metadata"].get("namespace") == NS}


def pod(name: str) -> Peer:
    return (NS, {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "browser-platform"}, "10.244.9.9")


# --- the fleet stack, end to end ---------------------------------------------------------------------------

def test_every_workload_is_deployed_with_its_role_label(fleet: StackEvaluation) -> None:
    deployments = objects(fleet, DEPLOYMENT)
    assert set(deployments) == set(ROLES)
    for name, role in ROLES.items():
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == name
        assert labels["app.kubernetes.io/component"] == role
        assert deployments[name]["spec"]["selector"]["matchLabels"] == {
            "app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "browser-platform"}
    assert set(objects(fleet, PDB)) == set(ROLES)


def test_each_role_keeps_its_secure_defaults(fleet: StackEvaluation) -> None:
    deployments = objects(fleet, DEPLOYMENT)
    services = objects(fleet, SERVICE)
    # Browser pools: headless Service, memory-backed /dev/shm of their own size, session drain, own pool's taint.
    for pool, shm in (("chrome", "2Gi"), ("firefox", "1Gi")):
        spec = deployments[pool]["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["shm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": shm}
        assert spec["terminationGracePeriodSeconds"] == 3630
        assert spec["containers"][0]["lifecycle"]["preStop"]["httpGet"]["path"] == "/drain"
        assert spec["nodeSelector"] == {"workload": f"browser-{pool}"}
        assert spec["tolerations"] == [{"key": "workload", "operator": "Equal", "value": f"browser-{pool}",
                                        "effect": "NoSchedule"}]
        assert services[pool]["spec"]["clusterIP"] == "None"
    # APIs: a ClusterIP Service; the worker: no Service, probes on its metrics port.
    assert "clusterIP" not in services["frontdoor"]["spec"] and "clusterIP" not in services["profiles"]["spec"]
    assert "agents" not in services
    worker = deployments["agents"]["spec"]["template"]["spec"]["containers"][0]
    assert worker["readinessProbe"]["httpGet"]["port"] == "metrics"
    assert [p["name"] for p in worker["ports"]] == ["metrics"]
    assert set(objects(fleet, PODMONITOR)) == {"agents"}
    assert set(objects(fleet, SERVICEMONITOR)) == {"frontdoor", "profiles", "chrome", "firefox"}


def test_each_browser_pool_and_the_queue_worker_scale_through_keda(fleet: StackEvaluation) -> None:
    scaled = objects(fleet, SCALED_OBJECT)
    assert set(scaled) == {"chrome", "firefox", "agents"}
    assert set(objects(fleet, HPA)) == {"frontdoor", "profiles"}  # KEDA owns the others' HPAs
    chrome = scaled["chrome"]["spec"]
    assert (chrome["minReplicaCount"], chrome["maxReplicaCount"]) == (2, 20)  # 20-200 sessions / 10 per pod
    firefox = scaled["firefox"]["spec"]
    assert (firefox["minReplicaCount"], firefox["maxReplicaCount"]) == (2, 10)  # 8-40 sessions / 4 per pod
    chrome_query = chrome["triggers"][0]["metadata"]["query"]
    # Each pool counts its own sessions and the ones queued for it by its callers.
    assert 'service="chrome"' in chrome_query and 'pool="chrome"' in chrome_query
    assert 'service=~"frontdoor|agents"' in chrome_query
    firefox_query = firefox["triggers"][0]["metadata"]["query"]
    assert 'service="firefox"' in firefox_query and 'pool="firefox"' in firefox_query
    assert 'service="frontdoor"' in firefox_query
    assert float(firefox["triggers"][0]["metadata"]["threshold"]) == pytest.approx(3.2)  # 4 x fillRatio 0.8
    queue = scaled["agents"]["spec"]["triggers"][0]
    assert queue["name"] == "queue" and queue["metadata"]["threshold"] == "5"
    assert queue["metadata"]["query"] == f'max(agent_jobs_queued{{namespace="{NS}",container="agents"}}) or vector(0)'
    replicas = {name: d["spec"].get("replicas") for name, d in objects(fleet, DEPLOYMENT).items()}
    assert replicas == dict.fromkeys(ROLES)  # every one autoscaled: no replica count to reset on `up`


def test_callers_learn_their_callees_from_the_config_map(fleet: StackEvaluation) -> None:
    config_maps = objects(fleet, CONFIG_MAP)
    frontdoor = config_maps["frontdoor-config"]["data"]
    assert {key: value for key, value in frontdoor.items() if key.startswith(("BROWSER_", "PROFILES_"))} == {
        "BROWSER_POOLS": "chrome,firefox",
        "BROWSER_CHROME_SERVICE": "chrome", "BROWSER_CHROME_CDP_PORT": "9222",
        "BROWSER_FIREFOX_SERVICE": "firefox", "BROWSER_FIREFOX_CDP_PORT": "9222",
        "PROFILES_SERVICE": "profiles", "PROFILES_HTTP_PORT": "3000",
    }
    agents = config_maps["agents-config"]["data"]
    # One pool called: the form the API had before roles.
    assert agents["BROWSER_SERVICE"] == "chrome" and agents["BROWSER_CDP_PORT"] == "9222"
    assert "BROWSER_POOLS" not in agents
    assert config_maps["chrome-config"]["data"]["MAX_SESSIONS_PER_POD"] == "10"
    assert config_maps["firefox-config"]["data"]["MAX_SESSIONS_PER_POD"] == "4"


def test_only_callers_of_a_pool_read_endpoint_slices(fleet: StackEvaluation) -> None:
    assert set(objects(fleet, ROLE)) == {"frontdoor"}  # profiles calls no pool; agents is a worker


def test_network_policies_follow_the_declared_calls(fleet: StackEvaluation) -> None:
    policies = [r.plain_inputs for r in fleet.of_type(NETWORK_POLICY)]
    gateway: Peer = ("istio-ingress", {"app": "istio-ingressgateway"}, "10.244.3.10")
    internet: Peer = ("", {}, "93.184.216.34")
    required = [
        (gateway, pod("frontdoor"), 3000),
        (pod("frontdoor"), pod("chrome"), 9222), (pod("frontdoor"), pod("chrome"), 3000),
        (pod("frontdoor"), pod("firefox"), 9222), (pod("frontdoor"), pod("profiles"), 3000),
        (pod("agents"), pod("chrome"), 9222), (pod("agents"), pod("profiles"), 3000),
        (pod("chrome"), internet, 443), (pod("firefox"), internet, 443),
    ]
    forbidden = [
        (gateway, pod("profiles"), 3000),  # internal API
        (gateway, pod("agents"), 9090), (gateway, pod("chrome"), 9222),
        (pod("agents"), pod("firefox"), 9222),  # not declared
        (pod("profiles"), pod("chrome"), 9222),
        (pod("chrome"), pod("firefox"), 9222), (pod("firefox"), pod("chrome"), 9222),
        (pod("chrome"), pod("frontdoor"), 3000),
        (pod("frontdoor"), pod("agents"), 9090),  # nothing calls a worker
        (pod("frontdoor"), pod("chrome"), 9090),  # metrics only from monitoring
        (pod("agents"), internet, 443), (pod("frontdoor"), internet, 443),
        (pod("chrome"), ("", {}, "10.0.12.34"), 443),  # internal ranges, e.g. the data stores
    ]
    assert [flow for flow in required if not reachable(policies, *flow)] == []
    assert [flow for flow in forbidden if reachable(policies, *flow)] == []


def test_mesh_authorization_follows_the_declared_calls(fleet: StackEvaluation) -> None:
    rules = {name: body["spec"] for name, body in objects(fleet, AUTHORIZATION).items()}
    pairs = {name for name in rules if "-from-" in name and name != "metrics-from-prometheus"}
    assert pairs == {"frontdoor-from-gateway", "chrome-from-frontdoor", "chrome-from-agents", "firefox-from-frontdoor",
                     "profiles-from-frontdoor", "profiles-from-agents"}
    chrome = rules["chrome-from-agents"]
    assert chrome["selector"]["matchLabels"]["app.kubernetes.io/name"] == "chrome"
    assert chrome["rules"][0]["from"][0]["source"]["principals"] == [f"cluster.local/ns/{NS}/sa/agents"]
    assert chrome["rules"][0]["to"][0]["operation"]["ports"] == ["3000", "9222"]
    assert rules["profiles-from-frontdoor"]["rules"][0]["to"][0]["operation"]["ports"] == ["3000"]


def test_data_stores_reach_exactly_the_workloads_that_use_them(fleet: StackEvaluation) -> None:
    clients = {name for name in objects(fleet, CONFIG_MAP) if name.endswith("-stores")}
    # APIs by default, the worker by `dataStores: true`; never a browser pool.
    assert clients == {"frontdoor-stores", "profiles-stores", "agents-stores"}
    egress = {name: body for name, body in objects(fleet, NETWORK_POLICY).items() if name.endswith("-egress")}
    for name in ("frontdoor", "profiles", "agents"):
        ports = {p["port"] for rule in egress[f"{name}-egress"]["spec"]["egress"] for p in rule.get("ports", [])}
        assert {6379, 5432} <= ports, name


def test_alerts_and_dashboards_find_the_workloads_by_role(fleet: StackEvaluation) -> None:
    """The API alerts read every api-role Service, the session and drain alerts every browser pool: with names
    other than `api` and `browser` they would otherwise see no series at all."""
    rules = next(r.plain_inputs for r in fleet.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
                 if r.plain_inputs["metadata"]["name"] == "browser-platform-alerts")
    exprs = {rule["alert"]: rule["expr"] for group in rules["spec"]["groups"] for rule in group["rules"]}
    assert 'service=~"frontdoor|profiles"' in exprs["ApiHighErrorRate"]
    assert 'service=~"chrome|firefox"' in exprs["BrowserPoolNearCapacity"]
    assert 'pod=~"(chrome|firefox)-.*"' in exprs["BrowserDrainStuck"]
    assert 'service=~"chrome|firefox|frontdoor|profiles"' in exprs["TargetDown"]
    dashboard = next(r.plain_inputs for r in fleet.of_type("kubernetes:core/v1:ConfigMap")
                     if r.plain_inputs["metadata"]["name"] == "dashboard-browser-pool")
    panels = json.loads(next(iter(dashboard["data"].values())))["panels"]
    assert any('deployment=~"chrome|firefox"' in target["expr"] for panel in panels for target in panel["targets"])


def test_capacity_plans_one_pool_per_browser_workload() -> None:
    plans = {plan.pool.name: plan for plan in pool_plans(fleet_config())}
    assert [name for name, _ in plans["chrome"].workloads] == ["chrome"]
    assert [name for name, _ in plans["firefox"].workloads] == ["firefox"]
    assert [name for name, _ in plans["api"].workloads] == ["frontdoor", "profiles", "agents"]
    chrome, firefox = plans["chrome"].report, plans["firefox"].report
    assert chrome is not None and firefox is not None
    assert chrome.workloads[0].sessions_at_max == 200 and firefox.workloads[0].sessions_at_max == 40
    # Node bounds derived per pool from each pool's own maxSessions and node type.
    assert (plans["chrome"].pool.min_nodes, plans["chrome"].pool.max_nodes) == (1, 7)
    assert (plans["firefox"].pool.min_nodes, plans["firefox"].pool.max_nodes) == (1, 4)


# --- config errors of the new form -----------------------------------------------------------------------

def _workloads(edit: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    return lambda values: edit(values["workloads"])


@pytest.mark.parametrize(("edit", "key", "message"), [
    (lambda w: w.update(jobs={"image": "ghcr.io/example/jobs:1.0.0"}),
     "workloads.jobs.role", "required for workload 'jobs'"),
    (lambda w: w["agents"].update(role="database"), "workloads.agents.role", "must be one of: api, browser, worker"),
    (lambda w: w.update(Chrome2=w.pop("firefox")), "workloads.Chrome2", "workload name 'Chrome2' is not allowed"),
    (lambda w: w["frontdoor"].update(calls=["chrome", "safari"]), "workloads.frontdoor.calls[1]",
     "'safari' is not a workload"),
    (lambda w: w["frontdoor"].update(calls=["chrome", "firefox", "agents"]), "workloads.frontdoor.calls[2]",
     "'agents' is a worker"),
    (lambda w: w["frontdoor"].update(calls=["frontdoor", "chrome", "firefox"]), "workloads.frontdoor.calls[0]",
     "does not call itself"),
    (lambda w: w["frontdoor"].update(calls=["chrome", "profiles"]), "workloads.firefox",
     "browser pool 'firefox' is called by no workload"),
    (lambda w: w["profiles"].update(public=True), "workloads.profiles.public", "only one API is reached"),
    (lambda w: w["chrome"].update(calls=["profiles"]), "workloads.chrome.calls", "unknown key"),
    (lambda w: w["frontdoor"].update(env={"BROWSER_CHROME_SERVICE": "x"}),
     "workloads.frontdoor.env.BROWSER_CHROME_SERVICE", "is set by the platform"),
    (lambda w: w["agents"].update(ports={"grpc": 7000}), "workloads.agents.ports", "'http' or 'metrics'"),
    (lambda w: w["agents"].update(env={"REDIS_HOST": "x"}), "workloads.agents.env.REDIS_HOST",
     "is set by the data layer"),
])
def test_named_workload_errors_name_the_key(edit: Callable[[dict[str, Any]], None], key: str, message: str) -> None:
    problems = fleet_problems(_workloads(edit))
    assert any(p.startswith(f"{KEY}:{key}: ") and message in p for p in problems), problems


def test_a_workload_without_role_shows_the_new_form() -> None:
    (problem,) = fleet_problems(_workloads(lambda w: w.update(jobs={"image": "ghcr.io/example/jobs:1.0.0"})))
    assert "one of: api, browser, worker" in problem and "role: api | browser | worker" in problem


def test_queue_scaling_needs_keda() -> None:
    problems = fleet_problems(lambda values: values.update(autoscaling={"keda": {"enabled": False}}))
    assert any(p.startswith(f"{KEY}:workloads.agents.queue: scales through KEDA") for p in problems), problems


def test_ingress_needs_a_public_api() -> None:
    problems = fleet_problems(_workloads(lambda w: w["frontdoor"].update(public=False)))
    assert any(p.startswith(f"{KEY}:ingress: ") and "no api workload is public" in p for p in problems), problems


# --- the form before roles ---------------------------------------------------------------------------------

def test_the_old_form_infers_roles_and_the_call() -> None:
    def old_form(values: dict[str, Any]) -> None:
        values["workloads"] = {"api": {"secretEnv": {"API_SECRET_KEY": "apiSecretKey"}}}
        values["cluster"]["nodePools"] = [
            {"name": "api", "labels": {"workload": "api"}, "instanceTypes": ["m7i.xlarge"], "minNodes": 3,
             "maxNodes": 6},
            {"name": "browser", "labels": {"workload": "browser"}, "instanceTypes": ["c7i.2xlarge"], "maxNodes": 10,
             "taints": [{"key": "workload", "value": "browser", "effect": "NoSchedule"}]},
        ]

    config = fleet_config(old_form)
    assert {name: spec.role for name, spec in config.workloads.items()} == {"api": "api", "browser": "browser"}
    assert config.callers_of("browser") == ["api"]
    assert platform_env(config.workloads, "api") == {"BROWSER_SERVICE": "browser", "BROWSER_CDP_PORT": "9222"}


LEGACY_URNS = [
    "urn:pulumi:{stack}::browser-platform::browser-platform:workloads:Workload$kubernetes:apps/v1:Deployment::"
    "{name}-deployment",
    "urn:pulumi:{stack}::browser-platform::browser-platform:workloads:Workload$kubernetes:core/v1:Service::"
    "{name}-service",
    "urn:pulumi:{stack}::browser-platform::browser-platform:security:NetworkPolicies$kubernetes:networking.k8s.io/v1:"
    "NetworkPolicy::network-policies-{name}-egress{internet}",
]
"""Copied from the stacks as evaluated on main before named workloads (the URN names only the direct parent's type)."""


@pytest.mark.parametrize("stack", ["dev", "prod", "prod-gcp"])
def test_stacks_before_roles_keep_their_resource_names(evaluated: Callable[[str], StackEvaluation],
                                                       stack: str) -> None:
    """The URNs the stacks had before named workloads (pinned here; `make plan BASE=<commit before>` shows no
    added or removed resource): a second `up` after upgrading replaces nothing."""
    urns = {r.urn for r in evaluated(stack).resources}
    for name, internet in (("api", ""), ("browser", "-internet")):
        for template in LEGACY_URNS:
            urn = template.format(stack=stack, name=name, internet=internet)
            assert urn in urns, urn
    names = {r.name for r in evaluated(stack).resources}
    assert {"network-policies-browser-ingress-from-api", "network-policies-api-ingress-from-gateway",
            "autoscaling-api-hpa"} <= names


def _dev_workloads_plus(extra: dict[str, Any]) -> dict[str, Any]:
    values, _ = stack_file_config("dev")
    workloads: dict[str, Any] = json.loads(values[f"{KEY}:workloads"])
    return {**workloads, **extra}


def test_an_old_file_can_add_workloads_and_keeps_its_call() -> None:
    """`api` and `browser` of an old file stay as they were when a workload of the new form joins them."""
    config = fleet_config(lambda values: values.update(workloads={
        "api": {"secretEnv": {"API_SECRET_KEY": "apiSecretKey"}},
        "browser": {"nodeSelector": {"workload": "browser-chrome"}, "maxSessions": 50},
        "firefox": {"role": "browser", "nodeSelector": {"workload": "browser-firefox"}, "maxSessions": 20},
        "jobs": {"role": "worker", "calls": ["firefox"]}}))
    assert config.callers_of("browser") == ["api"] and config.callers_of("firefox") == ["jobs"]


def test_in_cluster_stores_admit_every_client() -> None:
    """dev (kind): a worker with `dataStores: true` is admitted by the in-cluster stores next to the API."""
    ev = evaluate_stack("dev", overrides={"workloads": _dev_workloads_plus(
        {"jobs": {"role": "worker", "calls": ["browser"], "dataStores": True}})})
    policy = ev.named(NETWORK_POLICY, "data-valkey-ingress-from-api").plain_inputs
    sources = [peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
               for peer in policy["spec"]["ingress"][0]["from"]]
    assert sources == ["api", "jobs"]
    assert "jobs-stores" in objects(ev, CONFIG_MAP)
    assert objects(ev, "kubernetes:apps/v1:Deployment")["jobs"]["spec"]["template"]["spec"]["containers"][0][
        "envFrom"][1] == {"configMapRef": {"name": "jobs-stores"}}


def test_each_store_client_gets_the_google_identity_on_gke() -> None:
    """prod-gcp: IAM auth to Memorystore is the pod's Google identity, so every client's service account is bound
    (the API's binding keeps its name)."""
    values, _ = stack_file_config("prod-gcp")
    workloads: dict[str, Any] = json.loads(values[f"{KEY}:workloads"])
    workloads["jobs"] = {"role": "worker", "calls": ["browser"], "dataStores": True,
                         "imageDigest": "sha256:" + "0" * 64}
    ev = evaluate_stack("prod-gcp", overrides={"workloads": workloads})
    bindings = {r.name: r.plain_inputs["member"] for r in ev.of_type("gcp:serviceaccount/iAMMember:IAMMember")
                if r.name.endswith("-workload-identity") and f"[{NS}/" in r.plain_inputs["member"]}
    assert bindings == {
        "api-workload-identity": f"serviceAccount:browser-platform-prod.svc.id.goog[{NS}/api]",
        "jobs-workload-identity": f"serviceAccount:browser-platform-prod.svc.id.goog[{NS}/jobs]",
    }
