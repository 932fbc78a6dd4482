"""The seeds' pod-scaling behaviour (fast up, slow down), shared by the HPAs (workloads) and KEDA's ScaledObjects."""

from __future__ import annotations

import copy
from typing import Any

SCALING_BEHAVIOR: dict[str, Any] = {
    # Scale up at once: double, or +2 pods, every 30 s, whichever is more.
    "scaleUp": {
        "stabilizationWindowSeconds": 0,
        "selectPolicy": "Max",
        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 30},
                     {"type": "Pods", "value": 2, "periodSeconds": 30}],
    },
    # Scale down after 5 minutes of lower demand, by half or one pod a minute, whichever is less.
    "scaleDown": {
        "stabilizationWindowSeconds": 300,
        "selectPolicy": "Min",
        "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60},
                     {"type": "Pods", "value": 1, "periodSeconds": 60}],
    },
}
"""The seeds' fast-up, slow-down behaviour in the autoscaling/v2 shape, shared by the HPAs and KEDA's HPA."""


def scaling_behavior_spec() -> dict[str, Any]:
    """The behaviour as a plain object, for custom resources (KEDA's horizontalPodAutoscalerConfig.behavior)."""
    return copy.deepcopy(SCALING_BEHAVIOR)
