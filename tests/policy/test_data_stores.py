"""The data-store policies over gRPC: every violating case in data_stores_cases.py is reported (also run by
test_protocol's `test_violation_is_reported`), replicas are judged by their primary, and the production stacks
pass as they are."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from offline.harness import StackEvaluation

from .cases import named
from .data_stores_cases import DATA_STORE_CASES, RDS, SQL
from .pack import Diagnostic, PackProcess, mutated
from .test_protocol import config_document, run_case

POLICIES = {"data-store-encryption", "data-store-not-public", "data-store-backups", "data-store-protection-ha"}


def mine(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diagnostics if d.policy in POLICIES]


@pytest.mark.parametrize("case", DATA_STORE_CASES, ids=[c.id for c in DATA_STORE_CASES])
def test_each_store_rule_reports_its_mutation(pack: PackProcess, evaluated: Callable[[str], StackEvaluation],
                                              case) -> None:  # type: ignore[no-untyped-def]
    diagnostics = [d for d in run_case(pack, evaluated(case.stack).resources, case) if d.policy == case.policy]
    assert any(case.expect in d.message for d in diagnostics), [d.message for d in diagnostics]


def test_every_store_policy_has_cases_on_both_clouds(pack: PackProcess) -> None:
    assert set(pack.policy_names) >= POLICIES
    for policy in POLICIES:
        assert {c.stack for c in DATA_STORE_CASES if c.policy == policy} == {"prod", "prod-gcp"}, policy


@pytest.mark.parametrize("stack", ["prod", "prod-gcp"])
def test_the_cloud_stacks_stores_pass(pack: PackProcess, evaluated: Callable[[str], StackEvaluation],
                                      stack: str) -> None:
    resources = evaluated(stack).resources
    pack.configure(config_document(stack), force_all="mandatory")
    stores = [r for r in resources if r.type.endswith((RDS, SQL, "ReplicationGroup", "memorystore/instance:Instance"))]
    assert len(stores) == 4
    for store in stores:
        assert not mine(pack.analyze(store, resources)), store.name


def test_a_read_replica_needs_no_backups_or_standby_of_its_own(
    pack: PackProcess, evaluated: Callable[[str], StackEvaluation],
) -> None:
    pack.configure(config_document("prod"), force_all="mandatory")
    resources = mutated(evaluated("prod").resources)
    replica = named(resources, RDS, "postgres-replica-1")
    assert "backupRetentionPeriod" not in replica.inputs and "multiAz" not in replica.inputs
    assert not mine(pack.analyze(replica, resources))
    # ...but it is still never public.
    replica.inputs["publiclyAccessible"] = True
    assert [d.policy for d in mine(pack.analyze(replica, resources))] == ["data-store-not-public"]


def test_a_non_production_stack_may_waive_protection(pack: PackProcess,
                                                     evaluated: Callable[[str], StackEvaluation]) -> None:
    pack.configure({**config_document("prod"), "data-store-protection-ha": {"requireProtection": False}},
                   force_all="mandatory")
    resources = mutated(evaluated("prod").resources)
    primary = named(resources, RDS, "postgres")
    primary.inputs["deletionProtection"] = False
    assert not [d for d in mine(pack.analyze(primary, resources)) if d.policy == "data-store-protection-ha"]
