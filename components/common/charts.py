"""Every Helm chart the platform installs, pinned: the one place to bump a version.

Versions were checked against the projects' published releases (release notes, chart repository tags) when
they were pinned; the chart repositories themselves are not reachable from the build machines, so a bump
must be checked by hand (`helm search repo <repo>/<chart> --versions`) and run through `pulumi preview`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s


@dataclass(frozen=True)
class HelmChart:
    chart: str
    version: str
    repo: str


ISTIO_VERSION = "1.30.5"
"""base, cni, istiod and gateway always move together. Must stay >= 1.30.1 (consistent-hash fix, istio#60312)."""

ISTIO_REPO = "https://istio-release.storage.googleapis.com/charts"

METRICS_SERVER = HelmChart("metrics-server", "3.13.1", "https://kubernetes-sigs.github.io/metrics-server")  # app v0.8.1
KEDA = HelmChart("keda", "2.21.1", "https://kedacore.github.io/charts")
CERT_MANAGER = HelmChart("cert-manager", "v1.21.2", "https://charts.jetstack.io")
KUBE_PROMETHEUS_STACK = HelmChart(
    "kube-prometheus-stack", "85.1.3", "https://prometheus-community.github.io/helm-charts",
)
"""Its monitoring.coreos.com CRDs move with it: the chart's CRD upgrade Job (components/services/monitoring.py,
`crds.upgradeJob`) applies the CRDs of this version before every upgrade, which Helm's `crds/` never does."""
CRD_UPGRADE_BUSYBOX_TAG = "1.37.0"
"""busybox of kube-prometheus-stack's CRD upgrade Job (it only unpacks the CRD bundle); the chart's default is
`latest`, which would change under a running stack."""


def istio(chart: str, version: str | None = None) -> HelmChart:
    """One of Istio's charts (base, cni, istiod, gateway) at the pinned (or an overriding) release."""
    return HelmChart(chart, version or ISTIO_VERSION, ISTIO_REPO)


ALL_PINNED = {
    "metrics-server": METRICS_SERVER,
    "keda": KEDA,
    "istio-base": istio("base"),
    "istio-cni": istio("cni"),
    "istiod": istio("istiod"),
    "istio-gateway": istio("gateway"),
    "cert-manager": CERT_MANAGER,
    "kube-prometheus-stack": KUBE_PROMETHEUS_STACK,
}


def helm_release(
    resource_name: str,
    chart: HelmChart,
    *,
    namespace: str,
    values: dict[str, Any],
    opts: pulumi.ResourceOptions,
    release_name: str | None = None,
    timeout_seconds: int = 600,
) -> k8s.helm.v3.Release:
    """A pinned chart as a Helm release that rolls itself back if it does not become ready.

    The release name is explicit (Pulumi would otherwise add a random suffix), because other objects refer to
    what the chart names after it: Services, ServiceAccounts, the gateway's `istio:` label.
    """
    return k8s.helm.v3.Release(
        resource_name,
        name=release_name or chart.chart,
        chart=chart.chart,
        version=chart.version,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo),
        namespace=namespace,
        create_namespace=False,
        values=values,
        atomic=True,
        cleanup_on_fail=True,
        timeout=timeout_seconds,
        max_history=10,
        opts=opts,
    )


POD_SECURITY_LEVELS = ("privileged", "baseline", "restricted")
POD_SECURITY_MODES = ("enforce", "audit", "warn")


def pod_security_labels(level: str) -> dict[str, str]:
    """`pod-security.kubernetes.io/{enforce,audit,warn}: <level>`."""
    return {f"pod-security.kubernetes.io/{mode}": level for mode in POD_SECURITY_MODES}


def system_namespace(
    resource_name: str, name: str, *, pod_security: str, parent: pulumi.Resource, labels: dict[str, str] | None = None,
) -> k8s.core.v1.Namespace:
    """A namespace for an add-on, with its Pod Security level stated (not left to the cluster default): the same
    level enforced, audited and warned about, so what the audit log and `kubectl` warnings report is exactly
    what admission rejects."""
    if pod_security not in POD_SECURITY_LEVELS:
        raise ValueError(f"pod_security must be one of {', '.join(POD_SECURITY_LEVELS)}, got '{pod_security}'")
    return k8s.core.v1.Namespace(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, labels={
            **pod_security_labels(pod_security),
            "app.kubernetes.io/part-of": "browser-platform",
            "app.kubernetes.io/managed-by": "pulumi",
            **(labels or {}),
        }),
        opts=pulumi.ResourceOptions(parent=parent),
    )
