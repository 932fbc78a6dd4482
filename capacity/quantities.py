"""Kubernetes quantities and the plain shapes the capacity model works with: `Resources` (CPU millicores and memory
bytes), `DaemonSet` and `PodGroup`. No import of the rest of `capacity`, so `capacity.platform_services` (which
the model imports) can use them too."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

Provider = Literal["eks", "gke", "kind", "existing"]
"""Where the cluster runs; also the platform's cluster flavor (components/clusters/handle.py: ClusterFlavor)."""

MI = 2**20
GI = 2**30

_MEMORY_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$")
_CPU_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m)?$")
_MEMORY_FACTORS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def parse_cpu(quantity: str | int | float) -> int:
    """Millicores in a Kubernetes CPU quantity (`500m`, `2`, `0.5`); numbers are cores."""
    if isinstance(quantity, int | float):
        return int(Decimal(str(quantity)) * 1000)
    match = _CPU_RE.match(quantity.strip())
    if not match:
        raise ValueError(f"'{quantity}' is not a CPU quantity")
    number, milli = match.groups()
    return int(Decimal(number) if milli else Decimal(number) * 1000)


def parse_memory(quantity: str | int) -> int:
    """Bytes in a Kubernetes memory quantity (`512Mi`, `4Gi`, `1G`); numbers are bytes."""
    if isinstance(quantity, int):
        return quantity
    match = _MEMORY_RE.match(quantity.strip())
    if not match:
        raise ValueError(f"'{quantity}' is not a memory quantity")
    number, suffix = match.groups()
    return int(Decimal(number) * _MEMORY_FACTORS.get(suffix or "", 1))


@dataclass(frozen=True)
class Resources:
    """CPU in millicores and memory in bytes: a pod's requests, a node's capacity, a reserve."""

    cpu_m: int
    memory_bytes: int

    @classmethod
    def of(cls, cpu: str | int | float, memory: str | int) -> Resources:
        """From Kubernetes quantities: `Resources.of("500m", "512Mi")`."""
        return cls(parse_cpu(cpu), parse_memory(memory))

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.cpu_m + other.cpu_m, self.memory_bytes + other.memory_bytes)

    def __sub__(self, other: Resources) -> Resources:
        return Resources(self.cpu_m - other.cpu_m, self.memory_bytes - other.memory_bytes)

    def times(self, count: int) -> Resources:
        return Resources(self.cpu_m * count, self.memory_bytes * count)

    @property
    def memory_mi(self) -> float:
        return self.memory_bytes / MI

    def __str__(self) -> str:
        return f"{self.cpu_m}m CPU / {self.memory_mi:.0f}Mi"


ZERO = Resources(0, 0)


@dataclass(frozen=True)
class DaemonSet:
    name: str
    requests: Resources


@dataclass(frozen=True)
class PodGroup:
    """A workload as the model sees it: the requests of its own containers (no sidecar), replica bounds and,
    for the browser pool, how many concurrent sessions one pod serves."""

    name: str
    requests: Resources
    min_replicas: int
    max_replicas: int
    sessions_per_pod: int = 0
