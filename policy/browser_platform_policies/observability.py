"""Policies for tracing and alert routing (components/services/tracing.py, alerting.py).

- `alert-receiver-secrets` (resource): the kube-prometheus-stack release's Alertmanager config carries no
  credential in plaintext (webhook URLs, routing keys, SMTP passwords: they would sit in the release values, the
  Helm history and the rendered Secret), and every `*_file` it names lies in a Secret the chart mounts
  (`alertmanager.alertmanagerSpec.secrets` -> /etc/alertmanager/secrets/<name>/), or Alertmanager fails each
  notification with "no such file".
- `trace-sampling-bounded` (resource): a Telemetry's `randomSamplingPercentage` stays at or below the stack's cap
  (`maxPercent`): every sampled request costs the proxies, the collector and the trace store.
- `tracing-provider-wired` (stack): every tracing provider a Telemetry names is defined in istiod's
  `meshConfig.extensionProviders` (Istio ignores an unknown one: no spans), every defined provider is used by a
  Telemetry (a collector nobody sends to), and the provider's service is a Service of the stack with that port.
- `alerts-routed` (stack): alerts of each required severity (`requiredSeverities`) that the stack's
  PrometheusRules raise reach a receiver with at least one integration in the Alertmanager route tree, instead
  of ending in the root route's `null` receiver.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from .config import Schema, per_resource, resource_policy, stack_policy, string_list
from .model import StackModel, namespace_of
from .props import as_int, get, items, mapping, metadata_name, of_types, plain
from .stack import _model

RELEASE_TYPES = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Release")
TELEMETRY_TYPE = "kubernetes:telemetry.istio.io/v1:Telemetry"
KUBE_PROMETHEUS_STACK = "kube-prometheus-stack"
SECRETS_ROOT = "/etc/alertmanager/secrets/"
CLUSTER_DOMAIN = "cluster.local"

PLAINTEXT_FIELDS = {
    # Alertmanager's secret-typed fields (each has a *_file twin) in receivers and in `global`.
    "api_url", "routing_key", "service_key", "auth_password", "auth_secret", "api_key", "bot_token", "token",
    "password", "credentials", "slack_api_url", "smtp_auth_password", "smtp_auth_secret", "opsgenie_api_key",
    "victorops_api_key", "wechat_api_secret", "telegram_bot_token", "webex_api_url",
}
PLAINTEXT_IN_WEBHOOKS = {"url"}
"""A webhook's URL usually carries its token (heartbeat services, chat webhooks): `url_file` instead."""


def _is_monitoring_release(props: Any) -> bool:
    chart = str(get(props, "chart", default=""))
    return chart == KUBE_PROMETHEUS_STACK or chart.endswith("/" + KUBE_PROMETHEUS_STACK)


def _plaintext(node: Any, path: str, in_webhook: bool = False) -> Iterator[str]:
    if isinstance(node, Mapping):
        for key in node:
            value = node[key]
            where = f"{path}.{key}"
            secret_field = key in PLAINTEXT_FIELDS or (in_webhook and key in PLAINTEXT_IN_WEBHOOKS)
            if secret_field and isinstance(value, str) and value:
                yield where
            else:
                yield from _plaintext(value, where, in_webhook or key == "webhook_configs")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _plaintext(value, f"{path}[{index}]", in_webhook)


def _file_fields(node: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, Mapping):
        for key in node:
            value = node[key]
            if str(key).endswith("_file") and isinstance(value, str):
                yield f"{path}.{key}", value
            else:
                yield from _file_fields(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _file_fields(value, f"{path}[{index}]")


def check_receiver_secrets(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    if args.resource_type not in RELEASE_TYPES or not _is_monitoring_release(args.props):
        return
    config = plain(get(args.props, "values", "alertmanager", "config", default={}))
    if not isinstance(config, dict):
        return
    name = get(args.props, "name", default=KUBE_PROMETHEUS_STACK)
    for where in _plaintext(config, "alertmanager.config"):
        report(f"Helm release {name}: {where} holds a credential in plaintext (it lands in the release values, "
               "Helm's history and the rendered Secret). Fix: put it in a Kubernetes Secret written from Pulumi "
               "secret config, list it in alertmanager.alertmanagerSpec.secrets and use the field's *_file twin "
               f"({SECRETS_ROOT}<secret>/<key>).", None)
    mounted = {str(s) for s in plain(get(args.props, "values", "alertmanager", "alertmanagerSpec", "secrets",
                                         default=[])) or []}
    for where, path in _file_fields(config, "alertmanager.config"):
        if not path.startswith(SECRETS_ROOT):
            continue  # templates and other files the chart mounts itself
        secret = path[len(SECRETS_ROOT):].split("/", 1)[0]
        if secret not in mounted:
            report(f"Helm release {name}: {where} reads {path}, but Secret '{secret}' is not in "
                   f"alertmanager.alertmanagerSpec.secrets ({', '.join(sorted(mounted)) or 'none'}), so the file "
                   "never exists and every notification through it fails. Fix: add the Secret to "
                   "alertmanagerSpec.secrets.", None)


SAMPLING_SCHEMA: Schema = {
    "maxPercent": {"type": "number", "minimum": 0, "maximum": 100, "default": 10,
                   "description": "Highest randomSamplingPercentage a Telemetry may set."},
}


def check_sampling(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    if args.resource_type != TELEMETRY_TYPE:
        return
    cap = float(cfg.get("maxPercent", 10))
    for index, tracing in enumerate(items(args.props, "spec", "tracing")):
        percent = get(tracing, "randomSamplingPercentage")
        if percent is not None and float(percent) > cap:
            title = f"{get(args.props, 'metadata', 'namespace')}/{metadata_name(args.props) or args.name}"
            report(f"Telemetry {title} traces {float(percent):g}% "
                   f"of requests (tracing[{index}].randomSamplingPercentage), above this stack's cap of {cap:g}%: "
                   "every sampled request costs each proxy on its path, the collector and the trace store. Fix: "
                   "lower observability.tracing.samplingPercent (or raise maxPercent knowingly).", None)


def _providers(model: StackModel) -> dict[str, tuple[str, int | None, str]]:
    """Name -> (service, port, type) of istiod's meshConfig.extensionProviders."""
    istiod = model.release("istiod")
    if istiod is None:
        return {}
    found: dict[str, tuple[str, int | None, str]] = {}
    for provider in items(istiod.props, "values", "meshConfig", "extensionProviders"):
        name = str(get(provider, "name", default=""))
        for kind in ("opentelemetry", "zipkin", "datadog", "skywalking", "stackdriver"):
            body = get(provider, kind)
            if body is not None:
                found[name] = (str(get(body, "service", default="")), as_int(get(body, "port")), kind)
    return found


def _services(model: StackModel) -> dict[tuple[str, str], set[int]]:
    services: dict[tuple[str, str], set[int]] = {}
    for service in model.of("core/Service"):
        with per_resource("tracing-provider-wired", service.urn):
            ports = {as_int(get(port, "port")) for port in items(service.props, "spec", "ports")}
            services[(namespace_of(service), metadata_name(service.props))] = {p for p in ports if p is not None}
    return services


def _service_key(host: str) -> tuple[str, str] | None:
    parts = host.split(".")
    in_cluster = len(parts) == 2 or (len(parts) >= 3 and parts[2] == "svc"
                                     and (len(parts) == 3 or ".".join(parts[3:]) == CLUSTER_DOMAIN))
    return (parts[1], parts[0]) if in_cluster else None


def check_tracing_wired(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "tracing-provider-wired")
    providers = _providers(model)
    tracing_kinds = {"opentelemetry", "zipkin", "datadog", "skywalking", "stackdriver"}
    used: set[str] = set()
    for telemetry in model.of("telemetry.istio.io/Telemetry"):
        with per_resource("tracing-provider-wired", telemetry.urn):
            title = f"Telemetry {namespace_of(telemetry)}/{metadata_name(telemetry.props)}"
            for tracing in items(telemetry.props, "spec", "tracing"):
                for provider in items(tracing, "providers"):
                    name = str(get(provider, "name", default=""))
                    used.add(name)
                    if name not in providers:
                        report(f"{title} sends spans to provider '{name}', which istiod's "
                               f"meshConfig.extensionProviders does not define ({', '.join(sorted(providers)) or 'none'}):"
                               " Istio ignores it and no proxy exports a span. Fix: define the provider in the istiod "
                               "values or name a defined one.", telemetry.urn)
    istiod = model.release("istiod")
    services = _services(model)
    for name, (host, port, kind) in sorted(providers.items()):
        if kind not in tracing_kinds:
            continue
        urn = istiod.urn if istiod is not None else ""
        if name not in used:
            report(f"istiod defines the tracing provider '{name}' ({host}:{port}) but no Telemetry references it, so "
                   "no proxy sends it a span while its collector runs for nothing. Fix: a Telemetry in the root "
                   "namespace with tracing.providers [{name: " + name + "}], or remove the provider.", urn)
        key = _service_key(host)
        if key is not None and (key not in services or (port is not None and port not in services[key])):
            where = "has no such port" if key in services else "is not a Service of this stack"
            report(f"Tracing provider '{name}' exports to {host}:{port}, which {where}: every span is dropped at the "
                   "proxy. Fix: point the provider at the collector's Service and port.", urn)


ROUTED_SCHEMA: Schema = {
    "requiredSeverities": string_list("Alert severities that must reach a receiver with an integration.",
                                      ["critical"]),
}


def _matches(matchers: list[Any], labels: dict[str, str]) -> bool:
    """Alertmanager `matchers` (`name = "v"`, `name =~ "a|b"`, `!=`, `!~`) against a label set."""
    for matcher in matchers:
        match = re.match(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$', str(matcher))
        if not match:
            return False
        name, op, value = match.groups()
        actual = labels.get(name, "")
        ok = {"=": actual == value, "!=": actual != value,
              "=~": re.fullmatch(value, actual) is not None, "!~": re.fullmatch(value, actual) is None}[op]
        if not ok:
            return False
    return True


def _receiver_for(route: dict[str, Any], labels: dict[str, str], inherited: str) -> str:
    receiver = str(route.get("receiver") or inherited)
    for child in route.get("routes") or []:
        if not isinstance(child, dict):
            continue
        # `match` / `match_re` are the deprecated spellings of `matchers`.
        matchers = [*(child.get("matchers") or []),
                    *(f'{k} = "{v}"' for k, v in (child.get("match") or {}).items()),
                    *(f'{k} =~ "{v}"' for k, v in (child.get("match_re") or {}).items())]
        if _matches(matchers, labels):
            return _receiver_for(child, labels, receiver)
    return receiver


def _rule_severities(model: StackModel) -> dict[str, list[str]]:
    """Severity -> alert names raised by the stack's PrometheusRules."""
    found: dict[str, list[str]] = {}
    for rule in model.of("monitoring.coreos.com/PrometheusRule"):
        with per_resource("alerts-routed", rule.urn):
            for group in items(rule.props, "spec", "groups"):
                for entry in items(group, "rules"):
                    alert = get(entry, "alert")
                    severity = get(entry, "labels", "severity")
                    if alert and severity:
                        found.setdefault(str(severity), []).append(str(alert))
    return found


def check_alerts_routed(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "alerts-routed")
    release = next((r for r in model.releases if _is_monitoring_release(r.props)), None)
    if release is None:
        return
    with per_resource("alerts-routed", release.urn):
        config = plain(get(release.props, "values", "alertmanager", "config", default={})) or {}
        route = config.get("route") if isinstance(config, dict) else None
        receivers = {str(r.get("name")): r for r in (config.get("receivers") or []) if isinstance(r, dict)} \
            if isinstance(config, dict) else {}
        severities = _rule_severities(model)
        for severity in cfg.get("requiredSeverities", ["critical"]):
            alerts = severities.get(severity)
            if not alerts:
                continue
            if not isinstance(route, dict):
                report(f"The stack raises {severity} alerts ({', '.join(sorted(alerts)[:3])}, ...) but the "
                       "kube-prometheus-stack release sets no alertmanager.config route, so the chart's default "
                       "sends them to its 'null' receiver. Fix: configure observability.alerting.receivers and routes.",
                       release.urn)
                continue
            name = _receiver_for(route, {"severity": severity, "alertname": sorted(alerts)[0]}, "")
            integrations = [key for key, value in mapping(receivers.get(name, {})).items()
                            if key.endswith("_configs") and value]
            if not integrations:
                report(f"{len(alerts)} {severity} alert(s) of the stack ({', '.join(sorted(alerts)[:3])}, ...) are "
                       f"routed to receiver '{name}', which has no integration: nobody is notified. Fix: set "
                       "observability.alerting.receivers (pagerduty, slack, email) and their secrets, and route "
                       f"{severity} to one (observability.alerting.routes).", release.urn)


def policies() -> list[ResourceValidationPolicy | StackValidationPolicy]:
    return [
        resource_policy("alert-receiver-secrets", "Alertmanager receivers take their credentials from mounted "
                        "Secrets, never from plaintext release values.", check_receiver_secrets,
                        remediation="Use the *_file fields with a Secret listed in alertmanagerSpec.secrets.",
                        applies=of_types(*RELEASE_TYPES)),
        resource_policy("trace-sampling-bounded", "Trace sampling stays at or below the stack's cap.", check_sampling,
                        schema=SAMPLING_SCHEMA, remediation="Lower randomSamplingPercentage.", applies=of_types(TELEMETRY_TYPE)),
        stack_policy("tracing-provider-wired", "Tracing providers and Telemetry resources name each other, and the "
                     "provider's collector Service exists.", check_tracing_wired,
                     remediation="Define the provider in istiod's meshConfig and reference it from a Telemetry."),
        stack_policy("alerts-routed", "Alerts of the required severities reach a receiver that notifies someone.",
                     check_alerts_routed, schema=ROUTED_SCHEMA,
                     remediation="Configure observability.alerting receivers and routes."),
    ]
