"""Pod autoscalers: one per Deployment, an HPA (autoscaling/v2) with the seeds' fast-up, slow-down behaviour."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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

from ..common.labels import standard_labels
from ..common.scaling import SCALING_BEHAVIOR


@dataclass(frozen=True)
class ScaleTarget:
    component: str
    deployment_name: str
    bounds: Autoscaling
    deployment: pulumi.Resource


def _rules(rules: dict[str, Any]) -> HPAScalingRulesArgs:
    return HPAScalingRulesArgs(
        stabilization_window_seconds=rules["stabilizationWindowSeconds"],
        select_policy=rules["selectPolicy"],
        policies=[HPAScalingPolicyArgs(type=p["type"], value=p["value"], period_seconds=p["periodSeconds"])
                  for p in rules["policies"]],
    )


def scaling_behavior() -> HorizontalPodAutoscalerBehaviorArgs:
    """Scale up at once (double, or +2 pods, every 30 s); scale down after 5 minutes, by half or one pod a minute."""
    return HorizontalPodAutoscalerBehaviorArgs(scale_up=_rules(SCALING_BEHAVIOR["scaleUp"]),
                                               scale_down=_rules(SCALING_BEHAVIOR["scaleDown"]))


def _utilization(resource: str, percent: int) -> MetricSpecArgs:
    return MetricSpecArgs(type="Resource", resource=ResourceMetricSourceArgs(
        name=resource, target=MetricTargetArgs(type="Utilization", average_utilization=percent)))


@dataclass(frozen=True)
class AutoscalingArgs:
    namespace: pulumi.Input[str]
    hpa_targets: list[ScaleTarget]
    external: frozenset[str] = frozenset()
    """Components another autoscaler (KEDA) drives: they get no HPA here, so each target has exactly one."""


class PodAutoscaling(pulumi.ComponentResource):
    def __init__(self, name: str, args: AutoscalingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:autoscaling:PodAutoscaling", name, None, opts)
        for target in args.hpa_targets:
            if target.component in args.external:
                continue
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
