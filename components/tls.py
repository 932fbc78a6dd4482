"""cert-manager, one ClusterIssuer, and the certificate the ingress gateway serves for the public host.

- kind: a selfSigned ClusterIssuer (nothing on the internet can reach the cluster to validate a domain).
- clouds: Let's Encrypt (ACME), solved by HTTP-01 through the Istio ingress gateway (cert-manager's Ingress
  solver with class `istio`) or by DNS-01 (Route 53 on EKS, Cloud DNS on GKE).
The Certificate lives in the gateway's namespace: Istio reads a Gateway's `credentialName` secret from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from stack_config.addons import CloudDnsSolver, Http01Solver, Route53Solver, TlsSettings

from . import charts
from .labels import PART_OF

CERT_MANAGER_NAMESPACE = "cert-manager"
GATEWAY_TLS_SECRET = "gateway-tls"
LETSENCRYPT = {
    False: "https://acme-v02.api.letsencrypt.org/directory",
    True: "https://acme-staging-v02.api.letsencrypt.org/directory",
}


def issuer_name(tls: TlsSettings) -> str:
    if tls.issuer == "selfSigned":
        return "selfsigned"
    return "letsencrypt-staging" if tls.staging else "letsencrypt"


def solver_spec(solver: Http01Solver | Route53Solver | CloudDnsSolver) -> dict[str, object]:
    if isinstance(solver, Route53Solver):
        route53: dict[str, object] = {"region": solver.region}
        if solver.hosted_zone_id:
            route53["hostedZoneID"] = solver.hosted_zone_id
        return {"dns01": {"route53": route53}}
    if isinstance(solver, CloudDnsSolver):
        return {"dns01": {"cloudDNS": {"project": solver.project}}}
    return {"http01": {"ingress": {"class": "istio"}}}


def issuer_spec(tls: TlsSettings) -> dict[str, object]:
    if tls.issuer == "selfSigned":
        return {"selfSigned": {}}
    return {"acme": {
        "server": LETSENCRYPT[tls.staging],
        "email": tls.email,
        "privateKeySecretRef": {"name": f"{issuer_name(tls)}-account-key"},
        "solvers": [solver_spec(tls.solver)],
    }}


def cert_manager_values(tls: TlsSettings, highly_available: bool) -> dict[str, object]:
    annotations: dict[str, str] = {}
    solver = tls.solver
    if tls.issuer == "letsencrypt" and isinstance(solver, Route53Solver) and solver.role_arn:
        annotations["eks.amazonaws.com/role-arn"] = solver.role_arn
    if tls.issuer == "letsencrypt" and isinstance(solver, CloudDnsSolver) and solver.gcp_service_account:
        annotations["iam.gke.io/gcp-service-account"] = solver.gcp_service_account
    replicas = 2 if highly_available else 1
    return {
        "crds": {"enabled": True, "keep": True},  # keep: uninstalling the chart must not delete every Certificate
        "replicaCount": replicas,
        "webhook": {"replicaCount": replicas},
        "podDisruptionBudget": {"enabled": highly_available},
        "serviceAccount": {"annotations": annotations},
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
    }


@dataclass(frozen=True)
class TlsArgs:
    tls: TlsSettings
    host: str
    gateway_namespace: str
    highly_available: bool
    after: list[pulumi.Resource] = field(default_factory=list)
    """What the Certificate waits for besides cert-manager: the gateway namespace (and the gateway, for HTTP-01)."""
    secret_name: str = GATEWAY_TLS_SECRET


class Tls(pulumi.ComponentResource):
    release: k8s.helm.v3.Release
    secret_name: str

    def __init__(self, name: str, args: TlsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:addons:Tls", name, None, opts)
        labels = {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": "pulumi"}
        namespace = charts.system_namespace(f"{name}-namespace", CERT_MANAGER_NAMESPACE, pod_security="restricted",
                                            parent=self)
        self.release = charts.helm_release(
            f"{name}-cert-manager", charts.CERT_MANAGER, namespace=CERT_MANAGER_NAMESPACE,
            values=cert_manager_values(args.tls, args.highly_available),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]),
        )
        issuer = k8s.apiextensions.CustomResource(
            f"{name}-cluster-issuer",
            api_version="cert-manager.io/v1",
            kind="ClusterIssuer",
            metadata=ObjectMetaArgs(name=issuer_name(args.tls), labels=labels),
            spec=issuer_spec(args.tls),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.release]),
        )
        self.secret_name = args.secret_name
        k8s.apiextensions.CustomResource(
            f"{name}-gateway-certificate",
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata=ObjectMetaArgs(name="gateway", namespace=args.gateway_namespace, labels=labels),
            spec={
                "secretName": args.secret_name,
                "dnsNames": [args.host],
                "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": issuer_name(args.tls)},
                "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
                "duration": "2160h",
                "renewBefore": "720h",
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.release, issuer, *args.after]),
        )
        self.register_outputs({"version": charts.CERT_MANAGER.version, "issuer": issuer_name(args.tls)})
