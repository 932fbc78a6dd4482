"""The type check (`make lint`, .ci/run) still fails a misspelt SDK or config argument.

The checker itself runs once, in CI's typecheck step (scripts/typecheck.py): the repository and a probe of
misspelt calls into pulumi_aws, pulumi_gcp, pulumi_kubernetes and a pydantic model, in one basedpyright run (the
probe alone cost about a minute of the test suite's CPU). Here: that CI and `make lint` run that script, and
that the script's verdict on a checker report fails every way the proof can break.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from scripts import typecheck

ROOT = Path(__file__).resolve().parent.parent
PROBE = "/tmp/probe.py"


def diagnostic(line: int, rule: str = "reportCallIssue", file: str = PROBE, severity: str = "error") -> dict[str, Any]:
    return {"file": file, "severity": severity, "message": "No parameter named \"x\"", "rule": rule,
            "range": {"start": {"line": line - 1, "character": 0}, "end": {"line": line - 1, "character": 1}}}


def report(*diagnostics: dict[str, Any], files: int = 120) -> dict[str, Any]:
    return {"generalDiagnostics": list(diagnostics), "summary": {"filesAnalyzed": files}}


def test_ci_and_make_lint_run_the_type_check_with_its_probe() -> None:
    assert re.search(r"^step typecheck\n(#.*\n)*python -m scripts\.typecheck$", (ROOT / ".ci/run").read_text(), re.M)
    lint = (ROOT / "Makefile").read_text().split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "$(PYTHON) -m scripts.typecheck" in lint and "basedpyright" not in lint


def test_the_probe_writes_each_call_twice_with_one_misspelt_keyword() -> None:
    probe = typecheck.probe()
    lines = probe.text.splitlines()
    assert len(probe.good_lines) == len(probe.bad_lines) == len(typecheck.CASES) >= 8
    for (good, name), (bad, same) in zip(sorted(probe.good_lines.items()), sorted(probe.bad_lines.items()), strict=True):
        assert name == same and bad == good + 1
        assert lines[good - 1] != lines[bad - 1] and len(lines[bad - 1]) == len(lines[good - 1]) + 1, name
    assert {"pulumi_aws", "pulumi_gcp", "pulumi_kubernetes", "stack_config"} <= set(re.findall(r"\w+", probe.text))


def test_every_misspelt_call_reported_and_nothing_else_passes() -> None:
    probe = typecheck.probe()
    assert typecheck.problems(report(*(diagnostic(line) for line in probe.bad_lines)), PROBE, probe) == []


def test_a_misspelt_call_the_checker_accepts_fails() -> None:
    probe = typecheck.probe()
    missed, *rest = sorted(probe.bad_lines)
    found = typecheck.problems(report(*(diagnostic(line) for line in rest)), PROBE, probe)
    assert found == [f"a misspelt argument the type checker accepts: {probe.bad_lines[missed]}"]
    # Reported, but not as a call error (e.g. an unresolved import typing the call as Unknown): still missed.
    other_rule = report(diagnostic(missed, "reportAttributeAccessIssue"), *(diagnostic(line) for line in rest))
    assert typecheck.problems(other_rule, PROBE, probe) == found


def test_no_report_at_all_fails_every_case() -> None:
    probe = typecheck.probe()
    assert len(typecheck.problems(report(), PROBE, probe)) == len(typecheck.CASES)


def test_an_error_on_a_correct_call_or_an_import_fails() -> None:
    probe = typecheck.probe()
    everything = [diagnostic(line) for line in probe.bad_lines]
    good = min(probe.good_lines)
    found = typecheck.problems(report(*everything, diagnostic(good), diagnostic(1, "reportMissingImports")), PROBE, probe)
    assert len(found) == 2 and probe.good_lines[good] in found[1] and "probe line 1" in found[0]


def test_the_repositorys_own_errors_and_warnings_fail() -> None:
    probe = typecheck.probe()
    everything = [diagnostic(line) for line in probe.bad_lines]
    ours = "/repo/components/x.py"
    error = report(*everything, diagnostic(3, "reportCallIssue", ours))
    warning = report(*everything, diagnostic(4, "reportUnusedVariable", ours, "warning"))
    information = report(*everything, diagnostic(5, "reportUnusedVariable", ours, "information"))
    assert typecheck.problems(error, PROBE, probe) == [
        f"{ours}:3:1 - error: No parameter named \"x\" (reportCallIssue)"]
    assert len(typecheck.problems(warning, PROBE, probe)) == 1
    assert typecheck.problems(warning, PROBE, probe, fail_on_warnings=False) == []
    assert typecheck.problems(information, PROBE, probe) == []
    assert typecheck.problems(report(*everything, files=1), PROBE, probe)


def test_the_repositorys_settings_fail_on_warnings() -> None:
    assert typecheck._settings()["failOnWarnings"] is True
