"""Policy-pack fixtures: the pack process (one per test module) and the pack's package on sys.path."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from .pack import POLICY_DIR, REPO_ROOT, PackProcess

for path in (str(POLICY_DIR), str(REPO_ROOT)):
    if path not in sys.path:
        sys.path.insert(0, path)


@pytest.fixture(scope="module")
def pack() -> Iterator[PackProcess]:
    process = PackProcess()
    try:
        yield process
    finally:
        process.close()
