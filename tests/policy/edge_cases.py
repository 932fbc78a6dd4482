"""Violating cases of the edge-protection policies (policy/browser_platform_policies/edge.py): each breaks one
piece of the gateway's protection in a real stack's recorded resources."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from offline.harness import RecordedResource

from .cases import Case, edit

ENVOY_FILTER = ("networking.istio.io/v1alpha3:EnvoyFilter", "edge-envoyfilter")
GATEWAY_RELEASE = ("helm.sh/v3:Release", "mesh-gateway")
PUBLIC_ROUTES = ("networking.istio.io/v1:VirtualService", "mesh-policies-virtualservice-api-public")


def patches(envoy_filter: RecordedResource) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = envoy_filter.inputs["spec"]["configPatches"]
    return found


def filter_config(envoy_filter: RecordedResource, name: str, port: float | None = None) -> dict[str, Any]:
    for patch in patches(envoy_filter):
        value = patch["patch"].get("value") or {}
        if value.get("name") == name and patch["match"].get("listener", {}).get("portNumber") == port:
            config: dict[str, Any] = value["typed_config"]
            return config
    raise KeyError(name)


def drop_patches(test: Callable[[dict[str, Any]], bool]) -> Callable[[RecordedResource], None]:
    def change(envoy_filter: RecordedResource) -> None:
        envoy_filter.inputs["spec"]["configPatches"] = [p for p in patches(envoy_filter) if not test(p)]
    return change


def named_filter(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda patch: (patch["patch"].get("value") or {}).get("name") == name and patch["applyTo"] == "HTTP_FILTER"


def shadow_rate_limit(envoy_filter: RecordedResource) -> None:
    filter_config(envoy_filter, "envoy.filters.http.local_ratelimit")["filter_enforced"]["default_value"]["numerator"] = 0


def drop_response_header(*names: str) -> Callable[[RecordedResource], None]:
    def change(envoy_filter: RecordedResource) -> None:
        config = filter_config(envoy_filter, "envoy.filters.http.header_mutation", 443.0)
        mutations = config["mutations"]["response_mutations"]
        config["mutations"]["response_mutations"] = [
            m for m in mutations if m.get("append", {}).get("header", {}).get("key") not in names]
    return change


def service_values(change: Callable[[dict[str, Any]], None]) -> Callable[[RecordedResource], None]:
    return lambda release: change(release.inputs["values"]["service"])


def lb_annotation(key: str, value: str) -> Callable[[dict[str, Any]], None]:
    return lambda service: service["annotations"].update({f"service.beta.kubernetes.io/aws-load-balancer-{key}": value})


def on_routes(change: Callable[[list[dict[str, Any]]], None]) -> Callable[[RecordedResource], None]:
    return lambda virtual_service: change(virtual_service.inputs["spec"]["http"])


def allow_any_origin(match: dict[str, Any]) -> Callable[[list[dict[str, Any]]], None]:
    def change(routes: list[dict[str, Any]]) -> None:
        for route in routes:
            route["corsPolicy"] = {"allowOrigins": [{"exact": "https://app.example.com"}, match],
                                   "allowCredentials": True, "allowMethods": ["GET"]}
    return change


def websocket_timeout(value: str) -> Callable[[list[dict[str, Any]]], None]:
    def change(routes: list[dict[str, Any]]) -> None:
        routes[0]["timeout"] = value
    return change


def without_websocket_route(routes: list[dict[str, Any]]) -> None:
    del routes[0]


EDGE_CASES: list[Case] = [
    Case("prod-gateway-without-rate-limit", "edge-gateway-rate-limit",
         edit(*ENVOY_FILTER, drop_patches(named_filter("envoy.filters.http.local_ratelimit")), analyze=False),
         "takes requests from the internet with no per-client rate limit", stack="prod"),
    Case("prod-gcp-rate-limit-not-enforced", "edge-gateway-rate-limit",
         edit(*ENVOY_FILTER, shadow_rate_limit, analyze=False),
         "no per-client rate limit", stack="prod-gcp"),
    Case("prod-gateway-snat", "edge-client-address",
         edit(*GATEWAY_RELEASE, service_values(lambda s: s.update(externalTrafficPolicy="Cluster")), analyze=False),
         "kube-proxy rewrites the client's address to a node's", stack="prod"),
    Case("prod-proxy-protocol-unexpected", "edge-client-address",
         edit(*GATEWAY_RELEASE, service_values(lb_annotation("proxy-protocol", "*")), analyze=False),
         "the gateway does not expect it", stack="prod"),
    Case("prod-nlb-ip-targets", "edge-client-address",
         edit(*GATEWAY_RELEASE, service_values(lb_annotation("nlb-target-type", "ip")), analyze=False),
         "the gateway never sees the client", stack="prod"),
    Case("dev-cors-any-origin-with-credentials", "edge-cors-credentials",
         edit(*PUBLIC_ROUTES, on_routes(allow_any_origin({"regex": ".*"}))),
         "allows credentials from any origin"),
    Case("dev-cors-scheme-prefix-with-credentials", "edge-cors-credentials",
         edit(*PUBLIC_ROUTES, on_routes(allow_any_origin({"prefix": "https://"}))),
         "allows credentials from any origin"),
    Case("prod-tls-without-hsts", "edge-security-headers",
         edit(*ENVOY_FILTER, drop_response_header("strict-transport-security"), analyze=False),
         "terminates TLS on port 443 but its responses lack Strict-Transport-Security", stack="prod"),
    Case("prod-frameable", "edge-security-headers",
         edit(*ENVOY_FILTER, drop_response_header("x-frame-options", "content-security-policy"), analyze=False),
         "lack X-Frame-Options or Content-Security-Policy frame-ancestors", stack="prod"),
    Case("prod-no-body-limit", "edge-request-limits",
         edit(*ENVOY_FILTER, drop_patches(named_filter("envoy.filters.http.buffer")), analyze=False),
         "accepts request bodies of any size", stack="prod"),
    Case("prod-idle-streams-forever", "edge-request-limits",
         edit(*ENVOY_FILTER, drop_patches(lambda p: p["applyTo"] == "NETWORK_FILTER"), analyze=False),
         "never closes an idle stream", stack="prod"),
    Case("prod-websocket-route-too-short", "edge-websocket-sessions",
         edit(*PUBLIC_ROUTES, on_routes(websocket_timeout("600s")), analyze=False),
         "times out after 600s, but a browser session lasts up to 3600s", stack="prod"),
    Case("prod-websocket-route-buffered", "edge-websocket-sessions",
         edit(*ENVOY_FILTER, drop_patches(lambda p: p["applyTo"] == "HTTP_ROUTE"), analyze=False),
         "the WebSocket never opens", stack="prod"),
    Case("prod-no-websocket-route", "edge-websocket-sessions",
         edit(*PUBLIC_ROUTES, on_routes(without_websocket_route), analyze=False),
         "every DevTools session through the gateway is cut after 60s", stack="prod"),
]
