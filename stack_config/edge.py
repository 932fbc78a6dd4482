"""Config of the edge protection at the public ingress gateway: `browser-platform:ingress.edge`.

It hangs under `ingress` because it only exists with the public gateway: without `ingress` there is no gateway
whose requests could be limited, so a top-level key would be a setting that cannot take effect. Every default is
the production shape (components/services/edge.py turns it into Envoy config; docs/edge.md has the numbers):
100 requests/s per client address, no cross-origin access, security headers on every response, 1 MiB bodies,
WebSocket sessions kept as long as the longest browser session.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import ConfigFieldError, MemoryQuantity, StrictModel, memory_bytes

ANY_ORIGIN = "*"
_ORIGIN_RE = re.compile(r"^https?://([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
                        r"(:[0-9]{1,5})?$")
_HEADER_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$")
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
MAX_BODY_BYTES = 64 * 2**20
"""The body limit is enforced by buffering each request at the gateway, so it is bounded by the gateway's memory."""


class RateLimitSettings(StrictModel):
    """A token bucket per client address in every gateway pod (Envoy local rate limit, docs/edge.md)."""

    enabled: bool = True
    requests_per_second: int = Field(
        default=100, ge=1, le=100_000,
        description="Requests each client address may send per second through one gateway pod; over it the gateway "
                    "answers 429 with Retry-After: 1.",
    )
    burst: int | None = Field(
        default=None, ge=1, le=1_000_000,
        description="Tokens a client may spend at once (bucket size); default: requestsPerSecond.",
    )
    max_tracked_clients: int = Field(
        default=10_000, ge=100, le=1_000_000,
        description="Client addresses each gateway pod keeps a bucket for (least recently used are dropped, and "
                    "come back with a full bucket).",
    )

    @model_validator(mode="after")
    def _burst(self) -> RateLimitSettings:
        if self.burst is not None and self.burst < self.requests_per_second:
            raise ConfigFieldError(("burst",), f"must be at least requestsPerSecond ({self.requests_per_second}): "
                                   "the bucket refills that many tokens every second, a smaller bucket caps the rate")
        return self

    @property
    def bucket_size(self) -> int:
        return self.burst if self.burst is not None else self.requests_per_second


class CorsSettings(StrictModel):
    """Cross-origin access for browsers; none by default (no Access-Control headers at all)."""

    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Exact origins (https://app.example.com[:port]) allowed to call the API from a browser, or '*' "
                    "for any origin (only without allowCredentials).",
    )
    allow_credentials: bool = False
    allowed_methods: list[str] = Field(default_factory=lambda: ["GET", "POST", "PUT", "PATCH", "DELETE"])
    allowed_headers: list[str] = Field(default_factory=lambda: ["authorization", "content-type"])
    expose_headers: list[str] = Field(default_factory=list)
    max_age_seconds: int = Field(default=600, ge=0, le=86400,
                                 description="How long a browser may cache a preflight answer.")

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if origin != ANY_ORIGIN and not _ORIGIN_RE.match(origin):
                raise ValueError(f"'{origin}' is not an origin: scheme and host (and port) only, lowercase, no path, "
                                 "e.g. https://app.example.com, or '*'")
        if len(set(origins)) != len(origins):
            raise ValueError("lists an origin twice")
        return origins

    @field_validator("allowed_methods")
    @classmethod
    def _methods(cls, methods: list[str]) -> list[str]:
        for method in methods:
            if method not in HTTP_METHODS:
                raise ValueError(f"'{method}' is not one of {', '.join(HTTP_METHODS)}")
        return methods

    @field_validator("allowed_headers", "expose_headers")
    @classmethod
    def _headers(cls, headers: list[str]) -> list[str]:
        for header in headers:
            if not _HEADER_RE.match(header):
                raise ValueError(f"'{header}' is not an HTTP header name")
        return headers

    @model_validator(mode="after")
    def _no_wildcard_with_credentials(self) -> CorsSettings:
        if self.allow_credentials and ANY_ORIGIN in self.allowed_origins:
            raise ConfigFieldError(("allowedOrigins",), "'*' cannot be combined with allowCredentials true: any site "
                                   "could then make the user's browser call the API with the user's cookies; list "
                                   "the exact origins instead")
        return self


class SecurityHeaders(StrictModel):
    """Response headers the gateway sets on every response, the gateway's own (404, 429, 413) included."""

    hsts_max_age_seconds: int = Field(
        default=31_536_000, ge=86_400, le=63_072_000,
        description="Strict-Transport-Security max-age on HTTPS responses (one year; at least a day).",
    )
    hsts_include_subdomains: bool = True
    frame_ancestors: list[str] = Field(
        default_factory=list,
        description="Origins allowed to frame the API (Content-Security-Policy frame-ancestors); empty: none, plus "
                    "X-Frame-Options: DENY.",
    )
    referrer_policy: Literal["no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"] = (
        "no-referrer")

    @field_validator("frame_ancestors")
    @classmethod
    def _ancestors(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if not _ORIGIN_RE.match(origin):
                raise ValueError(f"'{origin}' is not an origin such as https://app.example.com")
        return origins


class EdgeSettings(StrictModel):
    """Protection of the public gateway: rate limit, CORS, security headers, request size and timeouts."""

    rate_limit: RateLimitSettings = RateLimitSettings()
    trusted_proxies: int = Field(
        default=0, ge=0, le=5,
        description="HTTP proxies in front of the gateway that append to X-Forwarded-For (a CDN or an L7 load "
                    "balancer). 0: clients reach the gateway through an L4 load balancer and their address is the "
                    "connection's; a larger value than the real number lets clients choose their own address.",
    )
    cors: CorsSettings = CorsSettings()
    security_headers: SecurityHeaders = SecurityHeaders()
    max_request_body: MemoryQuantity = Field(
        default="1Mi", description="Largest request body the gateway accepts (413 above); WebSocket routes exempt.",
    )
    idle_timeout_seconds: int = Field(
        default=900, ge=30, le=86_400,
        description="A request or WebSocket with no bytes either way for this long is closed (Istio leaves it "
                    "unlimited). Clients holding a quiet session longer must send WebSocket pings.",
    )
    request_headers_timeout_seconds: int = Field(
        default=10, ge=1, le=300, description="Time a client has to send a request's headers (slow-header attacks).",
    )
    websocket_timeout_seconds: int | None = Field(
        default=None, ge=60, le=86_400 * 2,
        description="Longest WebSocket (DevTools session) through the gateway; default: the longest browser "
                    "sessionTimeoutSeconds plus 60 s.",
    )

    @field_validator("max_request_body")
    @classmethod
    def _body(cls, value: str) -> str:
        size = memory_bytes(value)
        if not 1024 <= size <= MAX_BODY_BYTES:
            raise ValueError(f"'{value}' must be between 1Ki and 64Mi: the gateway buffers each request up to this "
                             "size in memory")
        return value

    @property
    def max_request_body_bytes(self) -> int:
        return memory_bytes(self.max_request_body)
