"""Shared building blocks for the stack config models: strict camelCase models and Kubernetes quantities."""

from __future__ import annotations

import ipaddress
import re
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class ConfigFieldError(ValueError):
    """A cross-field problem that belongs to one key below the model that found it.

    Pydantic reports a model validator's error at the model's own path; the loader appends `path` so the
    message names the exact key the user has to change.
    """

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path


class StrictModel(BaseModel):
    """Base for every config object: camelCase keys as in the stack file, and no unknown keys.

    Rejecting unknown keys is what turns a typo such as `replicaz` into an error instead of a silently
    ignored setting that leaves the default in place.
    """

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        validate_default=True,
    )


# Identifier shapes shared by several config models.
CONFIG_KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
AWS_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$")
GCP_PROJECT_RE = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")

_BINARY_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_DECIMAL_SUFFIXES = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_MEMORY_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$")
_CPU_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m)?$")


def memory_bytes(quantity: str) -> int:
    """Bytes in a Kubernetes memory quantity such as `512Mi`, `4Gi` or `1G`."""
    match = _MEMORY_RE.match(quantity)
    if not match:
        raise ValueError(f"'{quantity}' is not a memory quantity; use a number with Ki, Mi, Gi or Ti (e.g. 512Mi, 4Gi)")
    number, suffix = match.groups()
    factor = _BINARY_SUFFIXES.get(suffix or "", _DECIMAL_SUFFIXES.get(suffix or "", 1))
    return int(Decimal(number) * factor)


def cpu_millicores(quantity: str) -> int:
    """Millicores in a Kubernetes CPU quantity such as `500m` or `2`."""
    match = _CPU_RE.match(quantity)
    if not match:
        raise ValueError(f"'{quantity}' is not a CPU quantity; use cores (e.g. 2, 0.5) or millicores (e.g. 500m)")
    number, milli = match.groups()
    return int(Decimal(number) if milli else Decimal(number) * 1000)


def _check_memory(value: str) -> str:
    if memory_bytes(value) <= 0:
        raise ValueError("must be more than zero")
    return value


def _check_cpu(value: str) -> str:
    if cpu_millicores(value) <= 0:
        raise ValueError("must be more than zero")
    return value


MemoryQuantity = Annotated[str, AfterValidator(_check_memory)]


def _check_aws_region(value: str) -> str:
    if not AWS_REGION_RE.match(value):
        raise ValueError(f"'{value}' is not an AWS region name (e.g. us-east-1)")
    return value


def _check_gcp_project(value: str) -> str:
    if not GCP_PROJECT_RE.match(value):
        raise ValueError(f"'{value}' is not a Google Cloud project ID (6-30 lowercase letters, digits, '-')")
    return value


AwsRegion = Annotated[str, AfterValidator(_check_aws_region)]
GcpProject = Annotated[str, AfterValidator(_check_gcp_project)]
CpuQuantity = Annotated[str, AfterValidator(_check_cpu)]


def format_memory(num_bytes: int) -> str:
    """The largest binary unit that expresses `num_bytes` exactly, as Kubernetes prints it."""
    for suffix, factor in sorted(_BINARY_SUFFIXES.items(), key=lambda item: -item[1]):
        if num_bytes % factor == 0:
            return f"{num_bytes // factor}{suffix}"
    return str(num_bytes)


def format_cpu(millicores: int) -> str:
    return str(millicores // 1000) if millicores % 1000 == 0 else f"{millicores}m"


def cidr_block(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """`value` as a network, or the config error every CIDR key gives (host bits set count as an error)."""
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError as error:
        raise ValueError(f"'{value}' is not a CIDR block: {error}") from None
