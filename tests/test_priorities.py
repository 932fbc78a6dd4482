"""PriorityClasses and headroom placeholders as the engine receives them (components/services/priority_classes.py,
components/workloads/headroom.py), and the config rules around them.

The policy side (the same rules over the analyzer protocol) is tests/policy/test_priorities.py and the violating
cases in tests/policy/priorities_cases.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from components.clusters.node_autoscaler import EXPENDABLE_PODS_PRIORITY_CUTOFF
from components.services.priority_classes import (
    API,
    BROWSER,
    GKE_EXPENDABLE_PODS_PRIORITY_CUTOFF,
    HEADROOM,
    PLATFORM_SERVICES,
    TIERS,
    class_for_role,
)
from offline import chart_values as cv
from offline.diff import FieldChange, replacement
from offline.harness import RecordedResource, StackEvaluation
from stack_config.base import cpu_millicores, memory_bytes

from .conftest import STACKS
from .test_capacity import _eks_config, _problems, _validate
from .test_config_validation import problems_for

PRIORITY_CLASS = "kubernetes:scheduling.k8s.io/v1:PriorityClass"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICES = PLATFORM_SERVICES.name


def classes(evaluation: StackEvaluation) -> dict[str, RecordedResource]:
    return {r.inputs["metadata"]["name"]: r for r in evaluation.of_type(PRIORITY_CLASS)}


def named_classes(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "priorityClassName" and isinstance(item, str):
                yield (*path, key), item
            else:
                yield from named_classes(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from named_classes(item, (*path, str(index)))


# --- the classes ------------------------------------------------------------------------------------------------


def test_tiers_are_ordered_and_headroom_is_above_the_expendable_cutoff() -> None:
    values = [tier.value for tier in TIERS]
    assert values == sorted(values, reverse=True) and len(set(values)) == len(values)
    assert [tier.name for tier in TIERS] == [PLATFORM_SERVICES.name, API.name, BROWSER.name, HEADROOM.name]
    assert PLATFORM_SERVICES.value <= 1_000_000_000  # above is reserved for system-* classes
    # Below every pod that names no class (0), but not below either autoscaler's cutoff: Pending placeholders
    # must still cause a scale-up.
    assert max(EXPENDABLE_PODS_PRIORITY_CUTOFF, GKE_EXPENDABLE_PODS_PRIORITY_CUTOFF) <= HEADROOM.value < 0
    assert HEADROOM.preemption_policy == "Never"
    assert all(t.preemption_policy == "PreemptLowerPriority" for t in TIERS if t is not HEADROOM)


@pytest.mark.parametrize("stack", STACKS)
def test_classes_are_created_cluster_wide_and_replaced_not_updated(
        evaluated: Callable[[str], StackEvaluation], stack: str) -> None:
    found = classes(evaluated(stack))
    assert set(found) == {tier.name for tier in TIERS}
    for tier in TIERS:
        resource = found[tier.name]
        assert resource.inputs["value"] == tier.value
        assert resource.inputs["globalDefault"] is False
        assert resource.inputs["preemptionPolicy"] == tier.preemption_policy
        assert "namespace" not in resource.inputs["metadata"]  # cluster-scoped
        # value and preemptionPolicy are immutable and pulumi-kubernetes does not know it: replace, delete first.
        assert set(resource.options["replaceOnChanges"]) >= {"value", "preemptionPolicy"}
        assert resource.options["deleteBeforeReplace"] is True


def test_a_value_change_shows_as_a_replacement_in_the_plan_diff(evaluated: Callable[[str], StackEvaluation]) -> None:
    resource = classes(evaluated("prod"))[HEADROOM.name]
    as_planned = {"type": resource.type, "inputs": resource.inputs, "options": resource.options}
    assert replacement(as_planned, [FieldChange("value", "-1", "-5")]) == "replaced: replaceOnChanges includes value"
    assert replacement(as_planned, [FieldChange("description", "a", "b")]) == ""


# --- who gets which class ---------------------------------------------------------------------------------------

EXPECTED_RELEASE_CLASSES: dict[str, dict[tuple[str, ...], str]] = {
    "metrics-server": {("priorityClassName",): "system-cluster-critical"},
    "cluster-autoscaler": {("priorityClassName",): "system-cluster-critical"},
    "keda": {("priorityClassName",): SERVICES},
    "cert-manager": {("global", "priorityClassName"): SERVICES},
    "istiod": {("global", "priorityClassName"): SERVICES},
    "istio-gateway": {("priorityClassName",): SERVICES},
    "istio-cni": {},  # the chart hard-codes system-node-critical (components/services/priority_classes.py)
    "istio-base": {},  # CRDs only, no pods
    "kube-prometheus-stack": {
        ("prometheus", "prometheusSpec", "priorityClassName"): SERVICES,
        ("alertmanager", "alertmanagerSpec", "priorityClassName"): SERVICES,
        ("grafana", "priorityClassName"): SERVICES,
        ("kube-state-metrics", "priorityClassName"): SERVICES,
        ("prometheusOperator", "priorityClassName"): SERVICES,
        ("prometheusOperator", "admissionWebhooks", "patch", "priorityClassName"): SERVICES,
        ("prometheus-node-exporter", "priorityClassName"): SERVICES,
    },
}


@pytest.mark.parametrize("stack", STACKS)
def test_every_platform_release_names_its_class_where_the_chart_reads_it(
        evaluated: Callable[[str], StackEvaluation], stack: str) -> None:
    releases = cv.recorded_releases(evaluated(stack))
    assert {r.key for r in releases} <= set(EXPECTED_RELEASE_CLASSES)
    for release in releases:
        assert dict(named_classes(release.values)) == EXPECTED_RELEASE_CLASSES[release.key], release.resource_name
        # ...at keys the pinned chart reads (values.yaml, values.schema.json, or a template line in TEMPLATE_ONLY_KEYS)
        assert cv.check_release(release) == [], release.resource_name


@pytest.mark.parametrize("stack", STACKS)
def test_system_classes_only_in_kube_system(evaluated: Callable[[str], StackEvaluation], stack: str) -> None:
    for release in cv.recorded_releases(evaluated(stack)):
        if any(name.startswith("system-") for _, name in named_classes(release.values)):
            resource = evaluated(stack).named("kubernetes:helm.sh/v3:Release", release.resource_name)
            assert resource.inputs["namespace"] == "kube-system", release.resource_name


@pytest.mark.parametrize("stack", STACKS)
def test_workloads_and_stores_get_their_class_by_role(evaluated: Callable[[str], StackEvaluation], stack: str) -> None:
    evaluation = evaluated(stack)
    pods = {r.name: r.inputs["spec"]["template"]["spec"].get("priorityClassName")
            for r in evaluation.of_type(DEPLOYMENT) + evaluation.of_type("kubernetes:apps/v1:StatefulSet")}
    assert pods["api-deployment"] == class_for_role("api") == API.name
    assert pods["browser-deployment"] == class_for_role("browser") == BROWSER.name
    for store in ("valkey-statefulset", "postgres-statefulset"):
        if store in pods:  # in-cluster stores (kind): above the API they serve
            assert pods[store] == SERVICES
    with pytest.raises(ValueError, match="no PriorityClass for workload role 'sidecar'"):
        class_for_role("sidecar")


@pytest.mark.parametrize("stack", STACKS)
def test_everything_that_names_a_class_of_the_stack_waits_for_it(
        evaluated: Callable[[str], StackEvaluation], stack: str) -> None:
    evaluation = evaluated(stack)
    created = {name: r.urn for name, r in classes(evaluation).items()}
    users = 0
    for resource in evaluation.resources:
        for _, name in named_classes(resource.plain_inputs):
            if name in created:
                users += 1
                assert created[name] in resource.dependencies, f"{resource.name} does not wait for {name}"
    assert users >= 8  # releases, workloads and (prod) the placeholders


# --- headroom ---------------------------------------------------------------------------------------------------


def placeholder(evaluation: StackEvaluation) -> RecordedResource:
    return evaluation.named(DEPLOYMENT, "headroom-browser-deployment")


def test_dev_has_no_headroom(evaluated: Callable[[str], StackEvaluation]) -> None:
    assert not [r for r in evaluated("dev").resources if r.type == "browser-platform:workloads:Headroom"
                or r.inputs.get("metadata", {}).get("namespace") == "browser-platform-headroom"]
    assert [r.name for r in evaluated("prod").resources if r.type == "browser-platform:workloads:Headroom"] == ["headroom"]


@pytest.mark.parametrize("stack", ["prod", "prod-gcp"])
def test_placeholders_are_one_browser_pod_each_on_the_browser_nodes(
        evaluated: Callable[[str], StackEvaluation], stack: str) -> None:
    evaluation = evaluated(stack)
    browser = evaluation.named(DEPLOYMENT, "browser-deployment").plain_inputs["spec"]["template"]
    pause = placeholder(evaluation).plain_inputs
    template = pause["spec"]["template"]
    assert pause["metadata"]["namespace"] == "browser-platform-headroom"
    assert pause["spec"]["replicas"] == 2  # Pulumi.<stack>.yaml headroom.pods
    spec = template["spec"]
    for key in ("nodeSelector", "tolerations", "affinity"):
        assert spec[key] == browser["spec"][key], key
    assert spec["priorityClassName"] == HEADROOM.name
    assert spec["terminationGracePeriodSeconds"] == 0
    assert template["metadata"]["annotations"] == {"cluster-autoscaler.kubernetes.io/safe-to-evict": "true"}

    # Requests: the browser container + /dev/shm (memory) + the injected sidecar's requests (pod annotations).
    container = browser["spec"]["containers"][0]["resources"]["requests"]
    shm = next(v["emptyDir"]["sizeLimit"] for v in browser["spec"]["volumes"] if v["name"] == "shm")
    annotations = browser["metadata"]["annotations"]
    resources = spec["containers"][0]["resources"]
    assert resources["requests"] == resources["limits"]
    assert cpu_millicores(resources["requests"]["cpu"]) == (
        cpu_millicores(container["cpu"]) + cpu_millicores(annotations["sidecar.istio.io/proxyCPU"]))
    assert memory_bytes(resources["requests"]["memory"]) == (
        memory_bytes(container["memory"]) + memory_bytes(shm) + memory_bytes(annotations["sidecar.istio.io/proxyMemory"]))


@pytest.mark.parametrize("stack", ["prod", "prod-gcp"])
def test_placeholder_pods_are_locked_down_and_pinned(evaluated: Callable[[str], StackEvaluation], stack: str) -> None:
    spec = placeholder(evaluated(stack)).plain_inputs["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert container["image"].startswith("registry.k8s.io/pause:3.10@sha256:")
    assert container["securityContext"] == {
        "runAsNonRoot": True, "runAsUser": 65535, "runAsGroup": 65535, "allowPrivilegeEscalation": False,
        "privileged": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"}}
    assert spec["automountServiceAccountToken"] is False and spec["serviceAccountName"] == "headroom"
    assert "ports" not in container and "volumes" not in spec


@pytest.mark.parametrize("stack", ["prod", "prod-gcp"])
def test_nothing_selects_or_scales_the_placeholders(evaluated: Callable[[str], StackEvaluation], stack: str) -> None:
    evaluation = evaluated(stack)
    namespace = "browser-platform-headroom"
    in_namespace = [r for r in evaluation.kubernetes_objects() if r.inputs.get("metadata", {}).get("namespace") == namespace]
    kinds = sorted(r.inputs["kind"] for r in in_namespace)
    # No Service, PDB, HPA or ScaledObject: no traffic, no protection from preemption, no autoscaler counts them.
    assert kinds == ["Deployment", "NetworkPolicy", "NetworkPolicy", "ResourceQuota", "ServiceAccount"]
    scaled = [r for r in evaluation.kubernetes_objects() if r.inputs.get("kind") in ("ScaledObject", "HorizontalPodAutoscaler")]
    assert scaled and all(r.inputs["spec"]["scaleTargetRef"]["name"] != "browser-headroom" for r in scaled)
    # KEDA's session trigger counts series of the platform namespace only; placeholders export none anyway.
    queries = [t["metadata"]["query"] for r in scaled if r.inputs["kind"] == "ScaledObject"
               for t in r.inputs["spec"]["triggers"] if t["type"] == "prometheus"]
    assert queries and all('namespace="browser-platform"' in q and "headroom" not in q for q in queries), queries
    # The workloads' own quota has no scope, so it admits pods of the api/browser classes.
    platform_quota = evaluation.named("kubernetes:core/v1:ResourceQuota", "namespace-quota").inputs["spec"]
    assert "scopeSelector" not in platform_quota and "scopes" not in platform_quota
    namespace_object = next(r for r in evaluation.kubernetes_objects()
                            if r.inputs.get("kind") == "Namespace" and r.inputs["metadata"]["name"] == namespace)
    labels = namespace_object.inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted" and "istio-injection" not in labels


@pytest.mark.parametrize("stack", ["prod", "prod-gcp"])
def test_headroom_quota_admits_exactly_the_placeholders(evaluated: Callable[[str], StackEvaluation], stack: str) -> None:
    evaluation = evaluated(stack)
    quota = evaluation.named("kubernetes:core/v1:ResourceQuota", "headroom-quota").inputs["spec"]
    assert "scopeSelector" not in quota and "scopes" not in quota  # admits pods of any class, the headroom one too
    pause = placeholder(evaluation).plain_inputs["spec"]
    requests = pause["template"]["spec"]["containers"][0]["resources"]["requests"]
    assert pause["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
    assert quota["hard"]["pods"] == "2"
    assert memory_bytes(quota["hard"]["requests.memory"]) == 2 * memory_bytes(requests["memory"])
    assert cpu_millicores(quota["hard"]["limits.cpu"]) == 2 * cpu_millicores(requests["cpu"])


# --- config ------------------------------------------------------------------------------------------------------


def test_headroom_on_kind_is_a_config_error() -> None:
    problems = problems_for(lambda values: values.setdefault("workloads", {}).setdefault("browser", {}).update(
        headroom={"pods": 2}))
    assert any("workloads.browser.headroom" in p and "kind has none" in p for p in problems), problems


def test_headroom_image_must_be_pinned_by_digest() -> None:
    config = _eks_config()
    config["workloads"]["browser"]["headroom"] = {"pods": 2, "image": "registry.k8s.io/pause:3.10"}
    problems = _problems(config)
    assert any("workloads.browser.headroom.image" in p and "pinned by digest" in p for p in problems), problems


def test_headroom_is_off_unless_set() -> None:
    assert _validate(_eks_config()).workloads["browser"].headroom is None
    config = _eks_config()
    config["workloads"]["browser"]["headroom"] = {"pods": 3}
    assert _validate(config).workloads["browser"].headroom.pods == 3


# --- what headroom costs and buys (capacity/headroom.py, scripts/capacity_report.py) -----------------------------


def test_placeholders_fill_free_room_first_then_add_nodes_up_to_the_ceiling() -> None:
    from capacity import Resources, default_overheads, node_allocatable
    from capacity.headroom import PoolRoom, headroom_cost

    node = node_allocatable("c7i.2xlarge", "eks", default_overheads("eks", mesh=True))
    browser = Resources.of("2100m", "4224Mi")
    placeholder = Resources.of("2100m", "6272Mi")
    base = PoolRoom("base", node, ((browser, 5),), min_nodes=2, max_nodes=2, hourly=0.357)  # 6 slots, 5 taken
    burst = PoolRoom("burst", node, (), min_nodes=0, max_nodes=1, hourly=0.144)
    cost = headroom_cost("browser", 4, 10, placeholder, [base, burst])
    assert [(p.pool, p.placeholders, p.extra_nodes) for p in cost.placements] == [("base", 1, 0), ("burst", 2, 1)]
    assert cost.unplaced == 1  # the burst pool's maxNodes (1) holds two placeholders; the fourth stays Pending
    assert cost.sessions == 40 and round(cost.monthly, 2) == round(0.144 * 730, 2)


def test_timing_table_cites_a_source_and_marks_assumptions() -> None:
    from capacity.headroom import AUTOSCALER_REACTION, NODE_PROVISIONING, READ_ON, timing_table

    assert AUTOSCALER_REACTION.source.startswith("https://") and AUTOSCALER_REACTION.official
    for provider, timing in NODE_PROVISIONING.items():
        if timing.seconds is not None:
            assert timing.source.startswith("https://"), provider
        if not timing.official:
            assert "ASSUMPTION" in timing.stated and "no official figure" in timing.stated, provider
    lines = timing_table()
    assert all(READ_ON in line for line in lines if "https://" in line)
    assert not NODE_PROVISIONING["eks"].official and NODE_PROVISIONING["gke"].official


@pytest.mark.parametrize(("stack", "expected"), [
    ("prod", "1 on browser-base (+0 node(s), $0/month); 1 on browser (+1 node(s), $105/month); total +1 node(s), "
             "$105 per month"),
    ("prod-gcp", "2 on browser-base (+0 node(s), $0/month); total +0 node(s), $0 per month"),
    ("dev", None),
])
def test_capacity_report_prints_what_headroom_costs_and_buys(stack: str, expected: str | None) -> None:
    from scripts.capacity_report import load_config, render

    text, _ = render(stack, load_config(stack))
    if expected is None:
        assert "## headroom" not in text  # kind: no node autoscaler, headroom is rejected there
        return
    assert expected in text
    assert "buys 20 sessions (2 pods x 10) that start at once on warm nodes" in text
    assert "node provisioning eks: 180 s; no official figure" in text
