"""The pack's shared-deserialization servicer methods (policy/browser_platform_policies/server.py) answer
exactly what pulumi_policy's own methods answer: every stack, and every violating case, in-process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pulumi.runtime.proto import analyzer_pb2

from offline.harness import StackEvaluation, stack_names

from .cases import CASES
from .pack import LEVELS, mutated, struct
from .test_protocol import config_document


def servicer(document: dict[str, Any]) -> Any:
    from browser_platform_policies import PACK_NAME, all_policies
    from pulumi_policy import EnforcementLevel
    from pulumi_policy import policy as library

    instance = library._PolicyAnalyzerServicer(PACK_NAME, "0.1.0", all_policies(), EnforcementLevel.MANDATORY,
                                               None, None, None, None, None, None, None)
    request = analyzer_pb2.ConfigureAnalyzerRequest()
    for name, value in document.items():
        if name == "all" or not isinstance(value, dict):
            continue
        config = analyzer_pb2.PolicyConfig(enforcementLevel=LEVELS[value.get("enforcementLevel", document["all"])])
        config.properties.update({k: v for k, v in value.items() if k != "enforcementLevel"})
        request.policyConfig[name].CopyFrom(config)
    instance.Configure(request, None)
    return instance


def requests(resources: list[Any]) -> tuple[list[Any], Any]:
    single = [analyzer_pb2.AnalyzeRequest(type=r.type, properties=struct(r.inputs), urn=r.urn, name=r.name)
              for r in resources if r.custom]
    whole = analyzer_pb2.AnalyzeStackRequest()
    for r in resources:
        wire = analyzer_pb2.AnalyzerResource(type=r.type, properties=struct(r.inputs), urn=r.urn, name=r.name,
                                             parent=r.parent, dependencies=list(r.dependencies))
        for key, urns in r.property_dependencies.items():
            wire.propertyDependencies[key].urns.extend(urns)
        whole.resources.append(wire)
    return single, whole


def answers(instance: Any, resources: list[Any], shared: bool) -> list[tuple[str, str, int, str]]:
    from browser_platform_policies import server

    analyze = server.analyze if shared else server.ORIGINAL_ANALYZE
    analyze_stack = server.analyze_stack if shared else server.ORIGINAL_ANALYZE_STACK
    single, whole = requests(resources)
    responses = [analyze(instance, request, None) for request in single] + [analyze_stack(instance, whole, None)]
    return [(d.policyName, d.message, d.enforcementLevel, d.urn) for response in responses for d in response.diagnostics] \
        + [("n/a", n.policy_name, 0, n.reason) for response in responses for n in response.not_applicable]


def test_installed_on_this_pulumi_policy() -> None:
    from browser_platform_policies import server

    assert server.supported(), "pulumi_policy changed: review server.py against the new servicer"


@pytest.mark.parametrize("stack", stack_names())
def test_same_answers_on_every_stack(evaluated: Callable[[str], StackEvaluation], stack: str) -> None:
    instance = servicer({**config_document(stack), "all": "mandatory"})
    resources = evaluated(stack).resources
    assert answers(instance, resources, shared=True) == answers(instance, resources, shared=False)


def test_same_answers_on_the_violating_cases(evaluated: Callable[[str], StackEvaluation]) -> None:
    compared = 0
    for case in CASES:
        instance = servicer({**config_document(case.stack), **case.config, "all": "mandatory"})
        resources = mutated(evaluated(case.stack).resources)
        case.mutate(resources)
        shared = answers(instance, resources, shared=True)
        assert shared == answers(instance, resources, shared=False), case.id
        compared += bool(shared)
    assert compared == len(CASES)

