"""Config problems as a reader of `Pulumi.<stack>.yaml` needs them: `error: Pulumi.dev.yaml: line 12: <key>: ...`.

The offline commands (`make plan`, `make capacity`) read the stack file themselves, so a YAML syntax error or
an invalid value reaches them with the file's text at hand; this module points each problem at its line.
(Under `pulumi up` the CLI reads the file and reports its own YAML errors; the program's ConfigError names
the key.)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from .loader import PROJECT

_KEY_PATH_RE = re.compile(r"^(?P<key>[\w-]+:[\w.\[\]-]+): ")
_SEGMENT_RE = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def yaml_error_line(error: yaml.YAMLError) -> int | None:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    return mark.line + 1 if mark is not None else None


def describe_yaml_error(file_name: str, error: yaml.YAMLError) -> str:
    """`error: Pulumi.dev.yaml: line 6, column 4: <what the parser expected>` plus a hint for a newcomer."""
    mark = getattr(error, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    context_mark = getattr(error, "context_mark", None)
    if context and context_mark is not None:
        problem = f"{problem} ({context} at line {context_mark.line + 1})"
    return (f"error: {file_name}: {where}YAML syntax error: {problem}; check the indentation (spaces, not tabs) "
            "and that every bracket and quote is closed")


def _node_line(root: yaml.Node | None, key_path: str, project: str) -> int | None:
    """The line of the deepest part of `key_path` (`project:a.b[0].c`) found in the stack file's node tree."""
    if not isinstance(root, yaml.MappingNode):
        return None
    config = next((value for key, value in root.value if key.value == "config"), None)
    short = key_path.split(":", 1)[1] if ":" in key_path else key_path
    segments = [name if name else int(index) for name, index in _SEGMENT_RE.findall(short)]
    if not segments or not isinstance(config, yaml.MappingNode):
        return None
    first = segments[0]
    found = next(((key, value) for key, value in config.value if key.value in (f"{project}:{first}", first)), None)
    if found is None:
        return None
    line, node = found[0].start_mark.line + 1, found[1]
    for segment in segments[1:]:
        if isinstance(segment, int) and isinstance(node, yaml.SequenceNode) and segment < len(node.value):
            node = node.value[segment]
            line = node.start_mark.line + 1
        elif isinstance(segment, str) and isinstance(node, yaml.MappingNode):
            entry = next(((key, value) for key, value in node.value if key.value == segment), None)
            if entry is None:
                break
            line, node = entry[0].start_mark.line + 1, entry[1]
        else:
            break
    return line


def problem_lines(file_name: str, text: str | None, problems: list[str], project: str = PROJECT) -> list[str]:
    """One `error: <file>: line N: <problem>` line per problem (no line when the key is not in the file)."""
    root: Any = None
    if text is not None:
        try:
            root = yaml.compose(text)
        except yaml.YAMLError:
            root = None
    lines = []
    for problem in problems:
        match = _KEY_PATH_RE.match(problem)
        line = _node_line(root, match.group("key"), project) if match else None
        where = f"line {line}: " if line else ""
        lines.append(f"error: {file_name}: {where}{problem}")
    return lines


def report_config_error(stack: str, project_dir: Path, error: Exception, project: str = PROJECT,
                        stack_path: Path | None = None) -> str:
    """What `make plan` / `make capacity` print for a ConfigError or a YAML error in `Pulumi.<stack>.yaml` (or
    in `stack_path`, a test-only stack under tests/stacks/, named relative to the project)."""
    path = stack_path if stack_path is not None else project_dir / f"Pulumi.{stack}.yaml"
    file_name = str(path.relative_to(project_dir)) if path.is_relative_to(project_dir) else path.name
    if isinstance(error, yaml.YAMLError):
        return describe_yaml_error(file_name, error)
    problems = list(getattr(error, "problems", [str(error)]))
    text = path.read_text() if path.exists() else None
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    return "\n".join([*problem_lines(file_name, text, problems, project),
                      f"error: {file_name}: invalid stack configuration ({count})"])
