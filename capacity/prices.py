"""The machine types the stacks size with: shape, pod limit and list prices, as of `PRICES_AS_OF`.

Prices are on-demand list prices in USD per hour for Linux in us-east-1 (AWS) and us-central1 (GCP). Spot
prices move every few minutes; the figures here are indicative averages for the same regions, rounded, and
exist so that reports can show the order of magnitude of the saving. Refresh both before using the numbers
for a budget (AWS: `aws pricing get-products` / the EC2 pricing page and `aws ec2 describe-spot-price-history`;
GCP: the Compute Engine "VM instance pricing" page), then update `PRICES_AS_OF`.

`max_pods` is the kubelet pod limit each provider configures by default: on EKS the VPC CNI's ENI formula
(`ENIs x (IPv4 addresses per ENI - 1) + 2`, the values of amazon-eks-ami's eni-max-pods.txt, without prefix
delegation); on GKE Standard and kind the kubelet default of 110.

Memory is the nominal size of the machine type (GiB). The kernel keeps a little of it for itself, which this
table does not subtract; the reserves in `capacity.model` are what Kubernetes itself keeps back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PRICES_AS_OF = "2026-11-01"
"""When the prices below were last checked against the providers' list prices."""

PRICE_REGIONS = {"aws": "us-east-1", "gcp": "us-central1"}
HOURS_PER_MONTH = 730
"""The hours in an average month (8,760 / 12), the figure cloud price pages use."""

Cloud = Literal["aws", "gcp", "kind", "existing"]
"""`existing`: a node shape declared for a cluster the user runs (stack_config/cluster.py NodeShape), never in the table."""


@dataclass(frozen=True)
class InstanceType:
    name: str
    cloud: Cloud
    vcpu: int
    memory_gib: float
    on_demand_hourly: float
    spot_hourly: float
    max_pods: int
    allocatable_cpu_m: int | None = None
    """Declared shapes only: the node's allocatable CPU in millicores (vcpu is then its rounded-up core count)."""


def _aws(name: str, vcpu: int, memory_gib: float, on_demand: float, spot: float, max_pods: int) -> InstanceType:
    return InstanceType(name, "aws", vcpu, memory_gib, on_demand, spot, max_pods)


def _gcp(name: str, vcpu: int, memory_gib: float, on_demand: float, spot: float) -> InstanceType:
    return InstanceType(name, "gcp", vcpu, memory_gib, on_demand, spot, 110)


_TYPES = [
    # AWS general purpose (4 GiB per vCPU)
    _aws("m6i.xlarge", 4, 16, 0.192, 0.0760, 58),
    _aws("m6i.2xlarge", 8, 32, 0.384, 0.1520, 58),
    _aws("m6i.4xlarge", 16, 64, 0.768, 0.3040, 234),
    _aws("m7i.xlarge", 4, 16, 0.2016, 0.0850, 58),
    _aws("m7i.2xlarge", 8, 32, 0.4032, 0.1700, 58),
    _aws("m7i.4xlarge", 16, 64, 0.8064, 0.3400, 234),
    # AWS compute optimized (2 GiB per vCPU)
    _aws("c6i.xlarge", 4, 8, 0.170, 0.0680, 58),
    _aws("c6i.2xlarge", 8, 16, 0.340, 0.1360, 58),
    _aws("c6i.4xlarge", 16, 32, 0.680, 0.2720, 234),
    _aws("c7i.xlarge", 4, 8, 0.1785, 0.0720, 58),
    _aws("c7i.2xlarge", 8, 16, 0.357, 0.1440, 58),
    _aws("c7i.4xlarge", 16, 32, 0.714, 0.2880, 234),
    # AWS memory optimized (8 GiB per vCPU)
    _aws("r6i.2xlarge", 8, 64, 0.504, 0.1900, 58),
    # The seeds' reference node (Scaling Tiers, Cost Analysis), kept to compare with their figures.
    _aws("c5.2xlarge", 8, 16, 0.340, 0.1300, 58),
    # GCP
    _gcp("e2-standard-4", 4, 16, 0.134012, 0.0402),
    _gcp("e2-standard-8", 8, 32, 0.268024, 0.0804),
    _gcp("n2-standard-4", 4, 16, 0.194236, 0.0470),
    _gcp("n2-standard-8", 8, 32, 0.388472, 0.0940),
    _gcp("n2-standard-16", 16, 64, 0.776944, 0.1880),
    _gcp("c3-standard-8", 8, 32, 0.362880, 0.0870),
    # The seeds' GKE reference node.
    _gcp("n1-standard-8", 8, 30, 0.379998, 0.0800),
    # kind: every node container sees the whole Docker host. Assumed host: a laptop giving Docker 4 CPUs and
    # 8 GiB (Docker Desktop's common setting). Free, and "spot" means nothing here.
    InstanceType("kind", "kind", 4, 8, 0.0, 0.0, 110),
]

INSTANCE_TYPES: dict[str, InstanceType] = {t.name: t for t in _TYPES}

CONTROL_PLANE_HOURLY = {"eks": 0.10, "gke": 0.10, "kind": 0.0, "existing": 0.0}
"""Per-cluster management fee (EKS standard support; GKE Standard, before the free-tier credit)."""


class UnknownInstanceTypeError(KeyError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"'{self.name}' is not in the capacity model's table; known: {', '.join(sorted(INSTANCE_TYPES))}"


def instance_type(name: str) -> InstanceType:
    """The table entry for `name`, or `UnknownInstanceTypeError` (a KeyError) naming the known types."""
    try:
        return INSTANCE_TYPES[name]
    except KeyError:
        raise UnknownInstanceTypeError(name) from None
