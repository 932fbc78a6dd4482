"""Check every recorded custom resource against its CRD's schema (data in ../shared/crd-schemas), strictly.

The API server prunes fields a CRD's schema does not define, silently (only `kubectl --validate=strict` refuses
them), so a misspelt field in an Istio, KEDA, cert-manager or Prometheus-operator object is a setting that never
happens. The schemas in ../shared/crd-schemas are the pinned CRDs' openAPIV3Schema converted to draft-07 with
`additionalProperties: false` wherever the server would prune (README there). On top of the schema this checks
what the API server checks itself: ObjectMeta (name, namespace by the CRD's scope, labels, annotations), the
version being served, and the CRD's `x-kubernetes-validations` CEL rules (evaluated with cel-python; transition
rules, which need `oldSelf`, only apply to updates and are not evaluated here).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import celpy
import jsonschema
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError

from .chart_values import SHARED_DIR, integral_floats_to_int
from .harness import RecordedResource, StackEvaluation

CRD_DIR = SHARED_DIR / "crd-schemas"
CRD_SOURCES_HELP = (
    "../shared/crd-schemas is made from the pinned charts' CRDs (istio/istio manifests/charts/base/files/"
    "crd-all.gen.yaml, kedacore/charts keda/templates/crds/, cert-manager deploy/charts/cert-manager/templates/"
    "crd-*.yaml, prometheus-community/helm-charts charts/kube-prometheus-stack/charts/crds/crds/) with "
    "`tools/crd_validate.py extract`; see ../shared/crd-schemas/README.md"
)

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
ANNOTATIONS_MAX_BYTES = 256 * 1024
OBJECT_META_FIELDS = frozenset({
    "name", "generateName", "namespace", "labels", "annotations", "finalizers", "ownerReferences",
})
"""ObjectMeta fields a client may set; the others are the server's (uid, resourceVersion, ...)."""


@dataclass(frozen=True)
class CrdVersion:
    group: str
    kind: str
    version: str
    scope: str
    served: bool
    deprecated: bool
    schema_file: Path


def load_index(crd_dir: Path = CRD_DIR) -> dict[tuple[str, str, str], CrdVersion]:
    """index.json by (group, version, kind)."""
    entries = json.loads((crd_dir / "index.json").read_text())
    return {
        (e["group"], e["version"], e["kind"]): CrdVersion(
            e["group"], e["kind"], e["version"], e["scope"], bool(e["served"]), bool(e["deprecated"]),
            crd_dir / e["schema"],
        )
        for e in entries
    }


def is_built_in(group: str) -> bool:
    """Kubernetes' own API groups (core has none): checked by kubernetes-validate in tests/test_manifests.py."""
    return group == "" or "." not in group or group.endswith(".k8s.io")


def split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def custom_resources(evaluation: StackEvaluation) -> list[RecordedResource]:
    """Recorded objects whose apiVersion is not one of Kubernetes' own groups."""
    return [r for r in evaluation.kubernetes_objects()
            if not is_built_in(split_api_version(str(r.inputs.get("apiVersion", "")))[0])]


@cache
def _schema(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


# ---------------------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------------------

def check_object(obj: Mapping[str, Any], resource_name: str = "",
                 index: Mapping[tuple[str, str, str], CrdVersion] | None = None) -> list[str]:
    """Every problem the API server (strict) would have with this object as a create: empty means accepted."""
    index = load_index() if index is None else index
    group, version = split_api_version(str(obj.get("apiVersion", "")))
    kind = str(obj.get("kind", ""))
    crd = index.get((group, version, kind))
    if crd is None:
        known = sorted(f"{g}/{v}" for g, v, k in index if k == kind and g == group)
        return [f"{group}/{version} {kind}: no CRD schema for it in ../shared/crd-schemas (served versions of "
                f"{kind}: {', '.join(known) or 'none'}); {CRD_SOURCES_HELP}"]
    problems = []
    if not crd.served:
        problems.append(f"{group}/{version} {kind}: version not served by the CRD")
    if crd.deprecated:
        problems.append(f"{group}/{version} {kind}: version deprecated by the CRD")
    schema = _schema(crd.schema_file)
    # The API server applies the schema's defaults when it decodes the object, before it validates.
    body = with_defaults(integral_floats_to_int(dict(obj)), schema)
    problems += schema_errors(body, crd)
    problems += list_type_errors(body, schema, "")
    problems += metadata_errors(body.get("metadata") or {}, crd.scope, resource_name)
    problems += [str(e) for e in cel_errors(body, schema)]
    return problems


def with_defaults(data: Any, schema: Mapping[str, Any]) -> Any:
    """The object after structural defaulting: each absent property with a schema `default` gets it."""
    if isinstance(data, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        result = {
            key: with_defaults(value, properties.get(key, extra if isinstance(extra, dict) else {}))
            for key, value in data.items()
        }
        for key, sub in properties.items():
            if key not in result and "default" in sub:
                result[key] = with_defaults(copy.deepcopy(sub["default"]), sub)
        return result
    if isinstance(data, list) and isinstance(schema.get("items"), dict):
        return [with_defaults(item, schema["items"]) for item in data]
    return data


def list_type_errors(data: Any, schema: Mapping[str, Any], path: str) -> list[str]:
    """`x-kubernetes-list-type: set` items and `map` keys must be unique: the API server refuses duplicates."""
    problems: list[str] = []
    if isinstance(data, list):
        list_type = schema.get("x-kubernetes-list-type")
        if list_type == "set":
            seen = [json.dumps(item, sort_keys=True) for item in data]
            problems += [f"{path}: duplicate item {item} in a list-type set" for item in sorted(set(seen))
                         if seen.count(item) > 1]
        elif list_type == "map":
            names = schema.get("x-kubernetes-list-map-keys") or []
            keys = [json.dumps([item.get(n) for n in names]) for item in data if isinstance(item, dict)]
            problems += [f"{path}: duplicate {'/'.join(names)} {key} in a list-type map" for key in sorted(set(keys))
                         if keys.count(key) > 1]
    for value, sub, where in schema_children(data, schema, path):
        problems += list_type_errors(value, sub, where)
    return problems


def schema_children(data: Any, schema: Mapping[str, Any], path: str) -> Iterator[tuple[Any, Mapping[str, Any], str]]:
    """(value, its schema, its path) for each field or item of `data` the schema describes: `properties`, else
    `additionalProperties` of a map, `items` of a list."""
    if isinstance(data, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, value in data.items():
            sub = properties.get(key, extra if isinstance(extra, dict) else None)
            if sub is not None:
                yield value, sub, f"{path}.{key}" if path else key
    elif isinstance(data, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(data):
            yield item, schema["items"], f"{path}[{i}]"


def schema_errors(body: Mapping[str, Any], crd: CrdVersion) -> list[str]:
    validator = jsonschema.Draft7Validator(_schema(crd.schema_file))
    return [
        f"{'.'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}"
        for error in sorted(validator.iter_errors(body), key=lambda e: [str(p) for p in e.absolute_path])
    ]


def metadata_errors(meta: Mapping[str, Any], scope: str, resource_name: str = "") -> list[str]:
    problems = [f"metadata.{key}: not a field a client sets" for key in meta if key not in OBJECT_META_FIELDS]
    name = meta.get("name")
    if name is None and not meta.get("generateName"):
        # The Pulumi provider then names it `<resource name>-<8 random characters>`.
        name = f"{resource_name}-abcdefgh"
    if name is not None and not (len(str(name)) <= 253 and DNS1123_SUBDOMAIN.match(str(name))):
        problems.append(f"metadata.name {name!r}: not a DNS-1123 subdomain (lowercase alphanumerics, '-', '.'; "
                        "at most 253 characters)")
    namespace = meta.get("namespace")
    if scope == "Namespaced" and not namespace:
        problems.append("metadata.namespace: not set for a namespaced kind (it would land in whatever namespace "
                        "the provider defaults to)")
    if scope == "Cluster" and namespace:
        problems.append(f"metadata.namespace {namespace!r}: set on a cluster-scoped kind")
    if namespace and not (len(str(namespace)) <= 63 and DNS1123_LABEL.match(str(namespace))):
        problems.append(f"metadata.namespace {namespace!r}: not a DNS-1123 label")
    for key, value in (meta.get("labels") or {}).items():
        problems += [f"metadata.labels[{key!r}]: {p}" for p in _qualified_name_errors(str(key))]
        if not (len(str(value)) <= 63 and LABEL_VALUE.match(str(value))):
            problems.append(f"metadata.labels[{key!r}] value {value!r}: not a valid label value (at most 63 "
                            "alphanumerics, '-', '_', '.', starting and ending alphanumeric)")
    annotations = meta.get("annotations") or {}
    for key in annotations:
        problems += [f"metadata.annotations[{key!r}]: {p}" for p in _qualified_name_errors(str(key))]
    size = sum(len(str(k).encode()) + len(str(v).encode()) for k, v in annotations.items())
    if size > ANNOTATIONS_MAX_BYTES:
        problems.append(f"metadata.annotations: {size} bytes, over the API server's {ANNOTATIONS_MAX_BYTES}")
    return problems


def _qualified_name_errors(key: str) -> list[str]:
    prefix, _, name = key.rpartition("/")
    problems = []
    if "/" in key and not (prefix and len(prefix) <= 253 and DNS1123_SUBDOMAIN.match(prefix)):
        problems.append(f"prefix {prefix!r} is not a DNS-1123 subdomain")
    if not (len(name) <= 63 and QUALIFIED_NAME.match(name)):
        problems.append(f"name {name!r} is not a qualified name (at most 63 alphanumerics, '-', '_', '.')")
    return problems


# ---------------------------------------------------------------------------------------------------------
# CEL rules (x-kubernetes-validations)
# ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CelFinding:
    path: str
    rule: str
    message: str
    evaluated: bool
    """False: cel-python could not compile or run the rule (a Kubernetes CEL library function, say)."""

    def __str__(self) -> str:
        if not self.evaluated:
            return f"{self.path or '(top)'}: CEL rule not evaluated offline ({self.message}): {self.rule}"
        return f"{self.path or '(top)'}: {self.message} (CEL rule: {self.rule})"


_CEL = celpy.Environment()


@cache
def _program(rule: str) -> Any:
    return _CEL.program(_CEL.compile(rule))


def cel_errors(body: Any, schema: Mapping[str, Any]) -> list[CelFinding]:
    """Every CEL rule that the object breaks or that could not be evaluated (both are findings)."""
    return list(_cel_walk(body, schema, ""))


def cel_rules_evaluated(body: Any, schema: Mapping[str, Any]) -> int:
    """How many rules applied to this object (for reporting that the walk reached them)."""
    return sum(1 for _ in _rules_reached(body, schema, ""))


def _rules_reached(data: Any, schema: Mapping[str, Any], path: str) -> Iterator[tuple[str, Mapping[str, Any], Any]]:
    for rule in schema.get("x-kubernetes-validations") or []:
        yield path, rule, data
    for value, sub, where in schema_children(data, schema, path):
        yield from _rules_reached(value, sub, where)


def _cel_walk(data: Any, schema: Mapping[str, Any], path: str) -> Iterator[CelFinding]:
    for where, rule, value in _rules_reached(data, schema, path):
        text = str(rule.get("rule", ""))
        message = str(rule.get("message") or f"failed rule: {text}")
        if "oldSelf" in text:
            continue  # a transition rule: only applies when an existing object is updated
        try:
            result = _program(text).evaluate({"self": json_to_cel(value)})
        except Exception as error:  # cel-python raises its own errors and Python ones alike
            yield CelFinding(where, text, f"{type(error).__name__}: {error}", evaluated=False)
            continue
        if isinstance(result, CELEvalError):
            yield CelFinding(where, text, f"evaluation error: {result}", evaluated=False)
        elif not bool(result):
            yield CelFinding(where, text, message, evaluated=True)
