"""The platform services' own pods: the requests and replica counts their Helm values set, in one place.

Both sides import this module, so the numbers cannot drift apart:

- the components (components/services/mesh.py, monitoring.py, keda.py, tls.py, metrics_server.py, cluster_autoscaler.py)
  write these requests and replica counts into their charts' values;
- the capacity model (`capacity.model`, `stack_config.sizing`, `python -m scripts.capacity_report`, `capacity.tiers`)
  places the same pods on the node pool that carries them.

Pure Python, no Pulumi. tests/test_capacity.py reads the Helm release inputs the program registers for every
stack and fails if a chart value differs from what is here.

Where a chart's default was used before (Alertmanager, Grafana and its sidecars, kube-state-metrics,
prometheus-operator and its config reloader, node-exporter, the cert-manager webhook and cainjector, the KEDA
replica counts, the cluster-autoscaler and istio-cni defaults), the component now sets the value from here
explicitly: modest requests near what these processes use on a cluster of this size, so the scheduler's books
match the nodes. Short-lived hook Jobs (cert-manager's startupapicheck, the prometheus-operator admission
webhook patch, kube-prometheus-stack's CRD upgrade Job) are not counted.

Limits live next to the requests (`Requests.limits`, written as a container's whole `resources`): Helm merges
our values into a chart's defaults, so a limit we do not set is the chart's, unseen. Every Deployment and
StatefulSet with more than one replica has a PodDisruptionBudget (tests/test_runtime_services.py walks the
release values, with the charts' defaults merged in, against this module).

The pods carry no sidecar: only the workloads' namespace has injection on (the gateway pod *is* an Envoy, at
the requests below). They tolerate none of the pools' taints, so they run on the pools without a NoSchedule or
NoExecute taint (`stack_config.sizing` counts them on the first such pool; cluster-autoscaler on the first
untainted on-demand pool, where its nodeSelector pins it). Daemonsets (istio-cni, node-exporter) are per node
and live in `capacity.model.Overheads`, with their requests taken from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .quantities import ZERO, PodGroup, Provider, Resources

Scale = Literal["min", "max"]


@dataclass(frozen=True)
class Limits:
    """One container's limits (Kubernetes quantities). `cpu=None`: no CPU limit (what the chart leaves unset)."""

    cpu: str | None
    memory: str

    def values(self) -> dict[str, str]:
        """What goes under `resources.limits` in the chart values."""
        return {"memory": self.memory} if self.cpu is None else {"cpu": self.cpu, "memory": self.memory}


@dataclass(frozen=True)
class Requests:
    """One container's requests (and limits) as the chart values write them (Kubernetes quantities).

    The capacity model counts the requests; the limits are here too so that a chart's own default limits
    never stay in force unseen (Helm merges our `resources` into the chart's: a chart default CPU limit
    survives unless we set one).
    """

    cpu: str
    memory: str
    limits: Limits | None = None

    @property
    def resources(self) -> Resources:
        return Resources.of(self.cpu, self.memory)

    def values(self) -> dict[str, str]:
        """`{"cpu": ..., "memory": ...}`: what goes under `resources.requests` in the chart values."""
        return {"cpu": self.cpu, "memory": self.memory}

    def resource_values(self) -> dict[str, dict[str, str]]:
        """`{"requests": ..., "limits": ...}`: a container's whole `resources` in the chart values."""
        if self.limits is None:
            raise ValueError(f"no limits for the container requesting {self.cpu} / {self.memory}")
        return {"requests": self.values(), "limits": self.limits.values()}


@dataclass(frozen=True)
class Replicas:
    """Replica bounds: `min == max` for a fixed count, `min < max` for a chart-managed HPA."""

    min: int
    max: int

    @property
    def autoscaled(self) -> bool:
        return self.max > self.min


# --- requests per container (chart value in brackets) ----------------------------------------------------------

METRICS_SERVER = Requests("100m", "200Mi", Limits("1", "400Mi"))
"""metrics-server [`resources.requests`]."""
CLUSTER_AUTOSCALER = Requests("100m", "300Mi", Limits(None, "600Mi"))
"""cluster-autoscaler on EKS [`resources.requests`]."""

ISTIOD = Requests("200m", "512Mi", Limits("2", "2Gi"))
"""istiod's discovery container [`pilot.resources.requests`]."""
ISTIO_GATEWAY = Requests("100m", "128Mi", Limits("2", "1Gi"))
"""The ingress gateway's Envoy [gateway chart `resources.requests`]."""
ISTIO_CNI_NODE = Requests("100m", "100Mi", Limits("1", "512Mi"))
"""The Istio CNI node agent, a daemonset [cni chart `cni.resources.requests`; the chart's default]."""

PROMETHEUS = Requests("500m", "2Gi", Limits("2", "4Gi"))
"""Prometheus [`prometheus.prometheusSpec.resources.requests`]."""
CONFIG_RELOADER = Requests("10m", "50Mi", Limits("100m", "128Mi"))
"""The config-reloader container the operator adds to every Prometheus and Alertmanager pod
[`prometheusOperator.prometheusConfigReloader.resources.requests`; the operator's default]."""
ALERTMANAGER = Requests("50m", "128Mi", Limits("500m", "256Mi"))
"""Alertmanager [`alertmanager.alertmanagerSpec.resources.requests`]."""
GRAFANA = Requests("100m", "256Mi", Limits("1", "512Mi"))
"""Grafana [`grafana.resources.requests`]."""
GRAFANA_SIDECAR = Requests("10m", "64Mi", Limits("200m", "256Mi"))
"""Each of Grafana's two k8s-sidecar containers, dashboards and datasources [`grafana.sidecar.resources.requests`]."""
KUBE_STATE_METRICS = Requests("10m", "64Mi", Limits("500m", "256Mi"))
"""kube-state-metrics [`kube-state-metrics.resources.requests`]."""
PROMETHEUS_OPERATOR = Requests("20m", "64Mi", Limits("500m", "256Mi"))
"""prometheus-operator [`prometheusOperator.resources.requests`]."""
NODE_EXPORTER = Requests("50m", "64Mi", Limits("250m", "128Mi"))
"""node-exporter, a daemonset [`prometheus-node-exporter.resources.requests`]."""
CRD_UPGRADE_JOB = Requests("50m", "128Mi", Limits("500m", "512Mi"))
"""The chart's CRD upgrade hook Job, each of its two containers (busybox unpacks, kubectl server-side applies
the monitoring.coreos.com CRDs, several MB) [`crds.upgradeJob.resources`]. A short-lived hook: not counted."""

KEDA_OPERATOR = Requests("100m", "128Mi", Limits("500m", "512Mi"))
"""KEDA operator [`resources.operator.requests`]."""
KEDA_METRICS_SERVER = Requests("100m", "128Mi", Limits("500m", "512Mi"))
"""KEDA metrics API server [`resources.metricServer.requests`]."""
KEDA_WEBHOOKS = Requests("50m", "64Mi", Limits("250m", "256Mi"))
"""KEDA admission webhooks [`resources.webhooks.requests`]."""

CERT_MANAGER_CONTROLLER = Requests("50m", "128Mi", Limits("500m", "512Mi"))
"""cert-manager controller [`resources.requests`]."""
CERT_MANAGER_WEBHOOK = Requests("20m", "64Mi", Limits("500m", "256Mi"))
"""cert-manager webhook [`webhook.resources.requests`]."""
CERT_MANAGER_CAINJECTOR = Requests("20m", "128Mi", Limits("500m", "512Mi"))
"""cert-manager cainjector (caches every Certificate and Secret it injects) [`cainjector.resources.requests`]."""

OTEL_COLLECTOR = Requests("50m", "128Mi", Limits("1", "512Mi"))
"""The OpenTelemetry Collector (components/services/tracing.py; plain objects, no chart). Its memory_limiter refuses spans
at 80 % of the limit."""
TEMPO = Requests("100m", "512Mi", Limits("2", "2Gi"))
"""Grafana Tempo, monolithic (components/services/tracing.py): ingester blocks in memory until flushed (5 min)."""
KIALI = Requests("50m", "256Mi", Limits("1", "1Gi"))
"""Kiali (components/services/kiali.py; plain objects, no chart): caches every namespace's pods, services and Istio
resources in memory (the kiali-server chart's default memory limit is 1Gi; its 10m / 64Mi requests are below what
the cache holds on a real cluster)."""


# --- replicas --------------------------------------------------------------------------------------------------

SINGLE = Replicas(1, 1)


def _pair(highly_available: bool) -> Replicas:
    return Replicas(2, 2) if highly_available else SINGLE


def metrics_server_replicas(highly_available: bool) -> Replicas:
    """Two on clouds: every HPA and KEDA's cpu/memory triggers stop while it is down [`replicas`]."""
    return _pair(highly_available)


CLUSTER_AUTOSCALER_REPLICAS = SINGLE
"""One active instance by design (leader election) [`replicaCount`]."""


def istiod_replicas(highly_available: bool) -> Replicas:
    """2-5 behind the chart's HPA on clouds, one fixed pod on kind
    [`pilot.autoscaleMin`, `pilot.autoscaleMax`, `pilot.autoscaleEnabled`, `pilot.replicaCount`]."""
    return Replicas(2, 5) if highly_available else SINGLE


def gateway_replicas(highly_available: bool) -> Replicas:
    """2-5 behind the chart's HPA on clouds, one fixed pod on kind
    [`autoscaling.minReplicas`, `autoscaling.maxReplicas`, `autoscaling.enabled`, `replicaCount`]."""
    return Replicas(2, 5) if highly_available else SINGLE


def prometheus_replicas(highly_available: bool) -> Replicas:
    """[`prometheus.prometheusSpec.replicas`]"""
    return _pair(highly_available)


def alertmanager_replicas(highly_available: bool) -> Replicas:
    """[`alertmanager.alertmanagerSpec.replicas`]"""
    return _pair(highly_available)


GRAFANA_REPLICAS = SINGLE
"""[`grafana.replicas`]; no persistence, so a second replica would not share dashboards edited in the UI."""
KUBE_STATE_METRICS_REPLICAS = SINGLE
"""[`kube-state-metrics.replicas`]"""
PROMETHEUS_OPERATOR_REPLICAS = SINGLE
"""The chart runs one operator Deployment and has no replica value."""

KEDA_REPLICAS = SINGLE
"""Operator, metrics API server and webhooks each [`operator.replicaCount`, `metricsServer.replicaCount`,
`webhooks.replicaCount`]; the operator elects a leader, so a second one would only wait."""


def cert_manager_replicas(highly_available: bool) -> Replicas:
    """Controller and webhook [`replicaCount`, `webhook.replicaCount`]."""
    return _pair(highly_available)


CERT_MANAGER_CAINJECTOR_REPLICAS = SINGLE
"""[`cainjector.replicaCount`]"""


def otel_collector_replicas(highly_available: bool) -> Replicas:
    """Stateless: two on clouds (a node drain keeps one receiving), one on kind."""
    return _pair(highly_available)


TEMPO_REPLICAS = SINGLE
"""Monolithic Tempo on one local volume: one pod by design."""


def kiali_replicas(highly_available: bool) -> Replicas:
    """Stateless (the session lives in an encrypted cookie every replica can read): two on clouds, one on kind."""
    return _pair(highly_available)


# --- which services run where -------------------------------------------------------------------------------

FLAVORS_WITH_BUILT_IN_METRICS_SERVER: frozenset[Provider] = frozenset({"gke"})
"""GKE runs its own metrics-server (in kube-system, on the nodes; counted among GKE's system pods, not here)."""
FLAVORS_WITH_CLUSTER_AUTOSCALER_RELEASE: frozenset[Provider] = frozenset({"eks"})
"""EKS gets the cluster-autoscaler chart; GKE's autoscaler runs in the control plane, kind has none."""


def needs_metrics_server(flavor: Provider) -> bool:
    return flavor not in FLAVORS_WITH_BUILT_IN_METRICS_SERVER


# --- pods and layers -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlatformPod:
    """One Deployment/StatefulSet of a platform service: the Helm release it comes from, its containers'
    requests and its replica bounds."""

    name: str
    release: str
    containers: tuple[Requests, ...]
    replicas: Replicas

    @property
    def requests(self) -> Resources:
        """The pod's requests: the sum of its containers' (init containers are smaller and not counted)."""
        total = ZERO
        for container in self.containers:
            total = total + container.resources
        return total

    @property
    def pod_group(self) -> PodGroup:
        return PodGroup(self.name, self.requests, self.replicas.min, self.replicas.max)


@dataclass(frozen=True)
class PlatformLayer:
    """The pods one platform service (one switch of the config) adds to the cluster."""

    name: str
    pods: tuple[PlatformPod, ...]
    on_demand_only: bool = False
    """Placed on an untainted on-demand pool when there is one (cluster-autoscaler's nodeSelector)."""

    @property
    def pod_groups(self) -> tuple[PodGroup, ...]:
        return tuple(pod.pod_group for pod in self.pods)

    def total(self, scale: Scale = "max") -> Resources:
        """Requests of every pod of the layer at its minimum or maximum replicas."""
        total = ZERO
        for pod in self.pods:
            total = total + pod.requests.times(pod.replicas.min if scale == "min" else pod.replicas.max)
        return total

    def pod_count(self, scale: Scale = "max") -> int:
        return sum(pod.replicas.min if scale == "min" else pod.replicas.max for pod in self.pods)


def platform_layers(flavor: Provider, *, mesh: bool, monitoring: bool, keda: bool, tls: bool,
                    highly_available: bool | None = None, gateway: bool | None = None,
                    tracing: bool = False, kiali: bool = False) -> tuple[PlatformLayer, ...]:
    """The platform services' pods on a cluster of `flavor` with these add-ons on, one layer per service.

    `highly_available` defaults to "not kind" (what components/platform_services.py passes); `gateway` (the Istio ingress
    gateway, installed with `ingress`) defaults to `tls`, because cert-manager is installed for the same
    `ingress` block. Both need the mesh. Layers in install order: metrics-server, cluster-autoscaler, mesh,
    monitoring, tls, keda.
    """
    ha = flavor != "kind" if highly_available is None else highly_available
    gateway = tls if gateway is None else gateway
    # `tracing`: the OpenTelemetry Collector and Tempo (components/services/tracing.py), plain objects named "tracing";
    # `kiali`: Kiali (components/services/kiali.py), plain objects named "kiali".
    layers: list[PlatformLayer] = []
    if needs_metrics_server(flavor):
        layers.append(PlatformLayer("metrics-server", (
            PlatformPod("metrics-server", "metrics-server", (METRICS_SERVER,), metrics_server_replicas(ha)),
        )))
    if flavor in FLAVORS_WITH_CLUSTER_AUTOSCALER_RELEASE:
        layers.append(PlatformLayer("cluster-autoscaler", (
            PlatformPod("cluster-autoscaler", "cluster-autoscaler", (CLUSTER_AUTOSCALER,), CLUSTER_AUTOSCALER_REPLICAS),
        ), on_demand_only=True))
    if mesh:
        pods = [PlatformPod("istiod", "istiod", (ISTIOD,), istiod_replicas(ha))]
        if gateway:
            pods.append(PlatformPod("istio-ingressgateway", "istio-ingressgateway", (ISTIO_GATEWAY,),
                                    gateway_replicas(ha)))
        layers.append(PlatformLayer("mesh", tuple(pods)))
    if monitoring:
        release = "kube-prometheus-stack"
        layers.append(PlatformLayer("monitoring", (
            PlatformPod("prometheus", release, (PROMETHEUS, CONFIG_RELOADER), prometheus_replicas(ha)),
            PlatformPod("alertmanager", release, (ALERTMANAGER, CONFIG_RELOADER), alertmanager_replicas(ha)),
            PlatformPod("grafana", release, (GRAFANA, GRAFANA_SIDECAR, GRAFANA_SIDECAR), GRAFANA_REPLICAS),
            PlatformPod("kube-state-metrics", release, (KUBE_STATE_METRICS,), KUBE_STATE_METRICS_REPLICAS),
            PlatformPod("prometheus-operator", release, (PROMETHEUS_OPERATOR,), PROMETHEUS_OPERATOR_REPLICAS),
        )))
    if mesh and tls:
        layers.append(PlatformLayer("tls", (
            PlatformPod("cert-manager", "cert-manager", (CERT_MANAGER_CONTROLLER,), cert_manager_replicas(ha)),
            PlatformPod("cert-manager-webhook", "cert-manager", (CERT_MANAGER_WEBHOOK,), cert_manager_replicas(ha)),
            PlatformPod("cert-manager-cainjector", "cert-manager", (CERT_MANAGER_CAINJECTOR,),
                        CERT_MANAGER_CAINJECTOR_REPLICAS),
        )))
    if keda:
        layers.append(PlatformLayer("keda", (
            PlatformPod("keda-operator", "keda", (KEDA_OPERATOR,), KEDA_REPLICAS),
            PlatformPod("keda-metrics-apiserver", "keda", (KEDA_METRICS_SERVER,), KEDA_REPLICAS),
            PlatformPod("keda-admission-webhooks", "keda", (KEDA_WEBHOOKS,), KEDA_REPLICAS),
        )))
    if tracing:
        layers.append(PlatformLayer("tracing", (
            PlatformPod("otel-collector", "tracing", (OTEL_COLLECTOR,), otel_collector_replicas(ha)),
            PlatformPod("tempo", "tracing", (TEMPO,), TEMPO_REPLICAS),
        )))
    if kiali:
        layers.append(PlatformLayer("kiali", (PlatformPod("kiali", "kiali", (KIALI,), kiali_replicas(ha)),)))
    return tuple(layers)


def layers_total(layers: tuple[PlatformLayer, ...] | list[PlatformLayer], scale: Scale = "max") -> Resources:
    total = ZERO
    for layer in layers:
        total = total + layer.total(scale)
    return total
