"""GKE: Memorystore for Valkey (cluster mode, Private Service Connect) and Cloud SQL for PostgreSQL (private IP).

Both stay inside the cluster's VPC: Cloud SQL through Private Service Access (a peered range, no public IP) and
Valkey through PSC endpoints in a subnet of their own. Memorystore for Valkey authenticates with IAM, not a shared
token: the API's Kubernetes service account acts as a Google service account (Workload Identity) that holds
`roles/memorystore.dbConnectionUser`, and the API sends an access token as its password (REDIS_IAM=true).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp

from stack_config.data import DataStoresSettings

from ..clusters.handle import GcpNetwork
from ..common.traffic import ExtraEgress
from .alerts import NEAR_FULL, max_connections
from .wiring import POSTGRES_PORT, REDIS_PORT, StoreWiring, secret

WORKLOAD_IDENTITY_ANNOTATION = "iam.gke.io/gcp-service-account"


@dataclass(frozen=True)
class GcpStoresArgs:
    name: str
    stores: DataStoresSettings
    network: GcpNetwork
    provider: gcp.Provider
    secrets: dict[str, str]
    production: bool
    api_namespace: str
    api_service_accounts: list[str]
    """The Kubernetes service accounts (one per store client, named like the workload) that act as the API's
    Google identity."""


def discovery_endpoint(endpoints: Sequence[Any] | None) -> str:
    """The address of Valkey's discovery endpoint among the PSC connections Memorystore created."""
    for endpoint in endpoints or []:
        for connection in endpoint.connections or []:
            auto = connection.psc_auto_connection
            if auto is not None and auto.connection_type == "CONNECTION_TYPE_DISCOVERY" and auto.ip_address:
                return str(auto.ip_address)
    raise ValueError("Memorystore reported no discovery endpoint")


def _sql_settings(stores: DataStoresSettings, network_id: pulumi.Input[str], *, primary: bool,
                  production: bool) -> gcp.sql.DatabaseInstanceSettingsArgs:
    postgres = stores.postgres
    retention = postgres.backup_retention_days
    tier = stores.postgres_instance_class("gke") or ""
    return gcp.sql.DatabaseInstanceSettingsArgs(
        tier=tier,
        edition="ENTERPRISE",  # custom machine tiers are Enterprise edition
        availability_type="REGIONAL" if primary else "ZONAL",
        disk_type="PD_SSD",
        disk_size=postgres.storage_gb,
        disk_autoresize=True,
        deletion_protection_enabled=production,
        ip_configuration=gcp.sql.DatabaseInstanceSettingsIpConfigurationArgs(
            ipv4_enabled=False, private_network=network_id, ssl_mode="ENCRYPTED_ONLY"),
        backup_configuration=gcp.sql.DatabaseInstanceSettingsBackupConfigurationArgs(
            enabled=True, point_in_time_recovery_enabled=True, start_time="02:00",
            transaction_log_retention_days=min(retention, 7),
            backup_retention_settings=gcp.sql.DatabaseInstanceSettingsBackupConfigurationBackupRetentionSettingsArgs(
                retained_backups=retention, retention_unit="COUNT"),
        ) if primary else None,
        insights_config=gcp.sql.DatabaseInstanceSettingsInsightsConfigArgs(query_insights_enabled=True),
        database_flags=[gcp.sql.DatabaseInstanceSettingsDatabaseFlagArgs(name="log_min_duration_statement",
                                                                          value="1000"),
                        # Fixed, so that the connection alert's threshold is an exact fraction (alerts.py).
                        gcp.sql.DatabaseInstanceSettingsDatabaseFlagArgs(name="max_connections",
                                                                          value=str(max_connections(tier)))],
    )


class GcpDataStores(pulumi.ComponentResource):
    wiring: StoreWiring

    def __init__(self, name: str, args: GcpStoresArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:data:GcpDataStores", name, None, opts)
        stores, network = args.stores, args.network
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        protected = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=args.production))
        psa_network, psa_prefix = stores.private_service_cidr.split("/")

        # Private Service Access: a range of the VPC peered to Google's service producers (Cloud SQL).
        psa_range = gcp.compute.GlobalAddress("private-services", gcp.compute.GlobalAddressArgs(
            name=f"{args.name}-private-services", purpose="VPC_PEERING", address_type="INTERNAL",
            address=psa_network, prefix_length=int(psa_prefix), network=network.network_id), opts=child)
        peering = gcp.servicenetworking.Connection("private-services", gcp.servicenetworking.ConnectionArgs(
            network=network.network_id, service="servicenetworking.googleapis.com",
            reserved_peering_ranges=[psa_range.name]), opts=child)

        # Private Service Connect for Memorystore: the policy lets it create endpoints in this subnet.
        psc_subnet = gcp.compute.Subnetwork("valkey-psc", gcp.compute.SubnetworkArgs(
            name=f"{args.name}-valkey-psc", network=network.network_id, region=network.region,
            ip_cidr_range=stores.psc_subnet_cidr, private_ip_google_access=True), opts=child)
        policy = gcp.networkconnectivity.ServiceConnectionPolicy("valkey", gcp.networkconnectivity.ServiceConnectionPolicyArgs(
            name=f"{args.name}-valkey", location=network.region, network=network.network_id,
            service_class="gcp-memorystore", description="Memorystore PSC endpoints of the platform",
            psc_config=gcp.networkconnectivity.ServiceConnectionPolicyPscConfigArgs(subnetworks=[psc_subnet.id])),
            opts=child)
        self.valkey = gcp.memorystore.Instance("valkey", gcp.memorystore.InstanceArgs(
            instance_id=f"{args.name}-valkey"[:63],
            location=network.region,
            mode="CLUSTER",
            shard_count=stores.shards("gke"),
            replica_count=stores.replicas_per_shard("gke"),
            node_type=stores.redis_node_type("gke"),
            engine_version=stores.redis_engine_version("gke"),
            authorization_mode="IAM_AUTH",
            transit_encryption_mode="SERVER_AUTHENTICATION",
            zone_distribution_config=gcp.memorystore.InstanceZoneDistributionConfigArgs(mode="MULTI_ZONE"),
            persistence_config=gcp.memorystore.InstancePersistenceConfigArgs(
                mode="AOF", aof_config=gcp.memorystore.InstancePersistenceConfigAofConfigArgs(append_fsync="EVERY_SEC")),
            deletion_protection_enabled=args.production,
            desired_auto_created_endpoints=[gcp.memorystore.InstanceDesiredAutoCreatedEndpointArgs(
                network=network.network_id, project_id=network.project)],
        ), opts=pulumi.ResourceOptions.merge(protected, pulumi.ResourceOptions(depends_on=[policy])))

        # The API's Google identity for IAM auth to Valkey.
        api_account = gcp.serviceaccount.Account("api-data", gcp.serviceaccount.AccountArgs(
            account_id=f"{args.name}-api"[:30], display_name=f"API of {args.name} (data stores)"), opts=child)
        grant = gcp.projects.IAMMember("api-valkey", gcp.projects.IAMMemberArgs(
            project=network.project, role="roles/memorystore.dbConnectionUser", member=api_account.member), opts=child)
        # One binding per client; the first keeps the name it had when the API was the only one.
        identities = [gcp.serviceaccount.IAMMember(
            f"{account}-workload-identity", gcp.serviceaccount.IAMMemberArgs(
                service_account_id=api_account.name, role="roles/iam.workloadIdentityUser",
                member=f"serviceAccount:{network.project}.svc.id.goog[{args.api_namespace}/{account}]"),
            opts=child) for account in args.api_service_accounts]

        postgres = stores.postgres
        self.postgres = gcp.sql.DatabaseInstance("postgres", gcp.sql.DatabaseInstanceArgs(
            name=f"{args.name}-postgres", region=network.region,
            database_version=stores.postgres_engine_version("gke"),
            settings=_sql_settings(stores, network.network_id, primary=True, production=args.production),
            deletion_protection=args.production,
        ), opts=pulumi.ResourceOptions.merge(protected, pulumi.ResourceOptions(depends_on=[peering])))
        self.replicas = [
            gcp.sql.DatabaseInstance(f"postgres-replica-{index}", gcp.sql.DatabaseInstanceArgs(
                name=f"{args.name}-postgres-replica-{index}", region=network.region,
                database_version=stores.postgres_engine_version("gke"),
                master_instance_name=self.postgres.name,
                replica_configuration=gcp.sql.DatabaseInstanceReplicaConfigurationArgs(failover_target=False),
                settings=_sql_settings(stores, network.network_id, primary=False, production=args.production),
                deletion_protection=args.production,
            ), opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[peering])))
            for index in range(1, stores.read_replicas("gke") + 1)
        ]
        database = gcp.sql.Database("postgres", gcp.sql.DatabaseArgs(
            name=postgres.database, instance=self.postgres.name), opts=child)
        # The master user: Cloud SQL makes every user it creates a member of cloudsqlsuperuser, so this one is
        # never the API's; the app-role Job (components/data/app_role.py) logs in with it to create the API's role.
        user = gcp.sql.User("postgres", gcp.sql.UserArgs(
            name=postgres.master_username, instance=self.postgres.name,
            password=secret(args.secrets, postgres.master_password_secret)), opts=child)
        self.database, self.master_user = database, user

        self.alerts = self._alerts(args, max_connections(stores.postgres_instance_class("gke") or ""))
        valkey_host = self.valkey.endpoints.apply(discovery_endpoint)
        read_host: pulumi.Output[str] = (
            pulumi.Output.all(*(r.private_ip_address for r in self.replicas)).apply(lambda hosts: ",".join(hosts))
            if self.replicas else self.postgres.private_ip_address)
        self.wiring = StoreWiring(
            env={
                "REDIS_HOST": valkey_host, "REDIS_PORT": str(REDIS_PORT), "REDIS_TLS": "true",
                "REDIS_CLUSTER": "true", "REDIS_IAM": "true",
                "POSTGRES_HOST": self.postgres.private_ip_address, "POSTGRES_READ_HOST": read_host,
                "POSTGRES_PORT": str(POSTGRES_PORT), "POSTGRES_DB": postgres.database,
                "POSTGRES_USER": postgres.username, "POSTGRES_SSLMODE": "require",
            },
            secret_env={"POSTGRES_PASSWORD": secret(args.secrets, postgres.password_secret)},
            # Clients discover the cluster on 6379 and then talk to the shards' PSC ports (11000-13047).
            egress=[ExtraEgress(REDIS_PORT, cidrs=[stores.psc_subnet_cidr]),
                    ExtraEgress(11000, end_port=13047, cidrs=[stores.psc_subnet_cidr]),
                    # IAM auth needs an access token from the GKE metadata server, which the API's default-deny
                    # egress would block: on Dataplane V2 it answers on 169.254.169.252:988 (GKE's Workload
                    # Identity troubleshooting notes), reached through the usual 169.254.169.254:80.
                    ExtraEgress(988, cidrs=["169.254.169.252/32"]),
                    ExtraEgress(80, cidrs=["169.254.169.254/32"]),
                    ExtraEgress(POSTGRES_PORT, cidrs=[stores.private_service_cidr])],
            service_account_annotations={WORKLOAD_IDENTITY_ANNOTATION: api_account.email},
            outputs={"redisEndpoint": valkey_host, "postgresEndpoint": self.postgres.private_ip_address,
                     "postgresReadEndpoints": read_host},
            after=[self.valkey, self.postgres, database, user, grant, *identities],
        )
        self.register_outputs({"redis": valkey_host, "postgres": self.postgres.private_ip_address})

    def _alerts(self, args: GcpStoresArgs, connections_limit: int) -> list[gcp.monitoring.AlertPolicy]:
        """Cloud Monitoring policies: Cloud SQL disk, memory and connections near full, replica lag; Valkey memory
        near full and rejected connections. Without notification channels they open incidents in the console;
        add your channels to the policies (docs/operations.md)."""
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        project = args.network.project

        def condition(title: str, filter_: str, threshold: float, aligner: str, reducer: str | None = None,
                      group_by: list[str] | None = None) -> gcp.monitoring.AlertPolicyConditionArgs:
            return gcp.monitoring.AlertPolicyConditionArgs(
                display_name=title,
                condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                    filter=filter_, comparison="COMPARISON_GT", threshold_value=threshold, duration="300s",
                    aggregations=[gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                        alignment_period="60s", per_series_aligner=aligner, cross_series_reducer=reducer,
                        group_by_fields=group_by)]))

        def alert(name: str, title: str, cond: gcp.monitoring.AlertPolicyConditionArgs,
                  severity: str = "WARNING") -> gcp.monitoring.AlertPolicy:
            return gcp.monitoring.AlertPolicy(name, gcp.monitoring.AlertPolicyArgs(
                display_name=f"{args.name}: {title}", combiner="OR", severity=severity, conditions=[cond]),
                opts=child)

        def policy(name: str, metric: str, instance: str, threshold: float, title: str) -> gcp.monitoring.AlertPolicy:
            database = f"{project}:{instance}"
            return alert(name, title, condition(
                title, f'resource.type = "cloudsql_database" AND metric.type = "{metric}" '
                       f'AND resource.labels.database_id = "{database}"', threshold, "ALIGN_MEAN"))

        def connections(name: str, instance: str, title: str) -> gcp.monitoring.AlertPolicy:
            # num_backends is one series per database: summed per instance.
            return alert(name, title, condition(
                title, 'resource.type = "cloudsql_database" AND '
                       'metric.type = "cloudsql.googleapis.com/database/postgresql/num_backends" '
                       f'AND resource.labels.database_id = "{project}:{instance}"',
                connections_limit * NEAR_FULL, "ALIGN_MEAN", "REDUCE_SUM", ["resource.labels.database_id"]))

        valkey = f'resource.type = "memorystore.googleapis.com/Instance" AND resource.labels.instance_id = ' \
                 f'"{(args.name + "-valkey")[:63]}"'

        primary = f"{args.name}-postgres"
        alerts = [
            policy("postgres-disk", "cloudsql.googleapis.com/database/disk/utilization", primary, 0.85,
                   "PostgreSQL disk above 85%"),
            policy("postgres-memory", "cloudsql.googleapis.com/database/memory/utilization", primary, 0.9,
                   "PostgreSQL memory above 90%"),
        ]
        alerts.append(connections("postgres-connections", primary, "PostgreSQL above 80% of max_connections"))
        for index in range(1, len(self.replicas) + 1):
            replica = f"{primary}-replica-{index}"
            alerts += [
                policy(f"postgres-replica-{index}-lag", "cloudsql.googleapis.com/database/replication/replica_lag",
                       replica, 60, f"PostgreSQL replica {index} more than 60 s behind"),
                policy(f"postgres-replica-{index}-disk", "cloudsql.googleapis.com/database/disk/utilization",
                       replica, 0.85, f"PostgreSQL replica {index} disk above 85%"),
                connections(f"postgres-replica-{index}-connections", replica,
                            f"PostgreSQL replica {index} above 80% of max_connections"),
            ]
        alerts += [
            alert("valkey-memory", "Valkey node memory above 80%", condition(
                "Valkey node memory above 80%",
                f'{valkey} AND metric.type = "memorystore.googleapis.com/instance/memory/maximum_utilization"',
                NEAR_FULL, "ALIGN_MAX")),
            alert("valkey-rejected-connections", "Valkey refuses connections (maxclients)", condition(
                "Valkey refuses connections (maxclients)",
                f'{valkey} AND metric.type = "memorystore.googleapis.com/instance/stats/total_rejected_connections_count"',
                0, "ALIGN_MAX"), severity="CRITICAL"),
        ]
        return alerts
