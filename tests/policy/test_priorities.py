"""The priority and headroom policies (policy/browser_platform_policies/priorities.py) over the real analyzer
protocol: the stacks as built pass them, and the placeholder exemptions of other policies follow the class value.

The violating cases (priorities_cases.py) run with the others in test_protocol.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from offline.harness import RecordedResource, StackEvaluation

from .cases import Case
from .pack import PackProcess, mutated
from .priorities_cases import HEADROOM, on_class, set_input
from .test_protocol import config_document, run_case

POLICIES = ("priority-class-settings", "priority-class-defined", "priority-critical-namespace", "headroom-placeholders")


def mine(diagnostics: list[Any], *policies: str) -> list[Any]:
    return [d for d in diagnostics if d.policy in policies]


@pytest.mark.parametrize("stack", ["dev", "prod", "prod-gcp"])
def test_stacks_as_built_pass(pack: PackProcess, evaluated: Callable[[str], StackEvaluation], stack: str) -> None:
    pack.configure(config_document(stack), force_all="mandatory")
    assert mine(pack.analyze_all(mutated(evaluated(stack).resources)), *POLICIES) == []


def test_a_placeholder_is_known_by_its_class_value(pack: PackProcess,
                                                  evaluated: Callable[[str], StackEvaluation]) -> None:
    # The same two pods at a class of value 0 are an ordinary workload again: two replicas without a PDB, counted
    # in the pool's capacity; and no longer checked as headroom.
    case = Case("headroom-at-zero", "workload-has-pdb", on_class("browser-platform-headroom", set_input("value", 0.0)),
                "", stack="prod")
    found = run_case(pack, evaluated("prod").resources, case)
    assert any(d.policy == "workload-has-pdb" and "browser-platform-headroom/browser-headroom" in d.message
               for d in found), found
    assert mine(found, "headroom-placeholders") == []


def test_the_kind_stack_has_no_placeholders_and_no_critical_quota_rule(
        pack: PackProcess, evaluated: Callable[[str], StackEvaluation]) -> None:
    resources = evaluated("dev").resources
    assert not [r for r in resources if r.name == HEADROOM]
    # istio-cni runs system-node-critical in istio-system; only GKE needs the scoped quota for it.
    assert not [r for r in resources if r.inputs.get("metadata", {}).get("name") == "gcp-critical-pods"]
    pack.configure(config_document("dev"), force_all="mandatory")
    assert mine(pack.analyze_stack(mutated(resources)), "priority-critical-namespace") == []


def test_classes_a_release_names_inside_nested_values_are_checked(
        pack: PackProcess, evaluated: Callable[[str], StackEvaluation]) -> None:
    def rename(release: RecordedResource) -> None:
        release.inputs["values"]["prometheusOperator"]["admissionWebhooks"]["patch"]["priorityClassName"] = "nope"

    from .cases import edit
    case = Case("nested", "priority-class-defined",
                edit("helm.sh/v3:Release", "monitoring-release", rename, analyze=False), "", stack="prod")
    found = mine(run_case(pack, evaluated("prod").resources, case), "priority-class-defined")
    assert any("prometheusOperator.admissionWebhooks.patch.priorityClassName" in d.message and "nope" in d.message
               for d in found), found
