"""Pod priority after apply: PriorityClasses that exist and can change, critical classes where they are admitted,
and headroom placeholders that really hold capacity for the browser pools.

- `priority-class-settings` (resource): a PriorityClass of the stack is never `globalDefault` (it would change the
  priority of every pod that names no class, in every namespace), stays in the user range (at most 1e9: the API
  reserves higher values for system-* classes) and is deleted before it is replaced (`value` and
  `preemptionPolicy` are immutable, so a change is a replacement, and the name is cluster-wide).
- `priority-class-defined` (stack): every pod template and every Helm release value `priorityClassName` names a
  built-in class or a PriorityClass of the stack that the resource depends on; otherwise the API server rejects
  the pods ("no PriorityClass with name ... was found"), on the first `up` if the class is created after them.
- `priority-critical-namespace` (stack): `system-node-critical` / `system-cluster-critical` outside kube-system are
  admitted on GKE only with a ResourceQuota in that namespace scoped to the class (GKE limits the classes with
  the ResourceQuota admission's `limitedResources`); charts that hard-code a class (istio-cni) are counted.
- `headroom-placeholders` (stack): pods at a class below zero (placeholders) must be able to do their job: the
  class is at or above the node autoscaler's expendable cutoff (cluster-autoscaler's
  `--expendable-pods-priority-cutoff`, -10 unless its release sets it; GKE's autoscaler uses -10), otherwise a
  Pending placeholder never adds a node; it does not preempt (`preemptionPolicy: Never`); no PodDisruptionBudget,
  Service, HPA or ScaledObject selects it (protected, routed to or counted, it would block the preemption, take
  traffic, or scale the pool on nothing); it does not block scale-down (`safe-to-evict` not "false"); and it
  stands in for a browser pool: some browser workload with the same nodeSelector and tolerations can preempt it
  (higher value, preemption allowed) and requests no more than one placeholder (its pod with sidecar, plus
  /dev/shm).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import Policy, ReportViolation, ResourceValidationArgs, StackValidationArgs

from .config import Schema, per_resource, resource_policy, stack_policy, string_list
from .model import StackModel, Workload, namespace_of
from .pools import GKE_CLUSTER, GKE_NODE_POOL
from .props import (
    as_int,
    fmt_bytes,
    fmt_cpu,
    get,
    items,
    labels_match,
    metadata_name,
    of_types,
    quantity,
    truthy,
)
from .stack import BROWSER_SCHEMA, _browsers, _model

PRIORITY_CLASS = "kubernetes:scheduling.k8s.io/v1:PriorityClass"
SYSTEM_CLASSES = {"system-node-critical": 2_000_001_000, "system-cluster-critical": 2_000_000_000}
USER_MAXIMUM = 1_000_000_000
SYSTEM_NAMESPACE = "kube-system"
SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"
CUTOFF_FLAG = "expendable-pods-priority-cutoff"
CHART_FIXED_CLASSES = {"cni": "system-node-critical"}
"""Classes a chart's templates set with no value to change them: istio/istio@1.30.3
manifests/charts/istio-cni/templates/daemonset.yaml (`priorityClassName: system-node-critical`)."""

DEFINED_SCHEMA: Schema = {
    "externalClasses": string_list("PriorityClasses the cluster has from elsewhere (not created by this stack).", []),
}
CRITICAL_SCHEMA: Schema = {
    "quotaEverywhere": {"type": "boolean", "default": False,
                        "description": "Require the scoped quota on every cluster, not only GKE (for clusters whose "
                                       "API server limits the system classes like GKE does)."},
}
HEADROOM_SCHEMA: Schema = {
    **BROWSER_SCHEMA,
    "expendableCutoff": {"type": "integer", "default": -10,
                         "description": "The node autoscaler's expendable-pods-priority-cutoff when its release does not "
                                        "set it (cluster-autoscaler's default; GKE's autoscaler uses the same)."},
}


def check_class_settings(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    if args.resource_type != PRIORITY_CLASS:
        return
    name = metadata_name(args.props)
    if truthy(get(args.props, "globalDefault")):
        report(f"PriorityClass {name} is globalDefault: every pod that names no class, in every namespace, would get "
               "its value (and could then preempt or be preempted by the platform's pods). Fix: globalDefault: false; "
               "name the class in the pods that need it.", None)
    value = as_int(get(args.props, "value"))
    if value is not None and value > USER_MAXIMUM and name not in SYSTEM_CLASSES:
        report(f"PriorityClass {name} has value {value}; the API server reserves values above {USER_MAXIMUM} for the "
               "system-* classes and rejects it. Fix: a value of at most 1000000000.", None)
    if not (args.opts is not None and args.opts.delete_before_replace):
        report(f"PriorityClass {name} is not deleteBeforeReplace: its value and preemptionPolicy cannot change in "
               "place, so a change replaces it, and the replacement cannot be created next to the old object under "
               "the same cluster-wide name. Fix: replace_on_changes=[\"value\", \"preemptionPolicy\"] and "
               "delete_before_replace=True.", None)


def _named_classes(values: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    """(dotted path, class) of every non-empty `priorityClassName` string in a release's values."""
    if isinstance(values, Mapping):
        for key in values:
            value = values[key]
            here = (*path, str(key))
            if key == "priorityClassName" and isinstance(value, str):
                if value:
                    yield ".".join(here), value
            else:
                yield from _named_classes(value, here)
    elif isinstance(values, (list, tuple)):
        for index, value in enumerate(values):
            yield from _named_classes(value, (*path, str(index)))


def _users(model: StackModel) -> Iterator[tuple[Any, str, str, str]]:
    """(resource, what, namespace, class) for every pod template and release that names a class."""
    for workload in model.workloads:
        name = get(workload.pod_spec, "priorityClassName")
        if name:
            yield workload.resource, workload.title, workload.namespace, str(name)
    for release in model.releases:
        title = f"Helm release {get(release.props, 'name', default=release.name)}"
        namespace = str(get(release.props, "namespace", default="default"))
        for where, name in _named_classes(get(release.props, "values", default={})):
            yield release, f"{title} ({where})", namespace, name
        fixed = CHART_FIXED_CLASSES.get(str(get(release.props, "chart", default="")))
        if fixed is not None:
            yield release, f"{title} (set by the chart's templates)", namespace, fixed


def _depends_on(resource: Any, target: Any) -> bool:
    return any(getattr(d, "urn", None) == target.urn for d in (resource.dependencies or []))


def check_defined(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "priority-class-defined")
    external = {str(c) for c in cfg["externalClasses"]}
    for resource, what, _, name in _users(model):
        with per_resource("priority-class-defined", resource.urn):
            if name in SYSTEM_CLASSES or name in external:
                continue
            found = model.priority_class(name)
            if found is None:
                report(f"{what} names PriorityClass {name}, which neither the stack nor the cluster defines: the API "
                       "server rejects its pods. Fix: create the class in the stack (or list it in externalClasses if "
                       "the cluster has it).", resource.urn)
            elif not _depends_on(resource, found):
                report(f"{what} names PriorityClass {name} but does not depend on it: on the first `up` its pods can "
                       "be created before the class and are rejected. Fix: depends_on the PriorityClass.", resource.urn)


def _scoped_quota(model: StackModel, namespace: str, name: str) -> bool:
    for quota in model.of("core/ResourceQuota"):
        if namespace_of(quota) != namespace:
            continue
        for expression in items(quota.props, "spec", "scopeSelector", "matchExpressions"):
            if get(expression, "scopeName") == "PriorityClass" and get(expression, "operator") == "In" \
                    and name in [str(v) for v in items(expression, "values")]:
                return True
    return False


def check_critical_namespace(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "priority-critical-namespace")
    on_gke = any(r.resource_type in (GKE_CLUSTER, GKE_NODE_POOL) for r in args.resources)
    if not (on_gke or bool(cfg["quotaEverywhere"])):
        return
    for resource, what, namespace, name in _users(model):
        with per_resource("priority-critical-namespace", resource.urn):
            if name in SYSTEM_CLASSES and namespace != SYSTEM_NAMESPACE and not _scoped_quota(model, namespace, name):
                report(f"{what} runs pods at {name} in namespace {namespace}: GKE admits that class outside "
                       f"{SYSTEM_NAMESPACE} only with a ResourceQuota there scoped to it, so the pods are rejected. Fix: a "
                       f"ResourceQuota in {namespace} with scopeSelector PriorityClass In [{name}], or a class of the "
                       "stack's own.", resource.urn)


def _cutoff(model: StackModel, cfg: Mapping[str, Any]) -> tuple[int, str]:
    release = model.release("cluster-autoscaler")
    if release is not None:
        value = as_int(get(release.props, "values", "extraArgs", CUTOFF_FLAG))
        for argument in items(release.props, "values", "customArgs"):
            if str(argument).startswith(f"--{CUTOFF_FLAG}="):
                value = as_int(str(argument).split("=", 1)[1], value)
        if value is not None:
            return value, f"the cluster-autoscaler release's {CUTOFF_FLAG}"
    return int(cfg["expendableCutoff"]), f"the node autoscaler's default {CUTOFF_FLAG}"


def _selectors(model: StackModel, workload: Workload) -> Iterator[str]:
    """What selects the workload's pods: PDBs (policy/v1: an empty selector selects every pod of the namespace),
    Services (an empty selector selects none) and autoscalers targeting it."""
    for pdb in model.of("policy/PodDisruptionBudget"):
        selector = get(pdb.props, "spec", "selector")
        if namespace_of(pdb) == workload.namespace and selector is not None \
                and labels_match(selector, workload.pod_labels):
            yield f"PodDisruptionBudget {workload.namespace}/{metadata_name(pdb.props)}"
    for service in model.of("core/Service"):
        selector = get(service.props, "spec", "selector")
        if namespace_of(service) == workload.namespace and selector and labels_match(selector, workload.pod_labels):
            yield f"Service {workload.namespace}/{metadata_name(service.props)}"
    for autoscaler in workload.autoscalers:
        yield autoscaler.title


def _tolerated(spec: Any) -> set[tuple[str, str, str]]:
    return {(str(get(t, "key", default="")), str(get(t, "value", default="")), str(get(t, "effect", default="")))
            for t in items(spec, "tolerations")}


def _shm(workload: Workload) -> float:
    return sum(quantity(get(v, "emptyDir", "sizeLimit")) or 0.0 for v in items(workload.pod_spec, "volumes")
               if get(v, "emptyDir", "medium") == "Memory")


def _class_of(model: StackModel, workload: Workload) -> Any | None:
    name = get(workload.pod_spec, "priorityClassName")
    return model.priority_class(str(name)) if name else None


def check_headroom(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "headroom-placeholders")
    placeholders = [w for w in model.workloads if model.placeholder(w)]
    if not placeholders:
        return
    cutoff, source = _cutoff(model, cfg)
    browsers = _browsers(model, cfg)
    for workload in placeholders:
        with per_resource("headroom-placeholders", workload.urn):
            found = _class_of(model, workload)
            assert found is not None  # model.placeholder found it
            name, value = metadata_name(found.props), as_int(get(found.props, "value")) or 0
            if value < cutoff:
                report(f"{workload.title} is a placeholder at PriorityClass {name} ({value}), below {source} "
                       f"({cutoff}): pods below the cutoff never make the autoscaler add a node, so an evicted "
                       f"placeholder reserves nothing. Fix: a class value of at least {cutoff} (and below 0).",
                       workload.urn)
            if get(found.props, "preemptionPolicy", default="PreemptLowerPriority") != "Never":
                report(f"{workload.title} is a placeholder whose class {name} may preempt: it would evict lower pods to "
                       "hold capacity no one uses. Fix: preemptionPolicy: Never on the class.", workload.urn)
            for selector in _selectors(model, workload):
                report(f"{workload.title} is a placeholder selected by {selector}: a PDB delays the preemption it "
                       "exists for, a Service routes sessions to a pause container, an autoscaler scales on pods that "
                       "do nothing. Fix: labels (or a namespace) no workload's selector matches.", workload.urn)
            if workload.pod_annotations.get(SAFE_TO_EVICT) == "false":
                report(f"{workload.title} is a placeholder that keeps its node from scale-down "
                       f"({SAFE_TO_EVICT}: \"false\"). Fix: \"true\".", workload.urn)
            _check_stands_in(model, workload, browsers, value, report)


def _check_stands_in(model: StackModel, workload: Workload, browsers: list[Workload], value: int,
                     report: ReportViolation) -> None:
    selector = dict(get(workload.pod_spec, "nodeSelector", default={}) or {})
    tolerations = _tolerated(workload.pod_spec)
    same = [b for b in browsers if dict(get(b.pod_spec, "nodeSelector", default={}) or {}) == selector
            and _tolerated(b.pod_spec) == tolerations]
    if not same:
        report(f"{workload.title} is a placeholder on nodeSelector {selector} that no browser workload shares (same "
               "nodeSelector and tolerations): it keeps nodes warm that no session uses. Fix: copy the browser "
               "pool's nodeSelector, tolerations and affinity.", workload.urn)
        return
    cpu = workload.pod_total("requests", "cpu") or 0.0
    memory = workload.pod_total("requests", "memory") or 0.0
    for browser in same:
        browser_class = _class_of(model, browser)
        browser_value = as_int(get(browser_class.props, "value")) if browser_class is not None else 0
        policy = get(browser_class.props, "preemptionPolicy", default="PreemptLowerPriority") \
            if browser_class is not None else "PreemptLowerPriority"
        if (browser_value or 0) <= value or policy == "Never":
            report(f"{browser.title} cannot preempt the placeholder {workload.title} (its priority {browser_value or 0}, "
                   f"preemptionPolicy {policy}; the placeholder's {value}): the burst waits for new nodes anyway. Fix: a "
                   "browser class above the headroom class that may preempt.", workload.urn)
        needed_cpu = model.pod_cost(browser, "requests", "cpu") or 0.0
        needed_memory = (model.pod_cost(browser, "requests", "memory") or 0.0) + _shm(browser)
        if cpu < needed_cpu or memory < needed_memory:
            report(f"{workload.title} requests {fmt_cpu(cpu)} CPU / {fmt_bytes(memory)} per placeholder, less than one "
                   f"{browser.title} pod ({fmt_cpu(needed_cpu)} / {fmt_bytes(needed_memory)} with sidecar and /dev/shm): "
                   "a preempted placeholder does not free room for the pod it stands for. Fix: size each placeholder "
                   "as one browser pod.", workload.urn)


def policies() -> list[Policy]:
    return [
        resource_policy("priority-class-settings", "PriorityClasses are not globalDefault, stay in the user range and "
                        "are deleted before they are replaced (value and preemptionPolicy are immutable).",
                        check_class_settings,
                        remediation="globalDefault: false; value <= 1e9; replace_on_changes + delete_before_replace.",
                        applies=of_types(PRIORITY_CLASS)),
        stack_policy("priority-class-defined", "Every priorityClassName (pods, Helm values) names a built-in class or "
                     "one of the stack's, which the resource depends on.", check_defined, schema=DEFINED_SCHEMA,
                     remediation="Create the PriorityClass in the stack and depend on it."),
        stack_policy("priority-critical-namespace", "system-node-critical / system-cluster-critical pods outside "
                     "kube-system on GKE have a ResourceQuota scoped to that class in their namespace.",
                     check_critical_namespace, schema=CRITICAL_SCHEMA,
                     remediation="A ResourceQuota with scopeSelector PriorityClass In [<class>], or a class of your own."),
        stack_policy("headroom-placeholders", "Headroom placeholders sit above the autoscaler's expendable cutoff, never "
                     "preempt, are selected by no PDB, Service or autoscaler, and stand in for a browser pool that can "
                     "preempt them.", check_headroom, schema=HEADROOM_SCHEMA,
                     remediation="Class value in [cutoff, 0) with preemptionPolicy Never; own namespace and labels; "
                                 "the browser pool's scheduling and one browser pod's requests."),
    ]

