"""Kiali, the mesh's traffic graph: view-only, behind a Kubernetes token login, reached by `kubectl port-forward`.

Kiali draws the graph from Istio's metrics in Prometheus (scraped by components/services/istio_metrics.py), shows
the traces of a workload from Tempo when tracing is on (components/services/tracing.py) and links to Grafana.
No Kiali chart is pinned in ../shared/charts, so it runs as plain objects like Tempo; the objects follow what the
kiali-server chart (v2.24 to v2.29, `templates/`) renders for `auth.strategy: token` with
`deployment.view_only_mode: true`, narrowed where the chart grants more than a viewer needs:

- **Login**: auth strategy `token`. A user pastes a Kubernetes token (`kubectl -n kiali create token kiali-viewer`,
  docs/observability.md); Kiali checks it against the API server and uses it for the user's requests, so what a
  user sees is what their own RBAC allows. `token` rather than `openid`: it needs no identity provider, no client
  secret and no redirect URL, which a port-forwarded UI without a stable host could not offer; a stack with an
  OIDC provider can add one later. `anonymous` is never rendered (policy `kiali-not-anonymous`).
- **Session cookie key** (`login_token.signing_key`, 32 bytes): derived from the Grafana admin password (HMAC-SHA256,
  one-way), which every stack with monitoring already holds as secret config; it sits in a Secret Kiali reads
  from /kiali-override-secrets (its documented override path), never in the ConfigMap as the chart does. Rotating
  the Grafana password logs Kiali users out, nothing else.
- **View-only** (`deployment.view_only_mode`): Kiali offers no edit, so its ServiceAccount needs no write verb.
  Its ClusterRole is the chart's viewer role (get/list/watch on pods, services, config maps, workloads and every
  Istio resource; create on tokenreviews to check login tokens) without what the chart adds for features this
  platform turns off: `pods/log` (the logs tab is disabled: logs may carry request data), the OpenShift groups,
  and `pods/portforward` cluster-wide. Kiali reads istiod's proxy status through a port-forward to istiod
  (`istio_api_enabled`), so a Role in istio-system alone grants `pods/portforward` (policy `kiali-view-only`).
- **Network**: egress to DNS, Prometheus (9090), Grafana (3000), Tempo (3200, when tracing is on), istiod (15014)
  and the API server (the internal ranges on 443/6443); no ingress at all (a port-forward enters through the
  kubelet into the pod's own network namespace, which NetworkPolicies do not filter; so do kubelet probes).
  Tempo's namespace denies by default, so a policy there admits Kiali on 3200.
- **Pod**: non-root (uid 10001), read-only root filesystem, no capabilities, RuntimeDefault
  seccomp, the token mounted explicitly (projected, one hour), probes on `/kiali/healthz`, requests, limits and
  replicas from capacity/platform_services.py (layer "kiali": two on clouds with a PDB, one on kind), the platform
  services' PriorityClass.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import yaml
from pulumi_kubernetes.apps.v1 import DeploymentSpecArgs, DeploymentStrategyArgs, RollingUpdateDeploymentArgs
from pulumi_kubernetes.core.v1 import (
    CapabilitiesArgs,
    ConfigMapProjectionArgs,
    ConfigMapVolumeSourceArgs,
    ContainerArgs,
    ContainerPortArgs,
    DownwardAPIProjectionArgs,
    DownwardAPIVolumeFileArgs,
    EnvVarArgs,
    EnvVarSourceArgs,
    HTTPGetActionArgs,
    KeyToPathArgs,
    ObjectFieldSelectorArgs,
    PodSecurityContextArgs,
    PodSpecArgs,
    PodTemplateSpecArgs,
    ProbeArgs,
    ProjectedVolumeSourceArgs,
    ResourceRequirementsArgs,
    SeccompProfileArgs,
    SecretVolumeSourceArgs,
    SecurityContextArgs,
    ServiceAccountTokenProjectionArgs,
    ServicePortArgs,
    ServiceSpecArgs,
    TopologySpreadConstraintArgs,
    VolumeArgs,
    VolumeMountArgs,
    VolumeProjectionArgs,
)
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, ObjectMetaArgs
from pulumi_kubernetes.networking.v1 import (
    IPBlockArgs,
    NetworkPolicyEgressRuleArgs,
    NetworkPolicyIngressRuleArgs,
    NetworkPolicyPeerArgs,
    NetworkPolicyPortArgs,
    NetworkPolicySpecArgs,
)
from pulumi_kubernetes.policy.v1 import PodDisruptionBudgetSpecArgs
from pulumi_kubernetes.rbac.v1 import PolicyRuleArgs, RoleRefArgs, SubjectArgs

from capacity import platform_services as sizes

from ..common import charts
from ..common.labels import PART_OF
from .istio_metrics import ISTIOD_MONITORING_PORT
from .priority_classes import SERVICES_CLASS

KIALI_NAMESPACE = "kiali"
KIALI = "kiali"
VIEWER_ACCOUNT = "kiali-viewer"
"""A ServiceAccount with no rights of its own in the cluster beyond what Kiali shows: the token users log in with."""
KIALI_PORT = 20001
WEB_ROOT = "/kiali"
HEALTH_PATH = f"{WEB_ROOT}/healthz"
KIALI_UID = 10001
"""Not the image's user (1000): a uid that low can collide with a node's users (policy k8s-run-as-non-root). Kiali
only reads its binary and console (world-readable in the image) and writes nothing to its filesystem."""
KIALI_IMAGE = ("quay.io/kiali/kiali:v2.24.0"
               "@sha256:744439cbdbbc23c7a5d70544911abf8fe0b32c88c082e9a41ae6b50748bf736e")
"""Kiali v2.24.0 (2026-03-30). Kiali tests each release against the Istio releases supported at the time
(kiali.io prerequisites: "Starting with Kiali v2.4, each Kiali release is tested against the currently supported
Istio releases"); Istio's own 1.30 addon ships v2.26. The multi-arch index digest was taken from a public
manifest that pins it; it could not be pulled or checked against quay.io from here: `crane digest` it (and move to
v2.26 or newer) when a registry is reachable."""
SIGNING_KEY_SECRET = "kiali-login-token"
SIGNING_KEY_DIR = "/kiali-override-secrets/login-token-signing-key"
"""Kiali reads `login_token.signing_key` from `<dir>/value.txt` when the file exists (kiali config/config.go)."""
CONFIG_DIR = "/kiali-configuration"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
DISABLED_FEATURES = ["logs-tab"]
KIALI_SELECTOR = {"app.kubernetes.io/name": KIALI, "app.kubernetes.io/part-of": PART_OF}

READ = ["get", "list", "watch"]
VIEWER_RULES: list[tuple[list[str], list[str], list[str]]] = [
    # (apiGroups, resources, verbs): the chart's view-only ClusterRole minus pods/log, pods/portforward and OpenShift.
    ([""], ["configmaps", "endpoints", "namespaces", "pods", "replicationcontrollers", "services"], READ),
    (["apps"], ["daemonsets", "deployments", "replicasets", "statefulsets"], READ),
    (["batch"], ["cronjobs", "jobs"], READ),
    # The chart grants "*" in the Istio groups; named here (Istio 1.30's kinds), so a new kind is not read unseen.
    (["networking.istio.io"], ["destinationrules", "envoyfilters", "gateways", "proxyconfigs", "serviceentries",
                               "sidecars", "virtualservices", "workloadentries", "workloadgroups"], READ),
    (["security.istio.io"], ["authorizationpolicies", "peerauthentications", "requestauthentications"], READ),
    (["extensions.istio.io"], ["wasmplugins"], READ),
    (["telemetry.istio.io"], ["telemetries"], READ),
    (["gateway.networking.k8s.io"], ["gatewayclasses", "gateways", "grpcroutes", "httproutes", "referencegrants",
                                     "tcproutes", "tlsroutes"], READ),
    (["admissionregistration.k8s.io"], ["mutatingwebhookconfigurations"], ["list"]),
    (["authentication.k8s.io"], ["tokenreviews"], ["create"]),
]
ISTIOD_DEBUG_RULES: list[tuple[list[str], list[str], list[str]]] = [([""], ["pods/portforward"], ["create"])]
"""Namespaced to the Istio namespace: Kiali reads istiod's /debug/syncz through a port-forward to port 8080."""


@dataclass(frozen=True)
class KialiEndpoints:
    """Where Kiali reads from. URLs are the in-cluster Services; `*_link` are what the user's browser opens."""

    prometheus_url: str
    grafana_url: str
    grafana_link: str
    tempo_url: str | None
    """None: tracing off, Kiali shows no traces."""
    tempo_datasource_uid: str | None = None


def signing_key(grafana_admin_password: str) -> str:
    """32 hex characters (AES-256 for Kiali's session cookie), one-way from a secret the stack already holds."""
    return hmac.new(grafana_admin_password.encode(), b"kiali-login-token-signing-key", hashlib.sha256).hexdigest()[:32]


def kiali_config(endpoints: KialiEndpoints, istio_namespace: str) -> dict[str, object]:
    """Kiali's config.yaml (kiali-server chart values shape; config/config.go of Kiali v2)."""
    tracing: dict[str, object] = {"enabled": False}
    if endpoints.tempo_url is not None:
        tracing = {
            "enabled": True, "provider": "tempo", "internal_url": endpoints.tempo_url, "use_grpc": False,
            # Trace links open Grafana's Explore on the Tempo data source (Tempo has no UI of its own).
            "external_url": endpoints.grafana_link,
            "tempo_config": {"url_format": "grafana", "datasource_uid": endpoints.tempo_datasource_uid or "",
                             "org_id": "1"},
        }
    return {
        "auth": {"strategy": "token"},
        "deployment": {
            "namespace": KIALI_NAMESPACE, "instance_name": KIALI, "view_only_mode": True,
            "cluster_wide_access": True,
        },
        "external_services": {
            "istio": {"root_namespace": istio_namespace, "istio_api_enabled": True},
            "prometheus": {"url": endpoints.prometheus_url},
            "grafana": {"enabled": True, "internal_url": endpoints.grafana_url,
                        "external_url": endpoints.grafana_link, "dashboards": []},
            "tracing": tracing,
        },
        "kiali_feature_flags": {"disabled_features": list(DISABLED_FEATURES)},
        # The key itself is read from SIGNING_KEY_DIR; this placeholder never reaches a running Kiali.
        "login_token": {"signing_key": ""},
        "server": {"port": KIALI_PORT, "web_root": WEB_ROOT, "observability": {"metrics": {"enabled": False}}},
    }


def _rules(rules: list[tuple[list[str], list[str], list[str]]]) -> list[PolicyRuleArgs]:
    return [PolicyRuleArgs(api_groups=groups, resources=resources, verbs=verbs) for groups, resources, verbs in rules]


def _tcp(*ports: int) -> list[NetworkPolicyPortArgs]:
    return [NetworkPolicyPortArgs(protocol="TCP", port=port) for port in ports]


def _pods_in(namespace: str, labels: dict[str, str]) -> NetworkPolicyPeerArgs:
    return NetworkPolicyPeerArgs(
        namespace_selector=LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": namespace}),
        pod_selector=LabelSelectorArgs(match_labels=labels))


@dataclass(frozen=True)
class KialiTargets:
    """The pods Kiali's egress names: namespace, pod labels and the container port it reaches."""

    monitoring_namespace: str
    istio_namespace: str
    tracing_namespace: str | None
    tempo_labels: dict[str, str] = field(default_factory=dict)
    prometheus_labels: dict[str, str] = field(default_factory=lambda: {"app.kubernetes.io/name": "prometheus"})
    """The operator labels every Prometheus pod so."""
    grafana_labels: dict[str, str] = field(default_factory=lambda: {"app.kubernetes.io/name": "grafana"})
    istiod_labels: dict[str, str] = field(default_factory=lambda: {"app": "istiod"})
    prometheus_port: int = 9090
    grafana_port: int = 3000
    """Grafana's container port (its Service listens on 80)."""
    tempo_port: int = 3200


@dataclass(frozen=True)
class KialiArgs:
    endpoints: KialiEndpoints
    targets: KialiTargets
    grafana_admin_password: str
    internal_cidrs: list[str]
    """Where the API server is (not a pod, so only its address ranges can name it)."""
    after: list[pulumi.Resource]
    """The mesh (Istio CRDs Kiali lists), the monitoring release and tracing; the PriorityClasses."""
    highly_available: bool = False


class Kiali(pulumi.ComponentResource):
    def __init__(self, name: str, args: KialiArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:addons:Kiali", name, None, opts)
        ns = KIALI_NAMESPACE
        labels = {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": "pulumi"}
        namespace = charts.system_namespace(f"{name}-namespace", ns, pod_security="restricted", parent=self)
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        config = kiali_config(args.endpoints, args.targets.istio_namespace)

        accounts = [k8s.core.v1.ServiceAccount(
            f"{name}-{account}-sa", metadata=ObjectMetaArgs(name=account, namespace=ns, labels=labels),
            automount_service_account_token=False, opts=in_ns) for account in (KIALI, VIEWER_ACCOUNT)]
        rbac = self._rbac(name, args, labels, in_ns)
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-config", metadata=ObjectMetaArgs(name=KIALI, namespace=ns, labels=labels),
            data={"config.yaml": yaml.safe_dump(config, sort_keys=True)}, opts=in_ns)
        key = k8s.core.v1.Secret(
            f"{name}-signing-key", metadata=ObjectMetaArgs(name=SIGNING_KEY_SECRET, namespace=ns, labels=labels),
            type="Opaque", string_data={"value.txt": pulumi.Output.secret(signing_key(args.grafana_admin_password))},
            opts=in_ns)
        self._network_policies(name, args, labels, in_ns)
        replicas = sizes.kiali_replicas(args.highly_available)
        self._deployment(name, config, labels, replicas.max, pulumi.ResourceOptions(
            parent=self, depends_on=[config_map, key, *accounts, *rbac, *args.after]))
        if replicas.min > 1:
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb", metadata=ObjectMetaArgs(name=KIALI, namespace=ns, labels={**labels, **KIALI_SELECTOR}),
                spec=PodDisruptionBudgetSpecArgs(max_unavailable=1,
                                                 selector=LabelSelectorArgs(match_labels=dict(KIALI_SELECTOR)),
                                                 unhealthy_pod_eviction_policy="AlwaysAllow"),
                opts=in_ns)
        k8s.core.v1.Service(
            f"{name}-service",
            metadata=ObjectMetaArgs(name=KIALI, namespace=ns, labels={**labels, **KIALI_SELECTOR}),
            spec=ServiceSpecArgs(type="ClusterIP", selector=dict(KIALI_SELECTOR), ports=[
                ServicePortArgs(name="http", port=KIALI_PORT, target_port="http", protocol="TCP")]),
            opts=in_ns)
        self.register_outputs({"service": f"{KIALI}.{ns}:{KIALI_PORT}"})

    def _rbac(self, name: str, args: KialiArgs, labels: dict[str, str],
              opts: pulumi.ResourceOptions) -> list[pulumi.Resource]:
        subject = [SubjectArgs(kind="ServiceAccount", name=KIALI, namespace=KIALI_NAMESPACE)]
        role = k8s.rbac.v1.ClusterRole(f"{name}-viewer-role", metadata=ObjectMetaArgs(name="kiali-viewer", labels=labels),
                                       rules=_rules(VIEWER_RULES), opts=opts)
        binding = k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-viewer-binding", metadata=ObjectMetaArgs(name="kiali-viewer", labels=labels),
            role_ref=RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="kiali-viewer"),
            subjects=subject, opts=pulumi.ResourceOptions(parent=self, depends_on=[role]))
        istio = args.targets.istio_namespace
        debug = k8s.rbac.v1.Role(f"{name}-istiod-debug-role", metadata=ObjectMetaArgs(
            name="kiali-istiod-debug", namespace=istio, labels=labels), rules=_rules(ISTIOD_DEBUG_RULES),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.after)))
        debug_binding = k8s.rbac.v1.RoleBinding(
            f"{name}-istiod-debug-binding", metadata=ObjectMetaArgs(name="kiali-istiod-debug", namespace=istio,
                                                                    labels=labels),
            role_ref=RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role", name="kiali-istiod-debug"),
            subjects=subject, opts=pulumi.ResourceOptions(parent=self, depends_on=[debug]))
        # The login account: the same read rights, so a user sees what Kiali shows and nothing more.
        viewer = k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-login-binding", metadata=ObjectMetaArgs(name="kiali-login-viewer", labels=labels),
            role_ref=RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="kiali-viewer"),
            subjects=[SubjectArgs(kind="ServiceAccount", name=VIEWER_ACCOUNT, namespace=KIALI_NAMESPACE)],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role]))
        return [role, binding, debug, debug_binding, viewer]

    def _network_policies(self, name: str, args: KialiArgs, labels: dict[str, str],
                          opts: pulumi.ResourceOptions) -> None:
        targets = args.targets
        dns = NetworkPolicyEgressRuleArgs(
            to=[_pods_in("kube-system", {"k8s-app": "kube-dns"})],
            ports=[NetworkPolicyPortArgs(protocol="UDP", port=53), NetworkPolicyPortArgs(protocol="TCP", port=53)])
        egress = [
            dns,
            NetworkPolicyEgressRuleArgs(to=[_pods_in(targets.monitoring_namespace, targets.prometheus_labels)],
                                        ports=_tcp(targets.prometheus_port)),
            NetworkPolicyEgressRuleArgs(to=[_pods_in(targets.monitoring_namespace, targets.grafana_labels)],
                                        ports=_tcp(targets.grafana_port)),
            NetworkPolicyEgressRuleArgs(to=[_pods_in(targets.istio_namespace, targets.istiod_labels)],
                                        ports=_tcp(ISTIOD_MONITORING_PORT)),
            NetworkPolicyEgressRuleArgs(to=[NetworkPolicyPeerArgs(ip_block=IPBlockArgs(cidr=cidr))
                                            for cidr in args.internal_cidrs], ports=_tcp(443, 6443)),
        ]
        if targets.tracing_namespace is not None:
            egress.append(NetworkPolicyEgressRuleArgs(to=[_pods_in(targets.tracing_namespace, targets.tempo_labels)],
                                                      ports=_tcp(targets.tempo_port)))
        k8s.networking.v1.NetworkPolicy(
            f"{name}-default-deny-all",
            metadata=ObjectMetaArgs(name="default-deny-all", namespace=KIALI_NAMESPACE, labels=labels),
            spec=NetworkPolicySpecArgs(pod_selector=LabelSelectorArgs(), policy_types=["Ingress", "Egress"]),
            opts=opts)
        k8s.networking.v1.NetworkPolicy(
            f"{name}-egress",
            metadata=ObjectMetaArgs(name="kiali-egress", namespace=KIALI_NAMESPACE, labels=labels),
            spec=NetworkPolicySpecArgs(pod_selector=LabelSelectorArgs(match_labels=dict(KIALI_SELECTOR)),
                                       policy_types=["Egress"], egress=egress),
            opts=opts)
        if targets.tracing_namespace is not None:
            # Tempo's namespace denies all ingress but the collector's and Grafana's (components/services/tracing.py).
            k8s.networking.v1.NetworkPolicy(
                f"{name}-tempo-from-kiali",
                metadata=ObjectMetaArgs(name="tempo-from-kiali", namespace=targets.tracing_namespace, labels=labels),
                spec=NetworkPolicySpecArgs(
                    pod_selector=LabelSelectorArgs(match_labels=dict(targets.tempo_labels)),
                    policy_types=["Ingress"],
                    ingress=[NetworkPolicyIngressRuleArgs(from_=[_pods_in(KIALI_NAMESPACE, KIALI_SELECTOR)],
                                                          ports=_tcp(targets.tempo_port))]),
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.after)))

    def _deployment(self, name: str, config: dict[str, object], labels: dict[str, str], replicas: int,
                    opts: pulumi.ResourceOptions) -> None:
        checksum = hashlib.sha256(yaml.safe_dump(config, sort_keys=True).encode()).hexdigest()
        values = sizes.KIALI.resource_values()
        k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=ObjectMetaArgs(name=KIALI, namespace=KIALI_NAMESPACE, labels={**labels, **KIALI_SELECTOR}),
            spec=DeploymentSpecArgs(
                replicas=replicas,
                selector=LabelSelectorArgs(match_labels=dict(KIALI_SELECTOR)),
                strategy=DeploymentStrategyArgs(type="RollingUpdate", rolling_update=RollingUpdateDeploymentArgs(
                    max_unavailable=0, max_surge=1)),
                template=PodTemplateSpecArgs(
                    metadata=ObjectMetaArgs(labels={**labels, **KIALI_SELECTOR},
                                            annotations={"checksum/config": checksum}),
                    spec=PodSpecArgs(
                        service_account_name=KIALI,
                        automount_service_account_token=False,
                        priority_class_name=SERVICES_CLASS,
                        # A preference, so a one-node pool still schedules both.
                        topology_spread_constraints=[TopologySpreadConstraintArgs(
                            max_skew=1, topology_key=key, when_unsatisfiable="ScheduleAnyway",
                            label_selector=LabelSelectorArgs(match_labels=dict(KIALI_SELECTOR)))
                            for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")],
                        security_context=PodSecurityContextArgs(
                            run_as_non_root=True, run_as_user=KIALI_UID, run_as_group=KIALI_UID,
                            fs_group=KIALI_UID, seccomp_profile=SeccompProfileArgs(type="RuntimeDefault")),
                        containers=[ContainerArgs(
                            name="kiali", image=KIALI_IMAGE, image_pull_policy="IfNotPresent",
                            command=["/opt/kiali/kiali", "-config", f"{CONFIG_DIR}/config.yaml"],
                            env=[EnvVarArgs(name="ACTIVE_NAMESPACE", value_from=EnvVarSourceArgs(
                                field_ref=ObjectFieldSelectorArgs(field_path="metadata.namespace"))),
                                 EnvVarArgs(name="LOG_LEVEL", value="info"),
                                 EnvVarArgs(name="LOG_FORMAT", value="json")],
                            ports=[ContainerPortArgs(name="http", container_port=KIALI_PORT)],
                            resources=ResourceRequirementsArgs(
                                requests={**values["requests"], "ephemeral-storage": "64Mi"},
                                limits={**values["limits"], "ephemeral-storage": "256Mi"}),
                            security_context=SecurityContextArgs(
                                allow_privilege_escalation=False, privileged=False, read_only_root_filesystem=True,
                                run_as_non_root=True, capabilities=CapabilitiesArgs(drop=["ALL"])),
                            startup_probe=_probe(period=5, failures=36),
                            readiness_probe=_probe(period=10, failures=3),
                            liveness_probe=_probe(period=30, failures=3),
                            volume_mounts=[
                                VolumeMountArgs(name="config", mount_path=CONFIG_DIR, read_only=True),
                                VolumeMountArgs(name="signing-key", mount_path=SIGNING_KEY_DIR, read_only=True),
                                VolumeMountArgs(name="kube-api-access", mount_path=SERVICE_ACCOUNT_DIR,
                                                read_only=True),
                            ],
                        )],
                        volumes=[
                            VolumeArgs(name="config", config_map=ConfigMapVolumeSourceArgs(name=KIALI)),
                            VolumeArgs(name="signing-key", secret=SecretVolumeSourceArgs(
                                secret_name=SIGNING_KEY_SECRET, default_mode=0o440)),
                            # The token mounted explicitly (short-lived, audience-bound), not automounted.
                            VolumeArgs(name="kube-api-access", projected=ProjectedVolumeSourceArgs(sources=[
                                VolumeProjectionArgs(service_account_token=ServiceAccountTokenProjectionArgs(
                                    path="token", expiration_seconds=3600)),
                                VolumeProjectionArgs(config_map=ConfigMapProjectionArgs(
                                    name="kube-root-ca.crt", items=[KeyToPathArgs(key="ca.crt", path="ca.crt")])),
                                VolumeProjectionArgs(downward_api=DownwardAPIProjectionArgs(items=[
                                    DownwardAPIVolumeFileArgs(path="namespace", field_ref=ObjectFieldSelectorArgs(
                                        field_path="metadata.namespace"))])),
                            ])),
                        ],
                    ),
                ),
            ),
            opts=opts,
        )


def _probe(*, period: int, failures: int) -> ProbeArgs:
    return ProbeArgs(http_get=HTTPGetActionArgs(path=HEALTH_PATH, port="http"), period_seconds=period,
                     failure_threshold=failures, timeout_seconds=3)
