"""Policies for the managed data stores (components/data): encrypted, private, backed up, protected and HA.

Each reads one resource's inputs (ElastiCache replication groups, RDS instances, Memorystore instances, Cloud SQL
instances). `minBackupRetentionDays` and `requireProtection` are per stack (policy/config/<stack>.json): the prod
stacks keep the defaults (7 days; deletion protection and HA required).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from .config import resource_policy
from .props import get, of_types, truthy

REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
MEMORYSTORE = "gcp:memorystore/instance:Instance"
REDIS_CLUSTER = "gcp:redis/cluster:Cluster"
CLOUD_SQL = "gcp:sql/databaseInstance:DatabaseInstance"
STORE_TYPES = {REPLICATION_GROUP, RDS_INSTANCE, RDS_CLUSTER, MEMORYSTORE, REDIS_CLUSTER, CLOUD_SQL}
STORES = of_types(*STORE_TYPES)
"""The data-store policies' `applies`: they report on these types only, so the pack calls them for no other."""


def _name(args: ResourceValidationArgs) -> str:
    return f"{args.resource_type.rsplit(':', 1)[-1]} '{args.name}'"


def _is_replica(args: ResourceValidationArgs) -> bool:
    return bool(get(args.props, "replicateSourceDb") or get(args.props, "masterInstanceName"))


def check_encrypted(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    props, kind = args.props, args.resource_type
    problems: list[str] = []
    if kind == REPLICATION_GROUP:
        if truthy(get(props, "atRestEncryptionEnabled")) is not True:
            problems.append("atRestEncryptionEnabled is not true")
        if truthy(get(props, "transitEncryptionEnabled")) is not True:
            problems.append("transitEncryptionEnabled is not true")
        elif get(props, "transitEncryptionMode") == "preferred":
            problems.append("transitEncryptionMode is 'preferred' (plaintext clients still accepted)")
    elif kind in (RDS_INSTANCE, RDS_CLUSTER):
        if truthy(get(props, "storageEncrypted")) is not True and not _is_replica(args):
            problems.append("storageEncrypted is not true")
    elif kind in (MEMORYSTORE, REDIS_CLUSTER):
        if get(props, "transitEncryptionMode") in (None, "TRANSIT_ENCRYPTION_DISABLED", "TRANSIT_ENCRYPTION_MODE_DISABLED"):
            problems.append("transitEncryptionMode does not encrypt")
    # Cloud SQL always encrypts at rest; in transit only when the instance refuses plaintext connections.
    elif kind == CLOUD_SQL and get(props, "settings", "ipConfiguration", "sslMode") not in (
            "ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"):
        problems.append("settings.ipConfiguration.sslMode admits unencrypted connections")
    if problems:
        report(f"{_name(args)}: {'; '.join(problems)}. Fix: encrypt at rest (KMS) and require TLS in transit.", None)


def check_not_public(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    props, kind = args.props, args.resource_type
    if kind == RDS_INSTANCE and truthy(get(props, "publiclyAccessible")) is True:
        report(f"{_name(args)} is publicly accessible. Fix: publicly_accessible=False; reach it from the VPC.", None)
    if kind == CLOUD_SQL and truthy(get(props, "settings", "ipConfiguration", "ipv4Enabled")) is not False:
        report(f"{_name(args)} has a public IPv4 address (ipConfiguration.ipv4Enabled is not false). Fix: private IP "
               "only, through Private Service Access or PSC.", None)


def check_backups(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    minimum = int(cfg.get("minBackupRetentionDays", 7))
    props, kind = args.props, args.resource_type
    if _is_replica(args):
        return  # a replica's backups are its primary's
    if kind in (RDS_INSTANCE, RDS_CLUSTER):
        days = get(props, "backupRetentionPeriod")
        if days is None or float(days) < minimum:
            report(f"{_name(args)} keeps automated backups {days or 0} days, less than {minimum}. Fix: "
                   f"backup_retention_period >= {minimum}.", None)
    elif kind == CLOUD_SQL:
        backups = get(props, "settings", "backupConfiguration") or {}
        retained = get(backups, "backupRetentionSettings", "retainedBackups")
        if truthy(get(backups, "enabled")) is not True or truthy(get(backups, "pointInTimeRecoveryEnabled")) is not True:
            report(f"{_name(args)} has automated backups or point-in-time recovery off. Fix: "
                   "backup_configuration enabled with point_in_time_recovery_enabled.", None)
        elif retained is not None and float(retained) < minimum:
            report(f"{_name(args)} keeps {retained:g} backups, less than {minimum}. Fix: retained_backups >= "
                   f"{minimum}.", None)
    elif kind == REPLICATION_GROUP:
        days = get(props, "snapshotRetentionLimit")
        if days is None or float(days) < minimum:
            report(f"{_name(args)} keeps snapshots {days or 0} days, less than {minimum}. Fix: "
                   f"snapshot_retention_limit >= {minimum}.", None)


def check_protected_and_ha(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    if not cfg.get("requireProtection", True):
        return
    props, kind = args.props, args.resource_type
    problems: list[str] = []
    if kind == REPLICATION_GROUP:
        if truthy(get(props, "automaticFailoverEnabled")) is not True or truthy(get(props, "multiAzEnabled")) is not True:
            problems.append("automatic failover and Multi-AZ are not both on")
        if not get(props, "finalSnapshotIdentifier"):
            problems.append("no final snapshot on delete")
    elif kind == RDS_INSTANCE and not _is_replica(args):
        if truthy(get(props, "deletionProtection")) is not True:
            problems.append("deletionProtection is off")
        if truthy(get(props, "multiAz")) is not True:
            problems.append("multiAz is off")
        if truthy(get(props, "skipFinalSnapshot")) is True:
            problems.append("skipFinalSnapshot is true")
    elif kind == MEMORYSTORE:
        if truthy(get(props, "deletionProtectionEnabled")) is not True:
            problems.append("deletionProtectionEnabled is off")
        replicas = get(props, "replicaCount")
        if replicas is None or float(replicas) < 1:
            problems.append("no replica per shard (replicaCount < 1)")
    elif kind == CLOUD_SQL and not _is_replica(args):
        if truthy(get(props, "deletionProtection")) is not True and \
                truthy(get(props, "settings", "deletionProtectionEnabled")) is not True:
            problems.append("deletion protection is off")
        if get(props, "settings", "availabilityType") != "REGIONAL":
            problems.append("availabilityType is not REGIONAL")
    if problems:
        report(f"{_name(args)}: {'; '.join(problems)}. Fix: production stores survive a zone loss and a mistaken "
               "destroy (or set requireProtection false for a non-production stack).", None)


def policies() -> list[ResourceValidationPolicy]:
    return [
        resource_policy("data-store-encryption", "Managed data stores are encrypted at rest and in transit.",
                        check_encrypted, remediation="KMS at rest; TLS required in transit.", applies=STORES),
        resource_policy("data-store-not-public", "Managed databases have no public address.", check_not_public,
                        remediation="Private IP / VPC-only access.", applies=STORES),
        resource_policy("data-store-backups", "Managed data stores keep backups for at least minBackupRetentionDays "
                        "(point-in-time recovery on Cloud SQL).", check_backups,
                        schema={"minBackupRetentionDays": {"type": "integer", "default": 7, "minimum": 1,
                                                           "description": "Shortest backup retention allowed."}},
                        remediation="backup_retention_period / retained_backups / snapshot_retention_limit >= 7.",
                        applies=STORES),
        resource_policy("data-store-protection-ha", "Managed data stores have deletion protection, a final snapshot "
                        "and a standby or replica in another zone.", check_protected_and_ha,
                        schema={"requireProtection": {"type": "boolean", "default": True,
                                                      "description": "Require deletion protection and HA."}},
                        remediation="deletion protection; Multi-AZ / REGIONAL / replicas >= 1; final snapshot.",
                        applies=STORES),
    ]
