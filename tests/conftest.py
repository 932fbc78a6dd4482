"""Shared fixtures: each stack file is evaluated once per test session on Pulumi's mocks."""

from __future__ import annotations

import gc
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from offline.harness import EvaluationCache, StackEvaluation, evaluate_stack, stack_names, test_only_stack_names

# The same collector thresholds the program sets in __main__.py, from collection on: the SDKs' long-lived
# objects would otherwise be walked by every full collection the tests' own allocations trigger.
gc.set_threshold(100_000, 50, 100)

EVALUATION_CACHE_KEY = "browser_platform_evaluation_cache"
_OWN_DIRECTORY = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    """Every `evaluate_stack` of this session (the `evaluated` fixture's and each test's own, overrides included)
    runs the program once per distinct config for the whole session, in whichever xdist worker needs it first
    (offline.harness.EvaluationCache): the controller makes the session's directory and hands it to the workers."""
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is not None and EVALUATION_CACHE_KEY in workerinput:
        directory = Path(workerinput[EVALUATION_CACHE_KEY])
    else:
        directory = Path(tempfile.mkdtemp(prefix="browser-platform-evaluations-"))
        config.stash[_OWN_DIRECTORY] = directory
    EvaluationCache(directory).install()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: a worker shares the controller's evaluation directory."""
    node.workerinput[EVALUATION_CACHE_KEY] = str(node.config.stash[_OWN_DIRECTORY])


def pytest_unconfigure(config: pytest.Config) -> None:
    EvaluationCache.uninstall()
    directory = config.stash.get(_OWN_DIRECTORY, None)
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)

STACKS = stack_names()
SCHEMA_STACKS = STACKS + test_only_stack_names()
"""The stacks the strict schema checks run on: the real ones and the test-only ones (tests/stacks/)."""


@pytest.fixture(scope="session")
def evaluated() -> Callable[[str], StackEvaluation]:
    """`evaluated("dev")`: the recorded resources of Pulumi.dev.yaml, evaluated once and shared (per test session,
    or per xdist worker). Read it, never change it: copy first (tests/policy/pack.py `mutated`)."""
    cache: dict[str, StackEvaluation] = {}

    def get(stack: str) -> StackEvaluation:
        if stack not in cache:
            cache[stack] = evaluate_stack(stack)
        return cache[stack]

    return get
