"""The data layer: Redis (Valkey) and PostgreSQL for the API, managed on EKS/GKE and in-cluster on kind.

`build_data_stores` picks the provider's component, or wires stores the user brings (`dataStores.external`),
and returns what the workloads need (`StoreWiring`): the API's endpoints, its credentials and its egress.
"""

from __future__ import annotations

import pulumi

from stack_config.platform import PlatformConfig

from ..clusters.handle import AwsNetwork, ClusterHandle, EksIdentity, GcpNetwork, GkeIdentity
from ..common.scheduling import tolerations_for
from ..common.traffic import ExtraEgress
from ..services.priority_classes import DATA_STORE_CLASS
from .wiring import StoreWiring, secret

__all__ = ["StoreWiring", "build_data_stores"]


def external_wiring(config: PlatformConfig, secrets: dict[str, str]) -> StoreWiring:
    external = config.data_stores.external
    assert external is not None
    redis, postgres = external.redis, external.postgres
    return StoreWiring(
        env={"REDIS_HOST": redis.host, "REDIS_PORT": str(redis.port), "REDIS_TLS": str(redis.tls).lower(),
             "REDIS_CLUSTER": "false", "REDIS_IAM": "false",
             "POSTGRES_HOST": postgres.host, "POSTGRES_READ_HOST": postgres.host,
             "POSTGRES_PORT": str(postgres.port), "POSTGRES_DB": external.postgres_database,
             "POSTGRES_USER": external.postgres_username,
             "POSTGRES_SSLMODE": "require" if postgres.tls else "disable"},
        secret_env={"REDIS_PASSWORD": secret(secrets, redis.secret),
                    "POSTGRES_PASSWORD": secret(secrets, postgres.secret)},
        egress=[ExtraEgress(redis.port, cidrs=[redis.cidr]),
                ExtraEgress(postgres.port, cidrs=[postgres.cidr])],
        outputs={"redisEndpoint": redis.host, "postgresEndpoint": postgres.host,
                 "postgresReadEndpoints": postgres.host},
    )


def build_data_stores(config: PlatformConfig, cluster: ClusterHandle, secrets: dict[str, str],
                      api_selector: dict[str, str], on_cluster: pulumi.ResourceOptions,
                      priority_classes: list[pulumi.Resource] | None = None) -> StoreWiring | None:
    """The stores of this stack (or None when the layer is off and nothing external is given); in-cluster stores
    run at DATA_STORE_CLASS and wait for `priority_classes`."""
    stores = config.data_stores
    if stores.external is not None:
        return external_wiring(config, secrets)
    if not stores.enabled:
        return None
    production = cluster.flavor != "kind"
    network, cloud = cluster.network, cluster.cloud
    # Each provider's module is imported in its branch: it imports that cloud's SDK, which other stacks must not
    # pay for (tests/test_import_structure.py).
    if isinstance(network, AwsNetwork) and isinstance(cloud, EksIdentity):
        from .aws import AwsDataStores, AwsStoresArgs
        return AwsDataStores("data-stores", AwsStoresArgs(
            name=cluster.name, stores=stores, network=network, provider=cloud.provider, secrets=secrets,
            production=production)).wiring
    if isinstance(network, GcpNetwork) and isinstance(cloud, GkeIdentity):
        from .gcp import GcpDataStores, GcpStoresArgs
        return GcpDataStores("data-stores", GcpStoresArgs(
            name=cluster.name, stores=stores, network=network, provider=cloud.provider, secrets=secrets,
            production=production, api_namespace=config.namespace, api_service_account="api")).wiring
    from .in_cluster import InClusterDataStores, InClusterStoresArgs
    api = config.workloads.api
    storage = cluster.storage_class
    return InClusterDataStores("data-stores", InClusterStoresArgs(
        stores=stores, secrets=secrets, api_namespace=config.namespace, api_selector=api_selector,
        node_selector=dict(api.node_selector), tolerations=tolerations_for(api.node_selector, cluster.node_pools),
        storage_class=storage.name if storage else "standard",
        storage_after=storage.depends_on if storage else [], priority_class_name=DATA_STORE_CLASS,
        after=list(priority_classes or [])),
        opts=on_cluster).wiring
