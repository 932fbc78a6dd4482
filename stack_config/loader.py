"""Reads the stack's `browser-platform:*` config, validates it once, and turns every problem into one line.

This is the only place that touches raw Pulumi config. Everything after it receives typed models, and nothing
is registered with the engine until validation has passed.
"""

from __future__ import annotations

import difflib
import json
import typing
from dataclasses import dataclass
from typing import Any, get_args, get_origin

import pulumi
from pydantic import BaseModel, ValidationError

from .addons import SOLVER_TYPES, MonitoringSettings
from .base import ConfigFieldError
from .cluster import EKS_VERSIONS, EXISTING_VERSIONS, GKE_VERSIONS, KIND_NODE_IMAGES, ExistingClusterConfig
from .kubeconfig import ExistingAccess, KubeconfigError, resolve_existing_access
from .platform import CLUSTER_KINDS, PlatformConfig
from .workloads import LEGACY_NAMES, ROLES

PROJECT = "browser-platform"


class ConfigError(pulumi.RunError):
    """Raised for invalid stack config; the Pulumi runtime prints a RunError's message without a traceback."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        listing = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"invalid stack configuration ({len(problems)} problem(s)):\n{listing}")


@dataclass(frozen=True)
class StackSettings:
    config: PlatformConfig
    secrets: dict[str, str]
    """Secret config values by key; whoever uses one wraps it with `pulumi.Output.secret`."""
    existing_access: ExistingAccess | None = None
    """How to reach the cluster when `cluster.kind` is existing (stack_config/kubeconfig.py); secret."""


def raw_stack_config(project: str = PROJECT) -> tuple[dict[str, str], set[str]]:
    """All `<project>:*` config values as the engine passed them, and which of them are secret."""
    values: dict[str, Any] = {}
    values.update(pulumi.runtime.get_config_env())
    values.update(pulumi.runtime.config.CONFIG.get())
    secret_keys = set(pulumi.runtime.get_config_secret_keys_env()) | set(pulumi.runtime.config._SECRET_KEYS.get())
    prefix = f"{project}:"
    own = {key[len(prefix):]: value for key, value in values.items() if key.startswith(prefix)}
    own_secrets = {key[len(prefix):] for key in secret_keys if key.startswith(prefix)}
    return own, own_secrets


def _decode(value: Any) -> Any:
    # Structured values arrive as JSON text; plain strings stay strings.
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _key_path(loc: tuple[Any, ...], project: str) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return f"{project}:{path}"


SOLVER_PATH = ("ingress", "tls", "solver")


def _strip_union_tags(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # A discriminated union puts the tag value into the error location: ('cluster', 'kind', 'name').
    if len(loc) >= 2 and loc[0] == "cluster" and loc[1] in CLUSTER_KINDS:
        return (loc[0], *loc[2:])
    # Named workloads: ('workloads', 'chrome', 'browser', 'image'), the role being the union's tag.
    if len(loc) >= 3 and loc[0] == "workloads" and loc[2] in ROLES:
        return (*loc[:2], *loc[3:])
    if len(loc) > len(SOLVER_PATH) and loc[:len(SOLVER_PATH)] == SOLVER_PATH and loc[len(SOLVER_PATH)] in SOLVER_TYPES:
        return (*SOLVER_PATH, *loc[len(SOLVER_PATH) + 1:])
    return loc


def _model_at(model: type[BaseModel], data: Any, loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that holds the key at `loc`, following the stack file's camelCase names."""
    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = next((f for n, f in current.model_fields.items() if part in (n, f.alias)), None)
            if field is None:
                return None
            current = field.annotation
            if get_origin(current) is typing.Annotated:
                current = get_args(current)[0]
            data = data.get(part) if isinstance(data, dict) else None
            members = [arg for arg in get_args(current) if isinstance(arg, type) and issubclass(arg, BaseModel)]
            if members:
                kind = data.get("kind") if isinstance(data, dict) else None
                tagged = [m for m in members if "kind" in m.model_fields and kind in get_args(m.model_fields["kind"].annotation)]
                current = (tagged or members)[0]
        elif get_origin(current) in (list, dict):
            current = get_args(current)[-1]
            data = data.get(part) if isinstance(data, dict) else None
            if get_origin(current) is typing.Annotated:
                current = get_args(current)[0]
            members = [arg for arg in get_args(current) if isinstance(arg, type) and issubclass(arg, BaseModel)]
            if members:
                # A named workload: the member of its `role` (or the role of its legacy name).
                role = data.get("role", LEGACY_NAMES.get(str(part))) if isinstance(data, dict) else None
                tagged = [m for m in members if "role" in m.model_fields
                          and role in get_args(m.model_fields["role"].annotation)]
                current = (tagged or members)[0]
        else:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _describe(error: Any, data: dict[str, Any], project: str) -> str:
    loc = tuple(error["loc"])
    error_type = error["type"]
    original = (error.get("ctx") or {}).get("error")
    if isinstance(original, ConfigFieldError):
        loc = (*loc, *original.path)
        message = str(original)
    elif error_type == "value_error":
        message = str(original) if original is not None else error["msg"]
    else:
        message = error["msg"]
    loc = _strip_union_tags(loc)
    if error_type == "extra_forbidden":
        parent = _model_at(PlatformConfig, data, loc[:-1])
        allowed = sorted(f.alias or n for n, f in parent.model_fields.items()) if parent else []
        guess = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f" did you mean '{guess[0]}'?" if guess else ""
        message = f"unknown key;{hint} allowed keys: {', '.join(allowed)}"
    elif error_type in ("union_tag_not_found", "union_tag_invalid"):
        solver = loc == SOLVER_PATH
        workload = len(loc) == 2 and loc[0] == "workloads"
        tag, allowed = ("type", SOLVER_TYPES) if solver else ("role", ROLES) if workload else ("kind", CLUSTER_KINDS)
        loc = (*loc, tag)
        message = f"must be one of: {', '.join(allowed)}"
    elif error_type == "missing":
        message = "required, but not set"
    elif error_type == "string_type" and isinstance(error.get("input"), int | float):
        message = _unquoted_number(error["input"], loc, data)
    elif error_type in ("dict_type", "model_type", "model_attributes_type"):
        message = f"must be a map of keys (`key: value` lines below it), not {_shape(error.get('input'))}"
    elif error_type == "list_type":
        message = f"must be a list (`- item` lines below it, or [a, b]), not {_shape(error.get('input'))}"
    return f"{_key_path(loc, project)}: {message}"


def _shape(value: Any) -> str:
    if value is None:
        return "empty (null)"
    if isinstance(value, list):
        return "a list"
    kind = "text" if isinstance(value, str) else "a number" if isinstance(value, int | float) else "a value"
    return f"{kind} {json.dumps(value)}" if kind == "text" else f"{kind} ({json.dumps(value)})"


def _allowed_versions(data: dict[str, Any]) -> tuple[str, ...]:
    cluster = data.get("cluster")
    kind = cluster.get("kind") if isinstance(cluster, dict) else None
    return {"kind": tuple(sorted(KIND_NODE_IMAGES)), "eks": EKS_VERSIONS, "gke": GKE_VERSIONS,
            "existing": EXISTING_VERSIONS}.get(str(kind), ())


def _unquoted_number(value: int | float, loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    """A number where text is expected: YAML read an unquoted version or name as a number (1.30 becomes 1.3)."""
    if isinstance(value, bool):
        return f"must be text, not {str(value).lower()}; write it in quotes"
    allowed = _allowed_versions(data) if loc and loc[-1] == "kubernetesVersion" else ()
    intended = next((version for version in allowed if float(version) == value), json.dumps(value))
    number = "a number" if intended == json.dumps(value) else f"the number {json.dumps(value)}"
    message = f"must be quoted (\"{intended}\"): YAML reads an unquoted {intended} as {number}, not text"
    return f"{message}; allowed: {', '.join(allowed)}" if allowed else message


def _addon_secret_refs(data: dict[str, Any]) -> set[str]:
    """Secret config keys the add-on blocks name (the Grafana admin password; required only with monitoring on)."""
    monitoring = data.get("monitoring")
    monitoring = monitoring if isinstance(monitoring, dict) else {}
    default_key = MonitoringSettings.model_fields["grafana_admin_password_secret"].default
    key = monitoring.get("grafanaAdminPasswordSecret", default_key)
    return {key} if isinstance(key, str) else set()


def _cluster_secret_refs(data: dict[str, Any]) -> set[str]:
    """The secret config key an existing cluster's kubeconfig is in (cluster.kubeconfig.secret)."""
    cluster = data.get("cluster")
    access = cluster.get("kubeconfig") if isinstance(cluster, dict) else None
    key = access.get("secret") if isinstance(access, dict) else None
    return {key} if isinstance(key, str) else set()


def _data_secret_refs(data: dict[str, Any]) -> set[str]:
    """Secret config keys the dataStores block names (store passwords), whether or not the block is valid."""
    stores = data.get("dataStores")
    stores = stores if isinstance(stores, dict) else {}
    refs: set[str] = set()
    for block, field, default in (("redis", "authSecret", "redisAuthToken"),
                                  ("postgres", "passwordSecret", "postgresPassword"),
                                  ("postgres", "masterPasswordSecret", "postgresMasterPassword")):
        section = stores.get(block)
        key = section.get(field, default) if isinstance(section, dict) else default
        if isinstance(key, str):
            refs.add(key)
    external = stores.get("external")
    if isinstance(external, dict):
        for block in ("redis", "postgres"):
            section = external.get(block)
            if isinstance(section, dict) and isinstance(section.get("secret"), str):
                refs.add(section["secret"])
    return refs


def _observability_secret_refs(data: dict[str, Any]) -> set[str]:
    """Secret config keys the alert receivers name (defaults included), whether or not the block is valid."""
    observability = data.get("observability")
    alerting = observability.get("alerting") if isinstance(observability, dict) else None
    alerting = alerting if isinstance(alerting, dict) else {}
    receivers = alerting.get("receivers")
    receivers = receivers if isinstance(receivers, dict) else {}
    refs: set[str] = set()
    for block, field, default in (("pagerduty", "routingKeySecret", "pagerdutyRoutingKey"),
                                  ("slack", "webhookUrlSecret", "slackWebhookUrl"),
                                  ("email", "passwordSecret", "smtpPassword")):
        section = receivers.get(block)
        key = section.get(field, default) if isinstance(section, dict) else None
        if isinstance(key, str):
            refs.add(key)
    switch = alerting.get("deadMansSwitch")
    if isinstance(switch, dict) and isinstance(switch.get("urlSecret", "deadMansSwitchUrl"), str):
        refs.add(switch.get("urlSecret", "deadMansSwitchUrl"))
    return refs


def _check_secret(key: str, where: str, what: str, values: dict[str, str], secret_keys: set[str],
                  project: str) -> str | None:
    """A problem line when the secret `key` is missing or plaintext, else None."""
    if key not in values:
        return f"{where}: {what} '{project}:{key}' is not set; run `pulumi config set --secret {key} <value>`"
    if key not in secret_keys:
        return (f"{where}: '{project}:{key}' is plaintext in the stack file; secrets must be set with "
                f"`pulumi config set --secret {key} <value>`")
    return None


def validate_stack_config(
    values: dict[str, str], secret_keys: set[str], project: str = PROJECT
) -> StackSettings:
    """Validate raw config values (as `raw_stack_config` returns them) or raise one ConfigError listing all problems."""
    data = {key: _decode(value) for key, value in values.items()}
    workloads_block = data.get("workloads")
    # Any shape may arrive here (a list, null, a string); the model reports it, this must not crash on it.
    referenced_secrets = {
        key
        for workload in (workloads_block.values() if isinstance(workloads_block, dict) else ())
        if isinstance(workload, dict) and isinstance(workload.get("secretEnv"), dict)
        for key in workload["secretEnv"].values() if isinstance(key, str)
    }
    referenced_secrets |= (_addon_secret_refs(data) | _data_secret_refs(data) | _cluster_secret_refs(data)
                           | _observability_secret_refs(data))
    known = {field.alias or name for name, field in PlatformConfig.model_fields.items()}
    problems: list[str] = []
    workloads = data.get("workloads", {})
    # A workload block of the wrong shape hides its secretEnv; its own error is reported, not an orphaned secret.
    readable = (isinstance(workloads, dict) and all(
        isinstance(w, dict) and isinstance(w.get("secretEnv", {}), dict) for w in workloads.values()))
    for key in sorted(set(data) - known - referenced_secrets):
        if key in secret_keys and not readable:
            continue
        if key in secret_keys:
            problems.append(f"{project}:{key}: secret is set but no workloads.*.secretEnv, "
                            "monitoring.grafanaAdminPasswordSecret, cluster.kubeconfig.secret, dataStores or "
                            "observability.alerting block "
                            "refers to it")
            continue
        guess = difflib.get_close_matches(key, sorted(known), n=1)
        hint = f" did you mean '{project}:{guess[0]}'?" if guess else ""
        problems.append(f"{project}:{key}: unknown config key;{hint} allowed keys: {', '.join(sorted(known))}")
    model_input = {key: value for key, value in data.items() if key in known}
    config: PlatformConfig | None = None
    try:
        config = PlatformConfig.model_validate(model_input)
    except ValidationError as error:
        problems.extend(_describe(item, model_input, project) for item in error.errors())

    secrets: dict[str, str] = {}
    access: ExistingAccess | None = None
    if config is not None and isinstance(config.cluster, ExistingClusterConfig):
        access, problem = _existing_access(config.cluster, values, secret_keys, project)
        if problem:
            problems.append(problem)
    if config is not None:
        for workload_name, workload in config.workload_items():
            for env_name, key in workload.secret_env.items():
                where = f"{project}:workloads.{workload_name}.secretEnv.{env_name}"
                if key not in values:
                    problems.append(
                        f"{where}: refers to '{project}:{key}', which is not set; "
                        f"run `pulumi config set --secret {key} <value>`"
                    )
                elif key not in secret_keys:
                    problems.append(
                        f"{where}: '{project}:{key}' is plaintext in the stack file; secrets must be set with "
                        f"`pulumi config set --secret {key} <value>`"
                    )
                else:
                    secrets[key] = str(values[key])
        if config.monitoring.enabled:
            key = config.monitoring.grafana_admin_password_secret
            where = f"{project}:monitoring.grafanaAdminPasswordSecret"
            if key not in values:
                problems.append(f"{where}: the Grafana admin password '{project}:{key}' is not set; "
                                f"run `pulumi config set --secret {key} <value>`")
            elif key not in secret_keys:
                problems.append(f"{where}: '{project}:{key}' is plaintext in the stack file; secrets must be set with "
                                f"`pulumi config set --secret {key} <value>`")
            else:
                secrets[key] = str(values[key])
        for path, key in config.data_stores.secret_keys(config.cluster.kind):
            problem = _check_secret(key, f"{project}:{path}", "the data store's password", values, secret_keys,
                                    project)
            if problem:
                problems.append(problem)
            else:
                secrets[key] = str(values[key])
        for path, key in config.observability.secret_keys(config.monitoring.enabled):
            problem = _check_secret(key, f"{project}:{path}", "the alert receiver's credential", values,
                                    secret_keys, project)
            if problem:
                problems.append(problem)
            else:
                secrets[key] = str(values[key])
    if problems:
        raise ConfigError(problems)
    assert config is not None
    return StackSettings(config=config, secrets=secrets, existing_access=access)


def _existing_access(cluster: ExistingClusterConfig, values: dict[str, str], secret_keys: set[str],
                     project: str) -> tuple[ExistingAccess | None, str | None]:
    key = cluster.kubeconfig.secret
    if key is not None:
        problem = _check_secret(key, f"{project}:cluster.kubeconfig.secret", "the cluster's kubeconfig", values,
                                secret_keys, project)
        if problem:
            return None, problem
    try:
        return resolve_existing_access(cluster, values), None
    except KubeconfigError as problem:
        return None, f"{project}:{problem.key}: {problem}"


def load_stack_config(project: str = PROJECT) -> StackSettings:
    values, secret_keys = raw_stack_config(project)
    return validate_stack_config(values, secret_keys, project)
