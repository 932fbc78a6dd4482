"""The platform namespace: Pod Security `restricted`, a ResourceQuota sized from the workloads, a LimitRange."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.core.v1 import LimitRangeItemArgs, LimitRangeSpecArgs, ResourceQuotaSpecArgs
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from stack_config.base import cpu_millicores, format_cpu, format_memory, memory_bytes
from stack_config.workloads import WorkloadBase

from ..common.labels import PART_OF
from ..common.quota import ExtraPodCost

ROLLING_SURGE = 1
"""Pods a rolling update adds on top of the maximum replica count (maxSurge of every Deployment)."""
LONG_DRAIN_SECONDS = 60
"""A workload whose pods take longer than this to terminate keeps draining pods around long enough to matter."""

CONTAINER_DEFAULT_LIMITS = {"cpu": "500m", "memory": "512Mi", "ephemeral-storage": "1Gi"}
CONTAINER_DEFAULT_REQUESTS = {"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "256Mi"}


def quota_pods(workload: WorkloadBase) -> int:
    """Pods of one workload the quota must admit at the same time.

    maxReplicas running plus the rolling-update surge; and for a workload that drains for minutes (the browser
    pool: its grace period covers a whole session) up to maxReplicas more that are still terminating. A quota
    counts a terminating pod until its grace period has passed, so without them a scale-up shortly after a
    scale-down, or a rollout at full scale, would be refused for up to a session timeout.
    """
    grace = getattr(workload, "termination_grace_seconds", 30)
    draining = workload.max_replicas if grace > LONG_DRAIN_SECONDS else 0
    return workload.max_replicas + ROLLING_SURGE + draining


def quota_for(workloads: list[WorkloadBase], extra: ExtraPodCost | None = None) -> dict[str, str]:
    """Quota that admits every workload at its maximum scale, during a rolling update and while draining pods
    terminate (`quota_pods`), and nothing more."""
    totals = {"requests.cpu": 0, "limits.cpu": 0, "requests.memory": 0, "limits.memory": 0,
              "requests.ephemeral-storage": 0, "limits.ephemeral-storage": 0}
    pods = 0
    for workload in workloads:
        count = quota_pods(workload)
        pods += count
        per_pod = [workload.resources] + ([extra] if extra else [])
        for resources in per_pod:
            totals["requests.cpu"] += count * cpu_millicores(resources.requests.cpu)
            totals["limits.cpu"] += count * cpu_millicores(resources.limits.cpu)
            totals["requests.memory"] += count * memory_bytes(resources.requests.memory)
            totals["limits.memory"] += count * memory_bytes(resources.limits.memory)
            totals["requests.ephemeral-storage"] += count * memory_bytes(resources.requests.ephemeral_storage)
            totals["limits.ephemeral-storage"] += count * memory_bytes(resources.limits.ephemeral_storage)
    hard = {key: format_cpu(value) if key.endswith("cpu") else format_memory(value) for key, value in totals.items()}
    hard.update({
        "pods": str(pods),
        # The platform is reached through the gateway only: no workload may open its own external port.
        "services.loadbalancers": "0",
        "services.nodeports": "0",
    })
    return hard


@dataclass(frozen=True)
class PlatformNamespaceArgs:
    name: str
    workloads: list[WorkloadBase]
    extra_pod_cost: ExtraPodCost | None = None
    labels: dict[str, str] = field(default_factory=dict)


class PlatformNamespace(pulumi.ComponentResource):
    namespace: k8s.core.v1.Namespace
    name: pulumi.Output[str]

    def __init__(self, name: str, args: PlatformNamespaceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:workloads:PlatformNamespace", name, None, opts)
        labels = {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest",
            "pod-security.kubernetes.io/audit": "restricted",
            "pod-security.kubernetes.io/warn": "restricted",
            "app.kubernetes.io/part-of": PART_OF,
            "app.kubernetes.io/managed-by": "pulumi",
            **args.labels,
        }
        self.namespace = k8s.core.v1.Namespace(
            name, metadata=ObjectMetaArgs(name=args.name, labels=labels), opts=pulumi.ResourceOptions(parent=self)
        )
        self.name = self.namespace.metadata.name
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])

        k8s.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata=ObjectMetaArgs(name="platform-quota", namespace=self.name),
            spec=ResourceQuotaSpecArgs(hard=quota_for(args.workloads, args.extra_pod_cost)),
            opts=in_namespace,
        )
        # `max` bounds every container of the namespace, so it must admit the injected sidecar as well as the
        # workloads, and the API server rejects a LimitRange whose default exceeds its max.
        limits = [w.resources.limits for w in args.workloads]
        if args.extra_pod_cost is not None:
            limits.append(args.extra_pod_cost.limits)
        largest_cpu = max([cpu_millicores(CONTAINER_DEFAULT_LIMITS["cpu"]), *(cpu_millicores(x.cpu) for x in limits)])
        largest_memory = max([memory_bytes(CONTAINER_DEFAULT_LIMITS["memory"]),
                              *(memory_bytes(x.memory) for x in limits)])
        k8s.core.v1.LimitRange(
            f"{name}-limits",
            metadata=ObjectMetaArgs(name="container-defaults", namespace=self.name),
            spec=LimitRangeSpecArgs(limits=[LimitRangeItemArgs(
                type="Container",
                # Defaults only matter for containers that set nothing (e.g. injected by a controller):
                # under the quota such a container would otherwise be rejected outright.
                default=dict(CONTAINER_DEFAULT_LIMITS),
                default_request=dict(CONTAINER_DEFAULT_REQUESTS),
                max={"cpu": format_cpu(largest_cpu), "memory": format_memory(largest_memory)},
            )]),
            opts=in_namespace,
        )
        self.register_outputs({"name": self.name})
