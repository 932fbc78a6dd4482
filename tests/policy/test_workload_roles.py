"""The role-keyed policies over gRPC (policy/browser_platform_policies/workload_roles.py), and the pack on a stack
whose workloads are not named `api` and `browser`: every policy about browser pods finds both pools by their role
label, and the held-out-style fleet stack (tests/stacks/Pulumi.fleet.yaml) passes the whole pack at mandatory."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from offline.harness import TEST_STACKS_DIR, StackEvaluation, evaluate_stack

from .cases import named
from .pack import PackProcess, mutated
from .test_protocol import config_document, run_case
from .workload_roles_cases import WORKLOAD_ROLES_CASES

POLICIES = {"browser-egress-internet-only", "browser-never-a-caller", "worker-no-service"}


@pytest.fixture(scope="module")
def fleet() -> StackEvaluation:
    return evaluate_stack("fleet", stack_dir=TEST_STACKS_DIR)


@pytest.mark.parametrize("case", WORKLOAD_ROLES_CASES, ids=[c.id for c in WORKLOAD_ROLES_CASES])
def test_each_role_rule_reports_its_mutation(pack: PackProcess, evaluated: Callable[[str], StackEvaluation],
                                             case) -> None:  # type: ignore[no-untyped-def]
    diagnostics = [d for d in run_case(pack, evaluated(case.stack).resources, case) if d.policy == case.policy]
    assert any(case.expect in d.message for d in diagnostics), [d.message for d in diagnostics]


def test_every_role_policy_has_a_case(pack: PackProcess) -> None:
    assert set(pack.policy_names) >= POLICIES
    assert {case.policy for case in WORKLOAD_ROLES_CASES} == POLICIES


@pytest.mark.parametrize("stack", ["dev", "prod", "prod-gcp"])
def test_the_stacks_follow_the_role_rules(pack: PackProcess, evaluated: Callable[[str], StackEvaluation],
                                          stack: str) -> None:
    pack.configure(config_document(stack), force_all="mandatory")
    diagnostics = [d for d in pack.analyze_stack(evaluated(stack).resources) if d.policy in POLICIES]
    assert not diagnostics, [d.message for d in diagnostics]


def test_the_fleet_stack_passes_the_whole_pack(pack: PackProcess, fleet: StackEvaluation) -> None:
    pack.configure(config_document("prod"), force_all="mandatory")
    diagnostics = pack.analyze_all(fleet.resources)
    blocking = [d for d in diagnostics if d.level == "mandatory"]
    assert not blocking, "\n".join(f"{d.policy} {d.urn}: {d.message}" for d in blocking)


@pytest.mark.parametrize("pool", ["chrome", "firefox"])
def test_browser_policies_find_every_pool_by_role(pack: PackProcess, fleet: StackEvaluation, pool: str) -> None:
    """Neither pool is named `browser`: browser-shm and browser-egress-internet-only find each by its role label."""
    pack.configure(config_document("prod"), force_all="mandatory")
    resources = mutated(fleet.resources)
    deployment = named(resources, "apps/v1:Deployment", f"{pool}-deployment")
    spec = deployment.inputs["spec"]["template"]["spec"]
    spec["volumes"] = [v for v in spec["volumes"] if v["name"] != "shm"]
    spec["containers"][0]["volumeMounts"] = [m for m in spec["containers"][0]["volumeMounts"] if m["name"] != "shm"]
    egress = named(resources, "networking.k8s.io/v1:NetworkPolicy", f"network-policies-{pool}-egress-internet")
    egress.inputs["spec"]["egress"][0]["to"][0]["ipBlock"]["except"] = []
    found = {d.policy for d in pack.analyze_stack(resources) if f"browser-platform/{pool}" in d.message}
    assert {"browser-shm", "browser-egress-internet-only"} <= found, found
