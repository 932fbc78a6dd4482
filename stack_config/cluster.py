"""Cluster config: node pools in one provider-neutral shape, and the cluster itself as a union on `kind`.

A pool's labels and taints are written the same way for every provider; each cluster component translates
them (kind node labels and kubeadm taints, EKS node-group taints, GKE node-pool taints).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import ConfigFieldError, StrictModel

_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")

WORKLOAD_LABEL = "workload"
"""The node label key that ties a pool to the workload it is for (`workload: browser`, `workload: api`)."""


def check_dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError(
            f"'{value}' is not allowed: use 1-40 lowercase letters, digits and '-', starting with a letter"
        )
    return value


def check_labels(labels: dict[str, str]) -> dict[str, str]:
    for key, value in labels.items():
        if not _LABEL_KEY.match(key):
            raise ValueError(f"label key '{key}' is not a valid Kubernetes label key")
        if not _LABEL_VALUE.match(value):
            raise ValueError(f"label value '{value}' (key '{key}') is not a valid Kubernetes label value")
    return labels


class Taint(StrictModel):
    key: str
    value: str = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not _LABEL_KEY.match(value):
            raise ValueError(f"'{value}' is not a valid taint key")
        return value


class NodePool(StrictModel):
    """One group of identical nodes, labelled (and optionally tainted) for the workloads it carries."""

    name: str
    labels: dict[str, str] = Field(min_length=1)
    taints: list[Taint] = []
    min_nodes: int = Field(default=1, ge=0, le=1000)
    max_nodes: int = Field(default=3, ge=1, le=1000)
    desired_nodes: int | None = Field(default=None, ge=0, le=1000)
    capacity_type: Literal["onDemand", "spot"] = "onDemand"
    instance_types: list[str] = []
    disk_size_gb: int = Field(default=100, ge=20, le=16384)

    _name = field_validator("name")(check_dns_label)
    _labels = field_validator("labels")(check_labels)

    @model_validator(mode="after")
    def _bounds(self) -> NodePool:
        if self.min_nodes > self.max_nodes:
            raise ConfigFieldError(("minNodes",), f"must not exceed maxNodes ({self.max_nodes}), got {self.min_nodes}")
        if self.desired_nodes is not None and not self.min_nodes <= self.desired_nodes <= self.max_nodes:
            raise ConfigFieldError(
                ("desiredNodes",),
                f"must lie between minNodes ({self.min_nodes}) and maxNodes ({self.max_nodes}), got {self.desired_nodes}",
            )
        return self

    @property
    def initial_nodes(self) -> int:
        return self.desired_nodes if self.desired_nodes is not None else max(self.min_nodes, 1)

    def matches(self, node_selector: dict[str, str]) -> bool:
        return all(self.labels.get(key) == value for key, value in node_selector.items())


class ClusterBase(StrictModel):
    name: str
    kubernetes_version: str = "1.35"
    node_pools: list[NodePool] = Field(min_length=1)

    _name = field_validator("name")(check_dns_label)

    @field_validator("node_pools")
    @classmethod
    def _unique_pools(cls, pools: list[NodePool]) -> list[NodePool]:
        names = [pool.name for pool in pools]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"node pool names must be unique; repeated: {', '.join(duplicates)}")
        return pools


KIND_NODE_IMAGES = {
    # Images published with kind v0.31; pin by tag so `pulumi up` on any machine gets the same node.
    "1.35": "kindest/node:v1.35.0",
    "1.34": "kindest/node:v1.34.3",
    "1.33": "kindest/node:v1.33.7",
}


class IngressHostPorts(StrictModel):
    """Host ports on the developer machine that reach the ingress gateway's NodePorts inside kind."""

    http: int = Field(default=8080, ge=1, le=65535)
    https: int = Field(default=8443, ge=1, le=65535)


class KindClusterConfig(ClusterBase):
    kind: Literal["kind"]
    node_image: str | None = None
    ingress_host_ports: IngressHostPorts = IngressHostPorts()

    @field_validator("kubernetes_version")
    @classmethod
    def _supported(cls, value: str) -> str:
        if value not in KIND_NODE_IMAGES:
            raise ValueError(f"'{value}' is not supported on kind; allowed: {', '.join(sorted(KIND_NODE_IMAGES))}")
        return value

    @model_validator(mode="after")
    def _no_cloud_only_settings(self) -> KindClusterConfig:
        for index, pool in enumerate(self.node_pools):
            if pool.capacity_type == "spot" or pool.instance_types:
                raise ConfigFieldError(
                    ("nodePools", index, "capacityType" if pool.capacity_type == "spot" else "instanceTypes"),
                    f"pool '{pool.name}': capacityType spot and instanceTypes apply to eks and gke only",
                )
        return self

    @property
    def image(self) -> str:
        return self.node_image or KIND_NODE_IMAGES[self.kubernetes_version]
