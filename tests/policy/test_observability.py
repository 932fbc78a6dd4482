"""The observability policies over gRPC: every violating case in observability_cases.py is reported (also run by
test_protocol's `test_violation_is_reported`), the production stacks pass, dev's unrouted alerts are advisory,
and tracing switched off leaves nothing for the tracing policies to find."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from offline.harness import StackEvaluation, evaluate_stack

from .cases import CASES
from .observability_cases import OBSERVABILITY_CASES
from .pack import Diagnostic, PackProcess, mutated
from .test_protocol import config_document, run_case

POLICIES = {"alert-receiver-secrets", "trace-sampling-bounded", "tracing-provider-wired", "alerts-routed"}


def mine(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diagnostics if d.policy in POLICIES]


@pytest.mark.parametrize("case", OBSERVABILITY_CASES, ids=[c.id for c in OBSERVABILITY_CASES])
def test_each_rule_reports_its_mutation(pack: PackProcess, evaluated: Callable[[str], StackEvaluation],
                                        case) -> None:  # type: ignore[no-untyped-def]
    diagnostics = [d for d in run_case(pack, evaluated(case.stack).resources, case) if d.policy == case.policy]
    assert any(case.expect in d.message for d in diagnostics), [d.message for d in diagnostics]


def test_every_observability_policy_has_a_case(pack: PackProcess) -> None:
    assert set(pack.policy_names) >= POLICIES
    assert {c.policy for c in OBSERVABILITY_CASES} == POLICIES
    assert all(case in CASES for case in OBSERVABILITY_CASES)  # test_protocol runs them with every other case


@pytest.mark.parametrize("stack", ["prod", "prod-gcp"])
def test_the_production_stacks_pass(pack: PackProcess, evaluated: Callable[[str], StackEvaluation], stack: str) -> None:
    resources = evaluated(stack).resources
    pack.configure(config_document(stack), force_all="mandatory")
    assert not mine(pack.analyze_all(resources))


def test_dev_without_receivers_is_told_but_not_blocked(pack: PackProcess,
                                                      evaluated: Callable[[str], StackEvaluation]) -> None:
    pack.configure(config_document("dev"), force_all="mandatory")
    found = mine(pack.analyze_stack(mutated(evaluated("dev").resources)))
    assert [(d.policy, d.level) for d in found] == [("alerts-routed", "advisory")]
    assert "routed to receiver 'null', which has no integration" in found[0].message


def test_tracing_off_leaves_no_provider_behind(pack: PackProcess) -> None:
    resources = evaluate_stack("prod", overrides={"observability": {
        "tracing": {"enabled": False}, "alerting": {"receivers": {"pagerduty": {}}}}}).resources
    assert not [r for r in resources if r.type.endswith(("Telemetry",)) or "tracing" in r.name.split("-")[0]]
    pack.configure(config_document("prod"), force_all="mandatory")
    assert not [d for d in pack.analyze_all(resources) if d.policy == "tracing-provider-wired"]
