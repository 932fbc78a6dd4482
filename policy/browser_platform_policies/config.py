"""Policy construction shared by every module: config schemas with defaults, notes, and unknown-value handling.

Each policy declares its thresholds as JSON-schema properties with a `default`. The CLI validates a stack's
`--policy-pack-config` file against those schemas; the validation functions read values with `setting()`,
which falls back to the schema default, so a policy behaves the same whether or not the CLI filled defaults in.

Values unknown during `pulumi preview` (computed by another resource) raise `UnknownValueError` when read.
A policy never reports that as a violation (a violation at `mandatory` would block the preview): the check of
that resource is skipped and a note is logged to the engine (`pulumi preview` shows it as an info message);
`pulumi up` analyzes the final values again.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from .props import UnknownValueError

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY

Schema = dict[str, dict[str, Any]]
ResourceCheck = Callable[[ResourceValidationArgs, Mapping[str, Any], ReportViolation], None]
StackCheck = Callable[[StackValidationArgs, Mapping[str, Any], ReportViolation], None]

_engine: Any = None
_engine_tried = False


def _engine_stub() -> Any:
    """The engine's Log service, at the address the CLI passes as the pack's first argument."""
    global _engine, _engine_tried
    if not _engine_tried:
        _engine_tried = True
        address = sys.argv[1] if len(sys.argv) > 2 and ":" in sys.argv[1] else ""
        if address:
            try:
                import grpc
                from pulumi.runtime.proto import engine_pb2_grpc

                _engine = engine_pb2_grpc.EngineStub(grpc.insecure_channel(address))
            except Exception:  # pragma: no cover - logging must never break a policy
                _engine = None
    return _engine


def note(message: str, urn: str = "") -> None:
    """An informational message to the engine (not a violation); stderr when there is no engine."""
    engine = _engine_stub()
    if engine is not None:
        try:
            from pulumi.runtime.proto import engine_pb2

            engine.Log(engine_pb2.LogRequest(severity=engine_pb2.INFO, message=message, urn=urn), timeout=5)
            return
        except Exception:  # pragma: no cover - fall back to stderr
            pass
    print(f"info: {message}", file=sys.stderr)


def setting(config: Mapping[str, Any], schema: Schema, key: str) -> Any:
    """The configured value of `key`, or the schema's default."""
    if key in config and config[key] is not None:
        return config[key]
    return schema[key].get("default")


class Settings(Mapping[str, Any]):
    """A policy's effective config: what the stack's config file set, over the schema defaults."""

    def __init__(self, config: Mapping[str, Any], schema: Schema) -> None:
        self._values = {key: setting(config, schema, key) for key in schema}
        self._values.update({k: v for k, v in config.items() if k not in schema})

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Any:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def _validator(name: str, check: Callable[[Any, Mapping[str, Any], ReportViolation], None], schema: Schema) -> Any:
    """The policy's validate: the check with its effective config; an unknown value skips it with a note.

    The effective config is rebuilt only when the config object changes: the pack's servicer (server.py)
    hands every request the same object until the next `Configure`, the library a fresh copy each time."""
    defaults = Settings({}, schema)
    last: list[tuple[Any, Settings]] = [(None, defaults)]  # (config object, its settings), swapped whole

    def settings(config: Any) -> Settings:
        if not config:
            return defaults
        source, built = last[0]
        if source is not config:
            built = Settings(config, schema)
            last[0] = (config, built)
        return built

    def validate(args: ResourceValidationArgs | StackValidationArgs, report: ReportViolation) -> None:
        try:
            check(args, settings(args.get_config()), report)
        except UnknownValueError as error:
            urn = str(getattr(args, "urn", "") or "")
            note(f"[{name}] skipped{' ' + urn if urn else ''}: {error.message}; it is checked again when the value "
                 "is known", urn)

    return validate


def resource_policy(name: str, description: str, check: ResourceCheck, *, level: EnforcementLevel = MANDATORY,
                    schema: Schema | None = None, remediation: str,
                    applies: Callable[[str], bool] | None = None) -> ResourceValidationPolicy:
    """`applies`: the resource types the check can report on (e.g. `props.is_workload`); the pack's servicer
    does not call the policy for other types. It must be exact: a policy that may say anything about a type
    (a note included) must not leave that type out."""
    schema = schema or {}
    policy = ResourceValidationPolicy(name=name, description=description, validate=_validator(name, check, schema),
                                      enforcement_level=level, remediation_steps=remediation,
                                      config_schema=PolicyConfigSchema(properties=schema) if schema else None)
    if applies is not None:
        policy.applies_to = applies  # pyright: ignore[reportAttributeAccessIssue]  # read by server.py
    return policy


def stack_policy(name: str, description: str, check: StackCheck, *, level: EnforcementLevel = MANDATORY,
                 schema: Schema | None = None, remediation: str) -> StackValidationPolicy:
    schema = schema or {}
    return StackValidationPolicy(name=name, description=description, validate=_validator(name, check, schema),
                                 enforcement_level=level, remediation_steps=remediation,
                                 config_schema=PolicyConfigSchema(properties=schema) if schema else None)


class per_resource:  # noqa: N801 - used like the function it was: `with per_resource(policy, urn):`
    """Inside a stack policy: skip one resource whose value is unknown during preview (with a note), not the
    whole policy. A class rather than a `contextlib.contextmanager` generator: stack policies enter it once per
    resource (about 25,000 times per `AnalyzeStack` on 1,000 workloads), and the generator machinery cost more
    than the checks it wrapped."""

    __slots__ = ("policy", "urn")

    def __init__(self, policy: str, urn: str) -> None:
        self.policy = policy
        self.urn = urn

    def __enter__(self) -> None:
        return None

    def __exit__(self, _kind: type[BaseException] | None, error: BaseException | None, _trace: object) -> bool:
        if not isinstance(error, UnknownValueError):
            return False
        note(f"[{self.policy}] skipped {self.urn}: {error.message}; it is checked again when the value is known",
             self.urn)
        return True


def string_list(description: str, default: list[str]) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}, "description": description, "default": default}
