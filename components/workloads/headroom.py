"""Headroom for browser pools: placeholder pods that keep warm nodes ahead of a burst of sessions.

Each placeholder requests exactly one browser pod as the node sees it (its containers, /dev/shm counted as memory,
the mesh sidecar) and carries the pool's nodeSelector, tolerations and node preferences, so it sits where the next
browser pod would go. When sessions arrive, the scheduler preempts placeholders (PriorityClass
`browser-platform-headroom`, the lowest) and the browser pods start at once; the evicted placeholders go Pending,
and the node autoscaler adds nodes for them while the burst is served. What the headroom costs and the time it
buys: `make capacity` (capacity/headroom.py).

The placeholders live in a namespace of their own (`<namespace>-headroom`), so nothing of the workloads'
namespace selects them: no Service sends traffic to them, no PodDisruptionBudget protects them (a PDB would slow
the preemption that is their whole purpose), no HPA/KEDA trigger counts them, and no sidecar is injected (their
requests already include the browser pod's sidecar). The namespace denies all traffic; a pause container needs
none. Pod Security `restricted`: non-root, read-only root filesystem, no capabilities, RuntimeDefault seccomp.

Runtime semantics (tests/test_headroom.py, policy/browser_platform_policies/priorities.py):
- The class is above cluster-autoscaler's expendable cutoff (-10), or Pending placeholders would add no node.
- `preemptionPolicy: Never` (from the class): a placeholder never evicts anything to get a place.
- `cluster-autoscaler.kubernetes.io/safe-to-evict: "true"`: a placeholder never keeps a node from scale-down on
  its own account (it has no local data); while it holds a node's requests, that node is counted as used.
- At the pool's maxNodes the evicted placeholders stay Pending: headroom reserves capacity below the pool's
  ceiling, never above it (the pool is sized for maxSessions without them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.apps.v1 import DeploymentSpecArgs, DeploymentStrategyArgs, RollingUpdateDeploymentArgs
from pulumi_kubernetes.core.v1 import (
    CapabilitiesArgs,
    ContainerArgs,
    ExecActionArgs,
    PodSecurityContextArgs,
    PodSpecArgs,
    PodTemplateSpecArgs,
    ProbeArgs,
    ResourceQuotaSpecArgs,
    ResourceRequirementsArgs,
    SeccompProfileArgs,
    SecurityContextArgs,
    TolerationArgs,
    TopologySpreadConstraintArgs,
)
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, ObjectMetaArgs
from pulumi_kubernetes.networking.v1 import (
    NetworkPolicyEgressRuleArgs,
    NetworkPolicyPeerArgs,
    NetworkPolicyPortArgs,
    NetworkPolicySpecArgs,
)

from stack_config.base import cpu_millicores, format_cpu, format_memory, memory_bytes
from stack_config.cluster import Taint
from stack_config.workloads import ComputeResources

from ..common.labels import PART_OF, selector_labels, standard_labels
from ..common.quota import ExtraPodCost
from .workload import SAFE_TO_EVICT, NodePreference, preferred_affinity

PAUSE_UID = 65535
"""The pause image's own user (it runs as 65535:65535); named explicitly for runAsNonRoot."""
HEADROOM_COMPONENT = "headroom"


def placeholder_requests(requests: ComputeResources, shm_size: str | None,
                         sidecar: ExtraPodCost | None = None) -> ComputeResources:
    """One browser pod as a node carries it: its container's requests, /dev/shm as memory (the memory-backed
    emptyDir is charged to the pod, though the scheduler does not count it) and the sidecar's requests."""
    cpu = cpu_millicores(requests.cpu)
    memory = memory_bytes(requests.memory) + (memory_bytes(shm_size) if shm_size else 0)
    storage = memory_bytes(requests.ephemeral_storage)
    if sidecar is not None:
        cpu += cpu_millicores(sidecar.requests.cpu)
        memory += memory_bytes(sidecar.requests.memory)
        storage += memory_bytes(sidecar.requests.ephemeral_storage)
    return ComputeResources(cpu=format_cpu(cpu), memory=format_memory(memory), ephemeral_storage=format_memory(storage))


@dataclass(frozen=True)
class PlaceholderPool:
    """Headroom for one browser pool, in the terms the scheduler sees: what one of its pods requests and where it
    may run. Taken as data, so any number of named browser pools can each have their own."""

    name: str
    """The browser workload's name; its Deployment is `<name>-headroom`."""
    pods: int
    requests: ComputeResources
    """One browser pod as scheduled (`placeholder_requests`)."""
    node_selector: dict[str, str]
    tolerations: list[Taint] = field(default_factory=list)
    preferred_nodes: list[NodePreference] = field(default_factory=list)
    image: str = ""


@dataclass(frozen=True)
class HeadroomArgs:
    namespace: str
    pools: list[PlaceholderPool]
    priority_class_name: str
    """The lowest class (components/services/priority_classes.py HEADROOM); it must exist before the pods."""
    after: list[pulumi.Resource] = field(default_factory=list)


def quota_for(pools: list[PlaceholderPool]) -> dict[str, str]:
    """Exactly the placeholders (maxSurge 0, so a rollout never adds one), requests = limits."""
    pods = sum(pool.pods for pool in pools)
    cpu = sum(pool.pods * cpu_millicores(pool.requests.cpu) for pool in pools)
    memory = sum(pool.pods * memory_bytes(pool.requests.memory) for pool in pools)
    storage = sum(pool.pods * memory_bytes(pool.requests.ephemeral_storage) for pool in pools)
    hard = {"pods": str(pods)}
    for kind in ("requests", "limits"):
        hard.update({f"{kind}.cpu": format_cpu(cpu), f"{kind}.memory": format_memory(memory),
                     f"{kind}.ephemeral-storage": format_memory(storage)})
    hard.update({"services.loadbalancers": "0", "services.nodeports": "0"})
    return hard




def _pause_probe(period: int, failures: int) -> ProbeArgs:
    # The pause binary serves nothing; `/pause -v` prints its version and exits 0, so the probe checks what there
    # is to check: the container is running and the runtime can still exec in it.
    return ProbeArgs(exec_=ExecActionArgs(command=["/pause", "-v"]), period_seconds=period,
                     failure_threshold=failures, timeout_seconds=5)


class Headroom(pulumi.ComponentResource):
    namespace: k8s.core.v1.Namespace
    deployments: dict[str, k8s.apps.v1.Deployment]

    def __init__(self, name: str, args: HeadroomArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:workloads:Headroom", name, None, opts)
        labels = standard_labels(HEADROOM_COMPONENT)
        self.namespace = k8s.core.v1.Namespace(f"{name}-namespace", metadata=ObjectMetaArgs(name=args.namespace, labels={
            "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest",
            "pod-security.kubernetes.io/audit": "restricted", "pod-security.kubernetes.io/warn": "restricted",
            "app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": "pulumi"}),
            opts=pulumi.ResourceOptions(parent=self))
        inside = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])

        def meta(object_name: str, object_labels: dict[str, str] | None = None) -> ObjectMetaArgs:
            return ObjectMetaArgs(name=object_name, namespace=args.namespace, labels=object_labels or labels)

        service_account = k8s.core.v1.ServiceAccount(f"{name}-service-account", metadata=meta(HEADROOM_COMPONENT),
                                                     automount_service_account_token=False, opts=inside)
        quota = k8s.core.v1.ResourceQuota(f"{name}-quota", metadata=meta("headroom-quota"),
                                          spec=ResourceQuotaSpecArgs(hard=quota_for(args.pools)), opts=inside)
        # A pause container talks to nothing: deny all. DNS stays open like in every namespace of the platform
        # (the pack's default-deny-with-dns rule), harmless for a process that never resolves a name.
        deny = k8s.networking.v1.NetworkPolicy(f"{name}-default-deny", metadata=meta("default-deny-all"),
                                               spec=NetworkPolicySpecArgs(pod_selector=LabelSelectorArgs(),
                                                                          policy_types=["Ingress", "Egress"]),
                                               opts=inside)
        k8s.networking.v1.NetworkPolicy(f"{name}-allow-dns", metadata=meta("allow-dns-egress"), spec=NetworkPolicySpecArgs(
            pod_selector=LabelSelectorArgs(), policy_types=["Egress"],
            egress=[NetworkPolicyEgressRuleArgs(
                to=[NetworkPolicyPeerArgs(
                    namespace_selector=LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": "kube-system"}),
                    pod_selector=LabelSelectorArgs(match_labels={"k8s-app": "kube-dns"}))],
                ports=[NetworkPolicyPortArgs(protocol="UDP", port=53), NetworkPolicyPortArgs(protocol="TCP", port=53)])]),
            opts=inside)

        self.deployments = {}
        for pool in args.pools:
            self.deployments[pool.name] = self._deployment(name, args, pool, meta,
                                                           [service_account, quota, deny, *args.after])
        self.register_outputs({"namespace": args.namespace, "pods": {p.name: p.pods for p in args.pools}})

    def _deployment(self, name: str, args: HeadroomArgs, pool: PlaceholderPool,
                    meta: Callable[[str, dict[str, str] | None], ObjectMetaArgs],
                    depends: list[pulumi.Resource]) -> k8s.apps.v1.Deployment:
        component = f"{pool.name}-{HEADROOM_COMPONENT}"
        selector = selector_labels(component)
        labels = standard_labels(component)
        amounts = {"cpu": pool.requests.cpu, "memory": pool.requests.memory,
                   "ephemeral-storage": pool.requests.ephemeral_storage}
        pod_spec = PodSpecArgs(
            service_account_name=HEADROOM_COMPONENT,
            automount_service_account_token=False,
            enable_service_links=False,
            priority_class_name=args.priority_class_name,
            security_context=PodSecurityContextArgs(run_as_non_root=True, run_as_user=PAUSE_UID, run_as_group=PAUSE_UID,
                                                    seccomp_profile=SeccompProfileArgs(type="RuntimeDefault")),
            node_selector=dict(pool.node_selector),
            tolerations=[TolerationArgs(key=t.key, operator="Equal", value=t.value, effect=t.effect)
                         for t in pool.tolerations] or None,
            affinity=preferred_affinity(pool.preferred_nodes),
            # Warm capacity in every zone the pool spans, as the browser pods spread; a preference only, so a
            # placeholder never waits for a zone.
            topology_spread_constraints=[TopologySpreadConstraintArgs(
                topology_key="topology.kubernetes.io/zone", max_skew=1, when_unsatisfiable="ScheduleAnyway",
                label_selector=LabelSelectorArgs(match_labels=selector))],
            # Nothing to drain: a preempting browser pod waits for its victims' grace period, so make it none.
            termination_grace_period_seconds=0,
            containers=[ContainerArgs(
                name="pause",
                image=pool.image,
                image_pull_policy="IfNotPresent",  # pinned by digest
                # Requests = limits: Guaranteed QoS, the last class the kubelet evicts under node pressure, and the
                # quota counts exactly this.
                resources=ResourceRequirementsArgs(requests=dict(amounts), limits=dict(amounts)),
                security_context=SecurityContextArgs(
                    run_as_non_root=True, run_as_user=PAUSE_UID, run_as_group=PAUSE_UID,
                    allow_privilege_escalation=False, privileged=False, read_only_root_filesystem=True,
                    capabilities=CapabilitiesArgs(drop=["ALL"]), seccomp_profile=SeccompProfileArgs(type="RuntimeDefault")),
                startup_probe=_pause_probe(period=5, failures=12),
                liveness_probe=_pause_probe(period=60, failures=3),
                readiness_probe=_pause_probe(period=60, failures=3),
            )],
        )
        return k8s.apps.v1.Deployment(
            f"{name}-{pool.name}-deployment",
            metadata=meta(component, labels),
            spec=DeploymentSpecArgs(
                replicas=pool.pods,
                revision_history_limit=2,
                selector=LabelSelectorArgs(match_labels=selector),
                # maxSurge 0: the quota holds exactly `pods` placeholders, and a new one can wait for an old one.
                strategy=DeploymentStrategyArgs(type="RollingUpdate", rolling_update=RollingUpdateDeploymentArgs(
                    max_surge=0, max_unavailable=1)),
                template=PodTemplateSpecArgs(
                    metadata=ObjectMetaArgs(labels=labels, annotations={SAFE_TO_EVICT: "true"}),
                    spec=pod_spec,
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends),
        )
