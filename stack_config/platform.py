"""The root of the stack config: one field per `browser-platform:<key>` in `Pulumi.<stack>.yaml`."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, ModelWrapValidatorHandler, field_validator, model_validator

from .addons import SOLVERS_BY_CLUSTER, AutoscalingAddons, IngressSettings, MeshSettings, MonitoringSettings
from .base import ConfigFieldError, StrictModel, cidr_block
from .cluster import (
    EksClusterConfig,
    ExistingClusterConfig,
    GkeClusterConfig,
    KindClusterConfig,
    NodePool,
    check_dns_label,
)
from .data import STORE_ENV, DataStoresSettings, inside_ranges
from .egress import gke_nat_ports
from .observability import ObservabilitySettings, check_observability, tracing_active
from .sizing import size_pools
from .workload_names import check_workload_names
from .workloads import (
    DEFAULT_WORKLOADS,
    NEW_FORM,
    AnyWorkload,
    ApiWorkload,
    BrowserWorkload,
    Caller,
    Role,
    WorkerWorkload,
    WorkloadBase,
    Workloads,
    headroom_namespace,
    named_workloads,
    platform_env,
)

ClusterConfig = Annotated[KindClusterConfig | EksClusterConfig | GkeClusterConfig | ExistingClusterConfig,
                          Field(discriminator="kind")]
CLUSTER_KINDS = ("kind", "eks", "gke", "existing")

KUBERNETES_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
ADDON_NAMESPACES = ("istio-system", "monitoring", "cert-manager", "keda", "tracing", "kiali")
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
            cidr_block(cidr)
        return cidrs


class PlatformConfig(StrictModel):
    cluster: ClusterConfig
    namespace: str = "browser-platform"
    ingress_namespace: str = Field(
        default="istio-ingress",
        description="Namespace of the ingress gateway; the only source allowed to reach the API.",
    )
    workloads: Workloads = Field(
        default=DEFAULT_WORKLOADS,
        description="Named workloads: `{<name>: {role: api | browser | worker, ...}}` (names are DNS labels). "
                    "The keys api and browser may leave out `role` (the form before roles existed).",
    )
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
        description="Tracing (Istio -> OpenTelemetry Collector -> Tempo), Kiali, alert receivers and routes, SLO alerts "
                    "(stack_config/observability.py, docs/observability.md).",
    )

    _namespace = field_validator("namespace", "ingress_namespace")(check_dns_label)

    @field_validator("workloads", mode="before")
    @classmethod
    def _roles(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in data:
                try:
                    check_dns_label(str(name))
                except ValueError as error:
                    raise ConfigFieldError((str(name),), f"workload name {error}") from None
        return named_workloads(data)

    @model_validator(mode="after")
    def _calls(self) -> PlatformConfig:
        workloads = self.workloads
        if not workloads:
            raise ConfigFieldError(("workloads",), f"must name at least one workload; the form is\n{NEW_FORM}")
        for name, spec in self.callers():
            for index, callee in enumerate(spec.calls):
                target = workloads.get(callee)
                if target is None:
                    raise ConfigFieldError(("workloads", name, "calls", index),
                                           f"'{callee}' is not a workload; workloads are {', '.join(workloads)}")
                if callee == name:
                    raise ConfigFieldError(("workloads", name, "calls", index), "a workload does not call itself")
                if isinstance(target, WorkerWorkload):
                    raise ConfigFieldError(("workloads", name, "calls", index),
                                           f"'{callee}' is a worker: it has no Service, so nothing can call it; "
                                           "call an api or browser workload")
        for name, spec in workloads.items():
            if isinstance(spec, BrowserWorkload) and not self.callers_of(name):
                raise ConfigFieldError(
                    ("workloads", name),
                    f"browser pool '{name}' is called by no workload, so no session could ever reach it; add "
                    f"'{name}' to the `calls` of the api (or worker) that drives it",
                )
        public = [name for name, spec in workloads.items() if isinstance(spec, ApiWorkload) and spec.public]
        if len(public) > 1:
            raise ConfigFieldError(("workloads", public[1], "public"),
                                   f"only one API is reached from the gateway (the public host routes to one "
                                   f"Service), and '{public[0]}' already is; set public: false here")
        for name, spec in workloads.items():
            reserved = set(platform_env(workloads, name))
            for key, names in (("env", spec.env), ("secretEnv", spec.secret_env)):
                taken = sorted(set(names) & reserved)
                if taken:
                    raise ConfigFieldError(("workloads", name, key, taken[0]),
                                           f"is set by the platform ({', '.join(sorted(reserved))}) from the "
                                           "workloads it calls; rename your variable")
            if isinstance(spec, WorkerWorkload) and spec.queue is not None and (
                    not self.autoscaling.keda.enabled or spec.autoscaling is None):
                raise ConfigFieldError(("workloads", name, "queue"),
                                       "scales through KEDA, so it needs autoscaling.keda.enabled (and this "
                                       "workload's autoscaling bounds); remove queue to use the CPU/memory HPA")
        if self.ingress is not None and not public:
            raise ConfigFieldError(("ingress",), "routes the public host to an API, but no api workload is public "
                                   "(workloads.<name>.public: true)")
        return self

    @model_validator(mode="after")
    def _distinct_object_names(self) -> PlatformConfig:
        check_workload_names(self)  # two workloads whose derived object names meet (stack_config/workload_names.py)
        return self

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
                "KEDA scales the browser pools on sessions (and workers on queues) it reads from Prometheus, so it "
                "needs monitoring.enabled; "
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
            if tls.issuer == "letsencrypt" and tls.solver.type not in allowed and self.cluster.kind == "existing":
                raise ConfigFieldError(
                    ("ingress", "tls", "solver", "type"),
                    f"{tls.solver.type} needs the cloud workload identity of a cluster this program creates (eks, gke) "
                    "and is not available on an existing cluster; use type http01 (Let's Encrypt must reach the "
                    "gateway on port 80 at ingress.host) or ingress.tls.issuer selfSigned",
                )
            if tls.issuer == "letsencrypt" and tls.solver.type not in allowed:
                owner = next(kind for kind, types in SOLVERS_BY_CLUSTER.items() if tls.solver.type in types)
                raise ConfigFieldError(
                    ("ingress", "tls", "solver", "type"),
                    f"{tls.solver.type} is for {owner} clusters (cert-manager reaches the DNS API with the cluster's "
                    f"workload identity), this is {self.cluster.kind}; allowed here: {', '.join(allowed)}",
                )
        return self

    @model_validator(mode="after")
    def _existing_cluster(self) -> PlatformConfig:
        """What an existing cluster must declare because the program cannot look (stack_config/cluster.py)."""
        cluster = self.cluster
        if not isinstance(cluster, ExistingClusterConfig):
            return self
        if self.monitoring.enabled and cluster.storage_class is None:
            raise ConfigFieldError(
                ("cluster", "storageClass"),
                "required while monitoring.enabled: the StorageClass Prometheus and Alertmanager volumes use "
                "(`kubectl get storageclass`; the one marked (default) is the usual choice). The platform never "
                "creates or changes a StorageClass on a cluster it does not own")
        for key, cidrs in (("podCidrs", cluster.pod_cidrs), ("serviceCidrs", cluster.service_cidrs)):
            for index, cidr in enumerate(cidrs):
                if not inside_ranges(cidr, list(self.network.internal_cidrs)):
                    raise ConfigFieldError(
                        ("cluster", key, index),
                        f"{cidr} must lie inside network.internalCidrs ({', '.join(self.network.internal_cidrs)}): "
                        "the browser pool's egress policy blocks those ranges, so a pod or Service range outside "
                        "them would be reachable from the browsers; add it to network.internalCidrs")
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

    @property
    def kiali_enabled(self) -> bool:
        return self.observability.kiali.enabled

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
            for name, client in self.store_clients():
                for key, names in (("env", client.env), ("secretEnv", client.secret_env)):
                    taken = sorted(set(names) & set(STORE_ENV))
                    if not taken:
                        continue
                    raise ConfigFieldError(("workloads", name, key, taken[0]),
                                           "is set by the data layer (dataStores) from the stores' endpoints; "
                                           f"set workloads.{name}.dataStores false, or dataStores.enabled false "
                                           "and leave dataStores.external unset, to manage it yourself")
        if stores.enabled and self.cluster.kind == "kind":
            namespace = stores.namespace
            if namespace in (self.namespace, self.ingress_namespace, *KUBERNETES_NAMESPACES, *ADDON_NAMESPACES):
                raise ConfigFieldError(("dataStores", "namespace"),
                                       f"'{namespace}' is taken; the stores get a namespace of their own")
        return self

    @model_validator(mode="after")
    def _headroom(self) -> PlatformConfig:
        with_headroom = [name for name, w in self.workload_items() if isinstance(w, BrowserWorkload) and w.headroom]
        if not with_headroom:
            return self
        if self.cluster.kind == "kind":
            raise ConfigFieldError(
                ("workloads", with_headroom[0], "headroom"),
                "needs a node autoscaler to add nodes for the evicted placeholders, and kind has none: on kind the "
                "placeholders would only hold capacity the browser pods already have. Remove it for this stack",
            )
        namespace = headroom_namespace(self.namespace)
        taken = (self.ingress_namespace, self.data_stores.namespace, *KUBERNETES_NAMESPACES, *ADDON_NAMESPACES)
        if len(namespace) > 63 or namespace in taken:
            raise ConfigFieldError(
                ("namespace",),
                f"the headroom placeholders run in '{namespace}' "
                f"({'longer than 63 characters' if len(namespace) > 63 else 'a namespace already taken'}); "
                "choose a shorter or different namespace",
            )
        return self

    @model_validator(mode="wrap")
    @classmethod
    def _pools_hold_workloads(cls, data: Any, handler: ModelWrapValidatorHandler[PlatformConfig]) -> PlatformConfig:
        # Last validator, so it sees a config every other rule has accepted (see stack_config/sizing.py).
        return size_pools(handler(data))

    def workload_items(self) -> list[tuple[str, WorkloadBase]]:
        return list(self.workloads.items())

    def with_role(self, role: Role) -> list[tuple[str, AnyWorkload]]:
        return [(name, spec) for name, spec in self.workloads.items() if spec.role == role]

    def browser_pools(self) -> list[tuple[str, BrowserWorkload]]:
        return [(name, spec) for name, spec in self.workloads.items() if isinstance(spec, BrowserWorkload)]

    def callers(self) -> list[tuple[str, Caller]]:
        return [(name, spec) for name, spec in self.workloads.items() if isinstance(spec, ApiWorkload | WorkerWorkload)]

    def callers_of(self, callee: str) -> list[str]:
        return [name for name, spec in self.callers() if callee in spec.calls]

    def store_clients(self) -> list[tuple[str, Caller]]:
        """The workloads that receive the data stores' settings (`dataStores: true`; every API by default)."""
        return [(name, spec) for name, spec in self.callers() if spec.data_stores]

    def session_scaled(self) -> list[tuple[str, BrowserWorkload]]:
        """Browser pools KEDA scales on sessions (autoscaling.keda.enabled, with autoscaling bounds)."""
        if not self.autoscaling.keda.enabled:
            return []
        return [(name, spec) for name, spec in self.browser_pools() if spec.autoscaling is not None]

    def queue_scaled(self) -> list[tuple[str, WorkerWorkload]]:
        """Workers KEDA scales on their queue."""
        if not self.autoscaling.keda.enabled:
            return []
        return [(name, spec) for name, spec in self.workloads.items()
                if isinstance(spec, WorkerWorkload) and spec.queue is not None and spec.autoscaling is not None]

    def keda_scaled(self) -> frozenset[str]:
        """Workloads whose replicas KEDA owns (they get no HPA of ours)."""
        return frozenset(name for name, _ in [*self.session_scaled(), *self.queue_scaled()])

    @property
    def longest_grace_seconds(self) -> int:
        """The longest termination grace period of any workload (a browser pool's session drain)."""
        return max((spec.termination_grace_seconds for _, spec in self.browser_pools()), default=30)

    def pools_for(self, workload: WorkloadBase) -> list[NodePool]:
        return [pool for pool in self.cluster.node_pools if pool.matches(workload.node_selector)]
