"""Resource policies for Kubernetes objects: one resource at a time, as `Analyze` sees it.

Workload checks apply to Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs, Pods and
ReplicationControllers: the pod template is read from the path that kind uses (`spec`, `spec.template` or
`spec.jobTemplate.spec.template`). Objects inside Helm releases are not visible to the pack (out of scope).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from .config import ADVISORY, Schema, resource_policy, string_list
from .props import (
    CLUSTER_SCOPED_KINDS,
    LONG_RUNNING_GROUP_KINDS,
    ContainerRef,
    as_int,
    containers,
    cpu_millis,
    fmt_bytes,
    fmt_cpu,
    get,
    is_workload,
    items,
    kube_type,
    metadata_name,
    of_kinds,
    pod_template,
    quantity,
    str_map,
    truthy,
)


def _workload(args: ResourceValidationArgs) -> tuple[str, Any, Any] | None:
    """(kind, pod metadata, pod spec) when the resource is a workload."""
    template = pod_template(args.resource_type, args.props)
    if template is None:
        return None
    kt = kube_type(args.resource_type)
    assert kt is not None
    return kt.kind, template[0], template[1]


def _all_containers(pod_spec: Any) -> Iterator[ContainerRef]:
    """Regular, init and ephemeral containers: the security checks apply to a debug container too (it runs in
    the pod's namespaces with its own securityContext)."""
    yield from containers(pod_spec)
    for container in items(pod_spec, "ephemeralContainers"):
        yield ContainerRef(container, f"{get(container, 'name', default='?')} (ephemeral)", False, False)


BUILT_IN_OBJECTS = {("Service", "default", "kubernetes"), ("ServiceAccount", None, "default")}
"""Objects the API server creates itself (the `kubernetes` Service, every namespace's `default` ServiceAccount):
a stack that adopts or patches them cannot move or relabel them."""


def built_in(args: ResourceValidationArgs) -> bool:
    kt = kube_type(args.resource_type)
    if kt is None or kt.group != "core":
        return False
    name, namespace = metadata_name(args.props), get(args.props, "metadata", "namespace", default="default")
    return (kt.kind, namespace, name) in BUILT_IN_OBJECTS or (kt.kind, None, name) in BUILT_IN_OBJECTS


def _subject(args: ResourceValidationArgs) -> str:
    kt = kube_type(args.resource_type)
    return f"{kt.kind if kt else args.resource_type} '{metadata_name(args.props) or args.name}'"


# ---------------------------------------------------------------------------------------------------------
# Resources
# ---------------------------------------------------------------------------------------------------------

RESOURCES_SCHEMA: Schema = {
    "requireCpuLimits": {"type": "boolean", "default": True,
                         "description": "Containers must set limits.cpu (stricter than Kyverno require-requests-limits, "
                                        "which asks only for a memory limit; kube-score --ignore-container-cpu-limit)."},
    "maxCpuPerPod": {"type": "string", "default": "16", "description": "Largest sum of container CPU limits in one pod."},
    "maxMemoryPerPod": {"type": "string", "default": "64Gi", "description": "Largest sum of container memory limits."},
}


def _uses_disk_empty_dir(pod_spec: Any) -> bool:
    return any(get(v, "emptyDir") is not None and get(v, "emptyDir", "medium", default="") != "Memory"
               for v in items(pod_spec, "volumes"))


def check_resources(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    workload = _workload(args)
    if workload is None:
        return
    _, _, pod_spec = workload
    disk = _uses_disk_empty_dir(pod_spec)
    total_cpu = total_memory = 0.0
    for ref in containers(pod_spec):
        requests = str_map(ref.container, "resources", "requests")
        limits = str_map(ref.container, "resources", "limits")
        # ephemeral-storage: for a disk emptyDir, and for a container that sets one side of it (a request
        # without a limit lets it fill the node's disk; a limit without a request schedules it as if it used none).
        storage = disk or "ephemeral-storage" in requests or "ephemeral-storage" in limits
        wanted = ["cpu", "memory"] + (["ephemeral-storage"] if storage else [])
        missing = [f"requests.{r}" for r in wanted if r not in requests] + \
                  [f"limits.{r}" for r in wanted if r not in limits and (r != "cpu" or cfg["requireCpuLimits"])]
        if missing:
            why = " (ephemeral-storage because the pod uses a disk emptyDir)" if disk else \
                " (ephemeral-storage: both sides once one is set)" if storage else ""
            report(f"{_subject(args)}: {ref.where} sets no {', '.join(missing)}. Fix: set resources.requests and "
                   f"resources.limits for {', '.join(wanted)}{why}.", None)
        for resource in ("cpu", "memory", "ephemeral-storage"):
            req, lim = quantity(requests.get(resource)), quantity(limits.get(resource))
            if req is not None and lim is not None and lim < req:
                report(f"{_subject(args)}: {ref.where} has limits.{resource} {limits[resource]} below requests "
                       f"{requests[resource]}. Fix: raise the limit to at least the request.", None)
        if not ref.init or ref.sidecar:
            total_cpu += cpu_millis(limits.get("cpu")) or 0
            total_memory += quantity(limits.get("memory")) or 0
    max_cpu, max_memory = cpu_millis(cfg["maxCpuPerPod"]) or 0, quantity(cfg["maxMemoryPerPod"]) or 0
    if max_cpu and total_cpu > max_cpu:
        report(f"{_subject(args)}: the pod's CPU limits add up to {fmt_cpu(total_cpu)}, above maxCpuPerPod "
               f"{cfg['maxCpuPerPod']}. Fix: split the work over more, smaller pods or raise the policy's maxCpuPerPod.", None)
    if max_memory and total_memory > max_memory:
        report(f"{_subject(args)}: the pod's memory limits add up to {fmt_bytes(total_memory)}, above maxMemoryPerPod "
               f"{cfg['maxMemoryPerPod']}. Fix: smaller pods or raise maxMemoryPerPod.", None)


# ---------------------------------------------------------------------------------------------------------
# Probes
# ---------------------------------------------------------------------------------------------------------

PROBES = ("livenessProbe", "readinessProbe", "startupProbe")


def check_probes(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    workload = _workload(args)
    if workload is None:
        return
    kind, _, pod_spec = workload
    if kind in ("Job", "CronJob"):
        return  # run-to-completion pods are not probed
    required = [p for p in PROBES if p in cfg["requiredProbes"]]
    if not cfg["perContainer"]:
        # kube-score pod-probes: each probe somewhere in the pod (init containers included) is enough.
        everywhere = [ref.container for ref in containers(pod_spec)]
        missing = [p for p in required if all(get(c, p) is None for c in everywhere)]
        if missing and not (cfg["requireAnyProbe"] and len(missing) < len(required)):
            report(f"{_subject(args)}: no container of the pod has a {', '.join(missing)} (perContainer is false). "
                   "Fix: add them (readiness to gate traffic, liveness to restart a hung process).", None)
        return
    for ref in containers(pod_spec):
        if ref.init and not ref.sidecar:
            continue
        missing = [p for p in required if get(ref.container, p) is None]
        if missing and cfg["requireAnyProbe"] and len(missing) < len(required):
            continue  # one of them is enough (Kyverno require-pod-probes)
        if missing:
            report(f"{_subject(args)}: {ref.where} has no {', '.join(missing)}. Fix: add them (startup for slow "
                   "starts, readiness to gate traffic, liveness to restart a hung process).", None)


PROBES_SCHEMA: Schema = {
    "requiredProbes": string_list("Probes every long-running container must have.", list(PROBES)),
    "requireAnyProbe": {"type": "boolean", "default": False,
                        "description": "One of requiredProbes is enough (Kyverno require-pod-probes: liveness, "
                                       "readiness or startup); false: every one of them."},
    "perContainer": {"type": "boolean", "default": True,
                     "description": "Every long-running container has the probes (a hung sidecar without a liveness "
                                    "probe is never restarted). False: each probe in any container of the pod, init "
                                    "containers included, is enough (kube-score pod-probes)."},
}


def _declared_ports(container: Any) -> tuple[set[str], set[int]]:
    names: set[str] = set()
    numbers: set[int] = set()
    for port in items(container, "ports"):
        if get(port, "name"):
            names.add(str(get(port, "name")))
        number = as_int(get(port, "containerPort"))
        if number is not None:
            numbers.add(number)
    return names, numbers


def _probe_port(probe: Any) -> Any:
    for handler in ("httpGet", "tcpSocket", "grpc"):
        port = get(probe, handler, "port")
        if port is not None:
            return port
    return None


def port_declared(port: Any, names: set[str], numbers: set[int]) -> bool:
    number = as_int(port)
    return number in numbers if number is not None else str(port) in names


PROBE_PORTS_SCHEMA: Schema = {
    "requireDeclaredNumericPorts": {
        "type": "boolean", "default": False,
        "description": "A probe on a port number must also find it in the container's ports (a named port must "
                       "always be declared: the kubelet cannot resolve it otherwise; a number works undeclared)."},
}


def check_probe_ports(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    workload = _workload(args)
    if workload is None:
        return
    _, _, pod_spec = workload
    for ref in containers(pod_spec):
        names, numbers = _declared_ports(ref.container)
        for probe_name in PROBES:
            port = _probe_port(get(ref.container, probe_name))
            if port is None or (as_int(port) is not None and not cfg["requireDeclaredNumericPorts"]):
                continue
            if not port_declared(port, names, numbers):
                report(f"{_subject(args)}: {ref.where} {probe_name} uses port {port!r}, which the container does not "
                       f"declare (names {sorted(names)}, numbers {sorted(numbers)}). Fix: probe a declared port, "
                       "preferably by its name.", None)


# ---------------------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------------------

_DIGEST = re.compile(r"@sha256:[a-f0-9]{64}$")


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) of an image reference."""
    digest = None
    if "@" in image:
        image, digest = image.split("@", 1)
    last = image.rsplit("/", 1)[-1]
    tag = None
    if ":" in last:
        image, tag = image.rsplit(":", 1)
    return image, tag, digest


def image_registry(repository: str) -> str:
    first = repository.split("/", 1)[0]
    if "/" in repository and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


IMAGE_SCHEMA: Schema = {
    "requireDigest": {"type": "boolean", "default": False,
                      "description": "Every image must be pinned by digest (image@sha256:...)."},
}
REGISTRY_SCHEMA: Schema = {
    "allowedRegistries": string_list(
        "Image repository prefixes that may be pulled, e.g. 'ghcr.io/example/' or a whole registry 'ghcr.io'.",
        ["ghcr.io/example/"]),
}


def _images(args: ResourceValidationArgs) -> list[tuple[ContainerRef, str]]:
    workload = _workload(args)
    if workload is None:
        return []
    return [(ref, str(get(ref.container, "image", default=""))) for ref in _all_containers(workload[2])]


def check_image_reference(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    for ref, image in _images(args):
        if not image:
            report(f"{_subject(args)}: {ref.where} has no image. Fix: set a pinned image reference.", None)
            continue
        _, tag, digest = split_image(image)
        if digest is None and tag is None:
            report(f"{_subject(args)}: {ref.where} image '{image}' has no tag (it means 'latest'). "
                   "Fix: pin a version tag, e.g. repo:1.4.2.", None)
        elif tag == "latest":
            report(f"{_subject(args)}: {ref.where} image '{image}' uses the 'latest' tag. Fix: pin a version tag.", None)
        if cfg["requireDigest"] and not (digest and _DIGEST.search(image)):
            report(f"{_subject(args)}: {ref.where} image '{image}' is not pinned by digest. Fix: append "
                   "@sha256:<digest> (imageDigest in the stack config; `crane digest <image>` or `docker buildx "
                   "imagetools inspect <image>` prints it).", None)


def check_image_registry(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    allowed = [str(a) for a in cfg["allowedRegistries"]]
    for ref, image in _images(args):
        repository = split_image(image)[0]
        full = repository if image_registry(repository) != "docker.io" or repository.startswith("docker.io/") \
            else f"docker.io/{repository if '/' in repository else 'library/' + repository}"
        if not any(full == a.rstrip("/") or full.startswith(a if a.endswith("/") else a + "/") for a in allowed):
            report(f"{_subject(args)}: {ref.where} image '{image}' is not from an allowed registry "
                   f"({', '.join(allowed)}). Fix: mirror the image into an allowed registry or add it to allowedRegistries.",
                   None)


# ---------------------------------------------------------------------------------------------------------
# Security context
# ---------------------------------------------------------------------------------------------------------

def _effective(pod_spec: Any, container: Any, key: str) -> Any:
    value = get(container, "securityContext", key)
    return value if value is not None else get(pod_spec, "securityContext", key)


NON_ROOT_SCHEMA: Schema = {
    "requireExplicitIds": {
        "type": "boolean", "default": True,
        "description": "runAsUser and runAsGroup must be set (stricter than Checkov CKV_K8S_23, Kyverno "
                       "require-run-as-nonroot and Polaris runAsRootAllowed, which accept runAsNonRoot alone and "
                       "let the image's USER decide)."},
    "requireRunAsNonRoot": {
        "type": "boolean", "default": True,
        "description": "runAsNonRoot: true is required even with a non-zero runAsUser (as Kyverno require-run-as-nonroot "
                       "asks); false: a non-zero runAsUser is enough (Checkov CKV_K8S_23, Polaris runAsRootAllowed)."},
    "minUserId": {"type": "integer", "minimum": 1, "default": 10000,
                  "description": "Lowest runAsUser (Checkov CKV_K8S_40 and kube-score: 10000, above host users)."},
    "minGroupId": {"type": "integer", "minimum": 1, "default": 10000,
                   "description": "Lowest runAsGroup (kube-score: 10000)."},
}


def check_non_root(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    workload = _workload(args)
    if workload is None:
        return
    _, _, pod_spec = workload
    fs_group = as_int(get(pod_spec, "securityContext", "fsGroup"))
    if fs_group == 0:
        report(f"{_subject(args)}: securityContext.fsGroup is 0 (root). Fix: use a non-zero group, e.g. 10001.", None)
    minimum = {"runAsUser": int(cfg["minUserId"]), "runAsGroup": int(cfg["minGroupId"])}
    for ref in _all_containers(pod_spec):
        user = as_int(_effective(pod_spec, ref.container, "runAsUser"))
        non_root_by_id = not cfg["requireRunAsNonRoot"] and (user or 0) > 0
        if truthy(_effective(pod_spec, ref.container, "runAsNonRoot")) is not True and not non_root_by_id:
            report(f"{_subject(args)}: {ref.where} does not set runAsNonRoot: true (pod or container securityContext). "
                   "Fix: set it, and run the image as a non-root user.", None)
        for key in ("runAsUser", "runAsGroup"):
            value = user if key == "runAsUser" else as_int(_effective(pod_spec, ref.container, key))
            if value is None:
                if cfg["requireExplicitIds"]:
                    report(f"{_subject(args)}: {ref.where} sets no {key}; the image's user decides. Fix: set {key} "
                           f"to an id of at least {minimum[key]} (e.g. 10001) in the pod securityContext.", None)
            elif value == 0:
                report(f"{_subject(args)}: {ref.where} runs with {key} 0 (root). Fix: use a non-zero id.", None)
            elif value < minimum[key]:
                report(f"{_subject(args)}: {ref.where} runs with {key} {value}, below {minimum[key]} (ids that low can "
                       f"collide with users of the node). Fix: use {key} {max(minimum[key], 10001)} or raise the image's "
                       "id; or lower the policy's minUserId/minGroupId.", None)


def _container_flag_check(key: str, want: bool, fix: str, unset_ok: bool = False) -> Any:
    def check(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
        workload = _workload(args)
        if workload is None:
            return
        for ref in _all_containers(workload[2]):
            value = truthy(get(ref.container, "securityContext", key))
            if value is not want and not (unset_ok and value is None):
                state = "does not set" if value is None else "sets"
                shown = f"{key}: {str(want).lower()}" if value is None else f"{key}: {str(value).lower()}"
                report(f"{_subject(args)}: {ref.where} {state} {shown}. Fix: {fix}", None)
    return check


check_read_only_root = _container_flag_check(
    "readOnlyRootFilesystem", True,
    "set securityContext.readOnlyRootFilesystem: true and mount an emptyDir where the process writes (/tmp).")
check_no_escalation = _container_flag_check(
    "allowPrivilegeEscalation", False, "set securityContext.allowPrivilegeEscalation: false explicitly.")
check_not_privileged = _container_flag_check(
    "privileged", False, "remove privileged: true; grant the one capability needed instead, if any.", unset_ok=True)

CAPABILITIES_SCHEMA: Schema = {
    "allowedCapabilities": string_list("Capabilities a container may add back after dropping ALL.", ["NET_BIND_SERVICE"]),
    "requireDropAll": {"type": "boolean", "default": True,
                       "description": "Containers must drop ALL (stricter than Checkov CKV_K8S_28, which asks only for "
                                      "NET_RAW, and Polaris insecureCapabilities, a warning). Off: only additions "
                                      "outside allowedCapabilities are violations."},
    "requiredDrops": string_list("With requireDropAll false: capabilities every container must still drop (dropping "
                                 "ALL covers them), e.g. [NET_RAW] as Checkov CKV_K8S_28 and Kyverno "
                                 "require-drop-cap-net-raw ask.", []),
}


def check_capabilities(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    workload = _workload(args)
    if workload is None:
        return
    allowed = {str(c).upper().removeprefix("CAP_") for c in cfg["allowedCapabilities"]}
    for ref in _all_containers(workload[2]):
        drop = {str(c).upper() for c in items(ref.container, "securityContext", "capabilities", "drop")}
        if "ALL" not in drop and cfg["requireDropAll"]:
            report(f"{_subject(args)}: {ref.where} does not drop ALL capabilities. Fix: securityContext.capabilities."
                   "drop: [ALL], then add back only what is needed.", None)
        elif "ALL" not in drop:
            kept = [c for c in (str(c).upper().removeprefix("CAP_") for c in cfg["requiredDrops"])
                    if c not in drop and f"CAP_{c}" not in drop]
            if kept:
                report(f"{_subject(args)}: {ref.where} does not drop {', '.join(kept)}. Fix: securityContext."
                       "capabilities.drop: [ALL] (or at least these).", None)
        added = [str(c).upper().removeprefix("CAP_")
                 for c in items(ref.container, "securityContext", "capabilities", "add")]
        extra = [c for c in added if c not in allowed]
        if extra:
            report(f"{_subject(args)}: {ref.where} adds capabilities {', '.join(extra)} (allowed: "
                   f"{', '.join(sorted(allowed)) or 'none'}). Fix: remove them; SYS_ADMIN, NET_ADMIN, NET_RAW, "
                   "SYS_PTRACE and similar let a container escape or spy on the node.", None)


def check_host_namespaces(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    workload = _workload(args)
    if workload is None:
        return
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if truthy(get(workload[2], key)):
            report(f"{_subject(args)}: {key}: true shares the node's namespace with the pod. Fix: remove {key}.", None)


def check_host_path(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    workload = _workload(args)
    if workload is None:
        return
    for volume in items(workload[2], "volumes"):
        if get(volume, "hostPath") is not None:
            report(f"{_subject(args)}: volume '{get(volume, 'name')}' mounts hostPath {get(volume, 'hostPath', 'path')}. "
                   "Fix: use an emptyDir, a projected volume or a PersistentVolumeClaim.", None)


def check_host_port(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    workload = _workload(args)
    if workload is None:
        return
    for ref in _all_containers(workload[2]):
        for port in items(ref.container, "ports"):
            if as_int(get(port, "hostPort")):
                report(f"{_subject(args)}: {ref.where} binds hostPort {as_int(get(port, 'hostPort'))}. Fix: remove "
                       "hostPort and reach the pod through a Service.", None)


def check_seccomp(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    workload = _workload(args)
    if workload is None:
        return
    _, _, pod_spec = workload
    allowed = {str(t) for t in cfg["allowedProfiles"]}
    pod_type = get(pod_spec, "securityContext", "seccompProfile", "type")
    for ref in _all_containers(pod_spec):
        container_type = get(ref.container, "securityContext", "seccompProfile", "type")
        effective = container_type if container_type is not None else pod_type
        if effective not in allowed:
            report(f"{_subject(args)}: {ref.where} runs with seccomp profile {effective or 'unset (Unconfined)'}. Fix: "
                   "set securityContext.seccompProfile.type: RuntimeDefault on the pod (or every container).", None)


SECCOMP_SCHEMA: Schema = {"allowedProfiles": string_list("Accepted seccomp profile types.", ["RuntimeDefault", "Localhost"])}


TOKEN_SCHEMA: Schema = {
    "exemptPodLabels": {
        "type": "object", "additionalProperties": {"type": "string"}, "default": {},
        "description": "Pods whose template or controller carries all these labels (label -> value) are exempt, e.g. "
                       "{\"app.kubernetes.io/part-of\": \"policy-reporter\"} as Kyverno's restrict-automount-sa-token "
                       "sample has it. Empty (the default): no pod is exempt; a label is no reason for a pod to hold "
                       "an API token, so any entry is a reviewed exception."},
}


def token_exempt(label_sets: list[dict[str, str]], cfg: Mapping[str, Any]) -> bool:
    """The pod template's or the controller's labels carry every label of exemptPodLabels (never when it is empty).
    The controller's count too: Kyverno's sample matches the labels of the object admitted, a CronJob included."""
    wanted = {str(k): str(v) for k, v in dict(cfg["exemptPodLabels"] or {}).items()}
    return bool(wanted) and any(all(labels.get(k) == v for k, v in wanted.items()) for labels in label_sets)


def check_token_automount(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    kt = kube_type(args.resource_type)
    if kt is not None and kt.kind == "ServiceAccount" and kt.group == "core":
        if truthy(get(args.props, "automountServiceAccountToken")) is not False:
            report(f"{_subject(args)}: automountServiceAccountToken is not false. Fix: set it to false and mount a "
                   "projected token only in pods that call the Kubernetes API.", None)
        return
    workload = _workload(args)
    if workload is None or token_exempt([str_map(workload[1], "labels"), str_map(args.props, "metadata", "labels")], cfg):
        return
    # Unset, the pod inherits its ServiceAccount's setting: `k8s-token-automount-effective` (a stack policy)
    # resolves that; only an explicit true, which wins over the ServiceAccount, is decided here.
    if truthy(get(workload[2], "automountServiceAccountToken")) is True:
        report(f"{_subject(args)}: the pod sets automountServiceAccountToken: true (it overrides the ServiceAccount). "
               "Fix: set automountServiceAccountToken: false; pods that need the API mount a short-lived projected "
               "token explicitly.", None)


SECRET_VALUE_PATTERNS = [
    r"-{3,}\s*BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?\s*-{3,}",
    r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@$]+:(?!\$\(|\$\{)[^/\s@]+@",
    r"(?i)(?:^|[;&?\s])(?:password|pwd)=(?!\$\(|\$\{)[^;&\s]+",
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    r"\bgh[pousr]_[A-Za-z0-9]{36,}\b",
    r"\bgithub_pat_[A-Za-z0-9_]{40,}\b",
    r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
    r"\b[sr]k_live_[A-Za-z0-9]{16,}",
    r"\bAIza[0-9A-Za-z_-]{35}\b",
    r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
]
"""Values that are credentials whatever their key is called: private keys, passwords inside connection strings,
and tokens with a recognisable prefix (AWS, GitHub, Slack, Stripe, Google API keys, JWTs)."""

SECRET_ENV_SCHEMA: Schema = {
    "secretValuePatterns": string_list("Regular expressions for values that are credentials whatever the key is "
                                       "named (env literals and ConfigMap data).", SECRET_VALUE_PATTERNS),
    "allowSecretRefs": {
        "type": "boolean", "default": True,
        "description": "Secrets may reach a container as env.valueFrom.secretKeyRef / envFrom.secretRef. Checkov "
                       "CKV_K8S_35 says no (mount them as files: env vars leak into child processes, crash dumps "
                       "and /proc/<pid>/environ); this program's contract with its images is environment variables, "
                       "so the default is true. Set false to require files, as Checkov does."},
    "secretNamePattern": {
        "type": "string",
        "default": r"(?i)(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL|ACCESS_?KEY|AUTH|DSN"
                   r"|CONN(ECTION)?_?STRING|(ACCOUNT|BATCH|SIGNING|ENCRYPTION|MASTER|SHARED|CLIENT)_?KEY|KEY_?CONTENT)",
        "description": "Regular expression for environment variable / ConfigMap key names that hold secrets.",
    },
}


_compiled: dict[tuple[str, ...], list[re.Pattern[str]]] = {}


def _value_patterns(cfg: Mapping[str, Any]) -> list[re.Pattern[str]]:
    key = tuple(str(p) for p in cfg["secretValuePatterns"])
    if key not in _compiled:
        _compiled[key] = [re.compile(p) for p in key]
    return _compiled[key]


def _secret_value(value: Any, patterns: list[re.Pattern[str]]) -> bool:
    return isinstance(value, str) and any(p.search(value) for p in patterns)


def check_secret_env(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    pattern = re.compile(str(cfg["secretNamePattern"]))
    values = _value_patterns(cfg)
    kt = kube_type(args.resource_type)
    if kt is not None and kt.kind == "ConfigMap" and kt.group == "core":
        for key, value in str_map(args.props, "data").items():
            if pattern.search(key) or _secret_value(value, values):
                why = "looks like a secret" if pattern.search(key) else "holds a credential (by its content)"
                report(f"{_subject(args)}: key '{key}' {why} but sits in a ConfigMap (plain text, readable by anyone "
                       "who can read ConfigMaps). Fix: move it to a Secret (secretEnv in the stack config).", None)
        return
    workload = _workload(args)
    if workload is None:
        return
    for ref in _all_containers(workload[2]):
        for env in items(ref.container, "env"):
            name, value = str(get(env, "name", default="")), get(env, "value")
            if (pattern.search(name) and value not in (None, "")) or _secret_value(value, values):
                report(f"{_subject(args)}: {ref.where} passes '{name}' as a plain env literal"
                       f"{'' if pattern.search(name) else ' whose value is a credential'}. Fix: store it in a "
                       "Secret and use env.valueFrom.secretKeyRef.", None)
            if not cfg["allowSecretRefs"] and get(env, "valueFrom", "secretKeyRef") is not None:
                report(f"{_subject(args)}: {ref.where} reads Secret key into env '{name}' (allowSecretRefs is false). "
                       "Fix: mount the Secret as a file (a secret volume) and read it from there.", None)
        if not cfg["allowSecretRefs"]:
            for source in items(ref.container, "envFrom"):
                if get(source, "secretRef") is not None:
                    report(f"{_subject(args)}: {ref.where} loads Secret '{get(source, 'secretRef', 'name')}' into env "
                           "(allowSecretRefs is false). Fix: mount the Secret as a file instead.", None)


def check_default_namespace(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    if args.resource_type.startswith("kubernetes:helm.sh/"):
        namespace = get(args.props, "namespace")
        if namespace in (None, "", "default"):
            report(f"Helm release '{get(args.props, 'name', default=args.name)}' installs into the 'default' namespace. "
                   "Fix: set namespace (and createNamespace) on the release.", None)
        return
    kt = kube_type(args.resource_type)
    if kt is None or kt.kind in CLUSTER_SCOPED_KINDS or built_in(args):
        return
    namespace = get(args.props, "metadata", "namespace")
    provider_namespace = get(args.provider.props, "namespace") if args.provider is not None else None
    effective = namespace or provider_namespace or "default"
    if effective == "default":
        report(f"{_subject(args)} is in the 'default' namespace{'' if namespace else ' (metadata.namespace is unset)'}. "
               "Fix: set metadata.namespace to the platform's namespace.", None)


MIN_REPLICAS_SCHEMA: Schema = {
    "minReplicas": {"type": "integer", "minimum": 1, "default": 2,
                    "description": "Fewest replicas of a long-running workload (and of an autoscaler's minReplicas)."},
    "singletons": string_list("Reviewed exceptions, as namespace/name: workloads that cannot run a second replica "
                              "(e.g. tracing/tempo, monolithic on one volume).", []),
}


def check_min_replicas(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    kt = kube_type(args.resource_type)
    if kt is None or kt.group_kind not in LONG_RUNNING_GROUP_KINDS:
        return
    replicas = get(args.props, "spec", "replicas")
    if replicas is None:
        return  # owned by an autoscaler, or the API default of 1: the stack policy autoscaled-min-replicas decides
    if f"{get(args.props, 'metadata', 'namespace')}/{metadata_name(args.props)}" in cfg.get("singletons", []):
        return
    if (as_int(replicas) or 0) < int(cfg["minReplicas"]):
        report(f"{_subject(args)} runs {as_int(replicas)} replica(s); at least {cfg['minReplicas']} are required so "
               "one pod can be lost or evicted without an outage. Fix: raise replicas (or autoscaling.minReplicas).", None)


POD_SECURITY_LEVELS = {"privileged": 0, "baseline": 1, "restricted": 2}
POD_SECURITY_SCHEMA: Schema = {
    "requiredLevel": {"type": "string", "enum": ["baseline", "restricted"], "default": "restricted",
                      "description": "Lowest pod-security.kubernetes.io/enforce level a namespace may have."},
    "namespaceLevels": {"type": "object", "additionalProperties": {"enum": ["privileged", "baseline", "restricted"]},
                        "default": {"kube-system": "privileged"},
                        "description": "Reviewed exceptions: namespace -> lowest level it may enforce (e.g. a CNI "
                                       "agent's or node-exporter's namespace needs privileged)."},
    "requiredModes": {"type": "array", "items": {"enum": ["enforce", "warn", "audit"]}, "default": ["enforce", "warn"],
                      "description": "Pod Security Admission modes every namespace labels (warn/audit at least the "
                                     "enforce level)."},
}


def check_pod_security_labels(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    kt = kube_type(args.resource_type)
    if kt is None or kt.group_kind != "core/Namespace":
        return
    name = metadata_name(args.props)
    labels = str_map(args.props, "metadata", "labels")
    required = str(dict(cfg["namespaceLevels"]).get(name, cfg["requiredLevel"]))
    enforce = labels.get("pod-security.kubernetes.io/enforce")
    if enforce is None:
        report(f"Namespace '{name}' has no pod-security.kubernetes.io/enforce label (Pod Security Admission falls back "
               f"to the cluster default, privileged). Fix: label it pod-security.kubernetes.io/enforce: {required} "
               "(and warn/audit the same).", None)
    elif POD_SECURITY_LEVELS.get(enforce, -1) < POD_SECURITY_LEVELS[required]:
        report(f"Namespace '{name}' enforces Pod Security '{enforce}', below '{required}'. Fix: set "
               f"pod-security.kubernetes.io/enforce: {required}, or record a reviewed exception in namespaceLevels.", None)
    for mode in (str(m) for m in cfg["requiredModes"] if str(m) != "enforce"):
        level = labels.get(f"pod-security.kubernetes.io/{mode}")
        if level is None or POD_SECURITY_LEVELS.get(level, -1) < POD_SECURITY_LEVELS.get(enforce or required, 0):
            report(f"Namespace '{name}' {'has no' if level is None else f'sets {level!r} as'} "
                   f"pod-security.kubernetes.io/{mode} label (enforce is {enforce or 'unset'}). Fix: label it "
                   f"pod-security.kubernetes.io/{mode}: {enforce or required} so violations are also reported.", None)


SERVICE_TYPE_SCHEMA: Schema = {
    "allowedServiceTypes": string_list("Service types allowed anywhere.", ["ClusterIP"]),
    "exemptNamespaces": string_list("Namespaces whose Services may use any type (e.g. the ingress gateway's).", []),
}


def check_service_type(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    kt = kube_type(args.resource_type)
    if kt is None or kt.group_kind != "core/Service":
        return
    service_type = str(get(args.props, "spec", "type", default="ClusterIP"))
    namespace = get(args.props, "metadata", "namespace", default="default")
    if service_type not in cfg["allowedServiceTypes"] and namespace not in cfg["exemptNamespaces"]:
        report(f"{_subject(args)} is of type {service_type} (allowed: {', '.join(cfg['allowedServiceTypes'])}). Fix: use "
               "ClusterIP and expose it through the Istio ingress gateway, or allow it in the policy config.", None)


_ISTIO_TLS_MODES = {"SIMPLE", "MUTUAL", "ISTIO_MUTUAL", "OPTIONAL_MUTUAL"}


def check_istio_gateway_tls(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    kt = kube_type(args.resource_type)
    if kt is None or kt.group_kind != "networking.istio.io/Gateway":
        return
    for index, server in enumerate(items(args.props, "spec", "servers")):
        protocol = str(get(server, "port", "protocol", default="")).upper()
        where = f"{_subject(args)} server {index} (port {as_int(get(server, 'port', 'number'))} {protocol})"
        mode = get(server, "tls", "mode")
        if protocol in ("HTTPS",):
            if mode not in _ISTIO_TLS_MODES:
                report(f"{where} terminates no TLS (tls.mode {mode or 'unset'}). Fix: tls.mode SIMPLE (or MUTUAL) with a "
                       "credentialName; PASSTHROUGH belongs on protocol TLS servers.", None)
            elif mode in ("SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL") and not get(server, "tls", "credentialName") \
                    and not get(server, "tls", "serverCertificate"):
                report(f"{where} has tls.mode {mode} without credentialName. Fix: reference the certificate Secret.", None)
        elif protocol == "TLS":
            if mode is None:
                report(f"{where} sets no tls.mode. Fix: PASSTHROUGH or SIMPLE/MUTUAL with a credentialName.", None)
        elif protocol in ("HTTP", "HTTP2", "") and truthy(get(server, "tls", "httpsRedirect")) is not True:
            report(f"{where} serves plain HTTP. Fix: set tls.httpsRedirect: true so clients are sent to HTTPS.", None)
        minimum = get(server, "tls", "minProtocolVersion")
        if minimum in ("TLSV1_0", "TLSV1_1"):
            report(f"{where} accepts {minimum}. Fix: minProtocolVersion TLSV1_2 or later.", None)


def check_peer_authentication(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    kt = kube_type(args.resource_type)
    if kt is None or kt.group_kind != "security.istio.io/PeerAuthentication":
        return
    mode = get(args.props, "spec", "mtls", "mode")
    mesh_root = get(args.props, "metadata", "namespace") == cfg["meshRootNamespace"] and \
        get(args.props, "spec", "selector") is None
    if mode in ("PERMISSIVE", "DISABLE") or (mode in (None, "UNSET") and mesh_root):
        report(f"{_subject(args)} sets mTLS mode {mode or 'unset'}{' for the whole mesh' if mesh_root else ''}. Fix: "
               "mtls.mode: STRICT.", None)
    port_levels = get(args.props, "spec", "portLevelMtls", default={})
    allowed_ports = {str(as_int(p)) for p in cfg["permissivePorts"]}
    for port in port_levels:
        port_mode = get(port_levels, port, "mode")
        if port_mode == "PERMISSIVE" and str(port) in allowed_ports:
            continue  # a reviewed exception, e.g. metrics scraped by a Prometheus outside the mesh
        if port_mode in ("PERMISSIVE", "DISABLE"):
            report(f"{_subject(args)} lowers port {port} to mTLS {port_mode}. Fix: remove the port-level exception.", None)


LABELS_SCHEMA: Schema = {
    "requiredLabels": string_list("Labels every workload, its pod template and every Service carry.", [
        "app.kubernetes.io/name", "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by"]),
    "checkControllerMetadata": {
        "type": "boolean", "default": True,
        "description": "The labels are required on the controller's own metadata (and on Services, HPAs, PDBs) too, "
                       "not only on the pod template (Kyverno require-labels checks pods only)."},
}


def check_recommended_labels(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    kt = kube_type(args.resource_type)
    if kt is None or built_in(args):
        return
    targets: list[tuple[str, Any]] = []
    workload = _workload(args)
    controller = bool(cfg["checkControllerMetadata"])
    if workload is not None:
        targets = [("pod template", workload[1])]
        if controller and kt.kind != "Pod":
            targets.insert(0, ("metadata", get(args.props, "metadata")))
    elif controller and kt.group_kind in ("core/Service", "autoscaling/HorizontalPodAutoscaler",
                                          "policy/PodDisruptionBudget"):
        targets = [("metadata", get(args.props, "metadata"))]
    for where, meta in targets:
        labels = str_map(meta, "labels")
        missing = [label for label in cfg["requiredLabels"] if label not in labels]
        if missing:
            report(f"{_subject(args)}: {where} lacks {', '.join(missing)}. Fix: add the recommended app.kubernetes.io "
                   "labels (components/common/labels.py standard_labels).", None)


def policies() -> list[ResourceValidationPolicy]:
    return [
        resource_policy("k8s-resource-requests-limits",
                        "Every container sets CPU and memory requests and limits (ephemeral-storage when the pod uses a "
                        "disk emptyDir); pods stay under the configured size.",
                        check_resources, schema=RESOURCES_SCHEMA,
                        remediation="Set resources.requests and resources.limits on every container.", applies=is_workload),
        resource_policy("k8s-probes", "Long-running containers have liveness, readiness and startup probes.",
                        check_probes, schema=PROBES_SCHEMA,
                        remediation="Add livenessProbe, readinessProbe and startupProbe to each container.", applies=is_workload),
        resource_policy("k8s-probe-ports-declared", "Probes target a port the container declares (by name or number).",
                        check_probe_ports, schema=PROBE_PORTS_SCHEMA,
                        remediation="Point the probe at a declared containerPort, preferably by name.", applies=is_workload),
        resource_policy("k8s-image-reference", "Images carry a pinned tag (not latest), and a digest where required.",
                        check_image_reference, schema=IMAGE_SCHEMA, remediation="Use repo:version (and @sha256:...).",
                        applies=is_workload),
        resource_policy("k8s-image-allowed-registries", "Images come from an allowed registry.",
                        check_image_registry, schema=REGISTRY_SCHEMA,
                        remediation="Mirror the image into an allowed registry or extend allowedRegistries.",
                        applies=is_workload),
        resource_policy("k8s-run-as-non-root", "Containers run as non-root with non-zero UID and GID.",
                        check_non_root, schema=NON_ROOT_SCHEMA,
                        remediation="Set runAsNonRoot: true, runAsUser and runAsGroup (at least minUserId/minGroupId).",
                        applies=is_workload),
        resource_policy("k8s-read-only-root-filesystem", "Containers have a read-only root filesystem.",
                        check_read_only_root, remediation="readOnlyRootFilesystem: true plus emptyDir mounts.",
                        applies=is_workload),
        resource_policy("k8s-no-privilege-escalation", "Containers set allowPrivilegeEscalation: false.",
                        check_no_escalation, remediation="Set securityContext.allowPrivilegeEscalation: false.",
                        applies=is_workload),
        resource_policy("k8s-drop-all-capabilities", "Containers drop ALL capabilities and add back none dangerous.",
                        check_capabilities, schema=CAPABILITIES_SCHEMA,
                        remediation="capabilities.drop: [ALL]; add only allowed capabilities.", applies=is_workload),
        resource_policy("k8s-not-privileged", "No privileged containers.", check_not_privileged,
                        remediation="Remove privileged: true.", applies=is_workload),
        resource_policy("k8s-no-host-namespaces", "Pods do not share the node's network, PID or IPC namespace.",
                        check_host_namespaces, remediation="Remove hostNetwork, hostPID and hostIPC.", applies=is_workload),
        resource_policy("k8s-no-host-path", "Pods mount no hostPath volumes.", check_host_path,
                        remediation="Use emptyDir, projected volumes or PVCs.", applies=is_workload),
        resource_policy("k8s-no-host-port", "Containers bind no hostPort.", check_host_port,
                        remediation="Remove hostPort; use a Service.", applies=is_workload),
        resource_policy("k8s-seccomp-runtime-default", "Pods run under the RuntimeDefault seccomp profile.",
                        check_seccomp, schema=SECCOMP_SCHEMA,
                        remediation="securityContext.seccompProfile.type: RuntimeDefault on the pod.", applies=is_workload),
        resource_policy("k8s-no-token-automount", "Service account tokens are not automounted (pods and ServiceAccounts).",
                        check_token_automount, schema=TOKEN_SCHEMA, remediation="automountServiceAccountToken: false."),
        resource_policy("k8s-no-secret-env-literals", "Secret-looking values are not passed as plain env literals or "
                        "ConfigMap data.", check_secret_env, schema=SECRET_ENV_SCHEMA,
                        remediation="Move the value into a Secret and reference it with secretKeyRef."),
        resource_policy("k8s-no-default-namespace", "Nothing is deployed into the default namespace.",
                        check_default_namespace, remediation="Set metadata.namespace (or the release namespace)."),
        resource_policy("k8s-min-replicas", "Long-running workloads with a fixed replica count run at least the minimum.",
                        check_min_replicas, schema=MIN_REPLICAS_SCHEMA, remediation="Raise spec.replicas.", applies=is_workload),
        resource_policy("k8s-namespace-pod-security", "Namespaces carry Pod Security Admission labels at the required "
                        "level.", check_pod_security_labels, schema=POD_SECURITY_SCHEMA,
                        remediation="Label the namespace pod-security.kubernetes.io/enforce|warn|audit: restricted.",
                        applies=of_kinds("core/Namespace")),
        resource_policy("k8s-service-type", "Services are ClusterIP unless their type is allowed by config.",
                        check_service_type, schema=SERVICE_TYPE_SCHEMA,
                        remediation="Use ClusterIP behind the ingress gateway.", applies=of_kinds("core/Service")),
        resource_policy("istio-gateway-tls", "Istio Gateways terminate TLS on HTTPS servers and redirect plain HTTP.",
                        check_istio_gateway_tls, remediation="tls.mode SIMPLE + credentialName; httpsRedirect on HTTP.",
                        applies=of_kinds("networking.istio.io/Gateway")),
        resource_policy("istio-peer-authentication-strict", "Istio PeerAuthentication is never weaker than STRICT.",
                        check_peer_authentication,
                        schema={"meshRootNamespace": {"type": "string", "default": "istio-system",
                                                      "description": "Istio's root namespace (mesh-wide policies)."},
                                "permissivePorts": {"type": "array", "items": {"type": "integer"}, "default": [],
                                                    "description": "Ports that may be PERMISSIVE at port level "
                                                                   "(reviewed: a non-mesh Prometheus scraping metrics)."}},
                        remediation="mtls.mode: STRICT, no PERMISSIVE/DISABLE port exceptions.",
                        applies=of_kinds("security.istio.io/PeerAuthentication")),
        resource_policy("k8s-recommended-labels", "Workloads, pod templates and Services carry the recommended "
                        "app.kubernetes.io labels.", check_recommended_labels, schema=LABELS_SCHEMA, level=ADVISORY,
                        remediation="Add app.kubernetes.io/name, part-of and managed-by."),
    ]
