"""Violating cases of the priority and headroom policies (policy/browser_platform_policies/priorities.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from offline.harness import RecordedResource

from .cases import Case, Resources, add, edit, named, pod

PRIORITY_CLASS = "scheduling.k8s.io/v1:PriorityClass"
SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"


def priority_class(resources: Resources, name: str) -> RecordedResource:
    return named(resources, PRIORITY_CLASS, f"priority-classes-{name}")


def on_class(name: str, change: Callable[[RecordedResource], None], analyze: bool = False) -> Callable[[Resources], Any]:
    def mutate(resources: Resources) -> RecordedResource | None:
        target = priority_class(resources, name)
        change(target)
        return target if analyze else None
    return mutate


def set_input(key: str, value: Any) -> Callable[[RecordedResource], None]:
    def change(resource: RecordedResource) -> None:
        resource.inputs[key] = value
    return change


def no_delete_first(resource: RecordedResource) -> None:
    resource.options["deleteBeforeReplace"] = False


def independent_api(resources: Resources) -> None:
    target = named(resources, "apps/v1:Deployment", "api-deployment")
    api_class = priority_class(resources, "browser-platform-api")
    target.dependencies = [d for d in target.dependencies if d != api_class.urn]


def unknown_class_in_keda(release: RecordedResource) -> None:
    release.inputs["values"]["priorityClassName"] = "platform-services"


def without_critical_quota(resources: Resources) -> None:
    quota = named(resources, "core/v1:ResourceQuota", "mesh-gke-critical-pods")
    resources.remove(quota)


def placeholder_pod(change: Callable[[dict[str, Any]], None]) -> Callable[[RecordedResource], None]:
    def apply(deployment: RecordedResource) -> None:
        change(pod(deployment))
    return apply


def smaller_placeholder(spec: dict[str, Any]) -> None:
    resources = spec["containers"][0]["resources"]
    resources["requests"]["memory"] = resources["limits"]["memory"] = "4Gi"


def other_pool(spec: dict[str, Any]) -> None:
    spec["nodeSelector"] = {"workload": "api"}
    spec.pop("tolerations", None)


def keeps_node(deployment: RecordedResource) -> None:
    deployment.inputs["spec"]["template"]["metadata"]["annotations"][SAFE_TO_EVICT] = "false"


def protected(resources: Resources) -> None:
    add(resources, "kubernetes:policy/v1:PodDisruptionBudget", "headroom-pdb", {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "headroom", "namespace": "browser-platform-headroom"},
        "spec": {"maxUnavailable": 1.0, "selector": {}}})


def cutoff(value: float) -> Callable[[RecordedResource], None]:
    def change(release: RecordedResource) -> None:
        release.inputs["values"]["extraArgs"]["expendable-pods-priority-cutoff"] = value
    return change


def stack_change(change: Callable[[Resources], None]) -> Callable[[Resources], None]:
    def mutate(resources: Resources) -> None:
        change(resources)
    return mutate


HEADROOM = "headroom-browser-deployment"

PRIORITY_CASES: list[Case] = [
    Case("priority-class-global-default", "priority-class-settings",
         on_class("browser-platform-api", set_input("globalDefault", True), analyze=True),
         "every pod that names no class, in every namespace, would get its value", stack="prod"),
    Case("priority-class-replaced-in-place", "priority-class-settings",
         on_class("browser-platform-headroom", no_delete_first, analyze=True),
         "is not deleteBeforeReplace", stack="prod"),
    Case("priority-class-system-range", "priority-class-settings",
         on_class("browser-platform-services", set_input("value", 2_000_000_000.0), analyze=True),
         "reserves values above 1000000000", stack="prod"),
    Case("priority-class-not-awaited", "priority-class-defined", stack_change(independent_api),
         "names PriorityClass browser-platform-api but does not depend on it", stack="prod"),
    Case("priority-class-unknown", "priority-class-defined",
         edit("helm.sh/v3:Release", "keda-release", unknown_class_in_keda, analyze=False),
         "names PriorityClass platform-services, which neither the stack nor the cluster defines", stack="prod"),
    Case("gke-critical-without-quota", "priority-critical-namespace", stack_change(without_critical_quota),
         "runs pods at system-node-critical in namespace istio-system", stack="prod-gcp"),
    Case("headroom-below-cutoff", "headroom-placeholders",
         on_class("browser-platform-headroom", set_input("value", -20.0)),
         "below the cluster-autoscaler release's expendable-pods-priority-cutoff (-10)", stack="prod"),
    Case("headroom-autoscaler-cutoff-raised", "headroom-placeholders",
         edit("helm.sh/v3:Release", "cluster-autoscaler", cutoff(0.0), analyze=False),
         "below the cluster-autoscaler release's expendable-pods-priority-cutoff (0)", stack="prod"),
    Case("headroom-gke-cutoff", "headroom-placeholders",
         on_class("browser-platform-headroom", set_input("value", -11.0)),
         "below the node autoscaler's default expendable-pods-priority-cutoff (-10)", stack="prod-gcp"),
    Case("headroom-preempts", "headroom-placeholders",
         on_class("browser-platform-headroom", set_input("preemptionPolicy", "PreemptLowerPriority")),
         "may preempt", stack="prod"),
    Case("headroom-protected", "headroom-placeholders", stack_change(protected),
         "is a placeholder selected by PodDisruptionBudget browser-platform-headroom/headroom", stack="prod"),
    Case("headroom-keeps-node", "headroom-placeholders",
         edit("apps/v1:Deployment", HEADROOM, keeps_node, analyze=False), "keeps its node from scale-down",
         stack="prod"),
    Case("headroom-smaller-than-browser", "headroom-placeholders",
         edit("apps/v1:Deployment", HEADROOM, placeholder_pod(smaller_placeholder), analyze=False),
         "less than one Deployment browser-platform/browser pod (2100m / 6272Mi with sidecar and /dev/shm)", stack="prod"),
    Case("headroom-other-pool", "headroom-placeholders",
         edit("apps/v1:Deployment", HEADROOM, placeholder_pod(other_pool), analyze=False),
         "that no browser workload shares", stack="prod"),
    Case("browser-cannot-preempt-headroom", "headroom-placeholders",
         on_class("browser-platform-browser", set_input("preemptionPolicy", "Never")),
         "cannot preempt the placeholder", stack="prod"),
]
