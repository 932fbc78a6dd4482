"""Alert routing (Alertmanager receivers, routes, inhibitions) and SLO burn-rate alerts.

Receivers' credentials never enter the chart values: Pulumi writes them from secret config into the Secret
`alertmanager-receivers` in the monitoring namespace, the chart mounts it into every Alertmanager pod
(`alertmanager.alertmanagerSpec.secrets` -> /etc/alertmanager/secrets/<name>/) and the Alertmanager config
in the values names the files (`routing_key_file`, `api_url_file`, `auth_password_file`, `url_file`; Alertmanager
reads them at each notification). The values therefore hold paths, recipients and routes only.

SLOs follow the SRE workbook's multi-window, multi-burn-rate alerts: a page when the error budget burns fast
(2 % of it in 1h, confirmed over 5m; 5 % in 6h, confirmed over 30m), a ticket when it burns slowly (10 % in 1d
or 3d). With a 30-day window those are the familiar 14.4x, 6x, 3x and 1x burn rates; they are computed from the
configured window. The error ratios are recording rules over the API's own metrics (components/common/metrics_contract.py):
- availability: 5xx responses / all responses, per API service;
- latency: requests slower than the threshold (total minus the `le` bucket) / all requests, per API service;
- session admission: sessions waiting for a browser slot / sessions wanted (active + queued), a gauge ratio
  averaged over each window (the platform has no per-session start counter; queueing is what users feel).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from stack_config.observability import AlertingSettings, SloSettings

from ..common import metrics_contract as m
from ..common.labels import PART_OF

RECEIVER_SECRET = "alertmanager-receivers"
SECRETS_DIR = f"/etc/alertmanager/secrets/{RECEIVER_SECRET}"
"""Where the prometheus-operator mounts `alertmanagerSpec.secrets` entries: /etc/alertmanager/secrets/<name>."""
SECRET_FILES = {"pagerduty": "pagerduty-routing-key", "slack": "slack-webhook-url", "email": "smtp-password",
                "deadMansSwitch": "dead-mans-switch-url"}
NULL_RECEIVER = "null"
WATCHDOG = "Watchdog"
"""kube-prometheus-stack's always-firing alert (its default rules): the dead man's switch heartbeat."""


def _file(kind: str) -> str:
    return f"{SECRETS_DIR}/{SECRET_FILES[kind]}"


def _integrations(settings: AlertingSettings, names: list[str], severity: str) -> dict[str, object]:
    receivers = settings.receivers
    integrations: dict[str, object] = {}
    if "pagerduty" in names and receivers.pagerduty is not None:
        integrations["pagerduty_configs"] = [{
            "routing_key_file": _file("pagerduty"), "send_resolved": True,
            "severity": "critical" if severity == "critical" else "warning",
            "description": '{{ .CommonLabels.alertname }}: {{ .CommonAnnotations.summary }}',
        }]
    if "slack" in names and receivers.slack is not None:
        slack: dict[str, object] = {
            "api_url_file": _file("slack"), "send_resolved": True,
            "title": '[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} ({{ .CommonLabels.severity }})',
            "text": '{{ range .Alerts }}{{ .Annotations.summary }}\n{{ .Annotations.description }}\n{{ end }}',
        }
        if receivers.slack.channel:
            slack["channel"] = receivers.slack.channel
        integrations["slack_configs"] = [slack]
    if "email" in names and receivers.email is not None:
        email = receivers.email
        integrations["email_configs"] = [{
            "to": ", ".join(email.to), "from": email.sender, "smarthost": email.smarthost,
            "auth_username": email.username, "auth_password_file": _file("email"),
            "require_tls": True, "send_resolved": True,
        }]
    return integrations


def alertmanager_config(settings: AlertingSettings) -> dict[str, object]:
    """The whole Alertmanager config: one receiver per severity (with every integration routed to it), the
    Watchdog to the dead man's switch (or nowhere), critical inhibiting warning and info of the same alert."""
    routing = settings.routing()
    receivers: list[dict[str, object]] = [{"name": NULL_RECEIVER}]
    routes: list[dict[str, object]] = []
    switch = settings.dead_mans_switch
    if switch is not None:
        receivers.append({"name": "dead-mans-switch",
                          "webhook_configs": [{"url_file": _file("deadMansSwitch"), "send_resolved": False}]})
        routes.append({"receiver": "dead-mans-switch", "matchers": [f'alertname = "{WATCHDOG}"'],
                       "group_wait": "0s", "group_interval": switch.interval, "repeat_interval": switch.interval})
    else:
        routes.append({"receiver": NULL_RECEIVER, "matchers": [f'alertname = "{WATCHDOG}"']})
    # kube-prometheus-stack's InfoInhibitor only exists to silence info alerts; it never notifies.
    routes.append({"receiver": NULL_RECEIVER, "matchers": ['alertname = "InfoInhibitor"']})
    for severity, names in routing.items():
        if not names:
            continue
        receivers.append({"name": severity, **_integrations(settings, names, severity)})
        route: dict[str, object] = {"receiver": severity, "matchers": [f'severity = "{severity}"']}
        if severity == "critical":
            route["repeat_interval"] = "1h"
        routes.append(route)
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {"receiver": NULL_RECEIVER, "group_by": ["alertname", "namespace", "service", "severity"],
                  "group_wait": "30s", "group_interval": "5m", "repeat_interval": settings.repeat_interval,
                  "routes": routes},
        "inhibit_rules": [
            {"source_matchers": ['severity = "critical"'], "target_matchers": ['severity =~ "warning|info"'],
             "equal": ["alertname", "namespace", "service"]},
            {"source_matchers": ['severity = "warning"'], "target_matchers": ['severity = "info"'],
             "equal": ["alertname", "namespace", "service"]},
            {"source_matchers": ['alertname = "InfoInhibitor"'], "target_matchers": ['severity = "info"'],
             "equal": ["namespace"]},
        ],
        "receivers": receivers,
        "templates": ["/etc/alertmanager/config/*.tmpl"],
    }


def receiver_secret_data(settings: AlertingSettings, secrets: dict[str, str]) -> dict[str, str]:
    """File name -> value of each configured receiver's credential (the loader has checked every key is set)."""
    data: dict[str, str] = {}
    for name, receiver in settings.receivers.configured().items():
        data[SECRET_FILES[name]] = secrets[receiver.secret_key]
    if settings.dead_mans_switch is not None:
        data[SECRET_FILES["deadMansSwitch"]] = secrets[settings.dead_mans_switch.secret_key]
    return data


def alerting_values(settings: AlertingSettings) -> dict[str, object]:
    """kube-prometheus-stack values: the config (paths only) and, with credentials, the Secret to mount."""
    spec: dict[str, object] = {}
    if settings.secret_keys():
        spec["secrets"] = [RECEIVER_SECRET]
    return {"alertmanager": {"config": alertmanager_config(settings), "alertmanagerSpec": spec}}


@dataclass(frozen=True)
class AlertReceivers:
    """What MonitoringStack needs to route alerts: the settings and the secret values they name."""

    settings: AlertingSettings
    secrets: dict[str, str]


def receiver_secret(name: str, receivers: AlertReceivers, namespace: str,
                    opts: pulumi.ResourceOptions) -> k8s.core.v1.Secret | None:
    data = receiver_secret_data(receivers.settings, receivers.secrets)
    if not data:
        return None
    return k8s.core.v1.Secret(
        f"{name}-alertmanager-receivers",
        metadata=ObjectMetaArgs(name=RECEIVER_SECRET, namespace=namespace,
                                labels={"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": "pulumi"}),
        type="Opaque",
        string_data={key: pulumi.Output.secret(value) for key, value in data.items()},
        opts=opts,
    )


# --- SLOs ---------------------------------------------------------------------------------------------------

WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


@dataclass(frozen=True)
class BurnAlert:
    severity: str
    long: str
    short: str
    budget_share: float
    """Share of the whole period's error budget that burning at this rate for `long` consumes."""
    duration: str

    def factor(self, window_days: int) -> float:
        hours = {"1h": 1, "6h": 6, "1d": 24, "3d": 72}[self.long]
        return round(self.budget_share * window_days * 24 / hours, 4)


BURN_ALERTS = (
    BurnAlert("critical", "1h", "5m", 0.02, "2m"),
    BurnAlert("critical", "6h", "30m", 0.05, "15m"),
    BurnAlert("warning", "1d", "2h", 0.10, "1h"),
    BurnAlert("warning", "3d", "6h", 0.10, "3h"),
)


@dataclass(frozen=True)
class SloTargets:
    """The services the SLOs are about, passed in by the caller (the API's and browser pools' Services)."""

    namespace: str
    api_services: list[str]
    browser_services: list[str]


def _services(names: list[str]) -> str:
    return "|".join(sorted(names))


def _api(targets: SloTargets, extra: str = "") -> str:
    return f'{{namespace="{targets.namespace}",service=~"{_services(targets.api_services)}"{extra}}}'


def _le_matcher(threshold: float) -> str:
    """The `le` bucket at `threshold` as Prometheus 2 (`1`) and Prometheus 3 (`1.0`: it normalises `le` to a float
    at ingestion) write it; a fractional bound reads the same in both."""
    if float(threshold).is_integer():
        return f',le=~"{int(threshold)}(\\\\.0)?"'
    return f',le="{threshold:g}"'


def error_ratio_exprs(targets: SloTargets, window: str, latency_threshold: float) -> dict[str, str]:
    """SLI name -> the PromQL of its error ratio over `window`."""
    by = "sum by (namespace, service)"
    total = f"{by} (rate({m.HTTP_REQUESTS_TOTAL}{_api(targets)}[{window}]))"
    server_errors = _api(targets, ',code=~"5.."')
    errors = f"{by} (rate({m.HTTP_REQUESTS_TOTAL}{server_errors}[{window}]))"
    count = f"{by} (rate({m.HTTP_REQUEST_DURATION}_count{_api(targets)}[{window}]))"
    fast = f"{by} (rate({m.HTTP_REQUEST_DURATION}_bucket{_api(targets, _le_matcher(latency_threshold))}[{window}]))"
    return {
        "api_availability": f"{errors} / {total}",
        "api_latency": f"({count} - {fast}) / {count}",
        "sessions_admission": f"avg_over_time(slo:sessions_admission:error_ratio[{window}])",
    }


def session_queue_ratio(targets: SloTargets) -> str:
    """Sessions waiting / sessions wanted right now; 0 with no demand (clamp_min keeps it defined)."""
    queued = (f'(sum({m.BROWSER_SESSIONS_QUEUED}{{namespace="{targets.namespace}",'
              f'service=~"{_services(targets.api_services)}"}}) or vector(0))')
    active = (f'(sum({m.BROWSER_SESSIONS_ACTIVE}{{namespace="{targets.namespace}",'
              f'service=~"{_services(targets.browser_services)}"}}) or vector(0))')
    return f"{queued} / clamp_min({active} + {queued}, 1)"


SLI_TEXT = {
    "api_availability": ("API availability", "answered with 5xx"),
    "api_latency": ("API latency", "slower than the latency threshold"),
    "sessions_admission": ("Browser session admission", "waiting for a browser slot"),
}


def slo_rule_groups(targets: SloTargets, slos: SloSettings) -> list[dict[str, object]]:
    """Recording rules (error ratio per SLI and window) and the burn-rate alerts on them."""
    threshold = float(slos.latency.threshold_seconds)
    objectives = {"api_availability": slos.availability, "api_latency": slos.latency,
                  "sessions_admission": slos.sessions}
    recording: list[dict[str, object]] = [
        {"record": "slo:sessions_admission:error_ratio", "expr": session_queue_ratio(targets)},
    ]
    for window in WINDOWS:
        for sli, expr in error_ratio_exprs(targets, window, threshold).items():
            recording.append({"record": f"slo:{sli}:error_ratio_rate{window}", "expr": expr})
    alerts: list[dict[str, object]] = []
    for sli, objective in objectives.items():
        title, bad = SLI_TEXT[sli]
        budget = objective.error_budget
        for severity in ("critical", "warning"):
            pairs = [a for a in BURN_ALERTS if a.severity == severity]
            expr = " or ".join(
                f"(slo:{sli}:error_ratio_rate{a.long} > ({a.factor(slos.window_days)} * {budget})"
                f" and slo:{sli}:error_ratio_rate{a.short} > ({a.factor(slos.window_days)} * {budget}))"
                for a in pairs)
            rates = " / ".join(f"{a.factor(slos.window_days):g}x" for a in pairs)
            alerts.append({
                "alert": f"SloErrorBudgetBurn{'Fast' if severity == 'critical' else 'Slow'}"
                         f"{''.join(part.title() for part in sli.split('_'))}",
                "expr": expr,
                "for": pairs[0].duration,
                "labels": {"severity": severity, "slo": sli},
                "annotations": {
                    "summary": f"{title} is burning its error budget ({objective.target_percent:g}% over "
                               f"{slos.window_days}d) at {rates} or more",
                    "description": f"Too many events {bad}; at this rate the {slos.window_days}-day budget is gone "
                                   f"{'within days' if severity == 'critical' else 'before the period ends'}.",
                },
            })
    bucket = _api(targets, _le_matcher(threshold))
    alerts.append({
        "alert": "SloLatencyBucketMissing",
        "expr": (f"sum by (namespace, service) (rate({m.HTTP_REQUEST_DURATION}_count{_api(targets)}[15m])) > 0"
                 f" unless sum by (namespace, service) (rate({m.HTTP_REQUEST_DURATION}_bucket{bucket}[15m]))"),
        "for": "30m",
        "labels": {"severity": "warning", "slo": "api_latency"},
        "annotations": {
            "summary": f"{{{{ $labels.service }}}} exposes no latency bucket le={threshold:g}: the latency SLO "
                       "cannot be measured",
            "description": "The metrics contract requires a histogram bucket at the SLO threshold "
                           "(components/common/metrics_contract.py).",
        },
    })
    return [{"name": "slo-recording", "interval": "30s", "rules": recording},
            {"name": "slo-burn-rate", "rules": alerts}]


def slo_dashboard(slos: SloSettings) -> dict[str, object]:
    """One Grafana dashboard: per SLI, the error ratio over 1h and 6h against the fast-burn thresholds, and the
    budget left over the SLO window (1 - error ratio over the window / budget; 30d via the 3d recording is too
    coarse, so the window is computed from the 1h ratio averaged over it)."""
    objectives = {"api_availability": slos.availability, "api_latency": slos.latency,
                  "sessions_admission": slos.sessions}
    panels: list[dict[str, object]] = []
    for row, (sli, objective) in enumerate(objectives.items()):
        title = SLI_TEXT[sli][0]
        budget = objective.error_budget
        page = BURN_ALERTS[0].factor(slos.window_days)
        panels.append(_panel(len(panels) + 1, f"{title}: error ratio vs fast burn ({objective.target_percent:g}%)", {
            "1h": f"slo:{sli}:error_ratio_rate1h", "6h": f"slo:{sli}:error_ratio_rate6h",
            f"page at {page:g}x": f"vector({page} * {budget})",
        }, "percentunit", 0, row * 8))
        panels.append(_panel(len(panels) + 1, f"{title}: error budget left ({slos.window_days}d)", {
            "budget left": f"1 - (avg_over_time(slo:{sli}:error_ratio_rate1h[{slos.window_days}d]) / {budget})",
        }, "percentunit", 12, row * 8))
    return {"uid": "browser-platform-slos", "title": "Service levels", "tags": [PART_OF], "timezone": "browser",
            "schemaVersion": 39, "refresh": "1m", "time": {"from": "now-7d", "to": "now"}, "panels": panels}


def _panel(panel_id: int, title: str, exprs: dict[str, str], unit: str, x: int, y: int) -> dict[str, object]:
    return {"id": panel_id, "type": "timeseries", "title": title,
            "datasource": {"type": "prometheus", "uid": "prometheus"},
            "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": [{"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend}
                        for i, (legend, expr) in enumerate(exprs.items())]}


@dataclass(frozen=True)
class ServiceLevelAlertsArgs:
    targets: SloTargets
    slos: SloSettings
    crd_release: pulumi.Resource
    labels: dict[str, str]
    dashboard_namespace: str
    """Where Grafana's dashboard sidecar looks (the monitoring namespace)."""


class ServiceLevelAlerts(pulumi.ComponentResource):
    """The SLO PrometheusRule, next to the platform's other alerts (created after the monitoring CRDs)."""

    def __init__(self, name: str, args: ServiceLevelAlertsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:addons:ServiceLevelAlerts", name, None, opts)
        k8s.apiextensions.CustomResource(
            f"{name}-rule",
            api_version="monitoring.coreos.com/v1", kind="PrometheusRule",
            metadata=ObjectMetaArgs(name="browser-platform-slos", namespace=args.targets.namespace,
                                    labels=dict(args.labels)),
            spec={"groups": slo_rule_groups(args.targets, args.slos)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.crd_release]),
        )
        k8s.core.v1.ConfigMap(
            f"{name}-dashboard",
            metadata=ObjectMetaArgs(name="dashboard-service-levels", namespace=args.dashboard_namespace,
                                    labels={"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": "pulumi",
                                            "grafana_dashboard": "1"}),
            data={"service-levels.json": json.dumps(slo_dashboard(args.slos), indent=1, sort_keys=True)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.crd_release]),
        )
        self.register_outputs({})
