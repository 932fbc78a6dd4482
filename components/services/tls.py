"""cert-manager, one ClusterIssuer, and the certificate the ingress gateway serves for the public host.

- kind: a selfSigned ClusterIssuer (nothing on the internet can reach the cluster to validate a domain).
- clouds: Let's Encrypt (ACME), solved by DNS-01 (Route 53 on EKS, Cloud DNS on GKE; the production stacks) with
  credentials from the cluster's workload identity (components/services/dns01.py), or by HTTP-01 through the Istio ingress
  gateway (cert-manager's Ingress solver with class `istio`; port 80 then cannot redirect to HTTPS).
The Certificate lives in the gateway's namespace: Istio reads a Gateway's `credentialName` secret from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from capacity import platform_services as sizes
from stack_config.addons import CloudDnsSolver, Http01Solver, Route53Solver, TlsSettings

from ..clusters.handle import CloudIdentity, EksIdentity, GkeIdentity
from ..common import charts
from ..common.labels import PART_OF
from ..common.webhook_ports import CERT_MANAGER_WEBHOOK
from .dns01 import SolverIdentity, cloud_dns_identity, route53_identity
from .priority_classes import SERVICES_CLASS

CERT_MANAGER_NAMESPACE = "cert-manager"
CERT_MANAGER_SERVICE_ACCOUNT = "cert-manager"
"""The controller's ServiceAccount (the chart's default for a release named cert-manager; pinned in the values),
the one that solves challenges and so the one the cloud identity is bound to."""
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
        # No credentials: the SDK's default chain finds the Pod Identity ones (cert-manager >= 1.16).
        route53: dict[str, object] = {"region": solver.region, "hostedZoneID": solver.zone_id}
        if solver.role_arn:
            route53["role"] = solver.role_arn  # assumed with the Pod Identity credentials (zone in another account)
        return {"dns01": {"route53": route53}}
    if isinstance(solver, CloudDnsSolver):
        return {"dns01": {"cloudDNS": {"project": solver.project}}}
    return {"http01": {"ingress": {"class": "istio"}}}


def issuer_spec(tls: TlsSettings) -> dict[str, object]:
    if tls.issuer == "selfSigned":
        return {"selfSigned": {}}
    acme: dict[str, object] = {
        "server": LETSENCRYPT[tls.staging],
        "privateKeySecretRef": {"name": f"{issuer_name(tls)}-account-key"},
        "solvers": [solver_spec(tls.solver)],
    }
    if tls.email:
        # Optional in ACME (and in the ClusterIssuer schema): without it the account has no contact, which
        # Let's Encrypt accepts; a reserved-domain contact it refuses (config validation rejects those).
        acme["email"] = tls.email
    return {"acme": acme}


def uses_dns01(tls: TlsSettings) -> bool:
    return tls.issuer == "letsencrypt" and tls.solver.type != "http01"


def cert_manager_values(highly_available: bool,
                        service_account_annotations: dict[str, pulumi.Input[str]] | None = None) -> dict[str, object]:
    # Requests, limits and replicas from capacity/platform_services.py (layer "tls"), which the capacity model
    # counts. Every Deployment with more than one replica gets a PDB that always allows one eviction: the webhook
    # answers every cert-manager API call, so a drain must never take both of its pods at once.
    replicas = sizes.cert_manager_replicas(highly_available).max
    cainjector_replicas = sizes.CERT_MANAGER_CAINJECTOR_REPLICAS.max
    return {
        "crds": {"enabled": True, "keep": True},  # keep: uninstalling the chart must not delete every Certificate
        "replicaCount": replicas,
        # securePort: the port the API server calls (components/common/webhook_ports.py; 10250 is open on private GKE).
        "webhook": {"replicaCount": replicas, "securePort": CERT_MANAGER_WEBHOOK.port,
                    "resources": sizes.CERT_MANAGER_WEBHOOK.resource_values(),
                    "podDisruptionBudget": disruption_budget(replicas)},
        "cainjector": {"replicaCount": cainjector_replicas,
                       "resources": sizes.CERT_MANAGER_CAINJECTOR.resource_values(),
                       "podDisruptionBudget": disruption_budget(cainjector_replicas)},
        "podDisruptionBudget": disruption_budget(replicas),
        "serviceAccount": {"name": CERT_MANAGER_SERVICE_ACCOUNT,
                           "annotations": dict(service_account_annotations or {})},
        "resources": sizes.CERT_MANAGER_CONTROLLER.resource_values(),
        # Controller, webhook, cainjector and the startup check (components/services/priority_classes.py).
        "global": {"priorityClassName": SERVICES_CLASS},
    }


def disruption_budget(replicas: int) -> dict[str, object]:
    """cert-manager's `podDisruptionBudget` values for a Deployment of `replicas` pods: on for more than one
    (maxUnavailable 1, so a drain always progresses; unhealthy pods never block it), off for a single pod."""
    if replicas <= 1:
        return {"enabled": False}
    return {"enabled": True, "maxUnavailable": 1, "unhealthyPodEvictionPolicy": "AlwaysAllow"}


@dataclass(frozen=True)
class TlsArgs:
    tls: TlsSettings
    host: str
    gateway_namespace: str
    highly_available: bool
    cluster_name: str
    cloud: CloudIdentity | None = None
    """How cert-manager gets DNS credentials for DNS-01 (the cluster's workload identity); none on kind."""
    after: list[pulumi.Resource] = field(default_factory=list)
    """What the Certificate waits for besides cert-manager: the gateway namespace (and the gateway, for HTTP-01)."""
    secret_name: str = GATEWAY_TLS_SECRET
    priority_classes: list[pulumi.Resource] = field(default_factory=list)
    """The PriorityClasses its pods name: the release waits for them (a pod naming a missing class is rejected)."""


class Tls(pulumi.ComponentResource):
    release: k8s.helm.v3.Release
    secret_name: str

    def __init__(self, name: str, args: TlsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:addons:Tls", name, None, opts)
        labels = {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": "pulumi"}
        namespace = charts.system_namespace(f"{name}-namespace", CERT_MANAGER_NAMESPACE, pod_security="restricted",
                                            parent=self)
        identity = self._solver_identity(name, args)
        self.release = charts.helm_release(
            f"{name}-cert-manager", charts.CERT_MANAGER, namespace=CERT_MANAGER_NAMESPACE,
            values=cert_manager_values(args.highly_available, identity.service_account_annotations),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, *identity.ready, *args.priority_classes]),
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

    def _solver_identity(self, name: str, args: TlsArgs) -> SolverIdentity:
        """The DNS-01 solver's cloud identity; nothing for HTTP-01 or a self-signed issuer."""
        if not uses_dns01(args.tls):
            return SolverIdentity()
        solver, cloud = args.tls.solver, args.cloud
        resource_name, namespace, account = f"{name}-cert-manager-dns01", CERT_MANAGER_NAMESPACE, CERT_MANAGER_SERVICE_ACCOUNT
        if isinstance(solver, Route53Solver) and isinstance(cloud, EksIdentity):
            return route53_identity(resource_name, solver, cloud, args.cluster_name, namespace, account, parent=self)
        if isinstance(solver, CloudDnsSolver) and isinstance(cloud, GkeIdentity):
            return cloud_dns_identity(resource_name, solver, cloud, args.cluster_name, namespace, account, parent=self)
        # Config validation rejects these combinations; this guards callers that build TlsArgs themselves.
        raise ValueError(f"the {solver.type} solver needs a matching cloud cluster, got {type(cloud).__name__}")
