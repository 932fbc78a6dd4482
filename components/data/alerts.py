"""Alerts and dashboard panels for the data stores, per provider.

- **Every stack** (with monitoring on): the API's own view, `store_connection_errors_total{store}` (the metrics
  contract, components/metrics_contract.py): alert `StoreConnectionErrors`, and the **Data stores** dashboard.
- **kind**: the exporters' metrics (components/data/exporters.py): server down, Valkey memory near `maxmemory`,
  clients near `maxclients` or rejected, PostgreSQL connections near `max_connections`, database size near the
  volume. There is no replica on kind (config forces 0), so no replication-lag rule.
- **EKS**: CloudWatch alarms to the stores' SNS topic; **GKE**: Cloud Monitoring alert policies. The managed
  servers cannot be scraped by Prometheus (no exporter can run next to them), and the clouds already publish
  their metrics. CloudWatch / Cloud Monitoring rather than YACE or stackdriver-exporter: no extra pods, no cloud
  read role for a pod, no API calls billed per scrape, and the alarms still fire when the cluster (or its
  Prometheus) is the thing that is down. The price: those alerts reach the SNS topic / the project's incidents,
  not Alertmanager, and Grafana shows the API's side only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from ..common import metrics_contract as m
from ..common.labels import PART_OF
from .wiring import ApiIdentity, StoreMonitoring

MEMORY_GIB = {
    # RDS instance classes and Cloud SQL tiers the config allows (stack_config/data.py): their memory.
    "db.t4g.medium": 4, "db.m7g.large": 8, "db.m7g.xlarge": 16, "db.r7g.large": 16, "db.r7g.xlarge": 32,
    "db-custom-2-8192": 8, "db-custom-4-16384": 16, "db-custom-8-32768": 32,
}
CONNECTIONS_PER_GIB = 50
"""max_connections is set explicitly (parameter group / database flag), 50 per GiB of memory: below both clouds'
defaults for these sizes (RDS: memory / 9.5 MB), so the connection alert's threshold is an exact fraction."""
ELASTICACHE_MAX_CLIENTS = 65000
"""ElastiCache's maxclients, fixed by the service."""
NEAR_FULL = 0.8


def max_connections(instance_class: str) -> int:
    return MEMORY_GIB[instance_class] * CONNECTIONS_PER_GIB


@dataclass(frozen=True)
class InClusterTargets:
    """kind: where the exporters run and what their servers are sized to."""

    namespace: str
    postgres_volume_bytes: int


def _alert(name: str, expr: str, duration: str, severity: str, summary: str, description: str) -> dict[str, object]:
    return {"alert": name, "expr": expr, "for": duration, "labels": {"severity": severity},
            "annotations": {"summary": summary, "description": description}}


def prometheus_rules(clients: list[ApiIdentity], in_cluster: InClusterTargets | None) -> list[dict[str, object]]:
    """The PrometheusRule's rules: the API's connection errors everywhere, the exporters' view on kind."""
    errors = m.store_connection_errors(clients[0].namespace, [client.service for client in clients])
    rules = [_alert(
        "StoreConnectionErrors", f"{errors} > 0.05", "5m", "critical",
        "The API fails to connect to {{ $labels.store }}",
        "More than 3 failed or broken connections a minute for 5 minutes (store_connection_errors_total). Check "
        "the store's health, its credentials (docs/operations.md#rotating-credentials) and the API's egress.")]
    if in_cluster is None:
        return rules
    ns = f'namespace="{in_cluster.namespace}"'
    by_pod = "by (namespace, pod)"
    rules += [
        _alert("StoreExporterDown", f'up{{{ns}}} == 0', "5m", "warning",
               "Prometheus cannot scrape the exporter of {{ $labels.pod }}",
               "No store metrics: the exporter is down or blocked (NetworkPolicy, mTLS port exception)."),
        _alert("ValkeyDown", f"redis_up{{{ns}}} == 0", "2m", "critical", "Valkey in {{ $labels.pod }} is down",
               "The exporter cannot reach the server; the API's sessions fail."),
        _alert("ValkeyMemoryNearFull",
               f"max {by_pod} (redis_memory_used_bytes{{{ns}}}) / max {by_pod} (redis_memory_max_bytes{{{ns}}} > 0)"
               f" > {NEAR_FULL}", "10m", "warning", "Valkey uses more than 80% of its maxmemory",
               "At maxmemory (policy noeviction) writes fail: raise the memory or expire keys."),
        _alert("ValkeyConnectionsNearLimit",
               f"max {by_pod} (redis_connected_clients{{{ns}}}) / max {by_pod} (redis_config_maxclients{{{ns}}})"
               f" > {NEAR_FULL}", "5m", "warning", "Valkey holds more than 80% of maxclients connections",
               "New connections will be refused; check the API's pool sizes and replicas."),
        _alert("ValkeyRejectingConnections", f"increase(redis_rejected_connections_total{{{ns}}}[5m]) > 0", "0m",
               "critical", "Valkey refused connections (maxclients reached)", "The API cannot open connections."),
        _alert("PostgresDown", f"pg_up{{{ns}}} == 0", "2m", "critical", "PostgreSQL in {{ $labels.pod }} is down",
               "The exporter cannot reach the server; the API's records fail."),
        _alert("PostgresConnectionsNearLimit",
               f"sum {by_pod} (pg_stat_activity_count{{{ns}}}) / max {by_pod} (pg_settings_max_connections{{{ns}}})"
               f" > {NEAR_FULL}", "5m", "warning", "PostgreSQL holds more than 80% of max_connections",
               "New connections will be refused; check the API's pool sizes and replicas."),
        _alert("PostgresStorageNearFull",
               f"sum {by_pod} (pg_database_size_bytes{{{ns}}}) / {in_cluster.postgres_volume_bytes} > {NEAR_FULL}",
               "10m", "warning", "PostgreSQL's databases fill more than 80% of the data volume",
               "WAL is not counted: act before the volume is full (dump, larger storageGb, restore)."),
    ]
    return rules


def _panel(panel_id: int, title: str, exprs: dict[str, str], unit: str, x: int, y: int,
           description: str = "") -> dict[str, object]:
    return {
        "id": panel_id, "type": "timeseries", "title": title, "description": description,
        "datasource": {"type": "prometheus", "uid": "prometheus"},
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend}
                    for i, (legend, expr) in enumerate(exprs.items())],
    }


def dashboard(clients: list[ApiIdentity], in_cluster: InClusterTargets | None) -> dict[str, object]:
    panels = [_panel(1, "API connection errors by store", {
        "{{store}}": m.store_connection_errors(clients[0].namespace, [c.service for c in clients])}, "ops", 0, 0,
        "store_connection_errors_total: failed or broken connections per second, as the API sees them."
        + ("" if in_cluster else " The managed servers' own metrics are in CloudWatch / Cloud Monitoring."))]
    if in_cluster is not None:
        ns = f'namespace="{in_cluster.namespace}"'
        panels += [
            _panel(2, "Valkey memory", {"used": f"sum(redis_memory_used_bytes{{{ns}}})",
                                        "maxmemory": f"sum(redis_memory_max_bytes{{{ns}}})"}, "bytes", 12, 0),
            _panel(3, "Valkey clients", {"connected": f"sum(redis_connected_clients{{{ns}}})",
                                         "maxclients": f"max(redis_config_maxclients{{{ns}}})",
                                         "rejected/s": f"sum(rate(redis_rejected_connections_total{{{ns}}}[5m]))"},
                   "short", 0, 8),
            _panel(4, "PostgreSQL connections", {"{{state}}": f"sum by (state) (pg_stat_activity_count{{{ns}}})",
                                                 "max_connections": f"max(pg_settings_max_connections{{{ns}}})"},
                   "short", 12, 8),
            _panel(5, "PostgreSQL size vs volume", {"{{datname}}": f"pg_database_size_bytes{{{ns}}}",
                                                    "volume": f"vector({in_cluster.postgres_volume_bytes})"},
                   "bytes", 0, 16),
        ]
    return {"uid": "browser-platform-data-stores", "title": "Data stores", "tags": [PART_OF],
            "timezone": "browser", "schemaVersion": 39, "refresh": "30s", "time": {"from": "now-6h", "to": "now"},
            "panels": panels}


@dataclass(frozen=True)
class StoreAlertsArgs:
    monitoring: StoreMonitoring
    clients: list[ApiIdentity]
    in_cluster: InClusterTargets | None


class StoreAlerts(pulumi.ComponentResource):
    """The PrometheusRule and the dashboard ConfigMap, in the monitoring namespace (it exists on every stack that
    has Prometheus, before the workloads), after the release that installs the CRDs."""

    def __init__(self, name: str, args: StoreAlertsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:data:StoreAlerts", name, None, opts)
        ns = args.monitoring.namespace
        labels = {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": "pulumi"}
        after = pulumi.ResourceOptions(parent=self, depends_on=[args.monitoring.crd_release])
        k8s.apiextensions.CustomResource(
            f"{name}-rules", api_version="monitoring.coreos.com/v1", kind="PrometheusRule",
            metadata=ObjectMetaArgs(name="data-store-alerts", namespace=ns,
                                    labels={**labels, **args.monitoring.selected_labels}),
            spec={"groups": [{"name": "data-stores", "rules": prometheus_rules(args.clients, args.in_cluster)}]},
            opts=after)
        k8s.core.v1.ConfigMap(
            f"{name}-dashboard", metadata=ObjectMetaArgs(name="dashboard-data-stores", namespace=ns,
                                                         labels={**labels, **args.monitoring.dashboard_labels}),
            data={"data-stores.json": json.dumps(dashboard(args.clients, args.in_cluster), indent=1, sort_keys=True)},
            opts=after)
        self.register_outputs({})
