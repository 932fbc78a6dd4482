"""The shared servicer's shortcuts (policy/browser_platform_policies/server.py) on paths the pack's own policies
never take: an async validate callback, a changed runtime environment, overlapping AnalyzeStack requests.
test_server.py compares the shared methods with the library's on every stack and violating case."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy

from .pack import struct


def _servicer(policies: list[Any]) -> Any:
    from pulumi_policy import policy as library

    return library._PolicyAnalyzerServicer("paths", "0.1.0", policies, EnforcementLevel.MANDATORY,
                                           None, None, None, None, None, None, None)


def _answers(response: Any) -> list[tuple[str, str, int]]:
    return [(d.policyName, d.message, d.enforcementLevel) for d in response.diagnostics] \
        + [(n.policy_name, n.reason, -1) for n in response.not_applicable]


def test_async_callbacks_answer_as_the_library_does() -> None:
    from browser_platform_policies import server

    async def reports(args: Any, report: Any) -> None:
        report(f"async saw {args.props['metadata']['name']}")

    def sync_then_async(args: Any, report: Any) -> Any:
        report("sync part")
        return reports(args, report)

    policies = [ResourceValidationPolicy("async-one", "async", reports),
                ResourceValidationPolicy("mixed", "list of callbacks", [sync_then_async, reports])]
    instance = _servicer(policies)
    assert server._direct(policies[0]) is not None and server._direct(policies[1]) is not None
    request = analyzer_pb2.AnalyzeRequest(type="kubernetes:core/v1:Service", properties=struct({"metadata": {"name": "x"}}),
                                          urn="urn:pulumi:s::p::kubernetes:core/v1:Service::x", name="x")
    shared = _answers(server.analyze(instance, request, None))
    assert shared == _answers(server.ORIGINAL_ANALYZE(instance, request, None))
    assert [a[1] for a in shared] == ["async\nasync saw x", "list of callbacks\nsync part",
                                      "list of callbacks\nasync saw x", "list of callbacks\nasync saw x"]


def test_an_async_callback_failure_is_wrapped_as_the_library_wraps_it() -> None:
    from browser_platform_policies import server

    async def fails(args: Any, report: Any) -> None:
        raise ValueError("boom")

    instance = _servicer([ResourceValidationPolicy("fails", "fails", fails)])
    request = analyzer_pb2.AnalyzeRequest(type="kubernetes:core/v1:Service", properties=struct({}), urn="u", name="x")
    for method in (server.analyze, server.ORIGINAL_ANALYZE):
        with pytest.raises(RuntimeError, match="Validation failed: boom"):
            method(instance, request, None)


def test_runtime_settings_are_configured_again_when_the_environment_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    from browser_platform_policies import server

    instance = _servicer([ResourceValidationPolicy("quiet", "quiet", lambda args, report: None)])
    calls: list[str | None] = []
    monkeypatch.setattr(type(instance), "_configure_runtime_settings",
                        lambda self: calls.append(__import__("os").environ.get("PULUMI_CONFIG")))
    request = analyzer_pb2.AnalyzeRequest(type="kubernetes:core/v1:Service", properties=struct({}), urn="u", name="x")
    monkeypatch.setenv("PULUMI_CONFIG", '{"p:a": "1"}')
    server.analyze(instance, request, None)
    server.analyze(instance, request, None)
    server.analyze_stack(instance, analyzer_pb2.AnalyzeStackRequest(), None)
    assert calls == ['{"p:a": "1"}']
    monkeypatch.setenv("PULUMI_CONFIG", '{"p:a": "2"}')
    server.analyze(instance, request, None)
    monkeypatch.setenv("PULUMI_STACK", "other")
    server.analyze(instance, request, None)
    assert calls == ['{"p:a": "1"}', '{"p:a": "2"}', '{"p:a": "2"}']


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_pause_nests_and_restores_the_collector(enabled: bool) -> None:
    from browser_platform_policies import server

    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        with server._collector_paused():
            assert not gc.isenabled()
            with server._collector_paused():  # an overlapping request
                assert not gc.isenabled()
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
        with pytest.raises(ValueError), server._collector_paused():
            raise ValueError("a failing request")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
