"""Shared fixtures: each stack file is evaluated once per test session on Pulumi's mocks."""

from __future__ import annotations

import gc
from collections.abc import Callable

import pytest

from offline.harness import StackEvaluation, evaluate_stack, stack_names, test_only_stack_names

# The same collector thresholds the program sets in __main__.py, from collection on: the SDKs' long-lived
# objects would otherwise be walked by every full collection the tests' own allocations trigger.
gc.set_threshold(100_000, 50, 100)

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
