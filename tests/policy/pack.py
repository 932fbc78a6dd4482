"""Drive the policy pack the way the Pulumi CLI does, with no CLI: a fake engine, the real analyzer protocol.

`PackProcess()` starts `python -u -m pulumi.policy <engine-address> policy/` (the CLI's command line for a
Python pack), reads the port the pack prints, and talks to it with `analyzer_pb2_grpc.AnalyzerStub`. The fake
engine implements the Engine service so the pack's notes (`Log`) can be inspected. Resources recorded by
`offline.harness` are sent as the engine sends them: camelCase inputs, numbers as floats, secrets still
wrapped (pulumi_policy unwraps them), unknowns as the engine's sentinel strings.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import jsonschema
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.output import Unknown
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, engine_pb2, engine_pb2_grpc, plugin_pb2

from offline.harness import RecordedResource

REPO_ROOT = Path(__file__).resolve().parents[2]
POLICY_DIR = REPO_ROOT / "policy"
UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
LEVELS = {"advisory": analyzer_pb2.ADVISORY, "mandatory": analyzer_pb2.MANDATORY,
          "remediate": analyzer_pb2.REMEDIATE, "disabled": analyzer_pb2.DISABLED}
LEVEL_NAMES = {v: k for k, v in LEVELS.items()}


class FakeEngine(engine_pb2_grpc.EngineServicer):
    def __init__(self) -> None:
        self.logs: list[tuple[int, str, str]] = []
        self.lock = threading.Lock()

    def Log(self, request: Any, context: Any) -> Any:  # noqa: N802 - protocol method name
        with self.lock:
            self.logs.append((request.severity, request.message, request.urn))
        return empty_pb2.Empty()

    def GetRootResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        return engine_pb2.GetRootResourceResponse(urn="")

    def SetRootResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        return engine_pb2.SetRootResourceResponse()


@dataclass(frozen=True)
class Diagnostic:
    policy: str
    message: str
    level: str
    urn: str


def to_wire(value: Any) -> Any:
    """A recorded input as JSON the Struct can carry (the engine's unknown sentinel for unknowns)."""
    if isinstance(value, Unknown):
        return UNKNOWN_STRING
    if isinstance(value, dict):
        return {k: to_wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_wire(v) for v in value]
    return value


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    json_format.ParseDict(to_wire(value), result)
    return result


def provider_urn(reference: str) -> str:
    return reference.rsplit("::", 1)[0] if reference else ""


class PackProcess:
    """One running pack (the `pack` fixture starts one per test session, shared by every policy test)."""

    def __init__(self, timeout: float = 60.0) -> None:
        self.engine = FakeEngine()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        engine_pb2_grpc.add_EngineServicer_to_server(self.engine, self.server)
        engine_port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        self.stderr_path = REPO_ROOT / ".pytest_cache" / f"policy-pack-{os.getpid()}-{id(self)}.stderr"
        self.stderr_path.parent.mkdir(exist_ok=True)
        self._stderr = self.stderr_path.open("wb")
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-u", "-m", "pulumi.policy", f"127.0.0.1:{engine_port}", str(POLICY_DIR)],
            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=self._stderr,
        )
        assert self.process.stdout is not None
        line = self._read_line(timeout)
        self.port = int(line)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}",
                                             options=[("grpc.max_receive_message_length", 400 * 2**20)])
        grpc.channel_ready_future(self.channel).result(timeout=timeout)
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)
        self.info = self.stub.GetAnalyzerInfo(empty_pb2.Empty())
        self.start_seconds = time.perf_counter() - started
        self._validators: dict[str, Any] = {}

    def _read_line(self, timeout: float) -> str:
        result: list[bytes] = []
        reader = threading.Thread(target=lambda: result.append(self.process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        if not result or not result[0].strip():
            self.close()
            raise RuntimeError(f"the pack printed no port; stderr:\n{self.stderr_path.read_text()}")
        return result[0].decode().strip()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.process.stdout:
            self.process.stdout.close()
        self._stderr.close()
        self.server.stop(0)

    # --- protocol ----------------------------------------------------------------------------------------

    @property
    def policy_names(self) -> list[str]:
        return [p.name for p in self.info.policies]

    def plugin_info(self) -> Any:
        return self.stub.GetPluginInfo(empty_pb2.Empty())

    def resolve_config(self, document: dict[str, Any], force_all: str | None = None) -> dict[str, tuple[str, dict[str, Any]]]:
        """What the CLI sends for a `--policy-pack-config` file: per policy, its level (the policy's own entry,
        else `all`, else the pack's default) and its properties, validated against the policy's schema."""
        all_level = force_all or document.get("all")
        resolved: dict[str, tuple[str, dict[str, Any]]] = {}
        unknown = set(document) - {"all"} - set(self.policy_names)
        if unknown:
            raise ValueError(f"config for unknown policies: {sorted(unknown)}")
        for policy in self.info.policies:
            entry = document.get(policy.name, {})
            if isinstance(entry, str):
                entry = {"enforcementLevel": entry}
            level = entry.get("enforcementLevel") or all_level or LEVEL_NAMES[policy.enforcementLevel]
            properties = {k: v for k, v in entry.items() if k != "enforcementLevel"}
            error = jsonschema.exceptions.best_match(self._validator(policy).iter_errors(properties))
            if error is not None:
                raise error
            resolved[policy.name] = (level, properties)
        return resolved

    def _validator(self, policy: Any) -> Any:
        """What `jsonschema.validate` builds for the policy's config schema, built once: checking the schema
        itself against the meta-schema on every `configure` was most of a policy test's time."""
        if policy.name not in self._validators:
            schema = {"type": "object", "properties": json_format.MessageToDict(policy.configSchema.properties)}
            if policy.configSchema.required:
                schema["required"] = list(policy.configSchema.required)
            validator_class = jsonschema.validators.validator_for(schema)
            validator_class.check_schema(schema)
            self._validators[policy.name] = validator_class(schema)
        return self._validators[policy.name]

    def configure(self, document: dict[str, Any], force_all: str | None = None) -> dict[str, tuple[str, dict[str, Any]]]:
        resolved = self.resolve_config(document, force_all)
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, (level, properties) in resolved.items():
            config = analyzer_pb2.PolicyConfig(enforcementLevel=LEVELS[level])
            config.properties.update(properties)
            request.policyConfig[name].CopyFrom(config)
        self.stub.Configure(request)
        return resolved

    def configure_stack(self, stack: str) -> dict[str, tuple[str, dict[str, Any]]]:
        return self.configure(json.loads((POLICY_DIR / "config" / f"{stack}.json").read_text()))

    @staticmethod
    def _options(resource: RecordedResource) -> analyzer_pb2.AnalyzerResourceOptions:
        options = resource.options or {}
        return analyzer_pb2.AnalyzerResourceOptions(
            protect=bool(options.get("protect")),
            ignoreChanges=list(options.get("ignoreChanges") or []),
            deleteBeforeReplace=bool(options.get("deleteBeforeReplace")),
            deleteBeforeReplaceDefined=bool(options.get("deleteBeforeReplace")),
            additionalSecretOutputs=list(options.get("additionalSecretOutputs") or []),
            parent=resource.parent,
        )

    @staticmethod
    def _provider(resource: RecordedResource,
                  by_urn: dict[str, RecordedResource]) -> analyzer_pb2.AnalyzerProviderResource | None:
        provider = by_urn.get(provider_urn(resource.provider))
        if provider is None:
            return None
        return analyzer_pb2.AnalyzerProviderResource(type=provider.type, properties=struct(provider.inputs),
                                                     urn=provider.urn, name=provider.name)

    def analyze(self, resource: RecordedResource, resources: Iterable[RecordedResource] = ()) -> list[Diagnostic]:
        by_urn = {r.urn: r for r in resources}
        request = analyzer_pb2.AnalyzeRequest(type=resource.type, properties=struct(resource.inputs), urn=resource.urn,
                                              name=resource.name, options=self._options(resource))
        provider = self._provider(resource, by_urn)
        if provider is not None:
            request.provider.CopyFrom(provider)
        # Resource policies report without a URN: the engine attributes them to the analyzed resource.
        return [d if d.urn else Diagnostic(d.policy, d.message, d.level, resource.urn)
                for d in self._diagnostics(self.stub.Analyze(request))]

    def analyze_stack(self, resources: list[RecordedResource]) -> list[Diagnostic]:
        by_urn = {r.urn: r for r in resources}
        request = analyzer_pb2.AnalyzeStackRequest()
        for r in resources:
            wire = analyzer_pb2.AnalyzerResource(
                type=r.type, properties=struct(r.inputs), urn=r.urn, name=r.name, options=self._options(r),
                parent=r.parent, dependencies=list(r.dependencies))
            provider = self._provider(r, by_urn)
            if provider is not None:
                wire.provider.CopyFrom(provider)
            for key, urns in r.property_dependencies.items():
                wire.propertyDependencies[key].urns.extend(urns)
            request.resources.append(wire)
        return self._diagnostics(self.stub.AnalyzeStack(request))

    def analyze_all(self, resources: list[RecordedResource]) -> list[Diagnostic]:
        """What a preview runs: Analyze for each custom resource, then AnalyzeStack once."""
        diagnostics: list[Diagnostic] = []
        for r in resources:
            if r.custom and not r.type.startswith("pulumi:providers:"):
                diagnostics.extend(self.analyze(r, resources))
        return diagnostics + self.analyze_stack(resources)

    @staticmethod
    def _diagnostics(response: Any) -> list[Diagnostic]:
        return [Diagnostic(d.policyName, d.message, LEVEL_NAMES.get(d.enforcementLevel, "?"), d.urn)
                for d in response.diagnostics]


def mutated(resources: list[RecordedResource]) -> list[RecordedResource]:
    """A deep copy of the recorded resources to change in a test (the recording itself is shared)."""
    return [_copied(r) for r in resources]


_IMMUTABLE = (str, int, float, bool, type(None), Unknown)


def _copy_value(value: Any) -> Any:
    """`copy.deepcopy` for the JSON-shaped values a recording holds, several times faster; anything else
    (never seen so far) still goes through `copy.deepcopy`."""
    if type(value) is dict:
        return {key: _copy_value(item) for key, item in value.items()}
    if type(value) is list:
        return [_copy_value(item) for item in value]
    if isinstance(value, _IMMUTABLE):
        return value
    return copy.deepcopy(value)


def _copied(resource: RecordedResource) -> RecordedResource:
    return dataclasses.replace(resource, **{f.name: _copy_value(getattr(resource, f.name))
                                            for f in dataclasses.fields(resource)})


def find(resources: list[RecordedResource], type_suffix: str, name_part: str = "") -> RecordedResource:
    for r in resources:
        if r.type.endswith(type_suffix) and name_part in r.name:
            return r
    raise KeyError(f"no {type_suffix} {name_part}")


_ = plugin_pb2  # GetPluginInfo's response type lives here
