"""The same workloads on kind, EKS and GKE; bad cloud config stops the program before anything is registered."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from offline.harness import PlatformMocks, RecordedResource, RecordingMonitor, StackEvaluation, evaluate, stack_file_config
from stack_config import ConfigError, validate_stack_config

KEY = "browser-platform"
WORKLOAD_LAYER = ("browser-platform:workloads:Workloads", "browser-platform:autoscaling:PodAutoscaling")


def workload_layer(evaluation: StackEvaluation) -> set[tuple[str, str, str]]:
    """(type, name, namespace) of every Kubernetes object below the workload and pod-autoscaling components."""
    by_urn = {r.urn: r for r in evaluation.resources}

    def in_layer(resource: RecordedResource) -> bool:
        parent = by_urn.get(resource.parent)
        while parent is not None:
            if parent.type in WORKLOAD_LAYER:
                return True
            parent = by_urn.get(parent.parent)
        return False

    return {
        (r.type, r.inputs["metadata"]["name"], r.inputs["metadata"].get("namespace", ""))
        for r in evaluation.kubernetes_objects() if in_layer(r)
    }


def test_workload_layer_is_the_same_on_kind_eks_and_gke(evaluated: Callable[[str], StackEvaluation]) -> None:
    dev, eks, gke = (workload_layer(evaluated(stack)) for stack in ("dev", "prod", "prod-gcp"))
    assert len(dev) >= 10
    assert {t for t, _, _ in dev} >= {"kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Service",
                                      "kubernetes:networking.k8s.io/v1:NetworkPolicy"}
    assert eks == dev
    assert gke == dev


def test_browser_pods_tolerate_the_browser_pool_taint_everywhere(evaluated: Callable[[str], StackEvaluation]) -> None:
    for stack in ("dev", "prod", "prod-gcp"):
        [deployment] = [d for d in evaluated(stack).of_type("kubernetes:apps/v1:Deployment")
                        if d.inputs["metadata"]["name"] == "browser"]
        spec = deployment.inputs["spec"]["template"]["spec"]
        assert spec["nodeSelector"] == {"workload": "browser"}
        assert {"key": "workload", "operator": "Equal", "value": "browser", "effect": "NoSchedule"} in spec["tolerations"]


def test_stack_outputs_name_the_cluster_kind(evaluated: Callable[[str], StackEvaluation]) -> None:
    assert [evaluated(s).outputs["clusterKind"] for s in ("dev", "prod", "prod-gcp")] == ["kind", "eks", "gke"]


# ---------------------------------------------------------------------------------------------------------
# Bad cloud config
# ---------------------------------------------------------------------------------------------------------

def stack_values(stack: str) -> tuple[dict[str, Any], set[str]]:
    config, secrets = stack_file_config(stack)
    decoded = {key.split(":", 1)[1]: json.loads(value) if value[:1] in "{[" else value for key, value in config.items()}
    return decoded, {key.split(":", 1)[1] for key in secrets}


def encode(values: dict[str, Any]) -> dict[str, str]:
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in values.items()}


def problems_for(stack: str, mutate: Callable[[dict[str, Any]], None]) -> list[str]:
    values, secrets = stack_values(stack)
    values = copy.deepcopy(values)
    mutate(values)
    with pytest.raises(ConfigError) as raised:
        validate_stack_config(encode(values), secrets)
    return raised.value.problems


@pytest.mark.parametrize("stack", ["prod", "prod-gcp"])
def test_cloud_stack_configs_are_valid(stack: str) -> None:
    values, secrets = stack_values(stack)
    settings = validate_stack_config(encode(values), secrets)
    assert settings.config.cluster.kind == {"prod": "eks", "prod-gcp": "gke"}[stack]


def _drop_admin(values: dict[str, Any]) -> None:
    del values["cluster"]["adminPrincipalArn"]


def _drop_instance_types(values: dict[str, Any]) -> None:
    del values["cluster"]["nodePools"][1]["instanceTypes"]


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(values: dict[str, Any]) -> None:
        target = values
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
    return mutate


BAD_CLOUD_CONFIG = [
    ("prod", _drop_admin, "browser-platform:cluster.adminPrincipalArn: required"),
    ("prod", _set(("cluster", "adminPrincipalArn"), "platform-admin"),
     "browser-platform:cluster.adminPrincipalArn: 'platform-admin' is not an IAM role or user ARN"),
    ("prod", _drop_instance_types, "browser-platform:cluster.nodePools[1].instanceTypes: pool 'browser-base': required"),
    ("prod-gcp", _drop_instance_types,
     "browser-platform:cluster.nodePools[1].instanceTypes: pool 'browser-base': required"),
    ("prod", _set(("cluster", "kubernetesVersion"), "1.29"),
     "browser-platform:cluster.kubernetesVersion: '1.29' is not supported on eks"),
    ("prod-gcp", _set(("cluster", "kubernetesVersion"), "1.36"),
     "browser-platform:cluster.kubernetesVersion: '1.36' is not supported on gke"),
    ("prod", _set(("cluster", "vpcCidr"), "10.0.0.0/33"), "browser-platform:cluster.vpcCidr: '10.0.0.0/33' is not a CIDR block"),
    ("prod", _set(("cluster", "vpcCidr"), "10.0.0.0/24"), "browser-platform:cluster.vpcCidr: '10.0.0.0/24' must be a /16 to /20"),
    ("prod", _set(("cluster", "publicAccessCidrs"), ["0.0.0.0/0"]),
     "browser-platform:cluster.publicAccessCidrs[0]: '0.0.0.0/0' opens the Kubernetes API to the whole internet"),
    ("prod", _set(("cluster", "publicAccessCidrs"), ["203.0.113.7/24"]),
     "browser-platform:cluster.publicAccessCidrs[0]: '203.0.113.7/24' is not a CIDR block"),
    ("prod", _set(("cluster", "region"), "useast1"), "browser-platform:cluster.region: 'useast1' is not an AWS region"),
    ("prod", _set(("cluster", "zones"), ["us-east-1a", "eu-west-1b"]),
     "browser-platform:cluster.zones[1]: 'eu-west-1b' is not a zone of us-east-1"),
    ("prod-gcp", _set(("cluster", "masterIpv4Cidr"), "172.16.0.0/24"),
     "browser-platform:cluster.masterIpv4Cidr: '172.16.0.0/24' must be a /28"),
    ("prod-gcp", _set(("cluster", "podsCidr"), "10.10.0.0/16"),
     "browser-platform:cluster.podsCidr: 10.10.0.0/16 overlaps nodeCidr"),
    ("prod-gcp", _set(("cluster", "authorizedNetworks"), [{"cidrBlock": "0.0.0.0/0", "displayName": "all"}]),
     "browser-platform:cluster.authorizedNetworks[0].cidrBlock: '0.0.0.0/0' opens the Kubernetes API"),
    ("prod-gcp", _set(("cluster", "nodePools", 0, "instanceTypes"), ["n2-standard-4", "n2-standard-8"]),
     "browser-platform:cluster.nodePools[0].instanceTypes: pool 'api': a GKE node pool has exactly one machine type"),
    ("prod-gcp", _set(("cluster", "releaseChannel"), "NIGHTLY"), "browser-platform:cluster.releaseChannel:"),
    ("prod-gcp", _set(("cluster", "kind"), "aks"), "browser-platform:cluster.kind: must be one of: kind, eks, gke"),
    ("prod", _set(("cluster", "nodePools", 0, "taints"), [{"key": "dedicated", "effect": "NoExecute"}]),
     "browser-platform:cluster.nodePools: every pool has a NoSchedule or NoExecute taint"),
    ("prod-gcp", _set(("cluster", "nodePools", 0, "taints"), [{"key": "dedicated", "effect": "NoSchedule"}]),
     "browser-platform:cluster.nodePools: every pool has a NoSchedule or NoExecute taint"),
]


@pytest.mark.parametrize(("stack", "mutate", "expected"), BAD_CLOUD_CONFIG,
                         ids=[f"{s}-{e.split(':')[2].strip().split(' ')[0]}-{i}" for i, (s, _, e) in enumerate(BAD_CLOUD_CONFIG)])
def test_bad_cloud_config_names_the_key(stack: str, mutate: Callable[[dict[str, Any]], None], expected: str) -> None:
    problems = problems_for(stack, mutate)
    assert any(problem.startswith(expected) for problem in problems), problems


def test_world_open_api_needs_an_explicit_opt_in() -> None:
    values, secrets = stack_values("prod")
    values["cluster"]["publicAccessCidrs"] = ["0.0.0.0/0"]
    values["cluster"]["allowWorldApiAccess"] = True
    assert validate_stack_config(encode(values), secrets).config.cluster.kind == "eks"


def test_instance_types_are_rejected_on_kind_but_required_on_clouds() -> None:
    problems = problems_for("dev", _set(("cluster", "nodePools", 0, "instanceTypes"), ["m7i.xlarge"]))
    assert any(p.startswith("browser-platform:cluster.nodePools[0].instanceTypes:") for p in problems), problems


@pytest.mark.parametrize(("stack", "mutate"), [("prod", _drop_admin), ("prod-gcp", _drop_instance_types)])
def test_bad_cloud_config_registers_nothing(stack: str, mutate: Callable[[dict[str, Any]], None]) -> None:
    values, secrets = stack_values(stack)
    mutate(values)
    config = {f"{KEY}:{key}": value for key, value in encode(values).items()}
    monitor = RecordingMonitor(PlatformMocks())
    with pytest.raises(ConfigError):
        evaluate(stack, config, [f"{KEY}:{key}" for key in secrets], monitor=monitor)
    assert monitor.recorded == []
