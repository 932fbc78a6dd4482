"""Every custom resource the program records matches its pinned CRD (../shared/crd-schemas), strictly, per stack."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from offline import crd_schemas as cs
from offline.harness import StackEvaluation
from tests.conftest import SCHEMA_STACKS
from tests.upstream_data import require

CRD_GROUPS = (
    "networking.istio.io", "security.istio.io", "telemetry.istio.io", "keda.sh", "cert-manager.io",
    "monitoring.coreos.com",
)
"""The groups whose objects the program creates (test_no_custom_resource_outside_the_checked_groups keeps this
list complete)."""


@pytest.fixture(autouse=True)
def _crd_data() -> None:
    require(cs.CRD_DIR)


def of_group(evaluation: StackEvaluation, group: str) -> list[Any]:
    return [r for r in cs.custom_resources(evaluation) if cs.split_api_version(r.inputs["apiVersion"])[0] == group]


@pytest.mark.parametrize("group", CRD_GROUPS)
@pytest.mark.parametrize("stack", SCHEMA_STACKS)
def test_custom_resources_match_their_crd(evaluated: Callable[[str], StackEvaluation], stack: str, group: str) -> None:
    resources = of_group(evaluated(stack), group)
    if not resources and group == "telemetry.istio.io":
        from scripts.capacity_report import load_config
        assert not load_config(stack).tracing_enabled, f"{stack} traces but records no Telemetry"
        pytest.skip(f"tracing is off on {stack} (tests/test_observability.py checks it switched on)")
    assert resources, f"{stack} records no {group} object"
    index = cs.load_index()
    problems = {r.name: cs.check_object(r.plain_inputs, r.name, index) for r in resources}
    failing = {name: found for name, found in problems.items() if found}
    assert not failing, "\n".join(
        f"{stack} {name}:\n  " + "\n  ".join(found) for name, found in failing.items())


@pytest.mark.parametrize("stack", SCHEMA_STACKS)
def test_no_custom_resource_outside_the_checked_groups(evaluated: Callable[[str], StackEvaluation], stack: str) -> None:
    groups = {cs.split_api_version(r.inputs["apiVersion"])[0] for r in cs.custom_resources(evaluated(stack))}
    assert groups <= set(CRD_GROUPS)


@pytest.mark.parametrize("stack", SCHEMA_STACKS)
def test_cel_rules_are_reached_and_all_evaluated(evaluated: Callable[[str], StackEvaluation], stack: str) -> None:
    """The walk reaches the CRDs' CEL rules and cel-python evaluates every one (none skipped as unsupported)."""
    index = cs.load_index()
    reached = 0
    for resource in cs.custom_resources(evaluated(stack)):
        body = cs.integral_floats_to_int(resource.plain_inputs)
        group, version = cs.split_api_version(body["apiVersion"])
        schema = cs._schema(index[(group, version, body["kind"])].schema_file)
        reached += cs.cel_rules_evaluated(body, schema)
        assert [f for f in cs.cel_errors(body, schema) if not f.evaluated] == []
    assert reached >= 20


# ---------------------------------------------------------------------------------------------------------
# The checker catches what the API server would prune or refuse (mutated copies of real recorded objects)
# ---------------------------------------------------------------------------------------------------------

def recorded(evaluated: Callable[[str], StackEvaluation], kind: str, name: str = "") -> dict[str, Any]:
    matches = [r for r in cs.custom_resources(evaluated("prod"))
               if r.inputs["kind"] == kind and (not name or r.inputs["metadata"].get("name") == name)]
    assert matches, f"prod records no {kind} {name}"
    body = copy.deepcopy(matches[0].plain_inputs)
    assert cs.check_object(body) == []
    return body


def test_an_unknown_field_is_caught(evaluated: Callable[[str], StackEvaluation]) -> None:
    body = recorded(evaluated, "ScaledObject")
    body["spec"]["cooldownPeriods"] = 300
    assert cs.check_object(body) == [
        "spec: Additional properties are not allowed ('cooldownPeriods' was unexpected)"]


def test_a_misspelt_nested_field_is_caught(evaluated: Callable[[str], StackEvaluation]) -> None:
    body = recorded(evaluated, "DestinationRule")
    body["spec"]["trafficPolicy"]["tlss"] = body["spec"]["trafficPolicy"].pop("tls", {"mode": "ISTIO_MUTUAL"})
    assert cs.check_object(body) == [
        "spec.trafficPolicy: Additional properties are not allowed ('tlss' was unexpected)"]


def test_a_wrong_type_is_caught(evaluated: Callable[[str], StackEvaluation]) -> None:
    body = recorded(evaluated, "Certificate")
    body["spec"]["dnsNames"] = "api.example.com"
    assert cs.check_object(body) == ["spec.dnsNames: 'api.example.com' is not of type 'array'"]


def test_a_wrong_enum_value_is_caught(evaluated: Callable[[str], StackEvaluation]) -> None:
    body = recorded(evaluated, "PeerAuthentication", "default")
    body["spec"]["mtls"]["mode"] = "STRICTLY"
    problems = cs.check_object(body)
    assert len(problems) == 1 and problems[0].startswith("spec.mtls.mode: 'STRICTLY' is not one of")


def test_a_broken_cel_rule_is_caught(evaluated: Callable[[str], StackEvaluation]) -> None:
    body = recorded(evaluated, "ScaledObject")
    body["spec"]["minReplicaCount"] = body["spec"]["maxReplicaCount"] + 1
    problems = cs.check_object(body)
    assert len(problems) == 1 and problems[0].startswith("spec: ")
    assert "minReplicaCount <= (has(self.maxReplicaCount)" in problems[0]


def test_a_cel_rule_across_fields_is_caught(evaluated: Callable[[str], StackEvaluation]) -> None:
    body = recorded(evaluated, "AuthorizationPolicy", "allow-nothing")
    body["spec"]["selector"] = {"matchLabels": {"app": "api"}}
    body["spec"]["targetRef"] = {"kind": "Service", "name": "api"}
    problems = cs.check_object(body)
    assert any("has(self.selector) ? 1 : 0) + (has(self.targetRef)" in p for p in problems), problems


def test_bad_metadata_is_caught(evaluated: Callable[[str], StackEvaluation]) -> None:
    body = recorded(evaluated, "ScaledObject")
    body["metadata"]["name"] = "Browser_1"
    del body["metadata"]["namespace"]
    body["metadata"]["labels"]["app.kubernetes.io/name"] = "x" * 64
    body["metadata"]["annotations"] = {"example.com/ok": "1", "bad key!": "1"}
    body["metadata"]["uid"] = "1"
    assert sorted(cs.check_object(body)) == sorted([
        "metadata.uid: not a field a client sets",
        "metadata.name 'Browser_1': not a DNS-1123 subdomain (lowercase alphanumerics, '-', '.'; at most 253 "
        "characters)",
        "metadata.namespace: not set for a namespaced kind (it would land in whatever namespace the provider "
        "defaults to)",
        f"metadata.labels['app.kubernetes.io/name'] value {'x' * 64!r}: not a valid label value (at most 63 "
        "alphanumerics, '-', '_', '.', starting and ending alphanumeric)",
        "metadata.annotations['bad key!']: name 'bad key!' is not a qualified name (at most 63 alphanumerics, "
        "'-', '_', '.')",
    ])


def test_a_namespace_on_a_cluster_scoped_kind_is_caught(evaluated: Callable[[str], StackEvaluation]) -> None:
    body = recorded(evaluated, "ClusterIssuer")
    body["metadata"]["namespace"] = "cert-manager"
    assert cs.check_object(body) == ["metadata.namespace 'cert-manager': set on a cluster-scoped kind"]


def test_an_unknown_version_or_group_has_no_schema(evaluated: Callable[[str], StackEvaluation]) -> None:
    body = recorded(evaluated, "VirtualService")
    body["apiVersion"] = "networking.istio.io/v2"
    problems = cs.check_object(body)
    assert len(problems) == 1 and "no CRD schema" in problems[0] and "networking.istio.io/v1," in problems[0]
    body["apiVersion"] = "example.com/v1"
    assert "no CRD schema" in cs.check_object(body)[0]


def test_a_duplicate_key_in_a_list_type_map_is_caught(evaluated: Callable[[str], StackEvaluation]) -> None:
    body = recorded(evaluated, "PrometheusRule")
    body["spec"]["groups"].append(copy.deepcopy(body["spec"]["groups"][0]))
    name = body["spec"]["groups"][0]["name"]
    assert cs.check_object(body) == [f'spec.groups: duplicate name ["{name}"] in a list-type map']


def test_schema_defaults_are_applied_before_validation(evaluated: Callable[[str], StackEvaluation]) -> None:
    body = recorded(evaluated, "ScaledObject")
    del body["spec"]["fallback"]["behavior"]
    schema = cs._schema(cs.load_index()[("keda.sh", "v1alpha1", "ScaledObject")].schema_file)
    assert cs.with_defaults(body, schema)["spec"]["fallback"]["behavior"] == "static"
    assert cs.check_object(body) == []
