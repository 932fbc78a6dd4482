"""Every Helm value the program passes is one its pinned chart reads (../shared/charts), for every stack."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from components.common import charts
from offline import chart_values as cv
from offline.harness import StackEvaluation
from tests.conftest import SCHEMA_STACKS
from tests.upstream_data import require

CHART_KEYS = [source.key for source in cv.SOURCES]


@pytest.fixture(autouse=True)
def _chart_data() -> None:
    require(cv.CHARTS_DIR)


def release(evaluation: StackEvaluation, key: str) -> cv.RecordedRelease | None:
    found = [r for r in cv.recorded_releases(evaluation) if r.key == key]
    assert len(found) <= 1, f"{len(found)} releases of {key}"
    return found[0] if found else None


@pytest.mark.parametrize("key", CHART_KEYS)
@pytest.mark.parametrize("stack", SCHEMA_STACKS)
def test_release_values_are_all_read_by_the_chart(
    evaluated: Callable[[str], StackEvaluation], stack: str, key: str,
) -> None:
    recorded = release(evaluated(stack), key)
    if recorded is None:
        pytest.skip(f"stack {stack} installs no {key}")
    problems = cv.check_release(recorded)
    assert not problems, (
        f"{stack}: release {recorded.resource_name} ({key} {recorded.version}) passes values the chart does not "
        "define; Helm would ignore them:\n  " + "\n  ".join(problems)
    )


@pytest.mark.parametrize("stack", SCHEMA_STACKS)
def test_every_recorded_release_maps_to_chart_data(evaluated: Callable[[str], StackEvaluation], stack: str) -> None:
    resources = [r for t in cv.RELEASE_TYPES for r in evaluated(stack).of_type(t)]
    assert resources, f"{stack} records no Helm release"
    keys = {cv.release_of(r).key for r in resources}  # raises for a chart with no ChartSource
    for item in cv.recorded_releases(evaluated(stack)):
        assert cv.chart_data_dir(item.key, item.version).is_dir()
    assert keys <= set(CHART_KEYS)


def test_every_pin_has_chart_data() -> None:
    problems = cv.pins_without_data()
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------------------------
# Pin drift: a moved pin names the data to refresh
# ---------------------------------------------------------------------------------------------------------

def test_a_moved_pin_without_data_names_chart_pin_and_refresh_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(charts.ALL_PINNED, "keda", charts.HelmChart("keda", "2.99.0", charts.KEDA.repo))
    problems = cv.pins_without_data()
    assert len(problems) == 1
    assert "chart keda is pinned at 2.99.0" in problems[0]
    assert f"helm pull --repo {charts.KEDA.repo} keda --version 2.99.0" in problems[0]
    assert "git --git-dir=<snapshot> show v2.99.0:keda/values.yaml" in problems[0]


def test_a_declared_stand_in_covers_its_pin_only() -> None:
    assert cv.chart_data_dir("istiod", "1.30.5").name == "istiod-1.30.3"
    assert cv.chart_data_dir("keda", "2.21.1").name == "keda-main-1444d00"
    with pytest.raises(cv.MissingChartDataError, match=re.escape("chart istiod is pinned at 1.30.6")):
        cv.chart_data_dir("istiod", "1.30.6")


def test_a_stand_in_whose_directory_is_gone_is_drift(tmp_path: Path) -> None:
    stand_ins = {("istiod", "1.30.5"): cv.StandIn("istiod-1.30.0", "test")}
    with pytest.raises(cv.MissingChartDataError, match=re.escape("declared stand-in istiod-1.30.0 is missing too")):
        cv.chart_data_dir("istiod", "1.30.5", charts_dir=tmp_path, stand_ins=stand_ins)


def test_the_exact_version_wins_over_a_stand_in(tmp_path: Path) -> None:
    (tmp_path / "istiod-1.30.5").mkdir()
    (tmp_path / "istiod-1.30.5" / "values.yaml").write_text("a: 1\n")
    assert cv.chart_data_dir("istiod", "1.30.5", charts_dir=tmp_path).name == "istiod-1.30.5"


def test_missing_data_fails_in_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    absent = tmp_path / "charts"
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="helm pull"):
        require(absent)
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="helm pull"):
        require(absent)


# ---------------------------------------------------------------------------------------------------------
# The checker catches what Helm would ignore (mutated copies of real recorded values)
# ---------------------------------------------------------------------------------------------------------

def mutated(evaluated: Callable[[str], StackEvaluation], stack: str, key: str) -> cv.RecordedRelease:
    recorded = release(evaluated(stack), key)
    assert recorded is not None
    assert cv.check_release(recorded) == []
    return cv.RecordedRelease(recorded.resource_name, recorded.key, recorded.version, copy.deepcopy(recorded.values))


def test_a_misspelt_nested_key_is_caught(evaluated: Callable[[str], StackEvaluation]) -> None:
    bad = mutated(evaluated, "prod", "keda")
    bad.values["operator"]["replicas"] = bad.values["operator"].pop("replicaCount")
    assert cv.check_release(bad) == ["operator.replicas: not in the chart's values.yaml (Helm would ignore it)"]


def test_a_chart_map_named_like_a_kubernetes_field_is_still_checked(evaluated: Callable[[str], StackEvaluation]) -> None:
    bad = mutated(evaluated, "prod", "keda")
    bad.values["resources"]["operatr"] = bad.values["resources"].pop("operator")
    assert cv.check_release(bad) == ["resources.operatr: not in the chart's values.yaml (Helm would ignore it)"]


def test_a_misspelt_subchart_key_is_caught(evaluated: Callable[[str], StackEvaluation]) -> None:
    bad = mutated(evaluated, "prod", "kube-prometheus-stack")
    bad.values["grafana"]["sidecar"]["dashboards"]["lable"] = "grafana_dashboard"
    bad.values["kube-state-metrics"]["replica"] = 1
    assert sorted(cv.check_release(bad)) == [
        "grafana.sidecar.dashboards.lable: not in the chart's values.yaml (Helm would ignore it)",
        "kube-state-metrics.replica: not in the chart's values.yaml (Helm would ignore it)",
    ]


def test_istio_legacy_sections_are_checked_against_the_top_level(evaluated: Callable[[str], StackEvaluation]) -> None:
    bad = mutated(evaluated, "prod", "istiod")
    bad.values["pilot"]["autoscaleMaximum"] = 5
    bad.values["pilot"]["cni"]["enable"] = True
    assert sorted(cv.check_release(bad)) == [
        "pilot.autoscaleMaximum: not in the chart's values.yaml (Helm would ignore it)",
        "pilot.cni.enable: not in the chart's values.yaml (Helm would ignore it)",
    ]


def test_a_wrong_type_is_caught_by_the_values_schema(evaluated: Callable[[str], StackEvaluation]) -> None:
    gateway = mutated(evaluated, "prod", "istio-gateway")
    gateway.values["autoscaling"]["minReplicas"] = "two"
    assert any(p.startswith("autoscaling.minReplicas: 'two' is not of type 'integer'") for p in cv.check_release(gateway))
    manager = mutated(evaluated, "prod", "cert-manager")
    manager.values["crds"]["keep"] = "yes"
    assert any(p.startswith("crds.keep: 'yes' is not of type 'boolean'") for p in cv.check_release(manager))


def test_keys_only_the_values_schema_declares_are_read_and_checked_below(
    evaluated: Callable[[str], StackEvaluation],
) -> None:
    # cert-manager keeps the budget's maxUnavailable only as a comment in values.yaml; its schema declares it.
    manager = mutated(evaluated, "prod", "cert-manager")
    manager.values["webhook"]["podDisruptionBudget"] = {"enabled": True, "maxUnavailable": 1}
    assert cv.check_release(manager) == []
    manager.values["webhook"]["podDisruptionBudget"] = {"enabled": True, "maxUnavailabel": 1}
    assert any("maxUnavailabel" in problem for problem in cv.check_release(manager))


def test_a_scalar_where_the_chart_has_a_map_is_caught(evaluated: Callable[[str], StackEvaluation]) -> None:
    bad = mutated(evaluated, "prod", "metrics-server")
    bad.values["podDisruptionBudget"] = True
    assert cv.check_release(bad) == ["podDisruptionBudget: a bool where the chart expects a map"]
    bad.values["podDisruptionBudget"] = [{"enabled": True}]
    assert cv.check_release(bad) == ["podDisruptionBudget: a list where the chart expects a map"]


def test_a_map_where_the_chart_has_a_list_is_caught(evaluated: Callable[[str], StackEvaluation]) -> None:
    bad = mutated(evaluated, "prod", "metrics-server")
    bad.values["args"] = {"kubelet-insecure-tls": True}
    assert cv.check_release(bad) == ["args: a map where the chart's default is list []"]


def test_a_misspelt_key_under_an_empty_default_the_templates_read_is_caught(
    evaluated: Callable[[str], StackEvaluation],
) -> None:
    bad = mutated(evaluated, "prod", "keda")
    operator = bad.values["podDisruptionBudget"]["operator"]
    operator["maxUnavaliable"] = operator.pop("maxUnavailable")
    assert cv.check_release(bad) == [
        "podDisruptionBudget.operator.maxUnavaliable: not read by the chart's templates (Helm would ignore it)"]


def test_each_istio_chart_descopes_only_its_own_legacy_section(evaluated: Callable[[str], StackEvaluation]) -> None:
    bad = mutated(evaluated, "prod", "istio-cni")
    bad.values["cni"]["resourcez"] = bad.values["cni"].pop("resources")
    bad.values["pilot"] = {"autoscaleMax": 3}
    assert sorted(cv.check_release(bad)) == [
        "cni.resourcez: not in the chart's values.yaml (Helm would ignore it)",
        "pilot: not in the chart's values.yaml (Helm would ignore it)",
    ]


def test_an_istio_platform_the_chart_has_no_profile_for_is_caught(evaluated: Callable[[str], StackEvaluation]) -> None:
    bad = mutated(evaluated, "prod-gcp", "istiod")
    assert bad.values["global"]["platform"] == "gke"
    bad.values["global"]["platform"] = "gcp"
    assert cv.check_release(bad) == ["platform 'gcp': the chart has no files/profile-platform-gcp.yaml, so the install fails"]


def test_a_string_where_the_chart_tests_a_bool_is_caught(evaluated: Callable[[str], StackEvaluation]) -> None:
    bad = mutated(evaluated, "prod", "kube-prometheus-stack")
    bad.values["kubeEtcd"]["enabled"] = "false"
    assert cv.check_release(bad) == ["kubeEtcd.enabled: a str where the chart's default is a bool"]


def test_every_stand_in_is_the_one_the_data_readme_declares() -> None:
    """STAND_INS mirrors ../shared/charts/README.md: each row `| \\`<dir>/\\` | <pin> | ...` whose pin differs."""
    rows = {}
    for line in (cv.CHARTS_DIR / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].startswith("`") and cells[0].endswith("/`"):
            rows[cells[0].strip("`").rstrip("/")] = cells[1]
    for (key, version), stand_in in cv.STAND_INS.items():
        assert stand_in.directory in rows, f"{stand_in.directory} is not in ../shared/charts/README.md"
        assert rows[stand_in.directory].split()[-1] == version, (key, version, rows[stand_in.directory])


def test_every_stand_in_is_for_a_current_pin() -> None:
    """When a pin moves, its old stand-in goes (or is declared again for the new pin, with a new reason)."""
    pins = set(cv.pinned_charts())
    assert [pin for pin in cv.STAND_INS if pin not in pins] == []
