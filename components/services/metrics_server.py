"""metrics-server, where the cluster does not bring one: the resource-metrics API behind every CPU/memory autoscaler.

- kind: installed, with `--kubelet-insecure-tls`, because kind's kubelets serve self-signed certificates.
- EKS: installed from the same chart. (The EKS `metrics-server` community add-on would need the cluster
  component to own it; one chart on both keeps one version to bump and one set of values.)
- GKE: never installed; GKE runs its own metrics-server and a second one would fight over the APIService.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from capacity import platform_services as sizes
from capacity.platform_services import FLAVORS_WITH_BUILT_IN_METRICS_SERVER, needs_metrics_server

from ..clusters.handle import ClusterFlavor
from ..common import charts
from ..common.webhook_ports import METRICS_SERVER_API
from .priority_classes import SYSTEM_CLUSTER_CRITICAL

__all__ = ["FLAVORS_WITH_BUILT_IN_METRICS_SERVER", "MetricsServer", "MetricsServerArgs", "needs_metrics_server"]


@dataclass(frozen=True)
class MetricsServerArgs:
    flavor: ClusterFlavor
    namespace: str = "kube-system"


class MetricsServer(pulumi.ComponentResource):
    release: pulumi.Resource

    def __init__(self, name: str, args: MetricsServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:addons:MetricsServer", name, None, opts)
        local = args.flavor == "kind"
        values: dict[str, object] = {
            "args": ["--kubelet-insecure-tls"] if local else [],
            # Two replicas on clouds: every HPA and KEDA's cpu/memory triggers stop while it is down. Requests and
            # replicas from capacity/platform_services.py, which the capacity model counts.
            "replicas": sizes.metrics_server_replicas(not local).max,
            "podDisruptionBudget": {"enabled": not local, "maxUnavailable": 1},
            "resources": sizes.METRICS_SERVER.resource_values(),
            "containerPort": METRICS_SERVER_API.port,  # what the API server calls (components/common/webhook_ports.py)
            # The chart's own default, written out: in kube-system every provider admits the built-in class, and
            # every HPA stops without this API (components/services/priority_classes.py).
            "priorityClassName": SYSTEM_CLUSTER_CRITICAL,
        }
        self.release = charts.helm_release(
            f"{name}-release", charts.METRICS_SERVER, namespace=args.namespace, values=values,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"version": charts.METRICS_SERVER.version})
