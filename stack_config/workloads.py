"""Workload config: any number of named workloads, each with a role (api, browser, worker) and that role's
production-shaped defaults taken from the seeds.

`browser-platform:workloads` is a map `{<name>: {role: api | browser | worker, ...}}`. The stack files written
before roles existed (`workloads: {api: {...}, browser: {...}}`) keep working: the keys `api` and `browser`
without a `role` take the role of their name, the missing one of the two keeps its defaults, and `api` calls
`browser` (`named_workloads`). Who may call whom is `calls` on the caller; `platform_env` is what the platform
tells a caller about its callees.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from .base import CONFIG_KEY_RE, ConfigFieldError, CpuQuantity, MemoryQuantity, StrictModel, cpu_millicores, memory_bytes
from .cluster import WORKLOAD_LABEL, check_dns_label, check_labels

_IMAGE_RE = re.compile(r"^(?P<repo>[a-z0-9]+(?:[._/-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
                       r":(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$")
_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PATH_RE = re.compile(r"^/[A-Za-z0-9/_.-]*$")


class ComputeResources(StrictModel):
    cpu: CpuQuantity
    memory: MemoryQuantity
    ephemeral_storage: MemoryQuantity = "1Gi"


class Resources(StrictModel):
    requests: ComputeResources
    limits: ComputeResources

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> Resources:
        if cpu_millicores(self.limits.cpu) < cpu_millicores(self.requests.cpu):
            raise ConfigFieldError(("limits", "cpu"),
                                   f"must be at least requests.cpu ({self.requests.cpu}), got {self.limits.cpu}")
        if memory_bytes(self.limits.memory) < memory_bytes(self.requests.memory):
            raise ConfigFieldError(("limits", "memory"),
                                   f"must be at least requests.memory ({self.requests.memory}), got {self.limits.memory}")
        if memory_bytes(self.limits.ephemeral_storage) < memory_bytes(self.requests.ephemeral_storage):
            raise ConfigFieldError(("limits", "ephemeralStorage"), "must be at least requests.ephemeralStorage")
        return self


class Autoscaling(StrictModel):
    """Replica bounds and the utilization targets of the HPA (or the backstop triggers of a KEDA scaler)."""

    min_replicas: int = Field(ge=1, le=1000)
    max_replicas: int = Field(ge=1, le=1000)
    cpu_utilization: int = Field(default=70, ge=10, le=100)
    memory_utilization: int = Field(default=80, ge=10, le=100)

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ConfigFieldError(("minReplicas",),
                                   f"must not exceed maxReplicas ({self.max_replicas}), got {self.min_replicas}")
        return self


class Probes(StrictModel):
    liveness_path: str = "/health"
    readiness_path: str = "/ready"
    startup_path: str = "/health"

    @field_validator("liveness_path", "readiness_path", "startup_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not _PATH_RE.match(value):
            raise ValueError(f"'{value}' is not an HTTP path; it must start with '/'")
        return value


class SecurityOverrides(StrictModel):
    """Loosening a secure default is allowed only with a written reason, which lands on the pod as an annotation."""

    read_only_root_filesystem: bool = True
    reason: str | None = None

    @model_validator(mode="after")
    def _reason_when_loosened(self) -> SecurityOverrides:
        if not self.read_only_root_filesystem and not (self.reason and self.reason.strip()):
            raise ConfigFieldError(("reason",), "required when readOnlyRootFilesystem is false: say why")
        return self


PAUSE_IMAGE = "registry.k8s.io/pause:3.10@sha256:ee6521f290b2168b6e0935a181d4cff9be1ac3f505666ef0e3c98fae8199917a"
"""The upstream pause image (the multi-arch index of 3.10) by digest: it sleeps until signalled and needs no write
access, capability or network, and a digest cannot change under the node's cache."""


class Headroom(StrictModel):
    """Warm capacity for a browser pool: placeholder pods at the lowest PriorityClass, each requesting exactly one
    browser pod (shm counted as memory, sidecar included), on the pool's nodes. A burst of sessions preempts them
    and starts at once; the evicted placeholders go Pending and make the node autoscaler add the next nodes."""

    pods: int = Field(ge=1, le=200, description="Placeholder pods, each the size of one browser pod: sessions that "
                                                "start on warm nodes = pods x sessionsPerPod.")
    image: str = Field(default=PAUSE_IMAGE, description="The placeholder image, pinned by digest "
                                                        "(`repository:tag@sha256:...`; mirror it where registries are "
                                                        "restricted).")

    @field_validator("image")
    @classmethod
    def _pinned(cls, value: str) -> str:
        name, _, digest = value.partition("@")
        if not _IMAGE_RE.match(name) or not _DIGEST_RE.match(digest):
            raise ValueError(f"'{value}' must be pinned by digest: <repository>:<tag>@sha256:<64 hex characters>")
        return value


def headroom_namespace(namespace: str) -> str:
    """Where the placeholders run: a namespace of their own, so no Service, PDB, autoscaler, NetworkPolicy or
    sidecar injection of the workloads' namespace ever selects them."""
    return f"{namespace}-headroom"


class WorkloadBase(StrictModel):
    PLATFORM_ENV: ClassVar[tuple[str, ...]] = ()
    """Environment variables the platform may set in the workload's ConfigMap (`platform_env`)."""
    SERVES_HTTP: ClassVar[bool] = True
    """Whether the role has a Service (and so a required `http` port); a worker has neither."""

    image: str
    image_digest: str | None = None
    replicas: int = Field(default=3, ge=1, le=1000)
    autoscaling: Autoscaling | None = None
    resources: Resources
    ports: dict[str, int]
    probes: Probes = Probes()
    env: dict[str, str] = {}
    secret_env: dict[str, str] = {}
    node_selector: dict[str, str]
    run_as_user: int = Field(default=10001, ge=1, le=2**31 - 1)
    security: SecurityOverrides = SecurityOverrides()

    _node_selector = field_validator("node_selector")(check_labels)

    @classmethod
    def with_default_targets(cls, autoscaling: dict[str, Any]) -> dict[str, Any]:
        """A partial `autoscaling` block keeps this workload's own utilization targets (browser 75/85, API 70/80)."""
        default = cls.model_fields["autoscaling"].default
        if not isinstance(default, Autoscaling):
            return autoscaling
        return {"cpuUtilization": default.cpu_utilization, "memoryUtilization": default.memory_utilization,
                **{key: value for key, value in autoscaling.items()
                   if key not in ("cpu_utilization", "memory_utilization")},
                **{camel: autoscaling[snake] for camel, snake in (("cpuUtilization", "cpu_utilization"),
                                                                  ("memoryUtilization", "memory_utilization"))
                   if snake in autoscaling}}

    @model_validator(mode="before")
    @classmethod
    def _partial_autoscaling(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("autoscaling"), dict):
            return {**data, "autoscaling": cls.with_default_targets(data["autoscaling"])}
        return data

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        match = _IMAGE_RE.match(value)
        if not match:
            raise ValueError(f"'{value}' must be an image reference with an explicit tag, e.g. ghcr.io/acme/api:1.4.2")
        if match.group("tag") == "latest":
            raise ValueError("the 'latest' tag is not allowed: pin a version tag (and optionally imageDigest)")
        return value

    @field_validator("image_digest")
    @classmethod
    def _digest(cls, value: str | None) -> str | None:
        if value is not None and not _DIGEST_RE.match(value):
            raise ValueError("must look like sha256:<64 hex characters>")
        return value

    @field_validator("ports")
    @classmethod
    def _ports(cls, ports: dict[str, int]) -> dict[str, int]:
        for name, number in ports.items():
            if not re.match(r"^[a-z]([-a-z0-9]{0,13}[a-z0-9])?$", name):
                raise ValueError(f"port name '{name}' must be an IANA service name (1-15 lowercase characters)")
            if not 1024 <= number <= 65535:
                raise ValueError(f"port {name}={number} must be 1024-65535: the container runs as non-root")
        if cls.SERVES_HTTP and "http" not in ports:
            raise ValueError("a port named 'http' is required: probes and the Service use it")
        if not cls.SERVES_HTTP and not ports.keys() & {"http", "metrics"}:
            raise ValueError("a port named 'http' or 'metrics' is required: the probes use it")
        if len(set(ports.values())) != len(ports):
            raise ValueError("port numbers must be distinct")
        return ports

    @field_validator("env")
    @classmethod
    def _env(cls, env: dict[str, str]) -> dict[str, str]:
        for name in env:
            if not _ENV_NAME.match(name):
                raise ValueError(f"'{name}' is not a valid environment variable name")
        return env

    @field_validator("secret_env")
    @classmethod
    def _secret_env(cls, refs: dict[str, str]) -> dict[str, str]:
        for name, key in refs.items():
            if not _ENV_NAME.match(name):
                raise ValueError(f"'{name}' is not a valid environment variable name")
            if not CONFIG_KEY_RE.match(key) or ":" in key:
                raise ValueError(f"'{key}' is not a config key name of this project (no namespace, no ':')")
        return refs

    @model_validator(mode="after")
    def _env_not_twice(self) -> WorkloadBase:
        both = sorted(set(self.env) & set(self.secret_env))
        if both:
            raise ConfigFieldError(("secretEnv", both[0]), f"{', '.join(both)} set in both env and secretEnv")
        for key in ("env", "secretEnv"):
            taken = sorted(set(self.env if key == "env" else self.secret_env) & set(self.PLATFORM_ENV))
            if taken:
                raise ConfigFieldError(
                    (key, taken[0]),
                    f"is set by the platform ({', '.join(self.PLATFORM_ENV)}) from the workload's own settings; "
                    "change those settings instead",
                )
        return self

    @property
    def probe_port(self) -> str:
        """The named port the probes call: `http`, or `metrics` on a worker without one."""
        return "http" if "http" in self.ports else "metrics"

    @property
    def image_ref(self) -> str:
        return f"{self.image}@{self.image_digest}" if self.image_digest else self.image

    @property
    def min_replicas(self) -> int:
        return self.autoscaling.min_replicas if self.autoscaling else self.replicas

    @property
    def max_replicas(self) -> int:
        return self.autoscaling.max_replicas if self.autoscaling else self.replicas


DATA_STORES_DESCRIPTION = ("Receives the data stores' endpoints, credentials and egress (with dataStores enabled or "
                           "external).")
"""`dataStores` of a caller: the same key with a role's own default (off for a worker, on for an API)."""


class CallerSettings(StrictModel):
    """What a workload that calls others declares (roles api and worker)."""

    calls: list[str] = Field(
        default=[],
        description="Workloads this one may call (browser pools, APIs), by name: the NetworkPolicies and mesh "
                    "AuthorizationPolicies admit exactly these paths, and the ConfigMap names each callee "
                    "(docs/operations.md#named-workloads).",
    )
    data_stores: bool = Field(
        default=False,
        description=DATA_STORES_DESCRIPTION,
    )

    @field_validator("calls")
    @classmethod
    def _distinct(cls, calls: list[str]) -> list[str]:
        for name in calls:
            check_dns_label(name)
        if len(set(calls)) != len(calls):
            raise ValueError("each workload may be listed once")
        return calls


class ApiWorkload(WorkloadBase, CallerSettings):
    """An API: a ClusterIP Service, an HPA, reached from the gateway when `public`, and read access to the
    EndpointSlices of the browser pools it calls (session routing)."""

    PLATFORM_ENV: ClassVar[tuple[str, ...]] = ("BROWSER_SERVICE", "BROWSER_CDP_PORT", "BROWSER_POOLS")

    role: Literal["api"] = "api"
    image: str = "ghcr.io/example/api:1.0.0"
    autoscaling: Autoscaling | None = Autoscaling(min_replicas=3, max_replicas=10, cpu_utilization=70,
                                                  memory_utilization=80)
    resources: Resources = Resources(
        requests=ComputeResources(cpu="500m", memory="512Mi", ephemeral_storage="256Mi"),
        limits=ComputeResources(cpu="1", memory="1Gi", ephemeral_storage="1Gi"),
    )
    ports: dict[str, int] = {"http": 3000, "metrics": 9090}
    node_selector: dict[str, str] = {WORKLOAD_LABEL: "api"}
    kubernetes_api_access: bool = Field(
        default=True,
        description="Read-only access to the EndpointSlices of the browser pools it calls, for session routing "
                    "(granted only when it calls one).",
    )
    public: bool = Field(
        default=True,
        description="Reached from the ingress gateway (the public host routes to it); at most one API is public.",
    )
    data_stores: bool = Field(
        default=True,
        description=DATA_STORES_DESCRIPTION,
    )


class BrowserWorkload(WorkloadBase):
    """A browser pool: a headless Service, a memory-backed /dev/shm, a session drain on shutdown, KEDA scaling on
    sessions, its own node pool (`nodeSelector`, tolerating that pool's taints); reached only by its callers."""

    PLATFORM_ENV: ClassVar[tuple[str, ...]] = ("MAX_SESSIONS_PER_POD", "SESSION_TIMEOUT_SECONDS", "HOME")
    CDP_PORT: ClassVar[str] = "cdp"
    """The DevTools port the API connects to (its ConfigMap and the NetworkPolicies name it)."""

    role: Literal["browser"] = "browser"
    image: str = "ghcr.io/example/browser:1.0.0"
    autoscaling: Autoscaling | None = Autoscaling(min_replicas=5, max_replicas=20, cpu_utilization=75,
                                                  memory_utilization=85)
    resources: Resources = Resources(
        requests=ComputeResources(cpu="2", memory="4Gi", ephemeral_storage="1Gi"),
        limits=ComputeResources(cpu="4", memory="8Gi", ephemeral_storage="4Gi"),
    )
    ports: dict[str, int] = {"http": 3000, "cdp": 9222, "metrics": 9090}
    node_selector: dict[str, str] = {WORKLOAD_LABEL: "browser"}
    shm_size: MemoryQuantity = "2Gi"
    sessions_per_pod: int = Field(default=10, ge=1, le=200)
    session_timeout_seconds: int = Field(default=3600, ge=30, le=86400)
    max_sessions: int | None = Field(
        default=None, ge=1, le=100_000,
        description="Size by intent: concurrent sessions at full scale; maxReplicas = ceil(maxSessions / sessionsPerPod). "
                    "Not together with autoscaling.minReplicas/maxReplicas.",
    )
    min_sessions: int | None = Field(
        default=None, ge=1, le=100_000,
        description="Sessions always ready (with maxSessions); minReplicas = ceil(minSessions / sessionsPerPod), "
                    "one pod when unset.",
    )
    drain_path: str = "/drain"
    headroom: Headroom | None = Field(
        default=None,
        description="Warm capacity ahead of demand ({pods: N}): N placeholder pods of this pool's size at the lowest "
                    "priority, so a burst of up to N x sessionsPerPod sessions starts without waiting for new nodes. "
                    "Needs a node autoscaler (not kind). Cost: `make capacity`.",
    )
    drain_buffer_seconds: int = Field(
        default=30, ge=0, le=600,
        description="Added to the session timeout for the grace period, so the last session can be closed cleanly.",
    )

    @model_validator(mode="before")
    @classmethod
    def _bounds_from_sessions(cls, data: Any) -> Any:
        """With maxSessions (and optionally minSessions) the autoscaling bounds follow from sessionsPerPod."""
        if not isinstance(data, dict):
            return data

        def get(camel: str, snake: str) -> Any:
            return data.get(camel, data.get(snake))

        max_sessions, min_sessions = get("maxSessions", "max_sessions"), get("minSessions", "min_sessions")
        if max_sessions is None:
            if min_sessions is not None:
                raise ConfigFieldError(("minSessions",), "needs maxSessions: set both, or neither and use autoscaling")
            return data
        per_pod = get("sessionsPerPod", "sessions_per_pod")
        per_pod = cls.model_fields["sessions_per_pod"].default if per_pod is None else per_pod
        numbers = (max_sessions, min_sessions if min_sessions is not None else 1, per_pod)
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in numbers):
            return data  # the field validators report the bad number
        autoscaling = data.get("autoscaling")
        if autoscaling is None and "autoscaling" in data:
            raise ConfigFieldError(("autoscaling",), "must not be null when maxSessions is set: sessions are served by "
                                   "an autoscaled pool")
        autoscaling = dict(autoscaling) if isinstance(autoscaling, dict) else {}
        given = [key for key in ("minReplicas", "maxReplicas", "min_replicas", "max_replicas") if key in autoscaling]
        if given:
            raise ConfigFieldError(
                ("autoscaling", given[0]),
                "set either maxSessions/minSessions or autoscaling.minReplicas/maxReplicas, not both "
                f"(maxSessions {max_sessions} / sessionsPerPod {per_pod} already gives maxReplicas "
                f"{math.ceil(max_sessions / per_pod)})",
            )
        if min_sessions is not None and min_sessions > max_sessions:
            raise ConfigFieldError(("minSessions",), f"must not exceed maxSessions ({max_sessions}), got {min_sessions}")
        autoscaling = cls.with_default_targets(autoscaling)
        autoscaling["minReplicas"] = math.ceil(min_sessions / per_pod) if min_sessions is not None else 1
        autoscaling["maxReplicas"] = math.ceil(max_sessions / per_pod)
        return {**data, "autoscaling": autoscaling}

    @field_validator("ports")
    @classmethod
    def _cdp_port(cls, ports: dict[str, int]) -> dict[str, int]:
        if cls.CDP_PORT not in ports:
            raise ValueError(f"a port named '{cls.CDP_PORT}' is required: the API drives the browsers over the "
                             "Chrome DevTools Protocol on it, and the NetworkPolicies admit it")
        return ports

    @model_validator(mode="after")
    def _memory_covers_shm(self) -> BrowserWorkload:
        needed = memory_bytes(self.resources.requests.memory) + memory_bytes(self.shm_size)
        if memory_bytes(self.resources.limits.memory) < needed:
            raise ConfigFieldError(
                ("resources", "limits", "memory"),
                f"must cover the browser's "
                f"requests.memory ({self.resources.requests.memory}) plus shmSize ({self.shm_size}): "
                "/dev/shm is memory-backed and counts against the limit"
            )
        return self

    @property
    def termination_grace_seconds(self) -> int:
        return self.session_timeout_seconds + self.drain_buffer_seconds

    @property
    def sized_by_sessions(self) -> bool:
        return self.max_sessions is not None

    @property
    def session_capacity(self) -> tuple[int, int]:
        """Concurrent sessions at minimum and at maximum scale."""
        return self.min_replicas * self.sessions_per_pod, self.max_replicas * self.sessions_per_pod


class QueueScaling(StrictModel):
    """Queue-driven scaling of a worker by KEDA: a Prometheus gauge of the items waiting, divided by perPod."""

    metric: str = Field(description="Prometheus metric (a gauge) of the items waiting for the workers, e.g. "
                                    "jobs_queued; the worker (or an exporter beside it) exposes it on its metrics "
                                    "port.")
    per_pod: int = Field(default=10, ge=1, le=100_000, description="Waiting items one worker pod should carry.")

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        if not _METRIC_RE.match(value):
            raise ValueError(f"'{value}' is not a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)")
        return value


class WorkerWorkload(WorkloadBase, CallerSettings):
    """A background worker: no Service and no inbound path except its metrics port; may call APIs and pools."""

    PLATFORM_ENV: ClassVar[tuple[str, ...]] = ("BROWSER_SERVICE", "BROWSER_CDP_PORT", "BROWSER_POOLS")
    SERVES_HTTP: ClassVar[bool] = False

    role: Literal["worker"] = "worker"
    image: str = "ghcr.io/example/worker:1.0.0"
    replicas: int = Field(default=2, ge=1, le=1000)
    autoscaling: Autoscaling | None = Autoscaling(min_replicas=2, max_replicas=5, cpu_utilization=70,
                                                  memory_utilization=80)
    resources: Resources = Resources(
        requests=ComputeResources(cpu="250m", memory="256Mi", ephemeral_storage="256Mi"),
        limits=ComputeResources(cpu="1", memory="512Mi", ephemeral_storage="1Gi"),
    )
    ports: dict[str, int] = {"metrics": 9090}
    node_selector: dict[str, str] = Field(
        default={WORKLOAD_LABEL: "api"},
        description="Workers share the API's general-purpose pool unless told otherwise.",
    )
    queue: QueueScaling | None = Field(
        default=None,
        description="Scale on a queue's length through KEDA (needs autoscaling.keda.enabled and autoscaling "
                    "bounds) instead of the CPU/memory HPA.",
    )


_METRIC_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")

Role = Literal["api", "browser", "worker"]
ROLES: tuple[Role, ...] = ("api", "browser", "worker")
LEGACY_NAMES: dict[str, Role] = {"api": "api", "browser": "browser"}
"""The workload keys of the stack files written before roles existed: their role is their name."""

AnyWorkload = ApiWorkload | BrowserWorkload | WorkerWorkload
Caller = ApiWorkload | WorkerWorkload
WorkloadSpec = Annotated[AnyWorkload, Field(discriminator="role")]
Workloads = dict[str, WorkloadSpec]
"""`browser-platform:workloads`: workload name -> its settings, in the order of the stack file."""

DEFAULT_WORKLOADS: dict[str, AnyWorkload] = {"api": ApiWorkload(calls=["browser"]), "browser": BrowserWorkload()}

NEW_FORM = ("workloads:\n  <name>:\n    role: api | browser | worker\n    image: ...\n"
            "  (e.g. chrome: {role: browser, image: ghcr.io/acme/chrome:1.2.0})")


def named_workloads(data: Any) -> Any:
    """The `workloads` block with every role set: the old form (`api`, `browser` without `role`) gets the role of
    its name (and a file with only those keys the other of the two with its defaults), an `api` without role or
    `calls` calls `browser`; any other key without a role is an error that shows the new form."""
    if not isinstance(data, dict):
        return data
    blocks: dict[str, Any] = {}
    inferred: set[str] = set()
    for name, block in data.items():
        if isinstance(block, dict) and "role" not in block:
            if name not in LEGACY_NAMES:
                raise ConfigFieldError((str(name), "role"),
                                       f"required for workload '{name}' (only the keys api and browser take the "
                                       f"role of their name); one of: {', '.join(ROLES)}. The form is\n{NEW_FORM}")
            block = {"role": LEGACY_NAMES[name], **block}
            inferred.add(name)
        blocks[name] = block
    if set(data) <= set(LEGACY_NAMES) and inferred == set(data):
        blocks.setdefault("api", {"role": "api"})
        blocks.setdefault("browser", {"role": "browser"})
        inferred |= {"api"}
    api, browser = blocks.get("api"), blocks.get("browser")
    # The old `api` drove the old `browser` without saying so; it still does, beside any new workloads.
    if "api" in inferred and isinstance(api, dict) and "calls" not in api and isinstance(browser, dict) \
            and browser.get("role") == "browser":
        blocks["api"] = {**api, "calls": ["browser"]}
    return blocks


def env_token(name: str) -> str:
    """A workload name as part of an environment variable name: `browser-chrome` -> `BROWSER_CHROME`."""
    return name.upper().replace("-", "_")


def platform_env(workloads: dict[str, AnyWorkload], name: str) -> dict[str, str]:
    """What the platform puts in the ConfigMap of workload `name`, from its role and its callees.

    A caller of exactly one browser pool gets `BROWSER_SERVICE` and `BROWSER_CDP_PORT` (as before roles
    existed); of several, `BROWSER_POOLS` (their names, comma-separated) and `BROWSER_<POOL>_SERVICE` /
    `BROWSER_<POOL>_CDP_PORT` for each. Every called API: `<API>_SERVICE` and `<API>_HTTP_PORT`.
    """
    spec = workloads[name]
    if isinstance(spec, BrowserWorkload):
        return {"MAX_SESSIONS_PER_POD": str(spec.sessions_per_pod),
                "SESSION_TIMEOUT_SECONDS": str(spec.session_timeout_seconds),
                # The root filesystem is read-only; Chrome's profile and caches live on the /tmp emptyDir.
                "HOME": "/tmp"}
    return {key: value for key, value, _ in callee_env(workloads, name)}


def callee_env(workloads: dict[str, AnyWorkload], name: str) -> list[tuple[str, str, str]]:
    """The variables a caller gets for its callees, each with the callee it names (`platform_env`): two callees
    whose names give the same variable are a config error (stack_config/workload_names.py)."""
    spec = workloads[name]
    if isinstance(spec, BrowserWorkload):
        return []
    env: list[tuple[str, str, str]] = []
    pools = [callee for callee in spec.calls if isinstance(workloads.get(callee), BrowserWorkload)]
    if len(pools) == 1:
        env += [("BROWSER_SERVICE", pools[0], pools[0]),
                ("BROWSER_CDP_PORT", str(workloads[pools[0]].ports[BrowserWorkload.CDP_PORT]), pools[0])]
    elif pools:
        env.append(("BROWSER_POOLS", ",".join(pools), ", ".join(pools)))
        for pool in pools:
            env += [(f"BROWSER_{env_token(pool)}_SERVICE", pool, pool),
                    (f"BROWSER_{env_token(pool)}_CDP_PORT", str(workloads[pool].ports[BrowserWorkload.CDP_PORT]),
                     pool)]
    for callee in spec.calls:
        target = workloads.get(callee)
        if isinstance(target, ApiWorkload):
            env += [(f"{env_token(callee)}_SERVICE", callee, callee),
                    (f"{env_token(callee)}_HTTP_PORT", str(target.ports["http"]), callee)]
    return env
