"""One long-running workload (Deployment, Service, ServiceAccount, config, secret, PDB and RBAC), hardened.

Every role (API, browser pool, worker) is built here; what differs (headless Service, no Service, /dev/shm,
session drain, API access) is switched on by `WorkloadArgs`, so the secure pod shape is written once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.apps.v1 import DeploymentSpecArgs, DeploymentStrategyArgs, RollingUpdateDeploymentArgs
from pulumi_kubernetes.core.v1 import (
    AffinityArgs,
    CapabilitiesArgs,
    ConfigMapEnvSourceArgs,
    ConfigMapProjectionArgs,
    ContainerArgs,
    ContainerPortArgs,
    DownwardAPIProjectionArgs,
    DownwardAPIVolumeFileArgs,
    EmptyDirVolumeSourceArgs,
    EnvFromSourceArgs,
    EnvVarArgs,
    EnvVarSourceArgs,
    HTTPGetActionArgs,
    KeyToPathArgs,
    LifecycleArgs,
    LifecycleHandlerArgs,
    NodeAffinityArgs,
    NodeSelectorRequirementArgs,
    NodeSelectorTermArgs,
    ObjectFieldSelectorArgs,
    PodSecurityContextArgs,
    PodSpecArgs,
    PodTemplateSpecArgs,
    PreferredSchedulingTermArgs,
    ProbeArgs,
    ProjectedVolumeSourceArgs,
    ResourceRequirementsArgs,
    SeccompProfileArgs,
    SecretKeySelectorArgs,
    SecurityContextArgs,
    ServiceAccountTokenProjectionArgs,
    ServicePortArgs,
    ServiceSpecArgs,
    TolerationArgs,
    TopologySpreadConstraintArgs,
    VolumeArgs,
    VolumeMountArgs,
    VolumeProjectionArgs,
)
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, ObjectMetaArgs
from pulumi_kubernetes.policy.v1 import PodDisruptionBudgetSpecArgs
from pulumi_kubernetes.rbac.v1 import PolicyRuleArgs, RoleRefArgs, SubjectArgs

from stack_config.cluster import Taint
from stack_config.workloads import ComputeResources, WorkloadBase

from ..common.checkov import IMAGE_BY_TAG, SECRET_ENV, checkov_skips
from ..common.labels import selector_labels, standard_labels

TMP_SIZE = "1Gi"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
EVICT_LOCAL_VOLUMES = "cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes"
SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"
"""With "false", cluster-autoscaler (and GKE's autoscaler) never removes a node while such a pod runs on it, whatever
the local-volumes annotation says: that one only lifts the emptyDir block, for pods that are otherwise evictable, so
the two do not conflict (the browser keeps both; other drains, e.g. node upgrades, ignore both)."""


def workload_checkov_skips(spec: WorkloadBase, secret_env: list[str]) -> dict[str, str]:
    """The reviewed skips of one workload's Deployment; `secret_env`: the variables it reads from its Secret."""
    reasons: dict[str, str] = {}
    if not spec.image_digest:
        reasons[IMAGE_BY_TAG] = ("pinned by tag here; production stacks require imageDigest (policy "
                                 "k8s-image-reference.requireDigest in policy/config/prod*.json)")
    if secret_env:
        reasons[SECRET_ENV] = ("the image reads its secrets (secretEnv, data-store passwords) from environment "
                               "variables; values come from a Secret via secretKeyRef, never from the manifest "
                               "(policy k8s-no-secret-env-literals)")
    return checkov_skips(reasons)


@dataclass(frozen=True)
class NodePreference:
    """A node label expression the scheduler prefers (preferred node affinity, weight 100), e.g. on-demand nodes."""

    key: str
    operator: str
    values: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ApiAccessRule:
    api_groups: list[str]
    resources: list[str]
    verbs: list[str]


@dataclass(frozen=True)
class WorkloadArgs:
    component: str
    """The workload's name: its objects' names and its `app.kubernetes.io/name` label."""
    namespace: pulumi.Input[str]
    spec: WorkloadBase
    tolerations: list[Taint]
    autoscaled: bool
    secret_values: dict[str, str] = field(default_factory=dict)
    config_data: dict[str, str] = field(default_factory=dict)
    headless_service: bool = False
    shm_size: str | None = None
    termination_grace_seconds: int = 30
    pre_stop_path: str | None = None
    api_access: list[ApiAccessRule] = field(default_factory=list)
    pod_labels: dict[str, str] = field(default_factory=dict)
    pod_annotations: dict[str, str] = field(default_factory=dict)
    after: list[pulumi.Resource] = field(default_factory=list)
    """What must exist before the pods are created (e.g. the mesh's sidecar injector)."""
    blocks_node_scale_down: bool = False
    """Node scale-down evicts pods with at most the autoscaler's own termination limit (10 minutes by default), so
    pods whose grace period is longer (session drain) keep their node: the HPA/KEDA scales them in, and the
    emptied node is removed after."""
    preferred_nodes: list[NodePreference] = field(default_factory=list)
    store_env: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    """The data stores' endpoints (components/data): a ConfigMap of their own, since they are outputs."""
    store_secret_env: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    """The data stores' credentials (Pulumi secrets), added to the workload's Secret."""
    service_account_annotations: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    role: str | None = None
    """api, browser or worker: the pods' `app.kubernetes.io/component` label, which policies select roles by."""
    service: bool = True
    """False for a worker: nothing calls it, so it gets no Service (Prometheus scrapes its pods directly)."""
    priority_class_name: str | None = None
    """The pods' PriorityClass (components/services/priority_classes.py, by role); it must exist before the Deployment."""


def _resources(requests: ComputeResources, limits: ComputeResources) -> ResourceRequirementsArgs:
    def as_map(values: ComputeResources) -> dict[str, str]:
        return {"cpu": values.cpu, "memory": values.memory, "ephemeral-storage": values.ephemeral_storage}

    return ResourceRequirementsArgs(requests=as_map(requests), limits=as_map(limits))


def _http_probe(path: str, *, period: int, failures: int, timeout: int = 2, port: str = "http") -> ProbeArgs:
    return ProbeArgs(
        http_get=HTTPGetActionArgs(path=path, port=port),
        period_seconds=period,
        failure_threshold=failures,
        timeout_seconds=timeout,
    )


def container_security_context(spec: WorkloadBase) -> SecurityContextArgs:
    return SecurityContextArgs(
        run_as_non_root=True,
        run_as_user=spec.run_as_user,
        run_as_group=spec.run_as_user,
        allow_privilege_escalation=False,
        privileged=False,
        read_only_root_filesystem=spec.security.read_only_root_filesystem,
        capabilities=CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=SeccompProfileArgs(type="RuntimeDefault"),
    )


def pod_security_context(spec: WorkloadBase) -> PodSecurityContextArgs:
    return PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=spec.run_as_user,
        run_as_group=spec.run_as_user,
        fs_group=spec.run_as_user,
        seccomp_profile=SeccompProfileArgs(type="RuntimeDefault"),
    )


def _topology_spread(selector: dict[str, str]) -> list[TopologySpreadConstraintArgs]:
    # ScheduleAnyway: spreading is a preference, so a pool with fewer nodes or zones than replicas
    # still schedules (and the node autoscaler still sees pending pods as something to fix).
    return [
        TopologySpreadConstraintArgs(
            topology_key=key,
            max_skew=1,
            when_unsatisfiable="ScheduleAnyway",
            label_selector=LabelSelectorArgs(match_labels=selector),
            match_label_keys=["pod-template-hash"],
        )
        for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
    ]


def preferred_affinity(preferences: list[NodePreference]) -> AffinityArgs | None:
    """Soft node affinity for the preferences (e.g. on-demand nodes first), shared with the headroom placeholders."""
    if not preferences:
        return None
    return AffinityArgs(node_affinity=NodeAffinityArgs(preferred_during_scheduling_ignored_during_execution=[
        PreferredSchedulingTermArgs(weight=100, preference=NodeSelectorTermArgs(match_expressions=[
            NodeSelectorRequirementArgs(key=p.key, operator=p.operator, values=list(p.values) or None)]))
        for p in preferences
    ]))


class Workload(pulumi.ComponentResource):
    deployment: k8s.apps.v1.Deployment
    service: k8s.core.v1.Service | None
    service_name: str
    """The Service's name (a worker has none; it is then the Deployment's name)."""
    selector: dict[str, str]
    api_access: list[ApiAccessRule]

    def __init__(self, name: str, args: WorkloadArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:workloads:Workload", name, None, opts)
        spec = args.spec
        component = args.component
        child = pulumi.ResourceOptions(parent=self)
        version = spec.image.rsplit(":", 1)[1]
        labels = standard_labels(component, version, role=args.role)
        self.selector = selector_labels(component)
        self.service_name = component
        self.api_access = list(args.api_access)

        def meta(object_name: str, annotations: Mapping[str, pulumi.Input[str]] | None = None) -> ObjectMetaArgs:
            return ObjectMetaArgs(name=object_name, namespace=args.namespace, labels=labels, annotations=annotations)

        service_account = k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=meta(component, annotations=dict(args.service_account_annotations) or None),
            automount_service_account_token=False,
            opts=child,
        )

        if args.api_access:
            role = k8s.rbac.v1.Role(
                f"{name}-role",
                metadata=meta(component),
                rules=[PolicyRuleArgs(api_groups=r.api_groups, resources=r.resources, verbs=r.verbs)
                       for r in args.api_access],
                opts=child,
            )
            k8s.rbac.v1.RoleBinding(
                f"{name}-role-binding",
                metadata=meta(component),
                role_ref=RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role", name=component),
                subjects=[SubjectArgs(kind="ServiceAccount", name=component, namespace=args.namespace)],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[role, service_account]),
            )

        config_data = {**spec.env, **args.config_data}
        config_map = k8s.core.v1.ConfigMap(f"{name}-config", metadata=meta(f"{component}-config"),
                                           data=config_data, opts=child)
        secret_name = f"{component}-secrets"
        secret_env: list[EnvVarArgs] = []
        depends: list[pulumi.Resource] = [config_map, service_account, *args.after]
        env_from = [EnvFromSourceArgs(config_map_ref=ConfigMapEnvSourceArgs(name=f"{component}-config"))]
        if args.store_env:
            depends.append(k8s.core.v1.ConfigMap(f"{name}-stores", metadata=meta(f"{component}-stores"),
                                                 data=dict(args.store_env), opts=child))
            env_from.append(EnvFromSourceArgs(config_map_ref=ConfigMapEnvSourceArgs(name=f"{component}-stores")))
        secret_values: dict[str, pulumi.Input[str]] = {
            env: pulumi.Output.secret(args.secret_values[key]) for env, key in spec.secret_env.items()}
        secret_values.update({env: pulumi.Output.secret(value) for env, value in args.store_secret_env.items()})
        if secret_values:
            secret = k8s.core.v1.Secret(
                f"{name}-secrets",
                metadata=meta(secret_name),
                type="Opaque",
                string_data=secret_values,
                opts=child,
            )
            depends.append(secret)
            secret_env = [
                EnvVarArgs(name=env, value_from=EnvVarSourceArgs(
                    secret_key_ref=SecretKeySelectorArgs(name=secret_name, key=env)))
                for env in sorted(secret_values)
            ]

        volumes = [VolumeArgs(name="tmp", empty_dir=EmptyDirVolumeSourceArgs(size_limit=TMP_SIZE))]
        mounts = [VolumeMountArgs(name="tmp", mount_path="/tmp")]
        local_volumes = ["tmp"]
        if args.shm_size:
            # Chrome keeps renderer memory in /dev/shm; the container runtime's default of 64Mi crashes tabs.
            volumes.append(VolumeArgs(name="shm", empty_dir=EmptyDirVolumeSourceArgs(
                medium="Memory", size_limit=args.shm_size)))
            mounts.append(VolumeMountArgs(name="shm", mount_path="/dev/shm"))
            local_volumes.append("shm")
        if args.api_access:
            # The token is mounted explicitly (short-lived, audience-bound) instead of automounted, so only
            # the workload that needs the API carries one.
            volumes.append(VolumeArgs(name="kube-api-access", projected=ProjectedVolumeSourceArgs(sources=[
                VolumeProjectionArgs(service_account_token=ServiceAccountTokenProjectionArgs(
                    path="token", expiration_seconds=3600)),
                VolumeProjectionArgs(config_map=ConfigMapProjectionArgs(
                    name="kube-root-ca.crt", items=[KeyToPathArgs(key="ca.crt", path="ca.crt")])),
                VolumeProjectionArgs(downward_api=DownwardAPIProjectionArgs(items=[DownwardAPIVolumeFileArgs(
                    path="namespace", field_ref=ObjectFieldSelectorArgs(field_path="metadata.namespace"))])),
            ])))
            mounts.append(VolumeMountArgs(name="kube-api-access", mount_path=SERVICE_ACCOUNT_DIR, read_only=True))

        lifecycle = None
        if args.pre_stop_path:
            # The drain endpoint fails readiness first (no new sessions), then returns once the running
            # sessions have ended; the grace period bounds how long that may take.
            lifecycle = LifecycleArgs(pre_stop=LifecycleHandlerArgs(
                http_get=HTTPGetActionArgs(path=args.pre_stop_path, port="http")))

        config_checksum = hashlib.sha256(json.dumps(config_data, sort_keys=True).encode()).hexdigest()[:16]
        pod_annotations: dict[str, pulumi.Input[str]] = {
            "checksum/config": config_checksum,
            EVICT_LOCAL_VOLUMES: ",".join(local_volumes),
            **({SAFE_TO_EVICT: "false"} if args.blocks_node_scale_down else {}),
            **args.pod_annotations,
        }
        if not spec.security.read_only_root_filesystem:
            pod_annotations["browser-platform/security-exception"] = spec.security.reason or ""
        if args.store_env:
            # A moved endpoint (a replaced store) rolls the pods, which read their env only at start.
            pod_annotations["checksum/stores"] = pulumi.Output.all(**args.store_env).apply(
                lambda values: hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16])

        container = ContainerArgs(
            name=component,
            image=spec.image_ref,
            # A digest cannot change under the node's cache; a tag can, so it is checked on every start.
            image_pull_policy="IfNotPresent" if spec.image_digest else "Always",
            ports=[ContainerPortArgs(name=port_name, container_port=number, protocol="TCP")
                   for port_name, number in spec.ports.items()],
            env_from=env_from,
            env=secret_env or None,
            resources=_resources(spec.resources.requests, spec.resources.limits),
            startup_probe=_http_probe(spec.probes.startup_path, period=5, failures=30, port=spec.probe_port),
            liveness_probe=_http_probe(spec.probes.liveness_path, period=10, failures=3, port=spec.probe_port),
            readiness_probe=_http_probe(spec.probes.readiness_path, period=5, failures=2, port=spec.probe_port),
            lifecycle=lifecycle,
            security_context=container_security_context(spec),
            volume_mounts=mounts,
        )
        pod_spec = PodSpecArgs(
            service_account_name=component,
            automount_service_account_token=False,
            enable_service_links=False,
            security_context=pod_security_context(spec),
            node_selector=dict(spec.node_selector),
            tolerations=[TolerationArgs(key=t.key, operator="Equal", value=t.value, effect=t.effect)
                         for t in args.tolerations] or None,
            topology_spread_constraints=_topology_spread(self.selector),
            affinity=preferred_affinity(args.preferred_nodes),
            termination_grace_period_seconds=args.termination_grace_seconds,
            priority_class_name=args.priority_class_name,
            containers=[container],
            volumes=volumes,
        )
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=meta(component, annotations=workload_checkov_skips(spec, sorted(secret_values)) or None),
            spec=DeploymentSpecArgs(
                # Under an autoscaler the replica count belongs to the autoscaler; setting it here would
                # reset the live count on every `pulumi up`.
                replicas=None if args.autoscaled else spec.replicas,
                revision_history_limit=5,
                selector=LabelSelectorArgs(match_labels=self.selector),
                strategy=DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=RollingUpdateDeploymentArgs(max_surge=1, max_unavailable=0),
                ),
                template=PodTemplateSpecArgs(
                    metadata=ObjectMetaArgs(labels={**labels, **args.pod_labels}, annotations=pod_annotations),
                    spec=pod_spec,
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends),
        )

        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=meta(component),
            spec=ServiceSpecArgs(
                type="ClusterIP",
                cluster_ip="None" if args.headless_service else None,
                selector=self.selector,
                ports=[ServicePortArgs(name=port_name, port=number, target_port=port_name, protocol="TCP")
                       for port_name, number in spec.ports.items()],
            ),
            opts=child,
        ) if args.service else None

        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=meta(component),
            spec=PodDisruptionBudgetSpecArgs(
                # maxUnavailable (not minAvailable) can never reach a state in which no eviction is allowed,
                # so a node drain always progresses; AlwaysAllow keeps crash-looping pods from blocking it.
                max_unavailable=1,
                selector=LabelSelectorArgs(match_labels=self.selector),
                unhealthy_pod_eviction_policy="AlwaysAllow",
            ),
            opts=child,
        )
        self.register_outputs({"deployment": self.deployment.metadata.name, "service": self.service_name})
