"""Zero-trust traffic rules for the platform namespace: deny everything, then allow each needed path."""

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
    selector: dict[str, str]
    ports: dict[str, int]


@dataclass(frozen=True)
class NetworkPoliciesArgs:
    namespace: pulumi.Input[str]
    api: PeerWorkload
    browser: PeerWorkload
    ingress_namespace: str
    internal_cidrs: list[str]
    api_reaches_kubernetes_api: bool
    extra_ingress: list[ExtraIngress] = field(default_factory=list)
    api_extra_egress: list[ExtraEgress] = field(default_factory=list)


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

        api_pods = LabelSelectorArgs(match_labels=args.api.selector)
        browser_pods = LabelSelectorArgs(match_labels=args.browser.selector)
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
        policy("api-ingress-from-gateway", NetworkPolicySpecArgs(
            pod_selector=api_pods,
            policy_types=["Ingress"],
            ingress=[NetworkPolicyIngressRuleArgs(from_=[_namespace_peer(args.ingress_namespace)],
                                                  ports=_tcp([args.api.ports["http"]]))],
        ))
        # The browser admits the API on its serving ports (HTTP, DevTools), not on its metrics port; the API's
        # egress names the same ports, so the two halves of the path stay one rule.
        browser_ports = sorted(number for port_name, number in args.browser.ports.items() if port_name != "metrics")
        api_egress = [NetworkPolicyEgressRuleArgs(
            to=[NetworkPolicyPeerArgs(pod_selector=browser_pods)],
            ports=_tcp(browser_ports),
        )]
        if args.api_reaches_kubernetes_api:
            # The API server is not a pod, so no selector can name it; its ports are the narrowest rule.
            api_egress.append(NetworkPolicyEgressRuleArgs(
                to=[NetworkPolicyPeerArgs(ip_block=IPBlockArgs(cidr=cidr)) for cidr in args.internal_cidrs],
                ports=_tcp([443, 6443]),
            ))
        api_egress.extend(_extra_egress_rule(extra) for extra in args.api_extra_egress)
        policy("api-egress", NetworkPolicySpecArgs(pod_selector=api_pods, policy_types=["Egress"], egress=api_egress))
        policy("browser-ingress-from-api", NetworkPolicySpecArgs(
            pod_selector=browser_pods,
            policy_types=["Ingress"],
            ingress=[NetworkPolicyIngressRuleArgs(from_=[NetworkPolicyPeerArgs(pod_selector=api_pods)],
                                                  ports=_tcp(browser_ports))],
        ))
        policy("browser-egress-internet", NetworkPolicySpecArgs(
            pod_selector=browser_pods,
            policy_types=["Egress"],
            egress=[NetworkPolicyEgressRuleArgs(to=[
                NetworkPolicyPeerArgs(ip_block=IPBlockArgs(cidr="0.0.0.0/0", except_=list(args.internal_cidrs))),
            ])],
        ))
        for extra in args.extra_ingress:
            policy(extra.name, NetworkPolicySpecArgs(
                pod_selector=LabelSelectorArgs(match_labels=extra.pod_selector),
                policy_types=["Ingress"],
                ingress=[NetworkPolicyIngressRuleArgs(from_=[_namespace_peer(extra.from_namespace)],
                                                      ports=_tcp(extra.ports))],
            ))
        self.register_outputs({})
