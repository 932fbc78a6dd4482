"""The reviewed Checkov skips (components/common/checkov.py) sit exactly where Checkov's two checks they answer would
fail: CKV_K8S_43 (an image without a digest) and CKV_K8S_35 (a Secret read into an environment variable). A new
object that does either without a stated reason fails here, before Checkov fails the scan workflow; a skip left on
an object that no longer needs it fails too."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from components.common.checkov import CHECKOV_SKIP, IMAGE_BY_TAG, SECRET_ENV
from offline.harness import StackEvaluation
from offline.render import manifest
from policy.browser_platform_policies import props
from tests.conftest import SCHEMA_STACKS

SKIP = re.compile(rf"^{re.escape(CHECKOV_SKIP)}\d+$")
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
REASON = re.compile(r"^(CKV_K8S_\d+)=(.{20,})$")


def expected_skips(resource_type: str, document: dict[str, Any]) -> set[str]:
    """The two checks Checkov would fail on this object, by its own rules (pod templates read as the pack does)."""
    template = props.pod_template(resource_type, document)
    if template is None:
        return set()
    containers = [ref.container for ref in props.containers(template[1])]
    checks = set()
    if any("@sha256:" not in str(container.get("image", "")) for container in containers):
        checks.add(IMAGE_BY_TAG)
    if any((env.get("valueFrom") or {}).get("secretKeyRef") for container in containers
           for env in container.get("env") or []):
        checks.add(SECRET_ENV)
    return checks


def written_skips(document: dict[str, Any]) -> dict[str, str]:
    annotations = (document.get("metadata") or {}).get("annotations") or {}
    skips = {}
    for key, value in annotations.items():
        if SKIP.match(key):
            match = REASON.match(value)
            assert match, f"{document['kind']}/{document['metadata']['name']}: {key}={value!r} states no reason"
            skips[match.group(1)] = match.group(2)
    return skips


@pytest.mark.parametrize("stack", SCHEMA_STACKS)
def test_every_checkov_skip_is_where_the_check_would_fail(
    evaluated: Callable[[str], StackEvaluation], stack: str
) -> None:
    mismatches = {}
    for resource in evaluated(stack).kubernetes_objects():
        document = manifest(resource)
        expected, written = expected_skips(resource.type, document), set(written_skips(document))
        if expected != written:
            mismatches[f"{document['kind']}/{document['metadata'].get('name')}"] = (sorted(expected), sorted(written))
    assert not mismatches, mismatches


def test_the_rules_see_both_checks() -> None:
    document = {"kind": "Deployment", "metadata": {"name": "x"}, "spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": "registry.example/x:1",
         "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}]}}}}
    assert expected_skips(DEPLOYMENT, document) == {IMAGE_BY_TAG, SECRET_ENV}
    document["spec"]["template"]["spec"]["containers"][0] = {"name": "c", "image": "registry.example/x@sha256:" + "a" * 64}
    assert expected_skips(DEPLOYMENT, document) == set()
    assert expected_skips("kubernetes:core/v1:Service", {"kind": "Service", "spec": {}}) == set()
