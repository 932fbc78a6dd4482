"""kind: Valkey and PostgreSQL as StatefulSets the program writes, in a namespace of their own.

No operator or chart: two single-pod StatefulSets are all a laptop needs, and written here they are validated
strictly like every other manifest. They are hardened like the workloads (non-root, read-only root filesystem
with emptyDirs where the server writes, dropped capabilities, RuntimeDefault seccomp, probes, limits, a PVC on
the cluster's default class), admit only the API's pods, and take their passwords from Pulumi secrets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.apps.v1 import StatefulSetSpecArgs
from pulumi_kubernetes.core.v1 import (
    CapabilitiesArgs,
    ContainerArgs,
    ContainerPortArgs,
    EmptyDirVolumeSourceArgs,
    EnvVarArgs,
    EnvVarSourceArgs,
    ExecActionArgs,
    PersistentVolumeClaimArgs,
    PersistentVolumeClaimSpecArgs,
    PodSecurityContextArgs,
    PodSpecArgs,
    PodTemplateSpecArgs,
    ProbeArgs,
    ResourceRequirementsArgs,
    SeccompProfileArgs,
    SecretKeySelectorArgs,
    SecurityContextArgs,
    ServicePortArgs,
    ServiceSpecArgs,
    TCPSocketActionArgs,
    TolerationArgs,
    VolumeArgs,
    VolumeMountArgs,
    VolumeResourceRequirementsArgs,
)
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, ObjectMetaArgs
from pulumi_kubernetes.networking.v1 import (
    NetworkPolicyEgressRuleArgs,
    NetworkPolicyIngressRuleArgs,
    NetworkPolicyPeerArgs,
    NetworkPolicyPortArgs,
    NetworkPolicySpecArgs,
)

from capacity.data_stores import POSTGRES, VALKEY
from stack_config.cluster import Taint
from stack_config.data import DataStoresSettings

from ..common.labels import selector_labels, standard_labels
from ..common.traffic import ExtraEgress
from .wiring import POSTGRES_PORT, REDIS_PORT, StoreWiring, secret

# Exact versions, not floating tags: a restart never pulls a different server (a new Postgres major cannot read
# the old data directory), and a bump is a reviewed change. Not digests: they cannot be resolved or checked
# without a registry here; pin `image@sha256:...` in a fork that mirrors images.
VALKEY_IMAGES = {"8.0": "docker.io/valkey/valkey:8.0.4-alpine", "8.1": "docker.io/valkey/valkey:8.1.3-alpine"}
# Postgres on Debian, not Alpine: the Debian image ships nss_wrapper, which its entrypoint uses to give initdb a
# passwd entry for a uid the image does not know (the Alpine image has none, so initdb would refuse to run).
POSTGRES_IMAGES = {"16": "docker.io/library/postgres:16.10-bookworm", "17": "docker.io/library/postgres:17.6-bookworm"}
STORE_UID = 10001
"""Both servers run as 10001:10001, not their images' own low ids (valkey 999, postgres 999/70): ids below 10000
can collide with users of the node (policy k8s-run-as-non-root). Neither server needs a passwd entry of its own
(postgres gets one from nss_wrapper); the volumes are group-owned through fsGroup."""
STORE_SECRET = "data-store-credentials"


@dataclass(frozen=True)
class Container:
    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str


# Requests from the capacity model (capacity/data_stores.py), which counts them on the pool that carries the stores.
VALKEY_RESOURCES = Container(VALKEY.cpu, VALKEY.memory, "500m", "512Mi")
POSTGRES_RESOURCES = Container(POSTGRES.cpu, POSTGRES.memory, "1", "1Gi")


@dataclass(frozen=True)
class InClusterStoresArgs:
    stores: DataStoresSettings
    secrets: dict[str, str]
    api_namespace: str
    api_selector: dict[str, str]
    node_selector: dict[str, str]
    tolerations: list[Taint]
    storage_class: str
    storage_after: list[pulumi.Resource] = field(default_factory=list)
    priority_class_name: str | None = None
    after: list[pulumi.Resource] = field(default_factory=list)
    """What the StatefulSets wait for besides the namespace and the storage, e.g. their PriorityClass."""
    """The stores' PriorityClass (components/services/priority_classes.py DATA_STORE_CLASS: above the API they serve)."""


def _security(uid: int, gid: int) -> tuple[PodSecurityContextArgs, SecurityContextArgs]:
    pod = PodSecurityContextArgs(run_as_non_root=True, run_as_user=uid, run_as_group=gid, fs_group=gid,
                                 seccomp_profile=SeccompProfileArgs(type="RuntimeDefault"))
    container = SecurityContextArgs(run_as_non_root=True, run_as_user=uid, run_as_group=gid,
                                    allow_privilege_escalation=False, privileged=False,
                                    read_only_root_filesystem=True, capabilities=CapabilitiesArgs(drop=["ALL"]),
                                    seccomp_profile=SeccompProfileArgs(type="RuntimeDefault"))
    return pod, container


def _resources(shape: Container) -> ResourceRequirementsArgs:
    return ResourceRequirementsArgs(
        requests={"cpu": shape.cpu_request, "memory": shape.memory_request, "ephemeral-storage": "64Mi"},
        limits={"cpu": shape.cpu_limit, "memory": shape.memory_limit, "ephemeral-storage": "256Mi"})


def _exec_probe(command: str, period: int, failures: int) -> ProbeArgs:
    return ProbeArgs(exec_=ExecActionArgs(command=["sh", "-c", command]), period_seconds=period,
                     failure_threshold=failures, timeout_seconds=5)


def _password_env(name: str) -> EnvVarArgs:
    return EnvVarArgs(name=name, value_from=EnvVarSourceArgs(
        secret_key_ref=SecretKeySelectorArgs(name=STORE_SECRET, key=name)))


class InClusterDataStores(pulumi.ComponentResource):
    wiring: StoreWiring

    def __init__(self, name: str, args: InClusterStoresArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:data:InClusterDataStores", name, None, opts)
        stores = args.stores
        namespace_name = stores.namespace
        namespace = k8s.core.v1.Namespace("data-namespace", metadata=ObjectMetaArgs(name=namespace_name, labels={
            "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest",
            "pod-security.kubernetes.io/audit": "restricted", "pod-security.kubernetes.io/warn": "restricted",
            "app.kubernetes.io/managed-by": "pulumi"}), opts=pulumi.ResourceOptions(parent=self))
        inside = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        credentials = k8s.core.v1.Secret("data-credentials", metadata=ObjectMetaArgs(
            name=STORE_SECRET, namespace=namespace_name, labels=standard_labels("data-stores")), type="Opaque",
            string_data={"REDIS_PASSWORD": secret(args.secrets, stores.redis.auth_secret),
                         "POSTGRES_PASSWORD": secret(args.secrets, stores.postgres.password_secret)}, opts=inside)
        self._args = args
        self._inside = pulumi.ResourceOptions(parent=self, depends_on=[namespace, credentials, *args.storage_after,
                                                                         *args.after])

        postgres = stores.postgres
        valkey_version = stores.redis_engine_version("kind")
        self.valkey = self._stateful_set(
            "valkey", VALKEY_IMAGES[valkey_version], valkey_version, REDIS_PORT, STORE_UID, STORE_UID, VALKEY_RESOURCES,
            stores.redis.storage_size, "/data",
            command=["valkey-server"],
            arguments=["--port", str(REDIS_PORT), "--requirepass", "$(REDIS_PASSWORD)", "--appendonly", "yes",
                       "--dir", "/data", "--protected-mode", "no"],
            env=[_password_env("REDIS_PASSWORD")],
            scratch={"tmp": "/tmp"},
            ready='valkey-cli --no-auth-warning -a "$REDIS_PASSWORD" ping | grep -q PONG',
        )
        pg_version = stores.postgres_engine_version("kind")
        self.postgres = self._stateful_set(
            "postgres", POSTGRES_IMAGES[pg_version], pg_version, POSTGRES_PORT, STORE_UID, STORE_UID,
            POSTGRES_RESOURCES, f"{postgres.storage_gb}Gi", "/var/lib/postgresql/data",
            command=None, arguments=None,
            env=[EnvVarArgs(name="POSTGRES_DB", value=postgres.database),
                 EnvVarArgs(name="POSTGRES_USER", value=postgres.username),
                 # A subdirectory: initdb needs an empty directory it owns, the volume's root has lost+found.
                 EnvVarArgs(name="PGDATA", value="/var/lib/postgresql/data/pgdata"),
                 _password_env("POSTGRES_PASSWORD")],
            scratch={"run": "/var/run/postgresql", "tmp": "/tmp"},
            ready=f"pg_isready -h 127.0.0.1 -p {POSTGRES_PORT} -U {postgres.username} -d {postgres.database}",
        )

        # Deny everything, then admit the API's pods on each store's port (the browser pool is never a source).
        def policy(policy_name: str, spec: NetworkPolicySpecArgs) -> None:
            k8s.networking.v1.NetworkPolicy(f"data-{policy_name}", metadata=ObjectMetaArgs(
                name=policy_name, namespace=namespace_name, labels=standard_labels("data-stores")), spec=spec,
                opts=inside)

        policy("default-deny-all", NetworkPolicySpecArgs(pod_selector=LabelSelectorArgs(),
                                                         policy_types=["Ingress", "Egress"]))
        # The servers resolve no names, but the pack's rule (and any future sidecar) expects DNS open everywhere.
        policy("allow-dns-egress", NetworkPolicySpecArgs(
            pod_selector=LabelSelectorArgs(), policy_types=["Egress"],
            egress=[NetworkPolicyEgressRuleArgs(
                to=[NetworkPolicyPeerArgs(
                    namespace_selector=LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": "kube-system"}),
                    pod_selector=LabelSelectorArgs(match_labels={"k8s-app": "kube-dns"}))],
                ports=[NetworkPolicyPortArgs(protocol="UDP", port=53), NetworkPolicyPortArgs(protocol="TCP", port=53)])]))
        api_peer = NetworkPolicyPeerArgs(
            namespace_selector=LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": args.api_namespace}),
            pod_selector=LabelSelectorArgs(match_labels=args.api_selector))
        for component, port in (("valkey", REDIS_PORT), ("postgres", POSTGRES_PORT)):
            policy(f"{component}-ingress-from-api", NetworkPolicySpecArgs(
                pod_selector=LabelSelectorArgs(match_labels=selector_labels(component)), policy_types=["Ingress"],
                ingress=[NetworkPolicyIngressRuleArgs(from_=[api_peer],
                                                      ports=[NetworkPolicyPortArgs(protocol="TCP", port=port)])]))

        def host(component: str) -> str:
            return f"{component}.{namespace_name}.svc.cluster.local"

        self.wiring = StoreWiring(
            env={
                "REDIS_HOST": host("valkey"), "REDIS_PORT": str(REDIS_PORT), "REDIS_TLS": "false",
                "REDIS_CLUSTER": "false", "REDIS_IAM": "false",
                "POSTGRES_HOST": host("postgres"), "POSTGRES_READ_HOST": host("postgres"),
                "POSTGRES_PORT": str(POSTGRES_PORT), "POSTGRES_DB": postgres.database,
                "POSTGRES_USER": postgres.username,
                # In-cluster traffic on a laptop, admitted from the API's pods only; no certificates to manage.
                "POSTGRES_SSLMODE": "disable",
            },
            secret_env={"REDIS_PASSWORD": secret(args.secrets, stores.redis.auth_secret),
                        "POSTGRES_PASSWORD": secret(args.secrets, postgres.password_secret)},
            egress=[ExtraEgress(REDIS_PORT, namespace=namespace_name, pod_selector=selector_labels("valkey")),
                    ExtraEgress(POSTGRES_PORT, namespace=namespace_name,
                                pod_selector=selector_labels("postgres"))],
            outputs={"redisEndpoint": host("valkey"), "postgresEndpoint": host("postgres"),
                     "postgresReadEndpoints": host("postgres")},
            after=[self.valkey, self.postgres],
        )
        self.register_outputs({"namespace": namespace_name})

    def _stateful_set(self, component: str, image: str, version: str, port: int, uid: int, gid: int,
                      shape: Container, size: str, data_path: str, *, command: list[str] | None,
                      arguments: list[str] | None, env: list[EnvVarArgs], scratch: dict[str, str],
                      ready: str) -> k8s.apps.v1.StatefulSet:
        args = self._args
        namespace = args.stores.namespace
        labels = standard_labels(component, version)
        pod_security, container_security = _security(uid, gid)
        volumes = [VolumeArgs(name=volume, empty_dir=EmptyDirVolumeSourceArgs(size_limit="64Mi"))
                   for volume in scratch]
        mounts = [VolumeMountArgs(name="data", mount_path=data_path),
                  *(VolumeMountArgs(name=volume, mount_path=path) for volume, path in scratch.items())]
        # Its own identity, with no API token: the namespace's `default` account would be shared by every pod.
        service_account = k8s.core.v1.ServiceAccount(f"{component}-service-account", metadata=ObjectMetaArgs(
            name=component, namespace=namespace, labels=labels), automount_service_account_token=False,
            opts=self._inside)
        k8s.core.v1.Service(f"{component}-service", metadata=ObjectMetaArgs(
            name=component, namespace=namespace, labels=labels), spec=ServiceSpecArgs(
            type="ClusterIP", selector=selector_labels(component),
            ports=[ServicePortArgs(name="tcp", port=port, target_port="tcp", protocol="TCP")]), opts=self._inside)
        return k8s.apps.v1.StatefulSet(f"{component}-statefulset", metadata=ObjectMetaArgs(
            name=component, namespace=namespace, labels=labels), spec=StatefulSetSpecArgs(
            service_name=component, replicas=1, selector=LabelSelectorArgs(match_labels=selector_labels(component)),
            template=PodTemplateSpecArgs(
                metadata=ObjectMetaArgs(labels=labels),
                spec=PodSpecArgs(
                    service_account_name=component,
                    automount_service_account_token=False, enable_service_links=False,
                    security_context=pod_security, node_selector=dict(args.node_selector),
                    tolerations=[TolerationArgs(key=t.key, operator="Equal", value=t.value, effect=t.effect)
                                 for t in args.tolerations] or None,
                    termination_grace_period_seconds=30,
                    priority_class_name=args.priority_class_name,
                    containers=[ContainerArgs(
                        name=component, image=image, command=command,
                        # Pinned by tag, not digest: checked against the registry on every start.
                        image_pull_policy="Always",
                        args=arguments, env=env,
                        ports=[ContainerPortArgs(name="tcp", container_port=port, protocol="TCP")],
                        resources=_resources(shape), security_context=container_security, volume_mounts=mounts,
                        startup_probe=ProbeArgs(tcp_socket=TCPSocketActionArgs(port="tcp"), period_seconds=5,
                                                failure_threshold=30),
                        liveness_probe=ProbeArgs(tcp_socket=TCPSocketActionArgs(port="tcp"), period_seconds=10,
                                                 failure_threshold=3),
                        readiness_probe=_exec_probe(ready, period=10, failures=3),
                    )],
                    volumes=volumes or None,
                ),
            ),
            volume_claim_templates=[PersistentVolumeClaimArgs(
                metadata=ObjectMetaArgs(name="data"),
                spec=PersistentVolumeClaimSpecArgs(
                    access_modes=["ReadWriteOnce"], storage_class_name=args.storage_class,
                    resources=VolumeResourceRequirementsArgs(requests={"storage": size})))],
        ), opts=pulumi.ResourceOptions.merge(self._inside, pulumi.ResourceOptions(depends_on=[service_account])))
