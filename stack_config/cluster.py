"""Cluster config: node pools in one provider-neutral shape, and the cluster itself as a union on `kind`.

A pool's labels and taints are written the same way for every provider; each cluster component translates
them (kind node labels and kubeadm taints, EKS node-group taints, GKE node-pool taints).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from capacity.prices import INSTANCE_TYPES

from .base import (
    CONFIG_KEY_RE,
    AwsRegion,
    ConfigFieldError,
    CpuQuantity,
    GcpProject,
    MemoryQuantity,
    StrictModel,
    cidr_block,
    cpu_millicores,
    memory_bytes,
)

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
    def schedules_system_pods(self) -> bool:
        """Whether pods that tolerate no taint of ours (cluster add-ons, platform services) can land here."""
        return all(taint.effect == "PreferNoSchedule" for taint in self.taints)

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
        if not any(pool.schedules_system_pods for pool in pools):
            raise ValueError(
                "every pool has a NoSchedule or NoExecute taint, so CoreDNS, metrics-server, istiod, Prometheus and "
                "cluster-autoscaler could never be scheduled; leave at least one pool untainted (e.g. the api pool) "
                "or make its taints PreferNoSchedule"
            )
        return pools


KIND_NODE_IMAGES = {
    # Only images a kind release published, pinned by the digest its release notes give (kind runs an image
    # reliably only with the release it was built for): 1.34 and 1.35 with kind v0.31.0 (v1.35.0 is that
    # release's default image, v1.34.3 was built in its release cycle), 1.36 with kind v0.32.0 (its default
    # image). 1.37 is left out until its image and digest are confirmed from a kind release.
    "1.36": "kindest/node:v1.36.1@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5",
    "1.35": "kindest/node:v1.35.0@sha256:452d707d4862f52530247495d180205e029056831160e22870e37e3f6c1ac31f",
    "1.34": "kindest/node:v1.34.3@sha256:08497ee19eace7b4b5348db5c6a1591d7752b164530a36f855cb0f2bdcbadd48",
}


class IngressHostPorts(StrictModel):
    """Host ports on the developer machine that reach the ingress gateway's NodePorts inside kind."""

    http: int = Field(default=8080, ge=1, le=65535)
    https: int = Field(default=8443, ge=1, le=65535)

    @model_validator(mode="after")
    def _distinct(self) -> IngressHostPorts:
        if self.http == self.https:
            raise ConfigFieldError(("https",), f"must differ from http ({self.http}): one host port maps one NodePort")
        return self


# A kind node image with an explicit tag (`kindest/node:v1.35.0`), optionally pinned by digest.
_KIND_IMAGE_RE = re.compile(r"^(?P<repo>[a-z0-9]+(?:[._/-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
                            r":(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})(?:@sha256:[a-f0-9]{64})?$")
_KIND_TAG_VERSION_RE = re.compile(r"^v(?P<minor>[0-9]+\.[0-9]+)\.[0-9]+")


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

    @field_validator("node_image")
    @classmethod
    def _pinned_image(cls, value: str | None) -> str | None:
        if value is None:
            return value
        match = _KIND_IMAGE_RE.match(value)
        if not match:
            raise ValueError(f"'{value}' must be a node image with an explicit tag, optionally pinned by digest, "
                             "e.g. kindest/node:v1.35.0@sha256:<64 hex characters>")
        if match.group("tag") == "latest":
            raise ValueError("the 'latest' tag is not allowed: pin the node image's Kubernetes version (and digest)")
        return value

    @model_validator(mode="after")
    def _image_matches_version(self) -> KindClusterConfig:
        if self.node_image is None:
            return self
        tag = self.node_image.split("@", 1)[0].rsplit(":", 1)[1]
        version = _KIND_TAG_VERSION_RE.match(tag)
        if version and version.group("minor") != self.kubernetes_version:
            raise ConfigFieldError(
                ("nodeImage",),
                f"'{self.node_image}' runs Kubernetes {version.group('minor')}, but kubernetesVersion is "
                f"{self.kubernetes_version}; the manifests and add-ons are chosen for kubernetesVersion, so set both "
                "to the same minor",
            )
        return self

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


# ---------------------------------------------------------------------------------------------------------
# Cloud clusters: EKS and GKE. The pools keep the shared shape; each provider adds its own network, identity
# and control-plane settings with ranges checked here, so `pulumi up` fails before any cloud call.
# ---------------------------------------------------------------------------------------------------------

EKS_VERSIONS = ("1.33", "1.34", "1.35")
"""Minor versions with EKS standard support that this program has been written against."""

GKE_VERSIONS = ("1.33", "1.34", "1.35")
"""Minimum control-plane minors accepted on GKE; the release channel picks the patch and later upgrades."""

CLOUDWATCH_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                             2922, 3288, 3653)

_AWS_PRINCIPAL_ARN = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:(role|user)/[A-Za-z0-9+=,.@_/-]{1,512}$")
_EC2_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
_GCP_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
_GCE_MACHINE_TYPE = re.compile(r"^[a-z][a-z0-9]*-[a-z0-9-]+$")


def parse_cidr(value: str) -> ipaddress.IPv4Network:
    network = cidr_block(value)
    if not isinstance(network, ipaddress.IPv4Network):
        raise ValueError(f"'{value}' is not an IPv4 CIDR block")
    return network


def _check_cidr(value: str) -> str:
    parse_cidr(value)
    return value


def _check_private_cidr(value: str) -> str:
    if not parse_cidr(value).is_private:
        raise ValueError(f"'{value}' is not a private (RFC 1918) range")
    return value


Cidr = Annotated[str, AfterValidator(_check_cidr)]
PrivateCidr = Annotated[str, AfterValidator(_check_private_cidr)]


def _check_public_cidrs(cidrs: list[str], allow_world: bool, key: str, *suffix: str) -> None:
    for index, cidr in enumerate(cidrs):
        if parse_cidr(cidr).prefixlen == 0 and not allow_world:
            raise ConfigFieldError(
                (key, index, *suffix),
                f"'{cidr}' opens the Kubernetes API to the whole internet; list your office/VPN/CI ranges instead, "
                "or set allowWorldApiAccess: true if that is really intended",
            )


def _check_cloud_pools(pools: list[NodePool], pattern: re.Pattern[str], example: str, single_type: bool) -> None:
    for index, pool in enumerate(pools):
        if not pool.instance_types:
            raise ConfigFieldError(
                ("nodePools", index, "instanceTypes"),
                f"pool '{pool.name}': required on a cloud cluster; list the machine type(s) for it, e.g. [{example}]",
            )
        if single_type and len(pool.instance_types) > 1:
            raise ConfigFieldError(
                ("nodePools", index, "instanceTypes"),
                f"pool '{pool.name}': a GKE node pool has exactly one machine type, got {len(pool.instance_types)}",
            )
        for type_index, instance_type in enumerate(pool.instance_types):
            if not pattern.match(instance_type):
                raise ConfigFieldError(
                    ("nodePools", index, "instanceTypes", type_index),
                    f"'{instance_type}' is not a machine type name (e.g. {example})",
                )
        if len(set(pool.instance_types)) != len(pool.instance_types):
            raise ConfigFieldError(("nodePools", index, "instanceTypes"), f"pool '{pool.name}': repeated machine type")
        _check_one_shape(pool, index)


def _check_one_shape(pool: NodePool, index: int) -> None:
    """Several instance types in one group must share vCPU and memory: cluster-autoscaler builds its template node
    from one type of the group and plans every scale-up with that shape (and the capacity model sizes the pool
    with its first type), so a larger or smaller type in the same group breaks both plans."""
    if len(pool.instance_types) < 2:
        return
    unknown = [name for name in pool.instance_types if name not in INSTANCE_TYPES]
    if unknown:
        raise ConfigFieldError(
            ("nodePools", index, "instanceTypes", pool.instance_types.index(unknown[0])),
            f"pool '{pool.name}': cannot confirm that {', '.join(unknown)} has the shape of the other types (not in "
            "the capacity table, capacity/prices.py); list one type, or only known types of one vCPU/memory shape",
        )
    shapes = {name: (INSTANCE_TYPES[name].vcpu, INSTANCE_TYPES[name].memory_gib) for name in pool.instance_types}
    first = pool.instance_types[0]
    odd = [name for name in pool.instance_types if shapes[name] != shapes[first]]
    if odd:
        described = ", ".join(f"{name} ({shapes[name][0]} vCPU / {shapes[name][1]:g} GiB)" for name in pool.instance_types)
        raise ConfigFieldError(
            ("nodePools", index, "instanceTypes", pool.instance_types.index(odd[0])),
            f"pool '{pool.name}' mixes instance shapes: {described}. cluster-autoscaler plans every scale-up of a "
            f"group with one type's shape, so {', '.join(odd)} must match {first} in vCPU and memory (e.g. "
            "c7i.2xlarge with c6i.2xlarge); put other shapes in a pool of their own",
        )


def _check_version(value: str, allowed: tuple[str, ...], where: str) -> str:
    if value not in allowed:
        raise ValueError(f"'{value}' is not supported on {where}; allowed: {', '.join(allowed)}")
    return value


class EksClusterConfig(ClusterBase):
    """An EKS cluster in its own VPC (three AZs, private nodes), with managed node groups and add-ons."""

    kind: Literal["eks"]
    region: AwsRegion
    zones: list[str] | None = Field(default=None, min_length=2, max_length=3)
    """Availability zones to use; by default the first three available zones of the region are looked up."""
    vpc_cidr: PrivateCidr = "10.0.0.0/16"
    single_nat_gateway: bool = False
    """One NAT gateway for all zones: cheaper, but losing that zone cuts egress for every node."""
    public_access_cidrs: list[Cidr]
    """Who may reach the public API endpoint; an empty list keeps the endpoint private (VPC only)."""
    allow_world_api_access: bool = False
    admin_principal_arn: str | None = None
    support_type: Literal["STANDARD", "EXTENDED"] = "STANDARD"
    log_retention_days: int = 90
    deletion_protection: bool = True

    @field_validator("kubernetes_version")
    @classmethod
    def _supported(cls, value: str) -> str:
        return _check_version(value, EKS_VERSIONS, "eks")

    @field_validator("vpc_cidr")
    @classmethod
    def _vpc_size(cls, value: str) -> str:
        if not 16 <= parse_cidr(value).prefixlen <= 20:
            raise ValueError(f"'{value}' must be a /16 to /20: pods take VPC addresses on EKS")
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in CLOUDWATCH_RETENTION_DAYS:
            raise ValueError(f"{value} is not a CloudWatch retention; allowed: {', '.join(map(str, CLOUDWATCH_RETENTION_DAYS))}")
        return value

    @model_validator(mode="after")
    def _cloud_rules(self) -> EksClusterConfig:
        if not self.admin_principal_arn:
            raise ConfigFieldError(
                ("adminPrincipalArn",),
                "required: the IAM role or user that gets cluster-admin through an EKS access entry, "
                "e.g. arn:aws:iam::123456789012:role/platform-admin",
            )
        if not _AWS_PRINCIPAL_ARN.match(self.admin_principal_arn):
            raise ConfigFieldError(
                ("adminPrincipalArn",),
                f"'{self.admin_principal_arn}' is not an IAM role or user ARN (arn:aws:iam::<account>:role/<name>)",
            )
        for index, zone in enumerate(self.zones or []):
            if not (zone.startswith(self.region) and len(zone) == len(self.region) + 1 and zone[-1].isalpha()):
                raise ConfigFieldError(("zones", index), f"'{zone}' is not a zone of {self.region} (e.g. {self.region}a)")
        if self.zones and len(set(self.zones)) != len(self.zones):
            raise ConfigFieldError(("zones",), "zones must be distinct")
        _check_public_cidrs(self.public_access_cidrs, self.allow_world_api_access, "publicAccessCidrs")
        _check_cloud_pools(self.node_pools, _EC2_INSTANCE_TYPE, "m7i.xlarge", single_type=False)
        return self

    @property
    def admin_arn(self) -> str:
        assert self.admin_principal_arn is not None  # the validator above requires it
        return self.admin_principal_arn


class AuthorizedNetwork(StrictModel):
    cidr_block: Cidr
    display_name: str = Field(min_length=1, max_length=60)


class GkeClusterConfig(ClusterBase):
    """A regional VPC-native GKE Standard cluster with private nodes, Dataplane V2 and Workload Identity."""

    kind: Literal["gke"]
    project: GcpProject
    region: str
    zones: list[str] | None = Field(default=None, min_length=1, max_length=4)
    """Zones for the nodes (node_locations); by default GKE picks the region's zones (usually three)."""
    node_cidr: PrivateCidr = "10.10.0.0/20"
    pods_cidr: PrivateCidr = "10.16.0.0/14"
    services_cidr: PrivateCidr = "10.20.0.0/20"
    master_ipv4_cidr: PrivateCidr = "172.16.0.0/28"
    authorized_networks: list[AuthorizedNetwork]
    """Who may reach the control plane's public endpoint; empty means only from inside Google Cloud's network."""
    allow_world_api_access: bool = False
    release_channel: Literal["RAPID", "REGULAR", "STABLE", "EXTENDED"] = "REGULAR"
    deletion_protection: bool = True

    @field_validator("kubernetes_version")
    @classmethod
    def _supported(cls, value: str) -> str:
        return _check_version(value, GKE_VERSIONS, "gke")

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not _GCP_REGION.match(value):
            raise ValueError(f"'{value}' is not a Google Cloud region name (e.g. europe-west1)")
        return value

    @field_validator("master_ipv4_cidr")
    @classmethod
    def _master_size(cls, value: str) -> str:
        if parse_cidr(value).prefixlen != 28:
            raise ValueError(f"'{value}' must be a /28: GKE reserves exactly 16 addresses for the control plane")
        return value

    @model_validator(mode="after")
    def _cloud_rules(self) -> GkeClusterConfig:
        for index, zone in enumerate(self.zones or []):
            if not re.match(rf"^{re.escape(self.region)}-[a-z]$", zone):
                raise ConfigFieldError(("zones", index), f"'{zone}' is not a zone of {self.region} (e.g. {self.region}-b)")
        ranges = {"nodeCidr": self.node_cidr, "podsCidr": self.pods_cidr, "servicesCidr": self.services_cidr,
                  "masterIpv4Cidr": self.master_ipv4_cidr}
        keys = list(ranges)
        for i, first in enumerate(keys):
            for second in keys[i + 1:]:
                if parse_cidr(ranges[first]).overlaps(parse_cidr(ranges[second])):
                    raise ConfigFieldError((second,), f"{ranges[second]} overlaps {first} ({ranges[first]})")
        _check_public_cidrs([n.cidr_block for n in self.authorized_networks], self.allow_world_api_access,
                            "authorizedNetworks", "cidrBlock")
        _check_cloud_pools(self.node_pools, _GCE_MACHINE_TYPE, "n2-standard-8", single_type=True)
        return self

    @property
    def workload_pool(self) -> str:
        return f"{self.project}.svc.id.goog"

    @property
    def zone_count(self) -> int:
        """Zones a regional pool spans: `zones`, else three (GKE's default for most regions; the same number as
        components/clusters/gke.py DEFAULT_ZONE_COUNT). A pool's initial size is set per zone."""
        return len(self.zones) if self.zones else 3


# ---------------------------------------------------------------------------------------------------------
# Existing clusters: the user's own cluster (on-premises, AKS, any conformant Kubernetes). Nothing about the
# cluster is created; what the program cannot discover offline is declared here, each with a safe default or a
# required value, and the pools are declared by label and node shape so the capacity checks still hold.
# ---------------------------------------------------------------------------------------------------------

EXISTING_VERSIONS = tuple(sorted(set(EKS_VERSIONS) | set(GKE_VERSIONS) | set(KIND_NODE_IMAGES)))
"""Minors the platform runs on elsewhere (its charts and manifests are written for these): the union of the
kind, EKS and GKE lists."""


class NodeShape(StrictModel):
    """One node of an existing pool as the kubelet reports it: `kubectl get node <name> -o
    jsonpath='{.status.allocatable}'` (cpu, memory, pods). Allocatable already excludes the kubelet's reserves,
    so the capacity model subtracts none; it still subtracts `nodeDaemonsets` and the platform's own agents."""

    cpu: CpuQuantity
    memory: MemoryQuantity
    pods: int = Field(default=110, ge=1, le=1024)


class NodeDaemonsets(StrictModel):
    """What the cluster's own DaemonSets (CNI, kube-proxy, CSI node plugins, log and metrics agents) request on
    every node, summed: `kubectl get ds -A -o jsonpath='{..resources.requests}'`. The defaults are deliberately
    generous so that an unmeasured cluster errs on the side of fewer pods per node."""

    cpu: str = "300m"
    memory: str = "400Mi"
    pods: int = Field(default=4, ge=0, le=100)

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, value: str) -> str:
        cpu_millicores(value)  # raises with the allowed forms; zero is allowed (no agents of the cluster's own)
        return value

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        memory_bytes(value)
        return value


class ExistingNodePool(NodePool):
    """A pool the cluster already has, found by its labels (and taints): never created, resized or deleted here.

    `nodes` is how many nodes the pool has (or its own autoscaler's maximum): the capacity checks use it as the
    pool's node count. The node's shape is either `nodeShape` or one `instanceTypes` entry of the capacity table
    (capacity/prices.py), whose kubelet reserve is then estimated conservatively (GKE's tiers).
    """

    nodes: int = Field(ge=1, le=5000)
    node_shape: NodeShape | None = None
    # Set from `nodes` (and rejected when written): the platform creates no nodes on an existing cluster.
    min_nodes: int = Field(default=1, ge=0, le=5000, description="not allowed here: set from `nodes`")
    max_nodes: int = Field(default=3, ge=1, le=5000, description="not allowed here: set from `nodes`")
    desired_nodes: int | None = Field(default=None, description="not allowed on an existing pool")
    disk_size_gb: int = Field(default=100, description="not allowed on an existing pool (its nodes exist)")
    capacity_type: Literal["onDemand", "spot"] = Field(default="onDemand", description="onDemand only here")
    instance_types: list[str] = Field(default=[], description="at most one, a type of capacity/prices.py "
                                      "whose shape the nodes have; or nodeShape")

    @model_validator(mode="before")
    @classmethod
    def _nodes_are_the_bounds(cls, data: object) -> object:
        # The pool's bounds are the declared count, set as if written so that the capacity checks of
        # stack_config/sizing.py compare against it and never derive bounds (the platform adds no nodes here).
        if not isinstance(data, dict):
            return data
        for key in ("minNodes", "maxNodes", "desiredNodes", "diskSizeGb", "min_nodes", "max_nodes", "desired_nodes",
                    "disk_size_gb"):
            if key in data:
                raise ConfigFieldError(
                    (key,), "applies to pools the platform creates (kind, eks, gke); an existing pool is declared "
                    "with `nodes` (how many it has) and `nodeShape` or one `instanceTypes` entry")
        nodes = data.get("nodes")
        if isinstance(nodes, int) and not isinstance(nodes, bool):
            return {**data, "minNodes": nodes, "maxNodes": nodes}
        return data

    @model_validator(mode="after")
    def _one_shape(self) -> ExistingNodePool:
        if self.capacity_type == "spot":
            raise ConfigFieldError(("capacityType",), "spot applies to eks and gke pools the platform creates; an "
                                   "existing pool is onDemand (the platform cannot tell its nodes' eviction policy)")
        if (self.node_shape is None) == (not self.instance_types):
            raise ConfigFieldError(
                ("nodeShape",), f"pool '{self.name}': declare the node's shape with exactly one of nodeShape "
                "(its allocatable cpu, memory, pods) or instanceTypes (one entry of the capacity table, "
                "capacity/prices.py)")
        if self.instance_types:
            if len(self.instance_types) > 1:
                raise ConfigFieldError(("instanceTypes",), f"pool '{self.name}': one type per existing pool, got "
                                       f"{len(self.instance_types)}")
            if self.instance_types[0] not in INSTANCE_TYPES or INSTANCE_TYPES[self.instance_types[0]].cloud == "kind":
                known = ", ".join(sorted(name for name, spec in INSTANCE_TYPES.items() if spec.cloud != "kind"))
                raise ConfigFieldError(("instanceTypes", 0), f"'{self.instance_types[0]}' is not in the capacity "
                                       f"table (capacity/prices.py); use nodeShape instead, or one of {known}")
        return self


class ExistingKubeconfig(StrictModel):
    """How the program reaches the cluster: a kubeconfig in Pulumi secret config, or a context of the local
    kubeconfig (`$KUBECONFIG`, else `~/.kube/config`), copied into the stack's state as a secret so that `destroy`
    acts on the cluster `up` acted on, whatever the local file points at by then."""

    secret: str | None = None
    """Secret config key holding the whole kubeconfig (`pulumi config set --secret <key> < kubeconfig`)."""
    context: str | None = None
    """Context to use: in the secret kubeconfig (default: its current-context), or in the local kubeconfig."""

    @field_validator("secret")
    @classmethod
    def _secret_key(cls, value: str | None) -> str | None:
        if value is not None and not CONFIG_KEY_RE.match(value):
            raise ValueError(f"'{value}' is not a config key name (letters, digits, '_' and '-', starting with a letter)")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> ExistingKubeconfig:
        if self.secret is None and self.context is None:
            raise ConfigFieldError(
                ("secret",), "required (or context): name the secret config key that holds the cluster's kubeconfig "
                "(`pulumi config set --secret kubeconfig < ~/.kube/my-cluster`), or the context of your local "
                "kubeconfig to use")
        return self


class GatewayServiceSettings(StrictModel):
    """How the ingress gateway's Service is exposed on an existing cluster."""

    type: Literal["LoadBalancer", "NodePort"] = "LoadBalancer"
    """LoadBalancer needs a load-balancer implementation (AKS, MetalLB, a cloud controller); without one the
    Service's address stays pending. NodePort: put your own load balancer in front of the nodes."""
    annotations: dict[str, str] = {}
    """Annotations for the Service, e.g. an internal load balancer or a MetalLB address pool."""
    node_ports: IngressHostPorts | None = None
    """Fixed NodePorts (30000-32767) for http and https with type NodePort; unset: Kubernetes assigns them."""

    @model_validator(mode="after")
    def _node_ports(self) -> GatewayServiceSettings:
        if self.node_ports is None:
            return self
        if self.type != "NodePort":
            raise ConfigFieldError(("nodePorts",), "applies to type NodePort only")
        for key in ("http", "https"):
            port = getattr(self.node_ports, key)
            if not 30000 <= port <= 32767:
                raise ConfigFieldError(("nodePorts", key), f"{port} is outside the NodePort range 30000-32767")
        return self


class IstioCniPaths(StrictModel):
    """Where the cluster's CNI keeps its binaries and configuration on the nodes; Istio's CNI agent chains itself
    into that configuration. The defaults are the usual paths; k3s, MicroK8s and some distributions differ
    (e.g. k3s: /var/lib/rancher/k3s/data/current/bin and /var/lib/rancher/k3s/agent/etc/cni/net.d)."""

    bin_dir: str = "/opt/cni/bin"
    conf_dir: str = "/etc/cni/net.d"

    @field_validator("bin_dir", "conf_dir")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not re.match(r"^/[A-Za-z0-9._/-]*$", value) or "/../" in f"{value}/":
            raise ValueError(f"'{value}' is not an absolute path on the node")
        return value


class ExistingClusterConfig(ClusterBase):
    """A cluster the user already runs; the program installs the platform's layers on it and nothing else."""

    kind: Literal["existing"]
    kubernetes_version: str = Field(  # required here, although the base has a default
        description="The control plane's minor (`kubectl version`); no default can be right for a cluster the "
                    "program does not create.")
    kubeconfig: ExistingKubeconfig
    node_pools: list[ExistingNodePool] = Field(min_length=1)  # pyright: ignore[reportIncompatibleVariableOverride]
    storage_class: str | None = None
    """StorageClass of the platform's volumes (Prometheus, Alertmanager); required with monitoring on."""
    metrics_server: Literal["preinstalled", "install"] = "preinstalled"
    """Whether the cluster already serves the resource-metrics API (AKS, GKE, most distributions do): installing a
    second metrics-server would take over the cluster's `v1beta1.metrics.k8s.io` APIService, and `destroy` would
    delete it. `install` only where `kubectl get apiservice v1beta1.metrics.k8s.io` finds nothing."""
    gateway_service: GatewayServiceSettings = GatewayServiceSettings()
    pod_cidrs: list[Cidr] = Field(min_length=1)
    """The cluster's pod ranges (`kubectl get nodes -o jsonpath='{..podCIDR}'`, or the CNI's pool)."""
    service_cidrs: list[Cidr] = Field(min_length=1)
    """The cluster's Service range (the API server's --service-cluster-ip-range)."""
    node_daemonsets: NodeDaemonsets = NodeDaemonsets()
    istio_cni: IstioCniPaths = IstioCniPaths()

    @field_validator("kubernetes_version")
    @classmethod
    def _supported(cls, value: str) -> str:
        return _check_version(value, EXISTING_VERSIONS, "an existing cluster")

    @field_validator("storage_class")
    @classmethod
    def _storage_class(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", value):
            raise ValueError(f"'{value}' is not a StorageClass name")
        return value
