"""`mesh-lb-on-headless-service` and `monitoring-crds-upgraded` over the analyzer protocol: mutated copies of the
real stacks' recorded resources, run through the pack process exactly as the CLI runs it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from offline.harness import StackEvaluation

from .cases import Case, Resources, named, stack
from .pack import PackProcess
from .test_protocol import run_case

BROWSER_RULE = "mesh-policies-destinationrule-browser"
API_RULE = "mesh-policies-destinationrule-api"
MONITORING = "monitoring-release"
HASH = {"consistentHash": {"httpCookie": {"name": "session", "path": "/", "ttl": "0s"}}}


def _rule(change: Callable[[dict[str, Any]], None]) -> Callable[[Resources], None]:
    def mutate(resources: Resources) -> None:
        change(named(resources, "DestinationRule", BROWSER_RULE).inputs["spec"])
    return mutate


def _short_host_port_level(spec: dict[str, Any]) -> None:
    spec["host"] = "browser"
    spec["trafficPolicy"]["portLevelSettings"] = [{"port": {"number": 9222.0}, "loadBalancer": {"simple": "LEAST_REQUEST"}}]


def _subset(spec: dict[str, Any]) -> None:
    spec["subsets"] = [{"name": "v1", "labels": {"version": "v1"}, "trafficPolicy": {"loadBalancer": HASH}}]


def _release_values(change: Callable[[dict[str, Any]], None]) -> Callable[[Resources], None]:
    def mutate(resources: Resources) -> None:
        change(named(resources, "helm.sh/v3:Release", MONITORING).inputs["values"])
    return mutate


CASES: list[Case] = [
    # The finding as it was: the consistent hash on the headless browser Service.
    Case("lb-on-headless", "mesh-lb-on-headless-service",
         stack(_rule(lambda spec: spec["trafficPolicy"].update(loadBalancer=HASH))),
         "sets trafficPolicy.loadBalancer for browser.browser-platform.svc.cluster.local, but Service "
         "browser-platform/browser is headless"),
    Case("lb-on-headless-short-host", "mesh-lb-on-headless-service", stack(_rule(_short_host_port_level)),
         "trafficPolicy.portLevelSettings[9222].loadBalancer for browser,"),
    Case("lb-on-headless-subset", "mesh-lb-on-headless-service", stack(_rule(_subset)),
         "sets subsets[v1].trafficPolicy.loadBalancer"),
    Case("lb-on-headless-prod", "mesh-lb-on-headless-service",
         stack(_rule(lambda spec: spec["trafficPolicy"].update(loadBalancer={"simple": "ROUND_ROBIN"}))),
         "has no effect", stack="prod"),
    Case("monitoring-crds-off", "monitoring-crds-upgraded",
         stack(_release_values(lambda values: values["crds"]["upgradeJob"].update(enabled=False))),
         "leaves crds.upgradeJob.enabled off"),
    Case("monitoring-crds-default", "monitoring-crds-upgraded",
         stack(_release_values(lambda values: values.pop("crds"))), "every chart bump runs the new operator",
         stack="prod-gcp"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_violation_is_reported(pack: PackProcess, evaluated: Callable[[str], StackEvaluation], case: Case) -> None:
    diagnostics = run_case(pack, evaluated(case.stack).resources, case)
    mine = [d for d in diagnostics if d.policy == case.policy]
    assert any(case.expect in d.message for d in mine), \
        f"expected '{case.expect}' from {case.policy}; got:\n" + "\n".join(f"{d.policy}: {d.message}" for d in diagnostics)
    assert len(mine) == 1
    assert all(d.level == case.level and "Fix:" in d.message for d in mine)


COMPLIANT: list[Case] = [
    # A hash on a Service with a cluster IP (the API's, where the shipped stacks put it) is fine.
    Case("lb-on-cluster-ip", "mesh-lb-on-headless-service",
         stack(lambda rs: named(rs, "DestinationRule", API_RULE).inputs["spec"]["trafficPolicy"].update(
             loadBalancer={"simple": "LEAST_REQUEST"})), ""),
    # A host outside the stack (another namespace's headless Service is not ours to know) is not judged.
    Case("lb-other-namespace", "mesh-lb-on-headless-service",
         stack(_rule(lambda spec: spec.update(host="browser.elsewhere.svc.cluster.local",
                                             trafficPolicy={"loadBalancer": HASH}))), ""),
    # The chart installs no CRDs: whoever installs them owns their upgrades.
    Case("monitoring-crds-external", "monitoring-crds-upgraded",
         stack(_release_values(lambda values: values.update(crds={"enabled": False}))), ""),
]


@pytest.mark.parametrize("case", COMPLIANT, ids=[c.id for c in COMPLIANT])
def test_compliant_variant_passes(pack: PackProcess, evaluated: Callable[[str], StackEvaluation], case: Case) -> None:
    diagnostics = run_case(pack, evaluated(case.stack).resources, case)
    assert not [d for d in diagnostics if d.policy == case.policy], diagnostics


@pytest.mark.parametrize(("host", "expected"), [
    ("browser", ("ns", "browser")), ("browser.other", ("other", "browser")),
    ("browser.other.svc", ("other", "browser")), ("browser.other.svc.cluster.local", ("other", "browser")),
    ("*.other.svc.cluster.local", None), ("api.example.com", None), ("browser.other.svc.example.org", None),
])
def test_destination_rule_hosts_resolve_like_istio(host: str, expected: tuple[str, str] | None) -> None:
    from browser_platform_policies.runtime_services import _service_of_host

    assert _service_of_host(host, "ns") == expected
