"""Range containment (capacity/networks.py): one implementation for the stack config (pod, Service and store ranges
inside network.internalCidrs) and the policy pack (a firewall source range covering the GKE control plane)."""

from __future__ import annotations

import ipaddress

import pytest

from capacity import networks
from policy.browser_platform_policies import runtime_reach
from stack_config import data

CASES = [
    # (cidr, ranges, inside)
    ("10.244.0.0/16", ["10.0.0.0/8"], True),
    ("10.0.0.0/8", ["10.0.0.0/8"], True),  # a range covers itself
    ("10.0.0.0/7", ["10.0.0.0/8"], False),  # larger than the range
    ("172.32.0.0/16", ["172.16.0.0/12"], False),  # just outside
    ("192.168.1.0/24", ["10.0.0.0/8", "192.168.0.0/16"], True),  # any of several
    ("172.16.0.16/28", [], False),
    ("fd00:1::/64", ["fd00::/8"], True),
    ("fd00:1::/64", ["10.0.0.0/8", "0.0.0.0/0"], False),  # versions never contain each other
    ("10.1.0.0/16", ["::/0"], False),
]


@pytest.mark.parametrize(("cidr", "ranges", "inside"), CASES)
def test_both_modes_agree_on_valid_ranges(cidr: str, ranges: list[str], inside: bool) -> None:
    assert networks.inside_ranges(cidr, ranges) is inside
    assert networks.inside_ranges(cidr, ranges, lenient=True) is inside
    assert networks.inside_ranges(ipaddress.ip_network(cidr), ranges, lenient=True) is inside


def test_strict_rejects_what_lenient_reads() -> None:
    """The config's values are validated CIDRs, so a malformed one is a bug to surface; the pack reads whatever
    was registered: host bits are masked and an unparsable range is skipped."""
    with pytest.raises(ValueError):
        networks.inside_ranges("10.0.0.1/8", ["10.0.0.0/8"])
    with pytest.raises(ValueError):
        networks.inside_ranges("10.0.0.0/16", ["not-a-cidr", "10.0.0.0/8"])
    assert networks.inside_ranges("10.0.0.1/16", ["not-a-cidr", "10.0.0.5/8"], lenient=True) is True


def test_the_config_and_the_pack_use_the_one_implementation() -> None:
    assert data.inside_ranges is networks.inside_ranges
    assert runtime_reach.inside_ranges is networks.inside_ranges
