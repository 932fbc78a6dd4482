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

Beyond that hoisting (each found with cProfile on a 1,000-workload stack, policy/README.md "Performance"): the
Struct is converted without json_format and handed over as plain dicts when nothing in it is unknown (the
proxy could never raise), the policies a request runs are planned once per configuration and resource type
(`resource_policy(applies=...)` leaves out types a policy cannot report on), providers are converted once, a
resource policy's callbacks are called without the library's per-call coroutine wrapper, the runtime settings
are configured once per environment, and the cyclic collector pauses while an `AnalyzeStack` runs.
"""

from __future__ import annotations

import asyncio
import gc
import math
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from inspect import isawaitable
from typing import Any

from pulumi.runtime import proto
from pulumi_policy import (
    EnforcementLevel,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import policy as _library
from pulumi_policy.deserialize import SPECIAL_SIG_KEY, deserialize_properties
from pulumi_policy.policy import PolicyProviderResource, PolicyResource
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
    unknown_checking_proxy,
)

SUPPORTED_VERSIONS = ("1.21.",)
_SERVICER: Any = getattr(_library, "_PolicyAnalyzerServicer", None)
_HELPERS = ("_configure_runtime_settings", "_get_enforcement_level", "_create_report_violation",
            "_get_resource_options", "_get_provider_resource", "_get_policy_config", "_map_enforcement_level")
ORIGINAL_ANALYZE = getattr(_SERVICER, "Analyze", None)
ORIGINAL_ANALYZE_STACK = getattr(_SERVICER, "AnalyzeStack", None)


def _private(servicer: Any, name: str) -> Any:
    return getattr(servicer, f"_PolicyAnalyzerServicer__{name}")


_UNKNOWNS = frozenset((UNKNOWN_BOOLEAN_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE, UNKNOWN_ARRAY_VALUE,
                       UNKNOWN_ASSET_VALUE, UNKNOWN_ARCHIVE_VALUE, UNKNOWN_OBJECT_VALUE))


class _Found:
    """What a conversion met on its way: an unknown sentinel, a special-signature map (secret, asset)."""

    __slots__ = ("special", "unknown")

    def __init__(self) -> None:
        self.unknown = False
        self.special = False


def _value(value: Any, found: _Found) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        text = value.string_value
        if text in _UNKNOWNS:
            found.unknown = True
        return text
    if kind == "struct_value":
        return _struct(value.struct_value, found)
    if kind == "list_value":
        return _list(value.list_value, found)
    if kind == "number_value":
        number = value.number_value
        if math.isinf(number) or math.isnan(number):
            raise ValueError("Fail to serialize Infinity or NaN for Value.number_value")  # as json_format does
        return number
    if kind == "bool_value":
        return value.bool_value
    return None  # null_value, or unset: json_format treats both as null


def _struct(message: Any, found: _Found) -> dict[str, Any]:
    result: dict[str, Any] = {}
    fields = message.fields
    # Keys, then lookups: the map's items() is the Python-level Mapping mixin (a generator step per entry).
    for key in fields:
        item = fields[key]
        # Strings (most leaves of a Kubernetes object), maps and lists inline: one call per value less.
        kind = item.WhichOneof("kind")
        if kind == "string_value":
            text = item.string_value
            if text in _UNKNOWNS:
                found.unknown = True
            result[key] = text
        elif kind == "struct_value":
            result[key] = _struct(item.struct_value, found)
        elif kind == "list_value":
            result[key] = _list(item.list_value, found)
        else:
            result[key] = _value(item, found)
    if SPECIAL_SIG_KEY in result:
        found.special = True
    return result


def _list(message: Any, found: _Found) -> list[Any]:
    result: list[Any] = []
    append = result.append
    for item in message.values:
        kind = item.WhichOneof("kind")
        if kind == "string_value":
            text = item.string_value
            if text in _UNKNOWNS:
                found.unknown = True
            append(text)
        elif kind == "struct_value":
            append(_struct(item.struct_value, found))
        elif kind == "list_value":
            append(_list(item.list_value, found))
        else:
            append(_value(item, found))
    return result


def struct_to_dict(properties: Any) -> tuple[dict[str, Any], bool, bool]:
    """`json_format.MessageToDict(properties)` for a Struct (same values: numbers as floats, null as None),
    several times faster, plus whether it holds an unknown sentinel and a special-signature map."""
    found = _Found()
    result = _struct(properties, found)
    return result, found.unknown, found.special


def _props(properties: Any) -> Any:
    """The props every policy of a request reads. The library wraps them in its unknown-checking proxy; when
    nothing in them is unknown the proxy can never raise, so they are handed over as plain dicts and lists
    (the helpers in props.py read both; the library's proxies are no more read-only than dicts). Secrets and
    assets go through the library's own `deserialize_properties`."""
    raw, unknown, special = struct_to_dict(properties)
    if special:
        raw = deserialize_properties(raw)
    return unknown_checking_proxy(raw) if unknown else raw


def _run(servicer: Any, response: Any, policy: Any, args: Any, report: Any,
         validations: tuple[Any, ...] | None = None) -> None:
    """One policy's validate, with the library's handling of preview unknowns and not-applicable.
    `validations`: the policy's own callbacks (`_direct`), called here instead of through its validate."""
    try:
        result = policy.validate(args, report) if validations is None else _validate(validations, args, report)
        if result is not None and isawaitable(result):
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


def _direct(policy: Any) -> tuple[Any, ...] | None:
    """A resource policy's validate callbacks, when its class keeps the library's `validate` (which calls each
    callback, then wraps any awaitable results in a fresh coroutine: per policy per resource, that wrapping was
    a fifth of `Analyze`'s time). None to go through `policy.validate` (overridden, or nothing to call)."""
    if type(policy).validate is not ResourceValidationPolicy.validate:
        return None
    callbacks = getattr(policy, "_ResourceValidationPolicy__validate", None)
    if not callbacks:
        return None  # the library returns None (remediation only) or raises NotImplementedError: let it
    return tuple(callbacks) if isinstance(callbacks, list) else (callbacks,)


def _validate(validations: tuple[Any, ...], args: Any, report: Any) -> Any:
    """`ResourceValidationPolicy.validate` for the callbacks `_direct` found: the same calls in the same
    order, and the same coroutine over whatever they returned that is awaitable."""
    pending: list[Any] = []
    for validation in validations:
        result = validation(args, report)
        if result is not None and isawaitable(result):
            pending.append(result)
    return _await_all(pending) if pending else None


async def _await_all(pending: list[Any]) -> None:
    for result in pending:
        try:
            await result
        except (UnknownValueError, _library._NotApplicableError):
            raise
        except Exception as e:  # the library's wrapping, message included
            raise RuntimeError(f"Validation failed: {e}") from e


def _active(servicer: Any, policy: Any, kind: type) -> EnforcementLevel | None:
    level = servicer._get_enforcement_level(policy)
    if level == EnforcementLevel.DISABLED or not isinstance(policy, kind):
        return None
    return EnforcementLevel.MANDATORY if level == EnforcementLevel.REMEDIATE else level


_Entry = tuple[Any, "EnforcementLevel | None", Any, "tuple[Any, ...] | None"]
"""A resource policy as a request runs it: policy, level (None: answered not-applicable), config, callbacks."""


class _Plan:
    """What a request runs, worked out once per configuration (and resource type) instead of once per request:
    each active policy with its level and config. `Configure` replaces the servicer's level and config dicts,
    so a plan is valid while those two objects are the ones it was made from."""

    def __init__(self, servicer: Any) -> None:
        self.levels = _private(servicer, "policy_pack_config_enforcement_level")
        self.config = _private(servicer, "policy_pack_config")
        self.by_type: dict[str, list[_Entry]] = {}
        self.stack: list[tuple[Any, EnforcementLevel, Any]] | None = None

    def current(self, servicer: Any) -> bool:
        return self.levels is _private(servicer, "policy_pack_config_enforcement_level") \
            and self.config is _private(servicer, "policy_pack_config")


def _plan(servicer: Any) -> _Plan:
    plan = getattr(servicer, "_browser_platform_plan", None)
    if plan is None or not plan.current(servicer):
        plan = _Plan(servicer)
        servicer._browser_platform_plan = plan
    return plan


def _resource_plan(servicer: Any, resource_type: str) -> list[_Entry]:
    """The resource policies to run on `resource_type`, in pack order: (policy, level, config, its callbacks
    when they can be called directly: `_direct`), level None for
    a policy without validate (answered not-applicable, as the library does). A policy whose `applies_to`
    (config.resource_policy's `applies`) rejects the type is left out: it would return without a word."""
    plan = _plan(servicer)
    entries = plan.by_type.get(resource_type)
    if entries is None:
        entries = []
        for policy in _private(servicer, "policies"):
            level = _active(servicer, policy, ResourceValidationPolicy)
            if level is None:
                continue
            if not policy.has_validation():
                entries.append((policy, None, None, None))
                continue
            applies = getattr(policy, "applies_to", None)
            if applies is not None and not applies(resource_type):
                continue
            entries.append((policy, level, servicer._get_policy_config(policy.name), _direct(policy)))
        plan.by_type[resource_type] = entries
    return entries


_PROVIDERS: dict[tuple[str, str, str, bytes], PolicyProviderResource] = {}
"""Provider resources by their wire form: every resource of a stack names one of a few providers, whose
properties (a kubeconfig, a region) the library converts again for each resource."""


def _provider(request: Any) -> PolicyProviderResource | None:
    if not request.HasField("provider"):
        return None
    wire = request.provider
    key = (wire.type, wire.urn, wire.name, wire.properties.SerializeToString(deterministic=True))
    provider = _PROVIDERS.get(key)
    if provider is None:
        if len(_PROVIDERS) >= 64:
            _PROVIDERS.clear()
        provider = _PROVIDERS[key] = PolicyProviderResource(wire.type, _props(wire.properties), wire.urn, wire.name)
    return provider


_RUNTIME_ENV = ("PULUMI_CONFIG", "PULUMI_PROJECT", "PULUMI_STACK", "PULUMI_DRY_RUN", "PULUMI_ORGANIZATION")


def _configure_runtime(servicer: Any) -> None:
    """The library's `_configure_runtime_settings` once per environment instead of once per request. It reads
    only these variables, which the CLI sets when it launches the pack (the stack's whole config as JSON in
    PULUMI_CONFIG, parsed and set key by key, and a fresh runtime Settings, built per request: about a tenth
    of a millisecond per `Analyze` with a real stack's config); it runs again if any of them changes."""
    key = tuple(os.environ.get(name) for name in _RUNTIME_ENV)
    if getattr(servicer, "_browser_platform_runtime", None) != key:
        servicer._configure_runtime_settings()
        servicer._browser_platform_runtime = key


def analyze(self: Any, request: Any, _context: Any) -> Any:
    _configure_runtime(self)
    response = proto.AnalyzeResponse()
    entries = _resource_plan(self, request.type)
    if not entries:
        return response
    props: Any = None
    options: Any = None
    provider: Any = None
    tags = _private(self, "stack_tags")
    for policy, level, config, validations in entries:
        if level is None:
            response.not_applicable.append(proto.PolicyNotApplicable(
                policy_name=policy.name, reason="Policy does not implement validate"))
            continue
        if props is None:
            props = _props(request.properties)
            options = self._get_resource_options(request)
            provider = _provider(request)
        report = self._create_report_violation(response, policy.name, policy.description, level, policy.severity)
        args = ResourceValidationArgs(request.type, props, request.urn, request.name, options, provider, config, tags)
        _run(self, response, policy, args, report, validations)
    return response


def _stack_resources(self: Any, request: Any) -> list[PolicyResource]:
    by_urn: dict[str, PolicyResource] = {}
    wiring: list[tuple[PolicyResource, Any]] = []
    for r in request.resources:
        resource = PolicyResource(r.type, _props(r.properties), r.urn, r.name, self._get_resource_options(r),
                                  _provider(r), None, [], {})
        by_urn[resource.urn] = resource
        wiring.append((resource, r))
    for resource, r in wiring:
        if r.parent in by_urn:
            resource.parent = by_urn[r.parent]
        resource.dependencies.extend(by_urn[d] for d in r.dependencies if d in by_urn)
        for key, urns in r.propertyDependencies.items():
            resource.property_dependencies[key] = [by_urn[d] for d in urns.urns if d in by_urn]
    return [resource for resource, _ in wiring]


def _stack_plan(servicer: Any) -> list[tuple[Any, EnforcementLevel, Any]]:
    plan = _plan(servicer)
    if plan.stack is None:
        plan.stack = []
        for policy in _private(servicer, "policies"):
            level = _active(servicer, policy, StackValidationPolicy)
            if level is not None:
                plan.stack.append((policy, level, servicer._get_policy_config(policy.name)))
    return plan.stack


def analyze_stack(self: Any, request: Any, _context: Any) -> Any:
    with _collector_paused():
        _configure_runtime(self)
        response = proto.AnalyzeResponse()
        resources: list[PolicyResource] | None = None
        for policy, level, config in _stack_plan(self):
            if resources is None:
                resources = _stack_resources(self, request)
            report = self._create_report_violation(response, policy.name, policy.description, level, policy.severity)
            args = StackValidationArgs(resources, config, _private(self, "stack_tags"))
            _run(self, response, policy, args, report)
        return response


_PAUSE_LOCK = threading.Lock()
_PAUSED = [0, False]  # requests inside _collector_paused, and whether the collector was on before the first


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while an `AnalyzeStack` runs. Converting a large stack's properties and
    building its model allocate hundreds of thousands of dicts and lists that all stay alive until the answer,
    and the collector's young generations kept re-scanning them (about a third of the conversion's time on
    1,000 workloads). Nothing is freed later than it would be: reference counting still frees everything
    acyclic at once, and the collector runs again as soon as the last such request ends. Requests may overlap
    (the server has a thread pool), hence the count."""
    with _PAUSE_LOCK:
        if _PAUSED[0] == 0:
            _PAUSED[1] = gc.isenabled()
            gc.disable()
        _PAUSED[0] += 1
    try:
        yield
    finally:
        with _PAUSE_LOCK:
            _PAUSED[0] -= 1
            if _PAUSED[0] == 0 and _PAUSED[1]:
                gc.enable()


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
