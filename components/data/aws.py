"""EKS: ElastiCache (Valkey or Redis OSS, cluster mode) and RDS for PostgreSQL in the cluster's private subnets.

PostgreSQL is a Multi-AZ RDS instance with read replicas rather than Aurora: it maps the seed's shape (one primary,
two readers, 50 GiB) one to one, bills storage per GB-month without Aurora Standard's per-I/O charge, and its price
is the per-instance-hour figure the capacity table holds. Aurora fails over faster (about 30 s against one to two
minutes) and is the upgrade path when that matters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from stack_config.data import DataStoresSettings, Flavor

from ..clusters.handle import AwsNetwork
from ..common.traffic import ExtraEgress
from .alerts import ELASTICACHE_MAX_CLIENTS, NEAR_FULL, max_connections
from .wiring import POSTGRES_PORT, REDIS_PORT, StoreWiring, secret

CLUSTER_MODE_PARAMETER_GROUPS = {"valkey": "default.valkey{major}.cluster.on", "redis": "default.redis{major}.cluster.on"}
"""ElastiCache's default parameter group for cluster mode per engine major (cluster mode needs `cluster.on`)."""


@dataclass(frozen=True)
class AwsStoresArgs:
    name: str
    stores: DataStoresSettings
    network: AwsNetwork
    provider: aws.Provider
    secrets: dict[str, str]
    production: bool


def _member(ids: Sequence[str] | None, index: int, expected: int) -> str:
    """The index-th node (member cache cluster) of the replication group, in id order."""
    nodes = sorted(ids or [])
    if len(nodes) != expected:
        raise ValueError(f"the replication group reports {len(nodes)} member clusters, expected {expected} "
                         "(shards x (1 + replicasPerShard))")
    return nodes[index]


class AwsDataStores(pulumi.ComponentResource):
    wiring: StoreWiring

    def __init__(self, name: str, args: AwsStoresArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:data:AwsDataStores", name, None, opts)
        stores, network = args.stores, args.network
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        # A key of the stores' own, so that their data and snapshots are not readable with the cluster's key.
        key = aws.kms.Key("data", aws.kms.KeyArgs(
            description=f"Encryption at rest of the data stores of {args.name}", enable_key_rotation=True,
            deletion_window_in_days=30), opts=child)

        def security_group(store: str, port: int) -> aws.ec2.SecurityGroup:
            group = aws.ec2.SecurityGroup(store, aws.ec2.SecurityGroupArgs(
                vpc_id=network.vpc_id, description=f"{store} of {args.name}: reachable from the cluster's nodes only",
                tags={"Name": f"{args.name}-{store}"}), opts=child)
            # Pods take node addresses' security group (VPC CNI), so the node group is the narrowest source;
            # the NetworkPolicies narrow it further to the API's pods.
            aws.vpc.SecurityGroupIngressRule(store, aws.vpc.SecurityGroupIngressRuleArgs(
                security_group_id=group.id, referenced_security_group_id=network.node_security_group_id,
                ip_protocol="tcp", from_port=port, to_port=port, description="from the EKS nodes"),
                opts=pulumi.ResourceOptions(parent=group, provider=args.provider))
            return group

        redis_group = security_group("redis", REDIS_PORT)
        postgres_group = security_group("postgres", POSTGRES_PORT)
        flavor: Flavor = "eks"
        engine = stores.redis.engine
        version = stores.redis_engine_version(flavor)
        cache_subnets = aws.elasticache.SubnetGroup("redis", aws.elasticache.SubnetGroupArgs(
            name=f"{args.name}-redis", subnet_ids=network.private_subnet_ids,
            description=f"Private subnets of {args.name}"), opts=child)
        # Where store events and alarms go (failovers, node replacements, low storage, replica lag): subscribe your
        # on-call address or chat integration to it. Not KMS-encrypted: RDS and ElastiCache can only publish to an
        # encrypted topic whose key policy admits them, and the notifications carry no data or credentials.
        self.topic = aws.sns.Topic("data-alerts", aws.sns.TopicArgs(name=f"{args.name}-data-alerts"), opts=child)
        self.redis = aws.elasticache.ReplicationGroup("redis", aws.elasticache.ReplicationGroupArgs(
            replication_group_id=f"{args.name}-redis"[:40],
            description=f"Sessions, profiles and heartbeats of {args.name}",
            engine=engine,
            engine_version=version,
            node_type=stores.redis_node_type(flavor),
            cluster_mode="enabled",
            num_node_groups=stores.shards(flavor),
            replicas_per_node_group=stores.replicas_per_shard(flavor),
            parameter_group_name=CLUSTER_MODE_PARAMETER_GROUPS[engine].format(major=version.split(".")[0]),
            port=REDIS_PORT,
            automatic_failover_enabled=True,
            multi_az_enabled=True,
            at_rest_encryption_enabled=True,
            kms_key_id=key.arn,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            auth_token=secret(args.secrets, stores.redis.auth_secret),
            auth_token_update_strategy="ROTATE",
            subnet_group_name=cache_subnets.name,
            security_group_ids=[redis_group.id],
            snapshot_retention_limit=stores.redis.snapshot_retention_days,
            auto_minor_version_upgrade=True,
            final_snapshot_identifier=f"{args.name}-redis-final" if args.production else None,
            apply_immediately=False,
            notification_topic_arn=self.topic.arn,
        ), opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=args.production)))

        postgres = stores.postgres
        db_subnets = aws.rds.SubnetGroup("postgres", aws.rds.SubnetGroupArgs(
            name=f"{args.name}-postgres", subnet_ids=network.private_subnet_ids,
            description=f"Private subnets of {args.name}"), opts=child)
        engine_version = stores.postgres_engine_version(flavor)
        parameters = aws.rds.ParameterGroup("postgres", aws.rds.ParameterGroupArgs(
            name_prefix=f"{args.name}-postgres{engine_version}-", family=f"postgres{engine_version}",
            description="TLS required for every connection; max_connections fixed for the connection alarms",
            parameters=[aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1"),
                        # Static: applied at creation, after a reboot on a change.
                        aws.rds.ParameterGroupParameterArgs(
                            name="max_connections", apply_method="pending-reboot",
                            value=str(max_connections(stores.postgres_instance_class(flavor) or "")))]),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                # A new family (major upgrade) needs a new group before the instance moves to it.
                replace_on_changes=["family"], delete_before_replace=False)))
        common = {
            "instance_class": stores.postgres_instance_class(flavor),
            "storage_type": "gp3",
            "storage_encrypted": True,
            "kms_key_id": key.arn,
            "publicly_accessible": False,
            "vpc_security_group_ids": [postgres_group.id],
            "parameter_group_name": parameters.name,
            "performance_insights_enabled": True,
            "performance_insights_kms_key_id": key.arn,
            "performance_insights_retention_period": 7,
            "auto_minor_version_upgrade": True,
            "copy_tags_to_snapshot": True,
            "deletion_protection": args.production,
        }
        self.postgres = aws.rds.Instance("postgres", aws.rds.InstanceArgs(
            identifier=f"{args.name}-postgres",
            engine="postgres",
            engine_version=engine_version,
            # Without it, a major bump in engineVersion (with its new parameter group family) fails the update;
            # RDS upgrades the in-region read replicas with the primary.
            allow_major_version_upgrade=True,
            allocated_storage=postgres.storage_gb,
            max_allocated_storage=postgres.storage_gb * 4,
            db_name=postgres.database,
            # The master user: only the app-role Job (components/data/app_role.py) logs in with it.
            username=postgres.master_username,
            password=secret(args.secrets, postgres.master_password_secret),
            port=POSTGRES_PORT,
            db_subnet_group_name=db_subnets.name,
            multi_az=True,
            backup_retention_period=postgres.backup_retention_days,
            delete_automated_backups=not args.production,
            skip_final_snapshot=not args.production,
            final_snapshot_identifier=f"{args.name}-postgres-final" if args.production else None,
            enabled_cloudwatch_logs_exports=["postgresql"],
            **common,
        ), opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=args.production)))
        self.replicas = [
            aws.rds.Instance(f"postgres-replica-{index}", aws.rds.InstanceArgs(
                identifier=f"{args.name}-postgres-replica-{index}",
                replicate_source_db=self.postgres.identifier,
                skip_final_snapshot=True,  # a replica's data is the primary's
                **common,
            ), opts=child)
            for index in range(1, stores.read_replicas(flavor) + 1)
        ]
        self.alerts = self._alerts(args, postgres.storage_gb, stores.postgres_instance_class(flavor) or "",
                                   stores.shards(flavor) * (1 + stores.replicas_per_shard(flavor)))
        read_host: pulumi.Output[str] = (
            pulumi.Output.all(*(r.address for r in self.replicas)).apply(lambda hosts: ",".join(hosts))
            if self.replicas else self.postgres.address)
        self.wiring = StoreWiring(
            env={
                "REDIS_HOST": self.redis.configuration_endpoint_address,
                "REDIS_PORT": str(REDIS_PORT), "REDIS_TLS": "true", "REDIS_CLUSTER": "true",
                "REDIS_IAM": "false",
                "POSTGRES_HOST": self.postgres.address, "POSTGRES_READ_HOST": read_host,
                "POSTGRES_PORT": str(POSTGRES_PORT), "POSTGRES_DB": postgres.database,
                "POSTGRES_USER": postgres.username, "POSTGRES_SSLMODE": "require",
            },
            secret_env={"REDIS_PASSWORD": secret(args.secrets, stores.redis.auth_secret),
                        "POSTGRES_PASSWORD": secret(args.secrets, postgres.password_secret)},
            egress=[ExtraEgress(REDIS_PORT, cidrs=[network.vpc_cidr]),
                    ExtraEgress(POSTGRES_PORT, cidrs=[network.vpc_cidr])],
            outputs={"dataAlertsTopic": self.topic.arn,
                     "redisEndpoint": self.redis.configuration_endpoint_address,
                     "postgresEndpoint": self.postgres.address, "postgresReadEndpoints": read_host},
            after=[self.redis, self.postgres],
        )
        self.register_outputs({"redis": self.redis.configuration_endpoint_address, "postgres": self.postgres.address})

    def _alerts(self, args: AwsStoresArgs, storage_gb: int, instance_class: str,
                cache_nodes: int) -> list[pulumi.Resource]:
        """RDS events (failover, failure, low storage) and CloudWatch alarms, all to the topic: free storage and
        connections of every instance, replica lag; memory and connections of every ElastiCache node."""
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        instances = [self.postgres, *self.replicas]
        alerts: list[pulumi.Resource] = [aws.rds.EventSubscription("postgres-events", aws.rds.EventSubscriptionArgs(
            name=f"{args.name}-postgres-events", sns_topic=self.topic.arn, source_type="db-instance",
            source_ids=[i.identifier for i in instances],
            event_categories=["availability", "failover", "failure", "low storage"]), opts=child)]

        def alarm(name: str, instance: aws.rds.Instance, metric: str, operator: str, threshold: float,
                  description: str) -> aws.cloudwatch.MetricAlarm:
            return metric_alarm(name, "AWS/RDS", {"DBInstanceIdentifier": instance.identifier}, metric, operator,
                                threshold, description)

        def metric_alarm(name: str, namespace: str, dimensions: pulumi.Input[dict[str, pulumi.Input[str]]],
                         metric: str, operator: str, threshold: float, description: str) -> aws.cloudwatch.MetricAlarm:
            return aws.cloudwatch.MetricAlarm(name, aws.cloudwatch.MetricAlarmArgs(
                name=f"{args.name}-{name}", namespace=namespace, metric_name=metric,
                dimensions=dimensions, statistic="Average", period=60,
                evaluation_periods=5, datapoints_to_alarm=5, comparison_operator=operator, threshold=threshold,
                treat_missing_data="breaching", alarm_description=description,
                alarm_actions=[self.topic.arn], ok_actions=[self.topic.arn]), opts=child)

        alerts.append(alarm("postgres-free-storage", self.postgres, "FreeStorageSpace", "LessThanThreshold",
                            storage_gb * 2**30 * 0.1, "PostgreSQL primary below 10% free storage"))
        connections = max_connections(instance_class) * NEAR_FULL
        alerts.append(alarm("postgres-connections", self.postgres, "DatabaseConnections", "GreaterThanThreshold",
                            connections, "PostgreSQL primary above 80% of max_connections"))
        for index, replica in enumerate(self.replicas, start=1):
            alerts += [
                alarm(f"postgres-replica-{index}-lag", replica, "ReplicaLag", "GreaterThanThreshold", 60,
                      "PostgreSQL read replica more than 60 s behind the primary"),
                alarm(f"postgres-replica-{index}-free-storage", replica, "FreeStorageSpace", "LessThanThreshold",
                      storage_gb * 2**30 * 0.1, "PostgreSQL read replica below 10% free storage"),
                alarm(f"postgres-replica-{index}-connections", replica, "DatabaseConnections", "GreaterThanThreshold",
                      connections, "PostgreSQL read replica above 80% of max_connections"),
            ]
        # ElastiCache publishes per node; in cluster mode each node is a member cache cluster of the group. The
        # count is known from the config (shards x (1 + replicas)), the ids once the group exists.
        for index in range(cache_nodes):
            node = self.redis.member_clusters.apply(lambda ids, i=index: _member(ids, i, cache_nodes))
            alerts += [
                metric_alarm(f"redis-node-{index + 1}-memory", "AWS/ElastiCache", {"CacheClusterId": node},
                             "DatabaseMemoryUsagePercentage", "GreaterThanThreshold", NEAR_FULL * 100,
                             "Valkey node above 80% of its memory for data (writes fail at 100%)"),
                metric_alarm(f"redis-node-{index + 1}-connections", "AWS/ElastiCache", {"CacheClusterId": node},
                             "CurrConnections", "GreaterThanThreshold", ELASTICACHE_MAX_CLIENTS * NEAR_FULL,
                             "Valkey node above 80% of maxclients (65000) connections"),
            ]
        return alerts
