"""Workload names and the object names derived from them (stack_config/workload_names.py).

Two workloads whose derived Kubernetes names meet are a config error at `workloads.<name>` naming the object and
both owners, before anything is registered (before this, only the harness saw a duplicate URN, and objects of kinds
that KEDA or Kubernetes create would have clashed on the API server). The table of derived names is checked
against what the components render, and the 40-character limit on a name is shown to keep every derived name
inside its Kubernetes rule.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from offline.harness import TEST_STACKS_DIR, StackEvaluation, evaluate_stack, stack_file_config
from stack_config import PlatformConfig, validate_stack_config
from stack_config.workload_names import PLATFORM, derived_names

from .test_named_workloads import fleet_config, fleet_problems

NS = "browser-platform"
Edit = Callable[[dict[str, Any]], None]


def add(name: str, block: dict[str, Any], *, called_by: tuple[str, ...] = ()) -> Edit:
    """Add a workload to the fleet stack (and to the `calls` of `called_by`)."""
    def edit(values: dict[str, Any]) -> None:
        values["workloads"][name] = block
        for caller in called_by:
            values["workloads"][caller]["calls"] = [*values["workloads"][caller].get("calls", []), name]
    return edit


def both(*edits: Edit) -> Edit:
    def edit(values: dict[str, Any]) -> None:
        for one in edits:
            one(values)
    return edit


INTERNAL_API: dict[str, Any] = {"role": "api", "public": False}
WORKER: dict[str, Any] = {"role": "worker", "autoscaling": None}

COLLISIONS: dict[str, tuple[Edit, str, str]] = {
    # case: (edit of the fleet stack, the key the error names, the object it names)
    "api-named-like-the-public-route": (add("frontdoor-public", INTERNAL_API, called_by=("frontdoor",)),
                                        "workloads.frontdoor-public", "VirtualService 'frontdoor-public'"),
    "caller-named-gateway": (add("gateway", {**WORKER, "calls": ["frontdoor"]}),
                             "workloads.gateway", "NetworkPolicy 'frontdoor-ingress-from-gateway'"),
    "caller-named-like-the-dns-rule": (add("allow-dns", {**WORKER, "calls": ["chrome"]}), "workloads.allow-dns",
                                       "NetworkPolicy 'allow-dns-egress'"),
    "caller-named-like-the-istiod-rule": (add("allow-istiod", {**WORKER, "calls": ["chrome"]}),
                                          "workloads.allow-istiod",
                                          "NetworkPolicy 'allow-istiod-egress'"),
    "workload-named-default": (add("default", WORKER), "workloads.default", "ServiceAccount 'default'"),
    "call-named-like-the-scrape-rule": (both(add("metrics", INTERNAL_API),
                                             add("prometheus", {**WORKER, "calls": ["metrics"]})),
                                        "workloads.prometheus", "AuthorizationPolicy 'metrics-from-prometheus'"),
    "workload-named-envoy": (add("envoy", WORKER), "workloads.envoy",
                             "NetworkPolicy 'envoy-metrics-from-monitoring'"),
    "hpa-named-like-kedas": (add("keda-hpa-chrome", INTERNAL_API, called_by=("frontdoor",)),
                             "workloads.keda-hpa-chrome", "HorizontalPodAutoscaler 'keda-hpa-chrome'"),
    "nested-ingress-names": (both(add("chrome-ingress-from-a", {"role": "browser", "nodeSelector":
                                                                {"workload": "browser-chrome"}}),
                                  add("a-ingress-from-b", {**WORKER, "calls": ["chrome"]}),
                                  add("b", {**WORKER, "calls": ["chrome-ingress-from-a"]})),
                             "workloads.b", "NetworkPolicy 'chrome-ingress-from-a-ingress-from-b'"),
}

ENV_COLLISIONS: dict[str, tuple[Edit, str, str]] = {
    # An API named browser-<pool> gets the variables of that pool in a caller of several pools.
    "api-named-like-a-pool-variable": (add("browser-chrome", INTERNAL_API, called_by=("frontdoor",)),
                                       "workloads.frontdoor.calls", "BROWSER_CHROME_SERVICE"),
    # An API named browser gets BROWSER_SERVICE, which a caller of one pool already has.
    "api-named-browser": (add("browser", INTERNAL_API, called_by=("agents",)),
                          "workloads.agents.calls", "BROWSER_SERVICE"),
}


EXPECTED = {**{case: (edit, key, f"the {derived} would be made twice") for case, (edit, key, derived) in
                COLLISIONS.items()},
            **{case: (edit, key, f"would both set {variable} in the ConfigMap") for case, (edit, key, variable) in
               ENV_COLLISIONS.items()}}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_colliding_names_are_a_config_error_at_the_workload(case: str) -> None:
    """Object names (COLLISIONS) and callee variables (ENV_COLLISIONS) that meet: one error, at the key to
    change, naming what would be made twice and saying to rename."""
    edit, key, message = EXPECTED[case]
    problems = fleet_problems(edit)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"browser-platform:{key}: "), problems
    assert message in problems[0] and "rename" in problems[0], problems


@pytest.mark.parametrize("name", ["frontdoor-public", "gateway", "allow-dns", "keda-hpa-chrome"])
def test_names_that_only_look_alike_are_accepted(name: str) -> None:
    """A worker has no Service, VirtualService or HPA of KEDA's, and one that calls nothing (and uses no store)
    has no egress policy: no derived name meets."""
    config = fleet_config(add(name, {**WORKER, "calls": []}))
    assert name in config.workloads


def rendered_names(ev: StackEvaluation) -> set[tuple[str, str]]:
    """(kind, name) of every Kubernetes object the program registers in the workloads' namespace."""
    return {(r.type.rsplit(":", 1)[1], r.plain_inputs["metadata"]["name"]) for r in ev.kubernetes_objects()
            if (r.plain_inputs.get("metadata") or {}).get("namespace") == NS}


@pytest.fixture(scope="module")
def fleet() -> StackEvaluation:
    return evaluate_stack("fleet", stack_dir=TEST_STACKS_DIR)


@pytest.mark.parametrize("stack", ["dev", "fleet"])
def test_the_table_predicts_every_rendered_name(stack: str, evaluated: Callable[[str], StackEvaluation],
                                                fleet: StackEvaluation) -> None:
    """Every object of a kind in the table, rendered in the workloads' namespace, is one the table predicts: a
    component that derives a new name fails here until the table (and so the collision check) knows it."""
    ev = fleet if stack == "fleet" else evaluated(stack)
    config = fleet_config() if stack == "fleet" else dev_config()
    table = derived_names(config)
    kinds = {derived.kind for derived in table}
    predicted = {(derived.kind, derived.name) for derived in table if derived.rendered}
    rendered = {(kind, name) for kind, name in rendered_names(ev) if kind in kinds}
    assert rendered <= predicted, sorted(rendered - predicted)
    # The fixed names and the per-workload objects every role always has are rendered, too.
    always = {("ServiceAccount", w) for w in config.workloads} | {("Deployment", w) for w in config.workloads} | {
        (d.kind, d.name) for d in table if d.owners == (PLATFORM,) and d.rendered}
    assert always <= rendered, sorted(always - rendered)


def dev_config() -> PlatformConfig:
    values, secret_keys = stack_file_config("dev")
    prefix = "browser-platform:"
    return validate_stack_config({key[len(prefix):]: value for key, value in values.items()},
                                 {key[len(prefix):] for key in secret_keys}).config


# --- lengths -------------------------------------------------------------------------------------------------

DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
LONGEST = {"frontdoor": "a" * 39 + "f", "profiles": "p" * 40, "chrome": "c" * 40, "firefox": "x" * 40,
           "agents": "w" * 40}


def test_a_name_over_40_characters_is_a_config_error_naming_the_limit() -> None:
    problems = fleet_problems(add("w" * 41, WORKER))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"browser-platform:workloads.{'w' * 41}: "), problems
    assert "1-40 lowercase letters" in problems[0]


def labels_of(inputs: dict[str, Any]) -> dict[str, str]:
    found = dict((inputs.get("metadata") or {}).get("labels") or {})
    template = ((inputs.get("spec") or {}).get("template") or {}).get("metadata") or {}
    return {**found, **(template.get("labels") or {})}


def test_the_longest_names_keep_every_object_inside_its_kubernetes_rule() -> None:
    """Five workloads of the three roles with 40-character names: every object name in the namespace is a DNS
    subdomain (a Service name a DNS-1035 label), and every label value fits 63 characters."""
    values = json.loads(stack_file_config("fleet", stack_dir=TEST_STACKS_DIR)[0]["browser-platform:workloads"])
    renamed = {LONGEST[name]: {**block, **({"calls": [LONGEST[c] for c in block["calls"]]} if "calls" in block else {})}
               for name, block in values.items()}
    ev = evaluate_stack("fleet", {"workloads": renamed}, stack_dir=TEST_STACKS_DIR)
    names = rendered_names(ev)
    assert ("Service", LONGEST["chrome"]) in names
    assert ("NetworkPolicy", f"{LONGEST['chrome']}-ingress-from-{LONGEST['frontdoor']}") in names
    for kind, name in names:
        rule = DNS_1035 if kind == "Service" else SUBDOMAIN
        assert rule.match(name), (kind, name)
    for resource in ev.kubernetes_objects():
        for key, value in labels_of(resource.plain_inputs).items():
            assert LABEL_VALUE.match(str(value)), (resource.urn, key, value)


def test_look_alike_names_render_without_a_duplicate() -> None:
    """The accepted look-alikes together, on the mocks: the harness fails on any URN registered twice."""
    workloads = json.loads(stack_file_config("fleet", stack_dir=TEST_STACKS_DIR)[0]["browser-platform:workloads"])
    for name in ("frontdoor-public", "gateway", "allow-dns", "keda-hpa-chrome"):
        workloads[name] = {**WORKER, "calls": []}
    ev = evaluate_stack("fleet", {"workloads": workloads}, stack_dir=TEST_STACKS_DIR)
    assert {("Deployment", name) for name in workloads} <= rendered_names(ev)
