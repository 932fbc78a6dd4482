"""The data layer: Redis (Valkey) and PostgreSQL for the API, managed on EKS/GKE and in-cluster on kind.

`build_data_stores` picks the provider's component, or wires stores the user brings (`dataStores.external`),
and returns what the workloads need (`StoreWiring`): the API's endpoints, its credentials and its egress.
Who the stores' clients are (each workload with `dataStores`: namespace, service account, Service, pods) and
where their pods run come in as arguments (`ApiIdentity` per client, `Placement`), so the layer never reads the
workloads' config. On the clouds a Job creates the API's database role (app_role.py); with monitoring on, the
store alerts and dashboard are added (alerts.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pulumi

from stack_config.cluster import Taint
from stack_config.platform import PlatformConfig

from ..clusters.handle import AwsNetwork, ClusterHandle, EksIdentity, GcpNetwork, GkeIdentity
from ..common.traffic import ExtraEgress
from ..services.priority_classes import DATA_STORE_CLASS
from .alerts import StoreAlerts, StoreAlertsArgs
from .wiring import ApiIdentity, StoreMesh, StoreMonitoring, StoreWiring, secret

__all__ = ["ApiIdentity", "Placement", "StoreMesh", "StoreMonitoring", "StoreWiring", "build_data_stores"]


@dataclass(frozen=True)
class Placement:
    """Where the stores' pods (kind) and the app-role Job (clouds) run: the API's nodes."""

    node_selector: dict[str, str]
    tolerations: list[Taint] = field(default_factory=list)


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


def _postgres_major(version: str) -> str:
    """'17' (RDS, kind) or 'POSTGRES_17' (Cloud SQL) -> '17'."""
    return version.rsplit("_", 1)[-1].split(".", 1)[0]


def build_data_stores(config: PlatformConfig, cluster: ClusterHandle, secrets: dict[str, str],
                      clients: list[ApiIdentity], placement: Placement, on_cluster: pulumi.ResourceOptions, *,
                      monitoring: StoreMonitoring | None = None, mesh: StoreMesh | None = None,
                      priority_classes: list[pulumi.Resource] | None = None) -> StoreWiring | None:
    """The stores of this stack (or None when the layer is off and nothing external is given); in-cluster stores
    run at DATA_STORE_CLASS and wait for `priority_classes`."""
    stores = config.data_stores
    if stores.external is not None:
        _managed_alerts(clients, monitoring, on_cluster)
        return external_wiring(config, secrets)
    if not stores.enabled:
        return None
    production = cluster.flavor != "kind"
    network, cloud = cluster.network, cluster.cloud
    # Each provider's module is imported in its branch: it imports that cloud's SDK, which other stacks must not
    # pay for (tests/test_import_structure.py).
    if isinstance(network, AwsNetwork) and isinstance(cloud, EksIdentity):
        from .aws import AwsDataStores, AwsStoresArgs
        aws_stores = AwsDataStores("data-stores", AwsStoresArgs(
            name=cluster.name, stores=stores, network=network, provider=cloud.provider, secrets=secrets,
            production=production))
        wiring = _with_app_role(aws_stores.wiring, config, secrets, placement, on_cluster, "eks",
                                host=aws_stores.postgres.address, cidrs=[network.vpc_cidr],
                                after=[aws_stores.postgres])
        _managed_alerts(clients, monitoring, on_cluster)
        return wiring
    if isinstance(network, GcpNetwork) and isinstance(cloud, GkeIdentity):
        from .gcp import GcpDataStores, GcpStoresArgs
        gcp_stores = GcpDataStores("data-stores", GcpStoresArgs(
            name=cluster.name, stores=stores, network=network, provider=cloud.provider, secrets=secrets,
            production=production, api_namespace=config.namespace,
            api_service_accounts=[client.service_account for client in clients]))
        wiring = _with_app_role(gcp_stores.wiring, config, secrets, placement, on_cluster, "gke",
                                host=gcp_stores.postgres.private_ip_address, cidrs=[stores.private_service_cidr],
                                after=[gcp_stores.postgres, gcp_stores.database, gcp_stores.master_user])
        _managed_alerts(clients, monitoring, on_cluster)
        return wiring
    from .in_cluster import InClusterDataStores, InClusterStoresArgs
    storage = cluster.storage_class
    return InClusterDataStores("data-stores", InClusterStoresArgs(
        stores=stores, secrets=secrets, clients=clients, node_selector=dict(placement.node_selector),
        tolerations=list(placement.tolerations), storage_class=storage.name if storage else "standard",
        storage_after=storage.depends_on if storage else [], monitoring=monitoring, mesh=mesh,
        priority_class_name=DATA_STORE_CLASS, after=list(priority_classes or [])),
        opts=on_cluster).wiring


def _with_app_role(wiring: StoreWiring, config: PlatformConfig, secrets: dict[str, str], placement: Placement,
                   on_cluster: pulumi.ResourceOptions, flavor: str, *, host: pulumi.Input[str], cidrs: list[str],
                   after: list[pulumi.Resource]) -> StoreWiring:
    """The Job that creates the API's role on the managed primary; the API's pods wait for it."""
    from .app_role import AppRoleJob, AppRoleJobArgs
    from .in_cluster import POSTGRES_IMAGES

    stores = config.data_stores
    postgres = stores.postgres
    major = _postgres_major(stores.postgres_engine_version("eks" if flavor == "eks" else "gke"))
    image = postgres.client_image or POSTGRES_IMAGES[major]
    if postgres.client_image_digest:
        image = f"{image}@{postgres.client_image_digest}"
    job = AppRoleJob("data-app-role", AppRoleJobArgs(
        namespace=stores.namespace, image=image, host=host, database=postgres.database,
        role=postgres.username, master_username=postgres.master_username,
        master_password=secret(secrets, postgres.master_password_secret),
        app_password=secret(secrets, postgres.password_secret), egress_cidrs=cidrs,
        node_selector=dict(placement.node_selector), tolerations=list(placement.tolerations), after=after),
        opts=on_cluster)
    return dataclasses.replace(wiring, after=[*wiring.after, job.job])


def _managed_alerts(clients: list[ApiIdentity], monitoring: StoreMonitoring | None, on_cluster: pulumi.ResourceOptions) -> None:
    """Stores outside the cluster: the API's connection-error alert and panel (the servers' own alarms are the
    cloud's, aws.py / gcp.py)."""
    if monitoring is not None:
        StoreAlerts("data-store-alerts", StoreAlertsArgs(monitoring=monitoring, clients=clients, in_cluster=None),
                    opts=on_cluster)
