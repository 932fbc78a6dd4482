"""What a pod costs the namespace quota beyond its own container, declared by the layer that adds it (the mesh's
sidecar) and counted by the workloads layer."""

from __future__ import annotations

from dataclasses import dataclass

from stack_config.workloads import ComputeResources


@dataclass(frozen=True)
class ExtraPodCost:
    """Per-pod resources outside the workload's own container, e.g. a mesh sidecar."""

    requests: ComputeResources
    limits: ComputeResources
