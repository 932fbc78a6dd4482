"""Tracing, alert routing and SLO alerts as the engine receives them (components/services/tracing.py, alerting.py).

Runtime semantics asserted here, which no schema sees: the proxies' provider names the collector's Service and
port, every NetworkPolicy hop of a span is open (proxy -> collector -> Tempo, Grafana -> Tempo), the Grafana
data source points at Tempo's Service, credentials reach Alertmanager only as mounted files, switching tracing off
leaves nothing behind, and every PromQL expression parses (promql-parser) and reads only recorded series.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import promql_parser
import pytest
import yaml

from capacity import platform_services as sizes
from components.services import alerting, tracing
from offline.harness import PROJECT, RecordedResource, StackEvaluation, evaluate, evaluate_stack, is_secret, stack_file_config
from stack_config import ConfigError, validate_stack_config
from stack_config.observability import AlertingSettings, SloSettings

from .conftest import STACKS

Evaluated = Callable[[str], StackEvaluation]
RELEASE = "kubernetes:helm.sh/v3:Release"
RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
CLOUD = ["prod", "prod-gcp"]


def release(ev: StackEvaluation, name: str) -> dict[str, Any]:
    values: dict[str, Any] = next(r.plain_inputs["values"] for r in ev.of_type(RELEASE) if r.inputs["name"] == name)
    return values


def of_kind(ev: StackEvaluation, kind: str) -> list[RecordedResource]:
    return [r for r in ev.resources if r.type.endswith(f":{kind}")]


def obj(ev: StackEvaluation, kind: str, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r.plain_inputs for r in of_kind(ev, kind)
                                 if r.inputs["metadata"]["name"] == name
                                 and r.inputs["metadata"].get("namespace") == namespace)
    return found


def _admits(policy: dict[str, Any], direction: str, namespace: str | None, pod: dict[str, str] | None,
            port: int) -> bool:
    """Whether a NetworkPolicy rule of `direction` (ingress/egress) admits that peer on that TCP port."""
    peer_key = "from" if direction == "ingress" else "to"
    for rule in policy["spec"].get(direction, []):
        if not any(p.get("port") == port for p in rule.get("ports", [])):
            continue
        for peer in rule.get(peer_key, []):
            ns_ok = ("namespaceSelector" not in peer and namespace is None) or (
                peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") == namespace)
            wanted = peer.get("podSelector", {}).get("matchLabels", {})
            pod_ok = not wanted or (pod is not None and wanted.items() <= pod.items())
            if ns_ok and pod_ok:
                return True
    return False


# --- tracing ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", CLOUD)
def test_spans_flow_from_the_proxies_to_tempo_and_grafana_reads_them(evaluated: Evaluated, stack: str) -> None:
    ev = evaluated(stack)
    provider = release(ev, "istiod")["meshConfig"]["extensionProviders"][0]
    assert provider["name"] == tracing.PROVIDER_NAME
    host, port = provider["opentelemetry"]["service"], int(provider["opentelemetry"]["port"])
    name, namespace = host.split(".")[:2]
    collector_service = obj(ev, "Service", namespace, name)
    assert port in [p["port"] for p in collector_service["spec"]["ports"]]
    assert next(p for p in collector_service["spec"]["ports"] if p["port"] == port)["appProtocol"] == "grpc"
    telemetry = obj(ev, "Telemetry", "istio-system", tracing.TELEMETRY_NAME)
    assert "selector" not in telemetry["spec"]  # root namespace, no selector: the whole mesh
    assert telemetry["spec"]["tracing"] == [{"providers": [{"name": tracing.PROVIDER_NAME}],
                                             "randomSamplingPercentage": 1.0}]
    # The collector exports to Tempo's Service; Grafana's data source reads Tempo's query port.
    collector_config = yaml.safe_load(obj(ev, "ConfigMap", namespace, "otel-collector-config")["data"]["config.yaml"])
    exporter = collector_config["exporters"]["otlp"]["endpoint"]
    tempo_host, tempo_port = exporter.rsplit(":", 1)
    tempo_service = obj(ev, "Service", tempo_host.split(".")[1], tempo_host.split(".")[0])
    assert int(tempo_port) in [p["port"] for p in tempo_service["spec"]["ports"]]
    datasource = release(ev, "kube-prometheus-stack")["grafana"]["additionalDataSources"][0]
    assert datasource["type"] == "tempo" and datasource["url"] == tracing.TEMPO_URL
    assert int(datasource["url"].rsplit(":", 1)[1]) in [p["port"] for p in tempo_service["spec"]["ports"]]
    assert release(ev, "kube-prometheus-stack")["grafana"]["prune"] is True
    # The pipeline's processors and exporters are all used (the collector refuses a config with a dangling name).
    pipeline = collector_config["service"]["pipelines"]["traces"]
    assert set(pipeline["processors"]) == set(collector_config["processors"])
    assert set(pipeline["exporters"]) == set(collector_config["exporters"])


@pytest.mark.parametrize("stack", CLOUD)
def test_every_hop_of_a_span_is_admitted_by_network_policy(evaluated: Evaluated, stack: str) -> None:
    ev = evaluated(stack)
    ns = tracing.TRACING_NAMESPACE
    collector = tracing.component_labels(tracing.COLLECTOR)
    tempo = tracing.component_labels(tracing.TEMPO)
    collector_policy = obj(ev, "NetworkPolicy", ns, "collector")
    tempo_policy = obj(ev, "NetworkPolicy", ns, "tempo")
    for source in ("browser-platform", "istio-ingress"):  # the sidecars and the ingress gateway export
        assert _admits(collector_policy, "ingress", source, None, tracing.OTLP_GRPC_PORT), source
    assert not _admits(collector_policy, "ingress", "browser-data", None, tracing.OTLP_GRPC_PORT)
    # The platform namespace denies egress by default; its proxies get exactly the collector.
    export = obj(ev, "NetworkPolicy", "browser-platform", "allow-trace-export")
    assert _admits(export, "egress", ns, collector, tracing.OTLP_GRPC_PORT)
    assert _admits(collector_policy, "egress", None, tempo, tracing.OTLP_GRPC_PORT)
    assert _admits(tempo_policy, "ingress", None, collector, tracing.OTLP_GRPC_PORT)
    assert _admits(tempo_policy, "ingress", "monitoring", None, tracing.TEMPO_HTTP_PORT)
    assert not _admits(tempo_policy, "ingress", "browser-platform", None, tracing.TEMPO_HTTP_PORT)
    assert obj(ev, "NetworkPolicy", ns, "default-deny-all")["spec"]["policyTypes"] == ["Ingress", "Egress"]
    # No sidecar in the tracing namespace (so the proxies send plain OTLP) and no STRICT mTLS expected there.
    namespace = next(r.plain_inputs for r in of_kind(ev, "Namespace") if r.inputs["metadata"]["name"] == ns)
    assert "istio-injection" not in namespace["metadata"]["labels"]
    assert not [r for r in of_kind(ev, "PeerAuthentication") if r.inputs["metadata"].get("namespace") == ns]


@pytest.mark.parametrize("stack", CLOUD)
def test_browser_pods_report_no_spans_and_cannot_reach_the_collector(evaluated: Evaluated, stack: str) -> None:
    """Browser pods run untrusted pages and may reach only the internet, DNS and istiod (policy
    browser-egress-internet-only): the export rule leaves them out, and a workload-level Telemetry stops their
    proxies from trying (traces still show each call into a pool from the caller's side)."""
    ev = evaluated(stack)
    export = obj(ev, "NetworkPolicy", "browser-platform", "allow-trace-export")
    assert export["spec"]["podSelector"] == {"matchExpressions": [
        {"key": "app.kubernetes.io/component", "operator": "NotIn", "values": ["browser"]}]}
    silent = obj(ev, "Telemetry", "browser-platform", "no-span-reporting")
    assert silent["spec"] == {"selector": {"matchLabels": {"app.kubernetes.io/component": "browser"}},
                              "tracing": [{"disableSpanReporting": True}]}


@pytest.mark.parametrize("stack", CLOUD)
def test_tracing_pods_are_hardened_and_sized_by_the_capacity_model(evaluated: Evaluated, stack: str) -> None:
    ev = evaluated(stack)
    collector = obj(ev, "Deployment", tracing.TRACING_NAMESPACE, tracing.COLLECTOR)
    tempo = obj(ev, "StatefulSet", tracing.TRACING_NAMESPACE, tracing.TEMPO)
    expected = ((collector, sizes.OTEL_COLLECTOR, sizes.otel_collector_replicas(True)),
                (tempo, sizes.TEMPO, sizes.TEMPO_REPLICAS))
    for workload, requests, replicas in expected:
        pod = workload["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert {k: v for k, v in container["resources"]["requests"].items() if k != "ephemeral-storage"} \
            == requests.values()
        assert int(workload["spec"]["replicas"]) == replicas.max
        assert "@sha256:" in container["image"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["automountServiceAccountToken"] is False
    claim = tempo["spec"]["volumeClaimTemplates"][0]["spec"]
    assert claim["resources"]["requests"]["storage"] == "20Gi" and claim["storageClassName"]
    assert tempo["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Delete"
    config = yaml.safe_load(obj(ev, "ConfigMap", tracing.TRACING_NAMESPACE, "tempo-config")["data"]["tempo.yaml"])
    assert config["compactor"]["compaction"]["block_retention"] == "168h"
    # Two collectors on clouds, so a drain keeps one receiving.
    assert obj(ev, "PodDisruptionBudget", tracing.TRACING_NAMESPACE, tracing.COLLECTOR)["spec"]["maxUnavailable"] == 1


def test_tracing_off_removes_every_trace_of_it() -> None:
    ev = evaluate_stack("prod", overrides={"observability": {"tracing": {"enabled": False},
                                                             "alerting": {"receivers": {"pagerduty": {}}}}})
    assert not [r for r in ev.resources if r.urn.split("::")[-1].startswith("tracing")]
    assert not of_kind(ev, "Telemetry")
    assert "extensionProviders" not in release(ev, "istiod")["meshConfig"]
    grafana = release(ev, "kube-prometheus-stack")["grafana"]
    assert "additionalDataSources" not in grafana and grafana["prune"] is True  # Grafana drops the data source
    assert not [r for r in ev.resources if r.inputs.get("metadata", {}).get("namespace") == tracing.TRACING_NAMESPACE]


def test_sampling_and_retention_come_from_config() -> None:
    ev = evaluate_stack("prod", overrides={"observability": {
        "tracing": {"samplingPercent": 5, "retention": "72h", "storageSize": "50Gi"},
        "alerting": {"receivers": {"pagerduty": {}}}}})
    telemetry = obj(ev, "Telemetry", "istio-system", tracing.TELEMETRY_NAME)
    assert telemetry["spec"]["tracing"][0]["randomSamplingPercentage"] == 5
    config = yaml.safe_load(obj(ev, "ConfigMap", tracing.TRACING_NAMESPACE, "tempo-config")["data"]["tempo.yaml"])
    assert config["compactor"]["compaction"]["block_retention"] == "72h"
    tempo = obj(ev, "StatefulSet", tracing.TRACING_NAMESPACE, tracing.TEMPO)
    assert tempo["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "50Gi"


def test_dev_enables_tracing_on_request() -> None:
    ev = evaluate_stack("dev", overrides={"observability": {"tracing": {"enabled": True}}})
    assert of_kind(ev, "Telemetry")
    assert int(obj(ev, "Deployment", tracing.TRACING_NAMESPACE, tracing.COLLECTOR)["spec"]["replicas"]) == 1
    assert not [r for r in of_kind(ev, "PodDisruptionBudget") if r.inputs["metadata"].get("namespace") == "tracing"]


# --- config errors ------------------------------------------------------------------------------------------

def _problems(stack: str, overrides: dict[str, Any], drop_secrets: set[str] = frozenset(),  # type: ignore[assignment]
              plaintext: dict[str, str] | None = None) -> list[str]:
    values, secret_keys = stack_file_config(stack)
    own = {key.split(":", 1)[1]: value for key, value in values.items() if key.split(":", 1)[1] not in drop_secrets}
    own.update({key: json.dumps(value) for key, value in overrides.items()})
    own.update(plaintext or {})
    keys = {key.split(":", 1)[1] for key in secret_keys} - set(drop_secrets)
    with pytest.raises(ConfigError) as raised:
        validate_stack_config(own, keys)
    return raised.value.problems


def test_a_receiver_without_its_secret_is_a_config_error() -> None:
    problems = _problems("prod", {}, drop_secrets={"pagerdutyRoutingKey"})
    assert problems == [f"{PROJECT}:observability.alerting.receivers.pagerduty.routingKeySecret: the alert receiver's "
                        f"credential '{PROJECT}:pagerdutyRoutingKey' is not set; run `pulumi config set --secret "
                        "pagerdutyRoutingKey <value>`"]


def test_a_plaintext_receiver_credential_is_a_config_error() -> None:
    overrides = {"observability": {"alerting": {"receivers": {"pagerduty": {}, "slack": {"channel": "#alerts"}}}}}
    problems = _problems("prod", overrides, plaintext={"slackWebhookUrl": "https://hooks.slack.com/services/x"})
    assert problems == [f"{PROJECT}:observability.alerting.receivers.slack.webhookUrlSecret: '{PROJECT}:slackWebhookUrl'"
                        " is plaintext in the stack file; secrets must be set with `pulumi config set --secret "
                        "slackWebhookUrl <value>`"]


def test_a_route_to_an_unconfigured_receiver_is_a_config_error() -> None:
    overrides = {"observability": {"alerting": {"receivers": {"pagerduty": {}}, "routes": {"warning": ["slack"]}}}}
    problems = _problems("prod", overrides)
    assert problems == [f"{PROJECT}:observability.alerting.routes.warning[0]: 'slack' is not configured under "
                        "alerting.receivers (configured: pagerduty); add receivers.slack or remove it from this route"]


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"mesh": {"enabled": False}, "ingress": None, "observability": {"tracing": {"enabled": True}}},
     "observability.tracing.enabled: spans come from the mesh's Envoy proxies, so tracing needs mesh.enabled"),
    ({"observability": {"tracing": {"samplingPercent": 0}}}, "observability.tracing.samplingPercent"),
    ({"observability": {"tracing": {"retention": "7d"}}},
     "observability.tracing.retention: '7d' is not a duration in hours or minutes"),
])
def test_tracing_config_errors_name_the_key(overrides: dict[str, Any], expected: str) -> None:
    assert_config_error(overrides, expected)


def assert_config_error(overrides: dict[str, Any], expected: str, base: dict[str, Any] | None = None) -> None:
    """The dev stack's config with `base` and then `overrides` set (None removes a key) fails, naming `expected`."""
    values, secret_keys = stack_file_config("dev")
    own = {key.split(":", 1)[1]: value for key, value in values.items()}
    for key, value in {**(base or {}), **overrides}.items():
        if value is None:
            own.pop(key, None)
        else:
            own[key] = json.dumps(value)
    with pytest.raises(ConfigError) as raised:
        validate_stack_config(own, {key.split(":", 1)[1] for key in secret_keys})
    assert any(expected in problem for problem in raised.value.problems), raised.value.problems


def test_mesh_off_turns_default_tracing_off() -> None:
    values, secret_keys = stack_file_config("prod")
    own = {key.split(":", 1)[1]: value for key, value in values.items()}
    own["mesh"] = json.dumps({"enabled": False})
    own.pop("ingress")
    settings = validate_stack_config(own, {key.split(":", 1)[1] for key in secret_keys})
    assert settings.config.tracing_enabled is False


# --- alert routing ------------------------------------------------------------------------------------------

def _all_receivers_stack() -> StackEvaluation:
    config, secret_keys = stack_file_config("prod")
    config[f"{PROJECT}:observability"] = json.dumps({"alerting": {
        "receivers": {"pagerduty": {}, "slack": {"channel": "#platform-alerts"},
                      "email": {"to": ["oncall@corp.internal"], "from": "alertmanager@corp.internal",
                                "smarthost": "smtp.corp.internal:587", "username": "alertmanager"}},
        "routes": {"critical": ["pagerduty", "email"], "warning": ["slack"]},
        "deadMansSwitch": {}}})
    extra = {"slackWebhookUrl": "https://hooks.slack.test/T0/B0/secret-part", "smtpPassword": "smtp-secret-value",
             "deadMansSwitchUrl": "https://heartbeat.test/ping/secret-uuid"}
    for key, value in extra.items():
        config[f"{PROJECT}:{key}"] = value
    return evaluate("prod", config, [*secret_keys, *(f"{PROJECT}:{key}" for key in extra)])


@pytest.fixture(scope="module")
def all_receivers() -> StackEvaluation:
    return _all_receivers_stack()


def test_credentials_reach_alertmanager_only_as_mounted_files(all_receivers: StackEvaluation) -> None:
    values = release(all_receivers, "kube-prometheus-stack")
    text = json.dumps(values)
    for secret in ("secret-part", "smtp-secret-value", "secret-uuid", "offline-secret-pagerdutyRoutingKey"):
        assert secret not in text
    secret = next(r for r in of_kind(all_receivers, "Secret") if r.inputs["metadata"]["name"] == alerting.RECEIVER_SECRET)
    assert secret.inputs["metadata"]["namespace"] == "monitoring"
    assert is_secret(secret.inputs["stringData"])  # the engine stores it encrypted
    data = secret.plain_inputs["stringData"]
    assert data == {"pagerduty-routing-key": "offline-secret-pagerdutyRoutingKey",
                    "slack-webhook-url": "https://hooks.slack.test/T0/B0/secret-part",
                    "smtp-password": "smtp-secret-value", "dead-mans-switch-url": "https://heartbeat.test/ping/secret-uuid"}
    assert values["alertmanager"]["alertmanagerSpec"]["secrets"] == [alerting.RECEIVER_SECRET]
    files = {v for v in _walk_files(values["alertmanager"]["config"])}
    assert files == {f"/etc/alertmanager/secrets/{alerting.RECEIVER_SECRET}/{key}" for key in data}
    # The release waits for the Secret: Alertmanager's pods cannot start without their mounts.
    monitoring = next(r for r in all_receivers.of_type(RELEASE) if r.inputs["name"] == "kube-prometheus-stack")
    assert secret.urn in monitoring.dependencies


def _walk_files(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k.endswith("_file") and "secrets" in v] + \
            [f for v in node.values() for f in _walk_files(v)]
    if isinstance(node, list):
        return [f for v in node for f in _walk_files(v)]
    return []


def test_routes_follow_severity_with_inhibition_and_a_dead_mans_switch(all_receivers: StackEvaluation) -> None:
    config = release(all_receivers, "kube-prometheus-stack")["alertmanager"]["config"]
    receivers = {r["name"]: r for r in config["receivers"]}
    assert set(receivers["critical"]) == {"name", "pagerduty_configs", "email_configs"}
    assert set(receivers["warning"]) == {"name", "slack_configs"}
    assert receivers["warning"]["slack_configs"][0]["channel"] == "#platform-alerts"
    assert receivers["critical"]["email_configs"][0]["require_tls"] is True
    routes = config["route"]["routes"]
    assert routes[0] == {"receiver": "dead-mans-switch", "matchers": ['alertname = "Watchdog"'], "group_wait": "0s",
                         "group_interval": "1m", "repeat_interval": "1m"}
    assert [r["matchers"] for r in routes[2:]] == [['severity = "critical"'], ['severity = "warning"']]
    assert config["route"]["receiver"] == "null"  # info and anything unlabelled: nobody is paged
    assert config["inhibit_rules"][0]["source_matchers"] == ['severity = "critical"']


def test_default_routes_use_only_configured_receivers() -> None:
    settings = AlertingSettings.model_validate({"receivers": {"slack": {}}})
    assert settings.routing() == {"critical": ["slack"], "warning": ["slack"], "info": []}
    assert AlertingSettings().routing() == {"critical": [], "warning": [], "info": []}
    assert alerting.alerting_values(AlertingSettings())["alertmanager"]["alertmanagerSpec"] == {}


# --- SLO rules ----------------------------------------------------------------------------------------------

def _rules(ev: StackEvaluation) -> list[dict[str, Any]]:
    return [rule for r in ev.of_type(RULE) for group in r.plain_inputs["spec"]["groups"] for rule in group["rules"]]


@pytest.mark.parametrize("stack", STACKS)
def test_every_rule_expression_parses_as_promql(evaluated: Evaluated, stack: str) -> None:
    rules = _rules(evaluated(stack))
    assert len(rules) > 30
    for rule in rules:
        promql_parser.parse(rule["expr"])  # raises ValueError on a syntax error


def test_the_parser_rejects_broken_promql() -> None:
    with pytest.raises(ValueError):
        promql_parser.parse("sum(rate(http_requests_total[5m])")
    with pytest.raises(ValueError):
        promql_parser.parse('http_requests_total{le=~"1(\\.0)?"}')  # a PromQL string needs the backslash escaped


@pytest.mark.parametrize("stack", STACKS)
def test_slo_alerts_read_only_recorded_series(evaluated: Evaluated, stack: str) -> None:
    rules = _rules(evaluated(stack))
    recorded = {rule["record"] for rule in rules if "record" in rule}
    slo_alerts = [rule for rule in rules if rule.get("alert", "").startswith("SloErrorBudgetBurn")]
    assert len(slo_alerts) == 6  # 3 SLIs x (page, ticket)
    for rule in slo_alerts:
        used = {name for name in _selectors(promql_parser.parse(rule["expr"])) if name.startswith("slo:")}
        assert used and used <= recorded, (rule["alert"], used - recorded)


def _selectors(expr: Any) -> set[str]:
    """Metric names of every vector selector in a parsed expression."""
    names: set[str] = set()
    if isinstance(expr, promql_parser.VectorSelector):
        return {expr.name} if expr.name else set()
    for attribute in ("lhs", "rhs", "expr", "vector_selector", "param"):
        child = getattr(expr, attribute, None)
        if child is not None and not isinstance(child, str | int | float):
            names |= _selectors(child)
    for child in getattr(expr, "args", None) or []:
        names |= _selectors(child)
    return names


def test_burn_rates_are_the_workbook_ones_for_thirty_days() -> None:
    assert [a.factor(30) for a in alerting.BURN_ALERTS] == [14.4, 6.0, 3.0, 1.0]
    assert [a.factor(7) for a in alerting.BURN_ALERTS] == [3.36, 1.4, 0.7, 0.2333]


def test_slo_thresholds_and_selectors_come_from_config_and_args() -> None:
    targets = alerting.SloTargets(namespace="ns", api_services=["api", "api-internal"], browser_services=["browser"])
    slos = SloSettings.model_validate({"availability": {"targetPercent": 99.5}, "windowDays": 30})
    groups = alerting.slo_rule_groups(targets, slos)
    alerts = {r["alert"]: r for r in groups[1]["rules"]}
    fast = alerts["SloErrorBudgetBurnFastApiAvailability"]["expr"]
    assert "(14.4 * 0.005)" in fast and "(6.0 * 0.005)" in fast
    assert alerts["SloErrorBudgetBurnFastApiAvailability"]["labels"]["severity"] == "critical"
    assert alerts["SloErrorBudgetBurnSlowApiAvailability"]["labels"]["severity"] == "warning"
    records = {r["record"]: r["expr"] for r in groups[0]["rules"]}
    assert 'service=~"api|api-internal"' in records["slo:api_availability:error_ratio_rate5m"]
    assert 'le=~"1(\\\\.0)?"' in records["slo:api_latency:error_ratio_rate1h"]  # Prometheus 2 and 3 spellings
    assert 'service=~"browser"' in records["slo:sessions_admission:error_ratio"]


@pytest.mark.parametrize("stack", STACKS)
def test_slo_rule_is_labelled_for_prometheus_and_off_with_its_switch(evaluated: Evaluated, stack: str) -> None:
    rule = next(r for r in evaluated(stack).of_type(RULE) if r.inputs["metadata"]["name"] == "browser-platform-slos")
    assert rule.inputs["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    if stack == "dev":
        off = evaluate_stack("dev", overrides={"observability": {"slos": {"enabled": False},
                                                                 "tracing": {"enabled": False}}})
        assert not [r for r in off.of_type(RULE) if r.inputs["metadata"]["name"] == "browser-platform-slos"]


@pytest.mark.parametrize("stack", STACKS)
def test_slo_dashboard_panels_parse_and_read_recorded_series(evaluated: Evaluated, stack: str) -> None:
    ev = evaluated(stack)
    recorded = {rule["record"] for rule in _rules(ev) if "record" in rule}
    board = next(r.plain_inputs for r in of_kind(ev, "ConfigMap")
                 if r.inputs["metadata"]["name"] == "dashboard-service-levels")
    assert board["metadata"]["namespace"] == "monitoring" and board["metadata"]["labels"]["grafana_dashboard"] == "1"
    panels = json.loads(board["data"]["service-levels.json"])["panels"]
    assert len(panels) == 6
    read: set[str] = set()
    for panel in panels:
        for target in panel["targets"]:
            used = {n for n in _selectors(promql_parser.parse(target["expr"])) if n.startswith("slo:")}
            assert used <= recorded, (panel["title"], used - recorded)
            read |= used
    assert len(read) == 6  # 1h and 6h ratios of each of the three SLIs
