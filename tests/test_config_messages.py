"""What a newcomer reads for a mistyped stack file: messages that say what to write, never a traceback (under
`pulumi up` the program raises ConfigError, which the runtime prints without one)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from offline.harness import stack_file_config
from stack_config import ConfigError, validate_stack_config
from stack_config.cluster import KIND_NODE_IMAGES


def problems(overrides: dict[str, Any], stack: str = "dev") -> list[str]:
    values, secret_keys = stack_file_config(stack)
    own = {key.split(":", 1)[1]: value for key, value in values.items()}
    own.update({key: value if isinstance(value, str) else json.dumps(value) for key, value in overrides.items()})
    with pytest.raises(ConfigError) as raised:
        validate_stack_config(own, {key.split(":", 1)[1] for key in secret_keys})
    return raised.value.problems


def cluster(**changes: Any) -> dict[str, Any]:
    values, _ = stack_file_config("dev")
    return {**json.loads(values["browser-platform:cluster"]), **changes}


def test_unquoted_kubernetes_version_says_to_quote_it_and_lists_allowed() -> None:
    assert problems({"cluster": cluster(kubernetesVersion=1.35)}) == [
        'browser-platform:cluster.kubernetesVersion: must be quoted ("1.35"): YAML reads an unquoted 1.35 as a '
        f"number, not text; allowed: {', '.join(sorted(KIND_NODE_IMAGES))}"]


def test_other_unquoted_numbers_say_to_quote_them() -> None:
    assert problems({"namespace": 5}) == [
        'browser-platform:namespace: must be quoted ("5"): YAML reads an unquoted 5 as a number, not text']


def test_unknown_nested_key_without_a_suggestion_has_a_separator() -> None:
    (message,) = problems({"ingress": {"host": "api.localtest.me", "tls": {"issuer": "selfSigned"}, "zzzz": 1}})
    assert message == "browser-platform:ingress.zzzz: unknown key; allowed keys: edge, host, tls"


def test_unknown_nested_key_with_a_suggestion() -> None:
    (message,) = problems({"ingress": {"host": "api.localtest.me", "tls": {"issuer": "selfSigned"}, "hots": 1}})
    assert message == "browser-platform:ingress.hots: unknown key; did you mean 'host'? allowed keys: edge, host, tls"


@pytest.mark.parametrize(("value", "shape"), [([1, 2], "a list"), (None, "empty (null)"), ("x", 'text "x"')])
def test_wrong_shapes_are_config_errors_not_tracebacks(value: Any, shape: str) -> None:
    assert problems({"workloads": value}) == [
        f"browser-platform:workloads: must be a map of keys (`key: value` lines below it), not {shape}"]


def test_the_program_raises_config_error_for_a_wrong_shape() -> None:
    # What `pulumi up` runs: __main__.py on the engine's config; a ConfigError is printed without a traceback.
    from offline.harness import evaluate_stack

    with pytest.raises(ConfigError) as raised:
        evaluate_stack("dev", overrides={"workloads": [1, 2]})
    assert raised.value.problems[0].startswith("browser-platform:workloads: must be a map of keys")


def test_secret_env_of_the_wrong_shape_is_a_config_error() -> None:
    values, _ = stack_file_config("dev")
    workloads = json.loads(values["browser-platform:workloads"])
    workloads["api"]["secretEnv"] = ["apiSecretKey"]
    assert "browser-platform:workloads.api.secretEnv: must be a map of keys (`key: value` lines below it), " \
        "not a list" in problems({"workloads": workloads})


def test_a_list_of_the_wrong_shape_says_what_a_list_looks_like() -> None:
    pools = cluster()["nodePools"]
    pools[0]["taints"] = "workload=browser"
    assert problems({"cluster": cluster(nodePools=pools)}) == [
        'browser-platform:cluster.nodePools[0].taints: must be a list (`- item` lines below it, or [a, b]), '
        'not text "workload=browser"']


def test_capacity_names_the_region_its_prices_are_for() -> None:
    from scripts.capacity_report import as_json, load_config, render

    text, _ = render("prod-gcp", load_config("prod-gcp"))
    assert ("NOTE: costs below use us-central1 list prices, not europe-west1's (this stack's region): "
            "capacity/prices.py has Google Cloud prices for us-central1 only") in text
    assert as_json("prod-gcp", load_config("prod-gcp"))["pricesRegion"] == "us-central1"
    prod, _ = render("prod", load_config("prod"))
    assert "NOTE:" not in prod  # prod runs in us-east-1, the region of the AWS prices
