"""Which node pools a pod lands on: the taints it must tolerate for a node selector, shared by the workloads and
the in-cluster data stores."""

from __future__ import annotations

from stack_config.cluster import NodePool, Taint


def tolerations_for(selector: dict[str, str], pools: list[NodePool]) -> list[Taint]:
    """The taints of every pool the selector matches: tolerating them is what lets the pods land there."""
    seen: dict[tuple[str, str, str], Taint] = {}
    for pool in pools:
        if pool.matches(selector):
            for taint in pool.taints:
                seen.setdefault((taint.key, taint.value, taint.effect), taint)
    return list(seen.values())
