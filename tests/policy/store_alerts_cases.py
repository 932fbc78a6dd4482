"""Violating variants for the store policies of policy/browser_platform_policies/store_alerts.py: each mutates one
resource of a real stack so that exactly one store rule is broken."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from offline.harness import RecordedResource

from .cases import Case, Resources, edit, named


def _alarms_off(namespace: str, metric: str) -> Callable[[Resources], None]:
    """Every CloudWatch alarm on `metric` now watches another metric."""
    def mutate(resources: Resources) -> None:
        for r in resources:
            if r.type.endswith("cloudwatch/metricAlarm:MetricAlarm") and r.inputs.get("namespace") == namespace \
                    and r.inputs.get("metricName") == metric:
                r.inputs["metricName"] = "CPUUtilization"
    return mutate


def _drop(type_suffix: str, name: str) -> Callable[[Resources], None]:
    def mutate(resources: Resources) -> None:
        resources.remove(named(resources, type_suffix, name))
    return mutate


def _prometheus_rules_without(prefix: str) -> Callable[[RecordedResource], None]:
    def change(rule: RecordedResource) -> None:
        for group in rule.inputs["spec"]["groups"]:
            group["rules"] = [r for r in group["rules"] if f"{prefix}_" not in r["expr"]]
    return change


def _unlabel_injection(namespace: RecordedResource) -> None:
    namespace.inputs["metadata"]["labels"].pop("istio-injection")


def _opt_out(stateful_set: RecordedResource) -> None:
    template: dict[str, Any] = stateful_set.inputs["spec"]["template"]["metadata"]
    template.setdefault("annotations", {})["sidecar.istio.io/inject"] = "false"


def _api_user(user: str) -> Callable[[RecordedResource], None]:
    def change(config_map: RecordedResource) -> None:
        config_map.inputs["data"]["POSTGRES_USER"] = user
    return change


def _stack(mutate: Callable[[Resources], None]) -> Callable[[Resources], RecordedResource | None]:
    def run(resources: Resources) -> RecordedResource | None:
        mutate(resources)
        return None
    return run


STORE_ALERTS_CASES: list[Case] = [
    Case("prod-redis-no-memory-alarms", "data-store-alarms",
         _stack(_alarms_off("AWS/ElastiCache", "DatabaseMemoryUsagePercentage")),
         "has 6 nodes but 0 CloudWatch alarms on DatabaseMemoryUsagePercentage", stack="prod"),
    Case("prod-replica-no-lag-alarm", "data-store-alarms",
         _stack(_drop("cloudwatch/metricAlarm:MetricAlarm", "postgres-replica-2-lag")),
         "RDS instance browser-platform-prod-postgres-replica-2 has no CloudWatch alarm on ReplicaLag", stack="prod"),
    Case("prod-postgres-no-connection-alarm", "data-store-alarms",
         _stack(_drop("cloudwatch/metricAlarm:MetricAlarm", "postgres-connections")),
         "RDS instance browser-platform-prod-postgres has no CloudWatch alarm on DatabaseConnections", stack="prod"),
    Case("prod-gcp-valkey-no-memory-alert", "data-store-alarms",
         _stack(_drop("monitoring/alertPolicy:AlertPolicy", "valkey-memory")),
         "Memorystore browser-platform-prod-valkey has no Cloud Monitoring alert on memory", stack="prod-gcp"),
    Case("prod-gcp-sql-no-connection-alert", "data-store-alarms",
         _stack(_drop("monitoring/alertPolicy:AlertPolicy", "postgres-connections")),
         "Cloud SQL instance browser-platform-prod-postgres has no Cloud Monitoring alert on connections",
         stack="prod-gcp"),
    Case("dev-valkey-no-rules", "data-store-alarms",
         edit("monitoring.coreos.com/v1:PrometheusRule", "data-store-alerts-rules", _prometheus_rules_without("redis"),
              analyze=False),
         "StatefulSet browser-data/valkey runs a data store, but no PrometheusRule alerts on its exporter's redis_*"),
    Case("dev-data-namespace-not-injected", "mesh-authz-needs-sidecars",
         edit("core/v1:Namespace", "data-namespace", _unlabel_injection, analyze=False),
         "namespace browser-data is not injected"),
    # A store pod opting out in the (now injected) data namespace: the existing peers.py rule sees it.
    Case("dev-postgres-opts-out-of-injection", "istio-injection-opt-out",
         edit("apps/v1:StatefulSet", "postgres-statefulset", _opt_out, analyze=False),
         "StatefulSet browser-data/postgres opts out of sidecar injection"),
    Case("dev-api-as-superuser", "data-store-app-role",
         edit("core/v1:ConfigMap", "api-stores", _api_user("platform_admin"), analyze=False),
         "as 'platform_admin', the superuser of StatefulSet browser-data/postgres"),
    Case("prod-api-as-master", "data-store-app-role",
         edit("core/v1:ConfigMap", "api-stores", _api_user("platform_admin"), analyze=False),
         "the master user of RDS instance browser-platform-prod-postgres", stack="prod"),
    Case("prod-gcp-api-as-built-in-user", "data-store-app-role",
         edit("core/v1:ConfigMap", "api-stores", _api_user("platform_admin"), analyze=False),
         "a Cloud SQL built-in user (member of cloudsqlsuperuser)", stack="prod-gcp"),
]
