"""Source ports for outbound NAT, sized from the browser sessions one node carries.

Every browser session browses the internet through the cloud's NAT. Google Cloud NAT hands each VM a fixed
block of source ports (64 by default, static allocation); a VM with dozens of sessions, each holding many
connections, runs out and new connections fail (`OUT_OF_RESOURCES` drops in the NAT log) while the node looks
healthy. With dynamic port allocation a VM starts at `minPortsPerVm` and grows up to `maxPortsPerVm`.

Assumption (stated, not measured): one browser session holds at most `PEAK_CONNECTIONS_PER_SESSION` = 256
connections at once. That is Chromium's per-profile cap on its socket pool (256 sockets; 6 per host), so a
session cannot exceed it over HTTP/1.1 and HTTP/2; `TYPICAL_CONNECTIONS_PER_SESSION` = 32 is a busy page's
working set and sets the ports a VM keeps without growing. A NAT source port is reused for distinct
destinations, so counting every connection as needing its own port errs on the safe side.

Cloud NAT limits (dynamic port allocation): `minPortsPerVm` a power of two >= 32, `maxPortsPerVm` a power of
two > `minPortsPerVm` and <= 65536; each NAT IP address has 64,512 ports, so one IP serves 64,512 / min ports
VMs (AUTO_ONLY allocation adds addresses as VMs appear, within the project's quota).

Pure Python; the stack config validation (`stack_config/egress.py`), the GKE component and the policy pack
(`gke-nat-ports-per-vm`) share it.
"""

from __future__ import annotations

from dataclasses import dataclass

PEAK_CONNECTIONS_PER_SESSION = 256
"""Chromium's per-profile socket-pool limit: the most connections one session holds at once."""
TYPICAL_CONNECTIONS_PER_SESSION = 32
"""A busy page's connections: the ports a VM keeps without growing its allocation."""

CLOUD_NAT_MIN_PORTS_FLOOR = 32
"""Dynamic port allocation: the smallest `minPortsPerVm`."""
CLOUD_NAT_MAX_PORTS_PER_VM = 65536
"""Dynamic port allocation: the largest `maxPortsPerVm` (also its default)."""
CLOUD_NAT_STATIC_DEFAULT_PORTS = 64
"""Static allocation without `minPortsPerVm`: every VM gets exactly this many."""
CLOUD_NAT_PORTS_PER_IP = 64512


class NatLimitError(ValueError):
    """The sessions on one node need more source ports than Cloud NAT gives a VM."""


@dataclass(frozen=True)
class NatPorts:
    """Cloud NAT's per-VM bounds for dynamic port allocation."""

    min_ports_per_vm: int
    max_ports_per_vm: int
    sessions_per_node: int

    @property
    def vms_per_nat_ip(self) -> int:
        return CLOUD_NAT_PORTS_PER_IP // self.min_ports_per_vm


def is_power_of_two(value: int) -> bool:
    return value > 0 and value & (value - 1) == 0


def next_power_of_two(value: int) -> int:
    return 1 << max(value - 1, 0).bit_length()


def ports_needed(sessions_per_node: int) -> int:
    """Source ports one VM needs at peak: every session at its connection cap."""
    return sessions_per_node * PEAK_CONNECTIONS_PER_SESSION


def cloud_nat_ports(sessions_per_node: int) -> NatPorts:
    """The dynamic-port-allocation bounds for a VM that carries `sessions_per_node` browser sessions."""
    needed = ports_needed(sessions_per_node)
    if needed > CLOUD_NAT_MAX_PORTS_PER_VM:
        raise NatLimitError(
            f"{sessions_per_node} sessions per node x {PEAK_CONNECTIONS_PER_SESSION} connections need {needed} source "
            f"ports per VM, more than Cloud NAT's {CLOUD_NAT_MAX_PORTS_PER_VM}; at most "
            f"{CLOUD_NAT_MAX_PORTS_PER_VM // PEAK_CONNECTIONS_PER_SESSION} sessions per node")
    maximum = max(next_power_of_two(needed), 2 * CLOUD_NAT_MIN_PORTS_FLOOR)
    minimum = max(next_power_of_two(sessions_per_node * TYPICAL_CONNECTIONS_PER_SESSION), CLOUD_NAT_MIN_PORTS_FLOOR)
    return NatPorts(min(minimum, maximum // 2), maximum, sessions_per_node)


def dynamic_bounds_problems(min_ports: int | None, max_ports: int | None) -> list[str]:
    """What the Cloud NAT API rejects in dynamic-port-allocation bounds (None: left to the API's default)."""
    problems: list[str] = []
    if min_ports is not None and (not is_power_of_two(min_ports) or min_ports < CLOUD_NAT_MIN_PORTS_FLOOR):
        problems.append(f"minPortsPerVm {min_ports} must be a power of two >= {CLOUD_NAT_MIN_PORTS_FLOOR}")
    if max_ports is not None:
        floor = min_ports if min_ports is not None else CLOUD_NAT_MIN_PORTS_FLOOR
        if not is_power_of_two(max_ports) or max_ports <= floor or max_ports > CLOUD_NAT_MAX_PORTS_PER_VM:
            problems.append(f"maxPortsPerVm {max_ports} must be a power of two above minPortsPerVm ({floor}) "
                            f"and at most {CLOUD_NAT_MAX_PORTS_PER_VM}")
    return problems
