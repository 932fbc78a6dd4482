"""kube-prometheus-stack, and what makes it watch the platform: ServiceMonitors, alerts and dashboards.

Two components, because the workloads sit between them:
- `MonitoringStack` (before the workloads): the namespace, the Grafana admin secret, the chart, the dashboards.
- `PlatformMonitors` (after the workloads): ServiceMonitors on the `metrics` port and the PrometheusRule, created
  after the release that installs the monitoring.coreos.com CRDs.

Prometheus selects every ServiceMonitor and PrometheusRule in the cluster (the `*SelectorNilUsesHelmValues: false`
settings); ours also carry the `release` label of the chart's convention.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from capacity import platform_services as sizes
from stack_config.addons import MonitoringSettings

from ..clusters.handle import StorageClassRef
from ..common import charts
from ..common import metrics_contract as m
from ..common.labels import PART_OF, selector_labels
from ..common.webhook_ports import PROMETHEUS_OPERATOR_WEBHOOK
from .alerting import AlertReceivers, alerting_values, receiver_secret
from .priority_classes import SERVICES_CLASS

MONITORING_NAMESPACE = "monitoring"
RELEASE_NAME = "kube-prometheus-stack"
PROMETHEUS_URL = f"http://prometheus-operated.{MONITORING_NAMESPACE}.svc:9090"
"""The operator's own Service in front of every Prometheus pod; its name does not depend on the release."""
GRAFANA_SERVICE = f"{RELEASE_NAME}-grafana"
GRAFANA_ADMIN_SECRET = "grafana-admin"
DASHBOARD_LABEL = {"grafana_dashboard": "1"}
"""What the Grafana dashboard sidecar of the chart looks for (its default label and value)."""


def crd_upgrade_values() -> dict[str, object]:
    """The chart's CRD upgrade Job (`crds.upgradeJob`): Helm installs a chart's `crds/` once and never upgrades
    them, so without it a chart bump runs the new prometheus-operator against the old monitoring.coreos.com
    CRDs (new fields pruned, new kinds missing). The Job is a pre-install/pre-upgrade/pre-rollback hook: it
    server-side applies the CRDs packaged in the very chart version being installed (`charts.KUBE_PROMETHEUS_STACK`)
    before the operator rolls. `forceConflicts`: the CRDs Helm created on the first install are owned by Helm's
    field manager, so a changed field would otherwise be a conflict and fail the upgrade. Its pod runs as
    65534 with RuntimeDefault seccomp and no capabilities (the chart's defaults), which Pod Security
    `restricted` admits; the monitoring namespace is privileged for node-exporter anyway. The kubectl image tag
    follows the cluster's Kubernetes version (the chart's default); busybox is pinned in components/common/charts.py.
    """
    return {
        "enabled": True,
        "forceConflicts": True,
        "image": {"busybox": {"tag": charts.CRD_UPGRADE_BUSYBOX_TAG}},
        "resources": sizes.CRD_UPGRADE_JOB.resource_values(),
    }


def _budget(replicas: int) -> dict[str, object]:
    """A PDB for Prometheus / Alertmanager when there is more than one: the chart's minAvailable 1 then always
    leaves one eviction for a drain; a single pod gets none (it would block the drain)."""
    return {"enabled": replicas > 1}


def chart_values(settings: MonitoringSettings, highly_available: bool, storage_class: str) -> dict[str, object]:
    """The chart's values. Requests, limits and replicas come from capacity/platform_services.py (layer "monitoring"),
    which the capacity model counts on the pool that carries these pods; the chart's defaults (no requests for
    Alertmanager, Grafana, kube-state-metrics, the operator, node-exporter) are replaced by explicit ones."""
    return {
        "fullnameOverride": RELEASE_NAME,
        "crds": {"enabled": True, "upgradeJob": crd_upgrade_values()},
        # Managed control planes (EKS, GKE) hide these; kind's bind to localhost. Scraping them only raises alerts.
        "kubeEtcd": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeControllerManager": {"enabled": False},
        "kubeProxy": {"enabled": False},
        "prometheus": {"prometheusSpec": {
            "retention": settings.retention,
            "scrapeInterval": settings.scrape_interval,
            # Select every ServiceMonitor/PodMonitor/PrometheusRule, not only those labelled for this release.
            "serviceMonitorSelectorNilUsesHelmValues": False,
            "podMonitorSelectorNilUsesHelmValues": False,
            "ruleSelectorNilUsesHelmValues": False,
            "storageSpec": {"volumeClaimTemplate": {"spec": {
                # Named, never left to the cluster default: EKS has none (components/clusters/storage.py).
                "storageClassName": storage_class,
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": settings.storage_size}},
            }}},
            "replicas": sizes.prometheus_replicas(highly_available).max,
            "resources": sizes.PROMETHEUS.resource_values(),
            "priorityClassName": SERVICES_CLASS,
        }, "podDisruptionBudget": _budget(sizes.prometheus_replicas(highly_available).min)},
        "alertmanager": {"alertmanagerSpec": {
            "replicas": sizes.alertmanager_replicas(highly_available).max,
            "resources": sizes.ALERTMANAGER.resource_values(),
            "priorityClassName": SERVICES_CLASS,
        }, "podDisruptionBudget": _budget(sizes.alertmanager_replicas(highly_available).min)},
        "grafana": {
            "replicas": sizes.GRAFANA_REPLICAS.max,
            "resources": sizes.GRAFANA.resource_values(),
            # The admin login comes from a Secret Pulumi writes from secret config, never from chart values.
            "admin": {"existingSecret": GRAFANA_ADMIN_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
            "sidecar": {
                "dashboards": {"enabled": True, "label": "grafana_dashboard", "labelValue": "1"},
                "resources": sizes.GRAFANA_SIDECAR.resource_values(),  # each sidecar: dashboards, datasources
            },
            "persistence": {"enabled": False},
            "priorityClassName": SERVICES_CLASS,
        },
        "kube-state-metrics": {
            "replicas": sizes.KUBE_STATE_METRICS_REPLICAS.max,
            "resources": sizes.KUBE_STATE_METRICS.resource_values(),
            "priorityClassName": SERVICES_CLASS,
        },
        "prometheusOperator": {
            # The API server calls its admission webhook on this port (components/common/webhook_ports.py).
            "tls": {"internalPort": PROMETHEUS_OPERATOR_WEBHOOK.port},
            "resources": sizes.PROMETHEUS_OPERATOR.resource_values(),
            "prometheusConfigReloader": {"resources": sizes.CONFIG_RELOADER.resource_values()},
            "priorityClassName": SERVICES_CLASS,
            "admissionWebhooks": {"patch": {"priorityClassName": SERVICES_CLASS}},
        },
        # A DaemonSet pod that finds its node full preempts lower-priority pods (browser sessions, headroom) to start.
        "prometheus-node-exporter": {"resources": sizes.NODE_EXPORTER.resource_values(),
                                     "priorityClassName": SERVICES_CLASS},
    }


@dataclass(frozen=True)
class MonitoringStackArgs:
    settings: MonitoringSettings
    grafana_admin_password: str
    platform_namespace: str
    highly_available: bool
    storage_class: StorageClassRef
    """The class Prometheus' volume names; the release waits for it when the stack creates it."""
    priority_classes: list[pulumi.Resource] = field(default_factory=list)
    """The PriorityClasses its pods name: the release waits for them (a pod naming a missing class is rejected)."""
    alert_receivers: AlertReceivers | None = None
    """Alertmanager routes and the credentials of its receivers (components/services/alerting.py); None: the chart's own."""
    extra_values: dict[str, object] = field(default_factory=dict)
    api_services: list[str] = field(default_factory=lambda: ["api"])
    """The api-role workloads and the browser pools the dashboards show (Services named after the workloads)."""
    browser_services: list[str] = field(default_factory=lambda: ["browser"])
    """Values other services add to the chart (e.g. Grafana data sources, components/services/tracing.py), merged in."""


class MonitoringStack(pulumi.ComponentResource):
    release: k8s.helm.v3.Release
    namespace_name: str

    def __init__(self, name: str, args: MonitoringStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:addons:MonitoringStack", name, None, opts)
        self.namespace_name = MONITORING_NAMESPACE
        # node-exporter needs the host's network and PID namespaces.
        namespace = charts.system_namespace(f"{name}-namespace", MONITORING_NAMESPACE, pod_security="privileged",
                                            parent=self)
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        labels = {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": "pulumi"}
        admin = k8s.core.v1.Secret(
            f"{name}-grafana-admin",
            metadata=ObjectMetaArgs(name=GRAFANA_ADMIN_SECRET, namespace=MONITORING_NAMESPACE, labels=labels),
            type="Opaque",
            string_data={"admin-user": "admin", "admin-password": pulumi.Output.secret(args.grafana_admin_password)},
            opts=in_namespace,
        )
        values, before_release = self._observability(name, args, in_namespace)
        self.release = charts.helm_release(
            f"{name}-release", charts.KUBE_PROMETHEUS_STACK, namespace=MONITORING_NAMESPACE, release_name=RELEASE_NAME,
            values=values, timeout_seconds=900,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, admin, *args.storage_class.depends_on,
                                                                 *before_release, *args.priority_classes]),
        )
        for dashboard_name, dashboard in dashboards(args.platform_namespace, args.api_services,
                                                    args.browser_services).items():
            k8s.core.v1.ConfigMap(
                f"{name}-dashboard-{dashboard_name}",
                metadata=ObjectMetaArgs(name=f"dashboard-{dashboard_name}", namespace=MONITORING_NAMESPACE,
                                        labels={**labels, **DASHBOARD_LABEL}),
                data={f"{dashboard_name}.json": json.dumps(dashboard, indent=1, sort_keys=True)},
                opts=in_namespace,
            )
        self.register_outputs({"version": charts.KUBE_PROMETHEUS_STACK.version, "grafanaService": GRAFANA_SERVICE})

    def _observability(self, name: str, args: MonitoringStackArgs,
                       opts: pulumi.ResourceOptions) -> tuple[dict[str, object], list[pulumi.Resource]]:
        """The chart values with alert routing and other services' additions merged in, and the receivers'
        Secret, which must exist before Alertmanager's pods mount it."""
        values = chart_values(args.settings, args.highly_available, args.storage_class.name)
        # Grafana provisions data sources with `prune`: one removed from the values (tracing off) is removed from
        # Grafana too, instead of lingering with a dead URL.
        values = merged(values, {"grafana": {"prune": True}})
        before: list[pulumi.Resource] = []
        if args.alert_receivers is not None:
            values = merged(values, alerting_values(args.alert_receivers.settings))
            secret = receiver_secret(name, args.alert_receivers, MONITORING_NAMESPACE, opts)
            if secret is not None:
                before.append(secret)
        return merged(values, args.extra_values), before


def merged(base: dict[str, object], extra: dict[str, object]) -> dict[str, object]:
    """`extra` merged into a copy of `base` the way Helm merges values: maps recursively, anything else replaced."""
    result = dict(base)
    for key, value in extra.items():
        current = result.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            result[key] = merged(current, value)
        else:
            result[key] = value
    return result


@dataclass(frozen=True)
class PlatformMonitorsArgs:
    namespace: str
    components: list[str]
    crd_release: pulumi.Resource
    workloads: pulumi.Resource
    browser_grace_seconds: int
    pod_components: list[str] = field(default_factory=list)
    """Workloads without a Service (workers): scraped through a PodMonitor instead of a ServiceMonitor."""
    api_services: list[str] = field(default_factory=lambda: ["api"])
    """The api-role workloads (Services and Deployments are named after them): the API alerts read these."""
    browser_services: list[str] = field(default_factory=lambda: ["browser"])
    """The browser pools: the session and drain alerts read these."""


class PlatformMonitors(pulumi.ComponentResource):
    def __init__(self, name: str, args: PlatformMonitorsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:addons:PlatformMonitors", name, None, opts)
        labels = {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": "pulumi",
                  "release": RELEASE_NAME}
        after = pulumi.ResourceOptions(parent=self, depends_on=[args.crd_release, args.workloads])
        # Workloads with a Service are scraped through it, workers (no Service) through their pods.
        monitors = [(component, "ServiceMonitor", "endpoints") for component in args.components] + [
            (component, "PodMonitor", "podMetricsEndpoints") for component in args.pod_components]
        for component, kind, endpoints in monitors:
            k8s.apiextensions.CustomResource(
                f"{name}-{component}-{kind.lower()}",
                api_version="monitoring.coreos.com/v1",
                kind=kind,
                metadata=ObjectMetaArgs(name=component, namespace=args.namespace, labels=labels),
                spec={
                    "selector": {"matchLabels": selector_labels(component)},
                    "namespaceSelector": {"matchNames": [args.namespace]},
                    endpoints: [{"port": m.METRICS_PORT_NAME, "path": m.METRICS_PATH, "interval": "15s",
                                 "scheme": "http"}],
                },
                opts=after,
            )
        k8s.apiextensions.CustomResource(
            f"{name}-alerts",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata=ObjectMetaArgs(name="browser-platform-alerts", namespace=args.namespace, labels=labels),
            spec={"groups": [{"name": "browser-platform", "rules": alert_rules(
                args.namespace, args.browser_grace_seconds, args.api_services, args.browser_services)}]},
            opts=after,
        )
        self.register_outputs({})


def _alert(name: str, expr: str, duration: str, severity: str, summary: str, description: str) -> dict[str, object]:
    return {"alert": name, "expr": expr, "for": duration, "labels": {"severity": severity},
            "annotations": {"summary": summary, "description": description}}


def alert_rules(namespace: str, browser_grace_seconds: int, apis: Sequence[str] = ("api",),
                pools: Sequence[str] = ("browser",)) -> list[dict[str, object]]:
    """The seeds' alerts, for the platform namespace: `apis` and `pools` are the workloads of each role (their
    Services and Deployments are named after them)."""
    ns = f'namespace="{namespace}"'
    containers = f'{ns},container!="",container!="POD"'
    return [
        _alert("PodHighCpu",
               f"sum by (pod) (rate(container_cpu_usage_seconds_total{{{containers}}}[5m]))"
               f" / sum by (pod) (kube_pod_container_resource_limits{{{ns},resource=\"cpu\"}}) > 0.9",
               "5m", "warning", "Pod {{ $labels.pod }} uses more than 90% of its CPU limit",
               "CPU is throttled at the limit; scale out or raise the limit."),
        _alert("PodHighMemory",
               f"sum by (pod) (container_memory_working_set_bytes{{{containers}}})"
               f" / sum by (pod) (kube_pod_container_resource_limits{{{ns},resource=\"memory\"}}) > 0.9",
               "5m", "warning", "Pod {{ $labels.pod }} uses more than 90% of its memory limit",
               "The pod is close to being OOM-killed (browser pods: /dev/shm counts against the limit)."),
        _alert("PodRestartingOften",
               f"rate(kube_pod_container_status_restarts_total{{{ns}}}[15m]) * 60 > 0.1",
               "5m", "warning", "Container {{ $labels.container }} of {{ $labels.pod }} restarts more than 0.1/min",
               "Check the container's logs and last termination reason."),
        _alert("ApiHighErrorRate", f"({m.api_error_ratio(namespace, apis=apis)}) > 0.05",
               "2m", "critical", "More than 5% of API requests fail with 5xx",
               "The API answers with server errors; check its logs and the browser pool."),
        _alert("ApiHighLatencyP95", f"{m.api_latency_quantile(namespace, 0.95, apis=apis)} > 1",
               "5m", "warning", "API p95 latency is above 1s", "Requests are slow; check saturation and the pool."),
        _alert("BrowserPoolNearCapacity", f"({m.session_utilization(namespace, pools)}) > 0.9",
               "5m", "warning", "The browser pool serves more than 90% of its session capacity",
               "New sessions will queue; the autoscaler should be adding pods (see AutoscalerAtMaxReplicas)."),
        _alert("AutoscalerAtMaxReplicas",
               f"kube_horizontalpodautoscaler_status_current_replicas{{{ns}}}"
               f" >= kube_horizontalpodautoscaler_spec_max_replicas{{{ns}}}",
               "15m", "warning", "{{ $labels.horizontalpodautoscaler }} has been at its maximum replicas for 15m",
               "Demand exceeds the configured maximum; raise maxReplicas (and node pool capacity)."),
        _alert("SessionQueueGrowing",
               f"sum({m.BROWSER_SESSIONS_QUEUED}{m.selector(namespace, apis)}) > 0"
               f" and deriv(sum({m.BROWSER_SESSIONS_QUEUED}{m.selector(namespace, apis)})[10m:1m]) > 0",
               "10m", "critical", "Sessions are queueing and the queue keeps growing",
               "The pool cannot keep up: check pending browser pods, node capacity and the autoscaler."),
        _alert("PodDisruptionBudgetBlocking",
               f"kube_poddisruptionbudget_status_pod_disruptions_allowed{{{ns}}} == 0",
               "30m", "warning", "PDB {{ $labels.poddisruptionbudget }} has allowed no disruption for 30m",
               "Node drains and upgrades are stuck behind this budget; check for unready pods."),
        _alert("BrowserDrainStuck",
               f"(time() - kube_pod_deletion_timestamp{{{ns},pod=~\"{m.pods_of(pools)}\"}}) > {browser_grace_seconds + 300}",
               "5m", "warning", "Browser pod {{ $labels.pod }} is still terminating past its grace period",
               "The drain endpoint did not finish; sessions may be stuck."),
        _alert("TargetDown",
               f"up{{{ns},service=~\"{m.any_of([*apis, *pools])}\"}} == 0",
               "5m", "critical", "Prometheus cannot scrape {{ $labels.service }} pod {{ $labels.pod }}",
               "The metrics endpoint is down or blocked (NetworkPolicy, mTLS port exception)."),
    ]


def _panel(panel_id: int, title: str, exprs: dict[str, str], unit: str, x: int, y: int) -> dict[str, object]:
    return {
        "id": panel_id, "type": "timeseries", "title": title,
        "datasource": {"type": "prometheus", "uid": "prometheus"},
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend}
                    for i, (legend, expr) in enumerate(exprs.items())],
    }


def _dashboard(uid: str, title: str, panels: list[dict[str, object]]) -> dict[str, object]:
    return {"uid": uid, "title": title, "tags": [PART_OF], "timezone": "browser", "schemaVersion": 39,
            "refresh": "30s", "time": {"from": "now-6h", "to": "now"}, "panels": panels}


def dashboards(namespace: str, apis: Sequence[str] = ("api",),
               pools: Sequence[str] = ("browser",)) -> dict[str, dict[str, object]]:
    browser = m.selector(namespace, pools)
    api = m.selector(namespace, apis)
    pod_ns = f'namespace="{namespace}"'
    pods = f'pod=~"{m.pods_of(pools)}"'
    containers = f'container=~"{m.any_of(pools)}"'
    return {
        "browser-pool": _dashboard("browser-pool", "Browser pool", [
            _panel(1, "Sessions", {
                "active": f"sum({m.BROWSER_SESSIONS_ACTIVE}{browser})",
                "queued": f"sum({m.BROWSER_SESSIONS_QUEUED}{api}) or vector(0)",
                "capacity": f"sum({m.BROWSER_SESSIONS_CAPACITY}{browser})",
            }, "short", 0, 0),
            _panel(2, "Pods", {
                "ready": f'sum(kube_pod_status_ready{{{pod_ns},{pods},condition="true"}})',
                "desired": f'sum(kube_deployment_spec_replicas{{{pod_ns},deployment=~"{m.any_of(pools)}"}})',
            }, "short", 12, 0),
            _panel(3, "Memory vs /dev/shm per pod", {
                "working set {{pod}}":
                    f'sum by (pod) (container_memory_working_set_bytes{{{pod_ns},{pods},{containers}}})',
                "page cache incl. /dev/shm {{pod}}":
                    f'sum by (pod) (container_memory_cache{{{pod_ns},{pods},{containers}}})',
                "limit {{pod}}":
                    f'sum by (pod) (kube_pod_container_resource_limits{{{pod_ns},{pods},resource="memory"}})',
            }, "bytes", 0, 8),
            _panel(4, "Session utilization", {"utilization": m.session_utilization(namespace, pools)}, "percentunit",
                   12, 8),
        ]),
        "api": _dashboard("browser-platform-api", "API", [
            _panel(1, "Request rate", {"{{code}}": f"sum by (code) (rate({m.HTTP_REQUESTS_TOTAL}{api}[5m]))"},
                   "reqps", 0, 0),
            _panel(2, "Error ratio (5xx)", {"5xx": m.api_error_ratio(namespace, apis=apis)}, "percentunit", 12, 0),
            _panel(3, "Latency percentiles", {
                f"p{int(q * 100)}": m.api_latency_quantile(namespace, q, apis=apis) for q in (0.5, 0.95, 0.99)
            }, "s", 0, 8),
        ]),
    }
