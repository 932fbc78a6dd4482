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
                      client_selectors: list[dict[str, str]], on_cluster: pulumi.ResourceOptions) -> StoreWiring | None:
    """The stores of this stack (or None when the layer is off and nothing external is given); `client_selectors`
    select the pods of the workloads that use them (`PlatformConfig.store_clients`)."""
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
            production=production, api_namespace=config.namespace,
            api_service_accounts=[name for name, _ in config.store_clients()])).wiring
    from .in_cluster import InClusterDataStores, InClusterStoresArgs
    # The stores run on the pool of their first client (the API's, in the stack files before roles).
    clients = config.store_clients()
    node_selector = dict(clients[0][1].node_selector) if clients else {}
    storage = cluster.storage_class
    return InClusterDataStores("data-stores", InClusterStoresArgs(
        stores=stores, secrets=secrets, api_namespace=config.namespace, api_selectors=client_selectors,
        node_selector=node_selector, tolerations=tolerations_for(node_selector, cluster.node_pools),
        storage_class=storage.name if storage else "standard",
        storage_after=storage.depends_on if storage else []), opts=on_cluster).wiring
