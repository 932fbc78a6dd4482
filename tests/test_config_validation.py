"""Bad stack config ends the program with one readable line per problem, before anything is registered."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from offline.harness import PlatformMocks, RecordingMonitor, evaluate, stack_file_config
from stack_config import ConfigError, validate_stack_config
from stack_config.workloads import BrowserWorkload

KEY = "browser-platform"


def dev_config() -> tuple[dict[str, Any], set[str]]:
    config, secrets = stack_file_config("dev")
    decoded = {key.split(":", 1)[1]: json.loads(value) if value[:1] in "{[" else value for key, value in config.items()}
    return decoded, {key.split(":", 1)[1] for key in secrets}


def problems_for(mutate: Any) -> list[str]:
    values, secrets = dev_config()
    values = copy.deepcopy(values)
    mutate(values)
    encoded = {key: value if isinstance(value, str) else json.dumps(value) for key, value in values.items()}
    with pytest.raises(ConfigError) as raised:
        validate_stack_config(encoded, secrets)
    return raised.value.problems


def test_dev_stack_config_is_valid() -> None:
    values, secrets = dev_config()
    settings = validate_stack_config(
        {key: value if isinstance(value, str) else json.dumps(value) for key, value in values.items()}, secrets)
    assert settings.config.cluster.kind == "kind"
    assert settings.secrets == {"apiSecretKey": "offline-secret-apiSecretKey",
                                "grafanaAdminPassword": "offline-secret-grafanaAdminPassword",
                                "postgresPassword": "offline-secret-postgresPassword",  # dataStores
                                "postgresMasterPassword": "offline-secret-postgresMasterPassword",
                                "redisAuthToken": "offline-secret-redisAuthToken"}


@pytest.mark.parametrize(("mutate", "expected_path", "expected_text"), [
    (lambda c: c["workloads"]["api"].update(replicaz=2),
     f"{KEY}:workloads.api.replicaz", "did you mean 'replicas'"),
    (lambda c: c["workloads"]["browser"]["resources"]["limits"].update(memory="lots"),
     f"{KEY}:workloads.browser.resources.limits.memory", "not a memory quantity"),
    (lambda c: c["workloads"]["browser"].update(shmSize="2Gi"),
     f"{KEY}:workloads.browser.resources.limits.memory", "plus shmSize"),
    (lambda c: c["workloads"]["browser"].update(image="ghcr.io/example/browser:latest"),
     f"{KEY}:workloads.browser.image", "'latest' tag is not allowed"),
    (lambda c: c["workloads"]["api"].update(image="ghcr.io/example/api"),
     f"{KEY}:workloads.api.image", "explicit tag"),
    (lambda c: c["workloads"]["api"].update(imageDigest="sha256:abc"),
     f"{KEY}:workloads.api.imageDigest", "sha256:<64 hex"),
    (lambda c: c["workloads"]["api"].update(autoscaling={"minReplicas": 5, "maxReplicas": 2}),
     f"{KEY}:workloads.api.autoscaling.minReplicas", "must not exceed maxReplicas"),
    (lambda c: c["workloads"]["browser"].update(nodeSelector={"workload": "gpu"}),
     f"{KEY}:workloads.browser.nodeSelector", "matches no node pool"),
    (lambda c: c["cluster"].update(kind="minikube"), f"{KEY}:cluster.kind", "must be one of"),
    (lambda c: c["cluster"].update(kubernetesVersion="1.20"),
     f"{KEY}:cluster.kubernetesVersion", "allowed: 1.34, 1.35, 1.36"),
    (lambda c: c["cluster"].update(kubernetesVersion="1.37"),
     f"{KEY}:cluster.kubernetesVersion", "allowed: 1.34, 1.35, 1.36"),
    (lambda c: c["cluster"]["nodePools"][0].update(minNodes=3, maxNodes=1),
     f"{KEY}:cluster.nodePools[0].minNodes", "must not exceed maxNodes"),
    (lambda c: c["cluster"]["nodePools"][1].update(capacityType="spot"),
     f"{KEY}:cluster.nodePools[1].capacityType", "eks and gke only"),
    (lambda c: c.update(namespace="default"), f"{KEY}:namespace", "reserved"),
    (lambda c: c.update(clsuter={}), f"{KEY}:clsuter", "did you mean 'browser-platform:cluster'"),
    (lambda c: c["workloads"]["api"].update(ports={"web": 80}), f"{KEY}:workloads.api.ports", "1024-65535"),
    (lambda c: c["workloads"]["api"].update(security={"readOnlyRootFilesystem": False}),
     f"{KEY}:workloads.api.security.reason", "say why"),
    # Every pool tainted: cluster add-ons and platform services would stay Pending.
    (lambda c: c["cluster"]["nodePools"][0].update(taints=[{"key": "dedicated", "value": "api"}]),
     f"{KEY}:cluster.nodePools", "leave at least one pool untainted"),
    (lambda c: c["cluster"].update(nodeImage="kindest/node"), f"{KEY}:cluster.nodeImage", "explicit tag"),
    (lambda c: c["cluster"].update(nodeImage="kindest/node:latest"), f"{KEY}:cluster.nodeImage", "'latest'"),
    (lambda c: c["cluster"].update(nodeImage="kindest/node:v1.34.0"),
     f"{KEY}:cluster.nodeImage", "runs Kubernetes 1.34, but kubernetesVersion is 1.35"),
    (lambda c: c["cluster"].update(ingressHostPorts={"http": 8443, "https": 8443}),
     f"{KEY}:cluster.ingressHostPorts.https", "must differ from http"),
    (lambda c: c.update(namespace="monitoring"), f"{KEY}:namespace", "reserved"),
    (lambda c: c.update(ingressNamespace="kube-system"), f"{KEY}:ingressNamespace", "reserved"),
    (lambda c: c.update(ingressNamespace="browser-platform"), f"{KEY}:ingressNamespace", "must differ from namespace"),
    (lambda c: c["workloads"]["api"].update(ports={"http": 3000}),
     f"{KEY}:workloads.api.ports", "needs a port named 'metrics'"),
    (lambda c: c["workloads"]["browser"].update(ports={"http": 3000, "metrics": 9090}),
     f"{KEY}:workloads.browser.ports", "a port named 'cdp' is required"),
    (lambda c: c["workloads"]["browser"].update(env={"HOME": "/home/chrome"}),
     f"{KEY}:workloads.browser.env.HOME", "is set by the platform"),
    (lambda c: c["workloads"]["api"].update(env={"BROWSER_CDP_PORT": "9223"}),
     f"{KEY}:workloads.api.env.BROWSER_CDP_PORT", "is set by the platform"),
])
def test_bad_config_names_the_key_and_what_is_allowed(mutate: Any, expected_path: str, expected_text: str) -> None:
    problems = problems_for(mutate)
    matching = [p for p in problems if p.startswith(expected_path + ":")]
    assert matching, f"no problem reported for {expected_path}; got {problems}"
    assert expected_text in matching[0]


def test_every_problem_is_reported_at_once() -> None:
    def break_three_things(c: dict[str, Any]) -> None:
        c["workloads"]["api"]["replicaz"] = 1
        c["workloads"]["browser"]["sessionsPerPod"] = 0
        c["cluster"]["name"] = "Not A Name"

    problems = problems_for(break_three_things)
    assert len(problems) == 3
    assert {p.split(":")[1] for p in problems} == {
        "workloads.api.replicaz", "workloads.browser.sessionsPerPod", "cluster.name"}


def test_secret_must_come_from_secret_config() -> None:
    values, _ = dev_config()
    values["apiSecretKey"] = "plaintext-in-the-stack-file"
    encoded = {key: value if isinstance(value, str) else json.dumps(value) for key, value in values.items()}
    with pytest.raises(ConfigError) as raised:
        validate_stack_config(encoded, secret_keys={"grafanaAdminPassword", "postgresPassword", "postgresMasterPassword",
                                                       "redisAuthToken"})
    assert raised.value.problems == [
        f"{KEY}:workloads.api.secretEnv.API_SECRET_KEY: '{KEY}:apiSecretKey' is plaintext in the stack file; "
        "secrets must be set with `pulumi config set --secret apiSecretKey <value>`"
    ]


def test_missing_secret_says_how_to_set_it() -> None:
    problems = problems_for(lambda c: c.pop("apiSecretKey"))
    assert problems == [
        f"{KEY}:workloads.api.secretEnv.API_SECRET_KEY: refers to '{KEY}:apiSecretKey', which is not set; "
        "run `pulumi config set --secret apiSecretKey <value>`"
    ]


def test_invalid_config_registers_nothing_and_raises_a_run_error() -> None:
    config, secrets = stack_file_config("dev")
    workloads = json.loads(config[f"{KEY}:workloads"])
    workloads["browser"]["replicaz"] = 4
    config[f"{KEY}:workloads"] = json.dumps(workloads)
    monitor = RecordingMonitor(PlatformMocks())
    with pytest.raises(ConfigError) as raised:
        evaluate("dev", config, secrets, monitor=monitor)
    assert monitor.recorded == []
    message = str(raised.value)
    assert "Traceback" not in message
    assert f"{KEY}:workloads.browser.replicaz: unknown key" in message


def test_defaults_are_production_shaped() -> None:
    settings = validate_stack_config({"cluster": json.dumps({
        "kind": "kind", "name": "minimal",
        "nodePools": [{"name": "api", "labels": {"workload": "api"}},
                      {"name": "browser", "labels": {"workload": "browser"}}],
    }), "grafanaAdminPassword": "x"}, {"grafanaAdminPassword"})  # monitoring is on by default and needs it
    api, browser = settings.config.workloads["api"], settings.config.workloads["browser"]
    assert isinstance(browser, BrowserWorkload)
    assert api.min_replicas >= 3
    assert browser.autoscaling is not None and browser.autoscaling.max_replicas == 20
    assert browser.sessions_per_pod == 10 and browser.shm_size == "2Gi"
    assert browser.termination_grace_seconds >= browser.session_timeout_seconds
    assert api.security.read_only_root_filesystem and browser.security.read_only_root_filesystem


def test_reserved_namespaces_are_the_ones_the_services_create() -> None:
    from components.services.keda import KedaArgs
    from components.services.kiali import KIALI_NAMESPACE
    from components.services.mesh import ISTIO_NAMESPACE
    from components.services.monitoring import MONITORING_NAMESPACE
    from components.services.tls import CERT_MANAGER_NAMESPACE
    from components.services.tracing import TRACING_NAMESPACE
    from stack_config.platform import ADDON_NAMESPACES

    keda_namespace = KedaArgs.__dataclass_fields__["namespace"].default
    assert set(ADDON_NAMESPACES) == {ISTIO_NAMESPACE, MONITORING_NAMESPACE, CERT_MANAGER_NAMESPACE, keda_namespace,
                                     TRACING_NAMESPACE, KIALI_NAMESPACE}


def test_metrics_port_is_optional_without_monitoring() -> None:
    def no_monitoring(c: dict[str, Any]) -> None:
        c["monitoring"] = {"enabled": False}
        c["autoscaling"] = {"keda": {"enabled": False}}
        c["workloads"]["api"]["ports"] = {"http": 3000}
        c.pop("grafanaAdminPassword")

    values, secrets = dev_config()
    values = copy.deepcopy(values)
    no_monitoring(values)
    encoded = {key: value if isinstance(value, str) else json.dumps(value) for key, value in values.items()}
    settings = validate_stack_config(encoded, secrets - {"grafanaAdminPassword"})
    assert settings.config.workloads["api"].ports == {"http": 3000}


def test_a_malformed_workload_is_one_problem_not_an_orphaned_secret() -> None:
    problems = problems_for(lambda c: c["workloads"].update(api=[]))
    assert len(problems) == 1 and problems[0].startswith(f"{KEY}:workloads.api:"), problems


def test_partial_autoscaling_keeps_the_workloads_own_targets() -> None:
    values, secrets = dev_config()
    values["workloads"]["browser"]["autoscaling"] = {"minReplicas": 2, "maxReplicas": 4}
    values["workloads"]["api"]["autoscaling"] = {"minReplicas": 2, "maxReplicas": 4, "cpuUtilization": 60}
    encoded = {key: value if isinstance(value, str) else json.dumps(value) for key, value in values.items()}
    workloads = validate_stack_config(encoded, secrets).config.workloads
    browser, api = workloads["browser"].autoscaling, workloads["api"].autoscaling
    assert browser is not None and api is not None
    assert (browser.cpu_utilization, browser.memory_utilization) == (75, 85)
    assert (api.cpu_utilization, api.memory_utilization) == (60, 80)
