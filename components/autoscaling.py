"""Pod autoscalers: one per Deployment, an HPA (autoscaling/v2) with the seeds' fast-up, slow-down behaviour."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.autoscaling.v2 import (
    CrossVersionObjectReferenceArgs,
    HorizontalPodAutoscalerBehaviorArgs,
    HorizontalPodAutoscalerSpecArgs,
    HPAScalingPolicyArgs,
    HPAScalingRulesArgs,
    MetricSpecArgs,
    MetricTargetArgs,
    ResourceMetricSourceArgs,
)
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from stack_config.workloads import Autoscaling

from .labels import standard_labels


@dataclass(frozen=True)
class ScaleTarget:
    component: str
    deployment_name: str
    bounds: Autoscaling
    deployment: pulumi.Resource


def scaling_behavior() -> HorizontalPodAutoscalerBehaviorArgs:
    """Scale up at once (double, or +2 pods, every 30 s); scale down after 5 minutes, by half or one pod a minute."""
    return HorizontalPodAutoscalerBehaviorArgs(
        scale_up=HPAScalingRulesArgs(
            stabilization_window_seconds=0,
            select_policy="Max",
            policies=[HPAScalingPolicyArgs(type="Percent", value=100, period_seconds=30),
                      HPAScalingPolicyArgs(type="Pods", value=2, period_seconds=30)],
        ),
        scale_down=HPAScalingRulesArgs(
            stabilization_window_seconds=300,
            select_policy="Min",
            policies=[HPAScalingPolicyArgs(type="Percent", value=50, period_seconds=60),
                      HPAScalingPolicyArgs(type="Pods", value=1, period_seconds=60)],
        ),
    )


def _utilization(resource: str, percent: int) -> MetricSpecArgs:
    return MetricSpecArgs(type="Resource", resource=ResourceMetricSourceArgs(
        name=resource, target=MetricTargetArgs(type="Utilization", average_utilization=percent)))


@dataclass(frozen=True)
class AutoscalingArgs:
    namespace: pulumi.Input[str]
    hpa_targets: list[ScaleTarget]


class PodAutoscaling(pulumi.ComponentResource):
    def __init__(self, name: str, args: AutoscalingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:autoscaling:PodAutoscaling", name, None, opts)
        for target in args.hpa_targets:
            k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{name}-{target.component}-hpa",
                metadata=ObjectMetaArgs(name=target.deployment_name, namespace=args.namespace,
                                        labels=standard_labels(target.component)),
                spec=HorizontalPodAutoscalerSpecArgs(
                    scale_target_ref=CrossVersionObjectReferenceArgs(
                        api_version="apps/v1", kind="Deployment", name=target.deployment_name),
                    min_replicas=target.bounds.min_replicas,
                    max_replicas=target.bounds.max_replicas,
                    metrics=[_utilization("cpu", target.bounds.cpu_utilization),
                             _utilization("memory", target.bounds.memory_utilization)],
                    behavior=scaling_behavior(),
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[target.deployment]),
            )
        self.register_outputs({})
