"""Evaluate a stack of this program in-process on Pulumi's mocks and record what it registers.

There is no Pulumi CLI, engine or cluster on the machines this is built on, so this is how the program is
seen "as the engine would see it": every RegisterResource call is captured with its type, name, parent,
provider, dependencies and inputs exactly as serialized over the resource-monitor protocol (camelCase
property names, secrets wrapped, numbers as floats). Tests, the offline plan and the policy-pack tests all
consume this recording.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pickle
import runpy
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.proto import resource_pb2

REPO_ROOT = Path(__file__).resolve().parent.parent
PROJECT = "browser-platform"
SECRET_SIG = rpc._special_sig_key
SECRET_MARK = rpc._special_secret_sig
FAKE_SECRET_PREFIX = "offline-secret-"


@dataclass
class RecordedResource:
    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    provider: str
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    inputs: dict[str, Any]
    id: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def plain_inputs(self) -> dict[str, Any]:
        """Inputs with every secret wrapper replaced by its value."""
        return unwrap_secrets(self.inputs)


@dataclass
class StackEvaluation:
    stack: str
    resources: list[RecordedResource]
    outputs: dict[str, Any]

    def of_type(self, type_token: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_token]

    def by_urn(self, urn: str) -> RecordedResource:
        return next(r for r in self.resources if r.urn == urn)

    def named(self, type_token: str, name: str) -> RecordedResource:
        matches = [r for r in self.of_type(type_token) if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources of type {type_token} named {name}")
        return matches[0]

    def kubernetes_objects(self) -> list[RecordedResource]:
        """Custom resources of the Kubernetes provider that are plain API objects (not Helm releases)."""
        return [
            r for r in self.resources
            if r.custom and r.type.startswith("kubernetes:") and not r.type.startswith("kubernetes:helm.sh")
            and not r.type.startswith("pulumi:providers:") and "apiVersion" in r.inputs
        ]


def unwrap_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == SECRET_MARK:
            return unwrap_secrets(value.get("value"))
        return {key: unwrap_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(item) for item in value]
    return value


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG) == SECRET_MARK


# ---------------------------------------------------------------------------------------------------------
# Mocks: what a provider would return. Cluster components add fakes for their own computed outputs here.
# ---------------------------------------------------------------------------------------------------------

FAKE_KUBECONFIG = yaml.safe_dump({
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "offline", "cluster": {"server": "https://127.0.0.1:6443",
                                                 "certificate-authority-data": "T0ZGTElORQ=="}}],
    "contexts": [{"name": "offline", "context": {"cluster": "offline", "user": "offline"}}],
    "current-context": "offline",
    "users": [{"name": "offline", "user": {"token": "offline"}}],
})

OutputFaker = Callable[[pulumi_mocks.MockResourceArgs], dict[str, Any]]
CallFaker = Callable[[dict[str, Any]], dict[str, Any]]

RESOURCE_OUTPUT_FAKES: dict[str, OutputFaker] = {
    "command:local:Command": lambda args: {"stdout": FAKE_KUBECONFIG, "stderr": ""},
}
"""Computed outputs by resource type, merged over the inputs (which a real provider echoes back)."""

CALL_FAKES: dict[str, CallFaker] = {}
"""Results of provider functions (data sources) by token."""


class PlatformMocks(pulumi_mocks.Mocks):
    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        outputs = dict(args.inputs)
        faker = RESOURCE_OUTPUT_FAKES.get(args.typ)
        if faker is not None:
            outputs.update(faker(args))
        return f"{args.name}-id", outputs

    def call(self, args: pulumi_mocks.MockCallArgs) -> Any:
        faker = CALL_FAKES.get(args.token)
        if faker is None:
            raise NotImplementedError(f"no offline fake for provider function {args.token}")
        return faker(dict(args.args))


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A mock monitor that keeps every registration the way the engine receives it."""

    def __init__(self, mocks: pulumi_mocks.Mocks) -> None:
        super().__init__(mocks)
        self.recorded: list[RecordedResource] = []
        self.stack_outputs: dict[str, Any] = {}
        self.stack_urn = ""

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - protocol method name
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            self.stack_urn = response.urn
            return response
        inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
        outputs = self.resources[response.urn].state if response.urn in self.resources else {}
        self.recorded.append(RecordedResource(
            urn=response.urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=request.parent,
            provider=request.provider,
            dependencies=list(request.dependencies),
            property_dependencies={key: list(deps.urns) for key, deps in request.propertyDependencies.items()},
            inputs=inputs,
            id=response.id,
            outputs=outputs,
            options={
                "protect": request.protect,
                "deleteBeforeReplace": request.deleteBeforeReplace,
                "replaceOnChanges": list(request.replaceOnChanges),
                "ignoreChanges": list(request.ignoreChanges),
                "additionalSecretOutputs": list(request.additionalSecretOutputs),
                "retainOnDelete": request.retainOnDelete,
                "importId": request.importId,
            },
        ))
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 - protocol method name
        if request.urn == self.stack_urn:
            self.stack_outputs = rpc.deserialize_properties(request.outputs, keep_unknowns=True)
        return super().RegisterResourceOutputs(request)

    # Resource references would make a Resource passed as an input travel as an object bound to the
    # event loop that created it; as URN strings they are what the engine stores anyway.
    def SupportsFeature(self, request: Any) -> Any:  # noqa: N802 - protocol method name
        has_support = request.id not in ("outputValues", "resourceReferences")
        return type("SupportsFeatureResponse", (object,), {"hasSupport": has_support})

    def GetDeploymentInfo(self, request: Any) -> Any:  # noqa: N802 - protocol method name
        info = super().GetDeploymentInfo(request)
        features = [f for f in info.supportedFeatures if f != resource_pb2.RESOURCE_MONITOR_FEATURE_RESOURCE_REFERENCES]
        return resource_pb2.DeploymentInfo(supportedFeatures=features)


# ---------------------------------------------------------------------------------------------------------
# Stack files
# ---------------------------------------------------------------------------------------------------------

def stack_names(project_dir: Path = REPO_ROOT) -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))


TEST_STACKS_DIR = Path("tests") / "stacks"
"""Test-only stack files (`Pulumi.existing.yaml`, `Pulumi.fleet.yaml`): evaluated like the real ones (found by
name, or with `stack_dir=TEST_STACKS_DIR`), never deployed; they stay out of the repository root (`stack_names`)."""


def test_only_stack_names(project_dir: Path = REPO_ROOT) -> list[str]:
    return stack_names(project_dir / TEST_STACKS_DIR)


def stack_file(stack: str, project_dir: Path = REPO_ROOT) -> Path:
    """`Pulumi.<stack>.yaml` at the project root, else the test-only one under tests/stacks/."""
    own = project_dir / f"Pulumi.{stack}.yaml"
    return own if own.exists() or not (project_dir / TEST_STACKS_DIR / own.name).exists() else \
        project_dir / TEST_STACKS_DIR / own.name


OFFLINE_SECRETS_FILE = "offline/stack-secrets.yaml"
"""Secret config keys a user sets per stack with `pulumi config set --secret` (so they are not in the stack
file in this repository); offline they stand in as fake values that are still marked secret."""


def stack_file_config(stack: str, project_dir: Path = REPO_ROOT,
                      stack_dir: Path | None = None) -> tuple[dict[str, str], list[str]]:
    """The stack file's config as the engine hands it to the program: JSON text values, secrets decrypted.

    Encrypted values cannot be decrypted without the stack's passphrase, so each stands in as a fake
    value that is still marked secret; so do the keys `offline/stack-secrets.yaml` lists for the stack.
    """
    path = project_dir / stack_dir / f"Pulumi.{stack}.yaml" if stack_dir is not None else stack_file(stack, project_dir)
    document = yaml.safe_load(path.read_text()) or {}
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in (document.get("config") or {}).items():
        full_key = key if ":" in key else f"{PROJECT}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[full_key] = FAKE_SECRET_PREFIX + full_key.split(":", 1)[1]
            secret_keys.append(full_key)
        else:
            config[full_key] = value if isinstance(value, str) else json.dumps(value)
    secrets_file = project_dir / OFFLINE_SECRETS_FILE
    declared = (yaml.safe_load(secrets_file.read_text()) or {}) if secrets_file.exists() else {}
    for entry in declared.get(stack) or []:
        # `{key: path}`: a secret whose fake must have a shape (a kubeconfig), read from a file of the repository.
        stand_ins = entry.items() if isinstance(entry, dict) else [(entry, None)]
        for key, path in stand_ins:
            full_key = f"{PROJECT}:{key}"
            if full_key not in config:
                config[full_key] = (project_dir / path).read_text() if path else FAKE_SECRET_PREFIX + key
                secret_keys.append(full_key)
    return config, secret_keys


def evaluate(
    stack: str,
    config: Mapping[str, str],
    secret_keys: list[str] | tuple[str, ...] = (),
    program: Path = REPO_ROOT / "__main__.py",
    monitor: RecordingMonitor | None = None,
) -> StackEvaluation:
    """Run the program once under mocks with the given config and return what it registered.

    Exceptions from the program (for example a ConfigError) propagate to the caller; pass your own
    `monitor` to see what was registered before one was raised.
    """
    monitor = monitor or RecordingMonitor(PlatformMocks())
    pulumi.runtime.reset_options(project=PROJECT, stack=stack, preview=False)
    pulumi_mocks.set_mocks(PlatformMocks(), project=PROJECT, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(dict(config), secret_keys=list(secret_keys))

    exported: dict[str, Any] = {}

    async def resolve_exports() -> None:
        # Under mocks the root stack registers its outputs before the program runs, so the exports are
        # read from the stack object, keeping the secret marking the engine would store.
        stack = pulumi.runtime.get_root_resource()
        for key, value in getattr(stack, "outputs", {}).items():
            output = pulumi.Output.from_input(value)
            plain = await output.future()
            exported[key] = {SECRET_SIG: SECRET_MARK, "value": plain} if await output.is_secret() else plain

    @pulumi.runtime.test
    def run() -> Any:
        previous_cwd = os.getcwd()
        sys.path.insert(0, str(program.parent))
        os.chdir(program.parent)
        try:
            runpy.run_path(str(program), run_name="__main__")
        finally:
            os.chdir(previous_cwd)
            sys.path.remove(str(program.parent))
        return resolve_exports()

    try:
        run()
    finally:
        pulumi.runtime.set_all_config({}, secret_keys=[])
    urns = [r.urn for r in monitor.recorded]
    duplicates = sorted({u for u in urns if urns.count(u) > 1})
    if duplicates:
        raise AssertionError(f"duplicate URNs registered: {duplicates}")
    return StackEvaluation(stack=stack, resources=monitor.recorded, outputs=exported)


def evaluate_stack(
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    project_dir: Path = REPO_ROOT,
    stack_dir: Path | None = None,
    *,
    cache: bool = True,
) -> StackEvaluation:
    """Evaluate `Pulumi.<stack>.yaml` (from the project, or `stack_dir`), optionally with some top-level config keys
    replaced (value None drops one). With an `EvaluationCache` installed (the test suite's), this repository's
    program runs once per distinct config; every call still gets its own copy. `cache=False` always runs it (a
    test that changed module state the cache's key does not cover)."""
    config, secret_keys = stack_file_config(stack, project_dir, stack_dir)
    for key, value in (overrides or {}).items():
        full_key = f"{PROJECT}:{key}"
        if value is None:
            config.pop(full_key, None)
        else:
            config[full_key] = value if isinstance(value, str) else json.dumps(value)
    program = project_dir / "__main__.py"
    if cache and EvaluationCache.installed is not None and program.resolve() == REPO_ROOT / "__main__.py":
        return EvaluationCache.installed.get(stack, config, secret_keys, program)
    return evaluate(stack, config, secret_keys, program=program)


class EvaluationCache:
    """Evaluations of this repository's program by (stack, config, secret keys), kept for one test session and
    shared between its processes (pytest-xdist workers) through files in `directory`.

    An evaluation is a function of the program's sources and the config it is given; the sources do not change
    during a test session, and `directory` is new for each session, so nothing outlives what it was made from.
    Each call returns a new copy (unpickled), so a caller may change what it gets. A config the program rejects
    raises on every call (nothing is stored). Another directory's program (a copy of the repository under test)
    is always evaluated afresh. `install` turns it on for this process; the program's other users (offline.plan,
    `pulumi preview`) never install it."""

    installed: EvaluationCache | None = None

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.memory: dict[str, bytes] = {}
        self.evaluations = 0
        """How many times this process ran the program (the rest came from memory or another process)."""

    def install(self) -> None:
        EvaluationCache.installed = self

    @staticmethod
    def uninstall() -> None:
        EvaluationCache.installed = None

    @staticmethod
    def key(stack: str, config: Mapping[str, str], secret_keys: list[str], program: Path) -> str:
        """Everything besides the sources that an evaluation depends on: the config, the environment (a
        kubeconfig path, say; pytest's own variables, which differ per worker and test, left out) and the offline
        fakes' settings, which a test may change for one evaluation (a replaced cluster's CA)."""
        environment = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        document = json.dumps([stack, dict(sorted(config.items())), sorted(secret_keys), str(program),
                               sorted(environment.items()), _fakes_fingerprint()])
        return hashlib.sha256(document.encode()).hexdigest()

    def get(self, stack: str, config: Mapping[str, str], secret_keys: list[str], program: Path) -> StackEvaluation:
        key = self.key(stack, config, secret_keys, program)
        if key not in self.memory:
            self.memory[key] = self._shared(key, lambda: evaluate(stack, config, secret_keys, program=program))
        return pickle.loads(self.memory[key])

    def _shared(self, key: str, run: Callable[[], StackEvaluation]) -> bytes:
        """The pickled evaluation from the session's directory, made here (under a lock, so two processes that
        need the same one at once evaluate it once) if no process has stored it yet."""
        stored = self.directory / f"{key}.pickle"
        with (self.directory / f"{key}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if stored.exists():
                return stored.read_bytes()
            self.evaluations += 1
            data = pickle.dumps(run(), protocol=pickle.HIGHEST_PROTOCOL)
            partial = stored.with_suffix(".partial")
            partial.write_bytes(data)
            partial.replace(stored)
            return data


def _fakes_fingerprint() -> list[str]:
    """The module-level settings of the offline fakes (this module's and offline.cloud_fakes'), by value for
    data and by qualified name for functions (the same in every process)."""
    def describe(value: Any) -> str:
        if callable(value):
            return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', repr(value))}"
        if isinstance(value, dict):
            return repr(sorted((str(k), describe(v)) for k, v in value.items()))
        return repr(value)

    return [f"{module.__name__}.{name}={describe(value)}" for module in (sys.modules[__name__], _cloud_fakes)
            for name, value in sorted(vars(module).items()) if name.isupper()]


# Cloud fakes register themselves into RESOURCE_OUTPUT_FAKES / CALL_FAKES on import.
from . import cloud_fakes as _cloud_fakes  # noqa: E402
