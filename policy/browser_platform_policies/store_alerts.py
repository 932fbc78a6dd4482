"""Stack policies for what keeps the data stores safe after apply: alarms, mesh enforcement, the API's DB role.

- `data-store-alarms`: every store has alarms on what fails it first. ElastiCache: memory and connections of every
  node (CloudWatch, AWS/ElastiCache). RDS: connections and free storage of every instance, replica lag of every
  read replica. Memorystore: memory and rejected connections. Cloud SQL: disk and connections of every instance,
  replica lag of every replica. In-cluster stores (a StatefulSet running valkey/redis or postgres): a
  PrometheusRule alerting on their exporter's metrics in their namespace.
- `mesh-authz-needs-sidecars`: an Istio AuthorizationPolicy is enforced by the sidecar of the pods it selects; in
  a namespace that is not injected (no `istio-injection: enabled` / `istio.io/rev` label) it does nothing, and
  everything the NetworkPolicies allow gets through. (Pods opting out in an injected namespace:
  `istio-injection-opt-out`, peers.py.)
- `data-store-app-role`: the API never logs in to PostgreSQL as the master user (the RDS instance's `username`,
  any Cloud SQL built-in user, which Cloud SQL makes a member of cloudsqlsuperuser, or the in-cluster server's
  POSTGRES_USER superuser).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import Policy, ReportViolation, StackValidationArgs

from .config import Schema, note, per_resource, stack_policy, string_list
from .model import namespace_of
from .props import get, items, metadata_name, str_map

REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
RDS_INSTANCE = "aws:rds/instance:Instance"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
MEMORYSTORE = "gcp:memorystore/instance:Instance"
CLOUD_SQL = "gcp:sql/databaseInstance:DatabaseInstance"
SQL_USER = "gcp:sql/user:User"
ALERT_POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"
PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
AUTHORIZATION_POLICY = "kubernetes:security.istio.io/v1:AuthorizationPolicy"
NAMESPACE = "kubernetes:core/v1:Namespace"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"

MESH_SCHEMA: Schema = {
    "exemptNamespaces": string_list(
        "Namespaces whose AuthorizationPolicies act without injection: the mesh root namespace (mesh-wide policies "
        "apply through every sidecar) and gateway namespaces (the gateway pods are Envoy themselves).",
        ["istio-system", "istio-ingress"]),
}


# --- data-store-alarms ---------------------------------------------------------------------------------------------

def _cloudwatch(args: StackValidationArgs) -> list[tuple[str, str, dict[str, Any]]]:
    """(namespace, metric, dimensions) of every CloudWatch alarm in the stack."""
    return [(str(get(r.props, "namespace", default="")), str(get(r.props, "metricName", default="")),
             {k: v for k, v in str_map(r.props, "dimensions").items()})
            for r in args.resources if r.resource_type == METRIC_ALARM]


def _gcp_filters(args: StackValidationArgs) -> list[str]:
    return [str(get(c, "conditionThreshold", "filter", default=""))
            for r in args.resources if r.resource_type == ALERT_POLICY for c in items(r.props, "conditions")]


def _check_aws(args: StackValidationArgs, report: ReportViolation) -> None:
    alarms = _cloudwatch(args)
    for resource in args.resources:
        with per_resource("data-store-alarms", resource.urn):
            if resource.resource_type == REPLICATION_GROUP:
                shards = int(get(resource.props, "numNodeGroups", default=1))
                replicas = int(get(resource.props, "replicasPerNodeGroup", default=0))
                nodes = shards * (1 + replicas)
                for metric in ("DatabaseMemoryUsagePercentage", "CurrConnections"):
                    count = sum(1 for ns, name, _ in alarms if ns == "AWS/ElastiCache" and name == metric)
                    if count < nodes:
                        report(f"ElastiCache {resource.name} has {nodes} nodes but {count} CloudWatch alarms on "
                               f"{metric}: a node running out of memory or connections fails unnoticed. Fix: one alarm "
                               "per node (dimension CacheClusterId of each member cluster).", resource.urn)
            elif resource.resource_type == RDS_INSTANCE:
                identifier = get(resource.props, "identifier")
                watched = {name for ns, name, dims in alarms
                           if ns == "AWS/RDS" and dims.get("DBInstanceIdentifier") == identifier}
                needed = {"DatabaseConnections", "FreeStorageSpace"}
                if get(resource.props, "replicateSourceDb"):
                    needed.add("ReplicaLag")
                missing = sorted(needed - watched)
                if missing:
                    report(f"RDS instance {identifier} has no CloudWatch alarm on {', '.join(missing)}. Fix: alarm on "
                           "connections, free storage (and replica lag on a replica) to the stores' SNS topic.",
                           resource.urn)


def _check_gcp(args: StackValidationArgs, report: ReportViolation) -> None:
    filters = _gcp_filters(args)
    for resource in args.resources:
        with per_resource("data-store-alarms", resource.urn):
            if resource.resource_type == MEMORYSTORE:
                instance = str(get(resource.props, "instanceId", default=""))
                mine = [f for f in filters if f'instance_id = "{instance}"' in f]
                for metric, what in (("instance/memory/", "memory"), ("connections", "connections")):
                    if not any(metric in f for f in mine):
                        report(f"Memorystore {instance} has no Cloud Monitoring alert on {what}. Fix: an alert "
                               "policy on memory/maximum_utilization and on rejected connections.", resource.urn)
            elif resource.resource_type == CLOUD_SQL:
                name = str(get(resource.props, "name", default=""))
                mine = [f for f in filters if re.search(rf'database_id = "[^"]*:{re.escape(name)}"', f)]
                needed = {"disk/utilization": "disk", "num_backends": "connections"}
                if get(resource.props, "masterInstanceName"):
                    needed["replica_lag"] = "replica lag"
                missing = [what for metric, what in needed.items() if not any(metric in f for f in mine)]
                if missing:
                    report(f"Cloud SQL instance {name} has no Cloud Monitoring alert on {', '.join(missing)}. Fix: alert "
                           "policies on disk utilization, connections (num_backends) and, on a replica, replica lag.",
                           resource.urn)


def _server(resource: Any) -> str | None:
    """'redis' or 'pg' when a StatefulSet runs Valkey/Redis or PostgreSQL (its exporter's metric prefix)."""
    for container in items(resource.props, "spec", "template", "spec", "containers"):
        image = str(get(container, "image", default="")).rsplit("/", 1)[-1]
        if image.startswith(("valkey:", "redis:")):
            return "redis"
        if image.startswith("postgres:"):
            return "pg"
    return None


def _check_in_cluster(args: StackValidationArgs, report: ReportViolation) -> None:
    servers = [(r, _server(r)) for r in args.resources if r.resource_type == STATEFUL_SET]
    servers = [(r, prefix) for r, prefix in servers if prefix is not None]
    if not servers:
        return
    rules = [r for r in args.resources if r.resource_type == PROMETHEUS_RULE]
    if not rules:
        note("[data-store-alarms] in-cluster stores without any PrometheusRule in the stack (monitoring off?): "
             "nothing alerts on them")
        return
    expressions = [str(get(rule, "expr", default="")) for r in rules for group in items(r.props, "spec", "groups")
                   for rule in items(group, "rules")]
    for resource, prefix in servers:
        with per_resource("data-store-alarms", resource.urn):
            namespace = namespace_of(resource)
            if not any(f"{prefix}_" in e and f'namespace="{namespace}"' in e for e in expressions):
                report(f"StatefulSet {namespace}/{metadata_name(resource.props)} runs a data store, but no "
                       f"PrometheusRule alerts on its exporter's {prefix}_* metrics in {namespace}. Fix: an exporter "
                       "next to it and the store alerts (components/data/alerts.py).", resource.urn)


def check_alarms(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    _check_aws(args, report)
    _check_gcp(args, report)
    _check_in_cluster(args, report)


# --- mesh-authz-needs-sidecars ---------------------------------------------------------------------------------------

def _injected(labels: Mapping[str, str]) -> bool:
    return labels.get("istio-injection") == "enabled" or bool(labels.get("istio.io/rev"))


def check_mesh_authz(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    exempt = set(cfg["exemptNamespaces"])
    namespaces = {metadata_name(r.props): str_map(r.props, "metadata", "labels")
                  for r in args.resources if r.resource_type == NAMESPACE}
    for policy in args.resources:
        if policy.resource_type != AUTHORIZATION_POLICY:
            continue
        with per_resource("mesh-authz-needs-sidecars", policy.urn):
            namespace = namespace_of(policy)
            if namespace in exempt:
                continue
            if namespace not in namespaces:
                note(f"[mesh-authz-needs-sidecars] namespace {namespace} of AuthorizationPolicy "
                     f"{metadata_name(policy.props)} is not created by this stack: injection not checked", policy.urn)
                continue
            if not _injected(namespaces[namespace]):
                report(f"AuthorizationPolicy {namespace}/{metadata_name(policy.props)} cannot act: namespace "
                       f"{namespace} is not injected (no istio-injection: enabled or istio.io/rev label), so its pods "
                       "have no sidecar to enforce it. Fix: label the namespace for injection and create its pods "
                       "after istiod.", policy.urn)


# --- data-store-app-role -----------------------------------------------------------------------------------------------

def _masters(args: StackValidationArgs) -> dict[str, str]:
    """Master / superuser names -> where they come from."""
    masters: dict[str, str] = {}
    for resource in args.resources:
        if resource.resource_type == RDS_INSTANCE and not get(resource.props, "replicateSourceDb"):
            username = get(resource.props, "username")
            if username:
                masters[str(username)] = f"the master user of RDS instance {get(resource.props, 'identifier')}"
        elif resource.resource_type == SQL_USER and get(resource.props, "type") in (None, "BUILT_IN"):
            masters[str(get(resource.props, "name"))] = "a Cloud SQL built-in user (member of cloudsqlsuperuser)"
        elif resource.resource_type == STATEFUL_SET and _server(resource) == "pg":
            for container in items(resource.props, "spec", "template", "spec", "containers"):
                if str(get(container, "image", default="")).rsplit("/", 1)[-1].startswith("postgres:"):
                    env = {str(get(e, "name")): get(e, "value") for e in items(container, "env")}
                    masters[str(env.get("POSTGRES_USER") or "postgres")] = (
                        f"the superuser of StatefulSet {namespace_of(resource)}/{metadata_name(resource.props)}")
    return masters


def check_app_role(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    masters = _masters(args)
    for config_map in args.resources:
        if config_map.resource_type != CONFIG_MAP:
            continue
        with per_resource("data-store-app-role", config_map.urn):
            user = get(config_map.props, "data", "POSTGRES_USER")
            if user is not None and str(user) in masters:
                report(f"ConfigMap {namespace_of(config_map)}/{metadata_name(config_map.props)} makes the API log in "
                       f"to PostgreSQL as '{user}', {masters[str(user)]}: a compromised API owns every database. "
                       "Fix: dataStores.postgres.username must name the API's own role, not masterUsername.",
                       config_map.urn)


def policies() -> list[Policy]:
    return [
        stack_policy("data-store-alarms", "Every data store has alarms on memory or storage, connections and "
                     "replication lag (CloudWatch, Cloud Monitoring, or Prometheus rules for in-cluster stores).",
                     check_alarms, remediation="The store alerts of components/data (alerts.py, aws.py, gcp.py)."),
        stack_policy("mesh-authz-needs-sidecars", "Istio AuthorizationPolicies are only written for namespaces "
                     "injected with sidecars (elsewhere nothing enforces them).",
                     check_mesh_authz, schema=MESH_SCHEMA,
                     remediation="Label the namespace istio-injection: enabled (and create its pods after istiod)."),
        stack_policy("data-store-app-role", "The API connects to PostgreSQL with its own role, never as the master "
                     "user or a superuser.", check_app_role,
                     remediation="dataStores.postgres.username is the API's role; masterUsername only creates it."),
    ]
