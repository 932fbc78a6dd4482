"""Check the Helm values the program passes against what each pinned chart defines (data in ../shared/charts).

Helm merges the values a release passes over the chart's values.yaml and silently ignores keys no template reads,
so a misspelt or moved key is a setting that never happens, with no error anywhere. This module maps each
recorded `helm.sh/v3:Release` (or `v4:Chart`) to the data of its pinned chart version and reports every leaf key
path the chart does not define, plus what the chart's values.schema.json (where it has one) rejects.

The data are copies of the charts' values.yaml/values.schema.json/Chart.yaml (../shared/charts/README.md says
where each came from). When a pin in components/common/charts.py moves to a version with no data directory and no
stand-in declared in `STAND_INS`, `chart_data_dir` raises `MissingChartDataError` naming the refresh command.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema.validators
import yaml

from components.clusters import node_autoscaler
from components.common import charts

from .harness import REPO_ROOT, RecordedResource, StackEvaluation

SHARED_DIR = REPO_ROOT.parent / "shared"
CHARTS_DIR = SHARED_DIR / "charts"
RELEASE_TYPES = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart")


def in_ci() -> bool:
    """CI (.ci/run) always has ../shared: there a missing data directory fails instead of skipping.

    A CI that does not lay the data beside the repository says so with BROWSER_PLATFORM_UPSTREAM_DATA=optional
    (the GitHub workflows: the data is not part of the repository, .ci/run checks against it)."""
    if os.environ.get("BROWSER_PLATFORM_UPSTREAM_DATA", "").lower() == "optional":
        return False
    return os.environ.get("CI", "").lower() == "true"


@dataclass(frozen=True)
class ChartSource:
    """Where a chart's data comes from upstream, for the refresh command."""

    key: str
    """Data directory prefix (`<key>-<version>`), also the key in `charts.ALL_PINNED`."""
    chart: str
    repo: str
    git_repo: str
    tag: str
    """Upstream git tag, `{version}` replaced by the pin."""
    path: str

    def refresh_command(self, version: str) -> str:
        target = CHARTS_DIR / f"{self.key}-{version}"
        return (
            f"helm pull --repo {self.repo} {self.chart} --version {version} --untar -d /tmp/chart && "
            f"mkdir -p {target} && cp /tmp/chart/{self.chart}/values.yaml /tmp/chart/{self.chart}/Chart.yaml {target}/ "
            f"plus values.schema.json, files/profile-*.yaml, and each charts/<dependency>/ (values.yaml, Chart.yaml) "
            f"as subcharts/<dependency>-<version>/ where the chart has them "
            f"(or from a snapshot of github.com/{self.git_repo}: `git --git-dir=<snapshot> show "
            f"{self.tag.format(version=version)}:{self.path}/values.yaml > {target}/values.yaml`, likewise "
            f"values.schema.json, Chart.yaml, files/profile-*.yaml; then update ../shared/charts/README.md)"
        )


_ISTIO_TAG = "{version}"
SOURCES: tuple[ChartSource, ...] = (
    ChartSource("istio-base", "base", charts.ISTIO_REPO, "istio/istio", _ISTIO_TAG, "manifests/charts/base"),
    ChartSource("istio-cni", "cni", charts.ISTIO_REPO, "istio/istio", _ISTIO_TAG, "manifests/charts/istio-cni"),
    ChartSource("istiod", "istiod", charts.ISTIO_REPO, "istio/istio", _ISTIO_TAG,
                "manifests/charts/istio-control/istio-discovery"),
    ChartSource("istio-gateway", "gateway", charts.ISTIO_REPO, "istio/istio", _ISTIO_TAG, "manifests/charts/gateway"),
    ChartSource("metrics-server", "metrics-server", charts.METRICS_SERVER.repo, "kubernetes-sigs/metrics-server",
                "metrics-server-helm-chart-{version}", "charts/metrics-server"),
    ChartSource("keda", "keda", charts.KEDA.repo, "kedacore/charts", "v{version}", "keda"),
    ChartSource("cert-manager", "cert-manager", charts.CERT_MANAGER.repo, "cert-manager/cert-manager", "{version}",
                "deploy/charts/cert-manager"),
    ChartSource("kube-prometheus-stack", "kube-prometheus-stack", charts.KUBE_PROMETHEUS_STACK.repo,
                "prometheus-community/helm-charts", "kube-prometheus-stack-{version}", "charts/kube-prometheus-stack"),
    ChartSource("cluster-autoscaler", "cluster-autoscaler", node_autoscaler.CHART_REPOSITORY, "kubernetes/autoscaler",
                "cluster-autoscaler-chart-{version}", "cluster-autoscaler/charts/cluster-autoscaler"),
)
SOURCE_BY_CHART = {(s.repo, s.chart): s for s in SOURCES}
SOURCE_BY_KEY = {s.key: s for s in SOURCES}


@dataclass(frozen=True)
class StandIn:
    """A data directory of a nearby version standing in for a pin the upstream snapshots did not hold."""

    directory: str
    reason: str


_ISTIO_REASON = (
    "snapshot's newest 1.30 tag is 1.30.3; release-1.30 head b9a2bbd2 (2026-08-21) has no change under "
    "manifests/charts/ since 1.30.3; 1.30.4/1.30.5 were released after the snapshot"
)
STAND_INS: dict[tuple[str, str], StandIn] = {
    # (chart key, pinned version) -> stand-in, with ../shared/charts/README.md's reason.
    ("istio-base", "1.30.5"): StandIn("istio-base-1.30.3", _ISTIO_REASON),
    ("istio-cni", "1.30.5"): StandIn("istio-cni-1.30.3", _ISTIO_REASON),
    ("istiod", "1.30.5"): StandIn("istiod-1.30.3", _ISTIO_REASON),
    ("istio-gateway", "1.30.5"): StandIn("istio-gateway-1.30.3", _ISTIO_REASON),
    ("keda", "2.21.1"): StandIn(
        "keda-main-1444d00",
        "snapshot's newest tag is v2.20.2; kedacore/charts main at 1444d00 (2026-08-13) only adds keys (hostUsers, "
        "sharding) over it; chart 2.21.1 was released after the snapshot",
    ),
    ("cert-manager", "v1.21.2"): StandIn(
        "cert-manager-v1.21.1",
        "snapshot's newest tag is v1.21.1; release-1.21 head 378ef0e2 (2026-08-21) has no change under "
        "deploy/charts/cert-manager/ since v1.21.1; v1.21.2 was released after the snapshot",
    ),
}


class MissingChartDataError(Exception):
    """A pinned chart version with no data directory and no declared stand-in."""


def pinned_charts() -> list[tuple[str, str]]:
    """(chart key, version) of every pin in components/common/charts.py.

    cluster-autoscaler's per-Kubernetes-minor pins (components/clusters/node_autoscaler.py) are checked through the
    releases the stacks record: only the minor a stack runs needs data.
    """
    return [(key, chart.version) for key, chart in charts.ALL_PINNED.items()]


def pins_without_data(charts_dir: Path = CHARTS_DIR,
                      stand_ins: Mapping[tuple[str, str], StandIn] = STAND_INS) -> list[str]:
    """For each pin with no data directory and no declared stand-in, what to refresh and how."""
    problems = []
    for key, version in pinned_charts():
        try:
            chart_data_dir(key, version, charts_dir=charts_dir, stand_ins=stand_ins)
        except MissingChartDataError as missing:
            problems.append(str(missing))
    return problems


def shared_data_missing(directory: Path) -> str | None:
    """Why the upstream data is not there and how to get it, or None when it is."""
    if directory.is_dir():
        return None
    return (
        f"{directory} is missing: it holds upstream data kept next to the repository, not in it (CI always has "
        f"it). Charts: `helm pull --repo <repo> <chart> --version <pin> --untar` for each pin in "
        f"components/common/charts.py, copied to ../shared/charts/<chart>-<pin>/ (README there); CRD schemas: the pinned "
        f"charts' CRDs converted as ../shared/crd-schemas/README.md describes."
    )


def chart_data_dir(key: str, version: str, *, charts_dir: Path = CHARTS_DIR,
                   stand_ins: Mapping[tuple[str, str], StandIn] = STAND_INS) -> Path:
    """The data directory for a pinned chart version, or MissingChartDataError saying how to refresh it."""
    exact = charts_dir / f"{key}-{version}"
    if (exact / "values.yaml").is_file():
        return exact
    stand_in = stand_ins.get((key, version))
    if stand_in is not None and (charts_dir / stand_in.directory / "values.yaml").is_file():
        return charts_dir / stand_in.directory
    source = SOURCE_BY_KEY.get(key)
    how = source.refresh_command(version) if source else "add a ChartSource for it in offline/chart_values.py"
    declared = f" (declared stand-in {stand_in.directory} is missing too)" if stand_in else ""
    raise MissingChartDataError(
        f"chart {key} is pinned at {version} but {charts_dir} has no {key}-{version}/ and no stand-in{declared}. "
        f"Refresh the data: {how}; or, if the new version's values are known to be identical to an existing "
        f"directory, declare it in STAND_INS in offline/chart_values.py with the reason."
    )


# ---------------------------------------------------------------------------------------------------------
# The chart's view of its values
# ---------------------------------------------------------------------------------------------------------

@dataclass
class ChartValues:
    """What one chart (with its subcharts) defines: its default values and, where present, its schema."""

    key: str
    directory: Path
    defaults: dict[str, Any]
    schema: dict[str, Any] | None
    subcharts: dict[str, ChartValues]
    """By the key the parent's values use for them (the dependency's name or alias)."""


def load_chart(directory: Path, key: str) -> ChartValues:
    defaults = yaml.safe_load((directory / "values.yaml").read_text()) or {}
    schema_file = directory / "values.schema.json"
    schema = json.loads(schema_file.read_text()) if schema_file.is_file() else None
    subcharts: dict[str, ChartValues] = {}
    chart_file = directory / "Chart.yaml"
    meta = (yaml.safe_load(chart_file.read_text()) or {}) if chart_file.is_file() else {}
    for dependency in meta.get("dependencies") or []:
        name = dependency["name"]
        for candidate in (f"{name}-{dependency.get('version')}", name):
            if (directory / "subcharts" / candidate / "values.yaml").is_file():
                subcharts[dependency.get("alias") or name] = load_chart(directory / "subcharts" / candidate, name)
                break
    return ChartValues(key, directory, defaults, schema, subcharts)


# Keys whose value the chart hands to Kubernetes (or to a binary's flags) as a whole, usually with `toYaml`:
# any sub-key is the chart's business to pass on, not to define, even where values.yaml shows an example.
# Their content is Kubernetes' (or the binary's) to validate, which this layer does not. Where a chart uses the
# same name for a map of its own (keda's `resources: {operator: ..., webhooks: ...}`), the sub-keys must be the
# Kubernetes ones listed here, or the chart's defaults are checked as usual.
FREE_FORM_KEYS: dict[str, frozenset[str] | None] = {
    "resources": frozenset({"requests", "limits", "claims"}),
    **dict.fromkeys((
        "nodeSelector", "tolerations", "affinity", "topologySpreadConstraints",
        "securityContext", "containerSecurityContext", "podSecurityContext", "seccompProfile",
        "annotations", "labels", "podAnnotations", "podLabels", "serviceAnnotations", "deploymentAnnotations",
        "extraArgs", "extraEnv", "env", "envVarFrom",
        "meshConfig",  # Istio's MeshConfig, written whole into the istio ConfigMap (istiod validates it)
        "volumeClaimTemplate", "storageSpec",
    )),
}


def _free_form(key: str, value: dict[str, Any]) -> bool:
    if key not in FREE_FORM_KEYS:
        return False
    shape = FREE_FORM_KEYS[key]
    return shape is None or set(value) <= shape


# Keys a chart's templates read that its values.yaml does not define, by chart key. Each entry names the
# template line (at the pinned tag) that reads it. A key is only added here after reading that line.
_ISTIO_PLATFORM = (
    "istio/istio@1.30.3 templates/zzz_profile.yaml:41 "
    "`{{- with (coalesce ($.Values).platform ($.Values.global).platform) }}` loads files/profile-platform-<x>.yaml"
)
TEMPLATE_ONLY_KEYS: dict[str, dict[tuple[str, ...], str]] = {
    "istio-cni": {("global", "platform"): _ISTIO_PLATFORM, ("platform",): _ISTIO_PLATFORM},
    "istiod": {("global", "platform"): _ISTIO_PLATFORM, ("platform",): _ISTIO_PLATFORM},
    "istio-gateway": {("global", "platform"): _ISTIO_PLATFORM, ("platform",): _ISTIO_PLATFORM},
    "kube-prometheus-stack": {
        # values.yaml (and the subcharts') has these only as comments (`# priorityClassName: ""`).
        ("prometheusOperator", "priorityClassName"): "kube-prometheus-stack-85.1.3 templates/prometheus-operator/"
            "deployment.yaml:41 `{{- if .Values.prometheusOperator.priorityClassName }}`",
        ("kube-state-metrics", "priorityClassName"): "kube-state-metrics-7.3.0 templates/deployment.yaml:51 "
            "`{{- if .Values.priorityClassName }}`",
        ("prometheus-node-exporter", "priorityClassName"): "prometheus-node-exporter-4.55.0 templates/daemonset.yaml:38 "
            "`{{- with .Values.priorityClassName }}`",
        ("grafana", "priorityClassName"): "grafana-12.3.3 templates/_pod.tpl:28 `{{- with .Values.priorityClassName }}`",
    },
    "cert-manager": {
        # values.yaml has both only as comments (`# name: ""`, `# annotations:`); values.schema.json defines them.
        ("serviceAccount", "name"): "cert-manager@v1.21.1 templates/_helpers.tpl:31 "
                                    "`{{ default (include \"cert-manager.fullname\" .) .Values.serviceAccount.name }}`",
        ("serviceAccount", "annotations"): "cert-manager@v1.21.1 templates/serviceaccount.yaml:12 "
                                           "`{{- with .Values.serviceAccount.annotations }}`",
    },
}


# Keys whose default is `{}` (so any sub-key would pass) but whose templates read a fixed set of sub-keys: the
# sub-keys checked, with the template lines (at the pinned tag, or its stand-in) that read them.
_KEDA_PDB = "kedacore/charts@1444d00 templates/{0}/poddisruptionbudget.yaml: `.Values.podDisruptionBudget.{1}.minAvailable`, " \
            "`.Values.podDisruptionBudget.{1}.maxUnavailable` (lines 22-27)"
EMPTY_DEFAULT_SHAPES: dict[str, dict[tuple[str, ...], tuple[frozenset[str], str]]] = {
    "keda": {
        ("podDisruptionBudget", component): (frozenset({"minAvailable", "maxUnavailable"}), _KEDA_PDB.format(folder, component))
        for folder, component in (("manager", "operator"), ("metrics-server", "metricServer"), ("webhooks", "webhooks"))
    },
}


def _istio_view(chart: ChartValues) -> dict[str, Any]:
    """Istio charts (zzz_profile.yaml) merge user values over `_internal_defaults_do_not_set`, so those keys are
    valid at the top level; the descoping template (zzy_descope_legacy.yaml) copies `pilot.*` (istiod) and
    `cni.*` (cni) to the top level, so those sections accept whatever the top level accepts."""
    defaults = copy.deepcopy(chart.defaults)
    internal = defaults.pop("_internal_defaults_do_not_set", None) or {}
    merged = {**defaults, **internal}
    legacy = ISTIO_LEGACY_SECTION.get(chart.key)
    if legacy is not None:
        merged[legacy] = _LEGACY_TOP
    return merged


ISTIO_LEGACY_SECTION = {"istiod": "pilot", "istio-cni": "cni"}
"""istio/istio@1.30.3 templates/zzy_descope_legacy.yaml:3 of each chart:
`{{- $_ := mustMergeOverwrite $.Values (index $.Values "pilot") }}` (istiod; `"cni"` in istio-cni)."""


_LEGACY_TOP = object()
"""Marks the Istio legacy section (`pilot`, `cni`) whose keys are checked against the chart's top level."""


def _is_istio(chart: ChartValues) -> bool:
    return "_internal_defaults_do_not_set" in chart.defaults


def unknown_keys(values: Mapping[str, Any], chart: ChartValues) -> list[str]:
    """Every key path in `values` the chart (and its subcharts) does not define, with a short reason."""
    top = _istio_view(chart) if _is_istio(chart) else chart.defaults
    problems: list[str] = []
    rules = _Rules(TEMPLATE_ONLY_KEYS.get(chart.key, {}), EMPTY_DEFAULT_SHAPES.get(chart.key, {}), top,
                   schema_declared_paths(chart.schema))
    for key, value in values.items():
        if key in chart.subcharts:
            sub = chart.subcharts[key]
            section = top.get(key)
            parent_section: Mapping[str, Any] = section if isinstance(section, dict) else {}
            sub_defaults = _union(_istio_view(sub) if _is_istio(sub) else sub.defaults, parent_section)
            problems += _walk(value, sub_defaults, (key,), rules)
        else:
            problems += _walk({key: value}, top, (), rules)
    return problems


def schema_declared_paths(schema: Mapping[str, Any] | None) -> dict[tuple[str, ...], str]:
    """Key paths a chart's values.schema.json declares. Some charts (cert-manager) keep optional keys only as
    comments in values.yaml and declare them in the schema, which `schema_errors` then validates in full."""
    declared: dict[tuple[str, ...], str] = {}

    def resolve(node: Mapping[str, Any]) -> Mapping[str, Any]:
        ref = node.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return node
        target: Any = schema
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        return resolve(target) if isinstance(target, Mapping) else {}

    def visit(node: Mapping[str, Any], path: tuple[str, ...]) -> None:
        properties = resolve(node).get("properties")
        if len(path) > 12 or not isinstance(properties, Mapping):
            return
        for key, sub in properties.items():
            declared[(*path, key)] = "declared in the chart's values.schema.json"
            if isinstance(sub, Mapping):
                visit(sub, (*path, key))

    if schema:
        visit(schema, ())
    return declared


def _union(subchart: Mapping[str, Any], parent: Mapping[str, Any]) -> dict[str, Any]:
    """A subchart's keys: its own values.yaml and the parent's section for it (Helm merges the two)."""
    merged = dict(subchart)
    for key, value in parent.items():
        mine = merged.get(key)
        if key in merged and (mine is None or mine == {}):
            continue  # free-form in the subchart stays free-form, whatever example the parent sets
        merged[key] = _union(mine, value) if isinstance(mine, dict) and isinstance(value, dict) else value
    return merged


@dataclass(frozen=True)
class _Rules:
    allowed: Mapping[tuple[str, ...], str]
    shapes: Mapping[tuple[str, ...], tuple[frozenset[str], str]]
    top: Mapping[str, Any]
    declared: Mapping[tuple[str, ...], str] = dataclasses.field(default_factory=dict)
    """Paths only the chart's values.schema.json declares; `schema_errors` checks what lies below them."""


def _walk(values: Any, defaults: Any, path: tuple[str, ...], rules: _Rules) -> list[str]:
    problems: list[str] = []
    if not isinstance(values, dict):
        return problems
    for key, value in values.items():
        here = (*path, key)
        dotted = ".".join(here)
        if here in rules.allowed:
            continue
        if not isinstance(defaults, dict) or key not in defaults:
            if here in rules.declared:
                continue
            problems.append(f"{dotted}: not in the chart's values.yaml (Helm would ignore it)")
            continue
        default = defaults[key]
        if default is _LEGACY_TOP:
            problems += _walk(value, {k: v for k, v in rules.top.items() if v is not _LEGACY_TOP}, here, rules)
        elif isinstance(value, dict):
            if here in rules.shapes:
                known, _ = rules.shapes[here]
                problems += [f"{dotted}.{sub}: not read by the chart's templates (Helm would ignore it)"
                             for sub in value if sub not in known]
                continue
            if _free_form(key, value) or default is None or default == {}:
                continue  # a map for arbitrary keys (or an optional object the chart passes on whole)
            if not isinstance(default, dict):
                problems.append(f"{dotted}: a map where the chart's default is {type(default).__name__} {default!r}")
                continue
            problems += _walk(value, default, here, rules)
        elif isinstance(value, list):
            # A list is ranged over or passed on whole: nothing to descend into, only its kind to compare.
            if isinstance(default, dict) and default and key not in FREE_FORM_KEYS:
                problems.append(f"{dotted}: a list where the chart expects a map")
        elif isinstance(default, bool) and value is not None and not isinstance(value, bool):
            # Templates test truthiness: the string "false" is true.
            problems.append(f"{dotted}: a {type(value).__name__} where the chart's default is a bool")
        elif isinstance(default, dict) and default and value is not None and key not in FREE_FORM_KEYS:
            problems.append(f"{dotted}: a {type(value).__name__} where the chart expects a map")
    return problems


def integral_floats_to_int(value: Any) -> Any:
    """The engine carries every number as a float; Helm receives 2, not 2.0."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: integral_floats_to_int(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral_floats_to_int(v) for v in value]
    return value


def coalesce(defaults: Any, values: Any) -> Any:
    """Helm's merge of user values over chart defaults: maps merge, anything else replaces, null deletes."""
    if not isinstance(defaults, dict) or not isinstance(values, dict):
        return copy.deepcopy(values)
    merged = copy.deepcopy(defaults)
    for key, value in values.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = coalesce(merged.get(key), value)
    return merged


def schema_errors(values: Mapping[str, Any], chart: ChartValues) -> list[str]:
    """What the chart's values.schema.json (Helm validates the coalesced values) rejects, with the path."""
    problems: list[str] = []
    for name, sub, section in [("", chart, dict(values))] + [
        (key, sub, values.get(key) or {}) for key, sub in chart.subcharts.items()
    ]:
        if sub.schema is None or (name and not isinstance(section, dict)):
            continue
        merged = coalesce(sub.defaults, integral_floats_to_int(section))
        validator = jsonschema.validators.validator_for(sub.schema, default=jsonschema.Draft7Validator)(sub.schema)
        for error in sorted(validator.iter_errors(merged), key=lambda e: list(e.absolute_path)):
            where = ".".join(str(p) for p in ([name] if name else []) + list(error.absolute_path)) or "(top)"
            problems.append(f"{where}: {error.message} (values.schema.json)")
    return problems


# ---------------------------------------------------------------------------------------------------------
# Releases recorded for a stack
# ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RecordedRelease:
    resource_name: str
    key: str
    version: str
    values: dict[str, Any]


def recorded_releases(evaluation: StackEvaluation) -> list[RecordedRelease]:
    return [release_of(r) for t in RELEASE_TYPES for r in evaluation.of_type(t)]


def release_of(resource: RecordedResource) -> RecordedRelease:
    inputs = resource.plain_inputs
    repo = (inputs.get("repositoryOpts") or {}).get("repo", "")
    source = SOURCE_BY_CHART.get((repo, inputs.get("chart", "")))
    if source is None:
        raise MissingChartDataError(
            f"release {resource.name}: chart {inputs.get('chart')!r} from {repo!r} has no ChartSource in "
            "offline/chart_values.py (add one, with its data in ../shared/charts)"
        )
    return RecordedRelease(resource.name, source.key, str(inputs.get("version", "")), inputs.get("values") or {})


def istio_profile_errors(values: Mapping[str, Any], chart: ChartValues) -> list[str]:
    """Istio's zzz_profile.yaml (lines 27-47) loads files/profile-<profile>.yaml, files/profile-compatibility-
    version-<v>.yaml and files/profile-platform-<platform>.yaml and fails the install when one is missing."""
    if not _is_istio(chart):
        return []
    section = values.get("global")
    global_values: Mapping[str, Any] = section if isinstance(section, dict) else {}
    wanted = {
        "profile": values.get("profile") or global_values.get("profile"),
        "compatibility-version": values.get("compatibilityVersion"),
        "platform": values.get("platform") or global_values.get("platform"),
    }
    return [
        f"{kind} {name!r}: the chart has no files/{file}, so the install fails"
        for kind, name in wanted.items() if name
        for file in [f"profile-{name}.yaml" if kind == "profile" else f"profile-{kind}-{name}.yaml"]
        if not (chart.directory / "files" / file).is_file()
    ]


def check_release(release: RecordedRelease, charts_dir: Path = CHARTS_DIR) -> list[str]:
    """Every problem with a release's values against its pinned chart's data (empty: all keys are read)."""
    chart = load_chart(chart_data_dir(release.key, release.version, charts_dir=charts_dir), release.key)
    return (unknown_keys(release.values, chart) + schema_errors(release.values, chart)
            + istio_profile_errors(release.values, chart))
