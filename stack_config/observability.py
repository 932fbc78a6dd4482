"""Config of the observability layer (`browser-platform:observability`): tracing, Kiali, alert routing and SLO alerts.

A key of its own rather than more fields under `monitoring`: tracing spans the mesh (Istio's Telemetry API and
istiod's extension providers) as much as monitoring (Grafana's data source), and alert routing names secret
config keys that the loader checks like the data stores' passwords. `monitoring` stays what it is: the
kube-prometheus-stack install. Cross-layer rules (tracing needs the mesh and monitoring) live on `PlatformConfig`.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import CONFIG_KEY_RE, ConfigFieldError, MemoryQuantity, StrictModel

_GO_DURATION_RE = re.compile(r"^[0-9]+(m|h)$")
_PROM_DURATION_RE = re.compile(r"^[0-9]+(s|m|h|d)$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SMARTHOST_RE = re.compile(r"^[A-Za-z0-9.-]+:[0-9]{1,5}$")
_SLACK_CHANNEL_RE = re.compile(r"^[#@]?[a-z0-9._-]{1,80}$")

RECEIVER_KINDS = ("pagerduty", "slack", "email")
SEVERITIES = ("critical", "warning", "info")
MAX_SAMPLING_PERCENT = 100.0


def _config_key(value: str) -> str:
    if not CONFIG_KEY_RE.match(value) or ":" in value:
        raise ValueError(f"'{value}' is not a config key name of this project (no namespace, no ':')")
    return value


class TracingSettings(StrictModel):
    """Spans from every Envoy of the mesh (Istio Telemetry API) -> OpenTelemetry Collector -> Grafana Tempo."""

    enabled: bool | None = Field(
        default=None,
        description="Default: on when mesh and monitoring are on (spans come from the mesh's proxies and are read "
                    "in Grafana). true with either of them off is an error.",
    )
    sampling_percent: float = Field(
        default=1.0, gt=0, le=MAX_SAMPLING_PERCENT,
        description="Share of requests traced, in percent (Telemetry randomSamplingPercentage). The policy "
                    "`trace-sampling-bounded` caps it per stack (10 on the production stacks).",
    )
    retention: str = Field(
        default="168h", description="How long Tempo keeps traces (compactor block_retention; hours or minutes).",
    )
    storage_size: MemoryQuantity = Field(default="20Gi", description="Tempo's volume (WAL and blocks).")

    @field_validator("retention")
    @classmethod
    def _retention(cls, value: str) -> str:
        if not _GO_DURATION_RE.match(value) or int(value[:-1]) == 0:
            raise ValueError(f"'{value}' is not a duration in hours or minutes such as 168h or 90m")
        return value

    @property
    def retention_hours(self) -> float:
        number = int(self.retention[:-1])
        return number if self.retention.endswith("h") else number / 60


class KialiSettings(StrictModel):
    """Kiali, the mesh's traffic graph (components/services/kiali.py): reads Prometheus (Istio's metrics), Tempo and
    links to Grafana. Always view-only and behind a Kubernetes token login (auth strategy `token`, never anonymous);
    reached with `kubectl port-forward` (docs/observability.md)."""

    enabled: bool = Field(
        default=False,
        description="Install Kiali. Off by default: one more cluster-wide reader (a ClusterRole that lists pods, "
                    "services, config maps and every Istio resource) and a UI nobody needs until the mesh "
                    "misbehaves. Needs mesh.enabled and monitoring.enabled.",
    )


class PagerDutyReceiver(StrictModel):
    routing_key_secret: str = Field(
        default="pagerdutyRoutingKey",
        description="Config key of the PagerDuty Events API v2 routing key (`pulumi config set --secret`).",
    )

    _key = field_validator("routing_key_secret")(_config_key)

    @property
    def secret_key(self) -> str:
        return self.routing_key_secret


class SlackReceiver(StrictModel):
    webhook_url_secret: str = Field(
        default="slackWebhookUrl", description="Config key of the Slack incoming-webhook URL (secret).",
    )
    channel: str | None = Field(default=None, description="Channel override; default: the webhook's own channel.")

    _key = field_validator("webhook_url_secret")(_config_key)

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is not None and not _SLACK_CHANNEL_RE.match(value):
            raise ValueError(f"'{value}' is not a Slack channel such as #alerts")
        return value

    @property
    def secret_key(self) -> str:
        return self.webhook_url_secret


class EmailReceiver(StrictModel):
    to: list[str] = Field(min_length=1, description="Recipients.")
    sender: str = Field(alias="from", description="From address.")
    smarthost: str = Field(description="SMTP server as host:port (STARTTLS is required).")
    username: str = Field(description="SMTP login.")
    password_secret: str = Field(default="smtpPassword", description="Config key of the SMTP password (secret).")

    _key = field_validator("password_secret")(_config_key)

    @field_validator("to")
    @classmethod
    def _to(cls, value: list[str]) -> list[str]:
        for address in value:
            if not _EMAIL_RE.match(address):
                raise ValueError(f"'{address}' is not an email address")
        return value

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        if not _EMAIL_RE.match(value):
            raise ValueError(f"'{value}' is not an email address")
        return value

    @field_validator("smarthost")
    @classmethod
    def _smarthost(cls, value: str) -> str:
        if not _SMARTHOST_RE.match(value):
            raise ValueError(f"'{value}' is not host:port (e.g. smtp.example.org:587)")
        return value

    @property
    def secret_key(self) -> str:
        return self.password_secret


class DeadMansSwitch(StrictModel):
    """Where the always-firing `Watchdog` alert goes: an external heartbeat service that pages when it stops."""

    url_secret: str = Field(default="deadMansSwitchUrl", description="Config key of the heartbeat webhook URL (secret).")
    interval: str = Field(default="1m", description="How often the heartbeat is sent (Alertmanager repeat_interval).")

    _key = field_validator("url_secret")(_config_key)

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        if not _PROM_DURATION_RE.match(value):
            raise ValueError(f"'{value}' is not a duration such as 1m")
        return value

    @property
    def secret_key(self) -> str:
        return self.url_secret


class Receivers(StrictModel):
    """Each block present turns that receiver on; its secret must be set (`pulumi config set --secret <key>`)."""

    pagerduty: PagerDutyReceiver | None = Field(
        default=None, description="PagerDuty (Events API v2); `pagerduty: {}` uses the routing key in pagerdutyRoutingKey.")
    slack: SlackReceiver | None = Field(
        default=None, description="Slack incoming webhook; `slack: {}` uses the URL in slackWebhookUrl.")
    email: EmailReceiver | None = Field(default=None, description="Email over SMTP with STARTTLS.")

    def configured(self) -> dict[str, PagerDutyReceiver | SlackReceiver | EmailReceiver]:
        found = {"pagerduty": self.pagerduty, "slack": self.slack, "email": self.email}
        return {name: receiver for name, receiver in found.items() if receiver is not None}


DEFAULT_ROUTES: dict[str, list[str]] = {"critical": ["pagerduty", "slack", "email"], "warning": ["slack", "email"],
                                        "info": []}
"""Severity -> receivers when `routes` is not set; receivers that are not configured are left out."""

Severity = Literal["critical", "warning", "info"]
ReceiverKind = Literal["pagerduty", "slack", "email"]


class AlertingSettings(StrictModel):
    """Alertmanager's receivers and routes. Credentials are secret config, mounted from a Secret (never values)."""

    receivers: Receivers = Receivers()
    routes: dict[Severity, list[ReceiverKind]] | None = Field(
        default=None,
        description="Severity (critical, warning, info) -> receivers (pagerduty, slack, email). Default: critical to "
                    "pagerduty, slack and email; warning to slack and email; info nowhere (each as configured).",
    )
    dead_mans_switch: DeadMansSwitch | None = Field(
        default=None, description="Send the always-firing Watchdog alert to a heartbeat URL; none when unset.",
    )
    repeat_interval: str = Field(default="4h", description="How often a still-firing alert is sent again.")

    @field_validator("repeat_interval")
    @classmethod
    def _repeat(cls, value: str) -> str:
        if not _PROM_DURATION_RE.match(value):
            raise ValueError(f"'{value}' is not a duration such as 4h")
        return value

    @model_validator(mode="after")
    def _routes_name_configured_receivers(self) -> AlertingSettings:
        configured = self.receivers.configured()
        for severity, names in (self.routes or {}).items():
            for index, name in enumerate(names):
                if name not in configured:
                    raise ConfigFieldError(
                        ("routes", severity, index),
                        f"'{name}' is not configured under alerting.receivers (configured: "
                        f"{', '.join(configured) or 'none'}); add receivers.{name} or remove it from this route")
        return self

    def routing(self) -> dict[str, list[str]]:
        """Severity -> the configured receivers its alerts go to (every severity listed, maybe with none)."""
        configured = self.receivers.configured()
        routes = DEFAULT_ROUTES if self.routes is None else {s: list(r) for s, r in self.routes.items()}
        return {severity: [name for name in routes.get(severity, []) if name in configured] for severity in SEVERITIES}

    def secret_keys(self) -> list[tuple[str, str]]:
        """(config key path, secret config key) of every configured receiver."""
        fields = {"pagerduty": "routingKeySecret", "slack": "webhookUrlSecret", "email": "passwordSecret"}
        keys = [(f"observability.alerting.receivers.{name}.{fields[name]}", receiver.secret_key)
                for name, receiver in self.receivers.configured().items()]
        if self.dead_mans_switch is not None:
            keys.append(("observability.alerting.deadMansSwitch.urlSecret", self.dead_mans_switch.secret_key))
        return keys


class Objective(StrictModel):
    target_percent: float = Field(default=99.9, gt=50, lt=100, description="Share of good events, e.g. 99.9.")

    @property
    def error_budget(self) -> float:
        return round(1 - self.target_percent / 100, 10)


class LatencyObjective(Objective):
    target_percent: float = Field(default=99.0, gt=50, lt=100,
                                  description="Share of API requests faster than thresholdSeconds.")
    threshold_seconds: Literal[1] = Field(
        default=1,
        description="The latency bound. Only 1 for now: it is the one bucket boundary the metrics contract "
                    "guarantees (components/common/metrics_contract.py); another value would select no series.",
    )


class SloSettings(StrictModel):
    """Multi-window, multi-burn-rate alerts (fast: 14.4x over 1h and 5m, slow: 6x over 6h and 30m; SRE workbook)."""

    enabled: bool = True
    window_days: int = Field(default=30, ge=7, le=90, description="The SLO period the error budget is counted over.")
    availability: Objective = Field(default=Objective(), description="API requests not answered with 5xx.")
    latency: LatencyObjective = Field(default=LatencyObjective(),
                                      description="API requests answered within thresholdSeconds.")
    sessions: Objective = Field(
        default=Objective(target_percent=99.0),
        description="Session admission: share of wanted sessions (active + queued) that hold a browser slot.",
    )


class ObservabilitySettings(StrictModel):
    tracing: TracingSettings = TracingSettings()
    kiali: KialiSettings = KialiSettings()
    alerting: AlertingSettings = AlertingSettings()
    slos: SloSettings = SloSettings()

    def secret_keys(self, monitoring_enabled: bool) -> list[tuple[str, str]]:
        return self.alerting.secret_keys() if monitoring_enabled else []


def check_observability(settings: ObservabilitySettings, *, mesh: bool, monitoring: bool) -> None:
    """Cross-layer rules, raised with paths below `observability`."""
    tracing = settings.tracing
    if tracing.enabled and not mesh:
        raise ConfigFieldError(("tracing", "enabled"),
                               "spans come from the mesh's Envoy proxies, so tracing needs mesh.enabled; "
                               "set tracing.enabled false or leave it unset")
    if tracing.enabled and not monitoring:
        raise ConfigFieldError(("tracing", "enabled"),
                               "traces are read in Grafana (monitoring), so tracing needs monitoring.enabled; "
                               "set tracing.enabled false or leave it unset")
    if settings.kiali.enabled and not mesh:
        raise ConfigFieldError(("kiali", "enabled"),
                               "Kiali draws the mesh's traffic from Istio's metrics, so it needs mesh.enabled; "
                               "set kiali.enabled false")
    if settings.kiali.enabled and not monitoring:
        raise ConfigFieldError(("kiali", "enabled"),
                               "Kiali reads the mesh's metrics from Prometheus (monitoring), so it needs "
                               "monitoring.enabled; set kiali.enabled false")
    # Receivers with monitoring off are left alone like monitoring.grafanaAdminPasswordSecret: nothing reads them
    # and their secrets are not required, so switching monitoring off for a while needs no other edit.


def tracing_active(settings: ObservabilitySettings, *, mesh: bool, monitoring: bool) -> bool:
    """Whether tracing is installed: explicitly on, or by default when both mesh and monitoring are on."""
    enabled = settings.tracing.enabled
    return (mesh and monitoring) if enabled is None else enabled
