"""The root of the stack config: one field per `browser-platform:<key>` in `Pulumi.<stack>.yaml`."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from .base import ConfigFieldError, StrictModel
from .cluster import KindClusterConfig, NodePool, check_dns_label
from .workloads import WorkloadBase, Workloads

ClusterConfig = Annotated[KindClusterConfig, Field(discriminator="kind")]
CLUSTER_KINDS = ("kind",)


class NetworkSettings(StrictModel):
    """Address ranges the browser pool may never reach, although it may browse the internet."""

    internal_cidrs: list[str] = [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "169.254.0.0/16",  # link-local, including the cloud metadata address 169.254.169.254
    ]

    @field_validator("internal_cidrs")
    @classmethod
    def _cidrs(cls, cidrs: list[str]) -> list[str]:
        for cidr in cidrs:
            try:
                ipaddress.ip_network(cidr, strict=True)
            except ValueError as error:
                raise ValueError(f"'{cidr}' is not a CIDR block: {error}") from None
        return cidrs


class PlatformConfig(StrictModel):
    cluster: ClusterConfig
    namespace: str = "browser-platform"
    ingress_namespace: str = Field(
        default="istio-ingress",
        description="Namespace of the ingress gateway; the only source allowed to reach the API.",
    )
    workloads: Workloads = Workloads()
    network: NetworkSettings = NetworkSettings()

    _namespace = field_validator("namespace", "ingress_namespace")(check_dns_label)

    @field_validator("namespace")
    @classmethod
    def _not_default(cls, value: str) -> str:
        if value in {"default", "kube-system", "kube-public", "kube-node-lease"}:
            raise ValueError(f"'{value}' is reserved; the platform needs a namespace of its own")
        return value

    @model_validator(mode="after")
    def _every_workload_has_a_pool(self) -> PlatformConfig:
        for name, workload in self.workload_items():
            if not self.pools_for(workload):
                available = "; ".join(f"{pool.name}: {pool.labels}" for pool in self.cluster.node_pools)
                raise ConfigFieldError(
                    ("workloads", name, "nodeSelector"),
                    f"{workload.node_selector} matches no node pool, so its pods could never be scheduled; "
                    f"pools are {available}",
                )
        return self

    def workload_items(self) -> list[tuple[str, WorkloadBase]]:
        return [("api", self.workloads.api), ("browser", self.workloads.browser)]

    def pools_for(self, workload: WorkloadBase) -> list[NodePool]:
        return [pool for pool in self.cluster.node_pools if pool.matches(workload.node_selector)]
