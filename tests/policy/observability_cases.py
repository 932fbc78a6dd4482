"""Violating variants for the observability policies (policy/browser_platform_policies/observability.py): each
mutates the prod stack's recorded tracing and alerting objects so that exactly one rule is broken."""

from __future__ import annotations

from typing import Any

from offline.harness import RecordedResource

from .cases import Case, Resources, named

RELEASE = "helm.sh/v3:Release"
TELEMETRY = "telemetry.istio.io/v1:Telemetry"


def _alertmanager(resources: Resources) -> tuple[RecordedResource, dict[str, Any]]:
    release = named(resources, RELEASE, "monitoring-release")
    return release, release.inputs["values"]["alertmanager"]


def _receiver(resources: Resources, name: str) -> tuple[RecordedResource, dict[str, Any]]:
    release, alertmanager = _alertmanager(resources)
    return release, next(r for r in alertmanager["config"]["receivers"] if r["name"] == name)


def _plaintext_routing_key(resources: Resources) -> RecordedResource:
    release, critical = _receiver(resources, "critical")
    pagerduty = critical["pagerduty_configs"][0]
    pagerduty.pop("routing_key_file")
    pagerduty["routing_key"] = "0123456789abcdef0123456789abcdef"
    return release


def _plaintext_webhook_url(resources: Resources) -> RecordedResource:
    release, alertmanager = _alertmanager(resources)
    alertmanager["config"]["receivers"].append(
        {"name": "heartbeat", "webhook_configs": [{"url": "https://hc-ping.example/abcdef-token"}]})
    return release


def _secret_not_mounted(resources: Resources) -> RecordedResource:
    release, alertmanager = _alertmanager(resources)
    alertmanager["alertmanagerSpec"]["secrets"] = []
    return release


def _sampling(percent: float) -> Any:
    def mutate(resources: Resources) -> RecordedResource:
        telemetry = named(resources, TELEMETRY, "tracing-telemetry")
        telemetry.inputs["spec"]["tracing"][0]["randomSamplingPercentage"] = percent
        return telemetry
    return mutate


def _unknown_provider(resources: Resources) -> None:
    named(resources, TELEMETRY, "tracing-telemetry").inputs["spec"]["tracing"][0]["providers"] = [{"name": "jaeger"}]


def _no_telemetry(resources: Resources) -> None:
    resources.remove(named(resources, TELEMETRY, "tracing-telemetry"))


def _provider_wrong_port(resources: Resources) -> None:
    istiod = named(resources, RELEASE, "mesh-istiod")
    istiod.inputs["values"]["meshConfig"]["extensionProviders"][0]["opentelemetry"]["port"] = 4318.0


def _no_collector_service(resources: Resources) -> None:
    resources.remove(named(resources, "core/v1:Service", "tracing-collector-service"))


def _critical_to_null(resources: Resources) -> None:
    _, alertmanager = _alertmanager(resources)
    for route in alertmanager["config"]["route"]["routes"]:
        if route["receiver"] == "critical":
            route["receiver"] = "null"


def _no_route_tree(resources: Resources) -> None:
    _, alertmanager = _alertmanager(resources)
    alertmanager.pop("config")


OBSERVABILITY_CASES: list[Case] = [
    Case("prod-pagerduty-key-in-values", "alert-receiver-secrets", _plaintext_routing_key,
         "receivers[1].pagerduty_configs[0].routing_key holds a credential in plaintext", stack="prod"),
    Case("prod-webhook-url-in-values", "alert-receiver-secrets", _plaintext_webhook_url,
         "webhook_configs[0].url holds a credential in plaintext", stack="prod"),
    Case("prod-receiver-secret-not-mounted", "alert-receiver-secrets", _secret_not_mounted,
         "Secret 'alertmanager-receivers' is not in alertmanager.alertmanagerSpec.secrets", stack="prod"),
    Case("prod-sampling-above-cap", "trace-sampling-bounded", _sampling(50.0),
         "traces 50% of requests (tracing[0].randomSamplingPercentage), above this stack's cap of 10%", stack="prod"),
    Case("prod-gcp-sampling-everything", "trace-sampling-bounded", _sampling(100.0),
         "traces 100% of requests", stack="prod-gcp"),
    Case("prod-telemetry-unknown-provider", "tracing-provider-wired", _unknown_provider,
         "sends spans to provider 'jaeger', which istiod's meshConfig.extensionProviders does not define", stack="prod"),
    Case("prod-provider-without-telemetry", "tracing-provider-wired", _no_telemetry,
         "defines the tracing provider 'otel-tracing'", stack="prod"),
    Case("prod-provider-wrong-port", "tracing-provider-wired", _provider_wrong_port,
         "exports to otel-collector.tracing.svc.cluster.local:4318, which has no such port", stack="prod"),
    Case("prod-provider-no-collector", "tracing-provider-wired", _no_collector_service,
         "which is not a Service of this stack", stack="prod"),
    Case("prod-critical-routed-to-null", "alerts-routed", _critical_to_null,
         "are routed to receiver 'null', which has no integration", stack="prod"),
    Case("prod-gcp-no-alertmanager-config", "alerts-routed", _no_route_tree,
         "sets no alertmanager.config route", stack="prod-gcp"),
]
