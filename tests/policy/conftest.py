"""Policy-pack fixtures: the pack process (one per test session, or per xdist worker) and the pack's package
on sys.path."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from .pack import POLICY_DIR, REPO_ROOT, PackProcess

for path in (str(POLICY_DIR), str(REPO_ROOT)):
    if path not in sys.path:
        sys.path.insert(0, path)


@pytest.fixture(scope="session")
def pack() -> Iterator[PackProcess]:
    """The running pack, shared by every policy test module: starting one costs about a second, and a test
    that analyzes configures it first (`configure`, `configure_stack`), so no test depends on another's."""
    process = PackProcess()
    try:
        yield process
    finally:
        process.close()
