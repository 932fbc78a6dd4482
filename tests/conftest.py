"""Shared fixtures: each stack file is evaluated once per test session on Pulumi's mocks."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from offline.harness import StackEvaluation, evaluate_stack, stack_names

STACKS = stack_names()


@pytest.fixture(scope="session")
def evaluated() -> Callable[[str], StackEvaluation]:
    """`evaluated("dev")`: the recorded resources of Pulumi.dev.yaml, evaluated once and shared."""
    cache: dict[str, StackEvaluation] = {}

    def get(stack: str) -> StackEvaluation:
        if stack not in cache:
            cache[stack] = evaluate_stack(stack)
        return cache[stack]

    return get
