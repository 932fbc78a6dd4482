"""Individual policies called directly, with props wrapped the way the pack's server wraps them."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy import ResourceValidationArgs
from pulumi_policy.policy import PolicyResourceOptions

from .pack import UNKNOWN_STRING


def wrapped(props: dict[str, Any]) -> Any:
    from pulumi_policy.proxy import unknown_checking_proxy

    return unknown_checking_proxy(props)


def run(check: Any, resource_type: str, props: dict[str, Any], config: dict[str, Any] | None = None,
        schema: dict[str, Any] | None = None) -> list[str]:
    from browser_platform_policies.config import Settings

    messages: list[str] = []
    args = ResourceValidationArgs(resource_type, wrapped(props), "urn:x", "x",
                                  PolicyResourceOptions(False, [], None, [], None, []), None)  # type: ignore[arg-type]
    check(args, Settings(config or {}, schema or {}), lambda message, urn=None: messages.append(message))
    return messages


def cronjob(container: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "c", "namespace": "ns"},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [container]}}}}}}


def test_cronjob_pod_template_path_is_followed() -> None:
    from browser_platform_policies import kubernetes

    messages = run(kubernetes.check_not_privileged, "kubernetes:batch/v1:CronJob",
                   cronjob({"name": "job", "image": "x:1", "securityContext": {"privileged": True}}))
    assert messages and "container 'job'" in messages[0]
    # Jobs are not probed
    assert run(kubernetes.check_probes, "kubernetes:batch/v1:CronJob", cronjob({"name": "job"}),
               schema=kubernetes.PROBES_SCHEMA) == []


def test_unknown_value_raises_for_the_wrapper_to_skip() -> None:
    from browser_platform_policies import kubernetes
    from pulumi_policy.proxy import UnknownValueError

    props = cronjob({"name": "job", "image": UNKNOWN_STRING})
    with pytest.raises(UnknownValueError):
        run(kubernetes.check_image_reference, "kubernetes:batch/v1:CronJob", props, schema=kubernetes.IMAGE_SCHEMA)


def test_numbers_arrive_as_floats_and_strings() -> None:
    from browser_platform_policies import cloud

    props = {"metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1.0}}
    assert run(cloud.check_imdsv2, "aws:ec2/launchTemplate:LaunchTemplate", props, {"maxHopLimit": 1.0},
               {"maxHopLimit": {"default": 1}}) == []


@pytest.mark.parametrize(("image", "ok"), [
    ("ghcr.io/example/api:1.0.0", True),
    ("ghcr.io/example/api:1.0.0@sha256:" + "a" * 64, True),
    ("ghcr.io/examplex/api:1.0.0", False),
    ("nginx:1.27", False),
    ("localhost:5000/example/api:1", False),
])
def test_allowed_registries(image: str, ok: bool) -> None:
    from browser_platform_policies import kubernetes

    messages = run(kubernetes.check_image_registry, "kubernetes:batch/v1:CronJob", cronjob({"name": "c", "image": image}),
                   {"allowedRegistries": ["ghcr.io/example/"]}, kubernetes.REGISTRY_SCHEMA)
    assert (messages == []) is ok, messages


def test_kind_pools_read_labels_and_kubeadm_taints() -> None:
    from browser_platform_policies.pools import kind_pools, schedulable_on

    stdin = """
kind: Cluster
nodes:
- role: control-plane
- role: worker
  labels: {workload: browser}
  kubeadmConfigPatches:
  - |
    kind: JoinConfiguration
    nodeRegistration:
      taints: [{key: workload, value: browser, effect: NoSchedule}]
- role: worker
  labels: {workload: browser}
  kubeadmConfigPatches:
  - |
    kind: JoinConfiguration
    nodeRegistration:
      taints: [{key: workload, value: browser, effect: NoSchedule}]
"""
    pools = kind_pools("urn", {"create": "kind create cluster", "stdin": stdin})
    browser = next(p for p in pools if p.labels.get("workload") == "browser")
    assert browser.max_nodes == 2
    pod = {"nodeSelector": {"workload": "browser"}}
    assert schedulable_on(pod, browser)[0] is False
    pod["tolerations"] = [{"key": "workload", "operator": "Equal", "value": "browser", "effect": "NoSchedule"}]
    assert schedulable_on(pod, browser)[0] is True


def test_extensions_group_workloads_are_workloads() -> None:
    from browser_platform_policies import kubernetes
    from browser_platform_policies.props import kube_type

    kt = kube_type("kubernetes:extensions/v1beta1:Deployment")
    assert kt is not None and kt.group_kind == "apps/Deployment"
    nested = {"metadata": {"name": "d", "namespace": "ns"},
              "spec": {"template": {"spec": {"containers": [{"name": "c", "securityContext": {"privileged": True}}]}}}}
    assert run(kubernetes.check_not_privileged, "kubernetes:extensions/v1beta1:Deployment", nested)


def stack_args(resources: list[dict[str, Any]]) -> Any:
    from pulumi_policy import StackValidationArgs
    from pulumi_policy.policy import PolicyResource

    wrapped_resources = [PolicyResource(r["type"], wrapped(r["props"]), f"urn:{i}", f"r{i}",
                                        PolicyResourceOptions(False, [], None, [], None, []), None, None, [], {})  # type: ignore[arg-type]
                         for i, r in enumerate(resources)]
    return StackValidationArgs(wrapped_resources, {})


def test_stack_policy_skips_only_the_unknown_resource() -> None:
    from browser_platform_policies import stack

    labels = {"app": "a"}
    deployment = {"metadata": {"name": "a", "namespace": "ns"},
                  "spec": {"template": {"metadata": {"labels": labels},
                                        "spec": {"containers": [{"name": "c", "ports": [{"name": "http",
                                                                                          "containerPort": 80.0}]}]}}}}
    unknown = {"metadata": {"name": "u", "namespace": "ns"}, "spec": {"selector": UNKNOWN_STRING}}
    wrong = {"metadata": {"name": "w", "namespace": "ns"}, "spec": {"selector": labels, "ports": [{"port": 80.0,
                                                                                                   "targetPort": "grpc"}]}}
    args = stack_args([{"type": "kubernetes:apps/v1:Deployment", "props": deployment},
                       {"type": "kubernetes:core/v1:Service", "props": unknown},
                       {"type": "kubernetes:core/v1:Service", "props": wrong}])
    messages: list[str] = []
    stack.check_services(args, {}, lambda message, urn=None: messages.append(message))
    assert len(messages) == 1 and "Service ns/w" in messages[0] and "'grpc'" in messages[0]


def test_stack_model_is_built_once_per_resources_list() -> None:
    from browser_platform_policies import stack

    args = stack_args([{"type": "kubernetes:core/v1:Namespace", "props": {"metadata": {"name": "ns"}}}])
    first = stack._model(args, "a")
    assert stack._model(args, "b") is first
    again = stack_args([{"type": "kubernetes:core/v1:Namespace", "props": {"metadata": {"name": "ns"}}}])
    assert stack._model(again, "a") is not first  # another list (another request, or the library's servicer)
