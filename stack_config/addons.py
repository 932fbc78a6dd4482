"""Config of the platform services layered on the cluster: autoscaling (KEDA), mesh (Istio), ingress + TLS, monitoring.

Every layer is switchable per stack; the defaults are the production shape (everything on, STRICT mTLS, sessions
drive the browser pool). Cross-layer rules that need more than one of these blocks live on `PlatformConfig`.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import (
    CONFIG_KEY_RE,
    AwsRegion,
    ConfigFieldError,
    CpuQuantity,
    GcpProject,
    MemoryQuantity,
    StrictModel,
    cpu_millicores,
    memory_bytes,
)
from .edge import EdgeSettings

_HOST_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DURATION_RE = re.compile(r"^[0-9]+(ms|s|m|h|d|w|y)$")
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_AWS_ROLE_ARN = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")
_HOSTED_ZONE_ID = re.compile(r"^[A-Z0-9]{1,32}$")
_GCP_SERVICE_ACCOUNT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z0-9.-]+\.iam\.gserviceaccount\.com$")
_ISTIO_VERSION = re.compile(r"^1\.(\d+)\.(\d+)$")
MIN_ISTIO = (30, 1)
"""Istio before 1.30.1 does not rebuild the consistent-hash ring on endpoint changes (istio#60312): after a
scale-out the new browser pods get no traffic."""


class KedaSettings(StrictModel):
    """The browser pool scales on sessions (active + queued per pod), with CPU and memory as backstop."""

    enabled: bool = True
    fill_ratio: float = Field(
        default=0.8, gt=0, le=1,
        description="Target share of sessionsPerPod in use before another pod is added (headroom for bursts).",
    )
    fallback_replicas: int | None = Field(
        default=None, ge=1, le=1000,
        description="Replicas while Prometheus is unreachable; default: the browser pool's maxReplicas.",
    )
    failure_threshold: int = Field(default=3, ge=1, le=100)
    polling_interval: int = Field(default=15, ge=5, le=300, description="Seconds between two session queries.")


class AutoscalingAddons(StrictModel):
    keda: KedaSettings = KedaSettings()


class ProxyResources(StrictModel):
    """The Envoy sidecar's own resources; set on every meshed pod and counted in the namespace quota."""

    cpu_request: CpuQuantity = "100m"
    memory_request: MemoryQuantity = "128Mi"
    cpu_limit: CpuQuantity = "500m"
    memory_limit: MemoryQuantity = "256Mi"

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> ProxyResources:
        if cpu_millicores(self.cpu_limit) < cpu_millicores(self.cpu_request):
            raise ConfigFieldError(("cpuLimit",), f"must be at least cpuRequest ({self.cpu_request})")
        if memory_bytes(self.memory_limit) < memory_bytes(self.memory_request):
            raise ConfigFieldError(("memoryLimit",), f"must be at least memoryRequest ({self.memory_request})")
        return self


class SessionAffinity(StrictModel):
    """What the API's consistent hash keys on (gateway and meshed clients to the API): exactly one of a cookie or a
    request header. The browser pod of a session is picked by the API, not by a hash (components/services/mesh.py)."""

    cookie: str | None = None
    header: str | None = None

    @field_validator("cookie", "header")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        if value is not None and not _TOKEN_RE.match(value):
            raise ValueError(f"'{value}' must be 1-64 letters, digits, '-' or '_'")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> SessionAffinity:
        if (self.cookie is None) == (self.header is None):
            raise ConfigFieldError(("cookie",), "set exactly one of cookie or header")
        return self


class OutlierDetection(StrictModel):
    consecutive_5xx_errors: int = Field(default=5, ge=1, le=100, alias="consecutive5xxErrors")
    interval_seconds: int = Field(default=30, ge=1, le=3600)
    base_ejection_seconds: int = Field(default=30, ge=1, le=3600)
    max_ejection_percent: int = Field(default=50, ge=1, le=100)


class MeshSettings(StrictModel):
    """Istio with the CNI node agent (pods keep Pod Security `restricted`), sidecars in the platform namespace."""

    enabled: bool = True
    istio_version: str | None = Field(
        default=None, description="Override of the pinned Istio chart version in components/common/charts.py.",
    )
    proxy: ProxyResources = ProxyResources()
    session_affinity: SessionAffinity = SessionAffinity(cookie="session")
    outlier_detection: OutlierDetection = OutlierDetection()
    api_timeout_seconds: int = Field(default=60, ge=1, le=3600)
    api_retries: int = Field(default=3, ge=0, le=10)

    @field_validator("istio_version")
    @classmethod
    def _istio_version(cls, value: str | None) -> str | None:
        if value is None:
            return value
        match = _ISTIO_VERSION.match(value)
        if not match:
            raise ValueError(f"'{value}' must be an exact Istio release such as 1.30.5")
        if (int(match.group(1)), int(match.group(2))) < MIN_ISTIO:
            raise ValueError(
                f"'{value}' is too old: before 1.30.1 consistent-hash routing sends no traffic to pods added "
                "by a scale-out (istio#60312)"
            )
        return value


class Http01Solver(StrictModel):
    """ACME HTTP-01 through the Istio ingress gateway (cert-manager's Ingress solver with class `istio`)."""

    type: Literal["http01"] = "http01"


class Route53Solver(StrictModel):
    """ACME DNS-01 in a Route 53 hosted zone (EKS only).

    The program creates cert-manager's IAM role (EKS Pod Identity) with write access to this one zone; with
    `roleArn` set, that role may only assume the given role instead (a zone in another account).
    """

    type: Literal["route53"]
    region: AwsRegion
    hosted_zone_id: str | None = Field(
        default=None, description="Required: ID of the public hosted zone holding the ingress host (e.g. Z0123456789EXAMPLE).",
    )
    role_arn: str | None = Field(
        default=None, description="Role in another account that cert-manager assumes when the zone lives there.",
    )

    @model_validator(mode="after")
    def _zone_and_role(self) -> Route53Solver:
        if not self.hosted_zone_id:
            raise ConfigFieldError(
                ("hostedZoneId",),
                "required for the route53 solver: the ID of the public hosted zone that holds the ingress host "
                "(e.g. Z0123456789EXAMPLE); cert-manager's IAM role may change records in that zone only",
            )
        if not _HOSTED_ZONE_ID.match(self.hosted_zone_id):
            raise ConfigFieldError(
                ("hostedZoneId",),
                f"'{self.hosted_zone_id}' is not a Route 53 hosted zone ID (uppercase letters and digits, "
                "e.g. Z0123456789EXAMPLE; without the /hostedzone/ prefix)",
            )
        if self.role_arn is not None and not _AWS_ROLE_ARN.match(self.role_arn):
            raise ConfigFieldError(
                ("roleArn",), f"'{self.role_arn}' is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)",
            )
        return self

    @property
    def zone_id(self) -> str:
        assert self.hosted_zone_id is not None  # the validator above requires it
        return self.hosted_zone_id


class CloudDnsSolver(StrictModel):
    """ACME DNS-01 in Cloud DNS (GKE only).

    The program creates a Google service account for cert-manager with roles/dns.admin on `project` and lets the
    cert-manager ServiceAccount impersonate it through Workload Identity; with `gcpServiceAccount` set, that
    (existing) account is used instead and its DNS roles are yours to grant.
    """

    type: Literal["cloudDNS"]
    project: GcpProject
    gcp_service_account: str | None = Field(
        default=None, description="Google service account cert-manager impersonates via Workload Identity.",
    )

    @field_validator("gcp_service_account")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        if value is not None and not _GCP_SERVICE_ACCOUNT.match(value):
            raise ValueError(f"'{value}' is not a service account email (<name>@<project>.iam.gserviceaccount.com)")
        return value


RESERVED_EMAIL_DOMAINS = ("example.com", "example.net", "example.org")
"""Second-level names reserved for documentation (RFC 2606), with every subdomain."""
RESERVED_EMAIL_TLDS = ("test", "example", "invalid", "localhost")
"""Top-level names reserved for testing and documentation (RFC 2606, RFC 6761)."""


def reserved_email_domain(email: str) -> str | None:
    """The reserved domain (or TLD) an email address is in, if any: ACME servers refuse such contacts."""
    domain = email.rsplit("@", 1)[-1].lower().rstrip(".")
    for reserved in RESERVED_EMAIL_DOMAINS:
        if domain == reserved or domain.endswith("." + reserved):
            return reserved
    tld = domain.rsplit(".", 1)[-1]
    return f".{tld}" if tld in RESERVED_EMAIL_TLDS else None


AcmeSolver = Http01Solver | Route53Solver | CloudDnsSolver
SOLVER_TYPES = ("http01", "route53", "cloudDNS")
SOLVERS_BY_CLUSTER = {"eks": ("http01", "route53"), "gke": ("http01", "cloudDNS"), "kind": ("http01",),
                      "existing": ("http01",)}
"""The solver types that can work on each cluster kind (DNS-01 needs the cloud's own workload identity)."""


class TlsSettings(StrictModel):
    """Where the gateway's certificate comes from: a self-signed issuer (local only) or Let's Encrypt."""

    issuer: Literal["selfSigned", "letsencrypt"] = "letsencrypt"
    email: str | None = Field(
        default=None,
        description="ACME account contact (optional): Let's Encrypt's expiry and account notices go here. Must be "
                    "a real mailbox: the ACME server refuses reserved domains (example.com, .test, .invalid, ...).",
    )
    staging: bool = Field(default=False, description="Let's Encrypt staging: untrusted certs, generous rate limits.")
    solver: AcmeSolver = Field(default=Http01Solver(), discriminator="type")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not _EMAIL_RE.match(value):
            raise ValueError(f"'{value}' is not an email address")
        reserved = reserved_email_domain(value)
        if reserved:
            # The ACME server rejects the account (invalidContact), the ClusterIssuer never becomes Ready and
            # the gateway has no certificate; the contact is optional, so leaving it out is always possible.
            raise ValueError(
                f"'{value}' uses the reserved domain '{reserved}' (RFC 2606/6761), which Let's Encrypt refuses as "
                "an account contact; set a real mailbox or remove the key (the contact is optional)")
        return value

    @property
    def acme_over_http(self) -> bool:
        """Let's Encrypt through HTTP-01: the challenge is answered on port 80, which then cannot redirect."""
        return self.issuer == "letsencrypt" and self.solver.type == "http01"


class IngressSettings(StrictModel):
    """The public entry: the Istio ingress gateway, serving one host over HTTPS and routing it to the API."""

    host: str
    tls: TlsSettings
    edge: EdgeSettings = Field(
        default=EdgeSettings(),
        description="Rate limit, CORS, security headers, body size and timeouts at the gateway (docs/edge.md).",
    )

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not _HOST_RE.match(value):
            raise ValueError(f"'{value}' is not a fully qualified lowercase DNS name (e.g. api.example.com)")
        return value


class MonitoringSettings(StrictModel):
    """kube-prometheus-stack: Prometheus (with our ServiceMonitors and alerts), Alertmanager and Grafana."""

    enabled: bool = True
    retention: str = "30d"
    storage_size: MemoryQuantity = "50Gi"
    scrape_interval: str = "15s"
    grafana_admin_password_secret: str = Field(
        default="grafanaAdminPassword",
        description="Config key of the Grafana admin password; set it with `pulumi config set --secret <key>`.",
    )

    @field_validator("retention", "scrape_interval")
    @classmethod
    def _duration(cls, value: str) -> str:
        if not _DURATION_RE.match(value):
            raise ValueError(f"'{value}' is not a Prometheus duration such as 15s, 30d or 12h")
        return value

    @field_validator("grafana_admin_password_secret")
    @classmethod
    def _key(cls, value: str) -> str:
        if not CONFIG_KEY_RE.match(value) or ":" in value:
            raise ValueError(f"'{value}' is not a config key name of this project (no namespace, no ':')")
        return value
