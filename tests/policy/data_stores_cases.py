"""Violating variants for the data-store policies (policy/browser_platform_policies/data_stores.py): each mutates
one managed store of a real cloud stack so that exactly one rule is broken."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .cases import Case, Resources, named

RG = "elasticache/replicationGroup:ReplicationGroup"
RDS = "rds/instance:Instance"
VALKEY = "memorystore/instance:Instance"
SQL = "sql/databaseInstance:DatabaseInstance"


def _set(type_suffix: str, name: str, path: tuple[str, ...], value: Any) -> Callable[[Resources], Any]:
    def mutate(resources: Resources) -> Any:
        resource = named(resources, type_suffix, name)
        target = resource.inputs
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return resource
    return mutate


def _case(case_id: str, policy: str, stack: str, type_suffix: str, name: str, path: tuple[str, ...], value: Any,
          expect: str) -> Case:
    return Case(case_id, policy, _set(type_suffix, name, path, value), expect, stack=stack)


DATA_STORE_CASES: list[Case] = [
    _case("prod-redis-unencrypted-at-rest", "data-store-encryption", "prod", RG, "redis",
          ("atRestEncryptionEnabled",), False, "atRestEncryptionEnabled is not true"),
    _case("prod-redis-transit-preferred", "data-store-encryption", "prod", RG, "redis",
          ("transitEncryptionMode",), "preferred", "transitEncryptionMode is 'preferred'"),
    _case("prod-postgres-unencrypted", "data-store-encryption", "prod", RDS, "postgres",
          ("storageEncrypted",), False, "storageEncrypted is not true"),
    _case("prod-gcp-valkey-plaintext", "data-store-encryption", "prod-gcp", VALKEY, "valkey",
          ("transitEncryptionMode",), "TRANSIT_ENCRYPTION_DISABLED", "transitEncryptionMode does not encrypt"),
    _case("prod-gcp-sql-plaintext-allowed", "data-store-encryption", "prod-gcp", SQL, "postgres",
          ("settings", "ipConfiguration", "sslMode"), "ALLOW_UNENCRYPTED_AND_ENCRYPTED", "admits unencrypted"),
    _case("prod-postgres-public", "data-store-not-public", "prod", RDS, "postgres",
          ("publiclyAccessible",), True, "is publicly accessible"),
    _case("prod-gcp-sql-public-ip", "data-store-not-public", "prod-gcp", SQL, "postgres",
          ("settings", "ipConfiguration", "ipv4Enabled"), True, "has a public IPv4 address"),
    _case("prod-postgres-short-backups", "data-store-backups", "prod", RDS, "postgres",
          ("backupRetentionPeriod",), 3.0, "keeps automated backups 3.0 days, less than 7"),
    _case("prod-redis-short-snapshots", "data-store-backups", "prod", RG, "redis",
          ("snapshotRetentionLimit",), 1.0, "keeps snapshots 1.0 days, less than 7"),
    _case("prod-gcp-sql-no-pitr", "data-store-backups", "prod-gcp", SQL, "postgres",
          ("settings", "backupConfiguration", "pointInTimeRecoveryEnabled"), False, "point-in-time recovery off"),
    _case("prod-gcp-sql-few-backups", "data-store-backups", "prod-gcp", SQL, "postgres",
          ("settings", "backupConfiguration", "backupRetentionSettings", "retainedBackups"), 3.0,
          "keeps 3 backups, less than 7"),
    _case("prod-postgres-unprotected", "data-store-protection-ha", "prod", RDS, "postgres",
          ("deletionProtection",), False, "deletionProtection is off"),
    _case("prod-postgres-single-az", "data-store-protection-ha", "prod", RDS, "postgres",
          ("multiAz",), False, "multiAz is off"),
    _case("prod-postgres-no-final-snapshot", "data-store-protection-ha", "prod", RDS, "postgres",
          ("skipFinalSnapshot",), True, "skipFinalSnapshot is true"),
    _case("prod-redis-single-az", "data-store-protection-ha", "prod", RG, "redis",
          ("multiAzEnabled",), False, "automatic failover and Multi-AZ are not both on"),
    _case("prod-gcp-valkey-no-replica", "data-store-protection-ha", "prod-gcp", VALKEY, "valkey",
          ("replicaCount",), 0.0, "no replica per shard"),
    _case("prod-gcp-sql-zonal", "data-store-protection-ha", "prod-gcp", SQL, "postgres",
          ("settings", "availabilityType"), "ZONAL", "availabilityType is not REGIONAL"),
]
