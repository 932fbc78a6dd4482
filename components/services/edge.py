"""Edge protection at the public ingress gateway: per-client rate limit, security headers, body limit, timeouts.

Istio 1.30 has no API for a local rate limit, response headers on the gateway's own replies, a body limit or the
gateway's stream idle timeout, so they are one `EnvoyFilter` on the gateway pods (the CRD leaves patch values
untyped; offline/envoy_config.py parses every value as the Envoy type its `@type` names, strictly). What Istio does
type (CORS, routes, timeouts) stays in the public `VirtualService` (components/services/mesh.py), shaped here.

Filter order on every gateway HTTP listener (decode order; responses pass back through them in reverse):
  header_mutation (security headers, strips Server and x-envoy-*)  -> first, so the 429/413/404 replies the
  local_ratelimit (token bucket per client address)                   filters after it make also pass through it
  ... Istio's own filters (authn, authz, CORS, stats) ...
  buffer (413 above maxRequestBody)                                 -> before the router; off on WebSocket routes
  router
The rate limit is local: each gateway pod keeps its own bucket per client address (docs/edge.md: a client
whose connections land on k pods can reach k x requestsPerSecond; one keep-alive connection gets exactly it).
The key is Envoy's trusted client address: the connection's peer when `trustedProxies` is 0, which is the real
client only when nothing on the way rewrites the source address (`client_ip_preserving_policy`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from stack_config.edge import ANY_ORIGIN, CorsSettings, EdgeSettings, SecurityHeaders

from ..common.labels import PART_OF

ENVOY_FILTER_NAME = "edge-protection"
HTTPS_PORT = 443
HTTP_PORT = 80
HCM = "envoy.filters.network.http_connection_manager"
ROUTER = "envoy.filters.http.router"
HEADER_MUTATION = "envoy.filters.http.header_mutation"
LOCAL_RATE_LIMIT = "envoy.filters.http.local_ratelimit"
BUFFER = "envoy.filters.http.buffer"
TYPE_PREFIX = "type.googleapis.com/"
FILTER_TYPES = {
    HCM: "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
    HEADER_MUTATION: "envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
    LOCAL_RATE_LIMIT: "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
    BUFFER: "envoy.extensions.filters.http.buffer.v3.Buffer",
}
"""Each filter's name and the config type Envoy's docs name for it ("should be configured with the type URL")."""
BUFFER_PER_ROUTE = "envoy.extensions.filters.http.buffer.v3.BufferPerRoute"
RATE_LIMIT_STAT_PREFIX = "edge_client_rate_limit"
RETRY_AFTER_SECONDS = 1
"""The buckets refill every second, so a limited client may retry after one."""
WEBSOCKET_MARGIN_SECONDS = 60
WEBSOCKET_UPGRADE_MATCH = {"upgrade": {"regex": "(?i)websocket"}}
"""`Upgrade: websocket`, any case (RFC 6455 compares the token case-insensitively; RE2 syntax)."""
ClientIpPolicy = Literal["Local", "Cluster"]


def typed(type_name: str, **fields: Any) -> dict[str, Any]:
    return {"@type": TYPE_PREFIX + type_name, **fields}


def _percent_100(key: str) -> dict[str, Any]:
    return {"runtime_key": key, "default_value": {"numerator": 100, "denominator": "HUNDRED"}}


def _set_header(name: str, value: str) -> dict[str, Any]:
    return {"append": {"header": {"key": name, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}}


def security_headers(headers: SecurityHeaders, *, tls: bool) -> dict[str, str]:
    """The response headers of one listener; HSTS only where the listener terminates TLS (browsers ignore it on
    plain HTTP, and it must never be learnt from a response an attacker could forge)."""
    result: dict[str, str] = {}
    if tls:
        hsts = f"max-age={headers.hsts_max_age_seconds}"
        result["strict-transport-security"] = hsts + ("; includeSubDomains" if headers.hsts_include_subdomains else "")
    result["x-content-type-options"] = "nosniff"
    ancestors = " ".join(headers.frame_ancestors) or "'none'"
    result["content-security-policy"] = f"frame-ancestors {ancestors}"
    if not headers.frame_ancestors:
        result["x-frame-options"] = "DENY"  # X-Frame-Options cannot list origins: only with frame-ancestors 'none'
    result["referrer-policy"] = headers.referrer_policy
    return result


def header_mutation_filter(headers: SecurityHeaders, *, tls: bool) -> dict[str, Any]:
    mutations: list[dict[str, Any]] = [_set_header(k, v) for k, v in security_headers(headers, tls=tls).items()]
    # The Server header is left to pass through (proxyHeaders.server.disabled) and removed here; x-envoy-* headers
    # (x-envoy-ratelimited, the API sidecar's x-envoy-upstream-service-time, ...) say what runs inside.
    mutations += [{"remove": "server"}, {"remove_on_match": {"key_matcher": {"prefix": "x-envoy-"}}}]
    return {"name": HEADER_MUTATION,
            "typed_config": typed(FILTER_TYPES[HEADER_MUTATION], mutations={"response_mutations": mutations})}


def _bucket(size: int, per_second: int) -> dict[str, Any]:
    return {"max_tokens": size, "tokens_per_fill": per_second, "fill_interval": "1s"}


def rate_limit_filter(settings: EdgeSettings) -> dict[str, Any]:
    limit = settings.rate_limit
    bucket = _bucket(limit.bucket_size, limit.requests_per_second)
    config = typed(
        FILTER_TYPES[LOCAL_RATE_LIMIT],
        stat_prefix=RATE_LIMIT_STAT_PREFIX,
        # Consumed only by a request no descriptor matches (every request has a client address, so none does).
        token_bucket=bucket,
        always_consume_default_token_bucket=False,
        filter_enabled=_percent_100("edge_rate_limit_enabled"),
        filter_enforced=_percent_100("edge_rate_limit_enforced"),
        # The filter itself builds ("remote_address", <trusted client address>) for every request ...
        rate_limits=[{"actions": [{"remote_address": {}}]}],
        # ... and a descriptor whose value is left out is a wildcard: one bucket per distinct address, kept in an
        # LRU of max_dynamic_descriptors entries (Envoy >= 1.34; Istio 1.30 ships a newer Envoy).
        descriptors=[{"entries": [{"key": "remote_address"}], "token_bucket": bucket}],
        max_dynamic_descriptors=limit.max_tracked_clients,
        response_headers_to_add=[{"header": {"key": "retry-after", "value": str(RETRY_AFTER_SECONDS)},
                                  "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}],
    )
    return {"name": LOCAL_RATE_LIMIT, "typed_config": config}


def _on_listener(port: int | None = None, sub_filter: str | None = None) -> dict[str, Any]:
    network_filter: dict[str, Any] = {"name": HCM}
    if sub_filter is not None:
        network_filter["subFilter"] = {"name": sub_filter}
    listener: dict[str, Any] = {"filterChain": {"filter": network_filter}}
    if port is not None:
        listener["portNumber"] = port
    return {"context": "GATEWAY", "listener": listener}


def envoy_filter_patches(settings: EdgeSettings, websocket_routes: list[str]) -> list[dict[str, Any]]:
    """The EnvoyFilter's configPatches, in the order istiod applies them (a later patch finds an earlier filter)."""
    patches: list[dict[str, Any]] = [
        {"applyTo": "HTTP_FILTER", "match": _on_listener(port),
         "patch": {"operation": "INSERT_FIRST", "value": header_mutation_filter(settings.security_headers, tls=tls)}}
        for port, tls in ((HTTPS_PORT, True), (HTTP_PORT, False))
    ]
    if settings.rate_limit.enabled:
        patches.append({"applyTo": "HTTP_FILTER", "match": _on_listener(sub_filter=HEADER_MUTATION),
                        "patch": {"operation": "INSERT_AFTER", "value": rate_limit_filter(settings)}})
    patches.append({"applyTo": "HTTP_FILTER", "match": _on_listener(sub_filter=ROUTER), "patch": {
        "operation": "INSERT_BEFORE",
        "value": {"name": BUFFER, "typed_config": typed(FILTER_TYPES[BUFFER],
                                                        max_request_bytes=settings.max_request_body_bytes)}}})
    patches.append({"applyTo": "NETWORK_FILTER", "match": _on_listener(), "patch": {"operation": "MERGE", "value": {
        "name": HCM,
        "typed_config": typed(FILTER_TYPES[HCM],
                              stream_idle_timeout=f"{settings.idle_timeout_seconds}s",
                              request_headers_timeout=f"{settings.request_headers_timeout_seconds}s"),
    }}})
    # The buffer filter holds a request until its body ends; an upgraded WebSocket's never does, so the upgrade
    # would wait forever on a route that buffers.
    patches += [
        {"applyTo": "HTTP_ROUTE",
         "match": {"context": "GATEWAY",
                   "routeConfiguration": {"portNumber": HTTPS_PORT, "vhost": {"route": {"name": route}}}},
         "patch": {"operation": "MERGE", "value": {
             "typed_per_filter_config": {BUFFER: typed(BUFFER_PER_ROUTE, disabled=True)}}}}
        for route in websocket_routes
    ]
    return patches


def gateway_proxy_config(settings: EdgeSettings) -> dict[str, Any]:
    """The gateway pods' ProxyConfig (annotation `proxy.istio.io/config`, read by the injector)."""
    return {
        # X-Forwarded-For entries Envoy trusts when it picks the client address (xff_num_trusted_hops).
        "gatewayTopology": {"numTrustedProxies": settings.trusted_proxies},
        "proxyHeaders": {
            "server": {"disabled": True},  # pass through, then removed by the header_mutation filter
            "envoyDebugHeaders": {"disabled": True},
            "metadataExchangeHeaders": {"mode": "IN_MESH"},
        },
    }


def gateway_pod_annotations(settings: EdgeSettings) -> dict[str, str]:
    return {"proxy.istio.io/config": json.dumps(gateway_proxy_config(settings), sort_keys=True)}


def client_ip_preserving_policy(flavor: str) -> ClientIpPolicy:
    """The gateway Service's externalTrafficPolicy.

    EKS (NLB with instance targets) and GKE (passthrough Network LB) deliver the client's address to the node;
    with `Cluster` kube-proxy / Dataplane V2 would SNAT it to a node address whenever the gateway pod is on
    another node, and every client would share that node's bucket. `Local` sends traffic only to nodes with a
    gateway pod and keeps the address. On kind the NodePort is reached through Docker's port mapping on the
    control-plane node, which runs no gateway pod: `Local` would drop everything, and the one client (this
    machine) arrives from Docker's network address either way.
    """
    return "Cluster" if flavor == "kind" else "Local"


def cors_policy(cors: CorsSettings) -> dict[str, Any] | None:
    """The VirtualService corsPolicy, or None when no origin is allowed (no Access-Control headers at all)."""
    if not cors.allowed_origins:
        return None
    origins = [{"regex": ".*"} if origin == ANY_ORIGIN else {"exact": origin} for origin in cors.allowed_origins]
    policy: dict[str, Any] = {
        "allowOrigins": origins,
        "allowMethods": list(cors.allowed_methods),
        "allowHeaders": list(cors.allowed_headers),
        "allowCredentials": cors.allow_credentials,
        "maxAge": f"{cors.max_age_seconds}s",
        # A preflight from an origin not listed is answered by the gateway without CORS headers (the browser
        # then refuses), instead of being forwarded to the API.
        "unmatchedPreflights": "IGNORE",
    }
    if cors.expose_headers:
        policy["exposeHeaders"] = list(cors.expose_headers)
    return policy


@dataclass(frozen=True)
class PublicEdge:
    """How the public routes of one backend are shaped at the edge (MeshPolicies' public VirtualService)."""

    cors: dict[str, Any] | None
    websocket_timeout_seconds: int
    """Route timeout of WebSocket upgrades: Envoy applies a route timeout to the whole upgraded stream."""


def websocket_timeout(settings: EdgeSettings, longest_session_seconds: int) -> int:
    if settings.websocket_timeout_seconds is not None:
        return settings.websocket_timeout_seconds
    return longest_session_seconds + WEBSOCKET_MARGIN_SECONDS


def websocket_route_name(backend: str) -> str:
    return f"{backend}-websocket"


def public_http_routes(backend: str, route: dict[str, Any], edge: PublicEdge | None, port: int = HTTPS_PORT
                       ) -> list[dict[str, Any]]:
    """The backend's routes on the HTTPS listener: WebSocket upgrades first (session-long timeout, no retries,
    no body buffering), then plain requests with the API's timeout and retries; CORS on both."""
    plain = {**route, "name": backend, "match": [{"port": port}]}
    if edge is None:
        return [plain]
    websocket = {**route, "name": websocket_route_name(backend),
                 "match": [{"port": port, "headers": dict(WEBSOCKET_UPGRADE_MATCH)}],
                 "timeout": f"{edge.websocket_timeout_seconds}s", "retries": {"attempts": 0}}
    routes = [websocket, plain]
    if edge.cors is not None:
        routes = [{**r, "corsPolicy": edge.cors} for r in routes]
    return routes


@dataclass(frozen=True)
class EdgeProtectionArgs:
    settings: EdgeSettings
    gateway_namespace: str
    gateway_selector: dict[str, str]
    websocket_routes: list[str]
    """Names of the public VirtualService routes that carry WebSocket upgrades (the buffer is off on them)."""
    after: list[pulumi.Resource] = field(default_factory=list)
    """The releases that install the EnvoyFilter CRD and the gateway whose pods it selects."""


class EdgeProtection(pulumi.ComponentResource):
    """The gateway's EnvoyFilter; CORS and route timeouts live on the public VirtualService."""

    def __init__(self, name: str, args: EdgeProtectionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:addons:EdgeProtection", name, None, opts)
        labels = {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": "pulumi"}
        k8s.apiextensions.CustomResource(
            f"{name}-envoyfilter",
            api_version="networking.istio.io/v1alpha3", kind="EnvoyFilter",
            metadata=ObjectMetaArgs(name=ENVOY_FILTER_NAME, namespace=args.gateway_namespace, labels=labels),
            spec={
                "workloadSelector": {"labels": dict(args.gateway_selector)},
                "configPatches": envoy_filter_patches(args.settings, args.websocket_routes),
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.after)),
        )
        self.register_outputs({})
