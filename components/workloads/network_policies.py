"""Zero-trust traffic rules for the platform namespace: deny everything, then allow each needed path.

The paths follow the workloads' roles and their declared `calls` (stack_config.workloads): the public API from
the gateway, each caller to each of its callees on the callee's serving ports, browser pools to the internet
(never to internal ranges), and the API server and data stores for the workloads that use them."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, ObjectMetaArgs
from pulumi_kubernetes.networking.v1 import (
    IPBlockArgs,
    NetworkPolicyEgressRuleArgs,
    NetworkPolicyIngressRuleArgs,
    NetworkPolicyPeerArgs,
    NetworkPolicyPortArgs,
    NetworkPolicySpecArgs,
)

from ..common.labels import PART_OF
from ..common.traffic import ExtraEgress, ExtraIngress


@dataclass(frozen=True)
class PeerWorkload:
    """One workload as the traffic rules see it: its pods, ports, role and whom it calls."""

    name: str
    role: str
    """api, browser or worker (stack_config.workloads): which paths it gets by default."""
    selector: dict[str, str]
    ports: dict[str, int]
    calls: list[str] = field(default_factory=list)
    """Names of the workloads it may call (on their serving ports)."""
    public: bool = False
    """An API the ingress gateway reaches."""
    reaches_kubernetes_api: bool = False
    extra_egress: list[ExtraEgress] = field(default_factory=list)
    """Further destinations, e.g. the data stores (components/data)."""


def serving_ports(peer: PeerWorkload) -> list[int]:
    """The ports a caller reaches: a browser pool's serving ports (HTTP, DevTools), an API's `http` port; never the
    metrics port, which only the monitoring namespace reaches."""
    if peer.role == "browser":
        return sorted(number for port_name, number in peer.ports.items() if port_name != "metrics")
    return [peer.ports["http"]] if "http" in peer.ports else []


@dataclass(frozen=True)
class NetworkPoliciesArgs:
    namespace: pulumi.Input[str]
    workloads: list[PeerWorkload]
    ingress_namespace: str
    internal_cidrs: list[str]
    extra_ingress: list[ExtraIngress] = field(default_factory=list)


def _extra_egress_rule(extra: ExtraEgress) -> NetworkPolicyEgressRuleArgs:
    if extra.namespace is not None:
        peers = [NetworkPolicyPeerArgs(
            namespace_selector=LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": extra.namespace}),
            pod_selector=LabelSelectorArgs(match_labels=extra.pod_selector or {}))]
    else:
        peers = [NetworkPolicyPeerArgs(ip_block=IPBlockArgs(cidr=cidr)) for cidr in extra.cidrs]
    return NetworkPolicyEgressRuleArgs(to=peers, ports=[NetworkPolicyPortArgs(
        protocol="TCP", port=extra.port, end_port=extra.end_port)])


def _namespace_peer(namespace: str) -> NetworkPolicyPeerArgs:
    return NetworkPolicyPeerArgs(namespace_selector=LabelSelectorArgs(
        match_labels={"kubernetes.io/metadata.name": namespace}))


def _tcp(ports: list[int]) -> list[NetworkPolicyPortArgs]:
    return [NetworkPolicyPortArgs(protocol="TCP", port=port) for port in ports]


class NetworkPolicies(pulumi.ComponentResource):
    def __init__(self, name: str, args: NetworkPoliciesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("browser-platform:security:NetworkPolicies", name, None, opts)
        labels = {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": "pulumi"}

        def policy(policy_name: str, spec: NetworkPolicySpecArgs) -> None:
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{policy_name}",
                metadata=ObjectMetaArgs(name=policy_name, namespace=args.namespace, labels=labels),
                spec=spec,
                opts=pulumi.ResourceOptions(parent=self),
            )

        policy("default-deny-all", NetworkPolicySpecArgs(pod_selector=LabelSelectorArgs(),
                                                         policy_types=["Ingress", "Egress"]))
        policy("allow-dns-egress", NetworkPolicySpecArgs(
            pod_selector=LabelSelectorArgs(),
            policy_types=["Egress"],
            egress=[NetworkPolicyEgressRuleArgs(
                to=[NetworkPolicyPeerArgs(
                    namespace_selector=LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": "kube-system"}),
                    pod_selector=LabelSelectorArgs(match_labels={"k8s-app": "kube-dns"}),
                )],
                ports=[NetworkPolicyPortArgs(protocol="UDP", port=53), NetworkPolicyPortArgs(protocol="TCP", port=53)],
            )],
        ))
        by_name = {peer.name: peer for peer in args.workloads}
        for peer in args.workloads:
            pods = LabelSelectorArgs(match_labels=peer.selector)
            if peer.public:
                policy(f"{peer.name}-ingress-from-gateway", NetworkPolicySpecArgs(
                    pod_selector=pods,
                    policy_types=["Ingress"],
                    ingress=[NetworkPolicyIngressRuleArgs(from_=[_namespace_peer(args.ingress_namespace)],
                                                          ports=_tcp([peer.ports["http"]]))],
                ))
            if peer.role == "browser":
                # A browser pool may browse the internet, never an internal address (the nodes, the metadata
                # service, the data stores).
                policy(f"{peer.name}-egress-internet", NetworkPolicySpecArgs(
                    pod_selector=pods,
                    policy_types=["Egress"],
                    egress=[NetworkPolicyEgressRuleArgs(to=[
                        NetworkPolicyPeerArgs(ip_block=IPBlockArgs(cidr="0.0.0.0/0", except_=list(args.internal_cidrs))),
                    ])],
                ))
                continue
            # A caller's egress names each callee's serving ports, and each callee admits the caller on the same
            # ports below, so the two halves of every path stay one rule.
            egress = [NetworkPolicyEgressRuleArgs(
                to=[NetworkPolicyPeerArgs(pod_selector=LabelSelectorArgs(match_labels=by_name[callee].selector))],
                ports=_tcp(serving_ports(by_name[callee])),
            ) for callee in peer.calls]
            if peer.reaches_kubernetes_api:
                # The API server is not a pod, so no selector can name it; its ports are the narrowest rule.
                egress.append(NetworkPolicyEgressRuleArgs(
                    to=[NetworkPolicyPeerArgs(ip_block=IPBlockArgs(cidr=cidr)) for cidr in args.internal_cidrs],
                    ports=_tcp([443, 6443]),
                ))
            egress.extend(_extra_egress_rule(extra) for extra in peer.extra_egress)
            if egress:
                policy(f"{peer.name}-egress", NetworkPolicySpecArgs(pod_selector=pods, policy_types=["Egress"],
                                                                    egress=egress))
        for peer in args.workloads:
            for callee in peer.calls:
                target = by_name[callee]
                policy(f"{callee}-ingress-from-{peer.name}", NetworkPolicySpecArgs(
                    pod_selector=LabelSelectorArgs(match_labels=target.selector),
                    policy_types=["Ingress"],
                    ingress=[NetworkPolicyIngressRuleArgs(
                        from_=[NetworkPolicyPeerArgs(pod_selector=LabelSelectorArgs(match_labels=peer.selector))],
                        ports=_tcp(serving_ports(target)))],
                ))
        for extra in args.extra_ingress:
            policy(extra.name, NetworkPolicySpecArgs(
                pod_selector=LabelSelectorArgs(match_labels=extra.pod_selector),
                policy_types=["Ingress"],
                ingress=[NetworkPolicyIngressRuleArgs(from_=[_namespace_peer(extra.from_namespace)],
                                                      ports=_tcp(extra.ports))],
            ))
        self.register_outputs({})
