"""The data layer (components/data): managed stores' inputs per cloud, in-cluster stores on kind, the API's wiring
and the NetworkPolicies, on the recorded resources of every stack."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import pytest

from offline.harness import StackEvaluation, evaluate_stack, is_secret
from stack_config import ConfigError
from stack_config.data import STORE_ENV
from tests.conftest import STACKS

Evaluated = Callable[[str], StackEvaluation]
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
RDS = "aws:rds/instance:Instance"
SQL = "gcp:sql/databaseInstance:DatabaseInstance"
VALKEY = "gcp:memorystore/instance:Instance"


def inputs(evaluation: StackEvaluation, type_token: str, name: str) -> dict[str, Any]:
    return evaluation.named(type_token, name).plain_inputs


def api_container(evaluation: StackEvaluation) -> dict[str, Any]:
    spec = inputs(evaluation, "kubernetes:apps/v1:Deployment", "api-deployment")["spec"]["template"]["spec"]
    return next(c for c in spec["containers"] if c["name"] == "api")


def policy(evaluation: StackEvaluation, name: str, namespace: str | None = None) -> dict[str, Any]:
    matches = [r.plain_inputs for r in evaluation.of_type(NETWORK_POLICY) if r.plain_inputs["metadata"]["name"] == name
               and (namespace is None or r.plain_inputs["metadata"]["namespace"] == namespace)]
    assert len(matches) == 1, f"{len(matches)} NetworkPolicies named {name}"
    return matches[0]


# --- EKS -------------------------------------------------------------------------------------------------------

def test_eks_elasticache_is_clustered_encrypted_private_and_highly_available(evaluated: Evaluated) -> None:
    prod = evaluated("prod")
    redis = inputs(prod, REPLICATION_GROUP, "redis")
    assert redis["clusterMode"] == "enabled"
    assert (redis["numNodeGroups"], redis["replicasPerNodeGroup"]) == (3, 1)
    assert redis["automaticFailoverEnabled"] is True and redis["multiAzEnabled"] is True
    assert redis["atRestEncryptionEnabled"] is True and redis["kmsKeyId"].startswith("arn:aws:kms:")
    assert redis["transitEncryptionEnabled"] is True and redis["transitEncryptionMode"] == "required"
    assert is_secret(prod.named(REPLICATION_GROUP, "redis").inputs["authToken"])
    assert redis["parameterGroupName"] == "default.valkey8.cluster.on"
    assert redis["snapshotRetentionLimit"] >= 7
    # The subnet group holds exactly the cluster's private subnets.
    private = {r.id for r in prod.of_type("aws:ec2/subnet:Subnet") if "private" in r.name}
    subnet_group = inputs(prod, "aws:elasticache/subnetGroup:SubnetGroup", "redis")
    assert set(subnet_group["subnetIds"]) == private and len(private) == 3
    assert prod.named(REPLICATION_GROUP, "redis").options["protect"] is True


def test_eks_store_security_groups_admit_only_the_nodes(evaluated: Evaluated) -> None:
    prod = evaluated("prod")
    rules = {r.name: r.plain_inputs for r in prod.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")}
    assert set(rules) == {"redis", "postgres"}
    for name, port in (("redis", 6379), ("postgres", 5432)):
        rule = rules[name]
        assert rule["referencedSecurityGroupId"] == "sg-0cluster000000000"  # the EKS cluster (node) group
        assert "cidrIpv4" not in rule and (rule["fromPort"], rule["toPort"]) == (port, port)
    groups = {r.name: r.id for r in prod.of_type("aws:ec2/securityGroup:SecurityGroup")}
    assert inputs(prod, REPLICATION_GROUP, "redis")["securityGroupIds"] == [groups["redis"]]
    assert inputs(prod, RDS, "postgres")["vpcSecurityGroupIds"] == [groups["postgres"]]


def test_eks_rds_is_multi_az_encrypted_private_backed_up_and_protected(evaluated: Evaluated) -> None:
    prod = evaluated("prod")
    primary = inputs(prod, RDS, "postgres")
    assert primary["multiAz"] is True and primary["storageEncrypted"] is True
    assert primary["publiclyAccessible"] is False
    assert primary["backupRetentionPeriod"] >= 7
    assert primary["deletionProtection"] is True and primary["skipFinalSnapshot"] is False
    assert primary["finalSnapshotIdentifier"]
    assert primary["performanceInsightsEnabled"] is True
    assert primary["allocatedStorage"] == 50
    assert primary["allowMajorVersionUpgrade"] is True  # an engineVersion bump can take effect
    assert is_secret(prod.named(RDS, "postgres").inputs["password"])
    group = prod.named("aws:rds/parameterGroup:ParameterGroup", "postgres").plain_inputs
    # TLS forced; max_connections fixed (50 per GiB of db.r7g.large's 16), the connection alarms' base.
    assert [(p["name"], p["value"]) for p in group["parameters"]] == [("rds.force_ssl", "1"), ("max_connections", "800")]
    # The master user is not the API's role.
    assert primary["username"] == "platform_admin"
    assert prod.named(RDS, "postgres").inputs["password"]["value"] == "offline-secret-postgresMasterPassword"
    assert primary["parameterGroupName"] == prod.named("aws:rds/parameterGroup:ParameterGroup", "postgres").outputs["name"]
    replicas = [r.plain_inputs for r in prod.of_type(RDS) if r.name.startswith("postgres-replica-")]
    assert len(replicas) == 2
    for replica in replicas:
        assert replica["replicateSourceDb"] == primary["identifier"]
        assert replica["publiclyAccessible"] is False and replica["storageEncrypted"] is True
    assert prod.named(RDS, "postgres").options["protect"] is True


# --- GKE -------------------------------------------------------------------------------------------------------

def test_gke_valkey_is_clustered_iam_authenticated_encrypted_in_transit_and_private(evaluated: Evaluated) -> None:
    gcp = evaluated("prod-gcp")
    valkey = inputs(gcp, VALKEY, "valkey")
    assert valkey["mode"] == "CLUSTER" and (valkey["shardCount"], valkey["replicaCount"]) == (3, 1)
    assert valkey["authorizationMode"] == "IAM_AUTH"
    assert valkey["transitEncryptionMode"] == "SERVER_AUTHENTICATION"
    assert valkey["zoneDistributionConfig"]["mode"] == "MULTI_ZONE"
    assert valkey["deletionProtectionEnabled"] is True
    network = gcp.named("gcp:compute/network:Network", "vpc").id
    assert valkey["desiredAutoCreatedEndpoints"][0]["network"] == network
    psc = inputs(gcp, "gcp:networkconnectivity/serviceConnectionPolicy:ServiceConnectionPolicy", "valkey")
    assert psc["serviceClass"] == "gcp-memorystore" and psc["network"] == network
    # The API's Kubernetes service account acts as the Google account that may connect.
    account = gcp.named("gcp:serviceaccount/account:Account", "api-data").outputs
    sa = next(r.plain_inputs for r in gcp.of_type("kubernetes:core/v1:ServiceAccount") if r.name == "api-service-account")
    assert sa["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] == account["email"]
    binding = inputs(gcp, "gcp:serviceaccount/iAMMember:IAMMember", "api-workload-identity")
    assert binding["member"] == "serviceAccount:browser-platform-prod.svc.id.goog[browser-platform/api]"


def test_gke_cloud_sql_is_regional_private_backed_up_with_pitr_and_two_replicas(evaluated: Evaluated) -> None:
    gcp = evaluated("prod-gcp")
    primary = inputs(gcp, SQL, "postgres")
    settings = primary["settings"]
    assert settings["availabilityType"] == "REGIONAL"
    ip = settings["ipConfiguration"]
    assert ip["ipv4Enabled"] is False and ip["sslMode"] == "ENCRYPTED_ONLY"
    assert ip["privateNetwork"] == gcp.named("gcp:compute/network:Network", "vpc").id
    backups = settings["backupConfiguration"]
    assert backups["enabled"] is True and backups["pointInTimeRecoveryEnabled"] is True
    assert backups["backupRetentionSettings"]["retainedBackups"] >= 7
    assert primary["deletionProtection"] is True and settings["deletionProtectionEnabled"] is True
    replicas = [r.plain_inputs for r in gcp.of_type(SQL) if r.name.startswith("postgres-replica-")]
    assert len(replicas) == 2 and all(r["masterInstanceName"] == primary["name"] for r in replicas)
    assert all(r["settings"]["ipConfiguration"]["ipv4Enabled"] is False for r in replicas)
    # Private Service Access: the peered range is the configured one, and the instance waits for the peering.
    psa = inputs(gcp, "gcp:compute/globalAddress:GlobalAddress", "private-services")
    assert (psa["purpose"], psa["address"], psa["prefixLength"]) == ("VPC_PEERING", "10.30.0.0", 16)
    peering = gcp.named("gcp:servicenetworking/connection:Connection", "private-services")
    assert peering.urn in gcp.named(SQL, "postgres").dependencies


# --- kind ------------------------------------------------------------------------------------------------------

def test_kind_runs_hardened_single_pod_stores_with_volumes_and_pinned_images(evaluated: Evaluated) -> None:
    dev = evaluated("dev")
    sets = {r.name: r.plain_inputs for r in dev.of_type(STATEFUL_SET)}
    assert set(sets) == {"valkey-statefulset", "postgres-statefulset"}
    for stateful_set in sets.values():
        assert stateful_set["metadata"]["namespace"] == "browser-data"
        spec = stateful_set["spec"]
        pod = spec["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["automountServiceAccountToken"] is False
        container, exporter = pod["containers"]  # the server, and its exporter (monitoring is on in dev)
        for each in (container, exporter):
            context = each["securityContext"]
            assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"] and context["runAsUser"] > 0
            assert {"readinessProbe", "livenessProbe"} <= set(each)
            assert {"cpu", "memory"} <= set(each["resources"]["limits"])
        assert container["image"].split(":")[1][0].isdigit() and "latest" not in container["image"]
        assert "startupProbe" in container
        # The exporter is pinned by digest (exporters.py), and serves the `metrics` port.
        assert "@sha256:" in exporter["image"] and len(exporter["image"].split("@sha256:")[1]) == 64
        assert [p["name"] for p in exporter["ports"]] == ["metrics"]
        (claim,) = spec["volumeClaimTemplates"]
        assert claim["spec"]["storageClassName"] == "standard"
        assert not any("hostPath" in volume for volume in pod.get("volumes", []))
        # Passwords come from the store Secret, never inline.
        assert all("value" not in env for env in container["env"] if env["name"].endswith("PASSWORD"))
    namespace = next(r.plain_inputs for r in dev.of_type("kubernetes:core/v1:Namespace")
                     if r.plain_inputs["metadata"]["name"] == "browser-data")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    secret = next(r for r in dev.of_type("kubernetes:core/v1:Secret") if r.name == "data-credentials")
    assert is_secret(secret.inputs["stringData"])


def test_kind_stores_admit_only_the_api_pods(evaluated: Evaluated) -> None:
    dev = evaluated("dev")
    deny = policy(dev, "default-deny-all", "browser-data")
    assert deny["spec"]["policyTypes"] == ["Ingress", "Egress"] and deny["spec"]["podSelector"] == {}
    for store, port in (("valkey", 6379), ("postgres", 5432)):
        rule = policy(dev, f"{store}-ingress-from-api", "browser-data")["spec"]["ingress"]
        assert rule == [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "browser-platform"}},
                                   "podSelector": {"matchLabels": {"app.kubernetes.io/name": "api",
                                                                   "app.kubernetes.io/part-of": "browser-platform"}}}],
                         "ports": [{"protocol": "TCP", "port": port}]}]


# --- wiring into the API, for every stack ----------------------------------------------------------------------

@pytest.mark.parametrize("stack", STACKS)
def test_api_receives_endpoints_as_config_and_credentials_from_secrets(evaluated: Evaluated, stack: str) -> None:
    evaluation = evaluated(stack)
    config_map = next(r.plain_inputs for r in evaluation.of_type("kubernetes:core/v1:ConfigMap") if r.name == "api-stores")
    data = config_map["data"]
    assert {"REDIS_HOST", "REDIS_PORT", "REDIS_TLS", "POSTGRES_HOST", "POSTGRES_DB", "POSTGRES_SSLMODE"} <= set(data)
    assert not any("PASSWORD" in key for key in data)
    container = api_container(evaluation)
    assert {"configMapRef": {"name": "api-stores"}} in container["envFrom"]
    secret_refs = {env["name"]: env["valueFrom"]["secretKeyRef"] for env in container.get("env", [])}
    assert secret_refs["POSTGRES_PASSWORD"] == {"name": "api-secrets", "key": "POSTGRES_PASSWORD"}
    secret = next(r for r in evaluation.of_type("kubernetes:core/v1:Secret") if r.name == "api-secrets")
    assert is_secret(secret.inputs["stringData"]) or is_secret(secret.inputs["stringData"]["POSTGRES_PASSWORD"])
    assert secret.plain_inputs["stringData"]["POSTGRES_PASSWORD"] == "offline-secret-postgresPassword"
    if stack == "prod-gcp":
        assert data["REDIS_IAM"] == "true" and "REDIS_PASSWORD" not in secret_refs
    else:
        assert secret.plain_inputs["stringData"]["REDIS_PASSWORD"] == "offline-secret-redisAuthToken"
    expected_tls = {"dev": "false", "prod": "true", "prod-gcp": "true"}[stack]
    assert data["REDIS_TLS"] == expected_tls
    # Outputs of the managed stores: no manual copying.
    outputs = evaluation.outputs
    assert outputs["redisEndpoint"] == data["REDIS_HOST"] and outputs["postgresEndpoint"] == data["POSTGRES_HOST"]
    assert "checksum/stores" in inputs(evaluation, "kubernetes:apps/v1:Deployment", "api-deployment")[
        "spec"]["template"]["metadata"]["annotations"]


@pytest.mark.parametrize("stack", STACKS)
def test_only_the_api_may_reach_the_stores_never_the_browser(evaluated: Evaluated, stack: str) -> None:
    evaluation = evaluated(stack)
    egress = policy(evaluation, "api-egress", "browser-platform")["spec"]["egress"]
    store_rules = [rule for rule in egress if {p.get("port") for p in rule["ports"]} & {6379, 5432}]
    assert len(store_rules) == 2
    browser = policy(evaluation, "browser-egress-internet", "browser-platform")["spec"]["egress"]
    (block,) = [peer["ipBlock"] for rule in browser for peer in rule["to"]]
    excluded = [ipaddress.ip_network(c) for c in block["except"]]
    for rule in store_rules:
        for peer in rule["to"]:
            if "ipBlock" in peer:  # a managed store: its range is one the browser may never reach
                store = ipaddress.ip_network(peer["ipBlock"]["cidr"])
                assert any(store.subnet_of(e) for e in excluded if e.version == store.version)  # type: ignore[arg-type]
            else:  # an in-cluster store: its pods admit the API only (test_kind_stores_admit_only_the_api_pods)
                assert peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "browser-data"


def test_gke_api_egress_opens_the_valkey_shard_ports_and_the_metadata_server(evaluated: Evaluated) -> None:
    egress = policy(evaluated("prod-gcp"), "api-egress", "browser-platform")["spec"]["egress"]
    assert {"protocol": "TCP", "port": 11000, "endPort": 13047} in [p for rule in egress for p in rule["ports"]]
    # IAM auth: the token comes from the GKE metadata server; only the API gets this path.
    assert {"to": [{"ipBlock": {"cidr": "169.254.169.252/32"}}], "ports": [{"protocol": "TCP", "port": 988}]} in egress
    browser = policy(evaluated("prod-gcp"), "browser-egress-internet", "browser-platform")["spec"]["egress"]
    assert "169.254.0.0/16" in browser[0]["to"][0]["ipBlock"]["except"]


# --- switching off, bringing your own, and bad input ------------------------------------------------------------

def test_layer_off_registers_no_store_and_wires_nothing() -> None:
    evaluation = evaluate_stack("dev", overrides={"dataStores": {"enabled": False}})
    assert not evaluation.of_type(STATEFUL_SET)
    assert not any(r.name == "api-stores" for r in evaluation.resources)
    assert "redisEndpoint" not in evaluation.outputs


def test_external_stores_are_wired_without_provisioning_anything() -> None:
    external = {"enabled": False, "external": {
        "redis": {"host": "redis.internal.example.com", "port": 6380, "secret": "redisAuthToken", "cidr": "10.99.0.0/24"},
        "postgres": {"host": "pg.internal.example.com", "port": 5432, "secret": "postgresPassword",
                     "cidr": "10.99.1.0/24"}}}
    evaluation = evaluate_stack("prod", overrides={"dataStores": external})
    assert not evaluation.of_type(REPLICATION_GROUP) and not evaluation.of_type(RDS)
    data = next(r.plain_inputs for r in evaluation.of_type("kubernetes:core/v1:ConfigMap") if r.name == "api-stores")["data"]
    assert (data["REDIS_HOST"], data["REDIS_PORT"]) == ("redis.internal.example.com", "6380")
    egress = policy(evaluation, "api-egress", "browser-platform")["spec"]["egress"]
    assert {"to": [{"ipBlock": {"cidr": "10.99.0.0/24"}}], "ports": [{"protocol": "TCP", "port": 6380}]} in egress


@pytest.mark.parametrize(("stack", "overrides", "message"), [
    ("prod", {"dataStores": {"redis": {"nodeType": "cache.x9.huge"}}},
     "browser-platform:dataStores.redis.nodeType: 'cache.x9.huge' is not available on eks; allowed: cache.t4g.medium"),
    ("prod-gcp", {"dataStores": {"postgres": {"engineVersion": "17"}}},
     "browser-platform:dataStores.postgres.engineVersion: '17' is not available on gke; allowed: POSTGRES_16, POSTGRES_17"),
    ("prod", {"dataStores": {"postgres": {"backupRetentionDays": 3}}},
     "browser-platform:dataStores.postgres.backupRetentionDays: must be at least 7 on eks"),
    ("prod", {"dataStores": {"redis": {"replicasPerShard": 0}}},
     "browser-platform:dataStores.redis.replicasPerShard: must be at least 1 on the clouds"),
    ("dev", {"dataStores": {"postgres": {"readReplicas": 2}}},
     "browser-platform:dataStores.postgres.readReplicas: must be 0 on kind"),
    ("prod", {"dataStores": {"redis": {"shards": 0}}},
     "browser-platform:dataStores.redis.shards: Input should be greater than or equal to 1"),
    ("prod-gcp", {"dataStores": {"redis": {"engine": "redis"}}},
     "browser-platform:dataStores.redis.engine: 'redis' is not available on gke; allowed: valkey"),
    ("prod", {"dataStores": {"redis": {"authSecret": "missingToken"}}},
     "browser-platform:dataStores.redis.authSecret: the data store's password 'browser-platform:missingToken' is not set"),
    ("prod", {"dataStores": {"enabled": False, "external": {
        "redis": {"host": "r.example.com", "port": 6379, "secret": "redisAuthToken", "cidr": "203.0.113.0/24"},
        "postgres": {"host": "p.example.com", "port": 5432, "secret": "postgresPassword", "cidr": "10.9.0.0/24"}}}},
     "browser-platform:dataStores.external.redis.cidr: 203.0.113.0/24 must lie inside network.internalCidrs"),
    ("prod", {"dataStores": {"external": {
        "redis": {"host": "r.example.com", "port": 6379, "secret": "redisAuthToken", "cidr": "10.9.1.0/24"},
        "postgres": {"host": "p.example.com", "port": 5432, "secret": "postgresPassword", "cidr": "10.9.0.0/24"}}}},
     "browser-platform:dataStores.external: set enabled false to bring your own stores"),
    ("prod-gcp", {"dataStores": {"pscSubnetCidr": "10.30.1.0/24"}},
     "browser-platform:dataStores.pscSubnetCidr: must not overlap privateServiceCidr"),
    ("prod", {"workloads": {"api": {"env": {"POSTGRES_HOST": "x"}}}},
     "browser-platform:workloads.api.env.POSTGRES_HOST: is set by the data layer"),
])
def test_bad_store_config_is_a_config_error_naming_the_key(stack: str, overrides: dict[str, Any], message: str) -> None:
    if "dataStores" in overrides:  # an override replaces the stack file's block, which turns the layer on
        overrides = {**overrides, "dataStores": {"enabled": True, **overrides["dataStores"]}}
    with pytest.raises(ConfigError) as error:
        evaluate_stack(stack, overrides=overrides)
    assert any(problem.startswith(message) for problem in error.value.problems), error.value.problems


def test_plaintext_store_password_is_rejected() -> None:
    with pytest.raises(ConfigError) as error:
        evaluate_stack("dev", overrides={"dataStores": {"enabled": True, "postgres": {"passwordSecret": "plainPassword"}},
                                         "plainPassword": "hunter2hunter2"})
    assert any("dataStores.postgres.passwordSecret: 'browser-platform:plainPassword' is plaintext" in p
               for p in error.value.problems), error.value.problems


def test_store_env_names_are_the_ones_the_layer_sets(evaluated: Evaluated) -> None:
    data = next(r.plain_inputs for r in evaluated("prod").of_type("kubernetes:core/v1:ConfigMap") if r.name == "api-stores")
    secret = next(r.plain_inputs for r in evaluated("prod").of_type("kubernetes:core/v1:Secret") if r.name == "api-secrets")
    set_by_layer = set(data["data"]) | (set(secret["stringData"]) - {"API_SECRET_KEY"})
    assert set_by_layer == set(STORE_ENV)


# --- capacity ----------------------------------------------------------------------------------------------------

def test_capacity_counts_the_in_cluster_stores_with_the_requests_the_statefulsets_set(evaluated: Evaluated) -> None:
    from capacity.data_stores import POSTGRES, POSTGRES_EXPORTER, REDIS_EXPORTER, VALKEY
    from scripts.capacity_report import load_config, render

    for name, server, exporter in (("valkey-statefulset", VALKEY, REDIS_EXPORTER),
                                   ("postgres-statefulset", POSTGRES, POSTGRES_EXPORTER)):
        pod = inputs(evaluated("dev"), STATEFUL_SET, name)["spec"]["template"]
        containers = pod["spec"]["containers"]
        for container, requests in zip(containers, (server, exporter), strict=True):
            assert {k: container["resources"]["requests"][k] for k in ("cpu", "memory")} == requests.values()
        # The mesh sidecar's requests (annotations, like the workloads'): 50m / 64Mi in dev.
        annotations = pod["metadata"]["annotations"]
        assert (annotations["sidecar.istio.io/proxyCPU"], annotations["sidecar.istio.io/proxyMemory"]) == ("50m", "64Mi")
    text, _ = render("dev", load_config("dev"))
    # 50m + 200m servers, 2 x 10m exporters, 2 x 50m sidecars; 128 + 256 + 32 + 48 + 2 x 64 MiB.
    assert "in-cluster Valkey + PostgreSQL, one pod each, requesting 370m / 592Mi" in text
    off, _ = render("dev", load_config("dev").model_copy(update={"data_stores": load_config("dev").data_stores.model_copy(
        update={"enabled": False})}))
    def host_cpu_m(report: str) -> int:
        line = next(line for line in report.splitlines() if line.startswith("## kind:"))
        return int(line.split(" request ", 1)[1].split("m CPU", 1)[0])

    assert host_cpu_m(text) - host_cpu_m(off) == 370  # the stores' requests are in the host total


@pytest.mark.parametrize(("stack", "expected"), [
    ("prod", ["6 x cache.r7g.large (3 shards x (1 primary + 1 replica))",
              "4 x db.r7g.large (primary + Multi-AZ standby + 2 read replicas)"]),
    ("prod-gcp", ["6 x HIGHMEM_MEDIUM", "4 x db-custom-2-8192 (primary + REGIONAL standby + 2 read replicas)"]),
])
def test_capacity_lists_the_managed_store_nodes(stack: str, expected: list[str]) -> None:
    from scripts.capacity_report import load_config, render

    text, _ = render(stack, load_config(stack))
    for fragment in expected:
        assert fragment in text
    # No sourced price yet: the report says so instead of inventing one.
    assert "no sourced, dated list price" in text


def test_eks_vpc_must_be_out_of_the_browsers_reach() -> None:
    with pytest.raises(ConfigError) as error:
        evaluate_stack("prod", overrides={"network": {"internalCidrs": ["172.16.0.0/12", "169.254.0.0/16"]}})
    assert any(p.startswith("browser-platform:network.internalCidrs: must cover cluster.vpcCidr (10.0.0.0/16)")
               for p in error.value.problems), error.value.problems


# --- alerts ------------------------------------------------------------------------------------------------------

def test_eks_store_events_and_alarms_go_to_one_topic(evaluated: Evaluated) -> None:
    prod = evaluated("prod")
    arn = prod.named("aws:sns/topic:Topic", "data-alerts").outputs["arn"]
    assert arn == "arn:aws:sns:us-east-1:123456789012:browser-platform-prod-data-alerts"
    assert inputs(prod, REPLICATION_GROUP, "redis")["notificationTopicArn"] == arn
    events = inputs(prod, "aws:rds/eventSubscription:EventSubscription", "postgres-events")
    assert {"failover", "failure", "low storage"} <= set(events["eventCategories"])
    assert set(events["sourceIds"]) == {r.plain_inputs["identifier"] for r in prod.of_type(RDS)}
    alarms = {r.name: r.plain_inputs for r in prod.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    lag = [a for name, a in alarms.items() if name.startswith("postgres-replica-") and name.endswith("-lag")]
    assert len(lag) == 2 and all(a["metricName"] == "ReplicaLag" and a["threshold"] == 60 for a in lag)
    for name in ("postgres-free-storage", "postgres-replica-1-free-storage", "postgres-replica-2-free-storage"):
        storage = alarms[name]
        assert storage["threshold"] == 50 * 2**30 * 0.1 and storage["comparisonOperator"] == "LessThanThreshold"
    # Connections: 80% of the max_connections the parameter group sets (800 on db.r7g.large), on every instance.
    connections = [a for name, a in alarms.items() if name.endswith("-connections") and name.startswith("postgres")]
    assert len(connections) == 3 and all(a["metricName"] == "DatabaseConnections" and a["threshold"] == 640
                                         for a in connections)
    assert {a["dimensions"]["DBInstanceIdentifier"] for a in connections} == events_ids(events)
    # Memory and connections of every ElastiCache node (3 shards x 2), by member cache cluster id.
    cache = [a for a in alarms.values() if a["namespace"] == "AWS/ElastiCache"]
    members = {f"browser-platform-prod-redis-{shard:04d}-{node:03d}" for shard in (1, 2, 3) for node in (1, 2)}
    for metric, threshold in (("DatabaseMemoryUsagePercentage", 80), ("CurrConnections", 52000)):
        watched = [a for a in cache if a["metricName"] == metric]
        assert {a["dimensions"]["CacheClusterId"] for a in watched} == members
        assert all(a["threshold"] == threshold for a in watched)
    assert all(a["alarmActions"] == [arn] for a in alarms.values())
    assert prod.outputs["dataAlertsTopic"] == arn


def events_ids(events: dict[str, Any]) -> set[str]:
    return set(events["sourceIds"])


def test_gke_cloud_sql_alert_policies_watch_disk_memory_and_lag(evaluated: Evaluated) -> None:
    policies = {r.name: r.plain_inputs for r in evaluated("prod-gcp").of_type("gcp:monitoring/alertPolicy:AlertPolicy")}
    assert set(policies) == {"postgres-disk", "postgres-memory", "postgres-connections", "valkey-memory",
                             "valkey-rejected-connections",
                             *(f"postgres-replica-{i}-{what}" for i in (1, 2) for what in ("lag", "disk", "connections"))}
    # Connections: the summed backends of each instance against 80% of its max_connections flag (400 on 8 GiB).
    sql = inputs(evaluated("prod-gcp"), SQL, "postgres")["settings"]["databaseFlags"]
    assert {"name": "max_connections", "value": "400"} in sql
    connections = policies["postgres-connections"]["conditions"][0]["conditionThreshold"]
    assert "postgresql/num_backends" in connections["filter"] and connections["thresholdValue"] == 320
    assert connections["aggregations"][0]["crossSeriesReducer"] == "REDUCE_SUM"
    memory = policies["valkey-memory"]["conditions"][0]["conditionThreshold"]
    assert 'resource.type = "memorystore.googleapis.com/Instance"' in memory["filter"]
    assert 'resource.labels.instance_id = "browser-platform-prod-valkey"' in memory["filter"]
    assert inputs(evaluated("prod-gcp"), VALKEY, "valkey")["instanceId"] == "browser-platform-prod-valkey"
    lag = policies["postgres-replica-2-lag"]["conditions"][0]["conditionThreshold"]
    assert 'resource.labels.database_id = "browser-platform-prod:browser-platform-prod-postgres-replica-2"' in lag["filter"]
    assert "replication/replica_lag" in lag["filter"] and lag["thresholdValue"] == 60
