"""Edge protection at the public gateway (components/services/edge.py, stack_config/edge.py, docs/edge.md).

What each stack records: the gateway's EnvoyFilter (parsed as the Envoy types its `@type`s name, strictly, by
offline/envoy_config.py, since the CRD leaves patch values untyped), the public routes (WebSocket first, with a
session-long timeout), the gateway Service and pods (client address), and config errors for what cannot work.
The EnvoyFilter and VirtualService also pass their CRD schemas in tests/test_crd_schemas.py, the gateway values
the pinned chart in tests/test_chart_values.py, and the edge policies run over gRPC in tests/policy/test_edge.py.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from offline import crd_schemas, envoy_config
from offline.chart_values import integral_floats_to_int
from offline.harness import StackEvaluation, evaluate_stack, stack_file_config
from tests.conftest import STACKS
from tests.test_addons import config_of, named, of_kind, spec
from tests.test_config_validation import KEY, problems_for

Evaluated = Callable[[str], StackEvaluation]
HEADER_MUTATION = "envoy.filters.http.header_mutation"
RATE_LIMIT = "envoy.filters.http.local_ratelimit"
BUFFER = "envoy.filters.http.buffer"


def envoy_filter(ev: StackEvaluation) -> dict[str, Any]:
    found = named(ev, "EnvoyFilter", "edge-protection")
    body: dict[str, Any] = integral_floats_to_int(found.plain_inputs)
    return body


def patches(ev: StackEvaluation) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = envoy_filter(ev)["spec"]["configPatches"]
    return found


def http_filter(ev: StackEvaluation, name: str, port: int | None = None) -> dict[str, Any]:
    matches = [p for p in patches(ev) if p["applyTo"] == "HTTP_FILTER" and p["patch"]["value"]["name"] == name
               and p["match"]["listener"].get("portNumber") == port]
    assert len(matches) == 1, f"{len(matches)} {name} patches on port {port}"
    return matches[0]


def response_headers(patch: dict[str, Any]) -> dict[str, str]:
    mutations = patch["patch"]["value"]["typed_config"]["mutations"]["response_mutations"]
    return {m["append"]["header"]["key"]: m["append"]["header"]["value"] for m in mutations if "append" in m}


def gateway_values(ev: StackEvaluation) -> dict[str, Any]:
    release = next(r for r in ev.resources if r.type.endswith("helm.sh/v3:Release") and r.name == "mesh-gateway")
    values: dict[str, Any] = integral_floats_to_int(release.plain_inputs["values"])
    return values


def public_routes(ev: StackEvaluation) -> list[dict[str, Any]]:
    routes: list[dict[str, Any]] = integral_floats_to_int(spec(named(ev, "VirtualService", "api-public")))["http"]
    return routes


def with_edge(stack: str, edge: dict[str, Any]) -> StackEvaluation:
    """The stack with `ingress.edge` set; its EnvoyFilter (if any) must still be valid Envoy config."""
    config, _ = stack_file_config(stack)
    ingress = json.loads(config["browser-platform:ingress"])
    ev = evaluate_stack(stack, overrides={"ingress": {**ingress, "edge": edge}})
    assert envoy_config.check_envoy_filter(envoy_filter(ev)["spec"]) == []
    return ev


# ---------------------------------------------------------------------------------------------------------
# The Envoy config is Envoy config
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", STACKS)
def test_envoy_filter_parses_as_the_envoy_types_it_names(evaluated: Evaluated, stack: str) -> None:
    body = envoy_filter(evaluated(stack))
    assert body["apiVersion"] == "networking.istio.io/v1alpha3"
    assert body["metadata"]["namespace"] == config_of(stack).ingress_namespace
    assert body["spec"]["workloadSelector"] == {"labels": {"istio": "ingressgateway"}}
    assert envoy_config.check_envoy_filter(body["spec"]) == []
    applied = [(p["applyTo"], p["patch"]["operation"], (p["patch"]["value"].get("name") or "route")) for p in
               body["spec"]["configPatches"]]
    assert applied == [
        ("HTTP_FILTER", "INSERT_FIRST", HEADER_MUTATION), ("HTTP_FILTER", "INSERT_FIRST", HEADER_MUTATION),
        ("HTTP_FILTER", "INSERT_AFTER", RATE_LIMIT), ("HTTP_FILTER", "INSERT_BEFORE", BUFFER),
        ("NETWORK_FILTER", "MERGE", "envoy.filters.network.http_connection_manager"),
        ("HTTP_ROUTE", "MERGE", "route"),
    ]
    # istiod applies the patches in order: the rate limit is placed after a filter an earlier patch inserted.
    assert http_filter(evaluated(stack), RATE_LIMIT)["match"]["listener"]["filterChain"]["filter"]["subFilter"] == {
        "name": HEADER_MUTATION}


@pytest.mark.parametrize(("break_it", "expected"), [
    (lambda v: v["typed_config"].update(max_dynamic_descriptor=5), "Unknown field 'max_dynamic_descriptor'"),
    (lambda v: v["typed_config"].update({"@type": v["typed_config"]["@type"] + "s"}), "no message LocalRateLimits"),
    (lambda v: v["typed_config"]["token_bucket"].update(fill_interval="10ms"), "Invalid duration string: 10ms"),
    (lambda v: v["typed_config"]["token_bucket"].update(fill_interval="0.010s"), "fill_interval must be >= 50ms"),
    (lambda v: v["typed_config"]["token_bucket"].update(max_tokens="many"), "ValueError"),
    (lambda v: v["typed_config"]["descriptors"][0].pop("token_bucket"), "descriptors[0].token_bucket is required"),
    (lambda v: v["typed_config"]["response_headers_to_add"][0].update(append=False),
     "HeaderValueOption.append is deprecated in the Envoy API"),
    (lambda v: v["typed_config"].update(local_rate_limit_per_downstream_connection=True),
     "does not work with local_rate_limit_per_downstream_connection"),
    (lambda v: v.update(name="envoy.filters.http.buffer"),
     "filter 'envoy.filters.http.buffer' takes envoy.extensions.filters.http.buffer.v3.Buffer"),
    (lambda v: v.update(name="envoy.filters.http.made_up"), "not one this program knows to be built into Istio's"),
])
def test_the_checker_catches_what_istiod_would_drop_or_envoy_would_reject(
        evaluated: Evaluated, break_it: Callable[[dict[str, Any]], None], expected: str) -> None:
    body = copy.deepcopy(envoy_filter(evaluated("prod")))
    rate_limit = next(p for p in body["spec"]["configPatches"]
                      if (p["patch"].get("value") or {}).get("name") == RATE_LIMIT)
    break_it(rate_limit["patch"]["value"])
    problems = envoy_config.check_envoy_filter(body["spec"])
    assert any(expected in p for p in problems), problems


def test_the_checker_resolves_nested_per_route_types(evaluated: Evaluated) -> None:
    body = copy.deepcopy(envoy_filter(evaluated("prod")))
    route = next(p for p in body["spec"]["configPatches"] if p["applyTo"] == "HTTP_ROUTE")
    per_filter = route["patch"]["value"]["typed_per_filter_config"]
    per_filter[BUFFER]["disabled"] = False
    assert any("override oneof is required" in p for p in envoy_config.check_envoy_filter(body["spec"]))
    per_filter[BUFFER] = {"@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer",
                          "max_request_bytes": 1}
    assert any("takes envoy.extensions.filters.http.buffer.v3.BufferPerRoute" in p
               for p in envoy_config.check_envoy_filter(body["spec"]))


# ---------------------------------------------------------------------------------------------------------
# Rate limit: per client address, in every gateway pod
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", STACKS)
def test_rate_limit_is_one_bucket_per_client_address(evaluated: Evaluated, stack: str) -> None:
    ev = evaluated(stack)
    ingress = config_of(stack).ingress
    assert ingress is not None
    limit = ingress.edge.rate_limit
    assert (limit.requests_per_second, limit.bucket_size, limit.max_tracked_clients) == (100, 100, 10_000)
    config = http_filter(ev, RATE_LIMIT)["patch"]["value"]["typed_config"]
    per_client = {"max_tokens": 100, "tokens_per_fill": 100, "fill_interval": "1s"}
    assert config["rate_limits"] == [{"actions": [{"remote_address": {}}]}]
    # A descriptor entry without a value is a wildcard: a bucket per distinct address (Envoy's dynamic descriptors).
    assert config["descriptors"] == [{"entries": [{"key": "remote_address"}], "token_bucket": per_client}]
    assert config["max_dynamic_descriptors"] == 10_000
    assert config["always_consume_default_token_bucket"] is False
    for key in ("filter_enabled", "filter_enforced"):
        assert config[key]["default_value"] == {"numerator": 100, "denominator": "HUNDRED"}
    assert config["response_headers_to_add"] == [{"header": {"key": "retry-after", "value": "1"},
                                                  "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}]
    assert "local_rate_limit_per_downstream_connection" not in config  # wildcards work per Envoy process only


def test_rate_limit_follows_the_config_and_can_be_switched_off() -> None:
    ev = with_edge("dev", {"rateLimit": {"requestsPerSecond": 20, "burst": 50, "maxTrackedClients": 500}})
    config = http_filter(ev, RATE_LIMIT)["patch"]["value"]["typed_config"]
    assert config["descriptors"][0]["token_bucket"] == {"max_tokens": 50, "tokens_per_fill": 20, "fill_interval": "1s"}
    assert config["max_dynamic_descriptors"] == 500
    off = with_edge("dev", {"rateLimit": {"enabled": False}})
    assert RATE_LIMIT not in json.dumps(envoy_filter(off))


# ---------------------------------------------------------------------------------------------------------
# The address the bucket keys on is the client's
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", STACKS)
def test_the_gateway_sees_the_client_address(evaluated: Evaluated, stack: str) -> None:
    values = gateway_values(evaluated(stack))
    flavor = config_of(stack).cluster.kind
    service = values["service"]
    if flavor == "kind":
        # Docker's port mapping lands on the control-plane node, which runs no gateway pod: Local would drop it.
        assert (service["type"], service["externalTrafficPolicy"]) == ("NodePort", "Cluster")
    else:
        # The cloud load balancer (EKS NLB, instance targets; GKE passthrough) keeps the client's address up to
        # the node; Local keeps kube-proxy from SNATing it to a node address on the way to the pod.
        assert (service["type"], service["externalTrafficPolicy"]) == ("LoadBalancer", "Local")
    proxy_config = json.loads(values["podAnnotations"]["proxy.istio.io/config"])
    # No HTTP proxy in front (L4 load balancers): X-Forwarded-For from clients is never trusted.
    assert proxy_config["gatewayTopology"] == {"numTrustedProxies": 0}
    assert proxy_config["proxyHeaders"] == {"server": {"disabled": True}, "envoyDebugHeaders": {"disabled": True},
                                            "metadataExchangeHeaders": {"mode": "IN_MESH"}}


def test_trusted_proxies_reach_the_gateway_topology() -> None:
    values = gateway_values(with_edge("prod", {"trustedProxies": 1}))
    assert json.loads(values["podAnnotations"]["proxy.istio.io/config"])["gatewayTopology"] == {"numTrustedProxies": 1}


# ---------------------------------------------------------------------------------------------------------
# Security headers, body limit, idle timeouts
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", STACKS)
def test_security_headers_on_every_response_and_hsts_only_over_tls(evaluated: Evaluated, stack: str) -> None:
    ev = evaluated(stack)
    common = {"x-content-type-options": "nosniff", "content-security-policy": "frame-ancestors 'none'",
              "x-frame-options": "DENY", "referrer-policy": "no-referrer"}
    assert response_headers(http_filter(ev, HEADER_MUTATION, 443)) == {
        "strict-transport-security": "max-age=31536000; includeSubDomains", **common}
    assert response_headers(http_filter(ev, HEADER_MUTATION, 80)) == common
    for port in (443, 80):
        mutations = http_filter(ev, HEADER_MUTATION, port)["patch"]["value"]["typed_config"]["mutations"]
        assert {"remove": "server"} in mutations["response_mutations"]
        assert {"remove_on_match": {"key_matcher": {"prefix": "x-envoy-"}}} in mutations["response_mutations"]


def test_frame_ancestors_replace_x_frame_options() -> None:
    ev = with_edge("dev", {"securityHeaders": {"frameAncestors": ["https://app.example.com"],
                                               "hstsIncludeSubdomains": False, "referrerPolicy": "same-origin"}})
    headers = response_headers(http_filter(ev, HEADER_MUTATION, 443))
    assert headers["content-security-policy"] == "frame-ancestors https://app.example.com"
    assert "x-frame-options" not in headers  # it cannot name an origin
    assert headers["strict-transport-security"] == "max-age=31536000"
    assert headers["referrer-policy"] == "same-origin"


@pytest.mark.parametrize("stack", STACKS)
def test_body_limit_and_idle_timeouts(evaluated: Evaluated, stack: str) -> None:
    ev = evaluated(stack)
    assert http_filter(ev, BUFFER)["patch"]["value"]["typed_config"]["max_request_bytes"] == 2**20
    assert http_filter(ev, BUFFER)["match"]["listener"]["filterChain"]["filter"]["subFilter"] == {
        "name": "envoy.filters.http.router"}
    merge = next(p for p in patches(ev) if p["applyTo"] == "NETWORK_FILTER")["patch"]["value"]["typed_config"]
    # Istio sets stream_idle_timeout 0 (never); the gateway closes a silent stream after 15 minutes.
    assert (merge["stream_idle_timeout"], merge["request_headers_timeout"]) == ("900s", "10s")


# ---------------------------------------------------------------------------------------------------------
# WebSocket (DevTools) sessions through the gateway
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", STACKS)
def test_websocket_route_outlasts_the_longest_session(evaluated: Evaluated, stack: str) -> None:
    ev = evaluated(stack)
    config = config_of(stack)
    websocket, plain = public_routes(ev)
    session = config.workloads["browser"].session_timeout_seconds
    assert websocket["name"] == "api-websocket" and plain["name"] == "api"
    # Envoy applies the route timeout to the whole upgraded stream: the plain route's 60 s would cut sessions.
    assert websocket["timeout"] == f"{session + 60}s" and websocket["retries"] == {"attempts": 0}
    assert plain["timeout"] == f"{config.mesh.api_timeout_seconds}s" and plain["retries"]["attempts"] == 3
    regex = websocket["match"][0]["headers"]["upgrade"]["regex"]
    assert all(re.fullmatch(regex, token) for token in ("websocket", "WebSocket", "WEBSOCKET"))
    assert not re.fullmatch(regex, "h2c")
    # The buffer filter would hold the upgrade forever: the route the WebSocket takes has it disabled, by name.
    override = next(p for p in patches(ev) if p["applyTo"] == "HTTP_ROUTE")
    assert override["match"]["routeConfiguration"] == {"portNumber": 443, "vhost": {"route": {"name": "api-websocket"}}}
    assert override["patch"]["value"]["typed_per_filter_config"][BUFFER]["disabled"] is True


def test_websocket_timeout_can_be_set() -> None:
    websocket, _ = public_routes(with_edge("dev", {"websocketTimeoutSeconds": 7200}))
    assert websocket["timeout"] == "7200s"


# ---------------------------------------------------------------------------------------------------------
# CORS
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", STACKS)
def test_no_cross_origin_access_by_default(evaluated: Evaluated, stack: str) -> None:
    assert all("corsPolicy" not in route for route in public_routes(evaluated(stack)))


def test_cors_from_config_on_every_public_route() -> None:
    ev = with_edge("prod", {"cors": {"allowedOrigins": ["https://app.example.com", "http://localhost:5173"],
                                     "allowCredentials": True, "exposeHeaders": ["x-session-id"]}})
    for route in public_routes(ev):
        assert route["corsPolicy"] == {
            "allowOrigins": [{"exact": "https://app.example.com"}, {"exact": "http://localhost:5173"}],
            "allowMethods": ["GET", "POST", "PUT", "PATCH", "DELETE"], "allowHeaders": ["authorization", "content-type"],
            "allowCredentials": True, "maxAge": "600s", "unmatchedPreflights": "IGNORE", "exposeHeaders": ["x-session-id"]}
    # The CORS fields are the pinned VirtualService CRD's (the stacks as committed carry none to check there).
    assert crd_schemas.check_object(integral_floats_to_int(named(ev, "VirtualService", "api-public").plain_inputs)) == []
    wildcard = with_edge("dev", {"cors": {"allowedOrigins": ["*"]}})
    assert public_routes(wildcard)[0]["corsPolicy"]["allowOrigins"] == [{"regex": ".*"}]


# ---------------------------------------------------------------------------------------------------------
# Config errors (nothing registered) and the stack without a public entry
# ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("edge", "path", "text"), [
    ({"cors": {"allowedOrigins": ["*"], "allowCredentials": True}}, "ingress.edge.cors.allowedOrigins",
     "'*' cannot be combined with allowCredentials true"),
    ({"cors": {"allowedOrigins": ["https://app.example.com/path"]}}, "ingress.edge.cors.allowedOrigins",
     "is not an origin"),
    ({"rateLimit": {"requestsPerSecond": 100, "burst": 10}}, "ingress.edge.rateLimit.burst",
     "must be at least requestsPerSecond (100)"),
    ({"maxRequestBody": "1Gi"}, "ingress.edge.maxRequestBody", "must be between 1Ki and 64Mi"),
    ({"trustedProxies": 9}, "ingress.edge.trustedProxies", "less than or equal to 5"),
    ({"securityHeaders": {"hstsMaxAgeSeconds": 60}}, "ingress.edge.securityHeaders.hstsMaxAgeSeconds",
     "greater than or equal to 86400"),
    ({"rateLimits": {}}, "ingress.edge.rateLimits", "did you mean 'rateLimit'"),
])
def test_bad_edge_config_names_the_key(edge: dict[str, Any], path: str, text: str) -> None:
    problems = problems_for(lambda c: c["ingress"].update(edge=edge))
    assert any(p.startswith(f"{KEY}:{path}") and text in p for p in problems), problems


def test_no_public_entry_no_edge() -> None:
    ev = evaluate_stack("dev", overrides={"ingress": None})
    assert not of_kind(ev, "EnvoyFilter")
    assert not [r for r in ev.resources if r.name == "mesh-gateway"]


def test_edge_doc_numbers_are_the_programs(evaluated: Evaluated) -> None:
    from capacity import platform_services as sizes
    from offline.harness import REPO_ROOT

    text = (REPO_ROOT / "docs" / "edge.md").read_text()
    prod_ws, dev_ws = (public_routes(evaluated(s))[0]["timeout"].removesuffix("s") for s in ("prod", "dev"))
    assert f"{prod_ws} s in prod, {dev_ws} s in dev" in text
    limit = http_filter(evaluated("prod"), RATE_LIMIT)["patch"]["value"]["typed_config"]
    rate = limit["descriptors"][0]["token_bucket"]["tokens_per_fill"]
    assert f"{rate} requests/s, bucket of {limit['descriptors'][0]['token_bucket']['max_tokens']}" in text
    assert f"| {limit['max_dynamic_descriptors']} (least recently used dropped)" in text
    replicas = sizes.gateway_replicas(True)
    assert f"{replicas.min} to {replicas.max} gateway pods" in text
    assert f"at most {replicas.min * rate}/s at {replicas.min} pods, {replicas.max * rate}/s at {replicas.max}" in text
    merge = next(p for p in patches(evaluated("prod")) if p["applyTo"] == "NETWORK_FILTER")["patch"]["value"]
    assert f"| {merge['typed_config']['stream_idle_timeout'].removesuffix('s')} s |" in text
