"""Data-store config: the Redis (Valkey) and PostgreSQL the API keeps its state in, per provider.

On EKS and GKE the stores are managed services (ElastiCache, RDS; Memorystore, Cloud SQL); on kind they run in
the cluster as StatefulSets. Shapes left unset take the provider's production-shaped default (`*_DEFAULTS`),
small on kind. `external` replaces the managed layer with stores the user runs elsewhere.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator, model_validator

from capacity.networks import inside_ranges

from .base import CONFIG_KEY_RE, ConfigFieldError, MemoryQuantity, StrictModel, cidr_block
from .cluster import check_dns_label
from .workloads import _DIGEST_RE, _IMAGE_RE

Flavor = Literal["kind", "eks", "gke", "existing"]

REDIS_ENGINE_VERSIONS: dict[str, tuple[str, ...]] = {
    # ElastiCache Valkey / Redis OSS cluster-mode engine versions; Memorystore for Valkey's; the kind image's.
    "eks": ("7.2", "8.0"),
    "gke": ("VALKEY_7_2", "VALKEY_8_0"),
    "kind": ("8.0", "8.1"),
}
POSTGRES_ENGINE_VERSIONS: dict[str, tuple[str, ...]] = {
    "eks": ("16", "17"),
    "gke": ("POSTGRES_16", "POSTGRES_17"),
    "kind": ("16", "17"),
}
REDIS_OSS_ENGINE_VERSIONS = ("7.0", "7.1")
"""ElastiCache's Redis OSS versions with cluster mode (engine: redis on EKS); newer releases are Valkey."""
REDIS_NODE_TYPES: dict[str, tuple[str, ...]] = {
    "eks": ("cache.t4g.medium", "cache.m7g.large", "cache.m7g.xlarge", "cache.r7g.large", "cache.r7g.xlarge"),
    "gke": ("SHARED_CORE_NANO", "STANDARD_SMALL", "HIGHMEM_MEDIUM", "HIGHMEM_XLARGE"),
    "kind": (),
}
POSTGRES_INSTANCE_CLASSES: dict[str, tuple[str, ...]] = {
    "eks": ("db.t4g.medium", "db.m7g.large", "db.m7g.xlarge", "db.r7g.large", "db.r7g.xlarge"),
    "gke": ("db-custom-2-8192", "db-custom-4-16384", "db-custom-8-32768"),
    "kind": (),
}


@dataclass(frozen=True)
class StoreDefaults:
    redis_engine_version: str
    redis_node_type: str | None
    postgres_engine_version: str
    postgres_instance_class: str | None
    redis_shards: int
    redis_replicas_per_shard: int
    postgres_read_replicas: int


DEFAULTS: dict[str, StoreDefaults] = {
    # The seed's shape on the clouds (3 shards x 1 replica, 1 primary + 2 readers); one pod each on a laptop.
    "eks": StoreDefaults("8.0", "cache.r7g.large", "17", "db.r7g.large", 3, 1, 2),
    "gke": StoreDefaults("VALKEY_8_0", "HIGHMEM_MEDIUM", "POSTGRES_17", "db-custom-2-8192", 3, 1, 2),
    "kind": StoreDefaults("8.1", None, "17", None, 1, 0, 0),
}

_DB_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")


def _check_key(value: str) -> str:
    if not CONFIG_KEY_RE.match(value) or ":" in value:
        raise ValueError(f"'{value}' is not a config key name of this project (no namespace, no ':')")
    return value


class RedisSettings(StrictModel):
    """Sessions, profiles and heartbeats: a Valkey/Redis cluster (cluster mode on the clouds)."""

    engine: Literal["valkey", "redis"] = Field(
        default="valkey", description="EKS: valkey or redis (Redis OSS); GKE and kind: valkey.")
    engine_version: str | None = Field(default=None, description="Per provider; unset: the provider's default.")
    node_type: str | None = Field(default=None, description="EKS cache node type or Memorystore node type.")
    shards: int | None = Field(default=None, ge=1, le=50, description="Cluster-mode shards (masters); kind: 1.")
    replicas_per_shard: int | None = Field(default=None, ge=0, le=5)
    storage_size: MemoryQuantity = Field(default="1Gi", description="kind only: the data volume (AOF).")
    snapshot_retention_days: int = Field(default=7, ge=0, le=35, description="EKS daily snapshots kept.")
    auth_secret: str = Field(
        default="redisAuthToken",
        description="Config key of the AUTH token (EKS, kind; GKE uses IAM auth). `pulumi config set --secret`.",
    )

    _key = field_validator("auth_secret")(_check_key)


class PostgresSettings(StrictModel):
    """The API's records: one primary and read replicas."""

    engine_version: str | None = Field(default=None, description="Per provider; unset: the provider's default.")
    instance_class: str | None = Field(default=None, description="RDS instance class or Cloud SQL tier.")
    storage_gb: int = Field(default=50, ge=10, le=16384, description="Allocated storage (kind: the volume).")
    read_replicas: int | None = Field(default=None, ge=0, le=5)
    backup_retention_days: int = Field(default=7, ge=1, le=35)
    database: str = "browser_platform"
    username: str = Field(
        default="api", description="The API's role: no superuser, only its database and its own schema.")
    password_secret: str = Field(
        default="postgresPassword",
        description="Config key of the API role's password; `pulumi config set --secret <key>`.",
    )
    master_username: str = Field(
        default="platform_admin",
        description="The master (admin) user: creates the API's role and is never given to the API.")
    master_password_secret: str = Field(
        default="postgresMasterPassword",
        description="Config key of the master user's password; `pulumi config set --secret <key>`.",
    )

    client_image: str | None = Field(
        default=None,
        description="EKS/GKE: the image with psql the app-role Job runs (unset: the kind image of the engine's "
                    "major, docker.io/library/postgres); a mirror in your registry, e.g. ghcr.io/acme/postgres:17.6.")
    client_image_digest: str | None = Field(
        default=None, description="Pins clientImage: sha256:<64 hex> (required where the policy pack requires digests).")

    _key = field_validator("password_secret", "master_password_secret")(_check_key)

    @field_validator("client_image")
    @classmethod
    def _client_image(cls, value: str | None) -> str | None:
        match = _IMAGE_RE.match(value) if value is not None else None
        if value is not None and (match is None or match.group("tag") == "latest"):
            raise ValueError(f"'{value}' must be an image reference with a pinned tag (not latest), "
                             "e.g. ghcr.io/acme/postgres:17.6-bookworm")
        return value

    @field_validator("client_image_digest")
    @classmethod
    def _client_digest(cls, value: str | None) -> str | None:
        if value is not None and not _DIGEST_RE.match(value):
            raise ValueError("must look like sha256:<64 hex characters>")
        return value

    @model_validator(mode="after")
    def _separate_roles(self) -> PostgresSettings:
        if self.master_username == self.username:
            raise ConfigFieldError(("masterUsername",), f"must differ from username ('{self.username}'): the API "
                                   "connects with a role of its own, never as the master user")
        if self.master_password_secret == self.password_secret:
            raise ConfigFieldError(("masterPasswordSecret",), "must name another config key than passwordSecret")
        return self

    @field_validator("database", "username", "master_username")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not _DB_NAME_RE.match(value) or value in ("postgres", "rdsadmin", "cloudsqladmin"):
            raise ValueError(f"'{value}' must be a lowercase SQL identifier (a-z, 0-9, _), not a reserved role")
        return value


class ExternalStore(StrictModel):
    host: str
    port: int = Field(ge=1, le=65535)
    tls: bool = True
    secret: str = Field(description="Config key of the store's password; `pulumi config set --secret <key>`.")
    cidr: str = Field(description="Where the store's addresses are: the API's egress NetworkPolicy admits it.")

    _key = field_validator("secret")(_check_key)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not _HOST_RE.match(value):
            raise ValueError(f"'{value}' is not a host name or IP address")
        return value

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        cidr_block(value)
        return value


class ExternalStores(StrictModel):
    """Stores the user runs elsewhere: the layer creates nothing and wires these into the API."""

    redis: ExternalStore
    postgres: ExternalStore
    postgres_database: str = "browser_platform"
    postgres_username: str = "api"


class DataStoresSettings(StrictModel):
    """Redis and PostgreSQL for the API (docs/operations.md#data-stores)."""

    enabled: bool = Field(
        default=False,
        description="Provision the stores (the stack files turn it on); false with `external` set to bring your own.",
    )
    namespace: str = Field(default="browser-data", description="kind: the namespace of the in-cluster stores.")
    redis: RedisSettings = RedisSettings()
    postgres: PostgresSettings = PostgresSettings()
    external: ExternalStores | None = None
    private_service_cidr: str = Field(
        default="10.30.0.0/16", description="GKE: the range peered to Google's services (Cloud SQL private IP).")
    psc_subnet_cidr: str = Field(
        default="10.31.0.0/24", description="GKE: the subnet Memorystore's Private Service Connect endpoints use.")

    _namespace = field_validator("namespace")(check_dns_label)

    @field_validator("private_service_cidr", "psc_subnet_cidr")
    @classmethod
    def _private(cls, value: str) -> str:
        if not cidr_block(value).is_private:
            raise ValueError(f"'{value}' is not a private range")
        return value

    @model_validator(mode="after")
    def _enabled_or_external(self) -> DataStoresSettings:
        if self.enabled and self.external is not None:
            raise ConfigFieldError(("external",), "set enabled false to bring your own stores: the layer either "
                                   "provisions them or wires external ones, not both")
        return self

    def secret_keys(self, flavor: Flavor) -> list[tuple[str, str]]:
        """(config path, config key) of each secret the layer needs on this provider."""
        if self.external is not None:
            return [("dataStores.external.redis.secret", self.external.redis.secret),
                    ("dataStores.external.postgres.secret", self.external.postgres.secret)]
        if not self.enabled:
            return []
        keys = [("dataStores.postgres.passwordSecret", self.postgres.password_secret),
                ("dataStores.postgres.masterPasswordSecret", self.postgres.master_password_secret)]
        if flavor != "gke":  # Memorystore for Valkey authenticates with IAM, not a shared token
            keys.insert(0, ("dataStores.redis.authSecret", self.redis.auth_secret))
        return keys

    def check_for(self, flavor: Flavor, internal_cidrs: list[str]) -> None:
        """Provider-specific rules; raises ConfigFieldError naming the key and the allowed values."""
        if self.external is not None:
            for name, store in (("redis", self.external.redis), ("postgres", self.external.postgres)):
                if not inside_ranges(store.cidr, internal_cidrs):
                    raise ConfigFieldError(("external", name, "cidr"),
                                           f"{store.cidr} must lie inside network.internalCidrs "
                                           f"({', '.join(internal_cidrs)}), which the browser pool may never reach")
            return
        if not self.enabled:
            return
        if flavor == "existing":
            # No cloud account to create managed stores in, and the in-cluster stores are kind's single pods.
            raise ConfigFieldError(("enabled",), "managed stores are created on eks and gke only; on an existing "
                                   "cluster set dataStores.external (your Redis and PostgreSQL) or leave it off")
        redis, postgres = self.redis, self.postgres
        allowed_checks = (
            (("redis", "engineVersion"), redis.engine_version,
             REDIS_OSS_ENGINE_VERSIONS if (flavor, redis.engine) == ("eks", "redis") else REDIS_ENGINE_VERSIONS[flavor]),
            (("redis", "nodeType"), redis.node_type, REDIS_NODE_TYPES[flavor]),
            (("postgres", "engineVersion"), postgres.engine_version, POSTGRES_ENGINE_VERSIONS[flavor]),
            (("postgres", "instanceClass"), postgres.instance_class, POSTGRES_INSTANCE_CLASSES[flavor]),
        )
        for path, value, allowed in allowed_checks:
            if value is not None and value not in allowed:
                listing = ", ".join(allowed) if allowed else "none (in-cluster stores size from their pod requests)"
                raise ConfigFieldError(path, f"'{value}' is not available on {flavor}; allowed: {listing}")
        if flavor != "eks" and redis.engine != "valkey":
            raise ConfigFieldError(("redis", "engine"), f"'{redis.engine}' is not available on {flavor}; allowed: valkey")
        if flavor == "kind":
            counts = ((("redis", "shards"), redis.shards), (("redis", "replicasPerShard"), redis.replicas_per_shard),
                      (("postgres", "readReplicas"), postgres.read_replicas))
            for count_path, count in counts:
                limit = 1 if count_path[1] == "shards" else 0
                if count is not None and count != limit:
                    raise ConfigFieldError(count_path, f"must be {limit} on kind: the in-cluster stores are single pods "
                                           "a laptop can run")
            return
        if self.replicas_per_shard(flavor) < 1:
            raise ConfigFieldError(("redis", "replicasPerShard"),
                                   "must be at least 1 on the clouds: failover needs a replica in another zone")
        if postgres.backup_retention_days < 7:
            raise ConfigFieldError(("postgres", "backupRetentionDays"),
                                   f"must be at least 7 on {flavor} (production), got {postgres.backup_retention_days}")
        if flavor == "gke":
            psa, psc = ipaddress.ip_network(self.private_service_cidr), ipaddress.ip_network(self.psc_subnet_cidr)
            if psa.overlaps(psc):
                raise ConfigFieldError(("pscSubnetCidr",), f"must not overlap privateServiceCidr ({psa})")
            if psa.prefixlen > 24:
                raise ConfigFieldError(("privateServiceCidr",), "must be /24 or larger: Cloud SQL reserves "
                                       "a /24 per region from it")
            for key, network in (("privateServiceCidr", psa), ("pscSubnetCidr", psc)):
                if not inside_ranges(str(network), internal_cidrs):
                    raise ConfigFieldError((key,), f"{network} must lie inside network.internalCidrs, which the "
                                           "browser pool may never reach")

    # Effective values: the user's, or the provider's default.
    def redis_engine_version(self, flavor: Flavor) -> str:
        if self.redis.engine_version:
            return self.redis.engine_version
        return REDIS_OSS_ENGINE_VERSIONS[-1] if self.redis.engine == "redis" else DEFAULTS[flavor].redis_engine_version

    def redis_node_type(self, flavor: Flavor) -> str | None:
        return self.redis.node_type or DEFAULTS[flavor].redis_node_type

    def shards(self, flavor: Flavor) -> int:
        return self.redis.shards if self.redis.shards is not None else DEFAULTS[flavor].redis_shards

    def replicas_per_shard(self, flavor: Flavor) -> int:
        given = self.redis.replicas_per_shard
        return given if given is not None else DEFAULTS[flavor].redis_replicas_per_shard

    def postgres_engine_version(self, flavor: Flavor) -> str:
        return self.postgres.engine_version or DEFAULTS[flavor].postgres_engine_version

    def postgres_instance_class(self, flavor: Flavor) -> str | None:
        return self.postgres.instance_class or DEFAULTS[flavor].postgres_instance_class

    def read_replicas(self, flavor: Flavor) -> int:
        given = self.postgres.read_replicas
        return given if given is not None else DEFAULTS[flavor].postgres_read_replicas


STORE_ENV = ("REDIS_HOST", "REDIS_PORT", "REDIS_TLS", "REDIS_CLUSTER", "REDIS_IAM", "REDIS_PASSWORD",
             "POSTGRES_HOST", "POSTGRES_READ_HOST", "POSTGRES_PORT", "POSTGRES_DB", "POSTGRES_USER",
             "POSTGRES_SSLMODE", "POSTGRES_PASSWORD")
"""Environment variables the data layer sets on the API (components/data); the API's own env may not use them."""
