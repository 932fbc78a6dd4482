"""The root of the stack config: one field per `browser-platform:<key>` in `Pulumi.<stack>.yaml`."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any

from pydantic import Field, ModelWrapValidatorHandler, field_validator, model_validator

from .addons import SOLVERS_BY_CLUSTER, AutoscalingAddons, IngressSettings, MeshSettings, MonitoringSettings
from .base import ConfigFieldError, StrictModel
from .cluster import EksClusterConfig, GkeClusterConfig, KindClusterConfig, NodePool, check_dns_label
from .data import STORE_ENV, DataStoresSettings, inside_ranges
from .egress import gke_nat_ports
from .observability import ObservabilitySettings, check_observability, tracing_active
from .sizing import size_pools
from .workloads import WorkloadBase, Workloads

ClusterConfig = Annotated[KindClusterConfig | EksClusterConfig | GkeClusterConfig, Field(discriminator="kind")]
CLUSTER_KINDS = ("kind", "eks", "gke")

KUBERNETES_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
ADDON_NAMESPACES = ("istio-system", "monitoring", "cert-manager", "keda", "tracing")
"""Namespaces the platform services create for themselves (components/services/mesh.py, monitoring.py, tls.py, keda.py;
tests/test_config_validation.py keeps the two lists in step). Sharing one would register two Namespace objects
with the same name, and the second fails on `pulumi up`."""
METRICS_PORT = "metrics"
"""The named port Prometheus scrapes on every workload (components/common/metrics_contract.py: METRICS_PORT_NAME)."""


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
    autoscaling: AutoscalingAddons = AutoscalingAddons()
    mesh: MeshSettings = MeshSettings()
    ingress: IngressSettings | None = Field(
        default=None, description="Public HTTPS entry through the Istio ingress gateway; none when unset.",
    )
    monitoring: MonitoringSettings = MonitoringSettings()
    data_stores: DataStoresSettings = Field(
        default=DataStoresSettings(),
        description="Redis and PostgreSQL for the API: managed on EKS/GKE, in-cluster on kind (stack_config/data.py).",
    )
    observability: ObservabilitySettings = Field(
        default=ObservabilitySettings(),
        description="Tracing (Istio -> OpenTelemetry Collector -> Tempo), alert receivers and routes, SLO alerts "
                    "(stack_config/observability.py, docs/observability.md).",
    )

    _namespace = field_validator("namespace", "ingress_namespace")(check_dns_label)

    @field_validator("namespace", "ingress_namespace")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in KUBERNETES_NAMESPACES or value in ADDON_NAMESPACES:
            raise ValueError(f"'{value}' is reserved (Kubernetes and the platform services use "
                             f"{', '.join(KUBERNETES_NAMESPACES + ADDON_NAMESPACES)}); choose a namespace of its own")
        return value

    @model_validator(mode="after")
    def _own_namespace(self) -> PlatformConfig:
        if self.namespace == self.ingress_namespace:
            raise ConfigFieldError(
                ("ingressNamespace",),
                f"must differ from namespace ('{self.namespace}'): the gateway's namespace runs with Pod Security "
                "baseline and is the only source the API admits, the platform's is restricted",
            )
        return self

    @model_validator(mode="after")
    def _metrics_ports(self) -> PlatformConfig:
        if not self.monitoring.enabled:
            return self
        for name, workload in self.workload_items():
            if METRICS_PORT not in workload.ports:
                raise ConfigFieldError(
                    ("workloads", name, "ports"),
                    f"needs a port named '{METRICS_PORT}' while monitoring.enabled is true: Prometheus scrapes it "
                    f"(and KEDA scales on it); got {', '.join(sorted(workload.ports))}",
                )
        return self

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

    @model_validator(mode="after")
    def _addons_fit_together(self) -> PlatformConfig:
        if self.autoscaling.keda.enabled and not self.monitoring.enabled:
            raise ConfigFieldError(
                ("autoscaling", "keda", "enabled"),
                "KEDA scales the browser pool on sessions it reads from Prometheus, so it needs monitoring.enabled; "
                "set autoscaling.keda.enabled false to fall back to the CPU/memory HPA",
            )
        if self.ingress is not None:
            if not self.mesh.enabled:
                raise ConfigFieldError(("ingress",), "is served by the Istio ingress gateway, so it needs mesh.enabled")
            tls = self.ingress.tls
            if self.cluster.kind == "kind" and tls.issuer == "letsencrypt":
                raise ConfigFieldError(
                    ("ingress", "tls", "issuer"),
                    "Let's Encrypt cannot reach a kind cluster on this machine; use selfSigned",
                )
            allowed = SOLVERS_BY_CLUSTER[self.cluster.kind]
            if tls.issuer == "letsencrypt" and tls.solver.type not in allowed:
                owner = next(kind for kind, types in SOLVERS_BY_CLUSTER.items() if tls.solver.type in types)
                raise ConfigFieldError(
                    ("ingress", "tls", "solver", "type"),
                    f"{tls.solver.type} is for {owner} clusters (cert-manager reaches the DNS API with the cluster's "
                    f"workload identity), this is {self.cluster.kind}; allowed here: {', '.join(allowed)}",
                )
        return self

    @model_validator(mode="after")
    def _observability_fits(self) -> PlatformConfig:
        try:
            check_observability(self.observability, mesh=self.mesh.enabled, monitoring=self.monitoring.enabled)
        except ConfigFieldError as error:
            raise ConfigFieldError(("observability", *error.path), str(error)) from None
        return self

    @property
    def tracing_enabled(self) -> bool:
        return tracing_active(self.observability, mesh=self.mesh.enabled, monitoring=self.monitoring.enabled)

    @model_validator(mode="after")
    def _nat_ports_cover_sessions(self) -> PlatformConfig:
        if self.cluster.kind == "gke":
            gke_nat_ports(self)  # raises when one node's sessions need more ports than Cloud NAT gives a VM
        return self

    @model_validator(mode="after")
    def _data_stores(self) -> PlatformConfig:
        stores = self.data_stores
        try:
            stores.check_for(self.cluster.kind, list(self.network.internal_cidrs))
        except ConfigFieldError as error:
            raise ConfigFieldError(("dataStores", *error.path), str(error)) from None
        if stores.enabled and isinstance(self.cluster, EksClusterConfig) and not inside_ranges(
                self.cluster.vpc_cidr, list(self.network.internal_cidrs)):
            # Pods share the nodes' security group (VPC CNI), so only the browser's egress policy keeps it away.
            raise ConfigFieldError(("network", "internalCidrs"),
                                   f"must cover cluster.vpcCidr ({self.cluster.vpc_cidr}) while dataStores.enabled: "
                                   "the stores live in the VPC and the browser pool may never reach them")
        if stores.enabled or stores.external is not None:
            api = self.workloads.api
            for key, names in (("env", api.env), ("secretEnv", api.secret_env)):
                taken = sorted(set(names) & set(STORE_ENV))
                if taken:
                    raise ConfigFieldError(("workloads", "api", key, taken[0]),
                                           "is set by the data layer (dataStores) from the stores' endpoints; "
                                           "set dataStores.enabled false and leave dataStores.external unset to "
                                           "manage it yourself")
        if stores.enabled and self.cluster.kind == "kind":
            namespace = stores.namespace
            if namespace in (self.namespace, self.ingress_namespace, *KUBERNETES_NAMESPACES, *ADDON_NAMESPACES):
                raise ConfigFieldError(("dataStores", "namespace"),
                                       f"'{namespace}' is taken; the stores get a namespace of their own")
        return self

    @model_validator(mode="wrap")
    @classmethod
    def _pools_hold_workloads(cls, data: Any, handler: ModelWrapValidatorHandler[PlatformConfig]) -> PlatformConfig:
        # Last validator, so it sees a config every other rule has accepted (see stack_config/sizing.py).
        return size_pools(handler(data))

    def workload_items(self) -> list[tuple[str, WorkloadBase]]:
        return [("api", self.workloads.api), ("browser", self.workloads.browser)]

    def pools_for(self, workload: WorkloadBase) -> list[NodePool]:
        return [pool for pool in self.cluster.node_pools if pool.matches(workload.node_selector)]
