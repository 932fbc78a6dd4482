"""The browser-platform CrossGuard policies: `all_policies()` is what `policy/__main__.py` puts in the pack."""

from __future__ import annotations

from pulumi_policy import Policy

from . import (
    cloud,
    data_stores,
    existing_cluster,
    kiali,
    kubernetes,
    observability,
    peers,
    priorities,
    runtime_cluster,
    runtime_reach,
    runtime_services,
    runtime_sessions,
    stack,
    store_alerts,
    workload_roles,
)
from .edge import policies as edge_policies

PACK_NAME = "browser-platform"


def all_policies() -> list[Policy]:
    policies: list[Policy] = [*kubernetes.policies(), *cloud.policies(), *stack.policies()]
    policies += runtime_cluster.policies()
    policies += runtime_sessions.policies()
    policies += runtime_reach.policies()
    policies += runtime_services.policies()
    policies += peers.policies()
    policies += data_stores.policies()
    policies += workload_roles.policies()
    policies += existing_cluster.policies()
    policies += edge_policies()
    policies += store_alerts.policies()
    policies += priorities.policies()
    policies += observability.policies()
    policies += kiali.policies()
    names = [p.name for p in policies]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"duplicate policy names: {duplicates}")
    return policies
