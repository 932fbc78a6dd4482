"""Edge protection of public Istio gateways: what the internet can do to the stack through the ingress gateway.

- `edge-gateway-rate-limit` (stack): every Gateway's pods run Envoy's local rate limit keyed on the client
  address (a wildcard `remote_address` descriptor: one bucket per address), enforced for all requests.
- `edge-client-address` (stack): the address that key reads is the client's. A LoadBalancer gateway Service
  with `externalTrafficPolicy: Cluster` is SNATed to a node address by kube-proxy whenever the pod is on another
  node (every client then shares a node's bucket); an AWS Load Balancer Controller NLB with IP targets hides it
  unless client IP preservation or proxy protocol is on, and proxy protocol needs the gateway to expect it.
- `edge-cors-credentials` (resource): a VirtualService CORS policy never lets any origin call with credentials.
- `edge-security-headers` (stack): an HTTPS gateway server sets HSTS, nosniff, frame protection and a
  Referrer-Policy on every response, the gateway's own replies included (an Envoy header_mutation filter; route
  headers miss the 404/429/413 the gateway answers itself).
- `edge-request-limits` (stack): the gateway limits request bodies (buffer filter) and closes idle streams
  (Istio sets the stream idle timeout to 0 = never) and slow headers.
- `edge-websocket-sessions` (stack): a route timeout applies to a whole upgraded WebSocket, so a public route
  that can carry a DevTools WebSocket must outlast the longest browser session; and the buffer filter must be
  off on it (it waits for a request body that an upgraded stream never ends).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import Policy, ReportViolation, ResourceValidationArgs, StackValidationArgs

from .config import Schema, per_resource, resource_policy, stack_policy
from .model import StackModel, namespace_of
from .props import as_int, get, items, kube_type, metadata_name, of_kinds, plain, str_map
from .stack import BROWSER_SCHEMA, _browsers, _model, _session_timeout

ROOT_NAMESPACE = "istio-system"
HCM = "envoy.filters.network.http_connection_manager"
RATE_LIMIT = "envoy.filters.http.local_ratelimit"
BUFFER = "envoy.filters.http.buffer"
HEADER_MUTATION = "envoy.filters.http.header_mutation"
CLIENT_KEYS = ("remote_address", "masked_remote_address")
PROBE_ORIGIN = "https://any-other-site.invalid"
"""An origin no stack means: a CORS matcher that admits it admits every site."""
_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
PROXY_CONFIG = "proxy.istio.io/config"
LB_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-"


def seconds(value: Any) -> float | None:
    """An Istio/Envoy duration string (`60s`, `1.5s`, `500ms`) in seconds; None when absent or not a duration."""
    if value is None:
        return None
    match = _DURATION.match(str(value))
    return float(match.group(1)) * _UNIT[match.group(2)] if match else None


def _key(obj: Any, snake: str) -> Any:
    """A field of an Envoy JSON value, written in the proto's snake_case or its lowerCamel JSON name."""
    camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), snake)
    found = get(obj, snake)
    return found if found is not None else get(obj, camel)


@dataclass(frozen=True)
class FilterPatch:
    filter_name: str
    config: Any
    port: int | None
    """The listener port the patch is limited to; None: every listener of the gateway."""
    envoy_filter: Any


@dataclass(frozen=True)
class Gateway:
    resource: Any
    namespace: str
    selector: dict[str, str]

    @property
    def title(self) -> str:
        return f"Gateway {metadata_name(self.resource.props)} ({self.namespace})"

    def servers(self) -> list[Any]:
        return items(self.resource.props, "spec", "servers")

    def https_ports(self) -> list[int]:
        ports = []
        for server in self.servers():
            protocol = str(get(server, "port", "protocol", default="")).upper()
            mode = str(get(server, "tls", "mode", default="")).upper()
            if protocol == "HTTPS" or mode in ("SIMPLE", "MUTUAL"):
                ports.append(as_int(get(server, "port", "number"), 0) or 0)
        return ports


def gateways(model: StackModel) -> list[Gateway]:
    return [Gateway(g, namespace_of(g), str_map(g.props, "spec", "selector"))
            for g in model.of("networking.istio.io/Gateway")]


def _applies_to(envoy_filter: Any, gateway: Gateway) -> bool:
    namespace = namespace_of(envoy_filter)
    if namespace not in (gateway.namespace, ROOT_NAMESPACE):
        return False
    wanted = str_map(envoy_filter.props, "spec", "workloadSelector", "labels")
    return all(gateway.selector.get(k) == v for k, v in wanted.items())


def _patches(model: StackModel, gateway: Gateway) -> Iterator[tuple[Any, Any]]:
    for envoy_filter in model.of("networking.istio.io/EnvoyFilter"):
        if _applies_to(envoy_filter, gateway):
            for patch in items(envoy_filter.props, "spec", "configPatches"):
                context = str(get(patch, "match", "context", default="ANY"))
                if context in ("ANY", "GATEWAY") and get(patch, "patch", "operation") != "REMOVE":
                    yield envoy_filter, patch


def http_filters(model: StackModel, gateway: Gateway, name: str) -> list[FilterPatch]:
    found = []
    for envoy_filter, patch in _patches(model, gateway):
        value = get(patch, "patch", "value")
        if get(patch, "applyTo") == "HTTP_FILTER" and get(value, "name") == name:
            port = as_int(get(patch, "match", "listener", "portNumber"))
            found.append(FilterPatch(name, _key(value, "typed_config"), port, envoy_filter))
    return found


def hcm_merges(model: StackModel, gateway: Gateway) -> list[Any]:
    return [_key(get(patch, "patch", "value"), "typed_config") for _, patch in _patches(model, gateway)
            if get(patch, "applyTo") == "NETWORK_FILTER" and get(patch, "patch", "operation") == "MERGE"
            and get(patch, "patch", "value", "name") == HCM]


def _route_overrides(model: StackModel, gateway: Gateway, filter_name: str) -> dict[str, Any]:
    """Route name -> the per-route config of `filter_name` an HTTP_ROUTE patch gives it."""
    found: dict[str, Any] = {}
    for _, patch in _patches(model, gateway):
        if get(patch, "applyTo") != "HTTP_ROUTE":
            continue
        route = get(patch, "match", "routeConfiguration", "vhost", "route", "name")
        per_filter = _key(get(patch, "patch", "value"), "typed_per_filter_config")
        config = get(per_filter, filter_name)
        if route and config is not None:
            found[str(route)] = config
    return found


def _full(fraction: Any) -> bool:
    default = get(fraction, "default_value") or get(fraction, "defaultValue")
    numerator = as_int(get(default, "numerator"), 0) or 0
    denominator = str(get(default, "denominator", default="HUNDRED"))
    return numerator >= {"HUNDRED": 100, "TEN_THOUSAND": 10_000, "MILLION": 1_000_000}.get(denominator, 100)


def per_client_rate(config: Any) -> float | None:
    """Requests per second one client address gets from this local rate limit config, or None if it keys on no
    client address (a wildcard remote_address descriptor fed by a remote_address action)."""
    actions = [next(iter(plain(a)), None) for limit in items(config, "rate_limits") + items(config, "rateLimits")
               for a in items(limit, "actions")]
    if not any(a in CLIENT_KEYS or a in ("remoteAddress", "maskedRemoteAddress") for a in actions):
        return None
    for descriptor in items(config, "descriptors"):
        entries = items(descriptor, "entries")
        if entries and all(get(e, "key") in CLIENT_KEYS and not get(e, "value") for e in entries):
            bucket = _key(descriptor, "token_bucket")
            per_fill = as_int(_key(bucket, "tokens_per_fill"), as_int(_key(bucket, "max_tokens"), 0))
            interval = seconds(_key(bucket, "fill_interval"))
            if per_fill and interval:
                return per_fill / interval
    return None


# ---------------------------------------------------------------------------------------------------------
# edge-gateway-rate-limit
# ---------------------------------------------------------------------------------------------------------

RATE_SCHEMA: Schema = {
    "maxRequestsPerSecond": {"type": "number", "minimum": 0, "default": 1000,
                             "description": "Highest per-client rate a gateway may allow."},
}


def check_rate_limit(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "edge-gateway-rate-limit")
    for gateway in gateways(model):
        with per_resource("edge-gateway-rate-limit", gateway.resource.urn):
            rates = []
            for patch in http_filters(model, gateway, RATE_LIMIT):
                rate = per_client_rate(patch.config)
                if rate is not None and _full(_key(patch.config, "filter_enabled")) \
                        and _full(_key(patch.config, "filter_enforced")) and patch.port is None:
                    rates.append(rate)
            if not rates:
                report(f"{gateway.title} takes requests from the internet with no per-client rate limit: one client "
                       "can send as fast as the gateway and the API take it. Fix: an EnvoyFilter on its pods with "
                       f"{RATE_LIMIT} (filter_enabled and filter_enforced 100%) on every listener, a remote_address "
                       "rate_limits action and a descriptor {key: remote_address} without value (one bucket per "
                       "client; ingress.edge.rateLimit).", gateway.resource.urn)
            elif min(rates) > float(cfg["maxRequestsPerSecond"]):
                report(f"{gateway.title} lets each client send {min(rates):g} requests/s, over the "
                       f"{cfg['maxRequestsPerSecond']} allowed. Fix: lower ingress.edge.rateLimit.requestsPerSecond.",
                       gateway.resource.urn)


# ---------------------------------------------------------------------------------------------------------
# edge-client-address
# ---------------------------------------------------------------------------------------------------------

def _proxy_config(release: Any) -> dict[str, Any]:
    raw = get(release.props, "values", "podAnnotations", PROXY_CONFIG)
    if raw is None:
        return {}
    try:
        parsed = json.loads(str(raw))
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def gateway_releases(model: StackModel) -> list[Any]:
    return [r for r in model.releases if str(get(r.props, "chart", default="")).split("/")[-1] == "gateway"]


def check_client_address(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "edge-client-address")
    for release in gateway_releases(model):
        with per_resource("edge-client-address", release.urn):
            service = get(release.props, "values", "service", default={})
            if str(get(service, "type", default="LoadBalancer")) != "LoadBalancer":
                continue
            topology = _proxy_config(release).get("gatewayTopology") or {}
            trusted = int(topology.get("numTrustedProxies") or 0)
            annotations = str_map(service, "annotations")
            title = f"The ingress gateway release {get(release.props, 'name', default=release.name)}"
            if trusted == 0 and str(get(service, "externalTrafficPolicy", default="")) != "Local":
                report(f"{title} exposes a LoadBalancer Service with externalTrafficPolicy "
                       f"'{get(service, 'externalTrafficPolicy', default='') or 'Cluster'}' and trusts no "
                       "X-Forwarded-For hop: kube-proxy rewrites the client's address to a node's whenever the gateway "
                       "pod runs on another node, so per-client rate limits and logs key on node addresses. Fix: "
                       "service.externalTrafficPolicy Local (or ingress.edge.trustedProxies behind an L7 proxy).",
                       release.urn)
            proxy_protocol = annotations.get(LB_ANNOTATION + "proxy-protocol") == "*"
            if proxy_protocol and "proxyProtocol" not in topology:
                report(f"{title} asks the AWS load balancer for proxy protocol, but the gateway does not expect it "
                       "(gatewayTopology.proxyProtocol): every connection starts with a PROXY header Envoy cannot "
                       "parse. Fix: set gatewayTopology.proxyProtocol in the pods' proxy.istio.io/config.",
                       release.urn)
            ip_targets = annotations.get(LB_ANNOTATION + "nlb-target-type") == "ip" \
                or annotations.get(LB_ANNOTATION + "type") == "nlb-ip"
            preserved = "preserve_client_ip.enabled=true" in annotations.get(
                LB_ANNOTATION + "target-group-attributes", "").replace(" ", "")
            if ip_targets and trusted == 0 and not (preserved or proxy_protocol):
                report(f"{title} uses an NLB with IP targets, which connects to the pods from its own addresses: "
                       "the gateway never sees the client. Fix: target-group-attributes "
                       "preserve_client_ip.enabled=true, or proxy protocol v2 with gatewayTopology.proxyProtocol.",
                       release.urn)


# ---------------------------------------------------------------------------------------------------------
# edge-cors-credentials
# ---------------------------------------------------------------------------------------------------------

def admits_any_origin(match: Any) -> bool:
    """Whether an Istio StringMatch (or a legacy string) accepts an origin nobody configured."""
    if isinstance(match, str):
        return match == "*"
    if get(match, "exact") is not None:
        return str(get(match, "exact")) == "*"
    if get(match, "prefix") is not None:
        return PROBE_ORIGIN.startswith(str(get(match, "prefix")))
    if get(match, "regex") is not None:
        try:
            return re.fullmatch(str(get(match, "regex")), PROBE_ORIGIN) is not None
        except re.error:
            return False
    return False


def check_cors_credentials(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    kt = kube_type(args.resource_type)
    if kt is None or kt.group_kind != "networking.istio.io/VirtualService":
        return
    for index, route in enumerate(items(args.props, "spec", "http")):
        cors = get(route, "corsPolicy")
        if cors is None or get(cors, "allowCredentials") is not True:
            continue
        origins = items(cors, "allowOrigins") + items(cors, "allowOrigin")
        if any(admits_any_origin(o) for o in origins):
            report(f"VirtualService {args.name}: http[{index}] ({get(route, 'name', default='unnamed')}) allows "
                   "credentials from any origin: every website a user visits can call the API with the user's cookies "
                   "and read the answer. Fix: list exact origins (ingress.edge.cors.allowedOrigins) or set "
                   "allowCredentials false.", args.urn)


# ---------------------------------------------------------------------------------------------------------
# edge-security-headers
# ---------------------------------------------------------------------------------------------------------

HEADERS_SCHEMA: Schema = {
    "minHstsMaxAgeSeconds": {"type": "integer", "minimum": 0, "default": 86400,
                             "description": "Smallest Strict-Transport-Security max-age accepted."},
}


def response_headers(config: Any) -> dict[str, str]:
    """Header name -> value a header_mutation filter sets on responses."""
    result = {}
    mutations = _key(get(config, "mutations"), "response_mutations")
    for mutation in items({"m": mutations}, "m"):
        header = get(mutation, "append", "header")
        if header is not None:
            result[str(get(header, "key", default="")).lower()] = str(get(header, "value", default=""))
    return result


def missing_headers(headers: Mapping[str, str], min_hsts: int) -> list[str]:
    missing = []
    match = re.search(r"max-age=([0-9]+)", headers.get("strict-transport-security", ""))
    if match is None or int(match.group(1)) < min_hsts:
        missing.append(f"Strict-Transport-Security with max-age >= {min_hsts}")
    if headers.get("x-content-type-options", "").lower() != "nosniff":
        missing.append("X-Content-Type-Options: nosniff")
    if headers.get("x-frame-options", "").upper() not in ("DENY", "SAMEORIGIN") \
            and "frame-ancestors" not in headers.get("content-security-policy", ""):
        missing.append("X-Frame-Options or Content-Security-Policy frame-ancestors")
    if not headers.get("referrer-policy"):
        missing.append("Referrer-Policy")
    return missing


def check_security_headers(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "edge-security-headers")
    for gateway in gateways(model):
        with per_resource("edge-security-headers", gateway.resource.urn):
            filters = http_filters(model, gateway, HEADER_MUTATION)
            for port in gateway.https_ports():
                headers: dict[str, str] = {}
                for patch in filters:
                    if patch.port in (None, port):
                        headers.update(response_headers(patch.config))
                missing = missing_headers(headers, int(cfg["minHstsMaxAgeSeconds"]))
                if missing:
                    report(f"{gateway.title} terminates TLS on port {port} but its responses lack "
                           f"{', '.join(missing)}. Fix: an EnvoyFilter {HEADER_MUTATION} on that listener setting them "
                           "(ingress.edge.securityHeaders); route headers would miss the gateway's own replies.",
                           gateway.resource.urn)


# ---------------------------------------------------------------------------------------------------------
# edge-request-limits
# ---------------------------------------------------------------------------------------------------------

LIMITS_SCHEMA: Schema = {
    "maxRequestBodyBytes": {"type": "integer", "minimum": 1, "default": 64 * 2**20,
                            "description": "Largest request body a gateway may accept."},
    "maxIdleTimeoutSeconds": {"type": "number", "minimum": 1, "default": 86400,
                              "description": "Longest stream idle timeout accepted (Istio's default 0 is never)."},
}


def check_request_limits(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "edge-request-limits")
    for gateway in gateways(model):
        with per_resource("edge-request-limits", gateway.resource.urn):
            sizes = [as_int(_key(p.config, "max_request_bytes")) for p in http_filters(model, gateway, BUFFER)
                     if p.port is None]
            limit = int(cfg["maxRequestBodyBytes"])
            if not any(size is not None and 0 < size <= limit for size in sizes):
                report(f"{gateway.title} accepts request bodies of any size (no {BUFFER} with max_request_bytes <= "
                       f"{limit} on every listener): a client can stream gigabytes into the API. Fix: "
                       "ingress.edge.maxRequestBody.", gateway.resource.urn)
            merges = hcm_merges(model, gateway)
            idle = [seconds(_key(m, "stream_idle_timeout")) for m in merges]
            if not any(value and value <= float(cfg["maxIdleTimeoutSeconds"]) for value in idle):
                report(f"{gateway.title} never closes an idle stream (Istio sets the stream idle timeout to 0): stalled "
                       "clients hold connections and memory forever. Fix: an EnvoyFilter MERGE of "
                       f"stream_idle_timeout (at most {cfg['maxIdleTimeoutSeconds']}s) into {HCM} "
                       "(ingress.edge.idleTimeoutSeconds).", gateway.resource.urn)
            if not any(seconds(_key(m, "request_headers_timeout")) for m in merges):
                report(f"{gateway.title} waits forever for a request's headers (slow-header attacks). Fix: "
                       "request_headers_timeout in the same MERGE (ingress.edge.requestHeadersTimeoutSeconds).",
                       gateway.resource.urn)


# ---------------------------------------------------------------------------------------------------------
# edge-websocket-sessions
# ---------------------------------------------------------------------------------------------------------

def upgrades_websocket(route: Any) -> bool:
    for match in items(route, "match"):
        upgrade = get(match, "headers", "upgrade")
        for kind in ("exact", "prefix", "regex"):
            value = get(upgrade, kind)
            if value is None:
                continue
            if kind == "regex":
                try:
                    if re.fullmatch(str(value), "websocket") or re.fullmatch(str(value), "WebSocket"):
                        return True
                except re.error:
                    continue
            elif kind == "prefix":
                if "websocket".startswith(str(value).lower()):
                    return True
            elif str(value).lower() == "websocket":
                return True
    return False


def _public_virtual_services(model: StackModel) -> list[Any]:
    return [vs for vs in model.of("networking.istio.io/VirtualService")
            if any(str(g) != "mesh" for g in items(vs.props, "spec", "gateways"))]


def _gateway_of(model: StackModel, virtual_service: Any) -> list[Gateway]:
    names = {str(g) for g in items(virtual_service.props, "spec", "gateways")}
    own = namespace_of(virtual_service)
    return [g for g in gateways(model) if f"{g.namespace}/{metadata_name(g.resource.props)}" in names
            or (g.namespace == own and metadata_name(g.resource.props) in names)]


def check_websocket_sessions(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "edge-websocket-sessions")
    browsers = _browsers(model, cfg)
    if not browsers:
        return
    session, source = max((_session_timeout(model, b, cfg) for b in browsers), key=lambda pair: pair[0])
    for virtual_service in _public_virtual_services(model):
        with per_resource("edge-websocket-sessions", virtual_service.urn):
            routes = items(virtual_service.props, "spec", "http")
            title = f"VirtualService {metadata_name(virtual_service.props)}"
            websocket = [r for r in routes if upgrades_websocket(r)]
            if not websocket:
                short = [seconds(get(r, "timeout")) for r in routes if get(r, "route") is not None]
                cut = [t for t in short if t and t < session]
                if cut:
                    report(f"{title} routes the API's public traffic with a {min(cut):g}s timeout and no route for "
                           "WebSocket upgrades: Envoy applies a route timeout to the whole upgraded stream, so every "
                           f"DevTools session through the gateway is cut after {min(cut):g}s (sessions last up to "
                           f"{session}s, {source}). Fix: a first route matching header upgrade: websocket with a "
                           "timeout of at least the session (components/services/edge.py public_http_routes).",
                           virtual_service.urn)
                continue
            buffered = any(p.port is None or p.port == 443 for g in _gateway_of(model, virtual_service)
                           for p in http_filters(model, g, BUFFER))
            overrides: dict[str, Any] = {}
            for g in _gateway_of(model, virtual_service):
                overrides.update(_route_overrides(model, g, BUFFER))
            for route in websocket:
                name = str(get(route, "name", default=""))
                timeout = seconds(get(route, "timeout"))
                if timeout and timeout < session:
                    report(f"{title}: the WebSocket route {name or '(unnamed)'} times out after {timeout:g}s, but a "
                           f"browser session lasts up to {session}s ({source}); Envoy's route timeout ends the whole "
                           "upgraded stream. Fix: ingress.edge.websocketTimeoutSeconds >= the session (or unset).",
                           virtual_service.urn)
                if buffered and get(overrides.get(name), "disabled") is not True:
                    report(f"{title}: the WebSocket route {name or '(unnamed)'} goes through the gateway's {BUFFER}, "
                           "which holds a request until its body ends: an upgrade request's never does, so the "
                           "WebSocket never opens. Fix: an HTTP_ROUTE patch naming the route with "
                           "typed_per_filter_config BufferPerRoute {disabled: true}.", virtual_service.urn)


def policies() -> list[Policy]:
    return [
        stack_policy("edge-gateway-rate-limit", "Every Istio Gateway rate-limits each client address (Envoy local "
                     "rate limit, enforced on every listener).", check_rate_limit, schema=RATE_SCHEMA,
                     remediation="ingress.edge.rateLimit (an EnvoyFilter with a wildcard remote_address descriptor)."),
        stack_policy("edge-client-address", "The gateway sees the client's address: no SNAT before it (Local "
                     "traffic policy or trusted X-Forwarded-For hops), proxy protocol only when the gateway expects it.",
                     check_client_address,
                     remediation="externalTrafficPolicy Local on clouds; gatewayTopology for proxies and proxy protocol."),
        resource_policy("edge-cors-credentials", "A VirtualService CORS policy never allows credentials from any "
                        "origin.", check_cors_credentials,
                        remediation="Exact origins in ingress.edge.cors.allowedOrigins, or allowCredentials false.",
                        applies=of_kinds("networking.istio.io/VirtualService")),
        stack_policy("edge-security-headers", "HTTPS gateway servers set HSTS, nosniff, frame protection and "
                     "Referrer-Policy on every response.", check_security_headers, schema=HEADERS_SCHEMA,
                     remediation="ingress.edge.securityHeaders (an Envoy header_mutation filter on the listener)."),
        stack_policy("edge-request-limits", "Gateways limit request bodies and close idle streams and slow headers.",
                     check_request_limits, schema=LIMITS_SCHEMA,
                     remediation="ingress.edge.maxRequestBody, idleTimeoutSeconds, requestHeadersTimeoutSeconds."),
        stack_policy("edge-websocket-sessions", "Public routes that carry DevTools WebSockets outlast the longest "
                     "browser session and are not buffered.", check_websocket_sessions, schema=dict(BROWSER_SCHEMA),
                     remediation="A WebSocket route with a session-long timeout and the buffer filter disabled."),
    ]
