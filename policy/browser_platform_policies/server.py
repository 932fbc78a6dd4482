"""Analyze / AnalyzeStack that deserialize each resource once per request instead of once per policy.

pulumi_policy's servicer (1.21) turns the request's protobuf properties into a dict and wraps them in an
unknown-checking proxy inside its loop over the policies: `Analyze` does it once per resource policy (37
times per resource here) and `AnalyzeStack` once per resource per stack policy (16 times the whole stack),
and every stack policy gets a fresh `args.resources` list. On a stack of 1,000 workloads that conversion was
most of the ~50 s each phase took (see scripts/bench_policy.py).

`install()` replaces those two methods with the same loop, hoisting the conversion out of it: every policy
of a request sees the same read-only props proxies and, for stack policies, the same `args.resources` list
(so `stack._model` can build the stack model once per `AnalyzeStack`). Levels, config, diagnostics, the
preview-time `UnknownValueError` diagnostic and not-applicable answers are produced exactly as the library
does (tests/policy/test_server.py compares both on every stack). It only installs on the pulumi_policy
versions it was written against; on any other version the library's own methods stay (slower, same result).
"""

from __future__ import annotations

import asyncio
import os
from inspect import isawaitable
from typing import Any

from google.protobuf import json_format
from pulumi.runtime import proto
from pulumi_policy import (
    EnforcementLevel,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import policy as _library
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.policy import PolicyResource
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

SUPPORTED_VERSIONS = ("1.21.",)
_SERVICER: Any = getattr(_library, "_PolicyAnalyzerServicer", None)
_HELPERS = ("_configure_runtime_settings", "_get_enforcement_level", "_create_report_violation",
            "_get_resource_options", "_get_provider_resource", "_get_policy_config", "_map_enforcement_level")
ORIGINAL_ANALYZE = getattr(_SERVICER, "Analyze", None)
ORIGINAL_ANALYZE_STACK = getattr(_SERVICER, "AnalyzeStack", None)


def _private(servicer: Any, name: str) -> Any:
    return getattr(servicer, f"_PolicyAnalyzerServicer__{name}")


def _props(properties: Any) -> Any:
    return unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(properties)))


def _run(servicer: Any, response: Any, policy: Any, args: Any, report: Any) -> None:
    """One policy's validate, with the library's handling of preview unknowns and not-applicable."""
    try:
        result = policy.validate(args, report)
        if isawaitable(result):
            loop = asyncio.new_event_loop()
            # The library wraps it in asyncio.Task(result, loop=loop); run_until_complete does the same for any
            # awaitable (validate's result is typed Awaitable, which Task's signature does not accept).
            loop.run_until_complete(result)
            loop.close()
    except UnknownValueError as error:
        name, version = _private(servicer, "policy_pack_name"), _private(servicer, "policy_pack_version")
        response.diagnostics.append(proto.AnalyzeDiagnostic(
            policyName=policy.name, policyPackName=name, policyPackVersion=version,
            message=f"can't run policy '{policy.name}' from policy pack '{name}@v{version}' during preview: "
                    f"{error.message}",
            urn="", description=policy.description,
            enforcementLevel=servicer._map_enforcement_level(EnforcementLevel.ADVISORY)))
    except _library._NotApplicableError as error:
        response.not_applicable.append(proto.PolicyNotApplicable(policy_name=policy.name,
                                                                          reason=error.reason or ""))


def _active(servicer: Any, policy: Any, kind: type) -> EnforcementLevel | None:
    level = servicer._get_enforcement_level(policy)
    if level == EnforcementLevel.DISABLED or not isinstance(policy, kind):
        return None
    return EnforcementLevel.MANDATORY if level == EnforcementLevel.REMEDIATE else level


def analyze(self: Any, request: Any, _context: Any) -> Any:
    self._configure_runtime_settings()
    response = proto.AnalyzeResponse()
    props: Any = None
    options: Any = None
    provider: Any = None
    for policy in _private(self, "policies"):
        level = _active(self, policy, ResourceValidationPolicy)
        if level is None:
            continue
        if not policy.has_validation():
            response.not_applicable.append(proto.PolicyNotApplicable(
                policy_name=policy.name, reason="Policy does not implement validate"))
            continue
        if props is None:
            props = _props(request.properties)
            options = self._get_resource_options(request)
            provider = self._get_provider_resource(request)
        report = self._create_report_violation(response, policy.name, policy.description, level, policy.severity)
        args = ResourceValidationArgs(request.type, props, request.urn, request.name, options, provider,
                                      self._get_policy_config(policy.name), _private(self, "stack_tags"))
        _run(self, response, policy, args, report)
    return response


def _stack_resources(self: Any, request: Any) -> list[PolicyResource]:
    by_urn: dict[str, PolicyResource] = {}
    wiring: list[tuple[PolicyResource, Any]] = []
    for r in request.resources:
        resource = PolicyResource(r.type, _props(r.properties), r.urn, r.name, self._get_resource_options(r),
                                  self._get_provider_resource(r), None, [], {})
        by_urn[resource.urn] = resource
        wiring.append((resource, r))
    for resource, r in wiring:
        if r.parent in by_urn:
            resource.parent = by_urn[r.parent]
        resource.dependencies.extend(by_urn[d] for d in r.dependencies if d in by_urn)
        for key, urns in r.propertyDependencies.items():
            resource.property_dependencies[key] = [by_urn[d] for d in urns.urns if d in by_urn]
    return [resource for resource, _ in wiring]


def analyze_stack(self: Any, request: Any, _context: Any) -> Any:
    self._configure_runtime_settings()
    response = proto.AnalyzeResponse()
    resources: list[PolicyResource] | None = None
    for policy in _private(self, "policies"):
        level = _active(self, policy, StackValidationPolicy)
        if level is None:
            continue
        if resources is None:
            resources = _stack_resources(self, request)
        report = self._create_report_violation(response, policy.name, policy.description, level, policy.severity)
        args = StackValidationArgs(resources, self._get_policy_config(policy.name), _private(self, "stack_tags"))
        _run(self, response, policy, args, report)
    return response


def supported() -> bool:
    return _SERVICER is not None and str(getattr(_library, "VERSION", "")).startswith(SUPPORTED_VERSIONS) \
        and all(callable(getattr(_SERVICER, helper, None)) for helper in _HELPERS) \
        and hasattr(_library, "_NotApplicableError")


def install() -> bool:
    """Use the shared-deserialization methods for every servicer the pack creates; False if unsupported or
    turned off with BROWSER_PLATFORM_LIBRARY_SERVICER=1 (to compare, or to rule the patch out)."""
    if not supported() or os.environ.get("BROWSER_PLATFORM_LIBRARY_SERVICER") == "1":
        return False
    _SERVICER.Analyze = analyze
    _SERVICER.AnalyzeStack = analyze_stack
    return True


def uninstall() -> None:
    if _SERVICER is not None and ORIGINAL_ANALYZE is not None:
        _SERVICER.Analyze = ORIGINAL_ANALYZE
        _SERVICER.AnalyzeStack = ORIGINAL_ANALYZE_STACK
