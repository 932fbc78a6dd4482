"""Runtime rules for long browser sessions: what node scale-down and the node autoscaler's planning do after apply.

- `browser-scale-down-eviction` (stack): a browser pod drains its sessions for up to its grace period (about an
  hour), but node scale-down evicts with a limit of its own: cluster-autoscaler waits `max-graceful-termination-sec`
  (600 s unless its release sets it), GKE's autoscaler up to 10 minutes. Browser pods must keep their node
  (`cluster-autoscaler.kubernetes.io/safe-to-evict: "false"`, which both autoscalers respect), and an in-stack
  cluster-autoscaler must wait at least the grace period for any pod it does evict.
- `node-group-one-shape` (resource): cluster-autoscaler builds one template node per node group and plans every
  scale-up of the group with that shape, so an EKS node group may list several instance types only if they have
  the same vCPU and memory (shapes from the capacity table, `capacity/prices.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Policy, ReportViolation, ResourceValidationArgs, StackValidationArgs

from .config import Schema, note, per_resource, resource_policy, stack_policy
from .pools import EKS_NODE_GROUP, GKE_NODE_POOL
from .props import as_int, get, items, of_types
from .stack import BROWSER_SCHEMA, _browsers, _model

SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"
MAX_GRACEFUL = "max-graceful-termination-sec"

SCALE_DOWN_SCHEMA: Schema = {
    **BROWSER_SCHEMA,
    "clusterAutoscalerDefaultSeconds": {
        "type": "integer", "minimum": 0, "default": 600,
        "description": "cluster-autoscaler's --max-graceful-termination-sec when its release does not set it."},
    "gkeScaleDownSeconds": {
        "type": "integer", "minimum": 0, "default": 600,
        "description": "The longest grace period GKE's cluster autoscaler grants a pod it evicts on scale-down "
                       "(10 minutes; not configurable on GKE Standard)."},
}


def _cluster_autoscaler_limit(release: Any, default: int) -> int:
    """The release's --max-graceful-termination-sec: `extraArgs` (the chart renders `--key=value`), then
    `customArgs` (literal arguments), else the binary's default."""
    value = as_int(get(release.props, "values", "extraArgs", MAX_GRACEFUL))
    for argument in items(release.props, "values", "customArgs"):
        text = str(argument)
        if text.startswith(f"--{MAX_GRACEFUL}="):
            value = as_int(text.split("=", 1)[1], value)
    return default if value is None else value


def _scalers(args: StackValidationArgs, cfg: Mapping[str, Any]) -> list[tuple[str, int, bool]]:
    """The node autoscalers that scale this stack's nodes down: (what, eviction limit in seconds, configurable)."""
    model = _model(args, "browser-scale-down-eviction")
    found: list[tuple[str, int, bool]] = []
    release = model.release("cluster-autoscaler")
    if release is not None:
        limit = _cluster_autoscaler_limit(release, int(cfg["clusterAutoscalerDefaultSeconds"]))
        found.append((f"cluster-autoscaler ({MAX_GRACEFUL} {limit})", limit, True))
    if any(r.resource_type == GKE_NODE_POOL and get(r.props, "autoscaling") is not None for r in args.resources):
        limit = int(cfg["gkeScaleDownSeconds"])
        found.append((f"GKE's cluster autoscaler (at most {limit}s per pod on scale-down)", limit, False))
    return found


def check_scale_down_eviction(args: StackValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    model = _model(args, "browser-scale-down-eviction")
    browsers = _browsers(model, cfg)
    if not browsers:
        return
    scalers = _scalers(args, cfg)
    if not scalers:
        note("[browser-scale-down-eviction] no node autoscaler in the stack (no cluster-autoscaler release, no "
             "autoscaled GKE node pool): nothing scales nodes down")
        return
    for workload in browsers:
        with per_resource("browser-scale-down-eviction", workload.urn):
            grace = as_int(get(workload.pod_spec, "terminationGracePeriodSeconds"), 30) or 0
            pinned = workload.pod_annotations.get(SAFE_TO_EVICT) == "false"
            for what, limit, configurable in scalers:
                if not pinned and grace > min(limit, int(cfg["clusterAutoscalerDefaultSeconds"])):
                    effect = (f"kills it after {limit}s, cutting its sessions" if grace > limit
                              else f"evicts it mid-session and holds the node up to {grace}s while it drains")
                    report(f"{workload.title} drains sessions for up to {grace}s (terminationGracePeriodSeconds), but "
                           f"{what} scales its node down without waiting for them: it {effect}. Fix: annotate the pod "
                           f"template {SAFE_TO_EVICT}: \"false\", so the node stays until the HPA/KEDA has scaled the "
                           "pods in and is removed empty.", workload.urn)
                if configurable and grace > limit:
                    report(f"{workload.title} drains sessions for up to {grace}s, but {what} kills any pod it evicts "
                           f"after {limit}s. Fix: set the release's extraArgs.{MAX_GRACEFUL} to at least {grace} (the "
                           "stack derives it from the browser's grace period).", workload.urn)


def check_one_shape(args: ResourceValidationArgs, cfg: Mapping[str, Any], report: ReportViolation) -> None:
    if args.resource_type != EKS_NODE_GROUP:
        return
    import capacity  # the repo's shared capacity model (the pack puts the repo root on sys.path)

    types = [str(t) for t in items(args.props, "instanceTypes")]
    if len(types) < 2:
        return
    unknown = [t for t in types if t not in capacity.INSTANCE_TYPES]
    if unknown:
        note(f"[node-group-one-shape] node group {args.name}: {', '.join(unknown)} not in the capacity table, shapes "
             "not compared", args.urn)
        return
    shapes = {t: (capacity.INSTANCE_TYPES[t].vcpu, capacity.INSTANCE_TYPES[t].memory_gib) for t in types}
    if len(set(shapes.values())) > 1:
        described = ", ".join(f"{t} ({vcpu} vCPU / {memory:g} GiB)" for t, (vcpu, memory) in shapes.items())
        report(f"Node group {args.name} mixes instance shapes: {described}. cluster-autoscaler plans every scale-up of "
               "a group with one type's shape, so it adds too few or too many nodes for pending pods. Fix: one shape "
               "per node group (e.g. c7i.2xlarge with c6i.2xlarge); other shapes in a group of their own.", args.urn)


def policies() -> list[Policy]:
    return [
        stack_policy("browser-scale-down-eviction", "Browser pods keep their node on node scale-down (safe-to-evict "
                     "\"false\"), and an in-stack cluster-autoscaler waits at least their grace period for pods it "
                     "evicts.", check_scale_down_eviction, schema=SCALE_DOWN_SCHEMA,
                     remediation="safe-to-evict \"false\" on browser pods; max-graceful-termination-sec >= their grace."),
        resource_policy("node-group-one-shape", "An EKS node group lists only instance types of one vCPU/memory "
                        "shape (cluster-autoscaler plans with one of them).", check_one_shape,
                        remediation="One shape per node group; several types only with identical vCPU and memory.",
                        applies=of_types(EKS_NODE_GROUP)),
    ]
