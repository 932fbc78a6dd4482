"""The data stores in the capacity report: in-cluster pods on a pool (kind), managed nodes on the clouds.

The in-cluster stores' requests live here and components/data/in_cluster.py writes them into the StatefulSets
(tests/test_data_stores.py checks both sides), as capacity/platform_services.py does for the charts.

Managed store prices: no list price for ElastiCache, RDS, Memorystore or Cloud SQL could be sourced and dated
where this table was last refreshed (2026-12-02: the stored AWS and Google Cloud pricing pages lack the per-node
tables, which they load at view time), so `STORE_HOURLY` is empty and the report counts the managed nodes without
adding a made-up figure to the monthly total; it says so. Add a row only with its source and date
(`PRICES_AS_OF` in capacity/prices.py), and the report adds it to the total and the per-session cost.
"""

from __future__ import annotations

from dataclasses import dataclass

from stack_config.platform import PlatformConfig

from .platform_services import Requests
from .quantities import ZERO, Resources

VALKEY = Requests("50m", "128Mi")
POSTGRES = Requests("200m", "256Mi")
"""Requests of the in-cluster Valkey and PostgreSQL containers on kind (limits: components/data/in_cluster.py)."""
REDIS_EXPORTER = Requests("10m", "32Mi")
POSTGRES_EXPORTER = Requests("10m", "48Mi")
"""The exporter sidecars next to them when monitoring is on (components/data/exporters.py)."""

STORE_HOURLY: dict[str, float] = {}
"""USD per node-hour by managed node type / tier (e.g. 'cache.r7g.large'): empty until a sourced, dated figure
is added (see the module docstring)."""


@dataclass(frozen=True)
class StoreNodes:
    store: str
    node_type: str
    count: int
    note: str

    @property
    def hourly(self) -> float | None:
        price = STORE_HOURLY.get(self.node_type)
        return None if price is None else price * self.count


def managed_nodes(config: PlatformConfig) -> list[StoreNodes]:
    """The billed nodes of the managed stores on EKS / GKE (none on kind, with the layer off or external)."""
    stores, flavor = config.data_stores, config.cluster.kind
    if not stores.enabled or stores.external is not None or flavor == "kind":
        return []
    shards, replicas = stores.shards(flavor), stores.replicas_per_shard(flavor)
    readers = stores.read_replicas(flavor)
    redis_type, postgres_type = stores.redis_node_type(flavor) or "", stores.postgres_instance_class(flavor) or ""
    redis_name = "ElastiCache" if flavor == "eks" else "Memorystore for Valkey"
    postgres_name = "RDS PostgreSQL" if flavor == "eks" else "Cloud SQL PostgreSQL"
    standby = "Multi-AZ standby" if flavor == "eks" else "REGIONAL standby"
    return [
        StoreNodes(redis_name, redis_type, shards * (1 + replicas), f"{shards} shards x (1 primary + {replicas} replica)"),
        StoreNodes(postgres_name, postgres_type, 2 + readers, f"primary + {standby} + {readers} read replicas"),
    ]


def in_cluster_requests(config: PlatformConfig) -> Resources:
    """What the in-cluster stores request on kind (one pod each: the server, its exporter when monitoring is on,
    the mesh sidecar when the mesh is on), ZERO elsewhere."""
    stores = config.data_stores
    if config.cluster.kind != "kind" or not stores.enabled or stores.external is not None:
        return ZERO
    total = VALKEY.resources + POSTGRES.resources
    if config.monitoring.enabled:
        total = total + REDIS_EXPORTER.resources + POSTGRES_EXPORTER.resources
    if config.mesh.enabled:
        proxy = config.mesh.proxy
        sidecar = Resources.of(proxy.cpu_request, proxy.memory_request)
        total = total + sidecar + sidecar
    return total
