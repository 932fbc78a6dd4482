"""The pack over the real analyzer protocol: started as the CLI starts it, configured per stack, every stack
passing its own config at mandatory, and every policy reporting a violating variant of a real stack."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from pulumi.output import UNKNOWN

from offline.harness import RecordedResource, StackEvaluation, stack_names

from .cases import CASES, Case, deployment
from .pack import POLICY_DIR, Diagnostic, PackProcess, mutated

STACKS = stack_names()

KNOWN_PROGRAM_VIOLATIONS: set[tuple[str, str, str]] = set()
"""(stack, policy, resource name) the program still violates at mandatory; the program must change, not the pack.
Empty: the production stacks solve ACME with DNS-01, so their public Gateway keeps httpsRedirect on port 80."""


def config_document(stack: str) -> dict[str, object]:
    document: dict[str, object] = json.loads((POLICY_DIR / "config" / f"{stack}.json").read_text())
    return document


def test_pack_starts_like_the_cli_starts_it(pack: PackProcess) -> None:
    assert pack.port > 0
    assert pack.info.name == "browser-platform"
    assert pack.info.supportsConfig
    assert pack.plugin_info().version
    assert len(pack.policy_names) == len(set(pack.policy_names)) >= 50
    for policy in pack.info.policies:
        assert policy.description and policy.remediation_steps, policy.name


def test_readme_maps_every_policy(pack: PackProcess) -> None:
    readme = (POLICY_DIR / "README.md").read_text()
    rows = set(re.findall(r"^\| `([a-z0-9-]+)` \|", readme, re.MULTILINE))
    assert rows == set(pack.policy_names)


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_has_a_valid_policy_config(pack: PackProcess, stack: str) -> None:
    document = config_document(stack)
    expected_default = "advisory" if stack == "dev" else "mandatory"
    assert document["all"] == expected_default
    resolved = pack.resolve_config(document)  # validates every entry against the policy's schema, like the CLI
    assert resolved["browser-spot-drain"][0] == "advisory"


@pytest.mark.parametrize("stack", STACKS)
def test_stack_passes_its_own_config_at_mandatory(pack: PackProcess, evaluated: Callable[[str], StackEvaluation],
                                                 stack: str) -> None:
    resources = evaluated(stack).resources
    pack.configure(config_document(stack), force_all="mandatory")
    diagnostics = pack.analyze_all(resources)
    names = {r.urn: r.name for r in resources}
    blocking = [d for d in diagnostics if d.level == "mandatory"
                and (stack, d.policy, names.get(d.urn, "")) not in KNOWN_PROGRAM_VIOLATIONS]
    assert not blocking, "\n".join(f"{d.policy} {d.urn}: {d.message}" for d in blocking)
    known = {(stack, d.policy, names.get(d.urn, "")) for d in diagnostics if d.level == "mandatory"}
    still_expected = {k for k in KNOWN_PROGRAM_VIOLATIONS if k[0] == stack}
    assert known == still_expected, "a known program violation is fixed: drop it from KNOWN_PROGRAM_VIOLATIONS"


def run_case(pack: PackProcess, resources: list[RecordedResource], case: Case) -> list[Diagnostic]:
    document = {**config_document(case.stack), **case.config}
    pack.configure(document, force_all="mandatory")
    copy_ = mutated(resources)
    target = case.mutate(copy_)
    if target is not None:
        return pack.analyze(target, copy_)
    return pack.analyze_stack(copy_)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_violation_is_reported(pack: PackProcess, evaluated: Callable[[str], StackEvaluation], case: Case) -> None:
    diagnostics = run_case(pack, evaluated(case.stack).resources, case)
    mine = [d for d in diagnostics if d.policy == case.policy]
    assert any(case.expect in d.message for d in mine), \
        f"expected '{case.expect}' from {case.policy}; got:\n" + "\n".join(f"{d.policy}: {d.message}" for d in diagnostics)
    for d in mine:
        assert d.level == case.level
        assert "Fix:" in d.message or "Accept it knowingly" in d.message  # every message says what to do
        assert d.message.startswith(next(p.description for p in pack.info.policies if p.name == case.policy))


def all_cases() -> list[Case]:
    """CASES here plus the `CASES` of every other policy test module of this package (one per policy module)."""
    import importlib
    from pathlib import Path

    cases = list(CASES)
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        if path.stem != Path(__file__).stem:
            cases += getattr(importlib.import_module(f"{__package__}.{path.stem}"), "CASES", [])
    return cases


def test_every_policy_has_a_violating_case(pack: PackProcess) -> None:
    assert set(pack.policy_names) <= {c.policy for c in all_cases()}


def test_unknown_values_are_skipped_with_a_note(pack: PackProcess, evaluated: Callable[[str], StackEvaluation]) -> None:
    pack.configure(config_document("dev"), force_all="mandatory")
    resources = mutated(evaluated("dev").resources)
    api = deployment(resources, "api")
    api.inputs["spec"]["template"]["spec"]["containers"][0]["image"] = UNKNOWN
    before = len(pack.engine.logs)
    diagnostics = pack.analyze(api, resources)
    assert not [d for d in diagnostics if d.level == "mandatory"], diagnostics
    notes = [message for _, message, _ in pack.engine.logs[before:]]
    assert any("[k8s-image-reference] skipped" in n and "during preview" in n for n in notes), notes
    stack_diagnostics = pack.analyze_stack(resources)
    assert not [d for d in stack_diagnostics if d.level == "mandatory"], stack_diagnostics


def test_secrets_reach_policies_unwrapped(pack: PackProcess, evaluated: Callable[[str], StackEvaluation]) -> None:
    """Secret inputs travel wrapped (as the engine sends them); pulumi_policy hands the plain value to policies."""
    pack.configure(config_document("dev"), force_all="mandatory")
    resources = mutated(evaluated("dev").resources)
    api = deployment(resources, "api")
    api.inputs["spec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "DB_PASSWORD", "value": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                                          "value": "hunter2"}}]
    diagnostics = pack.analyze(api, resources)
    assert any(d.policy == "k8s-no-secret-env-literals" for d in diagnostics)
