"""Violating variants of the dev stack for the policies of policy/browser_platform_policies/peers.py and the
peer-alignment changes of kubernetes.py / stack.py (run by test_protocol.py's `test_violation_is_reported`)."""

from __future__ import annotations

from typing import Any

from offline.harness import RecordedResource

from .cases import Case, Resources, deployment, edit, named, on_container, on_pod, pod, s, stack, synthetic

PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n"


def _role(rules: list[dict[str, Any]]) -> Any:
    def mutate(resources: Resources) -> RecordedResource:
        role = named(resources, "rbac.authorization.k8s.io/v1:Role", "api-role")
        role.inputs["rules"] = rules
        return role
    return mutate


def _cluster_admin(resources: Resources) -> RecordedResource:
    binding = synthetic("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "ops-admin", {
        "metadata": {"name": "ops-admin"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "Group", "name": "system:masters"},
                     {"kind": "User", "name": "alice@example.com", "apiGroup": "rbac.authorization.k8s.io"}]})
    resources.append(binding)
    return binding


def _drop_pdb(resources: Resources) -> None:
    resources.remove(named(resources, "policy/v1:PodDisruptionBudget", "api-pdb"))


def _unset_automount(resources: Resources) -> None:
    pod(deployment(resources, "api")).pop("automountServiceAccountToken")
    named(resources, "core/v1:ServiceAccount", "api-service-account").inputs["automountServiceAccountToken"] = None


def _no_spread(resources: Resources) -> None:
    spec = pod(deployment(resources, "api"))
    spec.pop("topologySpreadConstraints", None)
    if spec.get("affinity"):
        spec["affinity"].pop("podAntiAffinity", None)


def _orphan_network_policy(resources: Resources) -> None:
    policy = named(resources, "networking.k8s.io/v1:NetworkPolicy", "network-policies-api-egress")
    policy.inputs["spec"]["podSelector"] = {"matchLabels": {"app.kubernetes.io/name": "apii"}}


def _no_authorization(resources: Resources) -> None:
    for r in [r for r in resources if r.type.endswith("security.istio.io/v1:AuthorizationPolicy")]:
        resources.remove(r)


def _opt_out(resources: Resources) -> None:
    deployment(resources, "api").inputs["spec"]["template"]["metadata"]["annotations"]["sidecar.istio.io/inject"] = "false"


def _removed_api(resources: Resources) -> None:
    """A stack policy: the cluster's version is the stack's (kind's node image here)."""
    named(resources, "policy/v1:PodDisruptionBudget", "api-pdb").type = "kubernetes:policy/v1beta1:PodDisruptionBudget"


def _unready_api(resources: Resources) -> None:
    for ref in pod(deployment(resources, "api"))["containers"]:
        ref.pop("readinessProbe", None)


def _pdb_without_policy(resources: Resources) -> None:
    named(resources, "policy/v1:PodDisruptionBudget", "api-pdb").inputs["spec"].pop("maxUnavailable")


PEERS_CASES: list[Case] = [
    Case("peer-automount-effective", "k8s-token-automount-effective", stack(_unset_automount),
         "its ServiceAccount 'api' is one which does not set automountServiceAccountToken: false"),
    Case("peer-default-sa", "k8s-default-service-account", on_pod("api", lambda p: p.pop("serviceAccountName")),
         "runs as the namespace's 'default' ServiceAccount (unset)"),
    Case("peer-pull-policy", "k8s-image-pull-policy", on_container("api", s("imagePullPolicy", "IfNotPresent")),
         "with imagePullPolicy IfNotPresent"),
    Case("peer-rbac-wildcard", "k8s-rbac-least-privilege",
         _role([{"apiGroups": [""], "resources": ["*"], "verbs": ["*"]}]), "grants every verb ('*')"),
    Case("peer-rbac-secrets", "k8s-rbac-least-privilege",
         _role([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]), "reads every Secret"),
    Case("peer-rbac-escalate", "k8s-rbac-least-privilege",
         _role([{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["escalate", "bind"]}]),
         "grants bind, escalate"),
    Case("peer-cluster-admin", "k8s-rbac-least-privilege", _cluster_admin,
         "binds cluster-admin to User:alice@example.com"),
    Case("peer-baseline-sysctl", "k8s-pod-security-baseline",
         on_pod("api", s("securityContext.sysctls", [{"name": "kernel.msgmax", "value": "65536"}])), "sysctl kernel.msgmax"),
    Case("peer-baseline-procmount", "k8s-pod-security-baseline",
         on_container("api", s("securityContext.procMount", "Unmasked")), "procMount Unmasked"),
    Case("peer-baseline-selinux", "k8s-pod-security-baseline",
         on_pod("api", s("securityContext.seLinuxOptions", {"type": "spc_t"})), "SELinux type spc_t"),
    Case("peer-baseline-apparmor", "k8s-pod-security-baseline",
         on_pod("api", s("securityContext.appArmorProfile", {"type": "Unconfined"})), "appArmorProfile Unconfined"),
    Case("peer-api-removed", "k8s-api-versions", _removed_api, "uses policy/v1beta1, removed in Kubernetes 1.25"),
    Case("peer-netpol-orphan", "network-policy-selects-pods", stack(_orphan_network_policy), "selects no pod"),
    Case("peer-no-pdb", "workload-has-pdb", stack(_drop_pdb), "no PodDisruptionBudget selects it"),
    Case("peer-pdb-no-policy", "pdb-allows-drain", stack(_pdb_without_policy),
         "sets neither minAvailable nor maxUnavailable"),
    Case("peer-no-spread", "workload-spread", stack(_no_spread), "may put them all on one node"),
    Case("peer-unready-backend", "service-backends-ready", stack(_unready_api),
         "but no container of the pod has a readinessProbe: the Service sends it traffic before it is ready"),
    Case("peer-no-authz", "istio-authorization-coverage", stack(_no_authorization), "has no Istio AuthorizationPolicy"),
    Case("peer-opt-out", "istio-injection-opt-out", stack(_opt_out), "opts out of sidecar injection"),
    Case("peer-secret-content", "k8s-no-secret-env-literals",
         edit("core/v1:ConfigMap", "api-config", lambda r: r.inputs["data"].update(TLS_MATERIAL=PRIVATE_KEY)),
         "key 'TLS_MATERIAL' holds a credential (by its content)"),
    Case("peer-secret-dsn", "k8s-no-secret-env-literals",
         on_container("api", s("env", [{"name": "DATABASE_URL", "value": "postgres://app:s3cr3t@db:5432/app"}])),
         "'DATABASE_URL' as a plain env literal whose value is a credential"),
    Case("peer-secret-refs", "k8s-no-secret-env-literals", on_container("api", lambda c: None),
         "reads Secret key into env 'API_SECRET_KEY'", config={"k8s-no-secret-env-literals": {"allowSecretRefs": False}}),
    Case("peer-low-uid", "k8s-run-as-non-root", on_container("api", s("securityContext.runAsUser", 1000.0)),
         "runs with runAsUser 1000, below 10000"),
    Case("peer-ephemeral", "k8s-not-privileged", on_pod("api", s("ephemeralContainers", [
        {"name": "debug", "image": "ghcr.io/example/debug:1.0.0", "securityContext": {"privileged": True}}])),
         "container 'debug (ephemeral)' sets privileged: true"),
]
