"""The pack against the peer checks `policy/README.md` maps it to (Checkov, Kyverno, Polaris, kube-score), on
manifests written here: a compliant namespace (BASE) and one change per case, with the peer's verdict on that
change. Where the pack asks more by design, the case shows the difference and that the policy's config
property brings the pack to the peer's verdict.

The peers' own fixtures are measured by `scripts/bench_peer_fixtures.py` (not a test: they are not in the repo).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

from offline.harness import RecordedResource

from .pack import Diagnostic, PackProcess

BASE_YAML = """
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    istio-injection: enabled
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/warn: restricted
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: web
  namespace: shop
  labels: LABELS
automountServiceAccountToken: false
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: LABELS}
spec:
  replicas: 2
  selector: {matchLabels: {app.kubernetes.io/name: web}}
  template:
    metadata: {labels: LABELS}
    spec:
      serviceAccountName: web
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        runAsGroup: 10001
        fsGroup: 10001
        seccompProfile: {type: RuntimeDefault}
      topologySpreadConstraints:
        - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway,
           labelSelector: {matchLabels: {app.kubernetes.io/name: web}}}
      containers:
        - name: web
          image: ghcr.io/example/web:1.2.3
          imagePullPolicy: Always
          ports: [{name: http, containerPort: 8080}]
          env:
            - name: DB_PASSWORD
              valueFrom: {secretKeyRef: {name: web-secrets, key: DB_PASSWORD}}
          resources:
            requests: {cpu: 100m, memory: 128Mi}
            limits: {cpu: 500m, memory: 256Mi}
          startupProbe: {httpGet: {path: /healthz, port: http}}
          livenessProbe: {httpGet: {path: /healthz, port: http}}
          readinessProbe: {httpGet: {path: /ready, port: http}}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: shop, labels: LABELS}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app.kubernetes.io/name: web}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop, labels: LABELS}
spec:
  selector: {app.kubernetes.io/name: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web, namespace: shop}
data: {LOG_LEVEL: info, DATABASE_HOST: db.shop.svc}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-ingress, namespace: shop}
spec:
  podSelector: {matchLabels: {app.kubernetes.io/name: web}}
  policyTypes: [Ingress]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: web, namespace: shop}
rules:
  - {apiGroups: [""], resources: [configmaps], verbs: [get, list, watch]}
  - {apiGroups: [""], resources: [secrets], resourceNames: [web-secrets], verbs: [get]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-nothing, namespace: shop}
spec: {}
""".replace("LABELS", "{app.kubernetes.io/name: web, app.kubernetes.io/part-of: shop, app.kubernetes.io/managed-by: pulumi}")

D = "Deployment/web"
POD = "spec.template.spec"
C = f"{POD}.containers.0"
Change = Callable[[dict[str, dict[str, Any]]], None]


def _walk(obj: Any, parts: list[str]) -> Any:
    for part in parts:
        obj = obj[int(part)] if isinstance(obj, list) else obj.setdefault(part, {})
    return obj


def put(key: str, path: str, value: Any) -> Change:
    def change(objects: dict[str, dict[str, Any]]) -> None:
        *parents, last = path.split(".")
        target = _walk(objects[key], parents)
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return change


def drop(key: str, path: str) -> Change:
    def change(objects: dict[str, dict[str, Any]]) -> None:
        *parents, last = path.split(".")
        _walk(objects[key], parents).pop(last, None)
    return change


def add(document: str) -> Change:
    def change(objects: dict[str, dict[str, Any]]) -> None:
        obj = yaml.safe_load(document)
        objects[f"{obj['kind']}/{obj['metadata']['name']}"] = obj
    return change


def remove(key: str) -> Change:
    return lambda objects: objects.pop(key) and None


def both(*changes: Change) -> Change:
    def change(objects: dict[str, dict[str, Any]]) -> None:
        for c in changes:
            c(objects)
    return change


@dataclass(frozen=True)
class Agreement:
    id: str
    policy: str
    peers: str
    """The peer checks asking the same question, as named in policy/README.md."""
    change: Change
    peer_fails: bool
    """The peers' verdict on the changed manifests."""
    pack_fails: bool | None = None
    """The pack's verdict when it differs by design (documented in README.md); None: same as the peers."""
    config: dict[str, Any] = field(default_factory=dict)


CASES = [
    # --- resources and probes ---
    Agreement("no-cpu-limit", "k8s-resource-requests-limits", "CKV_K8S_11, cpuLimitsMissing, container-resources",
              drop(D, f"{C}.resources.limits.cpu"), True),
    Agreement("no-cpu-limit-kyverno", "k8s-resource-requests-limits", "Kyverno require-requests-limits",
              drop(D, f"{C}.resources.limits.cpu"), False, config={"k8s-resource-requests-limits": {"requireCpuLimits": False}}),
    Agreement("no-memory-request", "k8s-resource-requests-limits", "CKV_K8S_12, memoryRequestsMissing, require-requests-limits",
              drop(D, f"{C}.resources.requests.memory"), True),
    Agreement("no-liveness", "k8s-probes", "CKV_K8S_8, livenessProbeMissing, require-pod-probes",
              drop(D, f"{C}.livenessProbe"), True),
    Agreement("no-startup", "k8s-probes", "CKV_K8S_8, 9 (ask for liveness and readiness only)",
              drop(D, f"{C}.startupProbe"), False, pack_fails=True),
    Agreement("no-startup-configured", "k8s-probes", "CKV_K8S_8, 9",
              drop(D, f"{C}.startupProbe"), False,
              config={"k8s-probes": {"requiredProbes": ["livenessProbe", "readinessProbe"]}}),
    Agreement("numeric-probe-port", "k8s-probe-ports-declared", "kube-score pod-probes (no port declaration needed)",
              put(D, f"{C}.livenessProbe.httpGet.port", 9090), False),
    # --- images ---
    Agreement("latest", "k8s-image-reference", "CKV_K8S_14, disallow-latest-tag, tagNotSpecified, container-image-tag",
              put(D, f"{C}.image", "ghcr.io/example/web:latest"), True),
    Agreement("no-digest", "k8s-image-reference", "CKV_K8S_43, require-image-checksum",
              lambda o: None, True, config={"k8s-image-reference": {"requireDigest": True}}),
    Agreement("digest", "k8s-image-reference", "CKV_K8S_43, require-image-checksum",
              put(D, f"{C}.image", "ghcr.io/example/web:1.2.3@sha256:" + "ab" * 32), False,
              config={"k8s-image-reference": {"requireDigest": True}}),
    Agreement("pull-if-not-present", "k8s-image-pull-policy", "CKV_K8S_15, imagepullpolicy-always, pullPolicyNotAlways",
              put(D, f"{C}.imagePullPolicy", "IfNotPresent"), True),
    Agreement("pull-unset-tagged", "k8s-image-pull-policy", "CKV_K8S_15, container-image-pull-policy",
              drop(D, f"{C}.imagePullPolicy"), True),
    Agreement("pull-if-not-present-digest", "k8s-image-pull-policy", "CKV_K8S_15",
              both(put(D, f"{C}.imagePullPolicy", "IfNotPresent"),
                   put(D, f"{C}.image", "ghcr.io/example/web:1.2.3@sha256:" + "ab" * 32)), False),
    Agreement("pull-if-not-present-digest-polaris", "k8s-image-pull-policy", "pullPolicyNotAlways, container-image-pull-policy",
              both(put(D, f"{C}.imagePullPolicy", "IfNotPresent"),
                   put(D, f"{C}.image", "ghcr.io/example/web:1.2.3@sha256:" + "ab" * 32)), True,
              config={"k8s-image-pull-policy": {"digestAllowsIfNotPresent": False}}),
    # --- users and groups ---
    Agreement("low-uid", "k8s-run-as-non-root", "CKV_K8S_40, container-security-context-user-group-id",
              put(D, f"{POD}.securityContext.runAsUser", 1000), True),
    Agreement("low-gid", "k8s-run-as-non-root", "container-security-context-user-group-id",
              put(D, f"{POD}.securityContext.runAsGroup", 100), True),
    Agreement("root-uid", "k8s-run-as-non-root", "CKV_K8S_23, require-run-as-non-root-user, runAsRootAllowed",
              both(put(D, f"{POD}.securityContext.runAsUser", 0), drop(D, f"{POD}.securityContext.runAsNonRoot")), True),
    Agreement("no-run-as-non-root", "k8s-run-as-non-root", "require-run-as-nonroot",
              drop(D, f"{POD}.securityContext.runAsNonRoot"), True),
    Agreement("run-as-user-only", "k8s-run-as-non-root", "CKV_K8S_23, runAsRootAllowed (a non-zero runAsUser is enough)",
              drop(D, f"{POD}.securityContext.runAsNonRoot"), False, pack_fails=True),
    Agreement("run-as-user-only-configured", "k8s-run-as-non-root", "CKV_K8S_23, runAsRootAllowed",
              drop(D, f"{POD}.securityContext.runAsNonRoot"), False,
              config={"k8s-run-as-non-root": {"requireRunAsNonRoot": False}}),
    Agreement("ids-from-image", "k8s-run-as-non-root", "runAsRootAllowed, require-run-as-nonroot (runAsNonRoot alone)",
              both(drop(D, f"{POD}.securityContext.runAsUser"), drop(D, f"{POD}.securityContext.runAsGroup")),
              False, pack_fails=True),
    Agreement("ids-from-image-configured", "k8s-run-as-non-root", "runAsRootAllowed, require-run-as-nonroot",
              both(drop(D, f"{POD}.securityContext.runAsUser"), drop(D, f"{POD}.securityContext.runAsGroup")),
              False, config={"k8s-run-as-non-root": {"requireExplicitIds": False}}),
    # --- container security context ---
    Agreement("privileged", "k8s-not-privileged", "CKV_K8S_16, disallow-privileged-containers, runAsPrivileged, "
              "container-security-context-privileged", put(D, f"{C}.securityContext.privileged", True), True),
    Agreement("ephemeral-privileged", "k8s-not-privileged", "disallow-privileged-containers (ephemeral containers)",
              put(D, f"{POD}.ephemeralContainers", [{"name": "debug", "image": "ghcr.io/example/debug:1.0.0",
                                                     "securityContext": {"privileged": True}}]), True),
    Agreement("escalation", "k8s-no-privilege-escalation", "CKV_K8S_20, disallow-privilege-escalation, "
              "privilegeEscalationAllowed", drop(D, f"{C}.securityContext.allowPrivilegeEscalation"), True),
    Agreement("rootfs", "k8s-read-only-root-filesystem", "CKV_K8S_22, require-ro-rootfs, notReadOnlyRootFilesystem",
              put(D, f"{C}.securityContext.readOnlyRootFilesystem", False), True),
    Agreement("sys-admin", "k8s-drop-all-capabilities", "CKV_K8S_39, disallow-capabilities, dangerousCapabilities",
              put(D, f"{C}.securityContext.capabilities.add", ["SYS_ADMIN"]), True),
    Agreement("net-bind-service", "k8s-drop-all-capabilities", "disallow-capabilities-strict",
              put(D, f"{C}.securityContext.capabilities.add", ["NET_BIND_SERVICE"]), False),
    Agreement("drop-net-raw-only", "k8s-drop-all-capabilities", "CKV_K8S_28, require-drop-cap-net-raw",
              put(D, f"{C}.securityContext.capabilities.drop", ["NET_RAW"]), False, pack_fails=True),
    Agreement("drop-net-raw-only-configured", "k8s-drop-all-capabilities", "CKV_K8S_28, require-drop-cap-net-raw",
              put(D, f"{C}.securityContext.capabilities.drop", ["NET_RAW"]), False,
              config={"k8s-drop-all-capabilities": {"requireDropAll": False}}),
    Agreement("seccomp", "k8s-seccomp-runtime-default", "CKV_K8S_31, restrict-seccomp-strict",
              drop(D, f"{POD}.securityContext.seccompProfile"), True),
    # --- host access ---
    Agreement("host-network", "k8s-no-host-namespaces", "CKV_K8S_19, disallow-host-namespaces, hostNetworkSet",
              put(D, f"{POD}.hostNetwork", True), True),
    Agreement("host-path", "k8s-no-host-path", "disallow-host-path, hostPathSet",
              put(D, f"{POD}.volumes", [{"name": "h", "hostPath": {"path": "/var/run/docker.sock"}}]), True),
    Agreement("host-port", "k8s-no-host-port", "CKV_K8S_26, disallow-host-ports, hostPortSet",
              put(D, f"{C}.ports.0.hostPort", 8080), True),
    Agreement("proc-mount", "k8s-pod-security-baseline", "disallow-proc-mount, procMount",
              put(D, f"{C}.securityContext.procMount", "Unmasked"), True),
    Agreement("unsafe-sysctl", "k8s-pod-security-baseline", "restrict-sysctls",
              put(D, f"{POD}.securityContext.sysctls", [{"name": "kernel.msgmax", "value": "1"}]), True),
    Agreement("safe-sysctl", "k8s-pod-security-baseline", "restrict-sysctls",
              put(D, f"{POD}.securityContext.sysctls", [{"name": "net.ipv4.tcp_syncookies", "value": "1"}]), False),
    Agreement("selinux", "k8s-pod-security-baseline", "disallow-selinux",
              put(D, f"{POD}.securityContext.seLinuxOptions", {"type": "spc_t"}), True),
    Agreement("selinux-container-t", "k8s-pod-security-baseline", "disallow-selinux",
              put(D, f"{POD}.securityContext.seLinuxOptions", {"type": "container_t"}), False),
    Agreement("apparmor", "k8s-pod-security-baseline", "restrict-apparmor-profiles",
              put(D, f"{POD}.securityContext.appArmorProfile", {"type": "Unconfined"}), True),
    Agreement("host-process", "k8s-pod-security-baseline", "disallow-host-process, hostProcess",
              put(D, f"{POD}.securityContext.windowsOptions", {"hostProcess": True}), True),
    # --- service account tokens ---
    Agreement("token-pod-true", "k8s-no-token-automount", "CKV_K8S_38, restrict-automount-sa-token, "
              "automountServiceAccountToken", put(D, f"{POD}.automountServiceAccountToken", True), True),
    Agreement("token-from-sa", "k8s-no-token-automount", "automountServiceAccountToken (Polaris: the SA's false counts)",
              drop(D, f"{POD}.automountServiceAccountToken"), False),
    Agreement("token-from-sa-effective", "k8s-token-automount-effective", "automountServiceAccountToken",
              drop(D, f"{POD}.automountServiceAccountToken"), False),
    Agreement("token-sa-outside-stack", "k8s-token-automount-effective", "automountServiceAccountToken",
              both(drop(D, f"{POD}.automountServiceAccountToken"), put(D, f"{POD}.serviceAccountName", "other")), True),
    Agreement("default-sa", "k8s-default-service-account", "(CKV_K8S_41/42 look at the default SA object)",
              drop(D, f"{POD}.serviceAccountName"), True),
    # --- secrets ---
    Agreement("secret-ref", "k8s-no-secret-env-literals", "CKV_K8S_35, disallow-secrets-from-env-vars",
              lambda o: None, True, pack_fails=False),
    Agreement("secret-ref-configured", "k8s-no-secret-env-literals", "CKV_K8S_35, disallow-secrets-from-env-vars",
              lambda o: None, True, config={"k8s-no-secret-env-literals": {"allowSecretRefs": False}}),
    Agreement("secret-literal", "k8s-no-secret-env-literals", "sensitiveContainerEnvVar",
              put(D, f"{C}.env", [{"name": "DB_PASSWORD", "value": "hunter2"}]), True),
    Agreement("secret-in-url", "k8s-no-secret-env-literals", "sensitiveContainerEnvVar (by content)",
              put(D, f"{C}.env", [{"name": "DATABASE_URL", "value": "postgres://web:s3cret@db:5432/shop"}]), True),
    Agreement("private-key-in-configmap", "k8s-no-secret-env-literals", "sensitiveConfigmapContent",
              put("ConfigMap/web", "data.tls", "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----"),
              True),
    Agreement("url-without-password", "k8s-no-secret-env-literals", "sensitiveConfigmapContent",
              put("ConfigMap/web", "data.UPSTREAM", "https://api.example.com:8443/v1"), False),
    # --- namespaces, services, labels ---
    Agreement("default-namespace", "k8s-no-default-namespace", "CKV_K8S_21, disallow-default-namespace",
              put("ConfigMap/web", "metadata.namespace", "default"), True),
    Agreement("kubernetes-service", "k8s-no-default-namespace", "CKV_K8S_21 (the built-in kubernetes Service)",
              add("{apiVersion: v1, kind: Service, metadata: {name: kubernetes, namespace: default}, "
                  "spec: {ports: [{name: https, port: 443, targetPort: 6443}]}}"), False),
    Agreement("node-port", "k8s-service-type", "restrict-nodeport, service-type",
              put("Service/web", "spec.type", "NodePort"), True),
    Agreement("load-balancer", "k8s-service-type", "no-loadbalancer-service",
              put("Service/web", "spec.type", "LoadBalancer"), True),
    Agreement("numeric-target-port", "service-selects-pods", "service-targets-pod (ports are not compared)",
              put("Service/web", "spec.ports.0.targetPort", 9090), False),
    Agreement("service-selects-nothing", "service-selects-pods", "service-targets-pod",
              put("Service/web", "spec.selector", {"app.kubernetes.io/name": "webb"}), True),
    Agreement("pod-labels", "k8s-recommended-labels", "require-labels",
              put(D, "spec.template.metadata.labels", {"app.kubernetes.io/name": "web"}), True),
    Agreement("controller-labels", "k8s-recommended-labels", "require-labels (pods only)",
              put(D, "metadata.labels", {}), False, pack_fails=True),
    Agreement("controller-labels-configured", "k8s-recommended-labels", "require-labels (pods only)",
              put(D, "metadata.labels", {}), False, config={"k8s-recommended-labels": {"checkControllerMetadata": False}}),
    Agreement("one-replica", "k8s-min-replicas", "require-deployments-have-multiple-replicas, deploymentMissingReplicas, "
              "deployment-replicas", put(D, "spec.replicas", 1), True),
    # --- disruption and spread ---
    Agreement("no-pdb", "workload-has-pdb", "require-pdb, missingPodDisruptionBudget, deployment-has-poddisruptionbudget",
              remove("PodDisruptionBudget/web"), True),
    Agreement("no-pdb-one-replica", "workload-has-pdb", "missingPodDisruptionBudget, deployment-has-poddisruptionbudget",
              both(remove("PodDisruptionBudget/web"), put(D, "spec.replicas", 1)), True, pack_fails=False),
    Agreement("no-pdb-one-replica-configured", "workload-has-pdb", "missingPodDisruptionBudget",
              both(remove("PodDisruptionBudget/web"), put(D, "spec.replicas", 1)), True,
              config={"workload-has-pdb": {"minReplicas": 1}}),
    Agreement("pdb-no-policy", "pdb-allows-drain", "poddisruptionbudget-has-policy",
              drop("PodDisruptionBudget/web", "spec.maxUnavailable"), True),
    Agreement("pdb-zero", "pdb-allows-drain", "pdbDisruptionsIsZero",
              put("PodDisruptionBudget/web", "spec.maxUnavailable", 0), True),
    Agreement("no-spread", "workload-spread", "topologySpreadConstraint, deployment-has-host-podantiaffinity",
              drop(D, f"{POD}.topologySpreadConstraints"), True),
    Agreement("anti-affinity", "workload-spread", "deployment-has-host-podantiaffinity",
              both(drop(D, f"{POD}.topologySpreadConstraints"),
                   put(D, f"{POD}.affinity", {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                       {"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname", "labelSelector": {
                           "matchLabels": {"app.kubernetes.io/name": "web"}}}}]}})), False),
    # --- network, RBAC, API versions, mesh ---
    Agreement("netpol-selects-nothing", "network-policy-selects-pods", "networkpolicy-targets-pod",
              put("NetworkPolicy/web-ingress", "spec.podSelector.matchLabels", {"app.kubernetes.io/name": "webb"}), True),
    Agreement("netpol-all-pods", "network-policy-selects-pods", "networkpolicy-targets-pod",
              put("NetworkPolicy/web-ingress", "spec.podSelector", {}), False),
    Agreement("wildcard-verbs", "k8s-rbac-least-privilege", "CKV_K8S_49, restrict-wildcard-verbs",
              put("Role/web", "rules.0.verbs", ["*"]), True),
    Agreement("wildcard-resources", "k8s-rbac-least-privilege", "CKV_K8S_49, restrict-wildcard-resources",
              put("Role/web", "rules.0.resources", ["*"]), True),
    Agreement("escalate", "k8s-rbac-least-privilege", "CKV_K8S_158, restrict-escalation-verbs-roles",
              put("Role/web", "rules.0", {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"],
                                          "verbs": ["escalate"]}), True),
    Agreement("bind", "k8s-rbac-least-privilege", "CKV_K8S_157, restrict-escalation-verbs-roles",
              put("Role/web", "rules.0", {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"],
                                          "verbs": ["bind"]}), True),
    Agreement("all-secrets", "k8s-rbac-least-privilege", "restrict-secret-role-verbs",
              drop("Role/web", "rules.1.resourceNames"), True),
    Agreement("cluster-admin", "k8s-rbac-least-privilege", "restrict-binding-clusteradmin, clusterrolebindingClusterAdmin",
              add("{apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRoleBinding, metadata: {name: ops}, "
                  "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}, "
                  "subjects: [{kind: ServiceAccount, name: web, namespace: shop}]}"), True),
    Agreement("cluster-admin-system", "k8s-rbac-least-privilege", "clusterrolebindingClusterAdmin (system:masters)",
              add("{apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRoleBinding, metadata: {name: masters}, "
                  "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}, "
                  "subjects: [{kind: Group, name: 'system:masters'}]}"), False),
    Agreement("removed-api", "k8s-api-versions", "check-deprecated-apis, stable-version",
              add("{apiVersion: policy/v1beta1, kind: PodDisruptionBudget, metadata: {name: old, namespace: shop}, "
                  "spec: {maxUnavailable: 1, selector: {matchLabels: {app.kubernetes.io/name: web}}}}"), True),
    Agreement("removed-api-old-cluster", "k8s-api-versions", "check-deprecated-apis (served until 1.25)",
              add("{apiVersion: policy/v1beta1, kind: PodDisruptionBudget, metadata: {name: old, namespace: shop}, "
                  "spec: {maxUnavailable: 1, selector: {matchLabels: {app.kubernetes.io/name: web}}}}"), False,
              config={"k8s-api-versions": {"kubernetesVersion": "1.24"}}),
    Agreement("no-authorization-policy", "istio-authorization-coverage", "(no peer check)",
              remove("AuthorizationPolicy/allow-nothing"), True),
    Agreement("injection-opt-out", "istio-injection-opt-out", "(no peer check)",
              put(D, "spec.template.metadata.annotations", {"sidecar.istio.io/inject": "false"}), True),
]


def resources(objects: dict[str, dict[str, Any]]) -> list[RecordedResource]:
    result = []
    for key, obj in objects.items():
        group_version = obj["apiVersion"] if "/" in obj["apiVersion"] else f"core/{obj['apiVersion']}"
        type_ = f"kubernetes:{group_version}:{obj['kind']}"
        name = key.replace("/", "-").lower()
        result.append(RecordedResource(urn=f"urn:pulumi:peers::shop::{type_}::{name}", type=type_, name=name,
                                       custom=True, parent="", provider="", dependencies=[],
                                       property_dependencies={}, inputs=copy.deepcopy(obj)))
    return result


def base_objects() -> dict[str, dict[str, Any]]:
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in yaml.safe_load_all(BASE_YAML)}


def diagnostics_of(pack: PackProcess, policy: str, objects: dict[str, dict[str, Any]],
                   config: dict[str, Any]) -> list[Diagnostic]:
    pack.configure({"all": "mandatory", **config})
    return [d for d in pack.analyze_all(resources(objects)) if d.policy == policy]


MAPPED = sorted({c.policy for c in CASES})


@pytest.mark.parametrize("policy", MAPPED)
def test_the_compliant_base_passes(pack: PackProcess, policy: str) -> None:
    found = diagnostics_of(pack, policy, base_objects(), {})
    assert not found, [d.message for d in found]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_pack_and_peer_agree_or_differ_as_documented(pack: PackProcess, case: Agreement) -> None:
    objects = base_objects()
    case.change(objects)
    found = diagnostics_of(pack, case.policy, objects, case.config)
    expected = case.peer_fails if case.pack_fails is None else case.pack_fails
    assert bool(found) == expected, (case.peers, [d.message for d in found])


def test_every_documented_difference_has_a_config_that_agrees() -> None:
    """Each case where the pack is stricter or looser than the peer comes with a case (same change, a config
    property set) where it gives the peer's verdict."""
    differences = [c for c in CASES if c.pack_fails is not None]
    assert differences
    for difference in differences:
        agreeing = [c for c in CASES if c.id.startswith(difference.id) and c.config and c.pack_fails is None
                    and c.policy == difference.policy and c.peer_fails == difference.peer_fails]
        assert agreeing, difference.id
