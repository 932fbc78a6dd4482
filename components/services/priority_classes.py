"""The platform's PriorityClasses: platform services > API > browser > headroom, and who gets which.

Pod priority decides two things after apply: which pending pod the scheduler places first, and which running pods
it may preempt to place it (only pods of a strictly lower value). The classes are cluster-scoped and created once
per stack, before any release or pod that names them (the API server rejects a pod whose class does not exist).

| class | value | pods |
|---|---|---|
| `system-node-critical` (built-in) | 2000001000 | istio-cni (hard-coded by its chart): no meshed pod starts without it |
| `system-cluster-critical` (built-in) | 2000000000 | metrics-server, cluster-autoscaler (kube-system): HPAs, scale-ups |
| `browser-platform-services` | 1000000 | istiod, gateway, cert-manager, KEDA, monitoring, in-cluster data stores |
| `browser-platform-api` | 100000 | api workloads: the entry point of every session |
| `browser-platform-browser` | 10000 | browser (and worker) workloads: may preempt headroom and unclassed pods |
| `browser-platform-headroom` | -1 | headroom placeholders: anything preempts them, they preempt nothing |

The built-in `system-*` classes are kept for pods in kube-system (where every provider admits them) and for
istio-cni (GKE admits `system-node-critical` outside kube-system only with a ResourceQuota scoped to it, which
components/services/mesh.py creates). Everything else of ours gets `browser-platform-services`: a class of our own needs no
such quota anywhere, and the built-in ones mean "the cluster itself breaks", which the platform's services do not.

Runtime rules encoded here (tests/test_priorities.py, policy/browser_platform_policies/priorities.py):
- `value` and `preemptionPolicy` are immutable in the API (an update is rejected), and pulumi-kubernetes does not
  list them as replace-triggering fields (provider/pkg/provider/diff.go has no scheduling.k8s.io entry; issue
  pulumi/pulumi-kubernetes#1830), so each class sets `replace_on_changes` on both and `delete_before_replace`
  (the name is fixed, so a replacement cannot be created next to the old object). Running pods keep the value
  they were admitted with; pods created after the replacement get the new one.
- `globalDefault` is false on every class: pods that name no class keep priority 0, so they can preempt headroom
  and nothing else changes for them.
- Headroom sits at -1: below every pod without a class (0), but not below cluster-autoscaler's
  `--expendable-pods-priority-cutoff` (-10 by default, the same on GKE's autoscaler): pods below the cutoff never
  trigger a scale-up, so placeholders there would reserve nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from ..common.labels import PART_OF

SYSTEM_NODE_CRITICAL = "system-node-critical"
SYSTEM_CLUSTER_CRITICAL = "system-cluster-critical"
SYSTEM_NAMESPACE = "kube-system"
"""The namespace every provider admits the built-in system-* classes in without a scoped ResourceQuota."""

GKE_EXPENDABLE_PODS_PRIORITY_CUTOFF = -10
"""GKE's autoscaler does not expose `--expendable-pods-priority-cutoff`; it is taken to use the upstream default
(-10: kubernetes/autoscaler cluster-autoscaler flag "Pods with priority below cutoff will be expendable. They can be
killed without any consideration during scale down and they don't cause scale up"). On EKS the value is the one the
cluster-autoscaler release sets (components/clusters/node_autoscaler.py EXPENDABLE_PODS_PRIORITY_CUTOFF)."""


@dataclass(frozen=True)
class PriorityTier:
    name: str
    value: int
    description: str
    preemption_policy: str = "PreemptLowerPriority"


PLATFORM_SERVICES = PriorityTier(
    "browser-platform-services", 1_000_000,
    "browser-platform services (mesh control plane and gateway, cert-manager, KEDA, monitoring, in-cluster data "
    "stores): the platform is down without them.")
API = PriorityTier("browser-platform-api", 100_000, "browser-platform API workloads: the entry point of every session.")
BROWSER = PriorityTier("browser-platform-browser", 10_000,
                       "browser-platform browser pools and workers: may preempt headroom placeholders.")
HEADROOM = PriorityTier(
    "browser-platform-headroom", -1,
    "browser-platform headroom placeholders: preempted by any other pod, preempt nothing; above the node "
    "autoscaler's expendable cutoff (-10) so they still cause scale-ups.", preemption_policy="Never")
TIERS: tuple[PriorityTier, ...] = (PLATFORM_SERVICES, API, BROWSER, HEADROOM)

ROLE_CLASSES: dict[str, str] = {"api": API.name, "browser": BROWSER.name, "worker": BROWSER.name}
"""A workload's class by its role. Workers share the browser class: both are capacity behind the API, and a worker
must not preempt the sessions' own pods (nor they it)."""
DATA_STORE_CLASS = PLATFORM_SERVICES.name
"""In-cluster data stores run on the API's nodes at the services' class, above the API: the API is down without
them, and a store that is pending after a node loss may then preempt one API pod (less capacity) instead of
waiting behind a full pool (no API at all). At the API's own class it could preempt nothing."""
SERVICES_CLASS = PLATFORM_SERVICES.name


def class_for_role(role: str) -> str:
    try:
        return ROLE_CLASSES[role]
    except KeyError:
        raise ValueError(f"no PriorityClass for workload role {role!r} (known: {', '.join(ROLE_CLASSES)})") from None


class PriorityClasses(pulumi.ComponentResource):
    """The four classes of `TIERS`, cluster-scoped; everything that names one depends on this component."""

    classes: dict[str, k8s.scheduling.v1.PriorityClass]

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:addons:PriorityClasses", name, None, opts)
        self.classes = {}
        for tier in TIERS:
            self.classes[tier.name] = k8s.scheduling.v1.PriorityClass(
                f"{name}-{tier.name}",
                metadata=ObjectMetaArgs(name=tier.name, labels={"app.kubernetes.io/part-of": PART_OF,
                                                                 "app.kubernetes.io/managed-by": "pulumi"}),
                value=tier.value,
                global_default=False,
                preemption_policy=tier.preemption_policy,
                description=tier.description,
                # Both fields are immutable in the API and the provider would try an update: replace instead. The
                # provider deletes first by itself only for the fields it knows (provider.go), not for a replacement
                # the engine decides from replace_on_changes, so delete first here: the name is cluster-wide.
                opts=pulumi.ResourceOptions(parent=self, replace_on_changes=["value", "preemptionPolicy"],
                                            delete_before_replace=True),
            )
        self.register_outputs({"classes": list(self.classes)})
