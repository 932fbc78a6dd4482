"""KEDA, and the ScaledObjects that scale each browser pool on sessions (and each queue worker on its queue)
instead of CPU.

The session trigger asks Prometheus for active + queued sessions and targets `sessionsPerPod x fillRatio` per
pod; CPU and memory utilization stay as backstop triggers. KEDA owns the pool's HPA (`keda-hpa-<name>`), so
the pool gets no HPA of ours and its Deployment leaves spec.replicas unset.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from capacity import platform_services as sizes
from stack_config.addons import KedaSettings
from stack_config.workloads import Autoscaling

from ..common import charts
from ..common.labels import standard_labels
from ..common.metrics_contract import session_demand
from ..common.scaling import scaling_behavior_spec
from ..common.webhook_ports import KEDA_METRICS_API, KEDA_WEBHOOK
from .priority_classes import SERVICES_CLASS


@dataclass(frozen=True)
class SessionScaledTarget:
    """A browser pool, scaled on its sessions (active + queued) per pod."""

    component: str
    namespace: str
    deployment_name: str
    deployment: pulumi.Resource
    bounds: Autoscaling
    sessions_per_pod: int
    demand: str = ""
    """The PromQL of the sessions wanted from this pool (metrics_contract.session_demand); empty: the default."""


@dataclass(frozen=True)
class QueueScaledTarget:
    """A worker, scaled on the items waiting in its queue per pod."""

    component: str
    namespace: str
    deployment_name: str
    deployment: pulumi.Resource
    bounds: Autoscaling
    query: str
    """The PromQL of the items waiting (metrics_contract.queue_length)."""
    per_pod: int


ScaledTarget = SessionScaledTarget | QueueScaledTarget


@dataclass(frozen=True)
class KedaArgs:
    settings: KedaSettings
    targets: list[ScaledTarget]
    """One ScaledObject each: every browser pool with autoscaling bounds, every worker with a queue."""
    prometheus_url: str
    namespace: str = "keda"
    after: list[pulumi.Resource] = field(default_factory=list)
    """Resources the ScaledObjects wait for besides KEDA itself (e.g. the Prometheus release)."""
    priority_classes: list[pulumi.Resource] = field(default_factory=list)
    """The PriorityClasses its pods name: the release waits for them (a pod naming a missing class is rejected)."""


def session_threshold(sessions_per_pod: int, fill_ratio: float) -> str:
    """Sessions per pod KEDA aims at, as the string the trigger metadata wants (e.g. `8` or `4.5`)."""
    return f"{round(sessions_per_pod * fill_ratio, 2):g}"


def _demand_trigger(target: ScaledTarget, args: KedaArgs) -> dict[str, object]:
    if isinstance(target, QueueScaledTarget):
        name, query, threshold = "queue", target.query, str(target.per_pod)
    else:
        name, query = "sessions", target.demand or session_demand(target.namespace)
        threshold = session_threshold(target.sessions_per_pod, args.settings.fill_ratio)
    return {
        "type": "prometheus",
        "name": name,
        "metricType": "AverageValue",
        "metadata": {
            "serverAddress": args.prometheus_url,
            "query": query,
            "threshold": threshold,
            "ignoreNullValues": "false",
        },
    }


def scaled_object_spec(args: KedaArgs, target: ScaledTarget | None = None) -> dict[str, object]:
    target = target or args.targets[0]
    settings = args.settings
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target.deployment_name},
        "pollingInterval": settings.polling_interval,
        "minReplicaCount": target.bounds.min_replicas,
        "maxReplicaCount": target.bounds.max_replicas,
        "fallback": {
            "failureThreshold": settings.failure_threshold,
            "replicas": settings.fallback_replicas or target.bounds.max_replicas,
            # Never shrink the pool because Prometheus went away (kedacore/keda#6659).
            "behavior": "currentReplicasIfHigher",
        },
        "advanced": {
            "restoreToOriginalReplicaCount": False,
            "horizontalPodAutoscalerConfig": {"behavior": scaling_behavior_spec()},
        },
        "triggers": [
            _demand_trigger(target, args),
            {"type": "cpu", "name": "cpu", "metricType": "Utilization",
             "metadata": {"value": str(target.bounds.cpu_utilization)}},
            {"type": "memory", "name": "memory", "metricType": "Utilization",
             "metadata": {"value": str(target.bounds.memory_utilization)}},
        ],
    }


def keda_values() -> dict[str, object]:
    """The chart's values: requests, limits and replica counts from capacity/platform_services.py (layer
    "keda"). Limits name both cpu and memory: Helm merges these maps into the chart's defaults, so a CPU limit
    left out here would silently stay the chart's (1 CPU)."""
    replicas = sizes.KEDA_REPLICAS.max
    return {
        "operator": {"replicaCount": replicas},
        "metricsServer": {"replicaCount": replicas},
        # The API server calls both on these ports; a private GKE cluster opens them (components/common/webhook_ports.py).
        "webhooks": {"replicaCount": replicas, "port": KEDA_WEBHOOK.port},
        "service": {"portHttpsTarget": KEDA_METRICS_API.port},
        "resources": {
            "operator": sizes.KEDA_OPERATOR.resource_values(),
            "metricServer": sizes.KEDA_METRICS_SERVER.resource_values(),
            "webhooks": sizes.KEDA_WEBHOOKS.resource_values(),
        },
        "podDisruptionBudget": {"operator": {"maxUnavailable": 1}},
        "priorityClassName": SERVICES_CLASS,  # operator, metrics API server, webhooks (services/priority_classes.py)
    }


class Keda(pulumi.ComponentResource):
    release: k8s.helm.v3.Release
    scaled_objects: list[k8s.apiextensions.CustomResource]

    def __init__(self, name: str, args: KedaArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:addons:Keda", name, None, opts)
        namespace = charts.system_namespace(f"{name}-namespace", args.namespace, pod_security="restricted", parent=self)
        self.release = charts.helm_release(
            f"{name}-release", charts.KEDA, namespace=args.namespace,
            values=keda_values(),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, *args.priority_classes]),
        )
        self.scaled_objects = [k8s.apiextensions.CustomResource(
            f"{name}-{target.component}-scaledobject",
            api_version="keda.sh/v1alpha1",
            kind="ScaledObject",
            metadata=ObjectMetaArgs(name=target.deployment_name, namespace=target.namespace,
                                    labels=standard_labels(target.component)),
            spec=scaled_object_spec(args, target),
            # The release installs the ScaledObject CRD and the admission webhook that checks it.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.release, target.deployment, *args.after]),
        ) for target in args.targets]
        self.register_outputs({"version": charts.KEDA.version})
