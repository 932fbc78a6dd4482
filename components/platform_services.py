"""The platform services on top of cluster and workloads, wired from the stack config.

`PlatformServices.install` runs before the workloads (control planes, CRDs, webhooks: pods created after the
Istio injector exists get their sidecars) and says how the workloads must be shaped for them (`workload_hooks`);
`attach` runs after the workloads and adds everything that points at them (mesh policies, ServiceMonitors and
alerts, the KEDA ScaledObject). Each layer is a component of its own that takes only what it needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from stack_config.platform import PlatformConfig

from .clusters.handle import ClusterHandle
from .clusters.kind import GATEWAY_NODE_PORTS
from .clusters.storage import built_in_storage_class
from .common.charts import ISTIO_VERSION
from .common.labels import selector_labels
from .common.metrics_contract import METRICS_PORT_NAME
from .common.traffic import ExtraIngress
from .common.webhook_ports import installed_services
from .services.alerting import AlertReceivers, ServiceLevelAlerts, ServiceLevelAlertsArgs, SloTargets
from .services.keda import Keda, KedaArgs, SessionScaledTarget
from .services.mesh import (
    INJECTION_LABELS,
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
    MONITORING_NAMESPACE,
    PROMETHEUS_URL,
    RELEASE_NAME,
    MonitoringStack,
    MonitoringStackArgs,
    PlatformMonitors,
    PlatformMonitorsArgs,
)
from .services.tls import Tls, TlsArgs
from .services.tracing import Tracing, TracingArgs, extension_providers, grafana_values
from .workloads.group import WorkloadHooks, Workloads

GATEWAY_SERVICE_ANNOTATIONS = {
    # An internet-facing Network Load Balancer instead of the legacy Classic ELB.
    "eks": {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
            "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"},
    "gke": {},
}


@dataclass
class PlatformServices:
    config: PlatformConfig
    cluster: ClusterHandle
    opts: pulumi.ResourceOptions
    metrics_server: MetricsServer | None = None
    mesh: MeshControlPlane | None = None
    monitoring: MonitoringStack | None = None
    tls: Tls | None = None
    wait_for: list[pulumi.Resource] = field(default_factory=list)

    @classmethod
    def install(cls, config: PlatformConfig, cluster: ClusterHandle, secrets: dict[str, str],
                opts: pulumi.ResourceOptions) -> PlatformServices:
        services = cls(config=config, cluster=cluster, opts=opts)
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
                gateway = GatewayService(
                    node_ports=dict(GATEWAY_NODE_PORTS) if cluster.flavor == "kind" else None,
                    annotations=GATEWAY_SERVICE_ANNOTATIONS.get(cluster.flavor, {}),
                )
            services.mesh = MeshControlPlane("mesh", MeshControlPlaneArgs(
                flavor=cluster.flavor,
                settings=config.mesh,
                version=config.mesh.istio_version or ISTIO_VERSION,
                ingress_namespace=config.ingress_namespace,
                gateway=gateway,
                http01_ingress=ingress is not None and ingress.tls.acme_over_http,
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
                alert_receivers=AlertReceivers(config.observability.alerting, secrets),
                extra_values=grafana_values() if config.tracing_enabled else {},
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
            ), opts=opts)
        return services

    @property
    def keda_enabled(self) -> bool:
        return "keda" in installed_services(self.config)

    @property
    def autoscaled_elsewhere(self) -> frozenset[str]:
        """Components whose replicas KEDA owns, so they get no HPA of ours."""
        return frozenset({"browser"}) if self.keda_enabled else frozenset()

    def workload_hooks(self) -> WorkloadHooks:
        """WorkloadsArgs fields that shape the workloads for the installed services."""
        hooks: WorkloadHooks = {}
        if self.mesh is not None:
            proxy = self.config.mesh.proxy
            hooks["namespace_labels"] = dict(INJECTION_LABELS)
            hooks["pod_annotations"] = {"api": sidecar_annotations(proxy), "browser": sidecar_annotations(proxy)}
            hooks["extra_pod_cost"] = sidecar_pod_cost(proxy)
            hooks["pods_after"] = [self.mesh.istiod]  # its webhook injects the sidecars; it waits for the CNI agent
        if self.monitoring is not None:
            hooks["extra_ingress"] = [
                ExtraIngress(name=f"{component}-metrics-from-monitoring", pod_selector=selector_labels(component),
                             from_namespace=self.monitoring.namespace_name, ports=[spec.ports[METRICS_PORT_NAME]])
                for component, spec in self.config.workload_items()
            ]
        return hooks

    def workloads_options(self) -> pulumi.ResourceOptions:
        """The workloads wait for metrics-server and the mesh (the sidecar injector must exist before any pod)."""
        return pulumi.ResourceOptions.merge(self.opts, pulumi.ResourceOptions(depends_on=list(self.wait_for)))

    def attach(self, workloads: Workloads) -> None:
        config = self.config
        api, browser = config.workloads.api, config.workloads.browser
        if self.mesh is not None:
            public = None
            if config.ingress is not None and self.tls is not None and self.mesh.gateway is not None:
                public = PublicRoute(
                    host=config.ingress.host,
                    gateway_namespace=config.ingress_namespace,
                    credential_name=self.tls.secret_name,
                    # ACME HTTP-01 must be answered over plain HTTP on port 80, so no redirect there; DNS-01
                    # (the production stacks) and self-signed keep it.
                    https_redirect=not config.ingress.tls.acme_over_http,
                    gateway_release=self.mesh.gateway,
                )
            MeshPolicies("mesh-policies", MeshPoliciesArgs(
                settings=config.mesh,
                namespace=config.namespace,
                api=MeshWorkload(service_name=workloads.api.service_name, service_account="api",
                                 selector=workloads.api.selector, ports=dict(api.ports)),
                browser=MeshWorkload(service_name=workloads.browser.service_name, service_account="browser",
                                     selector=workloads.browser.selector, ports=dict(browser.ports)),
                crd_releases=self.mesh.crd_releases,
                workloads=workloads,
                public=public,
                monitoring_namespace=self.monitoring.namespace_name if self.monitoring is not None else None,
            ), opts=self.opts)
        if self.monitoring is not None:
            PlatformMonitors("platform-monitors", PlatformMonitorsArgs(
                namespace=config.namespace,
                components=[name for name, _ in config.workload_items()],
                crd_release=self.monitoring.release,
                workloads=workloads,
                browser_grace_seconds=browser.termination_grace_seconds,
            ), opts=self.opts)
        self._attach_observability(workloads)
        if self.keda_enabled:
            assert browser.autoscaling is not None and self.monitoring is not None  # config validation ensures both
            Keda("keda", KedaArgs(
                settings=config.autoscaling.keda,
                target=SessionScaledTarget(
                    component="browser", namespace=config.namespace,
                    deployment_name=workloads.browser.service_name, deployment=workloads.browser.deployment,
                    bounds=browser.autoscaling, sessions_per_pod=browser.sessions_per_pod,
                ),
                prometheus_url=PROMETHEUS_URL,
                after=[self.monitoring.release, *self.wait_for],
            ), opts=self.opts)


    def _attach_observability(self, workloads: Workloads) -> None:
        """Tracing (collector, Tempo, the mesh-wide Telemetry) and the SLO alerts, about the given services."""
        config = self.config
        cloud = self.cluster.flavor != "kind"
        if config.tracing_enabled and self.mesh is not None and self.monitoring is not None:
            exporting = [config.namespace] + ([config.ingress_namespace] if self.mesh.gateway is not None else [])
            Tracing("tracing", TracingArgs(
                settings=config.observability.tracing,
                storage_class=self.cluster.storage_class or built_in_storage_class(self.cluster.flavor),
                exporting_namespaces=exporting,
                reader_namespace=MONITORING_NAMESPACE,
                platform_namespace=config.namespace,
                mesh_releases=self.mesh.crd_releases,
                highly_available=cloud,
                after=[workloads],
            ), opts=self.opts)
        if self.monitoring is not None and config.observability.slos.enabled:
            ServiceLevelAlerts("service-levels", ServiceLevelAlertsArgs(
                targets=SloTargets(namespace=config.namespace, api_services=[workloads.api.service_name],
                                   browser_services=[workloads.browser.service_name]),
                slos=config.observability.slos,
                crd_release=self.monitoring.release,
                labels={"app.kubernetes.io/part-of": "browser-platform", "app.kubernetes.io/managed-by": "pulumi",
                        "release": RELEASE_NAME},
                dashboard_namespace=MONITORING_NAMESPACE,
            ), opts=self.opts)
