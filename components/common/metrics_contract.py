"""The metrics the API and the browser pool must expose on their `metrics` port, and the queries built on them.

This is the one definition the autoscaler (KEDA), the alerts and the dashboards share; docs/addons.md lists
the same contract for the application teams.
"""

from __future__ import annotations

from dataclasses import dataclass

METRICS_PORT_NAME = "metrics"
"""The named container/Service port Prometheus scrapes (both workloads' Services expose it)."""
METRICS_PATH = "/metrics"


@dataclass(frozen=True)
class AppMetric:
    name: str
    type: str
    exposed_by: str
    labels: tuple[str, ...]
    meaning: str


BROWSER_SESSIONS_ACTIVE = "browser_sessions_active"
BROWSER_SESSIONS_CAPACITY = "browser_sessions_capacity"
BROWSER_SESSIONS_QUEUED = "browser_sessions_queued"
HTTP_REQUESTS_TOTAL = "http_requests_total"
HTTP_REQUEST_DURATION = "http_request_duration_seconds"
STORE_CONNECTION_ERRORS = "store_connection_errors_total"
STORES = ("redis", "postgres")
"""Values of the `store` label of STORE_CONNECTION_ERRORS: the API's two data stores (components/data)."""

APP_METRICS: tuple[AppMetric, ...] = (
    AppMetric(BROWSER_SESSIONS_ACTIVE, "gauge", "browser", (),
              "Sessions this browser pod is serving right now."),
    AppMetric(BROWSER_SESSIONS_CAPACITY, "gauge", "browser", (),
              "Sessions this pod accepts at most (its MAX_SESSIONS_PER_POD)."),
    AppMetric(BROWSER_SESSIONS_QUEUED, "gauge", "api", (),
              "Sessions this API pod holds waiting for a free browser slot."),
    AppMetric(HTTP_REQUESTS_TOTAL, "counter", "api", ("method", "route", "code"),
              "HTTP requests served, by method, route template and status code."),
    AppMetric(f"{HTTP_REQUEST_DURATION}_bucket", "histogram", "api", ("method", "route", "le"),
              "Request latency histogram in seconds (with _sum and _count); buckets must include 1."),
    AppMetric(STORE_CONNECTION_ERRORS, "counter", "api", ("store",),
              "Connections to a data store that failed or broke (refused, timed out, TLS or auth error, reset), "
              "by store: redis or postgres. Exposed from start with 0 for both stores, so a rate exists."),
)


def selector(namespace: str, service: str | None = None) -> str:
    """Label matchers for series scraped through our ServiceMonitors (Prometheus adds namespace and service)."""
    matchers = [f'namespace="{namespace}"'] + ([f'service="{service}"'] if service else [])
    return "{" + ",".join(matchers) + "}"


def session_demand(namespace: str) -> str:
    """Sessions wanted from the pool: in use plus waiting. No active series at all is an error (KEDA falls back)."""
    return (f"sum({BROWSER_SESSIONS_ACTIVE}{selector(namespace, 'browser')})"
            f" + (sum({BROWSER_SESSIONS_QUEUED}{selector(namespace, 'api')}) or vector(0))")


def session_utilization(namespace: str) -> str:
    return (f"sum({BROWSER_SESSIONS_ACTIVE}{selector(namespace, 'browser')})"
            f" / sum({BROWSER_SESSIONS_CAPACITY}{selector(namespace, 'browser')})")


def api_error_ratio(namespace: str, window: str = "5m") -> str:
    base = selector(namespace, "api")
    errors = base[:-1] + ',code=~"5.."}'
    return (f"sum(rate({HTTP_REQUESTS_TOTAL}{errors}[{window}]))"
            f" / sum(rate({HTTP_REQUESTS_TOTAL}{base}[{window}]))")


def api_latency_quantile(namespace: str, quantile: float, window: str = "5m") -> str:
    return (f"histogram_quantile({quantile}, "
            f"sum by (le) (rate({HTTP_REQUEST_DURATION}_bucket{selector(namespace, 'api')}[{window}])))")


def store_connection_errors(namespace: str, service: str, window: str = "5m") -> str:
    """Per store, the API's failed or broken store connections per second."""
    return f"sum by (store) (rate({STORE_CONNECTION_ERRORS}{selector(namespace, service)}[{window}]))"
