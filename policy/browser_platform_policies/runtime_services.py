"""Stack policies for settings that the API server accepts but that never take effect once applied.

- `mesh-lb-on-headless-service`: Istio sends traffic for a headless Service (clusterIP None) to the address the
  client chose (passthrough, an ORIGINAL_DST cluster), so a DestinationRule's `loadBalancer` for such a host
  (consistentHash, simple, locality) does nothing: session affinity that only exists on paper.
- `monitoring-crds-upgraded`: Helm installs a chart's `crds/` on the first install and never again, so a
  kube-prometheus-stack release without the chart's CRD upgrade Job (`crds.upgradeJob.enabled`) keeps the
  first version's monitoring.coreos.com CRDs under every later operator.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ReportViolation, StackValidationArgs, StackValidationPolicy

from .config import per_resource, stack_policy
from .model import StackModel, namespace_of
from .props import as_int, get, items, metadata_name
from .stack import _model

CLUSTER_DOMAIN = "cluster.local"


# ---------------------------------------------------------------------------------------------------------
# Load balancing on headless Services
# ---------------------------------------------------------------------------------------------------------

def _service_of_host(host: str, rule_namespace: str) -> tuple[str, str] | None:
    """(namespace, name) of the Kubernetes Service a DestinationRule host names; None for other hosts.

    Istio resolves a short name (`browser`) in the rule's namespace and accepts `name.ns`, `name.ns.svc` and
    the full `name.ns.svc.cluster.local`; wildcards and external names are not Services of the stack.
    """
    if not host or "*" in host:
        return None
    parts = host.split(".")
    if len(parts) == 1:
        return rule_namespace, parts[0]
    if len(parts) == 2 or (len(parts) == 3 and parts[2] == "svc") \
            or (len(parts) > 3 and parts[2] == "svc" and ".".join(parts[3:]) == CLUSTER_DOMAIN):
        return parts[1], parts[0]
    return None


def _headless_services(model: StackModel) -> dict[tuple[str, str], Any]:
    headless: dict[tuple[str, str], Any] = {}
    for service in model.of("core/Service"):
        with per_resource("mesh-lb-on-headless-service", service.urn):
            if get(service.props, "spec", "clusterIP") == "None":
                headless[(namespace_of(service), metadata_name(service.props))] = service
    return headless


def _load_balancer_settings(spec: Any) -> Iterator[str]:
    """Where a DestinationRule spec sets a load balancer: the rule, its ports, its subsets and their ports."""
    policies = [("trafficPolicy", get(spec, "trafficPolicy"))]
    policies += [(f"subsets[{get(s, 'name', default=i)}].trafficPolicy", get(s, "trafficPolicy"))
                 for i, s in enumerate(items(spec, "subsets"))]
    for where, policy in policies:
        if policy is None:
            continue
        if get(policy, "loadBalancer") is not None:
            yield f"{where}.loadBalancer"
        for port in items(policy, "portLevelSettings"):
            if get(port, "loadBalancer") is not None:
                number = as_int(get(port, "port", "number"))
                yield f"{where}.portLevelSettings[{'?' if number is None else number}].loadBalancer"


def check_lb_on_headless(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "mesh-lb-on-headless-service")
    headless = _headless_services(model)
    if not headless:
        return
    for rule in model.of("networking.istio.io/DestinationRule"):
        with per_resource("mesh-lb-on-headless-service", rule.urn):
            host = str(get(rule.props, "spec", "host", default=""))
            service = _service_of_host(host, namespace_of(rule))
            if service is None or service not in headless:
                continue
            for setting in _load_balancer_settings(get(rule.props, "spec")):
                report(f"DestinationRule {namespace_of(rule)}/{metadata_name(rule.props)} sets {setting} for "
                       f"{host}, but Service {service[0]}/{service[1]} is headless (clusterIP None): Istio passes "
                       "its traffic through to the pod address the client picked (ORIGINAL_DST), so the setting "
                       "has no effect. Fix: let the client pick the pod and drop the loadBalancer, or put the "
                       "balanced traffic behind a Service with a cluster IP and hash there.", rule.urn)


# ---------------------------------------------------------------------------------------------------------
# Monitoring CRDs
# ---------------------------------------------------------------------------------------------------------

KUBE_PROMETHEUS_STACK = "kube-prometheus-stack"


def check_monitoring_crds(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "monitoring-crds-upgraded")
    for release in model.releases:
        chart = str(get(release.props, "chart", default=""))
        if chart != KUBE_PROMETHEUS_STACK and not chart.endswith("/" + KUBE_PROMETHEUS_STACK):
            continue
        with per_resource("monitoring-crds-upgraded", release.urn):
            crds = get(release.props, "values", "crds", default={}) or {}
            if get(crds, "enabled") is False:
                continue  # the chart installs no CRDs: whoever installs them owns their upgrades
            if get(crds, "upgradeJob", "enabled") is not True:
                name = get(release.props, "name", default=KUBE_PROMETHEUS_STACK)
                report(f"Helm release {name} ({chart} {get(release.props, 'version', default='')}) installs the "
                       "monitoring.coreos.com CRDs but leaves crds.upgradeJob.enabled off: Helm applies a chart's "
                       "crds/ only on the first install, so every chart bump runs the new operator against the "
                       "old CRDs. Fix: crds.upgradeJob.enabled true (with forceConflicts), or manage the CRDs as "
                       "resources of their own and set crds.enabled false.", release.urn)


def policies() -> list[StackValidationPolicy]:
    return [
        stack_policy("mesh-lb-on-headless-service", "No DestinationRule sets a loadBalancer for a headless Service, "
                     "which Istio passes through to the client's chosen pod.", check_lb_on_headless,
                     remediation="Drop the loadBalancer, or balance behind a Service with a cluster IP."),
        stack_policy("monitoring-crds-upgraded", "kube-prometheus-stack releases upgrade their CRDs with the chart "
                     "(crds.upgradeJob.enabled).", check_monitoring_crds,
                     remediation="Set crds.upgradeJob.enabled: true in the release values."),
    ]
