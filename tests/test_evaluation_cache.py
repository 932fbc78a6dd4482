"""The test session's evaluation cache (offline.harness.EvaluationCache): one program run per distinct input,
shared by the xdist workers, a fresh copy for every caller, and a key that sees every input besides the sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from offline import cloud_fakes
from offline.harness import REPO_ROOT, EvaluationCache, RecordedResource, StackEvaluation, evaluate_stack


def test_the_suite_runs_with_the_cache_installed() -> None:
    assert EvaluationCache.installed is not None


def test_every_call_gets_its_own_copy() -> None:
    first, second = evaluate_stack("dev"), evaluate_stack("dev")
    assert first is not second and first.resources[0] is not second.resources[0]
    assert [r.urn for r in first.resources] == [r.urn for r in second.resources]
    first.resources[0].inputs["changed"] = True
    assert "changed" not in evaluate_stack("dev").resources[0].inputs


def test_overrides_and_uncached_calls_are_evaluated_as_before() -> None:
    assert evaluate_stack("dev", {"nonsense": None}).resources == evaluate_stack("dev").resources
    # Registration order varies between runs of the program (outputs resolve concurrently); the set does not.
    fresh, cached = evaluate_stack("dev", cache=False), evaluate_stack("dev")
    assert sorted(r.urn for r in fresh.resources) == sorted(r.urn for r in cached.resources)


def test_the_key_sees_config_environment_and_fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    program = REPO_ROOT / "__main__.py"

    def key(config: dict[str, str] | None = None) -> str:
        return EvaluationCache.key("dev", config or {"a": "1"}, ["s"], program)

    base = key()
    assert key() == base and key({"a": "2"}) != base
    assert EvaluationCache.key("prod", {"a": "1"}, ["s"], program) != base
    assert EvaluationCache.key("dev", {"a": "1"}, [], program) != base
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw7")  # differs per worker: not an input of the program
    assert key() == base
    monkeypatch.setenv("KUBECONFIG", "/elsewhere")
    assert key() != base
    monkeypatch.delenv("KUBECONFIG")
    monkeypatch.setattr(cloud_fakes, "FAKE_CA", "UkVQTEFDRUQ=")
    assert key() != base


def test_processes_share_one_evaluation_through_the_directory(tmp_path: Path) -> None:
    runs: list[int] = []

    def run() -> StackEvaluation:
        runs.append(1)
        return StackEvaluation("s", [RecordedResource("urn:a", "t", "a", True, "", "", [], {}, {"x": [1.0]})], {})

    first, second = EvaluationCache(tmp_path), EvaluationCache(tmp_path)
    stored = first._shared("k", run)
    assert second._shared("k", run) == stored and runs == [1]
    assert (first.evaluations, second.evaluations) == (1, 0)
