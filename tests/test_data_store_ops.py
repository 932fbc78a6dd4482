"""What keeps the data stores safe after apply (components/data: alerts.py, exporters.py, mesh.py, app_role.py):
exporters and their scrape path, the store alerts and dashboard, the mesh around the in-cluster stores, and the
API's own PostgreSQL role, on the recorded resources of every stack."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import promql_parser
import pytest

from components.common import metrics_contract as m
from components.data.app_role import APP_ROLE_SQL
from offline.harness import StackEvaluation, evaluate_stack, is_secret
from tests.conftest import STACKS

Evaluated = Callable[[str], StackEvaluation]
CUSTOM = "kubernetes:{}:{}"


def custom(evaluation: StackEvaluation, api_version: str, kind: str) -> list[dict[str, Any]]:
    return [r.plain_inputs for r in evaluation.of_type(CUSTOM.format(api_version, kind))]


def by_name(objects: list[dict[str, Any]], namespace: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["metadata"]["namespace"] == namespace}


def store_rules(evaluation: StackEvaluation) -> dict[str, dict[str, Any]]:
    (rule,) = [r for r in custom(evaluation, "monitoring.coreos.com/v1", "PrometheusRule")
               if r["metadata"]["name"] == "data-store-alerts"]
    assert rule["metadata"]["namespace"] == "monitoring"
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"  # what Prometheus selects
    return {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}


def dashboard(evaluation: StackEvaluation) -> dict[str, Any]:
    (config_map,) = [r.plain_inputs for r in evaluation.of_type("kubernetes:core/v1:ConfigMap")
                     if r.plain_inputs["metadata"]["name"] == "dashboard-data-stores"]
    assert config_map["metadata"]["namespace"] == "monitoring"
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"  # the chart's dashboard sidecar label
    loaded: dict[str, Any] = json.loads(config_map["data"]["data-stores.json"])
    return loaded


# --- the API's connection errors: contract, alert and panel on every stack ---------------------------------------

def test_the_metrics_contract_names_the_store_connection_errors() -> None:
    metric = next(a for a in m.APP_METRICS if a.name == m.STORE_CONNECTION_ERRORS)
    assert (metric.type, metric.exposed_by, metric.labels) == ("counter", "api", ("store",))


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_alerts_on_the_apis_store_connection_errors(evaluated: Evaluated, stack: str) -> None:
    evaluation = evaluated(stack)
    rules = store_rules(evaluation)
    errors = rules["StoreConnectionErrors"]
    assert m.STORE_CONNECTION_ERRORS in errors["expr"] and 'namespace="browser-platform",service="api"' in errors["expr"]
    assert errors["labels"]["severity"] == "critical"
    panels = dashboard(evaluation)["panels"]
    assert any(m.STORE_CONNECTION_ERRORS in t["expr"] for p in panels for t in p["targets"])
    # Every expression parses as PromQL (a typo would be a rule Prometheus refuses, or a panel with no data).
    for expr in [r["expr"] for r in rules.values()] + [t["expr"] for p in panels for t in p["targets"]]:
        promql_parser.parse(expr)
    # The exporters' rules exist where the exporters do: on kind only.
    assert ("ValkeyMemoryNearFull" in rules) is (stack == "dev")


def test_kind_rules_cover_memory_connections_and_storage_of_both_stores(evaluated: Evaluated) -> None:
    rules = store_rules(evaluated("dev"))
    assert {"ValkeyDown", "ValkeyMemoryNearFull", "ValkeyConnectionsNearLimit", "ValkeyRejectingConnections",
            "PostgresDown", "PostgresConnectionsNearLimit", "PostgresStorageNearFull", "StoreExporterDown"} <= set(rules)
    for alert in rules.values():
        if alert["alert"] != "StoreConnectionErrors":
            assert 'namespace="browser-data"' in alert["expr"]
    # The storage ratio is against the PVC's size (50Gi in dev).
    assert f"/ {50 * 2**30} > 0.8" in rules["PostgresStorageNearFull"]["expr"]
    # Valkey's memory ratio needs a maxmemory: the server is started with one (and refuses writes, never evicts).
    valkey = next(r.plain_inputs for r in evaluated("dev").of_type("kubernetes:apps/v1:StatefulSet")
                  if r.name == "valkey-statefulset")
    arguments = valkey["spec"]["template"]["spec"]["containers"][0]["args"]
    assert arguments[arguments.index("--maxmemory") + 1] == "384mb"
    assert arguments[arguments.index("--maxmemory-policy") + 1] == "noeviction"


# --- kind: exporters and their scrape path -------------------------------------------------------------------------

def test_kind_exporters_are_scraped_through_their_services(evaluated: Evaluated) -> None:
    dev = evaluated("dev")
    services = by_name([r.plain_inputs for r in dev.of_type("kubernetes:core/v1:Service")], "browser-data")
    monitors = by_name(custom(dev, "monitoring.coreos.com/v1", "ServiceMonitor"), "browser-data")
    for store, port in (("valkey", 9121), ("postgres", 9187)):
        ports = {p["name"]: p for p in services[store]["spec"]["ports"]}
        assert ports["metrics"]["port"] == port and ports["metrics"]["appProtocol"] == "http"
        assert ports["tcp"]["appProtocol"] == "tcp"  # Istio treats the store port as opaque TCP
        monitor = monitors[store]
        assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
        assert monitor["spec"]["selector"]["matchLabels"].items() <= services[store]["spec"]["selector"].items()
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    policy = next(r.plain_inputs for r in dev.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
                  if r.plain_inputs["metadata"]["name"] == "metrics-from-monitoring")
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    assert sorted(p["port"] for p in rule["ports"]) == [9121, 9187]


def test_postgres_exporter_reads_the_local_socket_as_pg_monitor(evaluated: Evaluated) -> None:
    postgres = next(r.plain_inputs for r in evaluated("dev").of_type("kubernetes:apps/v1:StatefulSet")
                    if r.name == "postgres-statefulset")
    server, exporter = postgres["spec"]["template"]["spec"]["containers"]
    dsn = next(e["value"] for e in exporter["env"] if e["name"] == "DATA_SOURCE_NAME")
    assert dsn == "host=/var/run/postgresql user=postgres_exporter dbname=postgres sslmode=disable"
    socket_mounts = [{v["name"] for v in c["volumeMounts"] if v["mountPath"] == "/var/run/postgresql"}
                     for c in (server, exporter)]
    assert socket_mounts == [{"run"}, {"run"}]  # one emptyDir shared by both
    env = {e["name"]: e for e in server["env"]}
    # Passwords over the network, trust only on the pod-local socket.
    assert env["POSTGRES_INITDB_ARGS"]["value"] == "--auth-host=scram-sha-256 --auth-local=trust"


def test_monitoring_off_means_no_exporters_and_no_store_alerts() -> None:
    off = evaluate_stack("dev", overrides={"monitoring": {"enabled": False},
                                           "autoscaling": {"keda": {"enabled": False}}})
    for stateful_set in off.of_type("kubernetes:apps/v1:StatefulSet"):
        assert len(stateful_set.plain_inputs["spec"]["template"]["spec"]["containers"]) == 1
    assert not off.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
    assert not off.of_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor")


# --- kind: the stores inside the mesh ------------------------------------------------------------------------------

def test_kind_stores_are_in_the_mesh_and_admit_only_the_apis_identity(evaluated: Evaluated) -> None:
    dev = evaluated("dev")
    namespace = next(r for r in dev.of_type("kubernetes:core/v1:Namespace") if r.name == "data-namespace")
    assert namespace.plain_inputs["metadata"]["labels"]["istio-injection"] == "enabled"
    istiod = dev.named("kubernetes:helm.sh/v3:Release", "mesh-istiod")
    for name in ("valkey-statefulset", "postgres-statefulset"):
        stateful_set = dev.named("kubernetes:apps/v1:StatefulSet", name)
        assert istiod.urn in stateful_set.dependencies  # created after the injector exists
        assert "sidecar.istio.io/proxyCPU" in stateful_set.plain_inputs["spec"]["template"]["metadata"]["annotations"]
    peer = by_name(custom(dev, "security.istio.io/v1", "PeerAuthentication"), "browser-data")
    assert peer["default"]["spec"] == {"mtls": {"mode": "STRICT"}}
    assert peer["valkey-metrics-scrape"]["spec"]["portLevelMtls"] == {"9121": {"mode": "PERMISSIVE"}}
    authz = by_name(custom(dev, "security.istio.io/v1", "AuthorizationPolicy"), "browser-data")
    assert authz["allow-nothing"]["spec"] == {}
    for store, port in (("valkey", "6379"), ("postgres", "5432")):
        (rule,) = authz[f"{store}-from-api"]["spec"]["rules"]
        assert rule == {"from": [{"source": {"principals": ["cluster.local/ns/browser-platform/sa/api"]}}],
                        "to": [{"operation": {"ports": [port]}}]}
    (scrape,) = authz["metrics-from-prometheus"]["spec"]["rules"]
    assert scrape["to"][0]["operation"] == {"ports": ["9121", "9187"], "methods": ["GET"], "paths": ["/metrics"]}
    # The sidecars reach istiod past the namespace's default deny.
    assert any(r.plain_inputs["metadata"]["name"] == "allow-istiod-egress"
               and r.plain_inputs["metadata"]["namespace"] == "browser-data"
               for r in dev.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy"))


# --- the API's own PostgreSQL role ---------------------------------------------------------------------------------

def test_the_role_script_grants_only_what_the_api_needs() -> None:
    sql = APP_ROLE_SQL
    assert "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS" in sql
    assert 'REVOKE ALL ON DATABASE :"database" FROM PUBLIC' in sql
    assert 'GRANT CONNECT, TEMPORARY ON DATABASE :"database" TO :"app_role"' in sql
    assert "REVOKE CREATE ON SCHEMA public FROM PUBLIC" in sql
    assert 'GRANT USAGE, CREATE ON SCHEMA :"app_schema" TO :"app_role"' in sql
    assert "\\getenv app_password APP_PASSWORD" in sql and "ON_ERROR_STOP" in sql
    # Identifiers and literals only through psql's quoting (:"x" / :'x'), never pasted in.
    assert "ALL PRIVILEGES" not in sql and "SUPERUSER " not in sql.replace("NOSUPERUSER ", "")


def test_kind_creates_the_role_at_initialisation_with_the_superuser_kept_from_the_api(evaluated: Evaluated) -> None:
    dev = evaluated("dev")
    init = next(r.plain_inputs for r in dev.of_type("kubernetes:core/v1:ConfigMap") if r.name == "data-postgres-init")
    script = init["data"]["10-app-role.sh"]
    assert "-v app_role=api -v database=browser_platform -v app_schema=api -v exporter_role=postgres_exporter" in script
    assert '--username "$POSTGRES_USER"' in script and "POSTGRES_APP_PASSWORD" in script
    postgres = next(r.plain_inputs for r in dev.of_type("kubernetes:apps/v1:StatefulSet") if r.name == "postgres-statefulset")
    server = postgres["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in server["env"]}
    assert env["POSTGRES_USER"]["value"] == "platform_admin"
    assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "POSTGRES_MASTER_PASSWORD"
    mounts = {v["mountPath"] for v in server["volumeMounts"]}
    assert {"/docker-entrypoint-initdb.d", "/etc/app-role"} <= mounts
    stores = next(r.plain_inputs for r in dev.of_type("kubernetes:core/v1:ConfigMap") if r.name == "api-stores")
    assert stores["data"]["POSTGRES_USER"] == "api"


@pytest.mark.parametrize(("stack", "host_fragment", "cidr"), [
    ("prod", "browser-platform-prod-postgres.c0ffee000000", "10.0.0.0/16"),
    ("prod-gcp", "10.30.0.3", "10.30.0.0/16"),
])
def test_cloud_job_creates_the_role_and_alone_holds_the_master_password(evaluated: Evaluated, stack: str,
                                                                       host_fragment: str, cidr: str) -> None:
    evaluation = evaluated(stack)
    job = evaluation.named("kubernetes:batch/v1:Job", "data-app-role-job")
    spec = job.plain_inputs["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert host_fragment in env["PGHOST"]["value"] and env["PGSSLMODE"]["value"] == "require"
    assert env["PGUSER"]["value"] == "platform_admin"
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "app-role-credentials",
                                                              "key": "POSTGRES_MASTER_PASSWORD"}
    assert container["image"] == ("ghcr.io/example/postgres:17.6-bookworm@sha256:" + "0" * 64)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert spec["automountServiceAccountToken"] is False and spec["serviceAccountName"] == "app-role"
    assert job.plain_inputs["metadata"]["namespace"] == "browser-data"
    # The master password lives in the Job's namespace only; the API's Secret holds its own role's password.
    holders = [r for r in evaluation.of_type("kubernetes:core/v1:Secret")
               if "offline-secret-postgresMasterPassword" in json.dumps(r.plain_inputs)]
    assert [(r.plain_inputs["metadata"]["namespace"], r.name) for r in holders] == [("browser-data", "data-app-role-credentials")]
    assert is_secret(holders[0].inputs["stringData"]) or is_secret(holders[0].inputs["stringData"]["POSTGRES_MASTER_PASSWORD"])
    # The API's pods wait for the Job; the Job waits for the primary.
    api = evaluation.named("kubernetes:apps/v1:Deployment", "api-deployment")
    assert job.urn in api.dependencies
    primary = next(r for r in evaluation.resources if r.name == "postgres" and r.type in (
        "aws:rds/instance:Instance", "gcp:sql/databaseInstance:DatabaseInstance"))
    assert primary.urn in job.dependencies
    # Egress: DNS and the primary's port in its range, nothing else.
    egress = next(r.plain_inputs for r in evaluation.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
                  if r.name == "data-app-role-app-role-egress-to-postgres")
    assert egress["spec"]["egress"] == [{"to": [{"ipBlock": {"cidr": cidr}}], "ports": [{"protocol": "TCP", "port": 5432}]}]


def test_a_new_password_replaces_the_job_so_it_runs_again() -> None:
    def checksum(overrides: dict[str, Any]) -> str:
        job = evaluate_stack("prod", overrides=overrides).named("kubernetes:batch/v1:Job", "data-app-role-job")
        value: str = job.plain_inputs["spec"]["template"]["metadata"]["annotations"]["checksum/app-role"]
        return value

    base = checksum({})
    assert len(base) == 64 and "offline" not in base
    assert checksum({"postgresPassword": "another-password-value"}) != base


def test_master_and_api_role_must_differ() -> None:
    from stack_config import ConfigError

    with pytest.raises(ConfigError) as error:
        evaluate_stack("prod", overrides={"dataStores": {"enabled": True, "postgres": {"masterUsername": "api"}}})
    assert any("dataStores.postgres.masterUsername: must differ from username ('api')" in p
               for p in error.value.problems), error.value.problems
