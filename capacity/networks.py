"""Address-range containment, shared by the stack config validation (`stack_config/data.py`, `platform.py`: a pod,
Service or store range must lie inside `network.internalCidrs`) and the policy pack (`gke-control-plane-reach`:
does a firewall's source range cover the control plane's range). Pure Python, like the rest of `capacity`, which
the pack imports from the repository root (policy/__main__.py).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def network_within(inner: Network, outer: Network) -> bool:
    """Whether `inner` lies inside `outer`; ranges of different IP versions never contain each other."""
    if isinstance(inner, ipaddress.IPv4Network) and isinstance(outer, ipaddress.IPv4Network):
        return inner.subnet_of(outer)
    if isinstance(inner, ipaddress.IPv6Network) and isinstance(outer, ipaddress.IPv6Network):
        return inner.subnet_of(outer)
    return False


def inside_ranges(cidr: str | Network, ranges: Iterable[str], *, lenient: bool = False) -> bool:
    """Whether `cidr` lies inside one of `ranges` (of the same IP version).

    Strict (the validated stack config): every value must be a CIDR without host bits, else ValueError. Lenient
    (the policy pack, reading whatever a program registered): host bits are masked and a range that is not a CIDR
    is skipped."""
    network = cidr if isinstance(cidr, Network) else ipaddress.ip_network(cidr, strict=not lenient)
    for other in ranges:
        try:
            outer = ipaddress.ip_network(other, strict=not lenient)
        except ValueError:
            if not lenient:
                raise
            continue
        if network_within(network, outer):
            return True
    return False
