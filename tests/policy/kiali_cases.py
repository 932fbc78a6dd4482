"""Violating variants for the Kiali and mesh-metrics policies (policy/browser_platform_policies/kiali.py).

The prod stack runs no Kiali (off by default), so the Kiali cases add one built from the component's own pieces
(components/services/kiali.py: its config, its rules, its image) and break exactly one rule of it; the
mesh-metrics cases remove or narrow what the prod stack really renders. tests/test_kiali.py checks the real
Kiali-on stack passes."""

from __future__ import annotations

from typing import Any

import yaml

from components.services.kiali import (
    KIALI,
    KIALI_IMAGE,
    KIALI_NAMESPACE,
    VIEWER_RULES,
    KialiEndpoints,
    kiali_config,
)
from offline.harness import RecordedResource

from .cases import Case, Resources, named, synthetic

CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
CLUSTER_ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
POD_MONITOR = "monitoring.coreos.com/v1:PodMonitor"
NETWORK_POLICY = "networking.k8s.io/v1:NetworkPolicy"

ENDPOINTS = KialiEndpoints(prometheus_url="http://prometheus-operated.monitoring.svc:9090",
                           grafana_url="http://kube-prometheus-stack-grafana.monitoring.svc:80",
                           grafana_link="http://localhost:3000", tempo_url=None)


def _rules(extra: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    rules = [{"apiGroups": groups, "resources": resources, "verbs": verbs} for groups, resources, verbs in VIEWER_RULES]
    return rules + (extra or [])


def add_kiali(resources: Resources, *, config: dict[str, Any] | None = None,
              rules: list[dict[str, Any]] | None = None, role_ref: str = "kiali-viewer") -> dict[str, RecordedResource]:
    """A compliant Kiali (config, Deployment, ClusterRole and binding) appended to `resources`, then returned."""
    document = config if config is not None else kiali_config(ENDPOINTS, "istio-system")
    meta = {"namespace": KIALI_NAMESPACE, "labels": {"app.kubernetes.io/name": KIALI}}
    added = {
        "config": synthetic(CONFIG_MAP, "case-kiali-config", {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": KIALI, **meta},
            "data": {"config.yaml": yaml.safe_dump(document)}}),
        "deployment": synthetic(DEPLOYMENT, "case-kiali-deployment", {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": KIALI, **meta},
            "spec": {"replicas": 2.0, "selector": {"matchLabels": {"app.kubernetes.io/name": KIALI}}, "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": KIALI}},
                "spec": {"serviceAccountName": KIALI, "containers": [{"name": "kiali", "image": KIALI_IMAGE}],
                         "volumes": [{"name": "config", "configMap": {"name": KIALI}}]}}}}),
        "role": synthetic(CLUSTER_ROLE, "case-kiali-role", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "kiali-viewer"}, "rules": rules if rules is not None else _rules()}),
        "binding": synthetic(CLUSTER_ROLE_BINDING, "case-kiali-binding", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "kiali-viewer"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_ref},
            "subjects": [{"kind": "ServiceAccount", "name": KIALI, "namespace": KIALI_NAMESPACE}]}),
    }
    resources.extend(added.values())
    return added


def _config(**changes: Any) -> dict[str, Any]:
    document = kiali_config(ENDPOINTS, "istio-system")
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node: dict[str, Any] = document
        for key in parents:
            node = node[key]
        if value is None:
            node.pop(leaf)
        else:
            node[leaf] = value
    return document


def _anonymous(resources: Resources) -> None:
    add_kiali(resources, config=_config(auth__strategy="anonymous"))


def _strategy_unset(resources: Resources) -> None:
    add_kiali(resources, config=_config(auth__strategy=None))


def _not_view_only(resources: Resources) -> None:
    add_kiali(resources, config=_config(deployment__view_only_mode=False))


def _writes(resources: Resources) -> None:
    add_kiali(resources, rules=_rules([{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch"]}]))


def _reads_secrets(resources: Resources) -> None:
    add_kiali(resources, rules=_rules([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]))


def _port_forward_everywhere(resources: Resources) -> None:
    add_kiali(resources, rules=_rules([{"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["create"]}]))


def _cluster_admin(resources: Resources) -> None:
    add_kiali(resources, role_ref="cluster-admin")


def _no_envoy_monitor(resources: Resources) -> None:
    resources.remove(named(resources, POD_MONITOR, "istio-metrics-envoy-podmonitor"))


def _envoy_monitor_misses_gateway(resources: Resources) -> None:
    monitor = named(resources, POD_MONITOR, "istio-metrics-envoy-podmonitor")
    monitor.inputs["spec"]["namespaceSelector"]["matchNames"] = ["browser-platform"]


def _envoy_port_blocked(resources: Resources) -> None:
    resources.remove(named(resources, NETWORK_POLICY, "network-policies-envoy-metrics-from-monitoring"))


def _no_istiod_monitor(resources: Resources) -> None:
    resources.remove(named(resources, POD_MONITOR, "istio-metrics-istiod-podmonitor"))


KIALI_CASES = [
    Case("kiali-anonymous", "kiali-not-anonymous", _anonymous, "auth.strategy is 'anonymous'", stack="prod"),
    Case("kiali-strategy-unset", "kiali-not-anonymous", _strategy_unset, "auth.strategy is unset", stack="prod"),
    Case("kiali-not-view-only", "kiali-view-only", _not_view_only, "view_only_mode is not true", stack="prod"),
    Case("kiali-role-writes", "kiali-view-only", _writes, "grants patch on deployments", stack="prod"),
    Case("kiali-role-reads-secrets", "kiali-view-only", _reads_secrets, "reads Secrets", stack="prod"),
    Case("kiali-port-forward-cluster-wide", "kiali-view-only", _port_forward_everywhere,
         "outside the Istio root namespace", stack="prod"),
    Case("kiali-bound-to-cluster-admin", "kiali-view-only", _cluster_admin,
         "ClusterRole 'cluster-admin', which this stack does not declare", stack="prod"),
    Case("istio-metrics-no-envoy-monitor", "istio-metrics-scraped", _no_envoy_monitor,
         "Namespace browser-platform runs Envoy proxies but no PodMonitor", stack="prod"),
    Case("istio-metrics-gateway-not-covered", "istio-metrics-scraped", _envoy_monitor_misses_gateway,
         "Namespace istio-ingress runs Envoy proxies but no PodMonitor", stack="prod"),
    Case("istio-metrics-port-blocked", "istio-metrics-scraped", _envoy_port_blocked,
         "Namespace browser-platform denies ingress by default and no NetworkPolicy admits Prometheus", stack="prod"),
    Case("istio-metrics-no-istiod-monitor", "istio-metrics-scraped", _no_istiod_monitor,
         "scrapes istiod's 'http-monitoring' port", stack="prod"),
]
