"""The upstream data in ../shared that the chart-values and CRD-schema tests read: required in CI, optional elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from offline.chart_values import in_ci, shared_data_missing


def require(directory: Path) -> None:
    """Fail in CI (`CI=true`), where ../shared is always provided; elsewhere skip, saying how to get the data."""
    why = shared_data_missing(directory)
    if why is None:
        return
    if in_ci():
        pytest.fail(why)
    pytest.skip(why)
