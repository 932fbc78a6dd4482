"""Checkov's inline suppressions: the reviewed differences between this program and Checkov's Kubernetes checks.

Checkov reads `checkov.io/skip<N>: <check>=<reason>` from an object's metadata annotations and reports the check as
skipped with that reason. Every skip this program writes states why the check's advice does not fit the object.
"""

from __future__ import annotations

from collections.abc import Mapping

CHECKOV_SKIP = "checkov.io/skip"

IMAGE_BY_TAG = "CKV_K8S_43"
"""Image should use digest."""
SECRET_ENV = "CKV_K8S_35"
"""Prefer secrets as files over secrets as environment variables."""


def checkov_skips(reasons: Mapping[str, str]) -> dict[str, str]:
    """The annotations that skip each check of `reasons` ({check id: why}) on one object, numbered from 1."""
    return {f"{CHECKOV_SKIP}{index}": f"{check}={reason}" for index, (check, reason) in enumerate(reasons.items(), 1)}
