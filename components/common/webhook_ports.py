"""Which platform services a stack installs, and the pod ports the Kubernetes API server calls on each.

Admission webhooks and aggregated APIs are called by the control plane, not by other pods. On a private GKE
cluster the control plane (`masterIpv4Cidr`) reaches the nodes only on 443 and 10250 (the firewall rule GKE
creates); any other target port times out, so injection fails, an atomic Helm release rolls back, and the
external metrics API behind KEDA's HPA is unavailable. The GKE cluster component opens exactly the ports listed
here from the control plane to the nodes.

One table, two readers: the charts' values set the ports from these constants (components/services/keda.py, tls.py,
monitoring.py, metrics_server.py), and components/platform.py hands `control_plane_ports(config)` down to the
cluster layer as plain data (the cluster layer never imports the services). `installed_services` is also what
components/platform_services.py installs from, so the firewall follows exactly the services that are switched on.

Pure Python (no Pulumi): tests and the cluster layer import it freely.
"""

from __future__ import annotations

from dataclasses import dataclass

from capacity.platform_services import needs_metrics_server
from stack_config.cluster import ExistingClusterConfig
from stack_config.platform import PlatformConfig


@dataclass(frozen=True)
class ControlPlaneCallee:
    """One server inside the cluster that the API server calls."""

    service: str
    """The platform service that installs it (a key of `CALLEES`)."""
    purpose: str
    port: int
    """The pod's (target) port: what a firewall in front of the pod must allow."""
    chart_value: str | None
    """The chart value that sets this port (dotted path), or None when the chart hard-codes it."""


ISTIOD_WEBHOOK = ControlPlaneCallee("mesh", "istiod: sidecar injection and config validation webhooks", 15017, None)
"""istiod serves its webhooks on 15017 (the istiod Service maps 443 to it); no chart value changes it."""
KEDA_METRICS_API = ControlPlaneCallee("keda", "KEDA metrics API server: external.metrics.k8s.io APIService", 6443,
                                      "service.portHttpsTarget")
KEDA_WEBHOOK = ControlPlaneCallee("keda", "KEDA admission webhook (ScaledObject validation)", 9443, "webhooks.port")
CERT_MANAGER_WEBHOOK = ControlPlaneCallee("tls", "cert-manager webhook", 10250, "webhook.securePort")
PROMETHEUS_OPERATOR_WEBHOOK = ControlPlaneCallee(
    "monitoring", "prometheus-operator admission webhook (PrometheusRule validation)", 10250,
    "prometheusOperator.tls.internalPort")
METRICS_SERVER_API = ControlPlaneCallee("metrics-server", "metrics-server: metrics.k8s.io APIService", 10250,
                                        "containerPort")

CALLEES: dict[str, tuple[ControlPlaneCallee, ...]] = {
    "mesh": (ISTIOD_WEBHOOK,),
    "keda": (KEDA_METRICS_API, KEDA_WEBHOOK),
    "tls": (CERT_MANAGER_WEBHOOK,),
    "monitoring": (PROMETHEUS_OPERATOR_WEBHOOK,),
    "metrics-server": (METRICS_SERVER_API,),
}


def installed_services(config: PlatformConfig) -> frozenset[str]:
    """The platform services components/platform_services.py installs for this config (keys of `CALLEES`)."""
    services: set[str] = set()
    cluster = config.cluster
    installs = cluster.metrics_server == "install" if isinstance(cluster, ExistingClusterConfig) else None
    if installs if installs is not None else needs_metrics_server(cluster.kind):
        services.add("metrics-server")
    if config.mesh.enabled:
        services.add("mesh")
        if config.ingress is not None:
            services.add("tls")  # cert-manager issues the gateway's certificate
    if config.monitoring.enabled:
        services.add("monitoring")
    if config.keda_scaled():
        services.add("keda")
    return frozenset(services)


def control_plane_callees(config: PlatformConfig) -> list[ControlPlaneCallee]:
    services = installed_services(config)
    return [callee for service, callees in CALLEES.items() if service in services for callee in callees]


def control_plane_ports(config: PlatformConfig) -> tuple[int, ...]:
    """The sorted, distinct target ports the control plane must reach on the nodes for this config."""
    return tuple(sorted({callee.port for callee in control_plane_callees(config)}))
