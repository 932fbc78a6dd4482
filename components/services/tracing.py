"""Distributed tracing: Istio's proxies -> an OpenTelemetry Collector -> Grafana Tempo, read in Grafana.

Why Tempo rather than Jaeger: Tempo has no UI of its own, so traces are read where the platform's dashboards
already are, in Grafana behind its admin login and a port-forward (Jaeger's query UI has no authentication and
would be one more service to keep private); its retention is one time bound on a volume (compactor
`block_retention`). Neither an OpenTelemetry Collector, a
Tempo nor a Jaeger chart is pinned in ../shared/charts, so both run as plain Kubernetes objects here: images
pinned by digest, non-root, read-only root filesystem, no capabilities, no service-account token, requests and
limits from capacity/platform_services.py (layer "tracing").

The path of a span, and what lets it through:
- every Envoy of the mesh (sidecars in the platform namespace, the ingress gateway) samples requests as the
  mesh-wide `Telemetry` in istio-system says (`randomSamplingPercentage` from config) and exports OTLP/gRPC to
  the provider `otel-tracing` that istiod's `meshConfig.extensionProviders` defines (components/services/mesh.py);
- the collector's namespace has no sidecars, so the proxies send plaintext gRPC (Istio's auto-mTLS only
  upgrades to mTLS toward pods with a sidecar; the platform namespace's STRICT PeerAuthentication is about
  inbound traffic); NetworkPolicies admit port 4317 from the namespaces whose proxies export, and the platform
  namespace's default-deny egress gets a rule toward the collector;
- the collector batches (memory-limited) and exports OTLP/gRPC to Tempo; Tempo admits only the collector on
  4317 and Grafana (monitoring namespace) on its query port 3200.
Turning tracing off removes every object here, the provider from istiod's values and the Grafana data source
(the chart's datasource provisioning runs with `prune`, so Grafana drops it too).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import yaml
from pulumi_kubernetes.apps.v1 import (
    DeploymentSpecArgs,
    DeploymentStrategyArgs,
    RollingUpdateDeploymentArgs,
    StatefulSetPersistentVolumeClaimRetentionPolicyArgs,
    StatefulSetSpecArgs,
)
from pulumi_kubernetes.core.v1 import (
    CapabilitiesArgs,
    ConfigMapVolumeSourceArgs,
    ContainerArgs,
    ContainerPortArgs,
    EmptyDirVolumeSourceArgs,
    HTTPGetActionArgs,
    PersistentVolumeClaimSpecArgs,
    PodSecurityContextArgs,
    PodSpecArgs,
    PodTemplateSpecArgs,
    ProbeArgs,
    ResourceRequirementsArgs,
    SeccompProfileArgs,
    SecurityContextArgs,
    ServicePortArgs,
    ServiceSpecArgs,
    TopologySpreadConstraintArgs,
    VolumeArgs,
    VolumeMountArgs,
    VolumeResourceRequirementsArgs,
)
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, LabelSelectorRequirementArgs, ObjectMetaArgs
from pulumi_kubernetes.networking.v1 import (
    NetworkPolicyEgressRuleArgs,
    NetworkPolicyIngressRuleArgs,
    NetworkPolicyPeerArgs,
    NetworkPolicyPortArgs,
    NetworkPolicySpecArgs,
)
from pulumi_kubernetes.policy.v1 import PodDisruptionBudgetSpecArgs

from capacity import platform_services as sizes
from stack_config.observability import TracingSettings

from ..clusters.handle import StorageClassRef
from ..common import charts
from ..common.labels import PART_OF

TRACING_NAMESPACE = "tracing"
PROVIDER_NAME = "otel-tracing"
"""The extension provider istiod defines and the mesh-wide Telemetry references."""
COLLECTOR = "otel-collector"
TEMPO = "tempo"
OTLP_GRPC_PORT = 4317
TEMPO_HTTP_PORT = 3200
COLLECTOR_HEALTH_PORT = 13133
COLLECTOR_METRICS_PORT = 8888
COLLECTOR_HOST = f"{COLLECTOR}.{TRACING_NAMESPACE}.svc.cluster.local"
TEMPO_URL = f"http://{TEMPO}.{TRACING_NAMESPACE}.svc.cluster.local:{TEMPO_HTTP_PORT}"
TELEMETRY_NAME = "mesh-tracing"
GRAFANA_DATASOURCE_UID = "tempo"

COLLECTOR_IMAGE = ("docker.io/otel/opentelemetry-collector-contrib:0.137.0"
                   "@sha256:886722fe0f37af9d1fe24d29529253ec59fbf263b3b1df4facaf221373e19d23")
"""The contrib distribution (its memory_limiter, batch and OTLP components are also in core; contrib keeps the
door open for tail sampling). Tag and digest as published on Docker Hub; the digest was taken from public
manifests that pin it and could not be pulled from here: `crane digest` it when bumping."""
TEMPO_IMAGE = "docker.io/grafana/tempo:2.8.2@sha256:0ef775495967cd5d7a6b2e146b6ea695d624803c8db8349fb8ce4164f719f9b7"
"""Tempo 2.8.2 (runs as 10001). Digest as above."""
TEMPO_UID = 10001
COLLECTOR_UID = 10001


def extension_providers() -> list[dict[str, object]]:
    """istiod's `meshConfig.extensionProviders` entry the Telemetry resource names."""
    return [{"name": PROVIDER_NAME, "opentelemetry": {"service": COLLECTOR_HOST, "port": OTLP_GRPC_PORT}}]


def telemetry_spec(settings: TracingSettings) -> dict[str, object]:
    """The mesh-wide Telemetry (root namespace, no selector): every proxy samples and exports to the provider."""
    return {"tracing": [{"providers": [{"name": PROVIDER_NAME}],
                         "randomSamplingPercentage": settings.sampling_percent}]}


def grafana_values() -> dict[str, object]:
    """kube-prometheus-stack values: Tempo as a Grafana data source."""
    return {"grafana": {"additionalDataSources": [{
        "name": "Tempo", "uid": GRAFANA_DATASOURCE_UID, "type": "tempo", "access": "proxy", "url": TEMPO_URL,
        "editable": False,
        # The node graph is drawn from each trace's spans; a service map would need Tempo's metrics-generator.
        "jsonData": {"nodeGraph": {"enabled": True}},
    }]}}


def collector_config() -> dict[str, object]:
    return {
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"0.0.0.0:{OTLP_GRPC_PORT}"}}}},
        "processors": {
            # Refuses data before the container reaches its memory limit (the limit is the pod's, from cgroups).
            "memory_limiter": {"check_interval": "1s", "limit_percentage": 80, "spike_limit_percentage": 20},
            "batch": {"send_batch_size": 1024, "timeout": "5s"},
        },
        "exporters": {"otlp": {
            "endpoint": f"{TEMPO}.{TRACING_NAMESPACE}.svc.cluster.local:{OTLP_GRPC_PORT}",
            "tls": {"insecure": True},  # in-cluster, admitted only from the collector by NetworkPolicy
            "sending_queue": {"enabled": True, "queue_size": 1000},
            "retry_on_failure": {"enabled": True, "max_elapsed_time": "300s"},
        }},
        "extensions": {"health_check": {"endpoint": f"0.0.0.0:{COLLECTOR_HEALTH_PORT}"}},
        "service": {
            "extensions": ["health_check"],
            "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["memory_limiter", "batch"],
                                     "exporters": ["otlp"]}},
            "telemetry": {"metrics": {"level": "basic", "readers": [{"pull": {"exporter": {"prometheus": {
                "host": "0.0.0.0", "port": COLLECTOR_METRICS_PORT}}}}]}},
        },
    }


def tempo_config(settings: TracingSettings) -> dict[str, object]:
    """Monolithic Tempo on one volume: WAL and blocks under /var/tempo, blocks deleted after `retention`."""
    return {
        "stream_over_http_enabled": True,
        "server": {"http_listen_port": TEMPO_HTTP_PORT, "log_level": "info"},
        "distributor": {"receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"0.0.0.0:{OTLP_GRPC_PORT}"}}}}},
        "ingester": {"max_block_duration": "5m"},
        "compactor": {"compaction": {"block_retention": settings.retention}},
        "storage": {"trace": {"backend": "local", "wal": {"path": "/var/tempo/wal"},
                              "local": {"path": "/var/tempo/blocks"}}},
        "usage_report": {"reporting_enabled": False},
    }


def _security(uid: int) -> tuple[PodSecurityContextArgs, SecurityContextArgs]:
    pod = PodSecurityContextArgs(run_as_non_root=True, run_as_user=uid, run_as_group=uid, fs_group=uid,
                                 seccomp_profile=SeccompProfileArgs(type="RuntimeDefault"))
    container = SecurityContextArgs(allow_privilege_escalation=False, read_only_root_filesystem=True,
                                    run_as_non_root=True, capabilities=CapabilitiesArgs(drop=["ALL"]))
    return pod, container


def _resources(requests: sizes.Requests, ephemeral: tuple[str, str]) -> ResourceRequirementsArgs:
    """The capacity model's requests and limits, plus ephemeral storage (bounded: a disk emptyDir or logs)."""
    values = requests.resource_values()
    return ResourceRequirementsArgs(requests={**values["requests"], "ephemeral-storage": ephemeral[0]},
                                    limits={**values["limits"], "ephemeral-storage": ephemeral[1]})


def _probe(path: str, port: str, *, period: int, failures: int) -> ProbeArgs:
    return ProbeArgs(http_get=HTTPGetActionArgs(path=path, port=port), period_seconds=period,
                     failure_threshold=failures, timeout_seconds=3)


def _spread(selector: dict[str, str]) -> list[TopologySpreadConstraintArgs]:
    # A preference (ScheduleAnyway), so a one-node pool still schedules both collectors.
    return [TopologySpreadConstraintArgs(max_skew=1, topology_key=key, when_unsatisfiable="ScheduleAnyway",
                                         label_selector=LabelSelectorArgs(match_labels=selector))
            for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")]


def _tcp(*ports: int) -> list[NetworkPolicyPortArgs]:
    return [NetworkPolicyPortArgs(protocol="TCP", port=port) for port in ports]


def _in_namespace(namespace: str, pod_labels: dict[str, str] | None = None) -> NetworkPolicyPeerArgs:
    return NetworkPolicyPeerArgs(
        namespace_selector=LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": namespace}),
        pod_selector=LabelSelectorArgs(match_labels=pod_labels) if pod_labels else None,
    )


def component_labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": component, "app.kubernetes.io/part-of": PART_OF}


@dataclass(frozen=True)
class TracingArgs:
    settings: TracingSettings
    storage_class: StorageClassRef
    exporting_namespaces: list[str]
    """Namespaces whose Envoy proxies export spans (the platform's, the ingress gateway's)."""
    reader_namespace: str
    """Where Grafana runs (the only reader of Tempo's query API)."""
    platform_namespace: str
    """Has a default-deny egress policy: gets the rule toward the collector."""
    mesh_releases: list[pulumi.Resource]
    """istio-base (Telemetry CRD) and istiod (its webhook validates the Telemetry; it defines the provider)."""
    highly_available: bool
    after: list[pulumi.Resource]
    """What the platform-namespace policy waits for (the namespace)."""
    silent_pods: dict[str, str] = field(default_factory=dict)
    """Labels of the platform namespace's pods that report no spans and may not reach the collector (the browser
    pools: they run untrusted pages and may reach only the internet, DNS and istiod; policy
    browser-egress-internet-only). Empty: every pod exports."""


class Tracing(pulumi.ComponentResource):
    def __init__(self, name: str, args: TracingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:addons:Tracing", name, None, opts)
        ns = TRACING_NAMESPACE
        labels = {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": "pulumi"}
        namespace = charts.system_namespace(f"{name}-namespace", ns, pod_security="restricted", parent=self)
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        collector_labels, tempo_labels = component_labels(COLLECTOR), component_labels(TEMPO)

        self._network_policies(name, args, labels, collector_labels, tempo_labels, in_ns)
        self._collector(name, args, labels, collector_labels, in_ns)
        self._tempo(name, args, labels, tempo_labels, in_ns)
        k8s.apiextensions.CustomResource(
            f"{name}-telemetry",
            api_version="telemetry.istio.io/v1", kind="Telemetry",
            metadata=ObjectMetaArgs(name=TELEMETRY_NAME, namespace="istio-system", labels=labels),
            spec=telemetry_spec(args.settings),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.mesh_releases)),
        )
        self._silence(name, args, labels)
        self.register_outputs({"collector": COLLECTOR_HOST, "tempo": TEMPO_URL})

    def _silence(self, name: str, args: TracingArgs, labels: dict[str, str]) -> None:
        """A workload-level Telemetry that keeps the silent pods' proxies from reporting spans: their NetworkPolicy
        does not let them reach the collector, and a proxy that tried would only log export failures. Traces still
        show the calls into those pods, from the caller's side."""
        if not args.silent_pods:
            return
        k8s.apiextensions.CustomResource(
            f"{name}-silent-telemetry",
            api_version="telemetry.istio.io/v1", kind="Telemetry",
            metadata=ObjectMetaArgs(name="no-span-reporting", namespace=args.platform_namespace, labels=labels),
            spec={"selector": {"matchLabels": dict(args.silent_pods)},
                  # No provider named: the override applies to the one the mesh-wide Telemetry selects.
                  "tracing": [{"disableSpanReporting": True}]},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.mesh_releases, *args.after]),
        )

    def _network_policies(self, name: str, args: TracingArgs, labels: dict[str, str], collector: dict[str, str],
                          tempo: dict[str, str], opts: pulumi.ResourceOptions) -> None:
        def policy(policy_name: str, spec: NetworkPolicySpecArgs, namespace: str = TRACING_NAMESPACE,
                   options: pulumi.ResourceOptions = opts) -> None:
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{namespace}-{policy_name}",
                metadata=ObjectMetaArgs(name=policy_name, namespace=namespace, labels=labels),
                spec=spec, opts=options,
            )

        dns = NetworkPolicyEgressRuleArgs(
            to=[_in_namespace("kube-system", {"k8s-app": "kube-dns"})],
            ports=[NetworkPolicyPortArgs(protocol="UDP", port=53), NetworkPolicyPortArgs(protocol="TCP", port=53)],
        )
        policy("default-deny-all", NetworkPolicySpecArgs(pod_selector=LabelSelectorArgs(),
                                                         policy_types=["Ingress", "Egress"]))
        policy("collector", NetworkPolicySpecArgs(
            pod_selector=LabelSelectorArgs(match_labels=collector),
            policy_types=["Ingress", "Egress"],
            ingress=[
                NetworkPolicyIngressRuleArgs(from_=[_in_namespace(n) for n in args.exporting_namespaces],
                                             ports=_tcp(OTLP_GRPC_PORT)),
                NetworkPolicyIngressRuleArgs(from_=[_in_namespace(args.reader_namespace)],
                                             ports=_tcp(COLLECTOR_METRICS_PORT)),
            ],
            egress=[dns, NetworkPolicyEgressRuleArgs(to=[NetworkPolicyPeerArgs(
                pod_selector=LabelSelectorArgs(match_labels=tempo))], ports=_tcp(OTLP_GRPC_PORT))],
        ))
        policy("tempo", NetworkPolicySpecArgs(
            pod_selector=LabelSelectorArgs(match_labels=tempo),
            policy_types=["Ingress", "Egress"],
            ingress=[
                NetworkPolicyIngressRuleArgs(from_=[NetworkPolicyPeerArgs(
                    pod_selector=LabelSelectorArgs(match_labels=collector))], ports=_tcp(OTLP_GRPC_PORT)),
                NetworkPolicyIngressRuleArgs(from_=[_in_namespace(args.reader_namespace)],
                                             ports=_tcp(TEMPO_HTTP_PORT)),
            ],
            egress=[dns],
        ))
        # The platform namespace denies all egress by default; its proxies must reach the collector, except the
        # silent pods' (their sidecars report no spans: `_silence`).
        policy("allow-trace-export", NetworkPolicySpecArgs(
            pod_selector=LabelSelectorArgs(match_expressions=[
                LabelSelectorRequirementArgs(key=key, operator="NotIn", values=[value])
                for key, value in args.silent_pods.items()] or None),
            policy_types=["Egress"],
            egress=[NetworkPolicyEgressRuleArgs(to=[_in_namespace(TRACING_NAMESPACE, collector)],
                                                ports=_tcp(OTLP_GRPC_PORT))],
        ), namespace=args.platform_namespace, options=pulumi.ResourceOptions(parent=self, depends_on=args.after))

    def _collector(self, name: str, args: TracingArgs, labels: dict[str, str], selector: dict[str, str],
                   opts: pulumi.ResourceOptions) -> None:
        ns = TRACING_NAMESPACE
        replicas = sizes.otel_collector_replicas(args.highly_available)
        config = k8s.core.v1.ConfigMap(
            f"{name}-collector-config",
            metadata=ObjectMetaArgs(name=f"{COLLECTOR}-config", namespace=ns, labels=labels),
            data={"config.yaml": yaml.safe_dump(collector_config(), sort_keys=True)},
            opts=opts,
        )
        account = k8s.core.v1.ServiceAccount(
            f"{name}-collector-sa", metadata=ObjectMetaArgs(name=COLLECTOR, namespace=ns, labels=labels),
            automount_service_account_token=False, opts=opts,
        )
        pod_security, container_security = _security(COLLECTOR_UID)
        k8s.apps.v1.Deployment(
            f"{name}-collector",
            metadata=ObjectMetaArgs(name=COLLECTOR, namespace=ns, labels={**labels, **selector}),
            spec=DeploymentSpecArgs(
                replicas=replicas.max,
                selector=LabelSelectorArgs(match_labels=selector),
                strategy=DeploymentStrategyArgs(type="RollingUpdate", rolling_update=RollingUpdateDeploymentArgs(
                    max_unavailable=0, max_surge=1)),
                template=PodTemplateSpecArgs(
                    # The checksum rolls the pods when the config changes (the collector reads it once).
                    metadata=ObjectMetaArgs(labels={**labels, **selector}, annotations={
                        "checksum/config": _checksum(collector_config())}),
                    spec=PodSpecArgs(
                        service_account_name=COLLECTOR,
                        automount_service_account_token=False,
                        security_context=pod_security,
                        topology_spread_constraints=_spread(selector),
                        containers=[ContainerArgs(
                            name="collector", image=COLLECTOR_IMAGE, image_pull_policy="IfNotPresent",
                            args=["--config=/etc/otelcol/config.yaml"],
                            ports=[ContainerPortArgs(name="otlp-grpc", container_port=OTLP_GRPC_PORT),
                                   ContainerPortArgs(name="metrics", container_port=COLLECTOR_METRICS_PORT),
                                   ContainerPortArgs(name="health", container_port=COLLECTOR_HEALTH_PORT)],
                            resources=_resources(sizes.OTEL_COLLECTOR, ("64Mi", "256Mi")),
                            security_context=container_security,
                            startup_probe=_probe("/", "health", period=2, failures=30),
                            readiness_probe=_probe("/", "health", period=5, failures=2),
                            liveness_probe=_probe("/", "health", period=10, failures=3),
                            volume_mounts=[VolumeMountArgs(name="config", mount_path="/etc/otelcol", read_only=True)],
                        )],
                        volumes=[VolumeArgs(name="config", config_map=ConfigMapVolumeSourceArgs(
                            name=f"{COLLECTOR}-config"))],
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[config, account]),
        )
        k8s.core.v1.Service(
            f"{name}-collector-service",
            metadata=ObjectMetaArgs(name=COLLECTOR, namespace=ns, labels={**labels, **selector}),
            spec=ServiceSpecArgs(type="ClusterIP", selector=selector, ports=[
                # appProtocol grpc: the proxies' exporter speaks HTTP/2; Istio needs no sniffing for it.
                ServicePortArgs(name="grpc-otlp", port=OTLP_GRPC_PORT, target_port="otlp-grpc", protocol="TCP",
                                app_protocol="grpc"),
                ServicePortArgs(name="metrics", port=COLLECTOR_METRICS_PORT, target_port="metrics", protocol="TCP"),
            ]),
            opts=opts,
        )
        if replicas.min > 1:
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-collector-pdb",
                metadata=ObjectMetaArgs(name=COLLECTOR, namespace=ns, labels=labels),
                spec=PodDisruptionBudgetSpecArgs(max_unavailable=1, selector=LabelSelectorArgs(match_labels=selector),
                                                 unhealthy_pod_eviction_policy="AlwaysAllow"),
                opts=opts,
            )

    def _tempo(self, name: str, args: TracingArgs, labels: dict[str, str], selector: dict[str, str],
               opts: pulumi.ResourceOptions) -> None:
        ns = TRACING_NAMESPACE
        config_data = tempo_config(args.settings)
        config = k8s.core.v1.ConfigMap(
            f"{name}-tempo-config",
            metadata=ObjectMetaArgs(name=f"{TEMPO}-config", namespace=ns, labels=labels),
            data={"tempo.yaml": yaml.safe_dump(config_data, sort_keys=True)},
            opts=opts,
        )
        account = k8s.core.v1.ServiceAccount(
            f"{name}-tempo-sa", metadata=ObjectMetaArgs(name=TEMPO, namespace=ns, labels=labels),
            automount_service_account_token=False, opts=opts,
        )
        service = k8s.core.v1.Service(
            f"{name}-tempo-service",
            metadata=ObjectMetaArgs(name=TEMPO, namespace=ns, labels={**labels, **selector}),
            spec=ServiceSpecArgs(type="ClusterIP", selector=selector, ports=[
                ServicePortArgs(name="http", port=TEMPO_HTTP_PORT, target_port="http", protocol="TCP"),
                ServicePortArgs(name="grpc-otlp", port=OTLP_GRPC_PORT, target_port="otlp-grpc", protocol="TCP",
                                app_protocol="grpc"),
            ]),
            opts=opts,
        )
        pod_security, container_security = _security(TEMPO_UID)
        k8s.apps.v1.StatefulSet(
            f"{name}-tempo",
            metadata=ObjectMetaArgs(name=TEMPO, namespace=ns, labels={**labels, **selector}),
            spec=StatefulSetSpecArgs(
                # One monolithic Tempo: its local-disk blocks cannot be shared, so a second pod would hold
                # different traces. Spans buffered in the collector's queue survive its restart.
                replicas=sizes.TEMPO_REPLICAS.max,
                service_name=TEMPO,
                # Turning tracing off deletes the StatefulSet and the namespace; the volume goes with them.
                persistent_volume_claim_retention_policy=StatefulSetPersistentVolumeClaimRetentionPolicyArgs(
                    when_deleted="Delete", when_scaled="Retain"),
                selector=LabelSelectorArgs(match_labels=selector),
                template=PodTemplateSpecArgs(
                    metadata=ObjectMetaArgs(labels={**labels, **selector},
                                            annotations={"checksum/config": _checksum(config_data)}),
                    spec=PodSpecArgs(
                        service_account_name=TEMPO,
                        automount_service_account_token=False,
                        security_context=pod_security,
                        containers=[ContainerArgs(
                            name="tempo", image=TEMPO_IMAGE, image_pull_policy="IfNotPresent",
                            args=["-config.file=/etc/tempo/tempo.yaml", "-target=all"],
                            ports=[ContainerPortArgs(name="http", container_port=TEMPO_HTTP_PORT),
                                   ContainerPortArgs(name="otlp-grpc", container_port=OTLP_GRPC_PORT)],
                            resources=_resources(sizes.TEMPO, ("256Mi", "512Mi")),
                            security_context=container_security,
                            # /ready turns true once the ingester has joined its ring (WAL replay first).
                            startup_probe=_probe("/ready", "http", period=5, failures=60),
                            readiness_probe=_probe("/ready", "http", period=10, failures=3),
                            liveness_probe=_probe("/ready", "http", period=30, failures=5),
                            volume_mounts=[
                                VolumeMountArgs(name="config", mount_path="/etc/tempo", read_only=True),
                                VolumeMountArgs(name="data", mount_path="/var/tempo"),
                                VolumeMountArgs(name="tmp", mount_path="/tmp"),
                            ],
                        )],
                        volumes=[
                            VolumeArgs(name="config", config_map=ConfigMapVolumeSourceArgs(name=f"{TEMPO}-config")),
                            VolumeArgs(name="tmp", empty_dir=EmptyDirVolumeSourceArgs(size_limit="256Mi")),
                        ],
                    ),
                ),
                volume_claim_templates=[k8s.core.v1.PersistentVolumeClaimArgs(
                    metadata=ObjectMetaArgs(name="data", labels=labels),
                    spec=PersistentVolumeClaimSpecArgs(
                        access_modes=["ReadWriteOnce"],
                        storage_class_name=args.storage_class.name,
                        resources=VolumeResourceRequirementsArgs(requests={"storage": args.settings.storage_size}),
                    ),
                )],
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[config, account, service,
                                                                  *args.storage_class.depends_on]),
        )


def _checksum(data: dict[str, object]) -> str:
    return hashlib.sha256(yaml.safe_dump(data, sort_keys=True).encode()).hexdigest()
