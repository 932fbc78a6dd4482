"""The metrics the API and the browser pool must expose on their `metrics` port, and the queries built on them.

This is the one definition the autoscaler (KEDA), the alerts and the dashboards share; docs/addons.md lists
the same contract for the application teams.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def selector(namespace: str, service: str | Sequence[str] | None = None) -> str:
    """Label matchers for series scraped through our ServiceMonitors (Prometheus adds namespace and service);
    several services (the workloads of one role) match as an alternation."""
    names = [service] if isinstance(service, str) else list(service or [])
    matchers = [f'namespace="{namespace}"']
    if len(names) == 1:
        matchers.append(f'service="{names[0]}"')
    elif names:
        matchers.append(f'service=~"{any_of(names)}"')
    return "{" + ",".join(matchers) + "}"


def any_of(names: Sequence[str]) -> str:
    """A regex alternation of the names, in a stable order (a label matcher's `=~` value)."""
    return "|".join(sorted(names))


def pods_of(names: Sequence[str]) -> str:
    """A `pod=~` pattern for the pods of the named Deployments (their pods are `<name>-<hash>-<id>`)."""
    return f'({any_of(names)})-.*'



def session_demand(namespace: str, pool: str = "browser", api_services: tuple[str, ...] | list[str] = ("api",),
                   single_pool: bool = True) -> str:
    """Sessions wanted from the browser pool `pool`: in use plus waiting. No active series at all is an error (KEDA
    falls back).

    With one pool every queued session waits for it; with several, the APIs label each queued series with the
    pool it waits for (`pool="<workload name>"`, docs/addons.md), and each pool counts only its own.
    """
    # The callers in config order (not `selector`'s sorted alternation): the ScaledObject's query keeps its text.
    queued = selector(namespace, api_services[0]) if len(api_services) == 1 else (
        "{" + f'namespace="{namespace}",service=~"{"|".join(api_services)}"' + "}")
    if not single_pool:
        queued = queued[:-1] + f',pool="{pool}"' + "}"
    active = f"sum({BROWSER_SESSIONS_ACTIVE}{selector(namespace, pool)})"
    if not api_services:
        return active
    return f"{active} + (sum({BROWSER_SESSIONS_QUEUED}{queued}) or vector(0))"


def queue_length(namespace: str, worker: str, metric: str) -> str:
    """Items waiting for the worker `worker`: the gauge it exposes (stack_config QueueScaling.metric), taken once
    (max over its pods, which all see the same queue)."""
    return f'max({metric}{{namespace="{namespace}",container="{worker}"}}) or vector(0)'


def session_utilization(namespace: str, pools: Sequence[str] = ("browser",)) -> str:
    return (f"sum({BROWSER_SESSIONS_ACTIVE}{selector(namespace, pools)})"
            f" / sum({BROWSER_SESSIONS_CAPACITY}{selector(namespace, pools)})")


def api_error_ratio(namespace: str, window: str = "5m", apis: Sequence[str] = ("api",)) -> str:
    base = selector(namespace, apis)
    errors = base[:-1] + ',code=~"5.."}'
    return (f"sum(rate({HTTP_REQUESTS_TOTAL}{errors}[{window}]))"
            f" / sum(rate({HTTP_REQUESTS_TOTAL}{base}[{window}]))")


def api_latency_quantile(namespace: str, quantile: float, window: str = "5m", apis: Sequence[str] = ("api",)) -> str:
    return (f"histogram_quantile({quantile}, "
            f"sum by (le) (rate({HTTP_REQUEST_DURATION}_bucket{selector(namespace, apis)}[{window}])))")


def store_connection_errors(namespace: str, services: str | list[str], window: str = "5m") -> str:
    """Per store, the clients' (the APIs with `dataStores`) failed or broken store connections per second."""
    return f"sum by (store) (rate({STORE_CONNECTION_ERRORS}{selector(namespace, services)}[{window}]))"
