"""Field-level diff of two offline evaluations of a stack: what a change does to every resource.

`make plan STACK=<stack> BASE=<git ref>` evaluates the stack twice on the mocks, once from the files of
commit BASE (extracted with `git archive` into a temporary folder and evaluated there in a subprocess, since
the program's own modules differ between the two) and once from the working tree, then compares the
registrations by URN: resources added, removed, and for each changed one every input field that changed,
old -> new. Secret values (marked secret by the program or the config) are never printed, only whether they
changed. Nothing here needs credentials, a Pulumi CLI or a cluster, so it runs on pull requests from forks.
"""

from __future__ import annotations

import dataclasses
import difflib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .harness import REPO_ROOT, StackEvaluation, is_secret, stack_file

MASK = "<secret>"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
MAX_VALUE_CHARS = 160
ARROW = " → "

Snapshot = dict[str, dict[str, Any]]
"""Resources of one evaluation by URN: type, name, inputs (secrets still wrapped) and resource options."""

_MISSING: Any = object()

# Run inside the extracted BASE tree (its own `offline.harness`), so it may only use what every version of
# the harness has: evaluate_stack(stack) and the recorded resources' urn/type/name/inputs.
_SNAPSHOT_SCRIPT = """
import json, sys
from stack_config import ConfigError
from offline.harness import evaluate_stack
try:
    evaluation = evaluate_stack(sys.argv[1])
except ConfigError as error:
    print(error, file=sys.stderr)
    sys.exit(2)
json.dump([{"urn": r.urn, "type": r.type, "name": r.name, "inputs": r.inputs,
            "options": getattr(r, "options", {})} for r in evaluation.resources],
          sys.stdout, default=str)
"""


class BaseEvaluationError(RuntimeError):
    """The stack could not be evaluated at the base commit (bad ref, invalid config there, a crash)."""


def snapshot(evaluation: StackEvaluation) -> Snapshot:
    return {r.urn: {"type": r.type, "name": r.name, "inputs": r.inputs, "options": r.options}
            for r in evaluation.resources}


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)


def resolve_ref(ref: str, repo: Path = REPO_ROOT) -> str:
    """The commit `ref` names, as a full SHA; BaseEvaluationError if git does not know it."""
    result = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if result.returncode != 0:
        raise BaseEvaluationError(f"'{ref}' is not a commit in {repo} (fetch it first, e.g. `git fetch origin main`)")
    return result.stdout.decode().strip()


def extract_tree(commit: str, destination: Path, repo: Path = REPO_ROOT) -> None:
    """Write the project's files as they are at `commit` into `destination` (no .git, nothing untracked)."""
    prefix = _git(repo, "rev-parse", "--show-prefix").stdout.decode().strip()
    tree = f"{commit}:{prefix}" if prefix else commit
    archive = _git(repo, "archive", "--format=tar", tree)
    if archive.returncode != 0:
        raise BaseEvaluationError(f"git archive {tree} failed: {archive.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(destination, filter="data")


def snapshot_at(ref: str, stack: str, repo: Path = REPO_ROOT) -> tuple[str, Snapshot]:
    """Evaluate `stack` as it is at git `ref`: (commit SHA, snapshot); an empty snapshot if the stack file is new."""
    commit = resolve_ref(ref, repo)
    with tempfile.TemporaryDirectory(prefix="plan-base-") as folder:
        tree = Path(folder)
        extract_tree(commit, tree, repo)
        if not stack_file(stack, tree).exists():  # at the root, or a test-only stack under tests/stacks/
            return commit, {}
        env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
        result = subprocess.run([sys.executable, "-c", _SNAPSHOT_SCRIPT, stack], cwd=tree, env=env,
                                capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = "\n".join(result.stderr.strip().splitlines()[-15:])
        raise BaseEvaluationError(f"stack {stack} does not evaluate at {ref} ({commit[:12]}):\n{detail}")
    return commit, {r["urn"]: r for r in json.loads(result.stdout)}


# ---------------------------------------------------------------------------------------------------------
# Field-level comparison
# ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldChange:
    path: str
    old: str | None
    """Display text of the old value (None: the field is new)."""
    new: str | None
    """Display text of the new value (None: the field is gone)."""
    text_diff: tuple[str, ...] = ()
    """For a changed multi-line text (a dashboard, a config file): its unified diff lines."""

    def lines(self) -> list[str]:
        if self.old is None:
            head = f"+ {self.path}: {self.new}"
        elif self.new is None:
            head = f"- {self.path}: {self.old}"
        else:
            head = f"~ {self.path}: {self.old}{ARROW}{self.new}"
        return [head, *(f"    {line}" for line in self.text_diff)]


@dataclass(frozen=True)
class ResourceChange:
    action: str
    """'add', 'remove' or 'change'."""
    urn: str
    type: str
    name: str
    label: str
    group: int
    """Index into `GROUP_TITLES`."""
    fields: tuple[FieldChange, ...] = ()
    note: str = ""
    """What the engine will do beyond an update: a replacement, or a delete-and-create under a new URN."""

    @property
    def sigil(self) -> str:
        return {"add": "+", "remove": "-", "change": "~"}[self.action]


@dataclass
class PlanDiff:
    stack: str
    base: str
    head: str
    changes: list[ResourceChange] = field(default_factory=list)
    unchanged: int = 0

    def count(self, action: str) -> int:
        return sum(1 for change in self.changes if change.action == action)

    def summary(self) -> str:
        replaced = sum(1 for change in self.changes if change.note.startswith("replaced"))
        return (f"{self.count('add')} to add, {self.count('remove')} to remove, {self.count('change')} to change"
                f"{f' ({replaced} by replacement)' if replaced else ''}, {self.unchanged} unchanged")


def _plain(value: Any) -> Any:
    # Engine numbers are floats; a whole one is what the user wrote as an integer.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _display(value: Any, secret: bool) -> str:
    if secret:
        return MASK
    if isinstance(value, dict | list):
        text = json.dumps(_masked(value), sort_keys=False, separators=(", ", ": "))
    else:
        text = json.dumps(_plain(value))
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS - 1] + "…"


def _masked(value: Any) -> Any:
    if is_secret(value):
        return MASK
    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return _plain(value)


def _segment(key: Any) -> str:
    text = str(key)
    if text.replace("_", "").replace("-", "").isalnum():
        return f".{text}"
    return f"[{json.dumps(text)}]"


def _named(items: list[Any]) -> bool:
    """A list of objects with unique `name`s (containers, ports, env, volumes): matched by name, not index."""
    names = [item.get("name") for item in items if isinstance(item, dict)]
    return len(names) == len(items) and all(isinstance(n, str) for n in names) and len(set(names)) == len(names)


def _unwrap(value: Any, secret: bool) -> tuple[Any, bool]:
    if is_secret(value):
        return value.get("value"), True
    return value, secret


def _compare(old: Any, new: Any, path: str, secrets: tuple[bool, bool], out: list[FieldChange]) -> None:
    old, old_secret = _unwrap(old, secrets[0])
    new, new_secret = _unwrap(new, secrets[1])
    old = _MISSING if old is None else old
    new = _MISSING if new is None else new
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(k for k in new if k not in old)]:
            _compare(old.get(key), new.get(key), path + _segment(key), (old_secret, new_secret), out)
        return
    if isinstance(old, list) and isinstance(new, list):
        if old and new and _named(old) and _named(new):
            old_by, new_by = {i["name"]: i for i in old}, {i["name"]: i for i in new}
            for name in [*old_by, *(n for n in new_by if n not in old_by)]:
                _compare(old_by.get(name), new_by.get(name), f"{path}[name={name}]", (old_secret, new_secret), out)
        else:
            for index in range(max(len(old), len(new))):
                _compare(old[index] if index < len(old) else None, new[index] if index < len(new) else None,
                         f"{path}[{index}]", (old_secret, new_secret), out)
        return
    if old is _MISSING and new is _MISSING:
        return
    if _plain(old) == _plain(new) and old_secret == new_secret:
        return
    path = path.lstrip(".")
    if old is _MISSING:
        out.append(FieldChange(path, None, _display(new, new_secret)))
    elif new is _MISSING:
        out.append(FieldChange(path, _display(old, old_secret), None))
    elif old_secret and new_secret:
        out.append(FieldChange(path, MASK, f"{MASK} (secret value changed)"))
    elif isinstance(old, str) and isinstance(new, str) and not (old_secret or new_secret) and "\n" in old + new:
        text = tuple(difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=1))[2:]
        out.append(FieldChange(path, f"(text, {len(old.splitlines())} lines)", f"(text, {len(new.splitlines())} lines)",
                               text))
    else:
        out.append(FieldChange(path, _display(old, old_secret), _display(new, new_secret)))


def field_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[FieldChange]:
    """Every leaf field that differs between two resources' inputs (and resource options, under `options.`)."""
    out: list[FieldChange] = []
    _compare(dict(old.get("inputs") or {}), dict(new.get("inputs") or {}), "", (False, False), out)
    old_options = {k: v for k, v in (old.get("options") or {}).items() if v not in (False, [], "", None)}
    new_options = {k: v for k, v in (new.get("options") or {}).items() if v not in (False, [], "", None)}
    _compare(old_options, new_options, ".options", (False, False), out)
    return out


def label(resource: Mapping[str, Any]) -> str:
    """How a reader knows the resource: `Kind namespace/name` for a Kubernetes object, the release for Helm."""
    inputs = resource.get("inputs") or {}
    kind, metadata = inputs.get("kind"), inputs.get("metadata")
    if resource["type"] == HELM_RELEASE:
        chart = f"{inputs.get('chart')}@{inputs.get('version')}"
        return f"Helm release {inputs.get('namespace', '?')}/{inputs.get('name', resource['name'])} ({chart})"
    if isinstance(kind, str) and isinstance(metadata, dict) and isinstance(metadata.get("name"), str):
        where = f"{metadata['namespace']}/" if isinstance(metadata.get("namespace"), str) else ""
        return f"{kind} {where}{metadata['name']}"
    return f"{resource['type']} {resource['name']}"


GROUP_TITLES = ("Kubernetes objects", "Helm releases", "Cloud and other resources")


def _group(resource: Mapping[str, Any]) -> int:
    if resource["type"] == HELM_RELEASE:
        return 1
    return 0 if resource["type"].startswith("kubernetes:") and "kind" in (resource.get("inputs") or {}) else 2


# Fields the API server never lets change in place: the provider deletes and recreates the object instead.
_IMMUTABLE = {"": ("metadata.name", "metadata.namespace"),
              "Deployment": ("spec.selector",), "StatefulSet": ("spec.selector", "spec.serviceName"),
              "DaemonSet": ("spec.selector",), "Job": ("spec.template", "spec.selector")}


def replacement(resource: Mapping[str, Any], fields: list[FieldChange]) -> str:
    """Why a changed resource will be replaced rather than updated, or ''."""
    paths = [field.path for field in fields]
    inputs = resource.get("inputs") or {}
    kind = inputs.get("kind") if resource["type"].startswith("kubernetes:") else None
    if kind is not None:
        for prefix in (*_IMMUTABLE[""], *_IMMUTABLE.get(str(kind), ())):
            hit = next((p for p in paths if p == prefix or p.startswith(prefix + ".") or p.startswith(prefix + "[")),
                       None)
            if hit:
                return f"replaced: {prefix} cannot change in place"
    watched = list((resource.get("options") or {}).get("replaceOnChanges") or [])
    for path in paths:
        top = path.split(".", 1)[0].split("[", 1)[0]
        if top != "options" and ("*" in watched or top in watched):
            return f"replaced: replaceOnChanges includes {top}"
    return ""


def _pair_renames(plan: PlanDiff) -> None:
    # Same type and name under a new URN (a new parent, project or stack name): without an alias the engine
    # deletes the old resource and creates the new one, which for a cluster or a namespace loses what is on it.
    removed = {(c.type, c.name): c for c in plan.changes if c.action == "remove"}
    for index, change in enumerate(plan.changes):
        twin = removed.get((change.type, change.name)) if change.action == "add" else None
        if twin is None:
            continue
        note = f"new URN (was {twin.urn}): deleted and created again unless an alias maps it"
        plan.changes[index] = dataclasses.replace(change, note=note)


def diff_snapshots(stack: str, old: Snapshot, new: Snapshot, base: str = "base", head: str = "working tree") -> PlanDiff:
    plan = PlanDiff(stack=stack, base=base, head=head)
    for urn in [*old, *(u for u in new if u not in old)]:
        before, after = old.get(urn), new.get(urn)
        resource = after or before
        assert resource is not None
        if before is None or after is None:
            action = "add" if before is None else "remove"
            plan.changes.append(ResourceChange(action, urn, resource["type"], resource["name"], label(resource),
                                               _group(resource)))
            continue
        fields = field_changes(before, after)
        if fields:
            plan.changes.append(ResourceChange("change", urn, resource["type"], resource["name"], label(after),
                                               _group(after), tuple(fields), replacement(after, fields)))
        else:
            plan.unchanged += 1
    _pair_renames(plan)
    plan.changes.sort(key=lambda c: (c.group, c.label, c.urn))
    return plan


# ---------------------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------------------

def _change_lines(change: ResourceChange) -> list[str]:
    sigil = "+-" if change.note.startswith("replaced") else change.sigil
    note = f"  ({change.note})" if change.note else ""
    plain = f"{change.type} {change.name}"
    lines = [f"{sigil} {change.label}{'' if change.label == plain else f'  [{plain}]'}{note}"]
    lines += [f"    {line}" for item in change.fields for line in item.lines()]
    return lines


def format_text(plan: PlanDiff) -> str:
    lines = [f"plan diff of stack {plan.stack}: {plan.base}{ARROW}{plan.head}"]
    if not plan.changes:
        lines.append("no changes")
    for index, title in enumerate(GROUP_TITLES):
        members = [change for change in plan.changes if change.group == index]
        if members:
            lines += ["", f"## {title}"]
            for change in members:
                lines += _change_lines(change)
    lines += ["", plan.summary()]
    return "\n".join(lines) + "\n"


def format_markdown(plan: PlanDiff) -> str:
    """The diff for a pull request comment or a job summary: a heading, the counts, the text in a diff block."""
    body = format_text(plan).replace("````", "'```")
    return (f"### Offline plan: `{plan.stack}`\n\n{plan.summary()} (`{plan.base}`{ARROW}{plan.head}; "
            "evaluated on Pulumi's mocks, no cloud state; secrets masked)\n\n"
            f"<details{' open' if plan.changes else ''}><summary>{len(plan.changes)} resource(s) differ</summary>\n\n"
            f"````diff\n{body}````\n\n</details>\n")
