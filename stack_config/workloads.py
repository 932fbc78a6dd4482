"""Workload config: the API and the browser pool, with production-shaped defaults taken from the seeds."""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from .base import CONFIG_KEY_RE, ConfigFieldError, CpuQuantity, MemoryQuantity, StrictModel, cpu_millicores, memory_bytes
from .cluster import WORKLOAD_LABEL, check_labels

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
    """Environment variables the platform sets in the workload's ConfigMap (components/workloads/group.py)."""

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
        if "http" not in ports:
            raise ValueError("a port named 'http' is required: probes and the Service use it")
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
    def image_ref(self) -> str:
        return f"{self.image}@{self.image_digest}" if self.image_digest else self.image

    @property
    def min_replicas(self) -> int:
        return self.autoscaling.min_replicas if self.autoscaling else self.replicas

    @property
    def max_replicas(self) -> int:
        return self.autoscaling.max_replicas if self.autoscaling else self.replicas


class ApiWorkload(WorkloadBase):
    PLATFORM_ENV: ClassVar[tuple[str, ...]] = ("BROWSER_SERVICE", "BROWSER_CDP_PORT")

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
        description="Read-only access to the browser pool's EndpointSlices, for session routing.",
    )


class BrowserWorkload(WorkloadBase):
    PLATFORM_ENV: ClassVar[tuple[str, ...]] = ("MAX_SESSIONS_PER_POD", "SESSION_TIMEOUT_SECONDS", "HOME")
    CDP_PORT: ClassVar[str] = "cdp"
    """The DevTools port the API connects to (its ConfigMap and the NetworkPolicies name it)."""

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


class Workloads(StrictModel):
    api: ApiWorkload = ApiWorkload()
    browser: BrowserWorkload = BrowserWorkload()


WorkloadName = Literal["api", "browser"]
