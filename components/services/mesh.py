"""Istio: mTLS between every pod, zero-trust authorization, session-affine API routing, and the ingress gateway.

Two components, because the workloads sit between them:
- `MeshControlPlane` (before the workloads): charts base -> cni -> istiod -> gateway. The injection webhook must
  exist before the first pod is created, or the pods start without sidecars. With the Istio CNI node agent the
  injected pods need no NET_ADMIN init container, so the platform namespace keeps Pod Security `restricted`.
- `MeshPolicies` (after the workloads): PeerAuthentication, AuthorizationPolicies, DestinationRules,
  VirtualServices and the public Gateway, all created after the releases that install their CRDs.

Prometheus scraping under STRICT mTLS: the `metrics` port of each workload is a port-level PERMISSIVE exception
(Prometheus has no sidecar and scrapes the pod directly). The NetworkPolicy still admits only the monitoring
namespace to that port, and the port serves nothing but metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.core.v1 import ResourceQuotaSpecArgs, ScopedResourceSelectorRequirementArgs, ScopeSelectorArgs
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, ObjectMetaArgs
from pulumi_kubernetes.networking.v1 import (
    NetworkPolicyEgressRuleArgs,
    NetworkPolicyPeerArgs,
    NetworkPolicyPortArgs,
    NetworkPolicySpecArgs,
)

from capacity import platform_services as sizes
from stack_config.addons import MeshSettings, ProxyResources
from stack_config.workloads import ComputeResources

from ..clusters.handle import ClusterFlavor
from ..common import charts
from ..common.labels import PART_OF
from ..common.quota import ExtraPodCost
from .edge import PublicEdge, public_http_routes
from .priority_classes import SERVICES_CLASS

ISTIO_NAMESPACE = "istio-system"
GATEWAY_RELEASE = "istio-ingressgateway"
GATEWAY_SELECTOR = {"istio": "ingressgateway"}
"""The gateway chart labels its pods `istio: <release name without the istio- prefix>`."""
GATEWAY_NAME = "public-gateway"
INJECTION_LABELS = {"istio-injection": "enabled"}
TRUST_DOMAIN = "cluster.local"
ISTIOD_XDS_PORT = 15012
GKE_CNI_BIN_DIR = "/home/kubernetes/bin"


def sidecar_annotations(proxy: ProxyResources) -> dict[str, str]:
    """Pod annotations that size the injected Envoy sidecar."""
    return {
        "sidecar.istio.io/proxyCPU": proxy.cpu_request,
        "sidecar.istio.io/proxyMemory": proxy.memory_request,
        "sidecar.istio.io/proxyCPULimit": proxy.cpu_limit,
        "sidecar.istio.io/proxyMemoryLimit": proxy.memory_limit,
    }


def sidecar_pod_cost(proxy: ProxyResources) -> ExtraPodCost:
    """What each meshed pod costs the namespace quota on top of its own container.

    The sidecar sets no ephemeral storage, so the namespace LimitRange's defaults (256Mi / 1Gi) apply to it.
    """
    return ExtraPodCost(
        requests=ComputeResources(cpu=proxy.cpu_request, memory=proxy.memory_request, ephemeral_storage="256Mi"),
        limits=ComputeResources(cpu=proxy.cpu_limit, memory=proxy.memory_limit, ephemeral_storage="1Gi"),
    )


def principal(namespace: str, service_account: str) -> str:
    return f"{TRUST_DOMAIN}/ns/{namespace}/sa/{service_account}"


@dataclass(frozen=True)
class GatewayService:
    """How the ingress gateway is exposed: NodePorts mapped to host ports on kind, a cloud load balancer elsewhere."""

    node_ports: dict[str, int] | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    service_type: Literal["LoadBalancer", "NodePort"] | None = None
    """None: NodePort when `node_ports` are given, else LoadBalancer; NodePort alone lets Kubernetes pick the ports."""

    @property
    def type(self) -> str:
        return self.service_type or ("NodePort" if self.node_ports is not None else "LoadBalancer")
    external_traffic_policy: str = "Cluster"
    """`Local` keeps the client's address on a cloud load balancer (components/services/edge.py)."""
    pod_annotations: dict[str, str] = field(default_factory=dict)
    """Added to the chart's pod annotations (the edge's `proxy.istio.io/config`)."""


@dataclass(frozen=True)
class MeshControlPlaneArgs:
    flavor: ClusterFlavor
    settings: MeshSettings
    version: str
    ingress_namespace: str
    gateway: GatewayService | None
    """None: no public entry, so no gateway is installed."""
    http01_ingress: bool = False
    """cert-manager solves ACME HTTP-01 with an Ingress of class `istio`, which istiod turns into gateway routes."""
    cni_paths: dict[str, str] = field(default_factory=dict)
    """`cniBinDir` / `cniConfDir` of the CNI agent where the cluster keeps its CNI elsewhere (existing clusters)."""
    priority_classes: list[pulumi.Resource] = field(default_factory=list)
    """The PriorityClasses its pods name: the release waits for them (a pod naming a missing class is rejected)."""
    extension_providers: list[dict[str, object]] = field(default_factory=list)
    """`meshConfig.extensionProviders` (e.g. the tracing collector, components/services/tracing.py); a Telemetry names them."""


class MeshControlPlane(pulumi.ComponentResource):
    base: k8s.helm.v3.Release
    istiod: k8s.helm.v3.Release
    gateway: k8s.helm.v3.Release | None
    ingress_namespace: k8s.core.v1.Namespace | None
    crd_releases: list[pulumi.Resource]
    """What every Istio custom resource waits for: the CRDs (base) and the validating webhook (istiod)."""

    def __init__(self, name: str, args: MeshControlPlaneArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:addons:MeshControlPlane", name, None, opts)
        on_gke = args.flavor == "gke"
        cloud = args.flavor != "kind"
        # The CNI node agent is privileged (it edits each node's CNI config), so its namespace must be too.
        istio_namespace = charts.system_namespace(f"{name}-istio-system", ISTIO_NAMESPACE, pod_security="privileged",
                                                  parent=self)
        in_istio = pulumi.ResourceOptions(parent=self, depends_on=[istio_namespace])
        global_values: dict[str, object] = {"platform": "gke"} if on_gke else {}
        platform_values: dict[str, object] = {"global": global_values} if global_values else {}

        self.base = charts.helm_release(f"{name}-base", charts.istio("base", args.version), namespace=ISTIO_NAMESPACE,
                                        release_name="istio-base", values={}, opts=in_istio)

        cni_after: list[pulumi.Resource] = [self.base]
        if on_gke:
            # GKE admits system-node-critical pods only in kube-system unless a quota allows them elsewhere.
            cni_after.append(k8s.core.v1.ResourceQuota(
                f"{name}-gke-critical-pods",
                metadata=ObjectMetaArgs(name="gcp-critical-pods", namespace=ISTIO_NAMESPACE),
                spec=ResourceQuotaSpecArgs(
                    hard={"pods": "1000"},
                    scope_selector=ScopeSelectorArgs(match_expressions=[ScopedResourceSelectorRequirementArgs(
                        operator="In", scope_name="PriorityClass", values=["system-node-critical"])]),
                ),
                opts=in_istio,
            ))
        # Requests, limits and replicas of every chart below come from capacity/platform_services.py, which the
        # capacity model counts on the nodes (tests/test_capacity.py and tests/test_runtime_services.py compare).
        cni_settings: dict[str, object] = {"resources": sizes.ISTIO_CNI_NODE.resource_values()}
        if on_gke:
            cni_settings["cniBinDir"] = GKE_CNI_BIN_DIR  # GKE keeps CNI binaries outside /opt/cni/bin
        cni_settings.update(args.cni_paths)
        cni_values: dict[str, object] = {**platform_values, "cni": cni_settings}
        cni = charts.helm_release(
            f"{name}-cni", charts.istio("cni", args.version), namespace=ISTIO_NAMESPACE, release_name="istio-cni",
            values=cni_values, opts=pulumi.ResourceOptions(parent=self, depends_on=cni_after),
        )

        proxy = args.settings.proxy
        istiod_replicas = sizes.istiod_replicas(cloud)
        mesh_config: dict[str, object] = {
            "accessLogFile": "/dev/stdout",
            "defaultConfig": {"holdApplicationUntilProxyStarts": True},
        }
        if args.extension_providers:
            mesh_config["extensionProviders"] = list(args.extension_providers)
        if args.http01_ingress:
            mesh_config.update({"ingressControllerMode": "STRICT", "ingressClass": "istio",
                                "ingressService": GATEWAY_RELEASE, "ingressSelector": GATEWAY_SELECTOR["istio"]})
        self.istiod = charts.helm_release(
            f"{name}-istiod", charts.istio("istiod", args.version), namespace=ISTIO_NAMESPACE, release_name="istiod",
            values={
                **platform_values,
                "pilot": {
                    "cni": {"enabled": True},  # no istio-init (NET_ADMIN) container: the CNI agent redirects traffic
                    "autoscaleEnabled": istiod_replicas.autoscaled,
                    "autoscaleMin": istiod_replicas.min,
                    "autoscaleMax": istiod_replicas.max,
                    "replicaCount": istiod_replicas.min,
                    "resources": sizes.ISTIOD.resource_values(),
                },
                "global": {
                    **global_values,
                    # istiod's own pods (components/services/priority_classes.py); istio-cni's DaemonSet is system-node-critical
                    # by the chart's template, with no value to change it.
                    "priorityClassName": SERVICES_CLASS,
                    # istiod's PDB (minAvailable 1) only with a second pod: on one it would block every drain.
                    "defaultPodDisruptionBudget": {"enabled": istiod_replicas.min > 1},
                    "proxy": {"resources": {
                        "requests": {"cpu": proxy.cpu_request, "memory": proxy.memory_request},
                        "limits": {"cpu": proxy.cpu_limit, "memory": proxy.memory_limit},
                    }},
                },
                "meshConfig": mesh_config,
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.base, cni, *args.priority_classes]),
        )
        self.crd_releases = [self.base, self.istiod]

        self.gateway = None
        self.ingress_namespace = None
        if args.gateway is not None:
            # The gateway chart's pods set a safe sysctl and run as 1337 but pin no seccomp profile: baseline.
            self.ingress_namespace = charts.system_namespace(
                f"{name}-ingress-namespace", args.ingress_namespace, pod_security="baseline", parent=self)
            node_ports = args.gateway.node_ports
            gateway_replicas = sizes.gateway_replicas(cloud)
            ports = [
                {"name": "status-port", "port": 15021, "protocol": "TCP", "targetPort": 15021},
                {"name": "http2", "port": 80, "protocol": "TCP", "targetPort": 80},
                {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 443},
            ]
            if node_ports is not None:
                ports[1]["nodePort"] = node_ports["http"]
                ports[2]["nodePort"] = node_ports["https"]
            self.gateway = charts.helm_release(
                f"{name}-gateway", charts.istio("gateway", args.version), namespace=args.ingress_namespace,
                release_name=GATEWAY_RELEASE,
                values={
                    "service": {
                        "type": args.gateway.type,
                        "ports": ports,
                        "annotations": dict(args.gateway.annotations),
                        "externalTrafficPolicy": args.gateway.external_traffic_policy,
                    },
                    **({"podAnnotations": dict(args.gateway.pod_annotations)} if args.gateway.pod_annotations else {}),
                    "autoscaling": {"enabled": gateway_replicas.autoscaled, "minReplicas": gateway_replicas.min,
                                    "maxReplicas": gateway_replicas.max},
                    "replicaCount": gateway_replicas.min,
                    "resources": sizes.ISTIO_GATEWAY.resource_values(),
                    "priorityClassName": SERVICES_CLASS,
                    # The chart makes no PDB unless asked; with two or more pods one may always go.
                    "podDisruptionBudget": ({"maxUnavailable": 1, "unhealthyPodEvictionPolicy": "AlwaysAllow"}
                                            if gateway_replicas.min > 1 else {}),
                },
                # The gateway's pods are injected with the `gateway` template by istiod's webhook.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.ingress_namespace, self.istiod,
                                                                    *args.priority_classes]),
            )
        self.register_outputs({"version": args.version})


@dataclass(frozen=True)
class MeshWorkload:
    name: str
    role: str
    """api, browser or worker (stack_config.workloads)."""
    service_name: str
    service_account: str
    selector: dict[str, str]
    ports: dict[str, int]
    calls: list[str] = field(default_factory=list)
    """Workloads it may call: each callee's AuthorizationPolicy admits its identity on the callee's serving ports."""
    public: bool = False
    """The API the ingress gateway routes the public host to."""


def serving_ports(workload: MeshWorkload) -> list[str]:
    """What a caller reaches (the same ports as the NetworkPolicies): a browser pool's ports but metrics, an API's
    http port."""
    if workload.role == "browser":
        return sorted(str(n) for port_name, n in workload.ports.items() if port_name != "metrics")
    return [str(workload.ports["http"])] if "http" in workload.ports else []


@dataclass(frozen=True)
class PublicRoute:
    host: str
    gateway_namespace: str
    credential_name: str
    """Secret with the host's certificate; Istio reads it from the gateway's own namespace."""
    https_redirect: bool
    gateway_release: pulumi.Resource
    edge: PublicEdge | None = None
    """CORS and the WebSocket route of the public API routes; None: one plain route."""


@dataclass(frozen=True)
class MeshPoliciesArgs:
    settings: MeshSettings
    namespace: str
    workloads_in_mesh: list[MeshWorkload]
    """Every named workload; who may call whom is each one's `calls`."""
    crd_releases: list[pulumi.Resource]
    workloads: pulumi.Resource
    public: PublicRoute | None = None
    monitoring_namespace: str | None = None
    """Set when Prometheus scrapes the workloads: their metrics ports accept it (plaintext, see module doc)."""


class MeshPolicies(pulumi.ComponentResource):
    def __init__(self, name: str, args: MeshPoliciesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:addons:MeshPolicies", name, None, opts)
        ns = args.namespace
        labels = {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": "pulumi"}
        after = pulumi.ResourceOptions(parent=self, depends_on=[*args.crd_releases, args.workloads])

        def custom(kind: str, api_version: str, object_name: str, spec: dict[str, object], *,
                   namespace: str = ns, extra: list[pulumi.Resource] | None = None) -> None:
            options = after if not extra else pulumi.ResourceOptions(
                parent=self, depends_on=[*args.crd_releases, args.workloads, *extra])
            k8s.apiextensions.CustomResource(
                f"{name}-{kind.lower()}-{object_name}",
                api_version=api_version, kind=kind,
                metadata=ObjectMetaArgs(name=object_name, namespace=namespace, labels=labels),
                spec=spec, opts=options,
            )

        def host(workload: MeshWorkload) -> str:
            return f"{workload.service_name}.{ns}.svc.cluster.local"

        # --- mTLS: STRICT for the namespace; the metrics port of each workload accepts Prometheus' plaintext.
        members = args.workloads_in_mesh
        by_name = {workload.name: workload for workload in members}
        custom("PeerAuthentication", "security.istio.io/v1", "default", {"mtls": {"mode": "STRICT"}})
        if args.monitoring_namespace is not None:
            for workload in members:
                custom("PeerAuthentication", "security.istio.io/v1", f"{workload.name}-metrics-scrape", {
                    "selector": {"matchLabels": dict(workload.selector)},
                    "mtls": {"mode": "STRICT"},
                    "portLevelMtls": {str(workload.ports["metrics"]): {"mode": "PERMISSIVE"}},
                })

        # --- Authorization: nothing is allowed unless a rule below says so; the rules follow the declared calls.
        custom("AuthorizationPolicy", "security.istio.io/v1", "allow-nothing", {})
        public_api = next((workload for workload in members if workload.public), None)
        if args.public is not None and public_api is not None:
            custom("AuthorizationPolicy", "security.istio.io/v1", f"{public_api.name}-from-gateway", {
                "selector": {"matchLabels": dict(public_api.selector)},
                "action": "ALLOW",
                "rules": [{
                    "from": [{"source": {"principals": [principal(args.public.gateway_namespace, GATEWAY_RELEASE)]}}],
                    "to": [{"operation": {"ports": [str(public_api.ports["http"])]}}],
                }],
            })
        for caller in members:
            for callee_name in caller.calls:
                callee = by_name[callee_name]
                custom("AuthorizationPolicy", "security.istio.io/v1", f"{callee.name}-from-{caller.name}", {
                    "selector": {"matchLabels": dict(callee.selector)},
                    "action": "ALLOW",
                    "rules": [{
                        "from": [{"source": {"principals": [principal(ns, caller.service_account)]}}],
                        "to": [{"operation": {"ports": serving_ports(callee)}}],
                    }],
                })
        if args.monitoring_namespace is not None:
            metrics_ports = sorted({str(w.ports["metrics"]) for w in members})
            # Plaintext scrapes carry no identity to match; the NetworkPolicy admits only the monitoring namespace.
            custom("AuthorizationPolicy", "security.istio.io/v1", "metrics-from-prometheus", {
                "action": "ALLOW",
                "rules": [{"to": [{"operation": {"ports": metrics_ports, "methods": ["GET"],
                                                 "paths": ["/metrics"]}}]}],
            })

        # --- Traffic: how a session reaches its pods.
        # The API picks the browser pod of every session itself: it reads the browser Service's EndpointSlices
        # (RBAC `API_SESSION_ROUTING_ACCESS`), places a session on a pod with a free slot (sessionsPerPod; it
        # queues the session when none has one) and connects to that pod's IP. The browser Service stays
        # headless for exactly that, and Istio sends traffic to a headless Service's pods as passthrough
        # (ORIGINAL_DST: the connection goes to the address the client chose), so a DestinationRule's
        # loadBalancer (consistentHash included) and outlierDetection cannot act on it; the browser rule keeps
        # only its mTLS mode. A hash ring could not hold browser sessions anyway: it knows no per-pod capacity,
        # and every scale-out or ejection moves part of the keys, i.e. live sessions, to a pod without them.
        # The session key is hashed one hop earlier instead, onto the API (a ClusterIP Service, where Envoy
        # does balance): every request of one client session, from the gateway or a meshed client, reaches the
        # API pod that placed the session and holds its route to the browser pod. The policy
        # `mesh-lb-on-headless-service` rejects load-balancer settings on a headless host.
        settings = args.settings
        affinity = settings.session_affinity
        consistent_hash: dict[str, object] = (
            {"httpCookie": {"name": affinity.cookie, "path": "/", "ttl": "0s"}} if affinity.cookie
            else {"httpHeaderName": affinity.header}
        )
        outlier = settings.outlier_detection
        outlier_detection = {
            "consecutive5xxErrors": outlier.consecutive_5xx_errors,
            "interval": f"{outlier.interval_seconds}s",
            "baseEjectionTime": f"{outlier.base_ejection_seconds}s",
            "maxEjectionPercent": outlier.max_ejection_percent,
        }
        for workload in members:
            if workload.role == "browser":
                custom("DestinationRule", "networking.istio.io/v1", workload.name, {
                    "host": host(workload),
                    "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}},
                })
        for workload in members:
            if workload.role != "api":
                continue
            custom("DestinationRule", "networking.istio.io/v1", workload.name, {
                "host": host(workload),
                "trafficPolicy": {
                    "tls": {"mode": "ISTIO_MUTUAL"},
                    "loadBalancer": {"consistentHash": consistent_hash},
                    "connectionPool": {"http": {"http1MaxPendingRequests": 1024, "maxRequestsPerConnection": 0}},
                    "outlierDetection": outlier_detection,
                },
            })
            custom("VirtualService", "networking.istio.io/v1", workload.name, {
                "hosts": [host(workload)],
                "gateways": ["mesh"],
                "http": [api_http_route(host(workload), workload.ports["http"], settings)],
            })

        # --- Public entry: HTTPS for the configured host, HTTP redirected (or left to the ACME solver).
        public = args.public
        if public is not None and public_api is not None:
            api_route = api_http_route(host(public_api), public_api.ports["http"], settings)
            http_server: dict[str, object] = {
                "port": {"number": 80, "name": "http", "protocol": "HTTP"},
                "hosts": [public.host],
            }
            if public.https_redirect:
                http_server["tls"] = {"httpsRedirect": True}
            custom("Gateway", "networking.istio.io/v1", GATEWAY_NAME, {
                "selector": dict(GATEWAY_SELECTOR),
                "servers": [
                    {
                        "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                        "hosts": [public.host],
                        "tls": {"mode": "SIMPLE", "credentialName": public.credential_name,
                                "minProtocolVersion": "TLSV1_2"},
                    },
                    http_server,
                ],
            }, namespace=public.gateway_namespace, extra=[public.gateway_release])
            custom("VirtualService", "networking.istio.io/v1", f"{public_api.name}-public", {
                "hosts": [public.host],
                "gateways": [f"{public.gateway_namespace}/{GATEWAY_NAME}"],
                # Only the HTTPS listener routes to the API; plain HTTP never reaches it.
                "http": public_http_routes(public_api.name, api_route, public.edge),
            }, extra=[public.gateway_release])

        # --- The sidecars fetch config and certificates from istiod: allow that past the namespace's default deny.
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-istiod-egress",
            metadata=ObjectMetaArgs(name="allow-istiod-egress", namespace=ns, labels=labels),
            spec=NetworkPolicySpecArgs(
                pod_selector=LabelSelectorArgs(),
                policy_types=["Egress"],
                egress=[NetworkPolicyEgressRuleArgs(
                    to=[NetworkPolicyPeerArgs(
                        namespace_selector=LabelSelectorArgs(
                            match_labels={"kubernetes.io/metadata.name": ISTIO_NAMESPACE}),
                        pod_selector=LabelSelectorArgs(match_labels={"app": "istiod"}),
                    )],
                    ports=[NetworkPolicyPortArgs(protocol="TCP", port=ISTIOD_XDS_PORT)],
                )],
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.workloads]),
        )
        self.register_outputs({})


def api_http_route(destination_host: str, port: int, settings: MeshSettings) -> dict[str, object]:
    route: dict[str, object] = {
        "route": [{"destination": {"host": destination_host, "port": {"number": port}}}],
        "timeout": f"{settings.api_timeout_seconds}s",
    }
    if settings.api_retries:
        route["retries"] = {
            "attempts": settings.api_retries,
            "perTryTimeout": f"{max(1, settings.api_timeout_seconds // settings.api_retries)}s",
            "retryOn": "5xx,connect-failure,refused-stream,reset",
        }
    else:
        route["retries"] = {"attempts": 0}
    return route
