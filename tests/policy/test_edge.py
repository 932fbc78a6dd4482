"""Edge-protection policies (policy/browser_platform_policies/edge.py) over the real analyzer protocol.

The violating cases (edge_cases.py) run with the others in test_protocol.py; here: the stacks as built pass every
edge policy, what each policy deliberately leaves alone, and the helpers' reading of Envoy and Istio values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from offline.harness import RecordedResource, StackEvaluation

from .cases import Case, edit
from .edge_cases import ENVOY_FILTER, GATEWAY_RELEASE, PUBLIC_ROUTES, filter_config, lb_annotation, service_values
from .pack import PackProcess, mutated
from .test_protocol import config_document, run_case

EDGE_POLICIES = ("edge-gateway-rate-limit", "edge-client-address", "edge-cors-credentials", "edge-security-headers",
                 "edge-request-limits", "edge-websocket-sessions")


def edge_diagnostics(diagnostics: list[Any]) -> list[Any]:
    return [d for d in diagnostics if d.policy in EDGE_POLICIES]


@pytest.mark.parametrize("stack", ["dev", "prod", "prod-gcp"])
def test_the_stacks_pass_every_edge_policy(pack: PackProcess, evaluated: Callable[[str], StackEvaluation],
                                           stack: str) -> None:
    resources = evaluated(stack).resources
    pack.configure(config_document(stack), force_all="mandatory")
    assert edge_diagnostics(pack.analyze_all(mutated(resources))) == []


def no_finding(pack: PackProcess, evaluated: Callable[[str], StackEvaluation], case: Case) -> None:
    found = [d for d in run_case(pack, evaluated(case.stack).resources, case) if d.policy == case.policy]
    assert found == [], [d.message for d in found]


def test_kind_nodeport_keeps_cluster_policy(pack: PackProcess, evaluated: Callable[[str], StackEvaluation]) -> None:
    """On kind the gateway Service is a NodePort behind Docker's port mapping: not a load balancer to keep Local."""
    no_finding(pack, evaluated, Case("dev-nodeport", "edge-client-address",
                                     edit(*GATEWAY_RELEASE, lambda r: None, analyze=False), ""))


def test_trusted_proxies_make_cluster_policy_acceptable(pack: PackProcess,
                                                        evaluated: Callable[[str], StackEvaluation]) -> None:
    """Behind an L7 proxy the client address comes from X-Forwarded-For, which SNAT does not touch."""
    def change(release: RecordedResource) -> None:
        release.inputs["values"]["service"]["externalTrafficPolicy"] = "Cluster"
        release.inputs["values"]["podAnnotations"]["proxy.istio.io/config"] = '{"gatewayTopology": {"numTrustedProxies": 1}}'
    no_finding(pack, evaluated, Case("prod-cdn", "edge-client-address", edit(*GATEWAY_RELEASE, change, analyze=False),
                                     "", stack="prod"))


def test_proxy_protocol_the_gateway_expects(pack: PackProcess, evaluated: Callable[[str], StackEvaluation]) -> None:
    def change(release: RecordedResource) -> None:
        service_values(lb_annotation("proxy-protocol", "*"))(release)
        service_values(lb_annotation("nlb-target-type", "ip"))(release)
        release.inputs["values"]["podAnnotations"]["proxy.istio.io/config"] = (
            '{"gatewayTopology": {"numTrustedProxies": 0, "proxyProtocol": {}}}')
    no_finding(pack, evaluated, Case("prod-proxy-protocol", "edge-client-address",
                                     edit(*GATEWAY_RELEASE, change, analyze=False), "", stack="prod"))


def test_exact_origins_with_credentials_pass(pack: PackProcess, evaluated: Callable[[str], StackEvaluation]) -> None:
    def change(virtual_service: RecordedResource) -> None:
        for route in virtual_service.inputs["spec"]["http"]:
            route["corsPolicy"] = {"allowOrigins": [{"exact": "https://app.example.com"},
                                                    {"regex": "https://[a-z]+\\.example\\.com"}],
                                   "allowCredentials": True}
    no_finding(pack, evaluated, Case("dev-exact-origins", "edge-cors-credentials", edit(*PUBLIC_ROUTES, change), ""))


def test_a_rate_limit_over_the_ceiling_is_reported(pack: PackProcess,
                                                   evaluated: Callable[[str], StackEvaluation]) -> None:
    def change(envoy_filter: RecordedResource) -> None:
        bucket = filter_config(envoy_filter, "envoy.filters.http.local_ratelimit")["descriptors"][0]["token_bucket"]
        bucket.update(max_tokens=5000.0, tokens_per_fill=5000.0)
    case = Case("prod-rate-too-high", "edge-gateway-rate-limit", edit(*ENVOY_FILTER, change, analyze=False), "",
                stack="prod")
    found = [d.message for d in run_case(pack, evaluated("prod").resources, case) if d.policy == case.policy]
    assert any("lets each client send 5000 requests/s, over the 1000 allowed" in m for m in found), found


def test_helpers_read_envoy_and_istio_values() -> None:
    from browser_platform_policies import edge

    assert edge.seconds("3660s") == 3660 and edge.seconds("500ms") == 0.5 and edge.seconds("1h") == 3600
    assert edge.seconds(None) is None and edge.seconds("soon") is None
    assert edge.per_client_rate({"rateLimits": [{"actions": [{"remoteAddress": {}}]}], "descriptors": [
        {"entries": [{"key": "remote_address"}], "tokenBucket": {"maxTokens": 20, "tokensPerFill": 10,
                                                                 "fillInterval": "2s"}}]}) == 5
    # A descriptor with a value limits one address only, not every client.
    assert edge.per_client_rate({"rate_limits": [{"actions": [{"remote_address": {}}]}], "descriptors": [
        {"entries": [{"key": "remote_address", "value": "10.0.0.1"}],
         "token_bucket": {"max_tokens": 1, "fill_interval": "1s"}}]}) is None
    assert edge.admits_any_origin({"regex": ".*"}) and edge.admits_any_origin({"prefix": ""})
    assert edge.admits_any_origin("*") and not edge.admits_any_origin({"exact": "https://app.example.com"})
    assert edge.upgrades_websocket({"match": [{"headers": {"upgrade": {"exact": "websocket"}}}]})
    assert not edge.upgrades_websocket({"match": [{"headers": {"upgrade": {"exact": "h2c"}}}]})
