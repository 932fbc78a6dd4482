"""Runtime correctness of the platform services (issue 9, findings 9-12): what happens after `pulumi up`.

- The ACME account contact: optional, and never a reserved domain Let's Encrypt refuses (the ClusterIssuer
  would never become Ready and the gateway would serve no certificate).
- kube-prometheus-stack upgrades its CRDs on every chart bump (Helm installs a chart's `crds/` only once).
- The platform services' pods run with the requests, limits, replicas and disruption budgets of
  capacity/platform_services.py, *as the chart renders them*: our values merged into the pinned chart's
  defaults (../shared/charts), because a default we do not override (KEDA's CPU limit) stays in force.
Session routing (finding 9) is guarded by the policy `mesh-lb-on-headless-service` (tests/policy/test_runtime_services.py)
and by tests/test_addons.py::test_mesh_traffic_rules.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from capacity import platform_services as sizes
from components.common import charts
from offline.chart_values import (
    CHARTS_DIR,
    ISTIO_LEGACY_SECTION,
    ChartValues,
    chart_data_dir,
    coalesce,
    load_chart,
    release_of,
)
from offline.harness import RecordedResource, StackEvaluation, evaluate_stack, stack_file_config, stack_names
from scripts.capacity_report import load_config
from stack_config import ConfigError, validate_stack_config
from stack_config.sizing import platform_services_for

from .test_capacity import CHART_PATHS, DAEMONSET_PATHS, PLAIN_OBJECT_LAYERS
from .upstream_data import require

STACKS = stack_names()
RELEASE = "kubernetes:helm.sh/v3:Release"


@pytest.fixture(autouse=True)
def _upstream_data() -> None:
    """These tests read the pinned charts' defaults and CRDs in ../shared: required in CI, skipped elsewhere."""
    require(CHARTS_DIR)
    require(CHARTS_DIR.parent / "crd-schemas")
Evaluated = Callable[[str], StackEvaluation]


# --------------------------------------------------------------------------------------------------------------
# Finding 10: the ACME contact
# --------------------------------------------------------------------------------------------------------------

def _email_problems(stack: str, email: str | None) -> list[str]:
    values, secrets = stack_file_config(stack)
    own = {key.split(":", 1)[1]: value for key, value in values.items()}
    ingress = json.loads(own["ingress"])
    ingress["tls"] = {key: value for key, value in ingress["tls"].items() if key != "email"}
    if email is not None:
        ingress["tls"]["email"] = email
    own["ingress"] = json.dumps(ingress)
    try:
        validate_stack_config(own, {key.split(":", 1)[1] for key in secrets})
    except ConfigError as error:
        return error.problems
    return []


@pytest.mark.parametrize("email", [
    "platform@example.com", "ops@mail.example.com", "a@example.net", "a@EXAMPLE.ORG", "a@corp.test",
    "a@host.invalid", "a@box.localhost", "a@company.example",
])
@pytest.mark.parametrize("stack", ["prod", "prod-gcp"])
def test_reserved_acme_contact_is_a_config_error(stack: str, email: str) -> None:
    (problem,) = _email_problems(stack, email)
    assert problem.startswith("browser-platform:ingress.tls.email: ")
    assert "reserved domain" in problem and "remove the key" in problem


@pytest.mark.parametrize("email", ["platform@example-corp.com", "ops@examples.org", "team@mail.testing.io"])
def test_real_acme_contact_reaches_the_cluster_issuer(email: str) -> None:
    assert _email_problems("prod", email) == []
    values, _ = stack_file_config("prod")
    ingress = json.loads(values["browser-platform:ingress"])
    ingress["tls"]["email"] = email
    ev = evaluate_stack("prod", overrides={"ingress": ingress})
    [issuer] = [r for r in ev.kubernetes_objects() if r.inputs.get("kind") == "ClusterIssuer"]
    assert issuer.plain_inputs["spec"]["acme"]["email"] == email


@pytest.mark.parametrize("stack", ["prod", "prod-gcp"])
def test_shipped_stacks_register_an_acme_account_without_contact(evaluated: Evaluated, stack: str) -> None:
    [issuer] = [r for r in evaluated(stack).kubernetes_objects() if r.inputs.get("kind") == "ClusterIssuer"]
    acme = issuer.plain_inputs["spec"]["acme"]
    assert "email" not in acme
    # What the cert-manager schema requires of an ACME issuer is still there.
    schema = json.loads((CHARTS_DIR.parent / "crd-schemas" / "cert-manager.io" / "ClusterIssuer_v1.json").read_text())
    acme_schema = schema["properties"]["spec"]["properties"]["acme"]
    assert "email" not in acme_schema["required"]
    assert set(acme_schema["required"]) <= set(acme)


# --------------------------------------------------------------------------------------------------------------
# Finding 11: the monitoring CRDs follow the chart version
# --------------------------------------------------------------------------------------------------------------

def chart_of(resource: RecordedResource) -> ChartValues:
    """The chart data of a recorded release: its pin (or declared stand-in) in ../shared/charts, the same lookup
    the chart-values layer uses (offline/chart_values.py)."""
    recorded = release_of(resource)
    return _chart(recorded.key, recorded.version)


@cache
def _chart(key: str, version: str) -> ChartValues:
    return load_chart(chart_data_dir(key, version), key)


@pytest.mark.parametrize("stack", STACKS)
def test_kube_prometheus_stack_upgrades_its_crds_with_the_pinned_chart(evaluated: Evaluated, stack: str) -> None:
    [release] = [r for r in evaluated(stack).of_type(RELEASE) if r.inputs["chart"] == "kube-prometheus-stack"]
    assert release.inputs["version"] == charts.KUBE_PROMETHEUS_STACK.version
    crds = release.plain_inputs["values"]["crds"]
    assert crds["enabled"] is True
    job = crds["upgradeJob"]
    assert job["enabled"] is True and job["forceConflicts"] is True
    assert job["image"]["busybox"]["tag"] == charts.CRD_UPGRADE_BUSYBOX_TAG != "latest"
    assert job["resources"] == sizes.CRD_UPGRADE_JOB.resource_values()
    # The pinned chart version is the one whose values define the Job (and its crds subchart the switch).
    chart_dir = chart_of(release).directory
    assert yaml.safe_load((chart_dir / "Chart.yaml").read_text())["version"] == release.inputs["version"]
    defaults = _load(chart_dir / "values.yaml")["crds"]["upgradeJob"]
    assert defaults["enabled"] is False, "the chart's default is off: our value is what turns the Job on"
    assert {"enabled", "forceConflicts", "image", "resources"} <= set(defaults)
    assert set(job["image"]["busybox"]) <= set(defaults["image"]["busybox"])
    assert "enabled" in _load(chart_dir / "subcharts" / "crds" / "values.yaml")["upgradeJob"]


# --------------------------------------------------------------------------------------------------------------
# Finding 12: requests, limits, replicas and PDBs as rendered, against capacity/platform_services.py
# --------------------------------------------------------------------------------------------------------------

Path_ = tuple[str, ...]
PDB_PATHS: dict[str, Path_ | None] = {
    "metrics-server": ("podDisruptionBudget",),
    "cluster-autoscaler": ("podDisruptionBudget",),
    "istiod": ("global", "defaultPodDisruptionBudget"),
    "istio-ingressgateway": ("podDisruptionBudget",),
    "prometheus": ("prometheus", "podDisruptionBudget"),
    "alertmanager": ("alertmanager", "podDisruptionBudget"),
    "grafana": ("grafana", "podDisruptionBudget"),
    "kube-state-metrics": ("kube-state-metrics", "podDisruptionBudget"),
    "prometheus-operator": ("prometheusOperator", "podDisruptionBudget"),
    "cert-manager": ("podDisruptionBudget",),
    "cert-manager-webhook": ("webhook", "podDisruptionBudget"),
    "cert-manager-cainjector": ("cainjector", "podDisruptionBudget"),
    "keda-operator": ("podDisruptionBudget", "operator"),
    "keda-metrics-apiserver": ("podDisruptionBudget", "metricServer"),
    "keda-admission-webhooks": ("podDisruptionBudget", "webhooks"),
}
"""Where each chart takes the PodDisruptionBudget of a pod of `capacity.platform_services`."""


@cache
def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def _lookup(values: Any, path: Path_) -> Any:
    for key in path:
        if not isinstance(values, dict) or key not in values:
            return None
        values = values[key]
    return values


@dataclass(frozen=True)
class Release:
    """A recorded Helm release: the values the program passes and its pinned chart's data."""

    values: dict[str, Any]
    chart: ChartValues


def chart_default(chart: ChartValues, path: Path_) -> Any:
    """The pinned chart's default at `path` of the release values (subcharts and Istio's layout resolved)."""
    defaults = chart.defaults
    if "_internal_defaults_do_not_set" in defaults:
        # Istio's charts read their defaults from there, and `pilot.*` / `cni.*` as the top level.
        defaults = defaults["_internal_defaults_do_not_set"]
        if path[0] == ISTIO_LEGACY_SECTION.get(chart.key):
            path = path[1:]
    elif path[0] in chart.subcharts:
        defaults, path = chart.subcharts[path[0]].defaults, path[1:]
    return _lookup(defaults, path)


def _quantities_as_text(value: Any) -> Any:
    """YAML numbers in a chart (`cpu: 1`) and our strings (`"1"`) are the same quantity."""
    if isinstance(value, dict):
        return {key: _quantities_as_text(item) for key, item in value.items()}
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def rendered(release: Release, path: Path_) -> Any:
    return coalesce(chart_default(release.chart, path), _lookup(release.values, path))  # Helm's merge


def allowed_disruptions(budget: Any, replicas: int) -> int | None:
    """Evictions a chart's PDB values allow at `replicas` pods; None: the chart renders no PDB."""
    if not isinstance(budget, dict) or not budget or budget.get("enabled") is False:
        return None
    if budget.get("maxUnavailable") is not None:
        return int(budget["maxUnavailable"])
    # minAvailable, or every chart's fallback when neither is set: minAvailable 1.
    return replicas - int(budget.get("minAvailable") or 1)


def platform_mismatches(releases: dict[str, Release], stack: str) -> list[str]:
    """Every way the releases' rendered values differ from capacity/platform_services.py."""
    problems: list[str] = []
    # Plain-object layers (tracing) are compared with their Deployment/StatefulSet in tests/test_observability.py.
    pods = [pod for layer in platform_services_for(load_config(stack)) if layer.name not in PLAIN_OBJECT_LAYERS
            for pod in layer.pods]
    for pod in pods:
        release, request_paths, _, _ = CHART_PATHS[pod.name]
        for request_path, container in zip(request_paths, pod.containers, strict=True):
            path = request_path[:-1]  # the container's `resources`
            if container.limits is None:
                problems.append(f"{pod.name}: capacity/platform_services.py sets no limits for {'.'.join(path)}")
                continue
            actual = rendered(releases[release], path)
            if _quantities_as_text(actual) != container.resource_values():
                problems.append(f"{pod.name}: {release} {'.'.join(path)} renders {actual}, "
                                f"the capacity model says {container.resource_values()}")
        pdb_path = PDB_PATHS[pod.name]
        allowed = allowed_disruptions(rendered(releases[release], pdb_path), pod.replicas.min) if pdb_path else None
        if pod.replicas.min > 1 and (allowed is None or allowed < 1):
            problems.append(f"{pod.name}: {pod.replicas.min} replicas but "
                            f"{'no PodDisruptionBudget' if allowed is None else 'a PDB that allows no eviction'}")
        if pod.replicas.min <= 1 and allowed is not None and allowed < 1:
            problems.append(f"{pod.name}: a PDB that blocks every drain of its single pod")
    for name, (release, request_path, container) in DAEMONSET_PATHS.items():
        if release in releases:
            path = request_path[:-1]
            actual = rendered(releases[release], path)
            if _quantities_as_text(actual) != container.resource_values():
                problems.append(f"{name}: {release} {'.'.join(path)} renders {actual}, "
                                f"the capacity model says {container.resource_values()}")
    return problems


def _releases(ev: StackEvaluation) -> dict[str, Release]:
    return {r.inputs["name"]: Release(copy.deepcopy(r.plain_inputs["values"]), chart_of(r)) for r in ev.of_type(RELEASE)}


@pytest.mark.parametrize("stack", STACKS)
def test_platform_services_render_the_capacity_model(evaluated: Evaluated, stack: str) -> None:
    assert platform_mismatches(_releases(evaluated(stack)), stack) == []


def test_every_multi_replica_platform_service_has_a_budget_in_the_model() -> None:
    for flavor in ("kind", "eks", "gke"):
        for layer in sizes.platform_layers(flavor, mesh=True, monitoring=True, keda=True, tls=True):
            for pod in layer.pods:
                assert pod.name in PDB_PATHS
                assert all(container.limits is not None for container in pod.containers), pod.name


def _drop_cpu_limit(values: dict[str, Any]) -> None:
    values["resources"]["operator"]["limits"].pop("cpu")


def _no_webhook_budget(values: dict[str, Any]) -> None:
    values["webhook"].pop("podDisruptionBudget")


def _blocking_prometheus_budget(values: dict[str, Any]) -> None:
    values["prometheus"]["podDisruptionBudget"] = {"enabled": True, "minAvailable": 2}


def _other_memory_limit(values: dict[str, Any]) -> None:
    values["grafana"]["resources"]["limits"]["memory"] = "1Gi"


@pytest.mark.parametrize(("release", "mutate", "expected"), [
    # The original finding: only the memory limit set, so the chart's 1 CPU limit stays.
    ("keda", _drop_cpu_limit, "keda-operator: keda resources.operator renders {'limits': {'cpu': 1, "),
    ("cert-manager", _no_webhook_budget, "cert-manager-webhook: 2 replicas but no PodDisruptionBudget"),
    ("kube-prometheus-stack", _blocking_prometheus_budget, "prometheus: 2 replicas but a PDB that allows no eviction"),
    ("kube-prometheus-stack", _other_memory_limit, "grafana: kube-prometheus-stack grafana.resources renders"),
], ids=["keda-chart-cpu-limit", "cert-manager-webhook-pdb", "prometheus-pdb-blocks", "grafana-limit-drift"])
def test_platform_mismatches_are_found(evaluated: Evaluated, release: str, mutate: Callable[[dict[str, Any]], None],
                                       expected: str) -> None:
    releases = _releases(evaluated("prod"))
    mutate(releases[release].values)
    problems = platform_mismatches(releases, "prod")
    assert len(problems) == 1 and problems[0].startswith(expected), problems
