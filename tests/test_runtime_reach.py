"""Runtime findings h2 on the mocks: storage classes per provider, the private GKE control plane's firewall to
the installed webhooks, Cloud NAT ports per VM sized from sessions per node (and the config error beyond NAT's
limits). The stack policies that keep these from coming back are tested in tests/policy/test_runtime_reach.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from capacity import nat
from components.common import webhook_ports
from offline.harness import RecordedResource, StackEvaluation, evaluate_stack, stack_file_config
from stack_config import ConfigError, validate_stack_config
from stack_config.egress import browser_sessions_per_node, gke_nat_ports

STACKS = ("dev", "prod", "prod-gcp")
CHART_OF_SERVICE = {"mesh": "istiod", "keda": "keda", "tls": "cert-manager", "monitoring": "kube-prometheus-stack",
                    "metrics-server": "metrics-server"}


def one(ev: StackEvaluation, type_suffix: str, name: str) -> RecordedResource:
    found = [r for r in ev.resources if r.type.endswith(type_suffix) and r.name == name]
    assert len(found) == 1, f"{type_suffix} {name}: {len(found)}"
    return found[0]


def release(ev: StackEvaluation, chart: str) -> RecordedResource | None:
    return next((r for r in ev.resources if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs["chart"] == chart),
                None)


def stack_values(stack: str) -> tuple[dict[str, str], set[str]]:
    config, secrets = stack_file_config(stack)
    return {key.split(":", 1)[1]: value for key, value in config.items()}, {key.split(":", 1)[1] for key in secrets}


def settings(stack: str, change: Callable[[dict[str, Any]], None] | None = None) -> Any:
    values, secrets = stack_values(stack)
    decoded = {k: json.loads(v) if v[:1] in "{[" else v for k, v in values.items()}
    if change is not None:
        change(decoded)
    return validate_stack_config({k: v if isinstance(v, str) else json.dumps(v) for k, v in decoded.items()}, secrets)


# --- 1. storage -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("stack", "expected"), [("dev", "standard"), ("prod", "gp3"), ("prod-gcp", "standard-rwo")])
def test_prometheus_names_the_providers_class(evaluated: Callable[[str], StackEvaluation], stack: str,
                                              expected: str) -> None:
    ev = evaluated(stack)
    monitoring = release(ev, "kube-prometheus-stack")
    assert monitoring is not None
    spec = monitoring.inputs["values"]["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert spec["storageClassName"] == expected
    classes = [r for r in ev.resources if r.type == "kubernetes:storage.k8s.io/v1:StorageClass"]
    if stack == "prod":
        (gp3,) = classes
        assert gp3.urn in monitoring.dependencies  # the release waits for the class it names
        ebs = one(ev, "aws:eks/addon:Addon", "aws-ebs-csi-driver")
        assert ebs.urn in gp3.dependencies  # and the class for the driver that provisions it
    else:
        assert classes == []  # built into kind and GKE


def test_no_other_storage_consumer_is_unnamed(evaluated: Callable[[str], StackEvaluation]) -> None:
    """Grafana and Alertmanager keep no volume; the only StatefulSets are kind's data stores and, where tracing is
    on (the cloud stacks), Tempo: each names the class Prometheus uses."""
    for stack in STACKS:
        ev = evaluated(stack)
        consumers = [r for r in ev.resources if r.type.endswith(("PersistentVolumeClaim", "StatefulSet"))]
        assert sorted(r.name for r in consumers) == (["postgres-statefulset", "valkey-statefulset"] if stack == "dev"
                                                     else ["tracing-tempo"])
        values = release(ev, "kube-prometheus-stack").inputs["values"]  # type: ignore[union-attr]
        prometheus_class = values["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]["spec"][
            "storageClassName"]
        for stateful_set in consumers:
            claims = stateful_set.inputs["spec"]["volumeClaimTemplates"]
            assert [c["spec"]["storageClassName"] for c in claims] == [prometheus_class]
        assert values["grafana"]["persistence"] == {"enabled": False}
        assert "storage" not in values["alertmanager"]["alertmanagerSpec"]


# --- 2. private GKE: control plane to webhooks ----------------------------------------------------------------

def test_firewall_opens_exactly_the_installed_services_ports(evaluated: Callable[[str], StackEvaluation]) -> None:
    ev = evaluated("prod-gcp")
    rule = one(ev, "gcp:compute/firewall:Firewall", "control-plane-webhooks").inputs
    assert rule["sourceRanges"] == ["172.16.0.0/28"]
    assert rule["direction"] == "INGRESS"
    assert rule["targetServiceAccounts"] == [one(ev, "gcp:serviceaccount/account:Account", "nodes").inputs["accountId"]
                                             + "@offline-project.iam.gserviceaccount.com"]
    assert rule["allows"] == [{"protocol": "tcp", "ports": ["6443", "9443", "10250", "15017"]}]
    assert rule["network"] == one(ev, "gcp:container/cluster:Cluster", "gke").inputs["network"]


@pytest.mark.parametrize("stack", STACKS)
def test_installed_services_are_the_releases(evaluated: Callable[[str], StackEvaluation], stack: str) -> None:
    """One decision: what components/platform_services.py installs is what the firewall's ports are derived from."""
    config = settings(stack).config
    installed = webhook_ports.installed_services(config)
    for service, chart in CHART_OF_SERVICE.items():
        assert (release(evaluated(stack), chart) is not None) == (service in installed), (stack, service)


@pytest.mark.parametrize("stack", STACKS)
def test_chart_values_set_the_ports_the_firewall_opens(evaluated: Callable[[str], StackEvaluation], stack: str) -> None:
    ev = evaluated(stack)
    for callee in webhook_ports.control_plane_callees(settings(stack).config):
        if callee.chart_value is None:
            continue  # istiod's 15017 is fixed in istiod itself
        node: Any = release(ev, CHART_OF_SERVICE[callee.service]).inputs["values"]  # type: ignore[union-attr]
        for key in callee.chart_value.split("."):
            node = node[key]
        assert node == callee.port, (stack, callee)


def test_ports_follow_the_enabled_services() -> None:
    full = settings("prod-gcp").config
    assert webhook_ports.control_plane_ports(full) == (6443, 9443, 10250, 15017)
    no_keda = settings("prod-gcp", lambda c: c.setdefault("autoscaling", {}).update(keda={"enabled": False})).config
    assert webhook_ports.control_plane_ports(no_keda) == (10250, 15017)


def test_firewall_follows_the_config_on_the_mocks() -> None:
    ev = evaluate_stack("prod-gcp", overrides={"autoscaling": {"keda": {"enabled": False}}})
    rule = one(ev, "gcp:compute/firewall:Firewall", "control-plane-webhooks").inputs
    assert rule["allows"] == [{"protocol": "tcp", "ports": ["10250", "15017"]}]
    assert release(ev, "keda") is None


# --- 13. Cloud NAT ports per VM ---------------------------------------------------------------------------------

def test_prod_gcp_nat_is_sized_from_sessions_per_node(evaluated: Callable[[str], StackEvaluation]) -> None:
    config = settings("prod-gcp").config
    sessions, index, _ = browser_sessions_per_node(config)
    assert (sessions, config.cluster.node_pools[index].name) == (30, "browser")  # 3 pods x 10 sessions per c3-standard-8
    ports = gke_nat_ports(config)
    assert (ports.min_ports_per_vm, ports.max_ports_per_vm) == (1024, 8192)
    inputs = one(evaluated("prod-gcp"), "gcp:compute/routerNat:RouterNat", "nat").inputs
    assert inputs["enableDynamicPortAllocation"] is True and inputs["enableEndpointIndependentMapping"] is False
    assert (inputs["minPortsPerVm"], inputs["maxPortsPerVm"]) == (1024.0, 8192.0)


@pytest.mark.parametrize(("sessions", "expected"), [(1, (32, 256)), (2, (64, 512)), (30, (1024, 8192)),
                                                    (256, (8192, 65536))])
def test_nat_bounds_are_powers_of_two_within_limits(sessions: int, expected: tuple[int, int]) -> None:
    ports = nat.cloud_nat_ports(sessions)
    assert (ports.min_ports_per_vm, ports.max_ports_per_vm) == expected
    assert not nat.dynamic_bounds_problems(ports.min_ports_per_vm, ports.max_ports_per_vm)
    assert ports.max_ports_per_vm >= nat.ports_needed(sessions)


def test_nat_limit_is_a_config_error() -> None:
    def crowded(config: dict[str, Any]) -> None:
        config["workloads"]["browser"]["sessionsPerPod"] = 100  # 3 pods x 100 sessions x 256 > 65,536
    with pytest.raises(ConfigError) as raised:
        settings("prod-gcp", crowded)
    (problem,) = raised.value.problems
    assert problem.startswith("browser-platform:workloads.browser.sessionsPerPod: ")
    assert "76800 source ports per VM, more than Cloud NAT's 65536" in problem
    assert "at most 256 sessions per node" in problem


def test_dynamic_bounds_the_api_rejects() -> None:
    assert nat.dynamic_bounds_problems(48, None) == ["minPortsPerVm 48 must be a power of two >= 32"]
    assert nat.dynamic_bounds_problems(1024, 1024)
    assert nat.dynamic_bounds_problems(None, 131072)
    assert not nat.dynamic_bounds_problems(None, 64)
