"""`python -m scripts.config_reference [--write | --check]`: the stack config reference, from the pydantic models.

Renders every key of `PlatformConfig` (and the models below it; each member of the `cluster` union and each
workload role gets its own table) as Markdown rows: path, type, default, description and constraints. Descriptions come from
`Field(description=...)`, else from the attribute docstring under the field, else from the nested model's
class docstring. `--write` replaces the block between the markers in README.md; `--check` exits 1 when that
block is stale (tests/test_config_reference.py does the same).
"""

from __future__ import annotations

import argparse
import ast
import inspect
import itertools
import json
import sys
import textwrap
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from stack_config import PlatformConfig

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"
PREFIX = "browser-platform:"

_VALIDATOR_TYPES = {
    "_check_cpu": "CPU quantity",
    "_check_memory": "memory quantity",
    "_check_cidr": "CIDR",
    "_check_private_cidr": "private CIDR",
}


def _attribute_docs(model: type[BaseModel]) -> dict[str, str]:
    """Docstrings written under fields (`name: int = 1` followed by a string), for each class in the MRO."""
    docs: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for statement, following in itertools.pairwise(body):
            if (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
                    and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                    and isinstance(following.value.value, str)):
                docs[statement.target.id] = " ".join(following.value.value.split())
    return docs


def _unwrap(annotation: Any) -> Any:
    while get_origin(annotation) is typing.Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def type_name(annotation: Any, field: FieldInfo | None = None) -> str:
    if field is not None:
        for meta in field.metadata:
            name = getattr(getattr(meta, "func", None), "__name__", "")
            if name in _VALIDATOR_TYPES:
                return _VALIDATOR_TYPES[name]
    if get_origin(annotation) is typing.Annotated:
        for meta in getattr(annotation, "__metadata__", ()):
            name = getattr(getattr(meta, "func", None), "__name__", "")
            if name in _VALIDATOR_TYPES:
                return _VALIDATOR_TYPES[name]
    annotation = _unwrap(annotation)
    origin = get_origin(annotation)
    if annotation is type(None):
        return "null"
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(arg) for arg in get_args(annotation))
    if origin is Literal:
        return " or ".join(json.dumps(arg) for arg in get_args(annotation))
    if origin is list:
        return f"list of {type_name(get_args(annotation)[0])}"
    if origin is dict:
        key, value = get_args(annotation)
        return f"map of {type_name(key)} to {type_name(value)}"
    if _is_model(annotation):
        tag = _tag(annotation)
        return f"object ({tag[0]}: {json.dumps(tag[1])})" if tag else "object"
    return {str: "string", int: "integer", bool: "boolean", float: "number"}.get(annotation, str(annotation))


def _tag(model: type[BaseModel]) -> tuple[str, Any] | None:
    """The discriminator (`kind`, `type` or `role` with one Literal value) of a union member, if it has one."""
    for name in ("kind", "type", "role"):
        field = model.model_fields.get(name)
        if field is not None and get_origin(field.annotation) is Literal and len(get_args(field.annotation)) == 1:
            return field.alias or name, get_args(field.annotation)[0]
    return None


def _constraints(field: FieldInfo) -> list[str]:
    found: list[str] = []
    for meta in field.metadata:
        if isinstance(meta, annotated_types.Ge):
            found.append(f">= {meta.ge}")
        if isinstance(meta, annotated_types.Gt):
            found.append(f"> {meta.gt}")
        if isinstance(meta, annotated_types.Le):
            found.append(f"<= {meta.le}")
        if isinstance(meta, annotated_types.Lt):
            found.append(f"< {meta.lt}")
        if isinstance(meta, annotated_types.MinLen):
            found.append(f"length >= {meta.min_length}")
        if isinstance(meta, annotated_types.MaxLen):
            found.append(f"length <= {meta.max_length}")
    return found


def _default(value: Any) -> str:
    if value is PydanticUndefined:
        return "required"
    if isinstance(value, dict) and value and all(isinstance(item, BaseModel) for item in value.values()):
        return f"`{', '.join(value)}` (see below)"  # named workloads: each role's defaults have a table below
    is_model = isinstance(value, BaseModel)
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", by_alias=True, exclude_none=True)
    text = json.dumps(value, separators=(", ", ": ")) if not isinstance(value, str) or not value else value
    return "see below" if is_model and len(text) > 60 else f"`{text}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _members(annotation: Any) -> list[Any]:
    annotation = _unwrap(annotation)
    if get_origin(annotation) in (Union, types.UnionType):
        return [_unwrap(arg) for arg in get_args(annotation)]
    return [annotation]


def rows(model: type[BaseModel], prefix: str, instance: BaseModel | None = None,
         skip: tuple[str, ...] = ()) -> list[tuple[str, str, str, str]]:
    out: list[tuple[str, str, str, str]] = []
    docs = _attribute_docs(model)
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        key = field.alias or name
        path = f"{prefix}{key}" if prefix.endswith(":") or not prefix else f"{prefix}.{key}"
        if instance is not None:
            default: Any = getattr(instance, name)
        elif field.default_factory is not None:
            default = field.get_default(call_default_factory=True)
        else:
            default = field.default
        members = _members(field.annotation)
        models = [m for m in members if _is_model(m)]
        listed = [_unwrap(get_args(m)[0]) for m in members if get_origin(m) is list and get_args(m)]
        list_models = [m for m in listed if _is_model(m)]
        description = field.description or docs.get(name) or ""
        if not description and len(models) == 1 and models[0].__doc__:
            description = " ".join(models[0].__doc__.split())
        if not description and len(list_models) == 1 and list_models[0].__doc__:
            description = " ".join(list_models[0].__doc__.split())
        extra = _constraints(field)
        if extra:
            description = f"{description} ({', '.join(extra)})" if description else ", ".join(extra)
        out.append((path, type_name(field.annotation, field), _default(default), description))
        if get_origin(field.annotation) is dict and any(_is_model(m) for m in _members(get_args(field.annotation)[1])):
            continue  # a map of named models (workloads): one table per member below
        if len(models) == 1 and len(members) <= 2:
            nested = default if isinstance(default, BaseModel) else None
            out.extend(rows(models[0], path, nested))
        elif len(models) > 1:
            for member in models:
                tag = _tag(member)
                label = f"with {tag[0]} {json.dumps(tag[1])}" if tag else ""
                nested = default if type(default) is member else None
                out.extend((p, k, d, f"{label}: {t}" if t and label else t or label)
                           for p, k, d, t in rows(member, path, nested) if not (tag and p == f"{path}.{tag[0]}"))
        for item in list_models:
            out.extend(rows(item, f"{path}[]"))
    return out


def _table(items: list[tuple[str, str, str, str]]) -> list[str]:
    lines = ["| Key | Type | Default | Description |", "|---|---|---|---|"]
    lines += [f"| `{path}` | {_cell(kind)} | {_cell(default)} | {_cell(text)} |" for path, kind, default, text in items]
    return lines


def _variants(members: list[type[BaseModel]], discriminator: str, key: str) -> list[str]:
    """One section per member of a tagged union (`workloads.<name>` by role, `cluster` by kind), its rows with
    the discriminator first."""
    lines: list[str] = []
    for member in members:
        tag = get_args(member.model_fields[discriminator].annotation)[0]
        doc = " ".join((member.__doc__ or "").split())
        lines += ["", f"#### `{key.removeprefix(PREFIX)}` with `{discriminator}: {tag}`", ""]
        if doc:
            lines += [doc, ""]
        member_rows = rows(member, key)
        member_rows.sort(key=lambda row: row[0] != f"{key}.{discriminator}")  # the discriminator first
        lines += _table(member_rows)
    return lines


def render() -> str:
    lines = [
        "Generated by `python -m scripts.config_reference --write` from the models in `stack_config/`; do not edit.",
        "Every key is `browser-platform:<key>` in `Pulumi.<stack>.yaml`; objects are written as YAML maps.",
        "",
        "#### Platform",
        "",
        *_table(rows(PlatformConfig, PREFIX, skip=("cluster",))),
    ]
    workloads_field = PlatformConfig.model_fields["workloads"]
    lines += _variants(_members(get_args(_unwrap(workloads_field.annotation))[1]), "role", f"{PREFIX}workloads.<name>")
    lines += _variants(_members(PlatformConfig.model_fields["cluster"].annotation), "kind", f"{PREFIX}cluster")
    return "\n".join(lines) + "\n"


def readme_block(text: str) -> str:
    start, end = text.index(START) + len(START), text.index(END)
    return text[start:end].strip("\n") + "\n"


def write(path: Path = README) -> None:
    text = path.read_text()
    start, end = text.index(START) + len(START), text.index(END)
    path.write_text(text[:start] + "\n" + render() + text[end:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.config_reference", description=(__doc__ or "").partition("\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help="update the block in README.md")
    group.add_argument("--check", action="store_true", help="exit 1 if README.md's block is stale")
    args = parser.parse_args(argv)
    if args.write:
        write()
    elif args.check:
        if readme_block(README.read_text()) != render():
            print("README.md config reference is stale: run `python -m scripts.config_reference --write`", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
