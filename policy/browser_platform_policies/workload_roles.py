"""Policies keyed on workload roles (api, browser, worker), read from the pods' role label, never from a name.

The program labels every workload's pods `app.kubernetes.io/component: <role>` (components/labels.py ROLE_LABEL),
however the workload is named (`chrome`, `firefox`, `agents`...). These rules hold for every workload of a role:

- `browser-egress-internet-only` (stack): a browser pod runs untrusted pages, so the NetworkPolicies selecting it
  must admit egress only to public addresses (ipBlocks whose ranges, after `except`, miss every internal range),
  to DNS and to the mesh control plane (`allowedNamespaces`), never to a pod of its own namespace (an API, a
  worker, another pool) or an internal address (the nodes, the metadata service, the data stores). A browser pod
  that no egress policy selects is open to everything, which is reported too.
- `browser-never-a-caller` (stack): no ingress rule admits browser pods as a source (a podSelector that selects
  them): callers are declared APIs and workers (`calls` in the stack config), a compromised page must not reach
  an API, a worker or another pool.
- `worker-no-service` (stack): nothing calls a worker, so no Service selects worker pods (Prometheus scrapes
  them through a PodMonitor); a Service would give them an address every pod of the cluster can resolve.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from pulumi_policy import Policy, ReportViolation, StackValidationArgs

from .config import Schema, per_resource, stack_policy, string_list
from .model import Workload, namespace_of
from .props import get, items, labels_match, metadata_name, selector_is_empty, str_map
from .stack import _model

ROLE_SCHEMA: Schema = {
    "roleLabel": {"type": "string", "default": "app.kubernetes.io/component",
                  "description": "Pod label that carries a workload's role (api, browser, worker)."},
}
EGRESS_SCHEMA: Schema = {
    **ROLE_SCHEMA,
    "internalCidrs": string_list("Ranges a browser pod may never reach (private, CGNAT, link-local incl. the "
                                 "metadata address).",
                                 ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16"]),
    "allowedNamespaces": string_list("Namespaces whose pods a browser pod may reach (DNS, the mesh control plane).",
                                     ["kube-system", "istio-system"]),
}


def _with_role(workloads: list[Workload], cfg: Mapping[str, Any], role: str) -> list[Workload]:
    return [w for w in workloads if w.pod_labels.get(str(cfg["roleLabel"])) == role]


def _policy_types(policy: Any) -> list[str]:
    explicit = [str(t) for t in items(policy.props, "spec", "policyTypes")]
    if explicit:
        return explicit
    return ["Ingress", "Egress"] if get(policy.props, "spec", "egress") is not None else ["Ingress"]


def _selecting(policies: list[Any], workload: Workload, direction: str) -> list[Any]:
    found = []
    for policy in policies:
        if namespace_of(policy) != workload.namespace or direction not in _policy_types(policy):
            continue
        selector = get(policy.props, "spec", "podSelector", default={})
        if selector_is_empty(selector) or labels_match(selector, workload.pod_labels):
            found.append(policy)
    return found


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _bounds(network: Network) -> tuple[int, int, int]:
    return network.version, int(network.network_address), int(network.broadcast_address)


def _internal_overlap(block: Any, internal: list[Network]) -> str | None:
    """The first internal range an ipBlock admits some address of (after its `except` list), or None."""
    version, low, high = _bounds(ipaddress.ip_network(str(get(block, "cidr")), strict=False))
    excepted = [_bounds(ipaddress.ip_network(str(c), strict=False)) for c in items(block, "except")]
    for network in internal:
        n_version, n_low, n_high = _bounds(network)
        if n_version != version or n_high < low or n_low > high:
            continue
        # CIDR blocks nest, so the admitted internal addresses are the smaller of the two blocks.
        part_low, part_high = max(low, n_low), min(high, n_high)
        if not any(v == version and e_low <= part_low and e_high >= part_high for v, e_low, e_high in excepted):
            return str(network)
    return None


def _egress_problem(peer: Any, cfg: Mapping[str, Any], internal: list[Network]) -> str | None:
    if get(peer, "ipBlock") is not None:
        overlap = _internal_overlap(get(peer, "ipBlock"), internal)
        return f"the internal range {overlap} (ipBlock {get(peer, 'ipBlock', 'cidr')})" if overlap else None
    namespace_selector = get(peer, "namespaceSelector")
    if namespace_selector is None:
        return f"pods of its own namespace ({str_map(peer, 'podSelector', 'matchLabels') or 'all'})"
    names = str_map(namespace_selector, "matchLabels")
    namespace = names.get("kubernetes.io/metadata.name")
    if namespace in cfg["allowedNamespaces"]:
        return None
    return f"pods of namespace {namespace or names or 'any'}"


def check_browser_egress(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "browser-egress-internet-only")
    internal = [ipaddress.ip_network(str(c), strict=False) for c in cfg["internalCidrs"]]
    policies = model.of("networking.k8s.io/NetworkPolicy")
    for workload in _with_role(model.workloads, cfg, "browser"):
        with per_resource("browser-egress-internet-only", workload.urn):
            selecting = _selecting(policies, workload, "Egress")
            if not selecting:
                report(f"{workload.title} is a browser pod (role label) that no egress NetworkPolicy selects, so it "
                       "may reach every pod and internal address. Fix: a default-deny plus an internet-only egress "
                       "rule (0.0.0.0/0 except the internal ranges).", workload.urn)
                continue
            for policy in selecting:
                for rule in items(policy.props, "spec", "egress"):
                    peers = items(rule, "to")
                    problems = [p for p in (_egress_problem(peer, cfg, internal) for peer in peers) if p]
                    if not peers:
                        problems = ["every destination (a rule with no `to`)"]
                    for problem in problems:
                        report(f"NetworkPolicy {namespace_of(policy)}/{metadata_name(policy.props)} lets browser "
                               f"{workload.title} reach {problem}: a browser pod runs untrusted pages and may reach "
                               "only the internet, DNS and the mesh control plane. Fix: remove the rule, or narrow "
                               "it to public addresses.", policy.urn)


def check_browser_never_a_caller(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "browser-never-a-caller")
    browsers = _with_role(model.workloads, cfg, "browser")
    for policy in model.of("networking.k8s.io/NetworkPolicy"):
        namespace = namespace_of(policy)
        with per_resource("browser-never-a-caller", policy.urn):
            if "Ingress" not in _policy_types(policy):
                continue
            for rule in items(policy.props, "spec", "ingress"):
                for peer in items(rule, "from"):
                    pod_selector = get(peer, "podSelector")
                    if pod_selector is None or get(peer, "ipBlock") is not None:
                        continue
                    namespace_selector = get(peer, "namespaceSelector")
                    for browser in browsers:
                        same_namespace = browser.namespace == namespace if namespace_selector is None else (
                            selector_is_empty(namespace_selector) or labels_match(
                                namespace_selector, {"kubernetes.io/metadata.name": browser.namespace}))
                        if same_namespace and (selector_is_empty(pod_selector)
                                               or labels_match(pod_selector, browser.pod_labels)):
                            report(f"NetworkPolicy {namespace}/{metadata_name(policy.props)} admits browser "
                                   f"{browser.title} as a source: browser pods run untrusted pages and call nothing "
                                   "(only APIs and workers are callers, by their declared `calls`). Fix: narrow the "
                                   "rule's podSelector to the calling workloads.", policy.urn)


def check_worker_no_service(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "worker-no-service")
    workers = _with_role(model.workloads, cfg, "worker")
    for service in model.of("core/Service"):
        selector = str_map(service.props, "spec", "selector")
        if not selector:
            continue
        for worker in workers:
            if namespace_of(service) == worker.namespace and labels_match(selector, worker.pod_labels):
                report(f"Service {namespace_of(service)}/{metadata_name(service.props)} selects worker {worker.title}: "
                       "nothing calls a worker, so it gets no Service (Prometheus scrapes it through a PodMonitor). "
                       "Fix: remove the Service, or give the workload role api.", service.urn)


def policies() -> list[Policy]:
    return [
        stack_policy("browser-egress-internet-only", "Browser pods (by role label) may reach only the internet, DNS "
                     "and the mesh control plane.", check_browser_egress, schema=EGRESS_SCHEMA,
                     remediation="Internet-only egress for browser pods: 0.0.0.0/0 except the internal ranges."),
        stack_policy("browser-never-a-caller", "No NetworkPolicy admits browser pods (by role label) as a source.",
                     check_browser_never_a_caller, schema=ROLE_SCHEMA,
                     remediation="Admit only the declared callers (api and worker pods) on each ingress rule."),
        stack_policy("worker-no-service", "No Service selects worker pods (by role label).", check_worker_no_service,
                     schema=ROLE_SCHEMA, remediation="Workers get no Service; use role api for a called workload."),
    ]
