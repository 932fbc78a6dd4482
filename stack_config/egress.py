"""Outbound NAT seen through the capacity model: how many browser sessions one node carries, and the Cloud NAT
source ports per VM that follow (`capacity/nat.py` states the connections-per-session assumption).

`PlatformConfig` rejects a GKE config whose browser nodes would need more ports than Cloud NAT gives one VM;
components/platform.py hands `gke_nat_ports(config)` to the GKE cluster component.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from capacity import INSTANCE_TYPES, Resources, node_allocatable, pod_requests, pods_per_node
from capacity.nat import PEAK_CONNECTIONS_PER_SESSION, NatLimitError, NatPorts, cloud_nat_ports

from .base import ConfigFieldError
from .sizing import overheads_for

if TYPE_CHECKING:
    from .platform import PlatformConfig


def browser_sessions_per_node(config: PlatformConfig) -> tuple[int, int, str]:
    """(sessions on the fullest node of any pool a browser pool may use, that pool's index, the browser workload).

    A pool whose type the capacity model does not know is a config error: its nodes' NAT ports cannot be sized.
    """
    overheads = overheads_for(config)
    best = (0, 0, "")
    for name, browser in config.browser_pools():
        requests = pod_requests(Resources.of(browser.resources.requests.cpu, browser.resources.requests.memory),
                                overheads)
        for index, pool in enumerate(config.cluster.node_pools):
            if not pool.matches(browser.node_selector):
                continue
            type_name = pool.instance_types[0] if pool.instance_types else ""
            if type_name not in INSTANCE_TYPES:
                raise ConfigFieldError(
                    ("cluster", "nodePools", index, "instanceTypes", 0),
                    f"pool '{pool.name}' carries browser sessions on '{type_name}', which the capacity model does "
                    "not know, so Cloud NAT's ports per VM cannot be sized; add the type to capacity/prices.py",
                )
            node = node_allocatable(type_name, config.cluster.kind, overheads)
            sessions = pods_per_node(requests, node) * browser.sessions_per_pod
            best = max(best, (sessions, index, name))
    return best


def gke_nat_ports(config: PlatformConfig) -> NatPorts:
    """Cloud NAT's dynamic port allocation bounds for this GKE config (ConfigFieldError when out of limits)."""
    sessions, index, name = browser_sessions_per_node(config)
    try:
        return cloud_nat_ports(sessions)
    except NatLimitError as error:
        pool = config.cluster.node_pools[index]
        per_pod = dict(config.browser_pools())[name].sessions_per_pod
        raise ConfigFieldError(
            ("workloads", name, "sessionsPerPod"),
            f"{error} ({sessions} = pods per {pool.instance_types[0]} node of pool '{pool.name}' x sessionsPerPod "
            f"{per_pod}; at most {PEAK_CONNECTIONS_PER_SESSION} connections per "
            "session assumed, capacity/nat.py); lower sessionsPerPod or use a smaller instance type",
        ) from None
