"""The platform services on top of cluster and workloads, wired from the stack config.

`PlatformServices.install` runs before the workloads (control planes, CRDs, webhooks: pods created after the
Istio injector exists get their sidecars) and says how the workloads must be shaped for them (`workload_hooks`);
`attach` runs after the workloads and adds everything that points at them (mesh policies, ServiceMonitors and
alerts, the KEDA ScaledObject). Each layer is a component of its own that takes only what it needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from stack_config.cluster import ExistingClusterConfig
from stack_config.platform import PlatformConfig
from stack_config.workloads import ApiWorkload, WorkerWorkload

from .clusters.handle import ClusterHandle
from .clusters.kind import GATEWAY_NODE_PORTS
from .clusters.storage import built_in_storage_class
from .common.charts import ISTIO_VERSION
from .common.labels import ROLE_LABEL, selector_labels
from .common.metrics_contract import METRICS_PORT_NAME, queue_length, session_demand
from .common.traffic import ExtraIngress
from .common.webhook_ports import installed_services
from .data.wiring import StoreMesh, StoreMonitoring
from .services.alerting import AlertReceivers, ServiceLevelAlerts, ServiceLevelAlertsArgs, SloTargets
from .services.edge import (
    EdgeProtection,
    EdgeProtectionArgs,
    PublicEdge,
    client_ip_preserving_policy,
    cors_policy,
    gateway_pod_annotations,
    websocket_route_name,
    websocket_timeout,
)
from .services.istio_metrics import ENVOY_METRICS_PORT, IstioMetrics, IstioMetricsArgs
from .services.keda import Keda, KedaArgs, QueueScaledTarget, ScaledTarget, SessionScaledTarget
from .services.kiali import Kiali, KialiArgs, KialiEndpoints, KialiTargets
from .services.mesh import (
    GATEWAY_SELECTOR,
    INJECTION_LABELS,
    ISTIO_NAMESPACE,
    GatewayService,
    MeshControlPlane,
    MeshControlPlaneArgs,
    MeshPolicies,
    MeshPoliciesArgs,
    MeshWorkload,
    PublicRoute,
    sidecar_annotations,
    sidecar_pod_cost,
)
from .services.metrics_server import MetricsServer, MetricsServerArgs
from .services.monitoring import (
    DASHBOARD_LABEL,
    GRAFANA_SERVICE,
    MONITORING_NAMESPACE,
    PROMETHEUS_URL,
    RELEASE_NAME,
    MonitoringStack,
    MonitoringStackArgs,
    PlatformMonitors,
    PlatformMonitorsArgs,
)
from .services.priority_classes import ROLE_CLASSES, PriorityClasses
from .services.tls import Tls, TlsArgs
from .services.tracing import (
    GRAFANA_DATASOURCE_UID,
    TEMPO,
    TEMPO_HTTP_PORT,
    TEMPO_URL,
    TRACING_NAMESPACE,
    Tracing,
    TracingArgs,
    component_labels,
    extension_providers,
    grafana_values,
)
from .workloads.group import WorkloadHooks, Workloads

GATEWAY_SERVICE_ANNOTATIONS = {
    # An internet-facing Network Load Balancer instead of the legacy Classic ELB.
    "eks": {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
            "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"},
    "gke": {},
}


def gateway_service(config: PlatformConfig, cluster: ClusterHandle, pod_annotations: dict[str, str]) -> GatewayService:
    """NodePorts mapped to host ports on kind, the provider's load balancer on EKS/GKE, and on an existing cluster
    what `cluster.gatewayService` declares (the program cannot tell whether it has a load-balancer implementation).
    The client's address is kept (`Local`) behind a load balancer; a NodePort the user's own balancer may send to
    any node keeps `Cluster`, like kind's (components/services/edge.py)."""
    declared = config.cluster.gateway_service if isinstance(config.cluster, ExistingClusterConfig) else None
    if declared is not None:
        ports = declared.node_ports
        return GatewayService(node_ports={"http": ports.http, "https": ports.https} if ports else None,
                              annotations=dict(declared.annotations), service_type=declared.type,
                              external_traffic_policy="Local" if declared.type == "LoadBalancer" else "Cluster",
                              pod_annotations=pod_annotations)
    return GatewayService(
        node_ports=dict(GATEWAY_NODE_PORTS) if cluster.flavor == "kind" else None,
        annotations=GATEWAY_SERVICE_ANNOTATIONS.get(cluster.flavor, {}),
        external_traffic_policy=client_ip_preserving_policy(cluster.flavor),
        pod_annotations=pod_annotations,
    )


def cni_paths(config: PlatformConfig) -> dict[str, str]:
    """The declared CNI directories of an existing cluster (the chart's defaults elsewhere, GKE's own aside)."""
    if not isinstance(config.cluster, ExistingClusterConfig):
        return {}
    paths = config.cluster.istio_cni
    return {"cniBinDir": paths.bin_dir, "cniConfDir": paths.conf_dir}


@dataclass
class PlatformServices:
    config: PlatformConfig
    cluster: ClusterHandle
    opts: pulumi.ResourceOptions
    metrics_server: MetricsServer | None = None
    mesh: MeshControlPlane | None = None
    monitoring: MonitoringStack | None = None
    tls: Tls | None = None
    priority_classes: PriorityClasses | None = None
    wait_for: list[pulumi.Resource] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)

    @classmethod
    def install(cls, config: PlatformConfig, cluster: ClusterHandle, secrets: dict[str, str],
                opts: pulumi.ResourceOptions) -> PlatformServices:
        # The PriorityClasses first: a pod naming a class that does not exist yet is rejected, so every release and
        # workload whose pods name one waits for them (`class_dependencies`).
        priority_classes = PriorityClasses("priority-classes", opts=opts)
        services = cls(config=config, cluster=cluster, opts=opts, priority_classes=priority_classes, secrets=secrets)
        classes = services.class_dependencies
        cloud = cluster.flavor != "kind"
        # One decision for what is installed and which webhook ports the cluster layer opens (webhook_ports.py).
        enabled = installed_services(config)
        if "metrics-server" in enabled:
            services.metrics_server = MetricsServer("metrics-server", MetricsServerArgs(flavor=cluster.flavor), opts=opts)
            services.wait_for.append(services.metrics_server)
        ingress = config.ingress
        if "mesh" in enabled:
            gateway = None
            if ingress is not None:
                gateway = gateway_service(config, cluster, pod_annotations=gateway_pod_annotations(ingress.edge))
            services.mesh = MeshControlPlane("mesh", MeshControlPlaneArgs(
                flavor=cluster.flavor,
                settings=config.mesh,
                version=config.mesh.istio_version or ISTIO_VERSION,
                ingress_namespace=config.ingress_namespace,
                gateway=gateway,
                http01_ingress=ingress is not None and ingress.tls.acme_over_http,
                cni_paths=cni_paths(config),
                priority_classes=classes,
                extension_providers=extension_providers() if config.tracing_enabled else [],
            ), opts=opts)
            services.wait_for.append(services.mesh)
        if "monitoring" in enabled:
            services.monitoring = MonitoringStack("monitoring", MonitoringStackArgs(
                settings=config.monitoring,
                grafana_admin_password=secrets[config.monitoring.grafana_admin_password_secret],
                platform_namespace=config.namespace,
                highly_available=cloud,
                storage_class=cluster.storage_class or built_in_storage_class(cluster.flavor),
                priority_classes=classes,
                alert_receivers=AlertReceivers(config.observability.alerting, secrets),
                extra_values=grafana_values() if config.tracing_enabled else {},
                api_services=[name for name, _ in config.with_role("api")],
                browser_services=[name for name, _ in config.browser_pools()],
            ), opts=opts)
        if services.mesh is not None and services.monitoring is not None:
            IstioMetrics("istio-metrics", IstioMetricsArgs(
                istio_namespace=ISTIO_NAMESPACE,
                envoy_namespaces=services.envoy_namespaces(),
                selected_labels={"release": RELEASE_NAME},
                after=[services.monitoring.release, services.mesh.istiod],
            ), opts=opts)
        if "tls" in enabled and ingress is not None and services.mesh is not None:
            assert services.mesh.ingress_namespace is not None and services.mesh.gateway is not None
            services.tls = Tls("tls", TlsArgs(
                tls=ingress.tls,
                host=ingress.host,
                gateway_namespace=config.ingress_namespace,
                highly_available=cloud,
                cluster_name=cluster.name,
                cloud=cluster.cloud,
                after=[services.mesh.ingress_namespace, services.mesh.gateway],
                priority_classes=classes,
            ), opts=opts)
        return services

    @property
    def class_dependencies(self) -> list[pulumi.Resource]:
        """What a resource whose pods name one of the platform's PriorityClasses must wait for. Explicitly on each
        such resource: a component's depends_on does not order the resources created inside it."""
        return [self.priority_classes] if self.priority_classes is not None else []

    def envoy_namespaces(self) -> list[str]:
        """Namespaces whose pods carry an Envoy: the platform's, the ingress gateway's, the in-cluster stores'
        (the data layer runs them in-cluster on kind and existing clusters, managed on EKS and GKE)."""
        config = self.config
        namespaces = [config.namespace]
        if self.mesh is not None and self.mesh.gateway is not None:
            namespaces.append(config.ingress_namespace)
        stores = config.data_stores
        if stores.enabled and stores.external is None and self.cluster.flavor in ("kind", "existing"):
            namespaces.append(stores.namespace)
        return namespaces

    @property
    def keda_enabled(self) -> bool:
        return "keda" in installed_services(self.config)

    @property
    def autoscaled_elsewhere(self) -> frozenset[str]:
        """Workloads whose replicas KEDA owns (browser pools on sessions, workers on queues): no HPA of ours."""
        return self.config.keda_scaled() if self.keda_enabled else frozenset()

    def workload_hooks(self) -> WorkloadHooks:
        """WorkloadsArgs fields that shape the workloads for the installed services."""
        hooks: WorkloadHooks = {"priority_classes": dict(ROLE_CLASSES), "pods_after": self.class_dependencies}
        if self.mesh is not None:
            proxy = self.config.mesh.proxy
            hooks["namespace_labels"] = dict(INJECTION_LABELS)
            hooks["pod_annotations"] = {name: sidecar_annotations(proxy) for name in self.config.workloads}
            hooks["extra_pod_cost"] = sidecar_pod_cost(proxy)
            # istiod: its webhook injects the sidecars; it waits for the CNI agent.
            hooks["pods_after"] = [*self.class_dependencies, self.mesh.istiod]
        if self.monitoring is not None:
            hooks["extra_ingress"] = [
                ExtraIngress(name=f"{component}-metrics-from-monitoring", pod_selector=selector_labels(component),
                             from_namespace=self.monitoring.namespace_name, ports=[spec.ports[METRICS_PORT_NAME]])
                for component, spec in self.config.workload_items()
            ]
            if self.mesh is not None:
                # Every sidecar's Envoy stats (components/services/istio_metrics.py); 15090 is outside inbound
                # capture, so only this NetworkPolicy stands between Prometheus and the scrape.
                hooks["extra_ingress"].append(ExtraIngress(
                    name="envoy-metrics-from-monitoring", pod_selector={},
                    from_namespace=self.monitoring.namespace_name, ports=[ENVOY_METRICS_PORT]))
        return hooks

    def store_monitoring(self) -> StoreMonitoring | None:
        """What the data layer needs to be scraped and alerted on (None without monitoring)."""
        if self.monitoring is None:
            return None
        return StoreMonitoring(namespace=self.monitoring.namespace_name, crd_release=self.monitoring.release,
                               dashboard_labels=dict(DASHBOARD_LABEL), selected_labels={"release": RELEASE_NAME})

    def store_mesh(self) -> StoreMesh | None:
        """What the in-cluster stores need to join the mesh (None without it)."""
        if self.mesh is None:
            return None
        return StoreMesh(injection_labels=dict(INJECTION_LABELS), pod_annotations=sidecar_annotations(self.config.mesh.proxy),
                         injector=[self.mesh.istiod], crd_releases=list(self.mesh.crd_releases))

    def workloads_options(self) -> pulumi.ResourceOptions:
        """The workloads wait for metrics-server and the mesh (the sidecar injector must exist before any pod)."""
        return pulumi.ResourceOptions.merge(self.opts, pulumi.ResourceOptions(depends_on=list(self.wait_for)))

    def attach(self, workloads: Workloads) -> None:
        config = self.config
        if self.mesh is not None:
            public = None
            if config.ingress is not None and self.tls is not None and self.mesh.gateway is not None:
                edge = config.ingress.edge
                # The longest session of the browser pools the public API calls decides the WebSocket timeout.
                public_api, public_spec = next((name, spec) for name, spec in config.callers()
                                               if isinstance(spec, ApiWorkload) and spec.public)
                called = set(public_spec.calls)
                longest_session = max((spec.session_timeout_seconds for name, spec in config.browser_pools()
                                       if name in called), default=0)
                public = PublicRoute(
                    host=config.ingress.host,
                    gateway_namespace=config.ingress_namespace,
                    credential_name=self.tls.secret_name,
                    # ACME HTTP-01 must be answered over plain HTTP on port 80, so no redirect there; DNS-01
                    # (the production stacks) and self-signed keep it.
                    https_redirect=not config.ingress.tls.acme_over_http,
                    gateway_release=self.mesh.gateway,
                    edge=PublicEdge(cors=cors_policy(edge.cors),
                                    websocket_timeout_seconds=websocket_timeout(edge, longest_session)),
                )
                EdgeProtection("edge", EdgeProtectionArgs(
                    settings=edge,
                    gateway_namespace=config.ingress_namespace,
                    gateway_selector=dict(GATEWAY_SELECTOR),
                    websocket_routes=[websocket_route_name(public_api)],
                    after=[*self.mesh.crd_releases, self.mesh.gateway],
                ), opts=self.opts)
            MeshPolicies("mesh-policies", MeshPoliciesArgs(
                settings=config.mesh,
                namespace=config.namespace,
                workloads_in_mesh=[MeshWorkload(
                    name=name, role=spec.role, service_name=workloads.by_name[name].service_name,
                    service_account=name, selector=workloads.by_name[name].selector, ports=dict(spec.ports),
                    calls=list(spec.calls) if isinstance(spec, ApiWorkload | WorkerWorkload) else [],
                    public=isinstance(spec, ApiWorkload) and spec.public,
                ) for name, spec in config.workloads.items()],
                crd_releases=self.mesh.crd_releases,
                workloads=workloads,
                public=public,
                monitoring_namespace=self.monitoring.namespace_name if self.monitoring is not None else None,
            ), opts=self.opts)
        if self.monitoring is not None:
            PlatformMonitors("platform-monitors", PlatformMonitorsArgs(
                namespace=config.namespace,
                components=[name for name, spec in config.workload_items() if spec.SERVES_HTTP],
                pod_components=[name for name, spec in config.workload_items() if not spec.SERVES_HTTP],
                crd_release=self.monitoring.release,
                workloads=workloads,
                browser_grace_seconds=config.longest_grace_seconds,
                api_services=[name for name, _ in config.with_role("api")],
                browser_services=[name for name, _ in config.browser_pools()],
            ), opts=self.opts)
        self._attach_observability(workloads)
        if self.keda_enabled:
            assert self.monitoring is not None  # config validation ensures it
            pools = config.session_scaled()
            targets: list[ScaledTarget] = [SessionScaledTarget(
                component=name, namespace=config.namespace,
                deployment_name=workloads.by_name[name].service_name, deployment=workloads.by_name[name].deployment,
                bounds=spec.autoscaling, sessions_per_pod=spec.sessions_per_pod,
                # Sessions wait in the workloads that call the pool (the API that places them).
                demand=session_demand(config.namespace, name, config.callers_of(name), single_pool=len(pools) == 1),
            ) for name, spec in pools if spec.autoscaling is not None]
            targets.extend(QueueScaledTarget(
                component=name, namespace=config.namespace,
                deployment_name=workloads.by_name[name].service_name, deployment=workloads.by_name[name].deployment,
                bounds=spec.autoscaling, query=queue_length(config.namespace, name, spec.queue.metric),
                per_pod=spec.queue.per_pod,
            ) for name, spec in config.queue_scaled() if spec.autoscaling is not None and spec.queue is not None)
            Keda("keda", KedaArgs(
                settings=config.autoscaling.keda,
                targets=targets,
                prometheus_url=PROMETHEUS_URL,
                after=[self.monitoring.release, *self.wait_for],
                priority_classes=self.class_dependencies,
            ), opts=self.opts)


    def _kiali(self, tracing: Tracing | None) -> None:
        """Kiali on Prometheus (the operator's Service, as KEDA reads it), Tempo when tracing is on, and Grafana."""
        assert self.mesh is not None and self.monitoring is not None
        grafana = f"http://{GRAFANA_SERVICE}.{MONITORING_NAMESPACE}.svc:80"
        Kiali("kiali", KialiArgs(
            endpoints=KialiEndpoints(
                prometheus_url=PROMETHEUS_URL, grafana_url=grafana,
                # What the user's browser opens: Grafana through the documented port-forward (docs/observability.md).
                grafana_link="http://localhost:3000",
                tempo_url=TEMPO_URL if tracing is not None else None,
                tempo_datasource_uid=GRAFANA_DATASOURCE_UID if tracing is not None else None),
            targets=KialiTargets(
                monitoring_namespace=MONITORING_NAMESPACE, istio_namespace=ISTIO_NAMESPACE,
                tracing_namespace=TRACING_NAMESPACE if tracing is not None else None,
                tempo_labels=component_labels(TEMPO), tempo_port=TEMPO_HTTP_PORT),
            grafana_admin_password=self.secrets[self.config.monitoring.grafana_admin_password_secret],
            internal_cidrs=list(self.config.network.internal_cidrs),
            highly_available=self.cluster.flavor != "kind",
            after=[*self.mesh.crd_releases, self.monitoring.release, *([tracing] if tracing else []),
                   *self.class_dependencies],
        ), opts=self.opts)

    def _attach_observability(self, workloads: Workloads) -> None:
        """Tracing (collector, Tempo, the mesh-wide Telemetry) and the SLO alerts, about the given services."""
        config = self.config
        cloud = self.cluster.flavor != "kind"
        tracing: Tracing | None = None
        if config.tracing_enabled and self.mesh is not None and self.monitoring is not None:
            exporting = [config.namespace] + ([config.ingress_namespace] if self.mesh.gateway is not None else [])
            tracing = Tracing("tracing", TracingArgs(
                settings=config.observability.tracing,
                storage_class=self.cluster.storage_class or built_in_storage_class(self.cluster.flavor),
                exporting_namespaces=exporting,
                reader_namespace=MONITORING_NAMESPACE,
                platform_namespace=config.namespace,
                mesh_releases=self.mesh.crd_releases,
                highly_available=cloud,
                after=[workloads],
                silent_pods={ROLE_LABEL: "browser"} if config.browser_pools() else {},
            ), opts=self.opts)
        if config.kiali_enabled and self.mesh is not None and self.monitoring is not None:
            self._kiali(tracing)
        if self.monitoring is not None and config.observability.slos.enabled:
            service = {name: workload.service_name for name, workload in workloads.by_name.items()}
            ServiceLevelAlerts("service-levels", ServiceLevelAlertsArgs(
                targets=SloTargets(namespace=config.namespace,
                                   api_services=[service[name] for name, _ in config.with_role("api")],
                                   browser_services=[service[name] for name, _ in config.browser_pools()]),
                slos=config.observability.slos,
                crd_release=self.monitoring.release,
                labels={"app.kubernetes.io/part-of": "browser-platform", "app.kubernetes.io/managed-by": "pulumi",
                        "release": RELEASE_NAME},
                dashboard_namespace=MONITORING_NAMESPACE,
            ), opts=self.opts)
