"""Policies for Kiali and the mesh metrics it reads (components/services/kiali.py, istio_metrics.py).

- `kiali-not-anonymous` (stack): every Kiali (a workload running the `kiali/kiali` image) mounts a config whose
  `auth.strategy` is set and is not `anonymous`: an anonymous Kiali shows the whole mesh (and, unless view-only,
  edits it) to anyone who reaches its port.
- `kiali-view-only` (stack): Kiali's config sets `deployment.view_only_mode: true`, and the roles bound to its
  ServiceAccount read only: get/list/watch, plus `create` on tokenreviews (checking login tokens) and on
  `pods/portforward` in a Role of the Istio root namespace (istiod's debug endpoint); no Secrets, no wildcard verb or
  core-group wildcard resource, and no binding to a role the stack does not declare (it cannot be checked).
- `istio-metrics-scraped` (stack): with istiod and kube-prometheus-stack in the stack, every namespace with Envoy
  proxies (injection label, the gateway release's namespace) is covered by a PodMonitor scraping `http-envoy-prom`
  (15090), istiod by a monitor on `http-monitoring`, and in each such namespace that denies ingress by default a
  NetworkPolicy admits the monitoring namespace on 15090 for every pod. Istio leaves 15090 out of inbound capture,
  so mTLS does not stop the scrape; a NetworkPolicy does, and then Kiali's graph and every istio_* query are empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml
from pulumi_policy import ReportViolation, StackValidationArgs, StackValidationPolicy

from .config import per_resource, stack_policy
from .model import StackModel, Workload, namespace_of
from .props import as_int, get, items, labels_match, metadata_name, running_containers, selector_is_empty, truthy
from .stack import _model

KIALI_IMAGE = "kiali/kiali"
READ_VERBS = {"get", "list", "watch"}
ALLOWED_STRATEGIES = {"token", "openid", "openshift", "header"}
ENVOY_PORT_NAME = "http-envoy-prom"
ENVOY_PORT = 15090
ISTIOD_PORT_NAME = "http-monitoring"
INJECTION_LABELS = {"istio-injection": "enabled"}


def _repository(image: str) -> str:
    name = image.split("@", 1)[0]
    head, _, tail = name.rpartition(":")
    return head if head and "/" not in tail else name


def kiali_workloads(model: StackModel) -> list[Workload]:
    return [w for w in model.workloads
            if any(_repository(str(get(ref.container, "image", default=""))).endswith(KIALI_IMAGE)
                   for ref in running_containers(w.pod_spec))]


def kiali_config(model: StackModel, workload: Workload) -> tuple[Any, dict[str, Any]] | None:
    """(ConfigMap, parsed config.yaml) of the ConfigMap the Kiali pod mounts that holds `config.yaml`."""
    names = {str(get(volume, "configMap", "name")) for volume in items(workload.pod_spec, "volumes")
             if get(volume, "configMap", "name")}
    for config_map in model.of("core/ConfigMap"):
        if namespace_of(config_map) != workload.namespace or metadata_name(config_map.props) not in names:
            continue
        text = get(config_map.props, "data", "config.yaml")
        if text is None:
            continue
        try:
            parsed = yaml.safe_load(str(text))
        except yaml.YAMLError:
            parsed = None
        return config_map, parsed if isinstance(parsed, dict) else {}
    return None


def check_not_anonymous(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "kiali-not-anonymous")
    for workload in kiali_workloads(model):
        with per_resource("kiali-not-anonymous", workload.urn):
            found = kiali_config(model, workload)
            if found is None:
                report(f"{workload.title} runs Kiali but mounts no ConfigMap with config.yaml, so its login strategy "
                       "is whatever the image defaults to. Fix: mount a config that sets auth.strategy: token.",
                       workload.urn)
                continue
            config_map, config = found
            strategy = get(config, "auth", "strategy")
            if strategy is None or str(strategy) not in ALLOWED_STRATEGIES:
                shown = "unset" if strategy is None else f"'{strategy}'"
                report(f"{workload.title}: Kiali's auth.strategy is {shown} (ConfigMap "
                       f"{namespace_of(config_map)}/{metadata_name(config_map.props)}): with anonymous access "
                       "anyone who reaches its port sees every namespace's services, traffic and Istio config. Fix: "
                       f"set auth.strategy to one of {', '.join(sorted(ALLOWED_STRATEGIES))} (token: log in with "
                       "`kubectl create token`).", config_map.urn)


def _service_account(workload: Workload) -> tuple[str, str]:
    return workload.namespace, str(get(workload.pod_spec, "serviceAccountName", default="default") or "default")


def _bindings(model: StackModel, account: tuple[str, str]) -> list[tuple[Any, str, str, str | None]]:
    """(binding, roleRef kind, roleRef name, binding namespace or None) of every binding naming `account`."""
    found = []
    for group_kind, namespaced in (("rbac.authorization.k8s.io/ClusterRoleBinding", False),
                                   ("rbac.authorization.k8s.io/RoleBinding", True)):
        for binding in model.of(group_kind):
            where = namespace_of(binding) if namespaced else None
            for subject in items(binding.props, "subjects"):
                if get(subject, "kind") != "ServiceAccount":
                    continue
                subject_ns = str(get(subject, "namespace", default=where or "") or where or "")
                if (subject_ns, str(get(subject, "name", default=""))) == account:
                    found.append((binding, str(get(binding.props, "roleRef", "kind", default="")),
                                  str(get(binding.props, "roleRef", "name", default="")), where))
    return found


def _role(model: StackModel, kind: str, name: str, namespace: str | None) -> Any | None:
    group_kind = f"rbac.authorization.k8s.io/{kind}"
    return next((r for r in model.of(group_kind) if metadata_name(r.props) == name
                 and (kind == "ClusterRole" or namespace_of(r) == namespace)), None)


def _rule_problems(rule: Any, binding_namespace: str | None, istio_namespace: str) -> list[str]:
    verbs = {str(v) for v in items(rule, "verbs")}
    groups = {str(g) for g in items(rule, "apiGroups")}
    resources = {str(r) for r in items(rule, "resources")}
    problems = []
    if "*" in verbs:
        problems.append("grants every verb ('*')")
    if "secrets" in resources or ("*" in resources and groups & {"", "*"}):
        problems.append("reads Secrets")
    writes = verbs - READ_VERBS - {"*"}
    if writes:
        allowed = (writes == {"create"} and groups <= {"authentication.k8s.io"} and resources <= {"tokenreviews"}) or (
            writes == {"create"} and groups <= {""} and resources <= {"pods/portforward"}
            and binding_namespace == istio_namespace)
        if not allowed:
            problems.append(f"grants {', '.join(sorted(writes))} on {', '.join(sorted(resources)) or 'nothing'}"
                            + (" outside the Istio root namespace" if "pods/portforward" in resources else ""))
    return problems


def check_view_only(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "kiali-view-only")
    for workload in kiali_workloads(model):
        with per_resource("kiali-view-only", workload.urn):
            found = kiali_config(model, workload)
            config = found[1] if found is not None else {}
            urn = found[0].urn if found is not None else workload.urn
            if truthy(get(config, "deployment", "view_only_mode")) is not True:
                report(f"{workload.title}: Kiali's deployment.view_only_mode is not true, so its UI offers to edit "
                       "Istio config and workloads. Fix: set deployment.view_only_mode: true.", urn)
            istio_namespace = str(get(config, "external_services", "istio", "root_namespace", default="")
                                  or "istio-system")
            account = _service_account(workload)
            for binding, kind, name, where in _bindings(model, account):
                role = _role(model, kind, name, where)
                subject = f"ServiceAccount {account[0]}/{account[1]}"
                if role is None:
                    report(f"{subject} (Kiali) is bound to {kind} '{name}', which this stack does not declare, so "
                           "nothing shows it is read-only. Fix: bind a role of the stack that lists Kiali's read rules.",
                           binding.urn)
                    continue
                for index, rule in enumerate(items(role.props, "rules")):
                    for problem in _rule_problems(rule, where, istio_namespace):
                        report(f"{subject} (Kiali, view-only) is bound to {kind} '{name}', whose rule {index} "
                               f"{problem}. Fix: Kiali reads (get/list/watch); only tokenreviews create, and "
                               f"pods/portforward create in a Role of {istio_namespace}, are more.", role.urn)


def _monitor_namespaces(monitor: Any) -> set[str] | None:
    """Namespaces a monitor scrapes (None: all)."""
    if truthy(get(monitor.props, "spec", "namespaceSelector", "any")):
        return None
    names = {str(n) for n in items(monitor.props, "spec", "namespaceSelector", "matchNames")}
    return names or {namespace_of(monitor)}


def _scrapes(monitor: Any, port_name: str, port: int) -> bool:
    endpoints = items(monitor.props, "spec", "podMetricsEndpoints") + items(monitor.props, "spec", "endpoints")
    return any(str(get(e, "port", default="")) == port_name or as_int(get(e, "portNumber")) == port
               or str(get(e, "targetPort", default="")) in (port_name, str(port)) for e in endpoints)


def _envoy_namespaces(model: StackModel) -> set[str]:
    namespaces = {name for name, labels in model.namespaces.items()
                  if all(labels.get(k) == v for k, v in INJECTION_LABELS.items()) or labels.get("istio.io/rev")}
    gateway = model.release("gateway")
    if gateway is not None and get(gateway.props, "namespace"):
        namespaces.add(str(get(gateway.props, "namespace")))
    return namespaces


def _admits(policy: Any, source_namespace: str, port: int) -> bool:
    """A NetworkPolicy for every pod of its namespace admitting `source_namespace` on `port`."""
    if not selector_is_empty(get(policy.props, "spec", "podSelector", default={})):
        return False
    for rule in items(policy.props, "spec", "ingress"):
        peers = items(rule, "from")
        from_source = not peers or any(
            get(peer, "ipBlock") is None and get(peer, "namespaceSelector") is not None
            and labels_match(get(peer, "namespaceSelector"), {"kubernetes.io/metadata.name": source_namespace})
            and selector_is_empty(get(peer, "podSelector", default={})) for peer in peers)
        ports = items(rule, "ports")
        on_port = not ports or any(str(get(p, "protocol", default="TCP")) == "TCP"
                                   and (get(p, "port") is None or as_int(get(p, "port")) == port
                                        or str(get(p, "port")) == ENVOY_PORT_NAME) for p in ports)
        if from_source and on_port:
            return True
    return False


def _denies_ingress(policy: Any) -> bool:
    types = {str(t) for t in items(policy.props, "spec", "policyTypes")}
    return selector_is_empty(get(policy.props, "spec", "podSelector", default={})) and "Ingress" in types


def check_istio_metrics(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "istio-metrics-scraped")
    istiod = model.release("istiod")
    monitoring = model.release("kube-prometheus-stack")
    if istiod is None or monitoring is None:
        return
    monitoring_ns = str(get(monitoring.props, "namespace", default="monitoring") or "monitoring")
    monitors = model.of("monitoring.coreos.com/PodMonitor") + model.of("monitoring.coreos.com/ServiceMonitor")
    envoy = [m for m in monitors if _scrapes(m, ENVOY_PORT_NAME, ENVOY_PORT)]
    for namespace in sorted(_envoy_namespaces(model)):
        covering = [m for m in envoy if (_monitor_namespaces(m) is None or namespace in (_monitor_namespaces(m) or ()))]
        workloads = [w for w in model.workloads if w.namespace == namespace]
        selected = any(all(labels_match(get(m.props, "spec", "selector", default={}), w.pod_labels) for w in workloads)
                       for m in covering)
        if not covering or not selected:
            report(f"Namespace {namespace} runs Envoy proxies but no PodMonitor scrapes their '{ENVOY_PORT_NAME}' "
                   f"port ({ENVOY_PORT}) on every pod: istio_requests_total and the other mesh metrics are missing "
                   "for it, so Kiali's graph and the traffic dashboards show nothing there. Fix: a PodMonitor with "
                   f"podMetricsEndpoints port {ENVOY_PORT_NAME}, path /stats/prometheus, covering this namespace.",
                   istiod.urn)
        policies = [p for p in model.of("networking.k8s.io/NetworkPolicy") if namespace_of(p) == namespace]
        if any(_denies_ingress(p) for p in policies) and not any(_admits(p, monitoring_ns, ENVOY_PORT)
                                                                  for p in policies):
            report(f"Namespace {namespace} denies ingress by default and no NetworkPolicy admits Prometheus "
                   f"(namespace {monitoring_ns}) on Envoy's port {ENVOY_PORT} for every pod: each scrape times out. "
                   "Fix: a NetworkPolicy with an empty podSelector admitting that namespace on TCP "
                   f"{ENVOY_PORT}.", istiod.urn)
    istio_ns = str(get(istiod.props, "namespace", default="istio-system") or "istio-system")
    if not any(_scrapes(m, ISTIOD_PORT_NAME, 15014) and (_monitor_namespaces(m) is None
                                                         or istio_ns in (_monitor_namespaces(m) or ()))
               for m in monitors):
        report(f"No PodMonitor or ServiceMonitor scrapes istiod's '{ISTIOD_PORT_NAME}' port (15014) in {istio_ns}: "
               "the control plane's push and config-error metrics are missing. Fix: a monitor on that port.",
               istiod.urn)


def policies() -> list[StackValidationPolicy]:
    return [
        stack_policy("kiali-not-anonymous", "Kiali requires a login (auth strategy token, openid, openshift or "
                     "header), never anonymous.", check_not_anonymous,
                     remediation="Set auth.strategy: token in Kiali's config (observability.kiali)."),
        stack_policy("kiali-view-only", "Kiali runs view-only and its ServiceAccount's roles only read.",
                     check_view_only,
                     remediation="Set deployment.view_only_mode: true and bind Kiali only to read rules."),
        stack_policy("istio-metrics-scraped", "Prometheus scrapes every Envoy (15090) and istiod, and no "
                     "NetworkPolicy blocks it.", check_istio_metrics,
                     remediation="Add the Envoy and istiod PodMonitors and admit the monitoring namespace on 15090."),
    ]
