"""Traffic rules one layer hands another: extra NetworkPolicy sources and destinations (e.g. the monitoring
namespace scraping a port, the API reaching a data store). The workloads layer turns them into NetworkPolicies."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ExtraIngress:
    """An additional allowed source, e.g. the monitoring namespace scraping a metrics port."""

    name: str
    pod_selector: dict[str, str]
    from_namespace: str
    ports: list[int]


@dataclass(frozen=True)
class ExtraEgress:
    """A destination the API may reach besides the browser pool, e.g. a data store (components/data)."""

    port: int
    end_port: int | None = None
    cidrs: list[str] = field(default_factory=list)
    namespace: str | None = None
    pod_selector: dict[str, str] | None = None
