"""The store policies (policy/browser_platform_policies/store_alerts.py) over gRPC: each mutation in
store_alerts_cases.py is reported (test_protocol runs them too), the three stacks pass as they are, and a policy in a
namespace without sidecars is caught where the data layer would otherwise leave one."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from offline.harness import StackEvaluation, evaluate_stack

from .cases import CASES
from .pack import PackProcess, mutated
from .store_alerts_cases import STORE_ALERTS_CASES
from .test_protocol import config_document, run_case

POLICIES = {"data-store-alarms", "mesh-authz-needs-sidecars", "data-store-app-role", "istio-injection-opt-out"}


@pytest.mark.parametrize("case", STORE_ALERTS_CASES, ids=[c.id for c in STORE_ALERTS_CASES])
def test_each_store_rule_reports_its_mutation(pack: PackProcess, evaluated: Callable[[str], StackEvaluation],
                                              case) -> None:  # type: ignore[no-untyped-def]
    diagnostics = [d for d in run_case(pack, evaluated(case.stack).resources, case) if d.policy == case.policy]
    assert any(case.expect in d.message for d in diagnostics), [d.message for d in diagnostics]
    assert case in CASES  # test_protocol runs them with the rest


@pytest.mark.parametrize("stack", ["dev", "prod", "prod-gcp"])
def test_the_stacks_pass_the_store_policies(pack: PackProcess, evaluated: Callable[[str], StackEvaluation],
                                            stack: str) -> None:
    pack.configure(config_document(stack), force_all="mandatory")
    assert not [d.message for d in pack.analyze_stack(mutated(evaluated(stack).resources)) if d.policy in POLICIES]


def test_stores_outside_the_mesh_get_no_authorization_policies(pack: PackProcess) -> None:
    """With the mesh off, the data layer writes no AuthorizationPolicy (it could not act) and no injection label."""
    resources = evaluate_stack("dev", overrides={"mesh": {"enabled": False}, "ingress": None}).resources
    assert not [r for r in resources if r.type.endswith("AuthorizationPolicy")]
    namespace = next(r for r in resources if r.type == "kubernetes:core/v1:Namespace" and r.name == "data-namespace")
    assert "istio-injection" not in namespace.inputs["metadata"]["labels"]
    pack.configure(config_document("dev"), force_all="mandatory")
    assert not [d for d in pack.analyze_stack(mutated(resources)) if d.policy in POLICIES]
