"""What the data layer hands to the workloads: the API's store settings, its credentials and its egress rules."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from ..common.traffic import ExtraEgress

REDIS_PORT = 6379
POSTGRES_PORT = 5432


@dataclass(frozen=True)
class StoreWiring:
    env: dict[str, pulumi.Input[str]]
    """Endpoints (host, port, TLS, database): the API's `<api>-stores` ConfigMap."""
    secret_env: dict[str, pulumi.Input[str]]
    """Credentials, each from a Pulumi secret: added to the API's Secret (secretKeyRef, never in the ConfigMap)."""
    egress: list[ExtraEgress]
    """What the API's egress NetworkPolicy opens: an address range or in-cluster pods per store port."""
    service_account_annotations: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    """Cloud identity of the API (GKE: the Google service account IAM auth to Memorystore uses)."""
    outputs: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    """Stack outputs: the endpoints, never a credential."""
    after: list[pulumi.Resource] = field(default_factory=list)
    """What the API pods wait for (the stores and their users)."""


def secret(values: dict[str, str], key: str) -> pulumi.Output[str]:
    return pulumi.Output.secret(values[key])


@dataclass(frozen=True)
class ApiIdentity:
    """Who the stores admit: the API's namespace, Kubernetes service account, Service and pod selector."""

    namespace: str
    service_account: str
    service: str
    selector: dict[str, str]


@dataclass(frozen=True)
class StoreMonitoring:
    """Prometheus in the cluster (kube-prometheus-stack): where it runs, and the release whose CRDs the
    ServiceMonitors and PrometheusRules need."""

    namespace: str
    crd_release: pulumi.Resource
    dashboard_labels: dict[str, str]
    """What the chart's Grafana dashboard sidecar selects."""
    selected_labels: dict[str, str]
    """The labels of the chart's convention on ServiceMonitors and PrometheusRules (`release`)."""


@dataclass(frozen=True)
class StoreMesh:
    """Istio in the cluster: how the in-cluster stores join it (components/data/mesh.py)."""

    injection_labels: dict[str, str]
    pod_annotations: dict[str, str]
    """The sidecar's size (the same as the workloads')."""
    injector: list[pulumi.Resource]
    """istiod: its webhook injects the sidecars, so the store pods are created after it."""
    crd_releases: list[pulumi.Resource]
