"""Policies for the check families Checkov, Kyverno, Polaris and kube-score cover and the rest of the pack did not:
effective token automount, image pull policy, default ServiceAccount, RBAC, Pod Security baseline items,
deprecated API versions, NetworkPolicies that select nothing, multi-replica workloads without a PDB or spread,
Istio namespaces without AuthorizationPolicy and pods opting out of injection.

`policy/README.md` maps each to the peer checks it answers, and says where the pack asks more by design.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, StackValidationArgs

from .config import Schema, per_resource, resource_policy, stack_policy, string_list
from .kubernetes import _DIGEST, TOKEN_SCHEMA, _all_containers, _subject, _workload, split_image, token_exempt
from .model import StackModel, Workload, namespace_of
from .pools import EKS_CLUSTER, GKE_CLUSTER, is_kind_command, kind_document
from .props import as_int, get, is_workload, items, kube_type, labels_match, metadata_name, str_map, truthy
from .stack import _model

# ---------------------------------------------------------------------------------------------------------
# Service account tokens, as the pod actually gets them
# ---------------------------------------------------------------------------------------------------------


def check_token_automount_effective(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    """A pod that leaves automountServiceAccountToken unset inherits its ServiceAccount's setting: it is fine when
    that ServiceAccount is in the stack with automountServiceAccountToken: false (Polaris agrees); a
    ServiceAccount the stack does not define (the namespace's `default` one included) mounts the token."""
    model = _model(args, "k8s-token-automount-effective")
    disabled = {(namespace_of(sa), metadata_name(sa.props)): truthy(get(sa.props, "automountServiceAccountToken"))
                for sa in model.of("core/ServiceAccount")}
    for workload in model.workloads:
        with per_resource("k8s-token-automount-effective", workload.urn):
            if get(workload.pod_spec, "automountServiceAccountToken") is not None:
                continue  # explicit: k8s-no-token-automount decides
            if token_exempt([workload.pod_labels, str_map(workload.resource.props, "metadata", "labels")], cfg):
                continue
            account = str(get(workload.pod_spec, "serviceAccountName", default="") or "default")
            if disabled.get((workload.namespace, account)) is False:
                continue
            where = "which this stack does not define" if (workload.namespace, account) not in disabled \
                else "which does not set automountServiceAccountToken: false"
            report(f"{workload.title} mounts a service account token: the pod leaves automountServiceAccountToken "
                   f"unset and its ServiceAccount '{account}' is one {where}. Fix: set automountServiceAccountToken: "
                   "false on the pod (or on a ServiceAccount of the stack).", workload.urn)


def check_default_service_account(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    workload = _workload(args)
    if workload is None:
        return
    account = get(workload[2], "serviceAccountName") or get(workload[2], "serviceAccount")
    if account in (None, "", "default"):
        report(f"{_subject(args)} runs as the namespace's 'default' ServiceAccount{'' if account else ' (unset)'}: "
               "every workload of the namespace shares its identity and RBAC. Fix: a ServiceAccount of its own "
               "(serviceAccountName).", None)


# ---------------------------------------------------------------------------------------------------------
# Image pull policy
# ---------------------------------------------------------------------------------------------------------

PULL_POLICY_SCHEMA: Schema = {
    "digestAllowsIfNotPresent": {
        "type": "boolean", "default": True,
        "description": "An image pinned by digest may use IfNotPresent (its content cannot change; Checkov CKV_K8S_15 "
                       "agrees). False: Always everywhere, as Polaris pullPolicyNotAlways and kube-score ask."},
    "requireAlwaysForVersionTags": {
        "type": "boolean", "default": True,
        "description": "An image pinned by a version tag (not by digest) must be pulled with Always too: a tag can be "
                       "pushed again. False: only untagged and `latest` images must (Kyverno imagepullpolicy-always)."},
    "requireExplicitPolicy": {
        "type": "boolean", "default": False,
        "description": "imagePullPolicy must be written even where the API server defaults it to Always (an untagged "
                       "or `latest` image), as Polaris pullPolicyNotAlways asks. False: the defaulted Always counts "
                       "(the pod pulls Always either way)."},
}


def check_pull_policy(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    workload = _workload(args)
    if workload is None:
        return
    for ref in _all_containers(workload[2]):
        image = str(get(ref.container, "image", default=""))
        policy = get(ref.container, "imagePullPolicy")
        _, tag, digest = split_image(image)
        pinned = digest is not None and bool(_DIGEST.search(image))
        moving = tag in (None, "latest") and not pinned
        if policy is None and moving and cfg["requireExplicitPolicy"]:
            report(f"{_subject(args)}: {ref.where} pulls '{image}' with no imagePullPolicy (the API server defaults it "
                   "to Always for this tag; requireExplicitPolicy asks for the field). Fix: pin the image by digest "
                   "or a version tag and set imagePullPolicy explicitly.", None)
            continue
        if policy is None and moving:
            continue  # the API server defaults an untagged or latest image to Always
        if not moving and not pinned and not cfg["requireAlwaysForVersionTags"]:
            continue  # a version tag: only untagged / latest images are asked for Always
        effective = policy or "IfNotPresent"
        if effective == "Always" or (pinned and cfg["digestAllowsIfNotPresent"] and effective == "IfNotPresent"):
            continue
        report(f"{_subject(args)}: {ref.where} pulls '{image}' with imagePullPolicy {effective}"
               f"{'' if policy else ' (the default for a tagged image)'}: a node keeps whatever it pulled first under "
               "that tag, and a pod may start from another node's cache without its imagePullSecrets being checked. "
               "Fix: pin the image by digest (imageDigest in the stack config) or set imagePullPolicy: Always.", None)


# ---------------------------------------------------------------------------------------------------------
# RBAC
# ---------------------------------------------------------------------------------------------------------

RBAC_SCHEMA: Schema = {
    "allowedSubjects": string_list("Subjects (kind:name or kind:namespace/name) that may be bound to cluster-admin, "
                                   "besides system: users and groups.", []),
}
_ESCALATING_VERBS = {"escalate", "bind", "impersonate"}
_READ_VERBS = {"get", "list", "watch", "*"}
_WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}


def _rule_problems(rule: Any) -> list[str]:
    verbs = {str(v) for v in items(rule, "verbs")}
    resources = {str(r) for r in items(rule, "resources")}
    groups = {str(g) for g in items(rule, "apiGroups")}
    problems = []
    if "*" in groups and "*" in resources and verbs & (_WRITE_VERBS | {"*"}):
        problems.append("writes every resource of every API group")
    if "*" in verbs:
        # '*' includes the escalating verbs where they mean something: escalate and bind on (Cluster)Roles,
        # impersonate on users, groups and service accounts.
        implied = []
        if groups & {"rbac.authorization.k8s.io", "*"} and resources & {"roles", "clusterroles", "*"}:
            implied += ["escalate", "bind"]
        if groups & {"", "*"} and resources & {"users", "groups", "serviceaccounts", "*"}:
            implied.append("impersonate")
        problems.append(f"grants every verb ('*'){', ' + ', '.join(implied) + ' included' if implied else ''}")
    if "*" in resources and rule is not None and not get(rule, "nonResourceURLs"):
        problems.append("covers every resource ('*')")
    if "*" in groups and "*" not in resources and resources:
        problems.append(f"covers {', '.join(sorted(resources))} in every API group ('*' in apiGroups)")
    if verbs & _ESCALATING_VERBS:
        problems.append(f"grants {', '.join(sorted(verbs & _ESCALATING_VERBS))} (privilege escalation)")
    reads_secrets = ("secrets" in resources or "*" in resources) and ("" in groups or "*" in groups) \
        and verbs & _READ_VERBS and not items(rule, "resourceNames")
    if reads_secrets:
        problems.append("reads every Secret of its scope (no resourceNames)")
    return problems


def _system_subject(subject: Any) -> bool:
    name = str(get(subject, "name", default=""))
    return name.startswith("system:") or (get(subject, "kind") == "ServiceAccount"
                                          and get(subject, "namespace") == "kube-system")


def check_rbac(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    kt = kube_type(args.resource_type)
    if kt is None or kt.group != "rbac.authorization.k8s.io":
        return
    if kt.kind in ("Role", "ClusterRole"):
        for index, rule in enumerate(items(args.props, "rules")):
            for problem in _rule_problems(rule):
                report(f"{_subject(args)} rule {index} {problem}. Fix: list the verbs and resources the workload "
                       "needs (and resourceNames for Secrets).", None)
    elif kt.kind in ("RoleBinding", "ClusterRoleBinding"):
        if get(args.props, "roleRef", "name") != "cluster-admin":
            return
        allowed = {str(s) for s in cfg["allowedSubjects"]}
        for subject in items(args.props, "subjects"):
            ns = get(subject, "namespace")
            label = f"{get(subject, 'kind')}:{ns + '/' if ns else ''}{get(subject, 'name')}"
            if not _system_subject(subject) and label not in allowed:
                report(f"{_subject(args)} binds cluster-admin to {label}. Fix: a role with only the needed rules, or "
                       "a reviewed entry in allowedSubjects.", None)


# ---------------------------------------------------------------------------------------------------------
# Pod Security Standards, baseline items the other policies do not cover
# ---------------------------------------------------------------------------------------------------------

SAFE_SYSCTLS = ["kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"]
"""The Pod Security Standards' safe sysctl set (baseline, Kubernetes 1.32)."""
BASELINE_SCHEMA: Schema = {
    "allowedSysctls": string_list("Sysctls a pod may set (the Pod Security Standards' safe set).", SAFE_SYSCTLS),
    "allowedHostPorts": {"type": "array", "items": {"type": "integer"}, "default": [],
                         "description": "hostPorts that may be used (baseline: a known list, empty by default)."},
}
_SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}


def _apparmor_problems(meta: Any, pod_spec: Any, names: list[str]) -> list[str]:
    problems = []
    for name in names:
        value = str_map(meta, "annotations").get(f"container.apparmor.security.beta.kubernetes.io/{name}")
        if value is not None and value != "runtime/default" and not value.startswith("localhost/"):
            problems.append(f"container '{name}' AppArmor annotation {value}")
    for where, context in [("pod", get(pod_spec, "securityContext"))] + \
            [(f"container '{get(c, 'name')}'", get(c, "securityContext")) for c in items(pod_spec, "containers")]:
        kind = get(context, "appArmorProfile", "type")
        if kind not in (None, "RuntimeDefault", "Localhost"):
            problems.append(f"{where} appArmorProfile {kind}")
    return problems


def check_baseline(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    workload = _workload(args)
    if workload is None:
        return
    _, meta, pod_spec = workload
    problems: list[str] = []
    allowed = {str(s) for s in cfg["allowedSysctls"]}
    problems += [f"sysctl {get(s, 'name')}" for s in items(pod_spec, "securityContext", "sysctls")
                 if str(get(s, "name")) not in allowed]
    host_ports = {as_int(p) for p in cfg["allowedHostPorts"]}
    refs = list(_all_containers(pod_spec))
    for ref in refs:
        proc_mount = get(ref.container, "securityContext", "procMount")
        if proc_mount not in (None, "Default"):
            problems.append(f"{ref.where} procMount {proc_mount}")
        for port in items(ref.container, "ports"):
            number = as_int(get(port, "hostPort"))
            if number and number not in host_ports:
                problems.append(f"{ref.where} hostPort {number}")
    contexts = [("pod", get(pod_spec, "securityContext"))] + [(r.where, get(r.container, "securityContext")) for r in refs]
    for where, context in contexts:
        selinux = get(context, "seLinuxOptions")
        if selinux is not None:
            if str(get(selinux, "type", default="") or "") not in _SELINUX_TYPES:
                problems.append(f"{where} SELinux type {get(selinux, 'type')}")
            if get(selinux, "user") or get(selinux, "role"):
                problems.append(f"{where} SELinux user/role")
        if get(context, "windowsOptions", "hostProcess") is True:
            problems.append(f"{where} windowsOptions.hostProcess")
    problems += _apparmor_problems(meta, pod_spec, [r.name for r in refs])
    for problem in problems:
        report(f"{_subject(args)}: {problem} is not allowed by the Pod Security Standards (baseline). Fix: remove it "
               "(or extend allowedSysctls / allowedHostPorts after review).", None)


# ---------------------------------------------------------------------------------------------------------
# API versions
# ---------------------------------------------------------------------------------------------------------

REMOVED_APIS: dict[tuple[str, str], tuple[str, str]] = {
    # (group/version, kind) -> (removed in, replacement); "*" is every kind of that group/version.
    ("extensions/v1beta1", "*"): ("1.16", "apps/v1 or networking.k8s.io/v1"),
    ("apps/v1beta1", "*"): ("1.16", "apps/v1"),
    ("apps/v1beta2", "*"): ("1.16", "apps/v1"),
    ("networking.k8s.io/v1beta1", "*"): ("1.22", "networking.k8s.io/v1"),
    ("rbac.authorization.k8s.io/v1beta1", "*"): ("1.22", "rbac.authorization.k8s.io/v1"),
    ("admissionregistration.k8s.io/v1beta1", "*"): ("1.22", "admissionregistration.k8s.io/v1"),
    ("apiextensions.k8s.io/v1beta1", "*"): ("1.22", "apiextensions.k8s.io/v1"),
    ("apiregistration.k8s.io/v1beta1", "*"): ("1.22", "apiregistration.k8s.io/v1"),
    ("certificates.k8s.io/v1beta1", "*"): ("1.22", "certificates.k8s.io/v1"),
    ("coordination.k8s.io/v1beta1", "*"): ("1.22", "coordination.k8s.io/v1"),
    ("scheduling.k8s.io/v1beta1", "*"): ("1.22", "scheduling.k8s.io/v1"),
    ("storage.k8s.io/v1beta1", "CSIDriver"): ("1.22", "storage.k8s.io/v1"),
    ("storage.k8s.io/v1beta1", "CSINode"): ("1.22", "storage.k8s.io/v1"),
    ("storage.k8s.io/v1beta1", "StorageClass"): ("1.22", "storage.k8s.io/v1"),
    ("storage.k8s.io/v1beta1", "VolumeAttachment"): ("1.22", "storage.k8s.io/v1"),
    ("storage.k8s.io/v1beta1", "CSIStorageCapacity"): ("1.27", "storage.k8s.io/v1"),
    ("batch/v1beta1", "CronJob"): ("1.25", "batch/v1"),
    ("discovery.k8s.io/v1beta1", "*"): ("1.25", "discovery.k8s.io/v1"),
    ("events.k8s.io/v1beta1", "*"): ("1.25", "events.k8s.io/v1"),
    ("autoscaling/v2beta1", "*"): ("1.25", "autoscaling/v2"),
    ("autoscaling/v2beta2", "*"): ("1.26", "autoscaling/v2"),
    ("policy/v1beta1", "*"): ("1.25", "policy/v1 (PodSecurityPolicy: Pod Security Admission)"),
    ("node.k8s.io/v1beta1", "*"): ("1.25", "node.k8s.io/v1"),
    ("flowcontrol.apiserver.k8s.io/v1beta1", "*"): ("1.26", "flowcontrol.apiserver.k8s.io/v1"),
    ("flowcontrol.apiserver.k8s.io/v1beta2", "*"): ("1.29", "flowcontrol.apiserver.k8s.io/v1"),
    ("flowcontrol.apiserver.k8s.io/v1beta3", "*"): ("1.32", "flowcontrol.apiserver.k8s.io/v1"),
    ("resource.k8s.io/v1alpha2", "*"): ("1.31", "resource.k8s.io/v1"),
}
API_VERSION_SCHEMA: Schema = {
    "kubernetesVersion": {"type": "string", "pattern": r"^1\.\d+$", "default": "1.35",
                          "description": "The cluster's Kubernetes minor version when the stack does not say: the "
                                         "cluster resource of the stack (EKS version, GKE minMasterVersion, kind node "
                                         "image) wins over it."},
}
_RESOURCE_TYPE = re.compile(r"^kubernetes:([A-Za-z0-9.-]+)/([A-Za-z0-9]+):([A-Za-z0-9]+)$")


def _minor(version: str) -> int:
    return int(version.split(".")[1])


def removed_api(resource_type: str, cluster_version: str) -> tuple[str, str, str] | None:
    """(apiVersion, removed in, replacement) when the type's API version no longer exists in `cluster_version`."""
    match = _RESOURCE_TYPE.match(resource_type)
    if match is None:
        return None
    group, version, kind = match.groups()
    api = f"{group}/{version}"
    entry = REMOVED_APIS.get((api, kind)) or REMOVED_APIS.get((api, "*"))
    if entry is None or _minor(cluster_version) < _minor(entry[0]):
        return None
    return (version if group == "core" else api), entry[0], entry[1]


_MINOR = re.compile(r"^v?1\.(\d+)(?:\.|-|$)")
_KIND_IMAGE = re.compile(r":v1\.(\d+)\.")


def _stack_minor(resource: Any) -> tuple[int, str] | None:
    """(minor, where it was read) of the cluster a stack resource creates: EKS `version`, GKE `minMasterVersion`
    (a minor or a full version; `latest` says nothing), kind's control-plane node image (`kindest/node:v1.35.0`)."""
    if resource.resource_type == EKS_CLUSTER:
        value, where = get(resource.props, "version"), "version"
    elif resource.resource_type == GKE_CLUSTER:
        value, where = get(resource.props, "minMasterVersion"), "minMasterVersion"
    elif is_kind_command(resource.resource_type, resource.props):
        images = [str(n.get("image", "")) for n in kind_document(resource.props).get("nodes") or []
                  if isinstance(n, dict) and n.get("role", "control-plane") == "control-plane" and n.get("image")]
        found = _KIND_IMAGE.search(images[0]) if images else None
        return (int(found.group(1)), f"{resource.resource_type} {resource.name} node image {images[0]}") if found else None
    else:
        return None
    match = _MINOR.match(str(value or ""))
    return (int(match.group(1)), f"{resource.resource_type} {resource.name} {where} {value}") if match else None


def cluster_version(resources: list[Any], cfg: Mapping[str, Any]) -> tuple[str, str]:
    """(the cluster's minor version "1.N", where it comes from): the stack's cluster resource, else the policy's
    kubernetesVersion. With several clusters the newest counts (an API removed there fails there)."""
    found: list[tuple[int, str]] = []
    for resource in resources:
        with per_resource("k8s-api-versions", resource.urn):
            minor = _stack_minor(resource)
            if minor is not None:
                found.append(minor)
    if found:
        minor, where = max(found)
        return f"1.{minor}", where
    return str(cfg["kubernetesVersion"]), "the policy's kubernetesVersion (no cluster resource in the stack)"


def check_api_versions(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    version, source = cluster_version(list(args.resources), cfg)
    for resource in args.resources:
        found = removed_api(resource.resource_type, version)
        if found is None:
            continue
        api, removed, replacement = found
        kt = kube_type(resource.resource_type)
        name = ""
        with per_resource("k8s-api-versions", resource.urn):
            name = metadata_name(resource.props) if kt is not None else ""
        report(f"{kt.kind if kt else resource.resource_type} '{name or resource.name}' uses {api}, removed in "
               f"Kubernetes {removed} (the cluster runs {version}, from {source}): the API server rejects it. Fix: use "
               f"{replacement}.", resource.urn)


# ---------------------------------------------------------------------------------------------------------
# Cross-resource: NetworkPolicies, PDBs, spread, Istio authorization
# ---------------------------------------------------------------------------------------------------------


def check_network_policy_targets(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "network-policy-selects-pods")
    for policy in model.of("networking.k8s.io/NetworkPolicy"):
        with per_resource("network-policy-selects-pods", policy.urn):
            selector = get(policy.props, "spec", "podSelector", default={}) or {}
            if not str_map(selector, "matchLabels") and not items(selector, "matchExpressions"):
                continue  # selects every pod of the namespace (also ones created later)
            namespace = namespace_of(policy)
            if not model.selected(namespace, selector):
                report(f"NetworkPolicy {namespace}/{metadata_name(policy.props)} selects no pod of the stack "
                       f"({dict(str_map(selector, 'matchLabels'))}): its rules apply to nothing. Fix: use the "
                       "workload's pod labels in spec.podSelector.", policy.urn)


def _pdb_covered(model: StackModel) -> set[str]:
    covered: set[str] = set()
    for pdb in model.of("policy/PodDisruptionBudget"):
        with per_resource("workload-has-pdb", pdb.urn):
            selector = get(pdb.props, "spec", "selector", default={}) or {}
            covered.update(w.urn for w in model.selected(namespace_of(pdb), selector))
    return covered


REPLICAS_SCHEMA: Schema = {
    "minReplicas": {"type": "integer", "minimum": 1, "default": 2,
                    "description": "Workloads that may run at least this many replicas are checked (a single pod has "
                                   "nothing to keep apart or available; Polaris and kube-score check from 1)."},
    "unsetReplicasMayScale": {
        "type": "boolean", "default": False,
        "description": "A Deployment / StatefulSet with spec.replicas unset and no autoscaler in the stack counts as "
                       "possibly many replicas (an autoscaler or `kubectl scale` outside the stack may own it), as "
                       "kube-score assumes. False: it runs the API default of one pod; an autoscaler of the stack "
                       "gives its maxReplicas either way."},
}


def _checked_replicas(workload: Workload, cfg: Mapping[str, Any]) -> tuple[bool, str]:
    """(whether the workload runs enough replicas to be checked, how many it may run as a phrase)."""
    if cfg["unsetReplicasMayScale"] and workload.replicas is None and not workload.autoscalers \
            and workload.kind in ("Deployment", "StatefulSet"):
        return True, "an unset number of replicas (unsetReplicasMayScale)"
    return workload.max_replicas >= int(cfg["minReplicas"]), f"up to {workload.max_replicas} replicas"


def check_workload_pdb(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "workload-has-pdb")
    covered = _pdb_covered(model)
    for workload in model.workloads:
        if model.placeholder(workload):
            continue  # headroom: a PDB would only slow the preemption it exists for (priorities.py forbids one)
        checked, runs = _checked_replicas(workload, cfg)
        if workload.long_running and checked and workload.urn not in covered:
            report(f"{workload.title} runs {runs} but no PodDisruptionBudget selects it: a node drain may evict all "
                   "of them at once. Fix: a PDB with maxUnavailable: 1.", workload.urn)


SPREAD_SCHEMA: Schema = {
    **REPLICAS_SCHEMA,
    "topologyKeys": string_list("Topology keys a spread constraint or pod anti-affinity may use to keep replicas "
                                "apart.", ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]),
}


def _spreads(workload: Workload, keys: set[str]) -> bool:
    for constraint in items(workload.pod_spec, "topologySpreadConstraints"):
        if str(get(constraint, "topologyKey")) in keys and \
                _selects_own(get(constraint, "labelSelector"), workload.pod_labels):
            return True
    anti = get(workload.pod_spec, "affinity", "podAntiAffinity")
    terms = items(anti, "requiredDuringSchedulingIgnoredDuringExecution") + \
        [get(t, "podAffinityTerm") for t in items(anti, "preferredDuringSchedulingIgnoredDuringExecution")]
    return any(str(get(t, "topologyKey")) in keys and _selects_own(get(t, "labelSelector"), workload.pod_labels)
               for t in terms)


def _selects_own(selector: Any, labels: dict[str, str]) -> bool:
    return selector is not None and labels_match(selector, labels)


def check_spread(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "workload-spread")
    keys = {str(k) for k in cfg["topologyKeys"]}
    for workload in model.workloads:
        with per_resource("workload-spread", workload.urn):
            checked, runs = _checked_replicas(workload, cfg)
            if workload.long_running and checked and not _spreads(workload, keys):
                report(f"{workload.title} runs {runs} with no topologySpreadConstraint "
                       f"or pod anti-affinity over {', '.join(sorted(keys))} that selects its own pods: the scheduler "
                       "may put them all on one node. Fix: a topologySpreadConstraint on kubernetes.io/hostname "
                       "(whenUnsatisfiable: ScheduleAnyway) with the workload's selector labels.", workload.urn)


SERVICE_BACKENDS_SCHEMA: Schema = {
    "requiredProbes": string_list("Probes a pod a Service selects must have in at least one of its containers (init "
                                  "containers included).", ["readinessProbe"]),
}


def check_service_backends_ready(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    """kube-score pod-probes' question: a Service sends traffic to a pod it selects as soon as the pod runs, unless
    a readiness probe gates it. `k8s-probes` asks more of every long-running container, selected or not."""
    model = _model(args, "service-backends-ready")
    required = [str(p) for p in cfg["requiredProbes"]]
    seen: set[str] = set()
    for service in model.of("core/Service"):
        with per_resource("service-backends-ready", service.urn):
            selector = str_map(service.props, "spec", "selector")
            if not selector or get(service.props, "spec", "type") == "ExternalName":
                continue
            for workload in model.selected(namespace_of(service), selector):
                if workload.urn in seen or workload.kind in ("Job", "CronJob"):
                    continue
                seen.add(workload.urn)
                every = items(workload.pod_spec, "containers") + items(workload.pod_spec, "initContainers")
                missing = [p for p in required if all(get(c, p) is None for c in every)]
                if missing:
                    report(f"{workload.title} is selected by Service {namespace_of(service)}/"
                           f"{metadata_name(service.props)} but no container of the pod has a {', '.join(missing)}: "
                           "the Service sends it traffic before it is ready. Fix: add a readinessProbe.", workload.urn)


ISTIO_SCHEMA: Schema = {
    "meshRootNamespace": {"type": "string", "default": "istio-system",
                          "description": "Istio's root namespace (an AuthorizationPolicy there applies mesh-wide)."},
}


def check_authorization_coverage(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "istio-authorization-coverage")
    covered = {namespace_of(p) for p in model.of("security.istio.io/AuthorizationPolicy")}
    if str(cfg["meshRootNamespace"]) in covered:
        return
    seen: set[str] = set()
    for workload in model.workloads:
        if workload.namespace in seen or workload.namespace in covered or not model.injected(workload):
            continue
        seen.add(workload.namespace)
        report(f"Namespace {workload.namespace} runs sidecar-injected workloads ({workload.title}) but has no Istio "
               "AuthorizationPolicy: any workload of the mesh may call them. Fix: an 'allow-nothing' policy plus "
               "ALLOW rules naming the callers' service accounts.", workload.urn)


def check_injection_opt_out(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "istio-injection-opt-out")
    for workload in model.workloads:
        labels = model.namespaces.get(workload.namespace, {})
        namespace_on = labels.get("istio-injection") == "enabled" or "istio.io/rev" in labels
        flag = workload.pod_labels.get("sidecar.istio.io/inject") or workload.pod_annotations.get("sidecar.istio.io/inject")
        if namespace_on and flag == "false" and workload.kind not in ("Job", "CronJob"):
            report(f"{workload.title} opts out of sidecar injection (sidecar.istio.io/inject: \"false\") in the injected "
                   f"namespace {workload.namespace}: its traffic bypasses mTLS and AuthorizationPolicies. Fix: remove "
                   "the opt-out, or move the workload to a namespace outside the mesh.", workload.urn)


def policies() -> list[Any]:
    return [
        stack_policy("k8s-token-automount-effective", "Pods that leave automountServiceAccountToken unset use a "
                     "ServiceAccount of the stack that disables it.", check_token_automount_effective, schema=TOKEN_SCHEMA,
                     remediation="automountServiceAccountToken: false on the pod or its ServiceAccount."),
        resource_policy("k8s-default-service-account", "Workloads run under a ServiceAccount of their own, not "
                        "'default'.", check_default_service_account, remediation="Set serviceAccountName.", applies=is_workload),
        resource_policy("k8s-image-pull-policy", "Images not pinned by digest are pulled with imagePullPolicy Always.",
                        check_pull_policy, schema=PULL_POLICY_SCHEMA,
                        remediation="Pin by digest, or imagePullPolicy: Always.", applies=is_workload),
        resource_policy("k8s-rbac-least-privilege", "Roles grant no wildcard, escalation or namespace-wide Secret "
                        "access; cluster-admin is bound only to system subjects.", check_rbac, schema=RBAC_SCHEMA,
                        remediation="List verbs and resources explicitly; bind narrower roles."),
        resource_policy("k8s-pod-security-baseline", "Pods use no unsafe sysctls, hostPorts, procMount, SELinux or "
                        "AppArmor overrides (Pod Security Standards baseline).", check_baseline, schema=BASELINE_SCHEMA,
                        remediation="Remove the override.", applies=is_workload),
        stack_policy("k8s-api-versions", "Objects use API versions the cluster's Kubernetes version still serves.",
                     check_api_versions, schema=API_VERSION_SCHEMA, remediation="Use the replacement API version."),
        stack_policy("network-policy-selects-pods", "NetworkPolicies with a pod selector select pods of the stack.",
                     check_network_policy_targets, remediation="Match the workload's pod labels."),
        stack_policy("workload-has-pdb", "Long-running workloads with more than one replica have a "
                     "PodDisruptionBudget.", check_workload_pdb, schema=REPLICAS_SCHEMA,
                     remediation="Add a PDB with maxUnavailable: 1."),
        stack_policy("workload-spread", "Long-running workloads with more than one replica spread over nodes or zones.",
                     check_spread, schema=SPREAD_SCHEMA,
                     remediation="topologySpreadConstraints or pod anti-affinity over kubernetes.io/hostname."),
        stack_policy("service-backends-ready", "Pods a Service selects have a readiness probe.",
                     check_service_backends_ready, schema=SERVICE_BACKENDS_SCHEMA,
                     remediation="Add a readinessProbe to the pod's serving container."),
        stack_policy("istio-authorization-coverage", "Namespaces with sidecar-injected workloads have an Istio "
                     "AuthorizationPolicy.", check_authorization_coverage, schema=ISTIO_SCHEMA,
                     remediation="Add allow-nothing plus ALLOW rules per caller."),
        stack_policy("istio-injection-opt-out", "Long-running pods in an injected namespace do not opt out of the "
                     "sidecar.", check_injection_opt_out, remediation="Remove sidecar.istio.io/inject: \"false\"."),
    ]
