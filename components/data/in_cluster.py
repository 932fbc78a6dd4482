"""kind: Valkey and PostgreSQL as StatefulSets the program writes, in a namespace of their own.

No operator or chart: two single-pod StatefulSets are all a laptop needs, and written here they are validated
strictly like every other manifest. They are hardened like the workloads (non-root, read-only root filesystem
with emptyDirs where the server writes, dropped capabilities, RuntimeDefault seccomp, probes, limits, a PVC on
the cluster's default class), admit only the API's pods, and take their passwords from Pulumi secrets.

With monitoring on, each pod carries its exporter (exporters.py), a ServiceMonitor scrapes it and the store
alerts cover it (alerts.py). With the mesh on, the namespace is injected and only the API's identity may reach
the servers (mesh.py). PostgreSQL's superuser is the master user; the API gets a role of its own (app_role.py).
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

from ..common.checkov import IMAGE_BY_TAG, SECRET_ENV, checkov_skips
from ..common.labels import selector_labels, standard_labels
from ..common.metrics_contract import METRICS_PATH, METRICS_PORT_NAME
from ..common.traffic import ExtraEgress
from ..services.istio_metrics import ENVOY_METRICS_PORT
from ..services.mesh import ISTIO_NAMESPACE, ISTIOD_XDS_PORT
from . import app_role, exporters
from .alerts import InClusterTargets, StoreAlerts, StoreAlertsArgs
from .mesh import DataMeshPolicies, DataMeshPoliciesArgs, StorePort
from .wiring import POSTGRES_PORT, REDIS_PORT, ApiIdentity, StoreMesh, StoreMonitoring, StoreWiring, secret

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
STORE_CHECKOV_SKIPS = {IMAGE_BY_TAG: "in-cluster stores run on kind only; pinned by exact version tag, since digests "
                                     "cannot be resolved without a registry here (see VALKEY_IMAGES)"}
STORE_SECRET = "data-store-credentials"
VALKEY_MAXMEMORY = "384mb"
"""75% of Valkey's 512Mi memory limit: room for the AOF rewrite's fork and the client buffers. With `noeviction`
a full store refuses writes instead of silently dropping sessions; the alert ValkeyMemoryNearFull comes first."""


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
    clients: list[ApiIdentity]
    """The pods of every workload that uses the stores (its dataStores flag)."""
    node_selector: dict[str, str]
    tolerations: list[Taint]
    storage_class: str
    storage_after: list[pulumi.Resource] = field(default_factory=list)
    monitoring: StoreMonitoring | None = None
    mesh: StoreMesh | None = None
    priority_class_name: str | None = None
    """The stores' PriorityClass (components/services/priority_classes.py DATA_STORE_CLASS: above the API they serve)."""
    after: list[pulumi.Resource] = field(default_factory=list)
    """What the StatefulSets wait for besides the namespace and the storage, e.g. their PriorityClass."""


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


@dataclass(frozen=True)
class StoreSpec:
    """One store's StatefulSet, beyond what every store shares."""

    component: str
    image: str
    version: str
    port: int
    shape: Container
    size: str
    data_path: str
    command: list[str] | None
    arguments: list[str] | None
    env: list[EnvVarArgs]
    scratch: dict[str, str]
    """emptyDir name -> mount path, where the server writes besides its volume."""
    ready: str
    exporter: ContainerArgs | None = None
    exporter_port: int | None = None
    volumes: list[VolumeArgs] = field(default_factory=list)
    mounts: list[VolumeMountArgs] = field(default_factory=list)
    secret_env_reason: str = ""
    """Why the server reads its password from the environment (Checkov CKV_K8S_35's reviewed skip)."""


class InClusterDataStores(pulumi.ComponentResource):
    wiring: StoreWiring

    def __init__(self, name: str, args: InClusterStoresArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:data:InClusterDataStores", name, None, opts)
        stores = args.stores
        namespace_name = stores.namespace
        mesh, monitoring = args.mesh, args.monitoring
        namespace = k8s.core.v1.Namespace("data-namespace", metadata=ObjectMetaArgs(name=namespace_name, labels={
            "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest",
            "pod-security.kubernetes.io/audit": "restricted", "pod-security.kubernetes.io/warn": "restricted",
            "app.kubernetes.io/managed-by": "pulumi",
            # In the mesh (mesh.py): the AuthorizationPolicies act only where a sidecar enforces them.
            **(mesh.injection_labels if mesh is not None else {})}), opts=pulumi.ResourceOptions(parent=self))
        inside = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        postgres = stores.postgres
        credentials = k8s.core.v1.Secret("data-credentials", metadata=ObjectMetaArgs(
            name=STORE_SECRET, namespace=namespace_name, labels=standard_labels("data-stores")), type="Opaque",
            string_data={"REDIS_PASSWORD": secret(args.secrets, stores.redis.auth_secret),
                         app_role.MASTER_PASSWORD_KEY: secret(args.secrets, postgres.master_password_secret),
                         app_role.APP_PASSWORD_KEY: secret(args.secrets, postgres.password_secret)}, opts=inside)
        exporter_role = exporters.EXPORTER_ROLE if monitoring is not None else None
        init = k8s.core.v1.ConfigMap("data-postgres-init", metadata=ObjectMetaArgs(
            name="postgres-init", namespace=namespace_name, labels=standard_labels("postgres")), data={
            "10-app-role.sh": app_role.init_script(postgres.username, postgres.database, exporter_role),
            app_role.SQL_FILE: app_role.APP_ROLE_SQL}, opts=inside)
        self._args = args
        # Store pods are created after istiod when the mesh is on: its webhook injects their sidecars.
        self._inside = pulumi.ResourceOptions(parent=self, depends_on=[
            namespace, credentials, init, *args.storage_after, *(mesh.injector if mesh is not None else []), *args.after])
        _, exporter_security = _security(STORE_UID, STORE_UID)

        valkey_version = stores.redis_engine_version("kind")
        self.valkey = self._stateful_set(StoreSpec(
            "valkey", VALKEY_IMAGES[valkey_version], valkey_version, REDIS_PORT, VALKEY_RESOURCES,
            stores.redis.storage_size, "/data",
            command=["valkey-server"],
            arguments=["--port", str(REDIS_PORT), "--requirepass", "$(REDIS_PASSWORD)", "--appendonly", "yes",
                       "--dir", "/data", "--protected-mode", "no",
                       "--maxmemory", VALKEY_MAXMEMORY, "--maxmemory-policy", "noeviction"],
            env=[_password_env("REDIS_PASSWORD")],
            scratch={"tmp": "/tmp"},
            ready='valkey-cli --no-auth-warning -a "$REDIS_PASSWORD" ping | grep -q PONG',
            exporter=(exporters.redis_exporter(_password_env("REDIS_PASSWORD"), exporter_security, REDIS_PORT)
                      if monitoring is not None else None),
            exporter_port=exporters.REDIS_EXPORTER_PORT if monitoring is not None else None,
            secret_env_reason="valkey-server takes requirepass on its command line (expanded from the env var); "
                              "redis_exporter and valkey-cli read the password from the environment; the value "
                              "comes from a Secret via secretKeyRef, never from the manifest",
        ))
        pg_version = stores.postgres_engine_version("kind")
        init_volumes, init_mounts = app_role.script_volumes("postgres-init")
        self.postgres = self._stateful_set(StoreSpec(
            "postgres", POSTGRES_IMAGES[pg_version], pg_version, POSTGRES_PORT, POSTGRES_RESOURCES,
            f"{postgres.storage_gb}Gi", "/var/lib/postgresql/data",
            command=None, arguments=None,
            env=[EnvVarArgs(name="POSTGRES_DB", value=postgres.database),
                 # The superuser is the master user; the API logs in as its own role (app_role.py).
                 EnvVarArgs(name="POSTGRES_USER", value=postgres.master_username),
                 # A subdirectory: initdb needs an empty directory it owns, the volume's root has lost+found.
                 EnvVarArgs(name="PGDATA", value="/var/lib/postgresql/data/pgdata"),
                 # Passwords over the network; trust only on the pod-local socket (the exporter's way in).
                 EnvVarArgs(name="POSTGRES_INITDB_ARGS", value="--auth-host=scram-sha-256 --auth-local=trust"),
                 EnvVarArgs(name="POSTGRES_PASSWORD", value_from=EnvVarSourceArgs(secret_key_ref=SecretKeySelectorArgs(
                     name=STORE_SECRET, key=app_role.MASTER_PASSWORD_KEY))),
                 _password_env(app_role.APP_PASSWORD_KEY)],
            scratch={"run": exporters.POSTGRES_SOCKET_DIR, "tmp": "/tmp"},
            ready=f"pg_isready -h 127.0.0.1 -p {POSTGRES_PORT} -U {postgres.master_username} -d {postgres.database}",
            exporter=exporters.postgres_exporter(exporter_security, "run") if monitoring is not None else None,
            exporter_port=exporters.POSTGRES_EXPORTER_PORT if monitoring is not None else None,
            volumes=init_volumes, mounts=init_mounts,
            secret_env_reason="the init script reads the API role's password with psql's \\getenv (never on a "
                              "command line); the value comes from a Secret via secretKeyRef",
        ))
        self._network_policies(namespace_name, inside)
        self._observe_and_mesh(args, namespace_name, [self.valkey, self.postgres])

        def host(component: str) -> str:
            return f"{component}.{namespace_name}.svc.cluster.local"

        self.wiring = StoreWiring(
            env={
                "REDIS_HOST": host("valkey"), "REDIS_PORT": str(REDIS_PORT), "REDIS_TLS": "false",
                "REDIS_CLUSTER": "false", "REDIS_IAM": "false",
                "POSTGRES_HOST": host("postgres"), "POSTGRES_READ_HOST": host("postgres"),
                "POSTGRES_PORT": str(POSTGRES_PORT), "POSTGRES_DB": postgres.database,
                "POSTGRES_USER": postgres.username,
                # In-cluster traffic on a laptop, admitted from the API's pods only (and mTLS when the mesh is on).
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

    def _network_policies(self, namespace: str, inside: pulumi.ResourceOptions) -> None:
        """Deny everything, then admit the API's pods on each store's port (the browser pool is never a source),
        Prometheus on the exporters' port, and the sidecars' way to istiod."""
        args = self._args

        def policy(policy_name: str, spec: NetworkPolicySpecArgs) -> None:
            k8s.networking.v1.NetworkPolicy(f"data-{policy_name}", metadata=ObjectMetaArgs(
                name=policy_name, namespace=namespace, labels=standard_labels("data-stores")), spec=spec,
                opts=inside)

        def namespace_peer(name: str, pods: dict[str, str] | None = None) -> NetworkPolicyPeerArgs:
            return NetworkPolicyPeerArgs(
                namespace_selector=LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": name}),
                pod_selector=LabelSelectorArgs(match_labels=pods) if pods is not None else None)

        policy("default-deny-all", NetworkPolicySpecArgs(pod_selector=LabelSelectorArgs(),
                                                         policy_types=["Ingress", "Egress"]))
        # The servers resolve no names, but the pack's rule (and the sidecars) expect DNS open everywhere.
        policy("allow-dns-egress", NetworkPolicySpecArgs(
            pod_selector=LabelSelectorArgs(), policy_types=["Egress"],
            egress=[NetworkPolicyEgressRuleArgs(
                to=[namespace_peer("kube-system", {"k8s-app": "kube-dns"})],
                ports=[NetworkPolicyPortArgs(protocol="UDP", port=53), NetworkPolicyPortArgs(protocol="TCP", port=53)])]))
        client_peers = [namespace_peer(client.namespace, client.selector) for client in args.clients]
        for component, port in (("valkey", REDIS_PORT), ("postgres", POSTGRES_PORT)):
            policy(f"{component}-ingress-from-api", NetworkPolicySpecArgs(
                pod_selector=LabelSelectorArgs(match_labels=selector_labels(component)), policy_types=["Ingress"],
                ingress=[NetworkPolicyIngressRuleArgs(from_=client_peers,
                                                      ports=[NetworkPolicyPortArgs(protocol="TCP", port=port)])]))
        if args.monitoring is not None:
            policy("metrics-from-monitoring", NetworkPolicySpecArgs(
                pod_selector=LabelSelectorArgs(), policy_types=["Ingress"],
                ingress=[NetworkPolicyIngressRuleArgs(from_=[namespace_peer(args.monitoring.namespace)], ports=[
                    NetworkPolicyPortArgs(protocol="TCP", port=exporters.REDIS_EXPORTER_PORT),
                    NetworkPolicyPortArgs(protocol="TCP", port=exporters.POSTGRES_EXPORTER_PORT)])]))
        if args.monitoring is not None and args.mesh is not None:
            # The stores' sidecars: Prometheus scrapes Envoy's stats on 15090, which Istio leaves out of inbound
            # capture (components/services/istio_metrics.py).
            policy("envoy-metrics-from-monitoring", NetworkPolicySpecArgs(
                pod_selector=LabelSelectorArgs(), policy_types=["Ingress"],
                ingress=[NetworkPolicyIngressRuleArgs(from_=[namespace_peer(args.monitoring.namespace)], ports=[
                    NetworkPolicyPortArgs(protocol="TCP", port=ENVOY_METRICS_PORT)])]))
        if args.mesh is not None:
            policy("allow-istiod-egress", NetworkPolicySpecArgs(
                pod_selector=LabelSelectorArgs(), policy_types=["Egress"],
                egress=[NetworkPolicyEgressRuleArgs(
                    to=[namespace_peer(ISTIO_NAMESPACE, {"app": "istiod"})],
                    ports=[NetworkPolicyPortArgs(protocol="TCP", port=ISTIOD_XDS_PORT)])]))

    def _observe_and_mesh(self, args: InClusterStoresArgs, namespace: str, servers: list[pulumi.Resource]) -> None:
        stores, monitoring = args.stores, args.monitoring
        ports = [StorePort("valkey", REDIS_PORT, exporters.REDIS_EXPORTER_PORT if monitoring else None),
                 StorePort("postgres", POSTGRES_PORT, exporters.POSTGRES_EXPORTER_PORT if monitoring else None)]
        if monitoring is not None:
            after = pulumi.ResourceOptions(parent=self, depends_on=[monitoring.crd_release, *servers])
            for store in ports:
                k8s.apiextensions.CustomResource(
                    f"data-{store.component}-servicemonitor", api_version="monitoring.coreos.com/v1",
                    kind="ServiceMonitor", metadata=ObjectMetaArgs(
                        name=store.component, namespace=namespace,
                        labels={**standard_labels(store.component), **monitoring.selected_labels}),
                    spec={"selector": {"matchLabels": selector_labels(store.component)},
                          "namespaceSelector": {"matchNames": [namespace]},
                          "endpoints": [{"port": METRICS_PORT_NAME, "path": METRICS_PATH, "interval": "30s",
                                         "scheme": "http"}]},
                    opts=after)
            StoreAlerts("data-store-alerts", StoreAlertsArgs(
                monitoring=monitoring, clients=args.clients,
                in_cluster=InClusterTargets(namespace, stores.postgres.storage_gb * 2**30)),
                opts=pulumi.ResourceOptions(parent=self))
        if args.mesh is not None:
            DataMeshPolicies("data-mesh", DataMeshPoliciesArgs(
                namespace=namespace, clients=args.clients, stores=ports, crd_releases=args.mesh.crd_releases,
                after=servers), opts=pulumi.ResourceOptions(parent=self))

    def _stateful_set(self, spec: StoreSpec) -> k8s.apps.v1.StatefulSet:
        args = self._args
        component = spec.component
        namespace = args.stores.namespace
        labels = standard_labels(component, spec.version)
        pod_security, container_security = _security(STORE_UID, STORE_UID)
        volumes = [VolumeArgs(name=volume, empty_dir=EmptyDirVolumeSourceArgs(size_limit="64Mi"))
                   for volume in spec.scratch] + spec.volumes
        mounts = [VolumeMountArgs(name="data", mount_path=spec.data_path),
                  *(VolumeMountArgs(name=volume, mount_path=path) for volume, path in spec.scratch.items()),
                  *spec.mounts]
        # Its own identity, with no API token: the namespace's `default` account would be shared by every pod.
        service_account = k8s.core.v1.ServiceAccount(f"{component}-service-account", metadata=ObjectMetaArgs(
            name=component, namespace=namespace, labels=labels), automount_service_account_token=False,
            opts=self._inside)
        # `tcp`: Istio treats the port as opaque TCP and never sniffs it; the exporter's is HTTP.
        service_ports = [ServicePortArgs(name="tcp", port=spec.port, target_port="tcp", protocol="TCP",
                                         app_protocol="tcp")]
        if spec.exporter_port is not None:
            service_ports.append(ServicePortArgs(name=METRICS_PORT_NAME, port=spec.exporter_port,
                                                 target_port=METRICS_PORT_NAME, protocol="TCP", app_protocol="http"))
        k8s.core.v1.Service(f"{component}-service", metadata=ObjectMetaArgs(
            name=component, namespace=namespace, labels=labels), spec=ServiceSpecArgs(
            type="ClusterIP", selector=selector_labels(component), ports=service_ports), opts=self._inside)
        server = ContainerArgs(
            name=component, image=spec.image, command=spec.command,
            # Pinned by tag, not digest: checked against the registry on every start.
            image_pull_policy="Always",
            args=spec.arguments, env=spec.env,
            ports=[ContainerPortArgs(name="tcp", container_port=spec.port, protocol="TCP")],
            resources=_resources(spec.shape), security_context=container_security, volume_mounts=mounts,
            startup_probe=ProbeArgs(tcp_socket=TCPSocketActionArgs(port="tcp"), period_seconds=5,
                                    failure_threshold=30),
            liveness_probe=ProbeArgs(tcp_socket=TCPSocketActionArgs(port="tcp"), period_seconds=10,
                                     failure_threshold=3),
            readiness_probe=_exec_probe(spec.ready, period=10, failures=3),
        )
        annotations = dict(args.mesh.pod_annotations) if args.mesh is not None else None
        skips = {**STORE_CHECKOV_SKIPS, SECRET_ENV: spec.secret_env_reason} if spec.secret_env_reason else STORE_CHECKOV_SKIPS
        return k8s.apps.v1.StatefulSet(f"{component}-statefulset", metadata=ObjectMetaArgs(
            name=component, namespace=namespace, labels=labels, annotations=checkov_skips(skips)),
            spec=StatefulSetSpecArgs(
            service_name=component, replicas=1, selector=LabelSelectorArgs(match_labels=selector_labels(component)),
            template=PodTemplateSpecArgs(
                metadata=ObjectMetaArgs(labels=labels, annotations=annotations),
                spec=PodSpecArgs(
                    service_account_name=component,
                    automount_service_account_token=False, enable_service_links=False,
                    security_context=pod_security, node_selector=dict(args.node_selector),
                    tolerations=[TolerationArgs(key=t.key, operator="Equal", value=t.value, effect=t.effect)
                                 for t in args.tolerations] or None,
                    termination_grace_period_seconds=30,
                    priority_class_name=args.priority_class_name,
                    containers=[server, *([spec.exporter] if spec.exporter is not None else [])],
                    volumes=volumes or None,
                ),
            ),
            volume_claim_templates=[PersistentVolumeClaimArgs(
                metadata=ObjectMetaArgs(name="data"),
                spec=PersistentVolumeClaimSpecArgs(
                    access_modes=["ReadWriteOnce"], storage_class_name=args.storage_class,
                    resources=VolumeResourceRequirementsArgs(requests={"storage": spec.size})))],
        ), opts=pulumi.ResourceOptions.merge(self._inside, pulumi.ResourceOptions(depends_on=[service_account])))
