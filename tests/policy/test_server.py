"""The pack's shared-deserialization servicer methods (policy/browser_platform_policies/server.py) answer
exactly what pulumi_policy's own methods answer: every stack, and every violating case, in-process.

On every stack the library runs exactly as it ships. On the violating cases its AnalyzeStack builds each
resource's props view once per request instead of once per stack policy (`views_once`, which fails a case if a
policy changed a view): the library's side of those cases was half the test suite's CPU time."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from google.protobuf import json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2

from offline.harness import StackEvaluation, stack_names

from .cases import CASES, Case
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


LIBRARY_RESPONSES: dict[tuple[str, str, bytes], Any] = {}
"""pulumi_policy's own answer by (configuration, method, request bytes), kept for the session. The library's
methods are functions of the pack's configuration and the request alone, and the violating cases send the
same unchanged resources under the same configuration again and again (only a case's mutated resource and its
stack request differ), so the library answers each distinct request once. The shared methods answer every
request of every case afresh."""


def library_response(method: Any, instance: Any, request: Any, configuration: str, share_views: bool = False) -> Any:
    key = (configuration, method.__name__, share_views, request.SerializeToString(deterministic=True))
    if key not in LIBRARY_RESPONSES:
        with struct_to_dict_once():
            if share_views:
                with views_once():
                    LIBRARY_RESPONSES[key] = method(instance, request, None)
            else:
                LIBRARY_RESPONSES[key] = method(instance, request, None)
    return LIBRARY_RESPONSES[key]


STRUCT_DICTS: dict[bytes, dict[str, Any]] = {}
"""`json_format.MessageToDict` of each distinct properties Struct the library has converted, by its bytes."""


class _JsonFormatOnce:
    """`google.protobuf.json_format` as pulumi_policy's servicer sees it inside `struct_to_dict_once`."""

    def __getattr__(self, name: str) -> Any:
        return getattr(json_format, name)

    @staticmethod
    def MessageToDict(message: Any, **options: Any) -> Any:  # noqa: N802 - the name the library calls
        if options or not isinstance(message, struct_pb2.Struct):
            return json_format.MessageToDict(message, **options)
        key = message.SerializeToString(deterministic=True)
        if key not in STRUCT_DICTS:
            STRUCT_DICTS[key] = json_format.MessageToDict(message)
        return STRUCT_DICTS[key]


@contextmanager
def struct_to_dict_once() -> Iterator[None]:
    """While the library answers, convert each distinct properties Struct to a dict once, not once per policy.

    The library's AnalyzeStack turns every resource's properties into a dict for every stack policy (31 times
    the stack per request): a large part of the violating cases' time. `MessageToDict` is a pure function of
    the message, and Analyze, AnalyzeStack and the provider lookup (all this context runs) hand its result
    only to `deserialize_properties`, which builds new containers and keeps none of the dict
    (test_the_library_keeps_no_part_of_the_converted_dict). So every policy still gets its own fresh objects,
    exactly as in the library, and its answers are unchanged
    (test_converting_once_leaves_the_library_answers_unchanged). Only pulumi_policy's module is switched;
    the shared methods under test convert with the real function."""
    from pulumi_policy import policy as library

    real = library.json_format
    library.json_format = _JsonFormatOnce()  # pyright: ignore[reportAttributeAccessIssue]
    try:
        yield
    finally:
        library.json_format = real


class PropsChangedError(AssertionError):
    """A stack policy changed the props it was given: policies could then see each other's changes."""


def _target(view: Any) -> Any:
    """The plain value behind the library's unknown-checking proxies (read without the unknown check)."""
    from pulumi_policy import proxy

    if isinstance(view, proxy._DictProxy):
        return {key: _target(item) for key, item in view["__target"].items()}
    if isinstance(view, proxy._ListProxy):
        return [_target(item) for item in view["__target"]]
    return view


@contextmanager
def views_once() -> Iterator[None]:
    """While the library answers an AnalyzeStack, build each distinct resource's props view (the library's own
    `deserialize_properties` and unknown-checking proxy, on the Struct `struct_to_dict_once` converted) once,
    and give that same view to every stack policy; afterwards, fail if any view changed.

    This is the one thing the shared servicer does differently from the library in AnalyzeStack besides its own
    conversion and planning: each policy reads the same props objects instead of its own fresh copy. The library
    otherwise runs as is (its loop, levels, config, PolicyResource objects, a fresh `resources` list per policy,
    parents, dependencies, reports, unknown and not-applicable handling). Sharing the views can only change a
    policy's answer if a policy before it changed them, and that fails here. Full isolation (a fresh view per
    policy, the library exactly as it ships) is what every stack is compared against
    (test_same_answers_on_every_stack), and test_sharing_views_leaves_the_library_answers_unchanged compares the
    two on the violating cases of one stack. Building the views once per request instead of once per stack
    policy (31 times) is most of what the library's side of the violating cases cost."""
    from pulumi_policy import policy as library

    real_deserialize, real_proxy = library.deserialize_properties, library.unknown_checking_proxy
    real_json_format = library.json_format
    converted: dict[int, tuple[Any, Any]] = {}

    class JsonFormatByIdentity:
        """The library's json_format (struct_to_dict_once's) looked up by the Struct object first: within one
        request each resource's `properties` is the same object for every policy, and serializing it to find
        its dict by bytes was a large part of what was left. The entry keeps the object alive, so no other
        object can take its id."""

        def __getattr__(self, name: str) -> Any:
            return getattr(real_json_format, name)

        @staticmethod
        def MessageToDict(message: Any, **options: Any) -> Any:  # noqa: N802 - the name the library calls
            if options:
                return real_json_format.MessageToDict(message, **options)
            if id(message) not in converted:
                converted[id(message)] = (message, real_json_format.MessageToDict(message))
            return converted[id(message)][1]
    # By the identity of the argument, which each entry keeps alive (so no other object can take its id):
    # struct_to_dict_once gives one dict per distinct Struct, so one entry per distinct resource props.
    deserialized: dict[int, tuple[Any, Any]] = {}
    views: dict[int, tuple[Any, Any, str]] = {}

    def deserialize_once(props: Any, *args: Any) -> Any:
        if args:
            return real_deserialize(props, *args)
        if id(props) not in deserialized:
            deserialized[id(props)] = (props, real_deserialize(props))
        return deserialized[id(props)][1]

    def proxy_once(props: Any) -> Any:
        if id(props) not in views:
            view = real_proxy(props)
            views[id(props)] = (props, view, json.dumps(_target(view), sort_keys=True))
        return views[id(props)][1]

    library.deserialize_properties = deserialize_once  # pyright: ignore[reportAttributeAccessIssue]
    library.unknown_checking_proxy = proxy_once  # pyright: ignore[reportAttributeAccessIssue]
    library.json_format = JsonFormatByIdentity()  # pyright: ignore[reportAttributeAccessIssue]
    try:
        yield
    finally:
        library.deserialize_properties, library.unknown_checking_proxy = real_deserialize, real_proxy
        library.json_format = real_json_format
    changed = [before for _, view, before in views.values() if json.dumps(_target(view), sort_keys=True) != before]
    if changed:
        raise PropsChangedError(f"a stack policy changed the props it was given: {changed[0][:300]}")


def answers(instance: Any, wire: tuple[list[Any], Any], shared: bool,
            configuration: str, share_views: bool = False) -> list[tuple[str, str, int, str]]:
    """Every diagnostic and not-applicable answer for the requests, from the shared methods or the library's
    (`configuration`: the document `instance` was configured with, as canonical JSON; `share_views`: the
    library's AnalyzeStack under `views_once`)."""
    from browser_platform_policies import server

    single, whole = wire
    if shared:
        responses = [server.analyze(instance, request, None) for request in single] \
            + [server.analyze_stack(instance, whole, None)]
    else:
        responses = [library_response(server.ORIGINAL_ANALYZE, instance, request, configuration) for request in single] \
            + [library_response(server.ORIGINAL_ANALYZE_STACK, instance, whole, configuration, share_views)]
    return [(d.policyName, d.message, d.enforcementLevel, d.urn) for response in responses for d in response.diagnostics] \
        + [("n/a", n.policy_name, 0, n.reason) for response in responses for n in response.not_applicable]


def compare(document: dict[str, Any], resources: list[Any], share_views: bool = False) -> list[tuple[str, str, int, str]]:
    """The shared methods' answers, asserted equal to the library's on the same requests."""
    instance = servicer(document)
    wire = requests(resources)
    configuration = json.dumps(document, sort_keys=True)
    shared = answers(instance, wire, True, configuration)
    assert shared == answers(instance, wire, False, configuration, share_views)
    return shared


def test_installed_on_this_pulumi_policy() -> None:
    from browser_platform_policies import server

    assert server.supported(), "pulumi_policy changed: review server.py against the new servicer"


@pytest.mark.parametrize("stack", stack_names())
def test_same_answers_on_every_stack(evaluated: Callable[[str], StackEvaluation], stack: str) -> None:
    compare({**config_document(stack), "all": "mandatory"}, evaluated(stack).resources)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_same_answers_on_the_violating_cases(evaluated: Callable[[str], StackEvaluation], case: Case) -> None:
    resources = mutated(evaluated(case.stack).resources)
    case.mutate(resources)
    assert compare({**config_document(case.stack), **case.config, "all": "mandatory"}, resources, share_views=True), case.id


def test_struct_conversion_gives_what_json_format_gives_and_proxies_only_unknowns() -> None:
    """server.struct_to_dict replaces json_format.MessageToDict; props are plain unless something is unknown."""
    from browser_platform_policies import server as shared
    from google.protobuf import json_format
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

    secret = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "s3cret"}
    value = {"a": 1.0, "b": [True, None, "x", {"c": [[1.5]]}], "d": {}, "e": [], "f": secret}
    message = struct(value)
    raw, unknown, special = shared.struct_to_dict(message)
    assert raw == json_format.MessageToDict(message) and not unknown and special
    props = shared._props(message)
    assert type(props) is dict and props["f"] == "s3cret" and props["b"][3]["c"] == [[1.5]]
    message = struct({"spec": {"list": ["ok", UNKNOWN_STRING_VALUE]}})
    assert shared.struct_to_dict(message)[1]
    proxied = shared._props(message)
    assert proxied["spec"]["list"][0] == "ok"
    with pytest.raises(UnknownValueError):
        _ = proxied["spec"]["list"][1]
def test_the_library_keeps_no_part_of_the_converted_dict(evaluated: Callable[[str], StackEvaluation]) -> None:
    """What makes `struct_to_dict_once` safe: the library passes `MessageToDict`'s result only to
    `deserialize_properties`, whose result shares no dict or list with it (and it leaves it unchanged)."""
    import inspect

    from pulumi_policy import policy as library
    from pulumi_policy.deserialize import deserialize_properties

    methods = [getattr(library._PolicyAnalyzerServicer, name)
               for name in ("Analyze", "AnalyzeStack", "_get_provider_resource")]
    uses = [line.strip() for method in methods for line in inspect.getsource(method).splitlines() if "json_format." in line]
    assert len(uses) == 3 and all("deserialize_properties(json_format.MessageToDict(" in line for line in uses), uses

    def containers(value: Any) -> list[Any]:
        if isinstance(value, dict):
            return [value, *(c for item in value.values() for c in containers(item))]
        if isinstance(value, list):
            return [value, *(c for item in value for c in containers(item))]
        return []

    for resource in evaluated("prod").resources:
        converted = json_format.MessageToDict(struct(resource.inputs))
        before = json.dumps(converted, sort_keys=True)
        result = deserialize_properties(converted)
        assert not {id(c) for c in containers(converted)} & {id(c) for c in containers(result)}, resource.urn
        assert json.dumps(converted, sort_keys=True) == before, resource.urn


def test_converting_once_leaves_the_library_answers_unchanged(evaluated: Callable[[str], StackEvaluation]) -> None:
    from browser_platform_policies import server

    document = {**config_document("dev"), "all": "mandatory"}
    instance = servicer(document)
    single, whole = requests(evaluated("dev").resources)
    plain = [server.ORIGINAL_ANALYZE(instance, r, None) for r in single] + [server.ORIGINAL_ANALYZE_STACK(instance, whole, None)]
    with struct_to_dict_once():
        once = [server.ORIGINAL_ANALYZE(instance, r, None) for r in single] \
            + [server.ORIGINAL_ANALYZE_STACK(instance, whole, None)]
        again = server.ORIGINAL_ANALYZE_STACK(instance, whole, None)  # every Struct now answered from the memo
    assert [r.SerializeToString(deterministic=True) for r in once] == [r.SerializeToString(deterministic=True) for r in plain]
    assert again.SerializeToString(deterministic=True) == plain[-1].SerializeToString(deterministic=True)


def test_sharing_views_leaves_the_library_answers_unchanged(evaluated: Callable[[str], StackEvaluation]) -> None:
    """The library with each props view built once per AnalyzeStack (`views_once`) answers the violating cases of
    the stack with the fewest cases exactly as the library with a fresh view per policy (each case costs the
    library's full price twice; the mutation check under `views_once` runs on every case)."""
    from browser_platform_policies import server

    by_stack: dict[str, list[Case]] = {}
    for case in CASES:
        by_stack.setdefault(case.stack, []).append(case)
    cases = min(by_stack.values(), key=len)
    assert cases
    for case in cases:
        resources = mutated(evaluated(case.stack).resources)
        case.mutate(resources)
        document = {**config_document(case.stack), **case.config, "all": "mandatory"}
        instance = servicer(document)
        _, whole = requests(resources)
        with struct_to_dict_once():
            isolated = server.ORIGINAL_ANALYZE_STACK(instance, whole, None)
            with views_once():
                shared_views = server.ORIGINAL_ANALYZE_STACK(instance, whole, None)
        assert shared_views.SerializeToString(deterministic=True) == isolated.SerializeToString(deterministic=True), case.id


def test_a_policy_that_changes_its_props_fails_the_shared_views() -> None:
    """What makes `views_once` safe to use: a stack policy that writes into the props it reads fails the case."""
    from browser_platform_policies import server
    from pulumi_policy import EnforcementLevel, StackValidationPolicy
    from pulumi_policy import policy as library

    def writes(args: Any, report: Any) -> None:
        for resource in args.resources:
            resource.props["written"] = True

    instance = library._PolicyAnalyzerServicer("p", "0.1.0", [StackValidationPolicy("writes", "writes", writes)],
                                               EnforcementLevel.MANDATORY, None, None, None, None, None, None, None)
    request = analyzer_pb2.AnalyzeStackRequest(resources=[analyzer_pb2.AnalyzerResource(
        type="t:m:R", properties=struct({"a": {"b": [1.0]}}), urn="urn:pulumi:s::p::t:m:R::r", name="r")])
    with struct_to_dict_once():
        server.ORIGINAL_ANALYZE_STACK(instance, request, None)  # without views_once: nothing checks
        with pytest.raises(PropsChangedError), views_once():
            server.ORIGINAL_ANALYZE_STACK(instance, request, None)
