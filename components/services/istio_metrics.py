"""Prometheus scrapes the mesh: every Envoy's stats (sidecars and the ingress gateway) and istiod's own metrics.

Two PodMonitors in istio-system. istiod's is a PodMonitor rather than a ServiceMonitor on its Service: the
`istiod` Service is rendered inside the istiod chart release, which the stack's `servicemonitor-selects-service`
policy cannot see (it checks monitors against the Services the stack declares), while the Deployment of the same
chart declares the container port `http-monitoring` (15014) on every istiod pod (istio 1.30.3
manifests/charts/istio-control/istio-discovery/templates/deployment.yaml); at runtime both scrape each istiod pod
once on the same endpoint.

Without these series (`istio_requests_total`, `istio_request_duration_milliseconds_*`, `istio_tcp_*`) Kiali's graph
is empty and no dashboard can show traffic between the workloads; they are scraped whenever the mesh and monitoring
are both on, with or without Kiali.

Which endpoint, and why it is reachable after apply:
- Each Envoy serves its stats on port 15090 (`/stats/prometheus`), a container port the injection templates of
  Istio 1.30 name `http-envoy-prom` (sidecar and gateway templates alike). 15090 rather than the agent's merged
  endpoint on 15020: the workloads' own metrics are already scraped on their `metrics` port by ServiceMonitors
  (components/services/monitoring.py), and merging them into 15020 as well would store every series twice; 15090
  needs no `prometheus.io/*` annotations either. Both are the endpoints Istio documents for Prometheus
  (istio.io docs/tasks/observability/metrics/secure-metrics: "served from the sidecar telemetry port (15020) or
  Envoy-only port (15090)", plaintext).
- STRICT mTLS does not block the scrape: Istio's CNI plugin leaves 15020, 15021 and 15090 out of inbound
  redirection (istio 1.30.3 cni/pkg/plugin/sidecar_redirect.go, `excludeInboundPorts += "15020,15021,15090"`), so
  Prometheus (no sidecar) reaches Envoy's listener directly and neither the PeerAuthentication nor an
  AuthorizationPolicy sees that connection.
- NetworkPolicies: the namespaces that deny ingress by default (the platform namespace, the in-cluster data
  stores') admit the monitoring namespace on 15090 (`ENVOY_METRICS_PORT`, through the workloads layer's extra
  ingress and components/data/in_cluster.py); the ingress gateway's namespace and istio-system have no
  NetworkPolicy, so nothing stops the scrape there.
- Prometheus selects every PodMonitor and ServiceMonitor in every namespace (`*SelectorNilUsesHelmValues: false`
  and the chart's empty namespace selectors, components/services/monitoring.py); these also carry the chart's
  `release` label.
- A PodMonitor endpoint with `port` keeps only pods that declare that container port name, so pods without a
  sidecar in the listed namespaces produce no target (and no `up == 0`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from ..common.labels import PART_OF

ENVOY_METRICS_PORT = 15090
ENVOY_METRICS_PORT_NAME = "http-envoy-prom"
"""The container port Istio's sidecar and gateway injection templates declare for Envoy's Prometheus listener."""
ENVOY_METRICS_PATH = "/stats/prometheus"
ISTIOD_MONITORING_PORT = 15014
ISTIOD_MONITORING_PORT_NAME = "http-monitoring"
"""istiod's container (and Service) port for its own metrics (istio-discovery chart templates)."""
ISTIOD_POD_LABELS = {"app": "istiod"}
ENVOY_MONITOR = "envoy-stats"
ISTIOD_MONITOR = "istiod"
SCRAPE_INTERVAL = "30s"


def envoy_pod_monitor_spec(namespaces: list[str]) -> dict[str, object]:
    """Every pod with an Envoy (sidecar or gateway) in `namespaces`, scraped on 15090."""
    return {
        "jobLabel": "app.kubernetes.io/name",
        "namespaceSelector": {"matchNames": sorted(set(namespaces))},
        # Empty: every pod; the endpoint's named port keeps only those with the Envoy container port.
        "selector": {},
        "podMetricsEndpoints": [{
            "port": ENVOY_METRICS_PORT_NAME, "path": ENVOY_METRICS_PATH, "scheme": "http",
            "interval": SCRAPE_INTERVAL,
            # Envoy's own internal stats are dropped: Kiali and the dashboards read the istio_* series only,
            # and envoy_* would multiply the series count by the number of clusters and listeners per proxy.
            "metricRelabelings": [{"action": "keep", "sourceLabels": ["__name__"], "regex": "istio_.*"}],
        }],
    }


def istiod_pod_monitor_spec(istio_namespace: str) -> dict[str, object]:
    return {
        "jobLabel": "app",
        "namespaceSelector": {"matchNames": [istio_namespace]},
        "selector": {"matchLabels": dict(ISTIOD_POD_LABELS)},
        "podMetricsEndpoints": [{"port": ISTIOD_MONITORING_PORT_NAME, "path": "/metrics", "scheme": "http",
                                 "interval": SCRAPE_INTERVAL}],
    }


@dataclass(frozen=True)
class IstioMetricsArgs:
    istio_namespace: str
    envoy_namespaces: list[str]
    """Namespaces with Envoy proxies: the platform's, the ingress gateway's, the in-cluster data stores'."""
    selected_labels: dict[str, str]
    """The labels the Prometheus of kube-prometheus-stack looks for (`release`)."""
    after: list[pulumi.Resource]
    """The monitoring release (monitoring.coreos.com CRDs) and istiod."""


class IstioMetrics(pulumi.ComponentResource):
    def __init__(self, name: str, args: IstioMetricsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:addons:IstioMetrics", name, None, opts)
        labels = {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": "pulumi",
                  **args.selected_labels}
        after = pulumi.ResourceOptions(parent=self, depends_on=list(args.after))
        k8s.apiextensions.CustomResource(
            f"{name}-envoy-podmonitor", api_version="monitoring.coreos.com/v1", kind="PodMonitor",
            metadata=ObjectMetaArgs(name=ENVOY_MONITOR, namespace=args.istio_namespace, labels=labels),
            spec=envoy_pod_monitor_spec(args.envoy_namespaces), opts=after,
        )
        k8s.apiextensions.CustomResource(
            f"{name}-istiod-podmonitor", api_version="monitoring.coreos.com/v1", kind="PodMonitor",
            metadata=ObjectMetaArgs(name=ISTIOD_MONITOR, namespace=args.istio_namespace, labels=labels),
            spec=istiod_pod_monitor_spec(args.istio_namespace), opts=after,
        )
        self.register_outputs({})
