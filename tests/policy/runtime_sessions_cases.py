"""Violating cases of the browser-session policies (policy/browser_platform_policies/runtime_sessions.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from offline.harness import RecordedResource

from .cases import Case, edit, si

SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"


def template_annotations(resource: RecordedResource) -> dict[str, Any]:
    annotations: dict[str, Any] = resource.inputs["spec"]["template"]["metadata"]["annotations"]
    return annotations


def make_evictable(resource: RecordedResource) -> None:
    template_annotations(resource).pop(SAFE_TO_EVICT)


def autoscaler_grace(seconds: float) -> Callable[[RecordedResource], None]:
    def change(release: RecordedResource) -> None:
        release.inputs["values"]["extraArgs"]["max-graceful-termination-sec"] = seconds
    return change


RUNTIME_SESSIONS_CASES: list[Case] = [
    Case("prod-browser-evictable", "browser-scale-down-eviction",
         edit("apps/v1:Deployment", "browser-deployment", make_evictable, analyze=False),
         "evicts it mid-session and holds the node up to 3630s", stack="prod"),
    Case("prod-autoscaler-default-grace", "browser-scale-down-eviction",
         edit("helm.sh/v3:Release", "cluster-autoscaler", autoscaler_grace(600.0), analyze=False),
         "kills any pod it evicts after 600s", stack="prod"),
    Case("prod-gcp-browser-evictable", "browser-scale-down-eviction",
         edit("apps/v1:Deployment", "browser-deployment", make_evictable, analyze=False),
         "GKE's cluster autoscaler (at most 600s per pod on scale-down) scales its node down without waiting for "
         "them: it kills it after 600s", stack="prod-gcp"),
    Case("prod-mixed-shapes", "node-group-one-shape",
         edit("aws:eks/nodeGroup:NodeGroup", "browser", si("instanceTypes", ["c7i.2xlarge", "m7i.2xlarge"])),
         "m7i.2xlarge (8 vCPU / 32 GiB)", stack="prod"),
]
