"""The existing-cluster test stack under the pack: it passes its own policy config at mandatory, and the
existing-cluster policies stay silent on the stacks that create their cluster (their cases are in
existing_cluster_cases.py, run by test_protocol.py)."""

from __future__ import annotations

import json
from collections.abc import Callable

from offline.harness import StackEvaluation, evaluate_stack, stack_file_config

from .pack import PackProcess
from .test_protocol import config_document

STACK = "existing"
POLICIES = ("existing-cluster-owns-only-its-own", "existing-cluster-identity")


def test_component_type_is_the_one_the_policies_look_for() -> None:
    from browser_platform_policies.existing_cluster import EXISTING_CLUSTER

    from components.clusters.existing import EXISTING_CLUSTER_TYPE

    assert EXISTING_CLUSTER == EXISTING_CLUSTER_TYPE


def test_existing_stack_passes_its_own_config_at_mandatory(pack: PackProcess,
                                                          evaluated: Callable[[str], StackEvaluation]) -> None:
    pack.configure(config_document(STACK), force_all="mandatory")
    blocking = [d for d in pack.analyze_all(evaluated(STACK).resources) if d.level == "mandatory"]
    assert not blocking, "\n".join(f"{d.policy} {d.urn}: {d.message}" for d in blocking)


def test_self_signed_variant_passes_every_policy_at_mandatory(pack: PackProcess) -> None:
    """Only HTTP-01 needs istio-gateway-tls advisory (ACME answers on plain port 80, which then cannot redirect;
    DNS-01 needs a cloud identity an existing cluster does not have): with a self-signed issuer every policy,
    that one included, passes at mandatory."""
    config, _ = stack_file_config(STACK)
    ingress = json.loads(config["browser-platform:ingress"])
    ingress["tls"] = {"issuer": "selfSigned"}
    resources = evaluate_stack(STACK, overrides={"ingress": ingress}).resources
    document = {key: value for key, value in config_document(STACK).items() if key != "istio-gateway-tls"}
    pack.configure(document, force_all="mandatory")
    blocking = [d for d in pack.analyze_all(resources) if d.level == "mandatory"]
    assert not blocking, "\n".join(f"{d.policy} {d.urn}: {d.message}" for d in blocking)


def test_existing_cluster_policies_are_silent_on_created_clusters(pack: PackProcess,
                                                                 evaluated: Callable[[str], StackEvaluation]) -> None:
    pack.configure(config_document("prod"), force_all="mandatory")
    diagnostics = pack.analyze_all(evaluated("prod").resources)
    assert not [d for d in diagnostics if d.policy in POLICIES]
