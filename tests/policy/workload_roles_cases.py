"""Violating cases of the role-keyed policies (policy/browser_platform_policies/workload_roles.py): each mutates the
dev stack so that one rule about a role (found by the pods' role label, not a name) is broken."""

from __future__ import annotations

from offline.harness import RecordedResource

from .cases import Case, edit

NETWORK_POLICY = "networking.k8s.io/v1:NetworkPolicy"
API = {"app.kubernetes.io/name": "api", "app.kubernetes.io/part-of": "browser-platform"}
BROWSER = {"app.kubernetes.io/name": "browser", "app.kubernetes.io/part-of": "browser-platform"}


def drop_internal_exceptions(policy: RecordedResource) -> None:
    policy.inputs["spec"]["egress"][0]["to"][0]["ipBlock"].pop("except")


def add_egress_to_api(policy: RecordedResource) -> None:
    policy.inputs["spec"]["egress"].append({"to": [{"podSelector": {"matchLabels": dict(API)}}],
                                            "ports": [{"protocol": "TCP", "port": 3000.0}]})


def admit_browser(policy: RecordedResource) -> None:
    policy.inputs["spec"]["ingress"][0]["from"].append({"podSelector": {"matchLabels": dict(BROWSER)}})


def relabel_as_worker(deployment: RecordedResource) -> None:
    deployment.inputs["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] = "worker"


WORKLOAD_ROLES_CASES: list[Case] = [
    Case("browser-egress-internal-range", "browser-egress-internet-only",
         edit(NETWORK_POLICY, "network-policies-browser-egress-internet", drop_internal_exceptions, analyze=False),
         "reach the internal range 10.0.0.0/8"),
    Case("browser-egress-to-the-api", "browser-egress-internet-only",
         edit(NETWORK_POLICY, "network-policies-browser-egress-internet", add_egress_to_api, analyze=False),
         "reach pods of its own namespace"),
    Case("browser-admitted-as-caller", "browser-never-a-caller",
         edit(NETWORK_POLICY, "network-policies-api-ingress-from-gateway", admit_browser, analyze=False),
         "admits browser Deployment browser-platform/browser as a source"),
    Case("service-selects-a-worker", "worker-no-service",
         edit("apps/v1:Deployment", "api-deployment", relabel_as_worker, analyze=False),
         "Service browser-platform/api selects worker Deployment browser-platform/api"),
]
