"""kind: the in-cluster stores inside the mesh, so that only the API's identity reaches them.

An AuthorizationPolicy is enforced by the Envoy sidecar of the pod it selects: in a namespace without sidecars it
does nothing at all. So when the mesh is on, the data namespace carries the injection label (and the store pods
are created after istiod, whose webhook injects them), the namespace is STRICT mTLS (a plaintext client has no
identity and is refused), and then:
- `allow-nothing` denies every request no rule below allows;
- `valkey-from-api` / `postgres-from-api`: the API's service-account principal, on the store's port only (TCP:
  the Service ports are named `tcp`, so Istio never sniffs them);
- `metrics-from-prometheus`: GET /metrics on the exporters' port. Prometheus runs without a sidecar, so its
  scrapes are plaintext and carry no principal or namespace to match: that port is a PERMISSIVE exception, and the
  NetworkPolicy admits only the monitoring namespace to it (the same arrangement as the workloads' metrics ports).
The policy `mesh-authz-needs-sidecars` (policy/browser_platform_policies/store_alerts.py) rejects an
AuthorizationPolicy in a namespace that is not injected, or whose pods opt out of injection.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from ..common.labels import PART_OF, selector_labels
from ..services.mesh import principal
from .wiring import ApiIdentity


@dataclass(frozen=True)
class StorePort:
    component: str
    port: int
    metrics_port: int | None
    """The exporter's port, when monitoring is on."""


@dataclass(frozen=True)
class DataMeshPoliciesArgs:
    namespace: str
    clients: list[ApiIdentity]
    stores: list[StorePort]
    crd_releases: list[pulumi.Resource]
    after: list[pulumi.Resource]


class DataMeshPolicies(pulumi.ComponentResource):
    def __init__(self, name: str, args: DataMeshPoliciesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:data:DataMeshPolicies", name, None, opts)
        labels = {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": "pulumi"}
        after = pulumi.ResourceOptions(parent=self, depends_on=[*args.crd_releases, *args.after])

        def custom(kind: str, object_name: str, spec: dict[str, object]) -> None:
            k8s.apiextensions.CustomResource(
                f"{name}-{kind.lower()}-{object_name}", api_version="security.istio.io/v1", kind=kind,
                metadata=ObjectMetaArgs(name=object_name, namespace=args.namespace, labels=labels),
                spec=spec, opts=after)

        custom("PeerAuthentication", "default", {"mtls": {"mode": "STRICT"}})
        custom("AuthorizationPolicy", "allow-nothing", {})
        principals = [principal(client.namespace, client.service_account) for client in args.clients]
        for store in args.stores:
            custom("AuthorizationPolicy", f"{store.component}-from-api", {
                "selector": {"matchLabels": selector_labels(store.component)},
                "action": "ALLOW",
                "rules": [{"from": [{"source": {"principals": principals}}],
                           "to": [{"operation": {"ports": [str(store.port)]}}]}],
            })
            if store.metrics_port is not None:
                custom("PeerAuthentication", f"{store.component}-metrics-scrape", {
                    "selector": {"matchLabels": selector_labels(store.component)},
                    "mtls": {"mode": "STRICT"},
                    "portLevelMtls": {str(store.metrics_port): {"mode": "PERMISSIVE"}},
                })
        metrics_ports = sorted(str(s.metrics_port) for s in args.stores if s.metrics_port is not None)
        if metrics_ports:
            custom("AuthorizationPolicy", "metrics-from-prometheus", {
                "action": "ALLOW",
                "rules": [{"to": [{"operation": {"ports": metrics_ports, "methods": ["GET"], "paths": ["/metrics"]}}]}],
            })
        self.register_outputs({})
