"""kind: Prometheus exporters for the in-cluster stores, as sidecars of the store pods.

Sidecars, not Deployments: each exporter talks to its server inside the pod (Valkey on 127.0.0.1, PostgreSQL on
its Unix socket), so no extra NetworkPolicy, mesh rule or password for a second network path is needed, and the
exporter lives and dies with the one server it watches. Prometheus scrapes the pod's `metrics` port through the
store's Service (a ServiceMonitor per store, components/data/in_cluster.py).

Images are pinned by digest (the multi-arch index of the tag beside it): a restart never pulls different bytes.
The digests are the ones published for these tags, as recorded by third-party manifests that pin them
(postgres-exporter v0.20.1 in several; redis_exporter v1.88.0 in two, one on docker.io and one on quay.io).
They could not be resolved against the registries here; `docker buildx imagetools inspect <image>` checks one.
"""

from __future__ import annotations

from pulumi_kubernetes.core.v1 import (
    ContainerArgs,
    ContainerPortArgs,
    EnvVarArgs,
    ProbeArgs,
    ResourceRequirementsArgs,
    SecurityContextArgs,
    TCPSocketActionArgs,
    VolumeMountArgs,
)

from capacity.data_stores import POSTGRES_EXPORTER, REDIS_EXPORTER
from capacity.platform_services import Requests

from ..common.metrics_contract import METRICS_PORT_NAME

REDIS_EXPORTER_IMAGE = ("docker.io/oliver006/redis_exporter:v1.88.0"
                        "@sha256:2c8c55c63ce4d915389f03d337b8acef56aaaca9fab8728291287e612d4d6398")
POSTGRES_EXPORTER_IMAGE = ("quay.io/prometheuscommunity/postgres-exporter:v0.20.1"
                           "@sha256:ac5ec343104fae0e2d84a27bb8d69b38430a11910c5382cad85d478d2bab713e")
REDIS_EXPORTER_PORT = 9121
POSTGRES_EXPORTER_PORT = 9187
"""Each exporter's default listen port."""
EXPORTER_ROLE = "postgres_exporter"
"""PostgreSQL role the exporter logs in as: `pg_monitor` only (components/data/app_role.py creates it)."""
POSTGRES_SOCKET_DIR = "/var/run/postgresql"


def _resources(requests: Requests, memory_limit: str) -> ResourceRequirementsArgs:
    return ResourceRequirementsArgs(
        requests={"cpu": requests.cpu, "memory": requests.memory, "ephemeral-storage": "16Mi"},
        limits={"cpu": "100m", "memory": memory_limit, "ephemeral-storage": "64Mi"})


def _probe(period: int) -> ProbeArgs:
    return ProbeArgs(tcp_socket=TCPSocketActionArgs(port=METRICS_PORT_NAME), period_seconds=period,
                     failure_threshold=3, timeout_seconds=5)


def _container(name: str, image: str, port: int, env: list[EnvVarArgs], security: SecurityContextArgs,
               resources: ResourceRequirementsArgs, mounts: list[VolumeMountArgs] | None = None) -> ContainerArgs:
    return ContainerArgs(
        name=name, image=image, image_pull_policy="IfNotPresent", env=env,
        ports=[ContainerPortArgs(name=METRICS_PORT_NAME, container_port=port, protocol="TCP")],
        resources=resources, security_context=security, volume_mounts=mounts,
        startup_probe=ProbeArgs(tcp_socket=TCPSocketActionArgs(port=METRICS_PORT_NAME), period_seconds=2,
                                failure_threshold=30),
        readiness_probe=_probe(10), liveness_probe=_probe(20))


def redis_exporter(password: EnvVarArgs, security: SecurityContextArgs, port: int) -> ContainerArgs:
    """Scrapes Valkey on 127.0.0.1 with the server's own password (the Secret of the data namespace)."""
    return _container("exporter", REDIS_EXPORTER_IMAGE, REDIS_EXPORTER_PORT,
                      [EnvVarArgs(name="REDIS_ADDR", value=f"redis://127.0.0.1:{port}"), password],
                      security, _resources(REDIS_EXPORTER, "64Mi"))


def postgres_exporter(security: SecurityContextArgs, socket_volume: str) -> ContainerArgs:
    """Connects over the server's Unix socket (shared emptyDir) as the `pg_monitor` role: the socket is trusted
    inside the pod only (`--auth-local=trust`), so it needs no password and reaches nothing over the network."""
    # The `postgres` database: the API's database admits only its role and the master (app_role.py).
    dsn = f"host={POSTGRES_SOCKET_DIR} user={EXPORTER_ROLE} dbname=postgres sslmode=disable"
    return _container("exporter", POSTGRES_EXPORTER_IMAGE, POSTGRES_EXPORTER_PORT,
                      [EnvVarArgs(name="DATA_SOURCE_NAME", value=dsn)], security,
                      _resources(POSTGRES_EXPORTER, "96Mi"),
                      [VolumeMountArgs(name=socket_volume, mount_path=POSTGRES_SOCKET_DIR)])
