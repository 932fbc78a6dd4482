"""The recommended `app.kubernetes.io/*` labels, and the smaller set that selects a workload's pods."""

from __future__ import annotations

PART_OF = "browser-platform"


def selector_labels(component: str) -> dict[str, str]:
    """Immutable in a Deployment's selector, so it holds only what never changes for a workload."""
    return {"app.kubernetes.io/name": component, "app.kubernetes.io/part-of": PART_OF}


ROLE_LABEL = "app.kubernetes.io/component"
"""Carries a workload's role (api, browser, worker) on its pods and objects: policies select roles by it, never by
a workload's name."""


def standard_labels(component: str, version: str | None = None, role: str | None = None) -> dict[str, str]:
    labels = {
        **selector_labels(component),
        ROLE_LABEL: role or component,
        "app.kubernetes.io/managed-by": "pulumi",
    }
    if version:
        labels["app.kubernetes.io/version"] = version
    return labels
